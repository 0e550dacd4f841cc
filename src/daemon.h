/* tapdisk's daemon mode: the one context object (loop, control server, VBDs) and what its parts
 * (daemon.c, ctl_handlers.c, stats_json.c, shm_stats.c) share. Internal to the tapdisk binary. */
#ifndef TD_DAEMON_H
#define TD_DAEMON_H

#include <stdbool.h>
#include <stdint.h>

#include "ringtap/ctl.h"
#include "ringtap/poll.h"
#include "src/host_config.h"
#include "src/loop.h"
#include "src/nbd_export.h"
#include "src/secondary.h"
#include "src/vbd.h"

/* The /dev/shm statistics of one connected ring (shm_stats.c): XAPI's rrdp-iostat reads them. */
struct td_shm_stats {
	char dir[256]; /* <shm>/vbd3-<domid>-<devid>, "" when not created */
	char page[256]; /* <shm>/td3-<pid>/vbd-<domid>-<devid> */
	void *td3; /* the mapped td3 page */
	void *blkback; /* the mapped `statistics` page */
	int io_ring_fd;
	uint64_t published; /* responses counted in the pages */
	uint64_t next_ring_ns; /* next io_ring rewrite (text: not on every request) */
	struct td_loop_hook hook;
};

/* Counters of the rings a VBD had before its current one (a frontend reconnects; the toolstack's
 * stats keep counting). */
struct td_retired {
	uint64_t rd_sectors, wr_sectors;
	uint64_t rd_done, wr_done, rd_failed, wr_failed;
};

/* One attached minor (a blktap minor number held by this tapdisk): what the control plane keeps
 * around the datapath's VBD (src/vbd.h), which exists while an image is open. Its state is the
 * VBD's (td_vbd_state; none: CTL_VBD_CLOSED); the minor only remembers the control requests that
 * wait for a drain to finish. */
struct td_minor {
	struct td_minor *next;
	struct td_daemon *d;
	int minor;
	char log_id[16]; /* "minor 3": names the minor in the log */
	int hold_fd; /* the minor's flock'd marker (ctl_minor_hold) */
	struct td_vbd *vbd; /* NULL: no image open (CTL_VBD_CLOSED) */
	bool readonly;
	/* The connected ring as tapback described it (td_vbd_connected says whether one is):
	 * the /dev/shm files and stats name it; protocol is NULL for the native ABI. */
	struct td_ring_params ring;
	/* Waiting for the VBD's drain: the toolstack's pause, a disconnect or a forced close of a
	 * ring with requests in flight. */
	struct ctl_request *pause_req, *disconnect_req, *close_req;
	uint64_t pause_start_ns; /* when pause_req came (the log says how long the drain took) */
	struct td_loop_timer drained; /* the work after a drain, run outside the loop's hooks */
	/* Polling settings (tap-ctl poll, xenstore polling-* via tapback); the datapath's struct. */
	struct poll_params poll;
	struct td_retired retired;
	struct td_shm_stats shm;
	struct td_nbd_export *nbd; /* <run dir>/nbd<pid>.<minor> while an image is open */
};

/* The minor's VBD serves a ring. */
static inline bool td_minor_connected(const struct td_minor *v)
{
	return v->vbd && td_vbd_connected(v->vbd);
}

/* A drain (quiesce or pause) is in progress, or done and its work (after_drain) not yet. */
static inline bool td_minor_draining(const struct td_minor *v)
{
	return (v->vbd && td_vbd_state_draining(td_vbd_state(v->vbd))) || v->drained.armed;
}

/* The toolstack's pause is done (as `tap-ctl list` shows it). */
static inline bool td_minor_paused(const struct td_minor *v)
{
	return v->vbd && td_vbd_state(v->vbd) == TD_VBD_PAUSED && !v->pause_req;
}

struct td_daemon {
	struct td_loop loop;
	struct ctl_server *srv;
	struct td_loop_file srv_file, sig_file;
	int sig_fd;
	bool stopping; /* SIGTERM: drain every VBD, then leave the loop */
	struct td_minor *minors;
	char shm_root[128]; /* $TAPDISK_SHM_DIR or /dev/shm */
	char td3_dir[160]; /* <shm root>/td3-<pid>, "" until a ring needs it */
	struct td_config config; /* the host-wide file's settings (src/host_config.h) */
	struct td_stash stash; /* nbdclient<pid>: sockets passed for -2 (src/secondary.h) */
};

#define TD_SHM_DIR_ENV "TAPDISK_SHM_DIR"
#define TD_LOG_LEVEL_ENV "TAPDISK_LOG_LEVEL"
#define TD_DEFAULT_SHM_DIR "/dev/shm"

/* daemon.c: serves until the last VBD is detached or a signal. Returns a process exit code.
 * config_path: the host-wide configuration file (td_config_path()), NULL for none. */
int td_daemon_main(bool foreground, const char *config_path);
/* Leaves the loop when nothing is attached any more, or when a stop finished draining. */
void td_daemon_check_exit(struct td_daemon *d);

/* ctl_handlers.c */
extern const struct ctl_handlers td_ctl_handlers;
/* Drains and closes a minor's VBD for exit (SIGTERM); its pending requests are cancelled. */
void td_minor_stop(struct td_minor *v);
/* CTL_VBD_CLOSED, _PAUSED, _PAUSE_REQUESTED as `tap-ctl list` shows them. */
uint32_t td_minor_state(const struct td_minor *v);
/* Releases everything of a minor (image, ring, shm files, its hold) and unlinks it. */
void td_minor_free(struct td_minor *v);

/* stats_json.c: the `tap-ctl stats` object, malloc'd one-line JSON. 0 or -errno. */
int td_stats_json(const struct td_minor *v, char **out);

/* shm_stats.c: the files of a connected ring, kept current by a before-sleep hook. */
int td_shm_stats_create(struct td_minor *v);
void td_shm_stats_destroy(struct td_minor *v);
/* Removes <shm root>/td3-<pid> (at exit). */
void td_shm_stats_cleanup(struct td_daemon *d);

#endif
