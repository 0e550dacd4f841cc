/* tapdisk's daemon mode: the one context object (loop, control server, VBDs) and what its parts
 * (daemon.c, ctl_handlers.c, stats_json.c, shm_stats.c) share. Internal to the tapdisk binary. */
#ifndef TD_DAEMON_H
#define TD_DAEMON_H

#include <stdbool.h>
#include <stdint.h>

#include "ringtap/ctl.h"
#include "ringtap/poll.h"
#include "src/loop.h"
#include "src/nbd_export.h"
#include "src/tapdisk.h"

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

/* The ring as tapback described it (for stats: td_vbd keeps no copy of these). */
struct td_ring_desc {
	uint32_t domid, devid, order, port;
	enum ctl_ring_protocol protocol;
	bool persistent;
	uint32_t max_indirect_segments;
};

/* One attached minor. */
struct td_dvbd {
	struct td_dvbd *next;
	struct td_daemon *d;
	int minor;
	int hold_fd; /* the minor's flock'd marker (ctl_minor_hold) */
	struct td_vbd *vbd; /* NULL: no image open (CTL_VBD_CLOSED) */
	bool readonly;
	bool connected;
	struct td_ring_desc ring;
	/* Pause machinery: td_vbd_pause was called and its drain has not finished (draining);
	 * the toolstack's pause is done (paused) or waits (pause_req); a disconnect or a forced
	 * close waits for the drain (disconnect_req, close_req). */
	bool draining;
	bool paused;
	struct ctl_request *pause_req, *disconnect_req, *close_req;
	struct td_loop_timer drained; /* the work after a drain, run outside the loop's hooks */
	/* Polling settings (tap-ctl poll, xenstore polling-* via tapback); the datapath's struct. */
	struct poll_params poll;
	struct td_retired retired;
	struct td_shm_stats shm;
	struct td_nbd_export *nbd; /* <run dir>/nbd<pid>.<minor> while an image is open */
};

struct td_daemon {
	struct td_loop loop;
	struct ctl_server *srv;
	struct td_loop_file srv_file, sig_file;
	int sig_fd;
	bool stopping; /* SIGTERM: drain every VBD, then leave the loop */
	struct td_dvbd *vbds;
	char shm_root[128]; /* $TAPDISK_SHM_DIR or /dev/shm */
	char td3_dir[160]; /* <shm root>/td3-<pid>, "" until a ring needs it */
};

#define TD_SHM_DIR_ENV "TAPDISK_SHM_DIR"
#define TD_DEFAULT_SHM_DIR "/dev/shm"

/* daemon.c: serves until the last VBD is detached or a signal. Returns a process exit code. */
int td_daemon_main(bool foreground);
/* Leaves the loop when nothing is attached any more, or when a stop finished draining. */
void td_daemon_check_exit(struct td_daemon *d);

/* ctl_handlers.c */
extern const struct ctl_handlers td_ctl_handlers;
/* Drains and closes a VBD for exit (SIGTERM); its pending requests are cancelled. */
void td_dvbd_stop(struct td_dvbd *v);
/* CTL_VBD_CLOSED, _PAUSED, _PAUSE_REQUESTED as `tap-ctl list` shows them. */
uint32_t td_dvbd_state(const struct td_dvbd *v);
/* Releases everything of a VBD (image, ring, minor, shm files) and unlinks it. */
void td_dvbd_free(struct td_dvbd *v);

/* stats_json.c: the `tap-ctl stats` object, malloc'd one-line JSON. 0 or -errno. */
int td_stats_json(const struct td_dvbd *v, char **out);

/* shm_stats.c: the files of a connected ring, kept current by a before-sleep hook. */
int td_shm_stats_create(struct td_dvbd *v);
void td_shm_stats_destroy(struct td_dvbd *v);
/* Removes <shm root>/td3-<pid> (at exit). */
void td_shm_stats_cleanup(struct td_daemon *d);

#endif
