/* ringtap's control protocol between tapdisk and its clients (tap-ctl, tapback): message types,
 * an embeddable non-blocking server, a blocking client, and the run-directory conventions
 * (control sockets, minors) shared with blktap3.
 *
 * WIRE FORMAT. Every message is a 16-byte header followed by a payload:
 *     u32 magic 0x5254434c ("RTCL") | u16 version (1) | u16 type | u32 id | u32 length
 * all big-endian, then `length` bytes of UTF-8 JSON (one object). A reply carries the request's
 * type | CTL_MSG_REPLY and the same id; its payload always has "error" (0 or a positive errno)
 * and, on failure, an optional "message" for humans and an optional "reason": the first error
 * the daemon logged while it handled the request (the cause deep down, such as a driver's "bad
 * footer cookie"; older clients ignore it). Lengths are checked against a fixed bound
 * (CTL_MAX_REQUEST / CTL_MAX_REPLY) before anything is allocated.
 * Why JSON rather than TLV or C structs: the control path is cold (a few messages per VBD
 * lifetime), stats are JSON anyway, jansson is already a dependency, fields can be added
 * without a version bump (unknown keys are ignored, missing optional keys take defaults), and
 * the bytes are readable in a debugger or a test script. The binary header keeps framing and
 * the size bound independent of the JSON parser, so garbage is rejected before parsing.
 *
 * INTEGRATION (how tapdisk embeds the server in its single-threaded epoll loop):
 *   1. Fill a struct ctl_handlers with the daemon's callbacks (NULL = EOPNOTSUPP).
 *   2. ctl_server_create(&cfg, &handlers, daemon_ctx, &srv) with cfg.path from
 *      ctl_socket_path(); it binds and listens, nothing blocks afterwards.
 *   3. Register ctl_server_fd(srv) for EPOLLIN in the daemon's loop; when it is readable call
 *      ctl_server_dispatch(srv). That fd is the server's own nested epoll fd covering the
 *      listening socket, every client socket and a timerfd for client deadlines, so the daemon
 *      needs no other fd or timer for the control plane.
 *   4. A handler either answers at once (return 0 or -errno, fill the reply struct it is given)
 *      or returns CTL_DEFERRED, keeps the struct ctl_request and later calls
 *      ctl_request_complete(req, err) from its own loop (pause waiting for in-flight I/O, close
 *      waiting for the ring to drain): never iterate the event loop inside a handler.
 *   5. ctl_server_destroy(srv) on exit (closes every client and unlinks the socket).
 * Spawning: `tap-ctl spawn` execs the tapdisk binary with argv[0] "tapdisk" and no other
 * argument, stdout on a pipe. The daemon calls ctl_daemonize() first thing, creates its
 * server at ctl_socket_path(getpid()), then ctl_daemonize_ready(&d, 0) (or a -errno): the
 * launching process prints "<run dir>/ctl<pid>" on that pipe and exits 0, which is how tap-ctl
 * learns the daemon's pid (blktap3's contract); stdout/stderr become /dev/null. tap-ctl's
 * stderr is the daemon's until then, so startup errors reach the user.
 * Minors: on attach the daemon holds the minor's marker file with ctl_minor_hold() so that
 * `tap-ctl free` refuses a minor in use; on detach it closes that fd BEFORE answering (tap-ctl
 * destroy frees the minor right after), and once the last VBD is detached it leaves its loop
 * and exits (the reply is already sent by then).
 * tests/progs/ctl-fake-tapdisk.c is a complete, tested example of all of the above.
 *
 * A tapdisk killed without its cleanup (kill -9, a crash) leaves its sockets, the minors it held
 * and its /dev/shm statistics: ctl_reap_dead() removes them (tap-ctl list, allocate, spawn and
 * create call it), never anything of a live tapdisk.
 *
 * Environment: TAPDISK_RUN_DIR overrides /run/blktap-control (sockets ctl<pid>, minors in
 * tapdisk/, nbd sockets); TAPDISK_SHM_DIR overrides /dev/shm (the statistics td3-<pid>,
 * vbd3-<domid>-<devid>); TAPDISK_BIN overrides the tapdisk binary tap-ctl spawns. */
#ifndef RINGTAP_CTL_H
#define RINGTAP_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- wire constants ------------------------------------------------------------------------ */
#define CTL_MAGIC 0x5254434cu
#define CTL_VERSION 1
#define CTL_HEADER_SIZE 16
#define CTL_MAX_REQUEST (64u * 1024) /* requests: small; bounds what one client can pin */
#define CTL_MAX_REPLY (1024u * 1024) /* replies: stats with histograms, long lists */
#define CTL_PATH_MAX 4096 /* longest image, secondary or log path accepted */
#define CTL_MESSAGE_MAX 256 /* longest human error message carried in a reply */
#define CTL_LIST_MAX 256 /* most VBDs one daemon reports */
#define CTL_RING_MAX_ORDER 4 /* 16 ring pages, as Linux blkback's maximum */
#define CTL_KEY_MAX 64 /* encryption key bytes (open -E) */
#define CTL_MINOR_MAX 16384 /* blktap3's MAX_ID */

#define CTL_DEFAULT_RUN_DIR "/run/blktap-control"
#define CTL_DEFAULT_TAPDISK "/usr/libexec/tapdisk"
#define CTL_RUN_DIR_ENV "TAPDISK_RUN_DIR"
#define CTL_DEFAULT_SHM_DIR "/dev/shm"
#define CTL_SHM_DIR_ENV "TAPDISK_SHM_DIR"
#define CTL_TAPDISK_ENV "TAPDISK_BIN"

/* Request types. A reply's type is the request's | CTL_MSG_REPLY; CTL_MSG_ERROR answers a
 * message that could not be framed (bad version, oversized, refused peer). */
enum ctl_msg_type {
	CTL_MSG_LIST = 1,
	CTL_MSG_ATTACH = 2,
	CTL_MSG_DETACH = 3,
	CTL_MSG_OPEN = 4,
	CTL_MSG_CLOSE = 5,
	CTL_MSG_PAUSE = 6,
	CTL_MSG_RESUME = 7,
	CTL_MSG_CONNECT = 8,
	CTL_MSG_DISCONNECT = 9,
	CTL_MSG_INFO = 10,
	CTL_MSG_STATS = 11,
	CTL_MSG_POLL_GET = 12,
	CTL_MSG_POLL_SET = 13,
	CTL_MSG_LOG_LEVEL = 14, /* the daemon's, no minor */
	CTL_MSG_TYPE_MAX = CTL_MSG_LOG_LEVEL,
	CTL_MSG_REPLY = 0x8000,
	CTL_MSG_ERROR = 0xffff,
};

/* Name of a request type ("open"), or "unknown". */
const char *ctl_msg_name(unsigned int type);

/* ---- message contents ---------------------------------------------------------------------- */
enum ctl_image_type {
	CTL_IMAGE_NONE = 0,
	CTL_IMAGE_AIO, /* raw file or block device; "raw" accepted as an alias */
	CTL_IMAGE_VHD,
	CTL_IMAGE_NBD, /* a remote NBD export: "unix:/socket[...]" or "tcp:host:port[...]" */
	CTL_IMAGE_RBD, /* a Ceph RBD image: "pool/image[@snap][:option=value...]" */
};

struct ctl_image {
	enum ctl_image_type type;
	char path[CTL_PATH_MAX];
};

/* Parses blktap3's "type:/path" (type aio|raw|vhd, absolute path), nbd:unix:/socket...,
 * nbd:tcp:host:port... or rbd:pool/image... (the remote images' drivers check the rest at open).
 * Returns 0, -EINVAL for a missing ':', an unknown type, a path its type does not take,
 * -ENAMETOOLONG for a long path. */
int ctl_image_parse(const char *args, struct ctl_image *out);
/* Whether path has the form its type takes: absolute for files, "unix:/" or "tcp:" for nbd,
 * a non-empty name not starting with '/' for rbd. */
bool ctl_image_path_valid(enum ctl_image_type type, const char *path);
/* Whether the type's path names a local file or device (aio, vhd), not a remote image. */
bool ctl_image_is_local(enum ctl_image_type type);
/* "aio", "vhd", or NULL for an unknown type. */
const char *ctl_image_type_name(enum ctl_image_type type);
/* Type from a name ("raw" → aio); CTL_IMAGE_NONE if unknown. */
enum ctl_image_type ctl_image_type_from_name(const char *name);

/* VBD state bits as blktap3's (XAPI tests PAUSED and PAUSE_REQUESTED). */
#define CTL_VBD_DEAD 0x1
#define CTL_VBD_CLOSED 0x2
#define CTL_VBD_QUIESCE_REQUESTED 0x4
#define CTL_VBD_QUIESCED 0x8
#define CTL_VBD_PAUSE_REQUESTED 0x10
#define CTL_VBD_PAUSED 0x20
#define CTL_VBD_SHUTDOWN_REQUESTED 0x40

/* open flags: blktap3's open/create flags, all carried; the daemon refuses what it lacks. */
#define CTL_OPEN_RDONLY 0x1 /* -R */
#define CTL_OPEN_ADD_LCACHE 0x2 /* -r: read caching on the leaf */
#define CTL_OPEN_REUSE_PARENT 0x4 /* -e minor: share the parent chain of another VBD */
#define CTL_OPEN_SECONDARY 0x8 /* -2 path: mirror to a secondary */
#define CTL_OPEN_STANDBY 0x10 /* -s: secondary only on ENOSPC */
#define CTL_OPEN_NO_O_DIRECT 0x20 /* -D */
#define CTL_OPEN_ADD_LOG 0x40 /* -C path: changed block tracking log */
#define CTL_OPEN_ENCRYPTED 0x80 /* -E: key follows */
#define CTL_OPEN_ALL_FLAGS 0xff

/* Image locking (open/create/unpause -L), QEMU's locking=on|off|auto; "locking" on the wire. */
enum ctl_lock_mode {
	CTL_LOCK_DEFAULT = 0, /* not given: tapdisk's default (open), the VBD's own (unpause) */
	CTL_LOCK_AUTO, /* on, except on filesystems whose locks cannot be trusted (NFS, ...) */
	CTL_LOCK_ON,
	CTL_LOCK_OFF, /* for shared storage whose locks misbehave: nothing stops a second writer */
};
/* "auto", "on", "off" (NULL for CTL_LOCK_DEFAULT or an unknown value). */
const char *ctl_lock_mode_name(enum ctl_lock_mode mode);
/* Returns 0 and sets *out, or -EINVAL. */
int ctl_lock_mode_parse(const char *name, enum ctl_lock_mode *out);

struct ctl_open_args {
	int minor;
	struct ctl_image image;
	uint32_t flags;
	int parent_minor; /* with CTL_OPEN_REUSE_PARENT, else -1 */
	uint32_t timeout_s; /* request timeout (-t), 0 = the daemon's default */
	enum ctl_lock_mode lock; /* -L */
	char secondary[CTL_PATH_MAX]; /* with CTL_OPEN_SECONDARY */
	char cbt_log[CTL_PATH_MAX]; /* with CTL_OPEN_ADD_LOG */
	uint8_t key[CTL_KEY_MAX]; /* with CTL_OPEN_ENCRYPTED */
	uint32_t key_size; /* 32 or 64 */
};

struct ctl_close_args {
	int minor;
	bool force;
};

/* unpause: reopen the chain, from a new image when image.type != CTL_IMAGE_NONE */
struct ctl_resume_args {
	int minor;
	struct ctl_image image;
	uint32_t flags; /* CTL_OPEN_SECONDARY, CTL_OPEN_ADD_LOG */
	enum ctl_lock_mode lock; /* -L: a new mode for this and later reopens */
	char secondary[CTL_PATH_MAX];
	char cbt_log[CTL_PATH_MAX];
};

enum ctl_poll_policy {
	CTL_POLL_ADAPTIVE = 0,
	CTL_POLL_FIXED,
	CTL_POLL_OFF,
};
const char *ctl_poll_policy_name(enum ctl_poll_policy policy);
/* Returns 0 and sets *out, or -EINVAL. */
int ctl_poll_policy_parse(const char *name, enum ctl_poll_policy *out);

/* Which ctl_poll_settings fields a request sets (replies have them all). */
#define CTL_POLL_SET_POLICY 0x1
#define CTL_POLL_SET_DURATION 0x2
#define CTL_POLL_SET_IDLE 0x4
#define CTL_POLL_SET_MAX_WINDOW 0x8
#define CTL_POLL_SET_GROW 0x10
#define CTL_POLL_SET_SHRINK 0x20
#define CTL_POLL_SET_ALL 0x3f

/* Bounds enforced by the decoder; the daemon may narrow them. */
#define CTL_POLL_MAX_US 1000000u
#define CTL_POLL_MIN_FACTOR 2u /* grow/shrink: the polling engine's own bounds */
#define CTL_POLL_MAX_FACTOR 16u

struct ctl_poll_settings {
	uint32_t set_mask;
	enum ctl_poll_policy policy;
	uint32_t duration_us; /* xenstore polling-duration; the fixed policy's window */
	uint32_t idle_threshold; /* xenstore polling-idle-threshold, percent 0..100 */
	uint32_t max_window_us; /* adaptive: ceiling of the window */
	uint32_t grow; /* adaptive: window multiplier on a hit (2..16) */
	uint32_t shrink; /* adaptive: window divisor on a miss (2..16) */
};

struct ctl_poll_set_args {
	int minor;
	struct ctl_poll_settings settings;
};

enum ctl_ring_protocol {
	CTL_RING_NATIVE = 0, /* same numbering as enum blkif_abi */
	CTL_RING_X86_32,
	CTL_RING_X86_64,
};
/* "native", "x86_32-abi", "x86_64-abi" (xenstore's names). */
const char *ctl_ring_protocol_name(enum ctl_ring_protocol proto);
int ctl_ring_protocol_parse(const char *name, enum ctl_ring_protocol *out);

struct ctl_connect_args {
	int minor;
	uint32_t domid; /* < DOMID_FIRST_RESERVED (0x7ff0) */
	uint32_t devid;
	uint32_t order; /* 0..CTL_RING_MAX_ORDER; 1 << order ring refs */
	uint32_t ring_refs[1u << CTL_RING_MAX_ORDER];
	uint32_t port;
	enum ctl_ring_protocol protocol;
	bool persistent;
	uint32_t max_indirect_segments; /* 0 = no indirect descriptors */
	struct ctl_poll_settings polling; /* set_mask says which ones xenstore gave */
};

struct ctl_disconnect_args {
	int minor;
};

/* log-level: the daemon's log level, a syslog priority LOG_ERR..LOG_DEBUG, carried by name
 * ("debug"); -1 in a request: only read it. */
struct ctl_log_level_args {
	int level;
};

/* attach, detach, pause, info, stats, poll get */
struct ctl_minor_args {
	int minor;
};

struct ctl_disk_info {
	uint64_t sectors; /* in units of sector_size */
	uint32_t sector_size;
	uint32_t physical_sector_size;
	uint32_t info; /* VDISK_* bits (cdrom, removable, readonly) */
	uint32_t discard_granularity; /* bytes; 0: the image cannot discard */
	uint32_t discard_alignment;
};

struct ctl_list_entry {
	int minor;
	uint32_t state; /* CTL_VBD_* */
	struct ctl_image image; /* type CTL_IMAGE_NONE when nothing is open */
};

struct ctl_list {
	pid_t pid;
	unsigned int count;
	struct ctl_list_entry *entries; /* malloc'd; ctl_list_release() */
};
void ctl_list_release(struct ctl_list *list);

/* ---- server (embedded in the daemon) ----------------------------------------------------- */
struct ctl_server;
struct ctl_request;

/* A handler's return value meaning "I kept the request; ctl_request_complete() follows". */
#define CTL_DEFERRED 1

/* Each handler gets the daemon's opaque pointer, the request (for deferral) and its decoded,
 * validated arguments; results go in `out`, which lives as long as the request. Return 0,
 * -errno (sent to the client as a positive errno) or CTL_DEFERRED. */
struct ctl_handlers {
	int (*list)(void *opaque, struct ctl_request *req, struct ctl_list *out);
	int (*attach)(void *opaque, struct ctl_request *req, const struct ctl_minor_args *a);
	int (*detach)(void *opaque, struct ctl_request *req, const struct ctl_minor_args *a);
	int (*open)(void *opaque, struct ctl_request *req, const struct ctl_open_args *a);
	int (*close)(void *opaque, struct ctl_request *req, const struct ctl_close_args *a);
	int (*pause)(void *opaque, struct ctl_request *req, const struct ctl_minor_args *a);
	int (*resume)(void *opaque, struct ctl_request *req, const struct ctl_resume_args *a);
	int (*connect)(void *opaque, struct ctl_request *req, const struct ctl_connect_args *a);
	int (*disconnect)(void *opaque, struct ctl_request *req,
			  const struct ctl_disconnect_args *a);
	int (*info)(void *opaque, struct ctl_request *req, const struct ctl_minor_args *a,
		    struct ctl_disk_info *out);
	/* *json_out: a malloc'd JSON object text (the library frees it); invalid JSON → EIO */
	int (*stats)(void *opaque, struct ctl_request *req, const struct ctl_minor_args *a,
		     char **json_out);
	int (*poll_get)(void *opaque, struct ctl_request *req, const struct ctl_minor_args *a,
			struct ctl_poll_settings *out);
	int (*poll_set)(void *opaque, struct ctl_request *req, const struct ctl_poll_set_args *a);
	/* sets the level unless a->level is -1; *level_out: the level now */
	int (*log_level)(void *opaque, struct ctl_request *req, const struct ctl_log_level_args *a,
			 int *level_out);
};

struct ctl_server_config {
	const char *path; /* socket path; a stale socket there is replaced */
	unsigned int mode; /* socket permissions; 0 → 0600 */
	unsigned int max_clients; /* 0 → 16; more are accepted and closed at once */
	unsigned int timeout_ms; /* a client must complete each message within; 0 → 10000 */
};

int ctl_server_create(const struct ctl_server_config *cfg, const struct ctl_handlers *h,
		      void *opaque, struct ctl_server **out);
/* The one pollable fd (EPOLLIN) to register in the daemon's loop. */
int ctl_server_fd(const struct ctl_server *srv);
/* Handles whatever is ready without blocking. Returns 0, or -errno on a server-wide failure
 * (client faults are handled internally: the client is dropped, others are unaffected). */
int ctl_server_dispatch(struct ctl_server *srv);
/* Number of connected clients (tests, stats). */
unsigned int ctl_server_clients(const struct ctl_server *srv);
void ctl_server_destroy(struct ctl_server *srv);

/* Human-readable detail for the client along with a failure (optional, before returning the
 * error or completing). */
void ctl_request_set_message(struct ctl_request *req, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Finishes a deferred request: err 0 or -errno. Frees req. Safe if the client has gone. */
void ctl_request_complete(struct ctl_request *req, int err);
/* The peer's credentials (for logging). */
pid_t ctl_request_peer_pid(const struct ctl_request *req);

/* ---- client (tap-ctl, tapback) ----------------------------------------------------------- */
struct ctl_client;

/* Connects to `path` (no timeout needed: a local connect does not block). -ENOENT when there is
 * no socket, -ECONNREFUSED when nobody listens on it. timeout_ms bounds every later call
 * (send + reply); 0 → 10000. */
int ctl_client_connect(const char *path, unsigned int timeout_ms, struct ctl_client **out);
/* Same, for the daemon with this pid in the run directory. */
int ctl_client_connect_pid(pid_t pid, unsigned int timeout_ms, struct ctl_client **out);
void ctl_client_close(struct ctl_client *c);
/* The daemon's message with the last failed reply, or "" (valid until the next call). */
const char *ctl_client_error_message(const struct ctl_client *c);
/* The cause the daemon logged while it failed the last request (a driver's "bad footer
 * cookie"), or "" (valid until the next call). */
const char *ctl_client_error_reason(const struct ctl_client *c);

/* Each returns 0 or -errno: the daemon's error, or -ETIMEDOUT, -EPIPE/-ECONNRESET (daemon
 * gone), -EPROTO (a malformed reply), -EACCES (refused by the daemon). */
int ctl_list(struct ctl_client *c, struct ctl_list *out);
int ctl_attach(struct ctl_client *c, int minor);
int ctl_detach(struct ctl_client *c, int minor);
int ctl_open(struct ctl_client *c, const struct ctl_open_args *a);
int ctl_close(struct ctl_client *c, const struct ctl_close_args *a);
int ctl_pause(struct ctl_client *c, int minor);
int ctl_resume(struct ctl_client *c, const struct ctl_resume_args *a);
int ctl_connect(struct ctl_client *c, const struct ctl_connect_args *a);
int ctl_disconnect(struct ctl_client *c, const struct ctl_disconnect_args *a);
int ctl_info(struct ctl_client *c, int minor, struct ctl_disk_info *out);
/* *json_out: malloc'd one-line JSON text (compact, no newline). */
int ctl_stats(struct ctl_client *c, int minor, char **json_out);
int ctl_poll_get(struct ctl_client *c, int minor, struct ctl_poll_settings *out);
int ctl_poll_set(struct ctl_client *c, const struct ctl_poll_set_args *a);
/* Sets the daemon's log level (LOG_ERR..LOG_DEBUG) unless level is -1; *now: the level after. */
int ctl_log_level(struct ctl_client *c, int level, int *now);

/* ---- run directory, sockets, minors --------------------------------------------------------- */
/* $TAPDISK_RUN_DIR or /run/blktap-control. */
const char *ctl_run_dir(void);
/* "<run dir>/ctl<pid>". Returns 0 or -ENAMETOOLONG. */
int ctl_socket_path(pid_t pid, char *buf, size_t size);
/* The storage-migration sockets XAPI passes connections to with SCM_RIGHTS (blktap3's names):
 * "<run dir>/nbdclient<pid>" (the mirror's secondary, tap-ctl -2 nbd:<name>) and
 * "<run dir>/nbdserver<pid>.<minor>" (old-style) or "nbdserver-new<pid>.<minor>" (fixed
 * newstyle), a VBD's NBD export. 0 or -ENAMETOOLONG. */
int ctl_nbdclient_path(pid_t pid, char *buf, size_t size);
int ctl_nbdserver_path(pid_t pid, int minor, bool newstyle, char *buf, size_t size);
/* "<run dir>/tapdisk/tapdisk-<minor>". Returns 0 or -ENAMETOOLONG. */
int ctl_minor_path(int minor, char *buf, size_t size);
/* Creates the run and minors directories (0700) when missing. */
int ctl_prepare_run_dir(void);
/* blktap3's allocate: under an flock of the minors directory, creates the lowest free marker
 * file. Returns the minor (>= 0) or -errno (-ENOSPC when all CTL_MINOR_MAX are used). */
int ctl_minor_allocate(void);
/* blktap3's free: -ENOENT if not allocated, -EAGAIN (EWOULDBLOCK) if a daemon holds it. */
int ctl_minor_free(int minor);
/* For the daemon on attach: opens the marker, takes a shared flock so free refuses it and writes
 * its pid in it (so that the minor of a tapdisk that died holding it is known as stale).
 * Returns the fd (give it to ctl_minor_release on detach) or -errno (-ENOENT: not allocated). */
int ctl_minor_hold(int minor);
/* On detach: empties the marker (allocated, held by no one) and closes fd. */
void ctl_minor_release(int fd);
/* Removes the markers still naming a tapdisk that died holding them (no flock on them, and the
 * pid they name is not a live tapdisk). Returns how many, or -errno. */
int ctl_minor_reap_dead(void);

/* ---- what dead tapdisks leave ------------------------------------------------------------ */
/* $TAPDISK_SHM_DIR or /dev/shm. */
const char *ctl_shm_dir(void);
/* Whether pid is a live tapdisk: it exists, is no zombie, and is a tapdisk by name (comm or
 * argv[0] "tapdisk") or, under another name (a wrapper such as valgrind), its control socket
 * accepts. A dead pid, or one reused by another program, is not. */
bool ctl_tapdisk_alive(pid_t pid);
/* Removes what tapdisks that are not alive left in the run directory (ctl<pid>, nbd<pid>.<minor>,
 * the minors they held) and in the shm directory (td3-<pid>, and vbd3-<domid>-<devid> that no
 * live tapdisk's td3 page names). Best effort; returns how many dead pids were found or -errno. */
int ctl_reap_dead(void);

/* ---- daemonizing (tapdisk side of `tap-ctl spawn`) ---------------------------------------- */
struct ctl_daemon {
	int ready_fd; /* write end of the pipe to the waiting launcher */
};
/* Forks; the launcher waits for ctl_daemonize_ready() and exits (never returns); the daemon
 * (new session) returns 0. */
int ctl_daemonize(struct ctl_daemon *d);
/* err 0: the launcher prints "<run dir>/ctl<pid>" and exits 0; else it exits with -err.
 * Then points stdin/stdout/stderr at /dev/null. */
int ctl_daemonize_ready(struct ctl_daemon *d, int err);

#endif
