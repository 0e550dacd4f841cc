/* ringtap's NBD server: one export served on a Unix socket to any number of clients (qemu, XAPI's
 * tools, nbdcopy), embedded in a single-threaded event loop, with asynchronous I/O callbacks.
 *
 * PROTOCOL (https://github.com/NetworkBlockDevice/nbd/blob/master/doc/proto.md): fixed newstyle
 * handshake (or, for a socket handed over with nbd_server_adopt, the old-style greeting) with NBD_OPT_GO, NBD_OPT_INFO, NBD_OPT_EXPORT_NAME, NBD_OPT_LIST and NBD_OPT_ABORT;
 * every other option (structured replies, TLS, meta contexts) is refused with NBD_REP_ERR_UNSUP,
 * so replies are always simple replies. Commands: READ, WRITE (FUA), FLUSH, TRIM (FUA),
 * WRITE_ZEROES (FUA, NO_HOLE) and DISC; the export flags advertise what the embedder supports.
 * Any export name is accepted (XAPI asks for the VDI uuid, others for the default "").
 * Block sizes are advertised through NBD_INFO_BLOCK_SIZE: minimum cfg.min_block, preferred
 * 4096, maximum cfg.max_request (32 MiB by default, the size every client stays within).
 *
 * VALIDATION. Before a callback runs, a request has a known type and flags, a non-zero length,
 * offset + length within the export without overflow, offsets and lengths aligned to
 * min_block, a READ/WRITE length within max_request; the errors are the spec's: NBD_EINVAL for
 * all of these except a write (WRITE, WRITE_ZEROES) past the end, NBD_ENOSPC, and any
 * modification of a read-only export, NBD_EPERM. A WRITE longer than max_request has its
 * payload read and discarded, so the client stays in step. A client that breaks the framing
 * (bad magic, a handshake it cannot finish in time, too many options) is dropped alone.
 *
 * MEMORY. Each client holds at most cfg.max_inflight_bytes of request buffers (at least one
 * request of max_request) and NBD_MAX_INFLIGHT requests: beyond that the server stops reading
 * that client's socket until completions free room (back-pressure, no queue growth).
 *
 * INTEGRATION (as ringtap/ctl.h's server):
 *   1. Describe the export (struct nbd_export) and its callbacks (struct nbd_ops).
 *   2. nbd_server_create(&cfg, &export, &ops, opaque, &srv): binds and listens on cfg.path.
 *   3. Register nbd_server_fd(srv) for EPOLLIN in the loop; when readable call
 *      nbd_server_dispatch(srv). That fd is a nested epoll fd covering the listening socket,
 *      every client and a timerfd for handshake deadlines. Nothing blocks.
 *   4. A callback starts the I/O and returns 0, then calls nbd_request_complete(req, err)
 *      exactly once, later from the loop or before returning; or it returns -errno and must not
 *      complete. `buf` stays valid until completion. Never run the event loop inside one.
 *      A WRITE/TRIM/WRITE_ZEROES with FUA is followed, after it completes, by a flush callback
 *      on the same request.
 *   5. nbd_server_destroy(srv): closes every client and unlinks the socket. Requests still in
 *      flight stay valid: the embedder completes them as usual and they are then freed.
 * Pausing: the embedder holds (or fails) requests in its callbacks while its image is closed,
 * and tracks its own in-flight count; nbd_server_inflight() reports the server's. */
#ifndef RINGTAP_NBD_H
#define RINGTAP_NBD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#define NBD_DEFAULT_MAX_REQUEST (32u * 1024 * 1024)
#define NBD_MAX_INFLIGHT 64 /* requests per client */
#define NBD_PREFERRED_BLOCK 4096
#define NBD_MAX_NAME 4096 /* the spec's limit on export names */

/* struct nbd_export.flags */
#define NBD_EXPORT_READONLY 0x1
#define NBD_EXPORT_FLUSH 0x2 /* flush callback: FLUSH, and FUA on writes */
#define NBD_EXPORT_TRIM 0x4 /* trim callback */
#define NBD_EXPORT_WRITE_ZEROES 0x8 /* write_zeroes callback */
/* A flush on one connection persists the writes completed on every connection (a whole-image
 * flush), so clients may open several connections (NBD_FLAG_CAN_MULTI_CONN). */
#define NBD_EXPORT_MULTI_CONN 0x10
#define NBD_EXPORT_ALL_FLAGS 0x1f

struct nbd_export {
	const char *name; /* what NBD_OPT_LIST and NBD_INFO_NAME report; NULL → "" */
	const char *description; /* NBD_INFO_DESCRIPTION and the list entry; may be NULL */
	uint64_t size; /* bytes, a multiple of the server's min_block */
	uint32_t flags; /* NBD_EXPORT_* */
};

struct nbd_server;
struct nbd_request;

/* Each returns 0 (nbd_request_complete follows) or -errno (the error is the reply). */
struct nbd_ops {
	int (*read)(void *opaque, struct nbd_request *req, uint64_t offset, uint32_t len,
		    void *buf);
	int (*write)(void *opaque, struct nbd_request *req, uint64_t offset, uint32_t len,
		     const void *buf);
	int (*flush)(void *opaque, struct nbd_request *req);
	int (*trim)(void *opaque, struct nbd_request *req, uint64_t offset, uint32_t len);
	/* may_trim: the client allows a hole (no NBD_CMD_FLAG_NO_HOLE); zeroes must read back */
	int (*write_zeroes)(void *opaque, struct nbd_request *req, uint64_t offset, uint32_t len,
			    bool may_trim);
};

struct nbd_server_config {
	const char *path; /* socket path; a stale socket there is replaced, anything else refused */
	unsigned int mode; /* socket permissions; 0 → 0600 */
	unsigned int max_clients; /* 0 → 16; more are accepted and closed at once */
	uint32_t max_request; /* READ/WRITE bytes; 0 → NBD_DEFAULT_MAX_REQUEST; >= min_block */
	uint32_t min_block; /* alignment of offsets and lengths, a power of 2; 0 → 1 */
	/* per client; 0 → 2 x max_request (raised to max_request if smaller) */
	uint32_t max_inflight_bytes;
	unsigned int handshake_timeout_ms; /* to reach transmission; 0 → 10000 */
	/* A client in transmission with nothing in flight (no request received and unanswered)
	 * for this long gives its slot to a new client when all max_clients are taken; 0 → 60000 */
	unsigned int idle_timeout_ms;
	size_t priv_size; /* bytes of nbd_request_priv() per request (<= 64 KiB) */
};

/* -EINVAL for a bad config or export, -ENAMETOOLONG for a long path, -EEXIST when something
 * that is not a socket sits at the path, else the socket call's error. */
int nbd_server_create(const struct nbd_server_config *cfg, const struct nbd_export *exp,
		      const struct nbd_ops *ops, void *opaque, struct nbd_server **out);
/* The one pollable fd (EPOLLIN) to register in the embedder's loop. */
int nbd_server_fd(const struct nbd_server *srv);
/* Handles whatever is ready without blocking. 0, or -errno on a server-wide failure. */
int nbd_server_dispatch(struct nbd_server *srv);
/* Serves fd, a connected socket accepted elsewhere (XAPI passes the storage migration's with
 * SCM_RIGHTS), as a client, even past max_clients: with `oldstyle`, blktap3's old-style
 * greeting (152 bytes: "NBDMAGIC", 0x00420281861253, the size, u32 flags 0, 124 zeroes) and
 * transmission at once; else the fixed newstyle handshake. NBD_CMD_DISC on such a connection,
 * with nothing in flight, starts its handshake again (blktap3's client renegotiates on the same
 * socket after a pause). fd is consumed. 0 or -errno. */
int nbd_server_adopt(struct nbd_server *srv, int fd, bool oldstyle);
/* New size or flags (after a resize or a reopen while paused): new clients see them at once;
 * connected clients keep their negotiated flags but every request is checked against the new
 * size and read-only flag. -EINVAL for an invalid export. */
int nbd_server_set_export(struct nbd_server *srv, const struct nbd_export *exp);
unsigned int nbd_server_clients(const struct nbd_server *srv);
/* Requests handed to callbacks and not yet completed. */
unsigned int nbd_server_inflight(const struct nbd_server *srv);
/* The socket path. */
const char *nbd_server_path(const struct nbd_server *srv);
void nbd_server_destroy(struct nbd_server *srv);

/* Finishes a request: err 0 or -errno (mapped to the NBD error codes; unknown → NBD_EIO). */
void nbd_request_complete(struct nbd_request *req, int err);
/* The embedder's per-request area of cfg.priv_size bytes (zeroed for each request), or NULL. */
void *nbd_request_priv(struct nbd_request *req);

/* ---- the client (lib/nbd/client.c) -----------------------------------------------------------
 * tapdisk's one NBD client, for the storage-migration mirror (blktap3's handshake) and the nbd:
 * image driver (a remote export). Two handshakes:
 *   - blktap3's (opts NULL or !opts->modern): the server's old-style greeting, or newstyle with
 *     NBD_OPT_EXPORT_NAME "tapdisk_client\0" and simple replies: what a blktap3 tapdisk serves
 *     (its old-style flags are 0, which libnbd refuses);
 *   - modern: fixed newstyle, NBD_OPT_STRUCTURED_REPLY, then NBD_OPT_GO with the export name and
 *     a request for the block sizes (NBD_OPT_EXPORT_NAME when the server has no GO); old-style
 *     and plain newstyle servers are still taken. No TLS (NBD_OPT_STARTTLS is never sent: a
 *     server that requires TLS is refused with a message saying so).
 * Then READ, WRITE, FLUSH, TRIM, WRITE_ZEROES and DISC, any number in flight, driven without
 * blocking by an event loop: watch nbd_client_fd() for nbd_client_events() (EPOLLIN, EPOLLOUT),
 * call nbd_client_dispatch() with what came, and nbd_client_events() again after each call.
 * Replies may be simple or structured (OFFSET_DATA, OFFSET_HOLE, NONE, ERROR, ERROR_OFFSET,
 * several chunks per read until the DONE flag); every length, offset and chunk is checked
 * against its command, and a server that breaks the protocol fails the connection (-EPROTO). */
struct nbd_client;

struct nbd_client_info {
	uint64_t size; /* bytes */
	uint16_t eflags; /* transmission flags (0 from blktap3's old-style server) */
	bool oldstyle;
	bool structured; /* structured replies agreed */
	/* NBD_INFO_BLOCK_SIZE's (1, 4096 and 32 MiB when the server gives none): READ and WRITE
	 * lengths are kept within max_block */
	uint32_t min_block, pref_block, max_block;
};

struct nbd_client_opts {
	bool modern; /* the modern handshake; else blktap3's */
	const char *export_name; /* modern only; NULL is "" (the default export) */
};

/* err: 0 or -errno (the reply's error, -EIO for an unknown one or a read not fully answered). */
typedef void (*nbd_client_done_fn)(void *data, int err);

/* Starts the handshake on fd (consumed: closed on failure or by nbd_client_close), a
 * connected socket, or with `connecting` one whose non-blocking connect(2) is in progress.
 * Nothing blocks: the loop drives it with nbd_client_dispatch until nbd_client_ready(). 0 or
 * -errno (-ENOMEM, -ENAMETOOLONG for a long export name) with why (why_len bytes). */
int nbd_client_start(int fd, const struct nbd_client_opts *opts, bool connecting,
		     struct nbd_client **out, char *why, size_t why_len);
/* The handshake is done: commands may be queued. */
bool nbd_client_ready(const struct nbd_client *c);
/* Handshakes on fd, a connected socket or one whose non-blocking connect(2) is in progress,
 * blocking up to timeout_ms in all. fd is consumed
 * (closed on failure). 0 or -errno (-ETIMEDOUT, -EPROTO for a server that breaks the
 * protocol, -ECONNRESET when it hangs up, -ENOENT for an unknown export, -EACCES when refused)
 * with why (why_len bytes) saying what failed. */
int nbd_client_connect(int fd, const struct nbd_client_opts *opts, unsigned int timeout_ms,
		       struct nbd_client **out, char *why, size_t why_len);
/* nbd_client_connect with blktap3's handshake. */
int nbd_client_handshake(int fd, unsigned int timeout_ms, struct nbd_client **out, char *why,
			 size_t why_len);
void nbd_client_info(const struct nbd_client *c, struct nbd_client_info *info);
int nbd_client_fd(const struct nbd_client *c);
uint32_t nbd_client_events(const struct nbd_client *c);
/* Queue a command. A read's destination and a write's payload are len bytes of the iovec from
 * byte `skip` (iov and its buffers stay valid until done runs; len 1..max_block); done runs
 * from nbd_client_dispatch only, and must not close the client. 0, -EINVAL (length),
 * -ENOMEM, -EAGAIN during the handshake, -EOPNOTSUPP (TRIM, WRITE_ZEROES: the export's flags
 * do not advertise them), -ENOTCONN after a failure. */
int nbd_client_write(struct nbd_client *c, const void *buf, uint32_t len, uint64_t offset,
		     nbd_client_done_fn done, void *data);
int nbd_client_writev(struct nbd_client *c, const struct iovec *iov, int iovcnt, size_t skip,
		      uint32_t len, uint64_t offset, nbd_client_done_fn done, void *data);
int nbd_client_readv(struct nbd_client *c, const struct iovec *iov, int iovcnt, size_t skip,
		     uint32_t len, uint64_t offset, nbd_client_done_fn done, void *data);
int nbd_client_flush(struct nbd_client *c, nbd_client_done_fn done, void *data);
int nbd_client_trim(struct nbd_client *c, uint32_t len, uint64_t offset, nbd_client_done_fn done,
		    void *data);
/* may_trim: the server may punch a hole (no NBD_CMD_FLAG_NO_HOLE). */
int nbd_client_write_zeroes(struct nbd_client *c, uint32_t len, uint64_t offset, bool may_trim,
			    nbd_client_done_fn done, void *data);
/* Sends what it can of the queued commands (no callback runs). 0 or -errno as dispatch. */
int nbd_client_send(struct nbd_client *c, char *why, size_t why_len);
/* Advances the handshake, or sends what it can and reads the replies that came (events:
 * EPOLLIN, EPOLLOUT, EPOLLHUP...). 0, or -errno once the connection failed (why, why_len
 * bytes): the commands in flight are then never answered (the caller writes them off) and
 * nothing more is accepted. */
int nbd_client_dispatch(struct nbd_client *c, uint32_t events, char *why, size_t why_len);
unsigned int nbd_client_inflight(const struct nbd_client *c);
/* With nothing in flight, sends NBD_CMD_DISC (waiting up to timeout_ms for the socket to take
 * it); then closes. Callbacks of commands in flight are not called. NULL is a no-op. */
void nbd_client_close(struct nbd_client *c, bool disconnect, unsigned int timeout_ms);

/* "<run_dir>/nbd<pid>.<minor>", blktap3's and XAPI's path of a VBD's export. 0 or
 * -ENAMETOOLONG. */
int nbd_socket_path(const char *run_dir, pid_t pid, int minor, char *buf, size_t size);

#endif
