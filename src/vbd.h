/* A VBD, tapdisk's datapath as the control plane (and the td-serve test entry point) calls it:
 * one image stack with its ring(s), and its one state machine (src/vbd_state.h). All calls run
 * on the loop's thread. */
#ifndef TD_VBD_H
#define TD_VBD_H

#include <stdbool.h>
#include <stdint.h>

#include "src/ring.h"
#include "src/vbd_state.h"

struct td_image;
struct td_loop;
struct td_mirror;
struct td_vbd;

struct td_vbd_info {
	uint64_t sectors; /* 512-byte units, as xenstore's `sectors` */
	uint32_t sector_size;
	uint32_t physical_sector_size;
	uint32_t info; /* xenstore `info`: VDISK_READONLY, ... */
	bool discard;
	uint32_t discard_granularity, discard_alignment;
	bool paused; /* pausing or paused: the image is (being) closed */
	unsigned int nr_rings;
	char image[512]; /* "type:path" with the canonical type */
};

/* Opens type:path ("aio:/path", "raw:/path", "null:1G"); flags: TD_OPEN_RDONLY, the locking
 * mode (TD_OPEN_LOCK_ON, _OFF; neither: auto) and the I/O engine (TD_OPEN_ENGINE_*; neither:
 * auto), kept for every reopen; cbt_log: the path of a changed-block-tracking log to mark the
 * disk's writes in (src/cbt_log.h), or NULL. 0 or -errno; why (NULL, or TD_IMAGE_WHY_MAX bytes)
 * gets the reason an open failed beyond its errno (-EBUSY: who holds the image's lock; -EINVAL:
 * a CBT log too short for the disk), or "". */
int td_vbd_open(struct td_loop *loop, const char *type_path, unsigned int flags,
		const char *cbt_log, struct td_vbd **out, char *why);
/* Disconnects (must be idle: see td_vbd_disconnect) and closes. */
void td_vbd_close(struct td_vbd *vbd);

/* Maps the ring, binds the port and starts serving (paused if the VBD is not open). 0 or -errno
 * (-EINVAL for bad parameters, -EBUSY when a ring is connected, the grant/event-channel error
 * otherwise), not logged: *why (may be NULL) says which step failed, for the caller's log. */
int td_vbd_connect(struct td_vbd *vbd, const struct td_ring_params *params, const char **why);
/* Unmaps and unbinds. -EBUSY while requests are in flight: quiesce first. */
int td_vbd_disconnect(struct td_vbd *vbd);

/* The VBD's state (src/vbd_state.h). */
enum td_vbd_state td_vbd_state(const struct td_vbd *vbd);
/* Stops consuming the ring and drains in-flight requests (the NBD export's too); the image stays
 * open. `done` runs from the loop once nothing is in flight (never from inside this call); the
 * VBD is then QUIESCED: disconnect or close it, or td_vbd_resume(vbd, NULL, -1, NULL) serves
 * again without reopening anything. A drain in progress is joined (`done` replaces the earlier
 * one). -EALREADY when quiesced or paused already (nothing in flight). */
int td_vbd_quiesce(struct td_vbd *vbd, void (*done)(struct td_vbd *vbd, void *data), void *data);
/* Drains as td_vbd_quiesce, then closes the image (every image of the chain: the toolstack
 * renames, re-parents and resizes files while paused) before `done` runs. -EALREADY when
 * paused already. td_vbd_info keeps answering from what the image reported when it was open. */
int td_vbd_pause(struct td_vbd *vbd, void (*done)(struct td_vbd *vbd, void *data), void *data);
/* Serves again after a pause or a quiesce. After a pause it reopens a new image (type_path) or
 * the same one again (NULL) from disk, and relocks it, with the CBT log cbt_log above it (NULL:
 * none; as blktap3, a log in use before the pause is dropped unless named again); lock: a new locking mode
 * (TD_OPEN_LOCK_*) or -1 for the VBD's own; on failure (-EBUSY: another opener took the image's
 * lock while paused; why as td_vbd_open's) the VBD stays paused, still naming its old image and
 * mode. After a quiesce the open image goes on unless type_path names another. 0 or -errno
 * (-EBUSY while draining, -EINVAL when neither paused nor quiesced). */
int td_vbd_resume(struct td_vbd *vbd, const char *type_path, int lock, const char *cbt_log,
		  char *why);

/* I/O that another path (the NBD export, src/nbd_export.c) submits to the VBD's image: while
 * !td_vbd_serving() (any state but TD_VBD_OPEN) it must be held, not submitted; each one
 * submitted is counted between td_vbd_io_begin and td_vbd_io_end, so that a drain waits for it
 * as it waits for the ring. */
bool td_vbd_serving(const struct td_vbd *vbd);
void td_vbd_io_begin(struct td_vbd *vbd);
void td_vbd_io_end(struct td_vbd *vbd);
/* No request in flight, from the ring or another path: the VBD may be closed. */
bool td_vbd_idle(const struct td_vbd *vbd);

void td_vbd_info(const struct td_vbd *vbd, struct td_vbd_info *info);

/* One layer of the open image chain (the log says what was opened). */
struct td_vbd_layer {
	const char *name; /* "vhd:/path", valid while the image is open */
	bool readonly;
	bool discard;
	uint64_t sectors; /* 512-byte sectors */
};
/* Layer `index` (0: the leaf, then its parents). 0, or -ENOENT past the last one or while the
 * image is closed (paused). */
int td_vbd_layer(const struct td_vbd *vbd, unsigned int index, struct td_vbd_layer *out);
/* The counters of ring `index`. 0 or -ENOENT. */
int td_vbd_stats(const struct td_vbd *vbd, unsigned int index, struct td_ring_stats *stats);

/* ---- adaptive polling (src/ring_poll.c, docs/ARCHITECTURE.md) ----------------------------
 * INTEGRATION for the control plane: keep one struct poll_params (include/ringtap/poll.h) per
 * VBD, start from the host-wide configuration (src/host_config.h), fill it from `tap-ctl poll`,
 * the ring connect message and tapback's later poll-set messages (struct ctl_poll_settings; only
 * the fields its set_mask names):
 *   policy          <- CTL_POLL_ADAPTIVE / FIXED / OFF -> POLL_POLICY_ADAPTIVE / FIXED / OFF
 *   fixed_ns        <- duration_us * 1000 (xenstore polling-duration: the fixed window, the
 *                      adaptive ceiling; 0: no polling)
 *   idle_threshold  <- idle_threshold (xenstore polling-idle-threshold, %, both policies)
 *   max_ns          <- max_window_us * 1000 (adaptive ceiling; must stay >= start_ns)
 *   grow, shrink    <- grow, shrink (2..16 here: 1 or above 16 is refused with -EINVAL)
 *   budget          (ringtap's own: rings polling at once host-wide; 0 = online CPUs - 1)
 * and call td_vbd_set_polling(vbd, &params). It may be called at any time, before the ring
 * connects too (the settings apply when it does) and while polling (the episode ends first).
 * Returns 0 or -EINVAL (poll_params_validate refused them; nothing changed).
 * td_vbd_poll_stats(vbd, 0, &st) gives the counters for `tap-ctl stats` (-ENOENT: no ring).
 * Tests point the host-wide budget's table elsewhere with RINGTAP_POLL_BUDGET=/path. */
struct poll_params;

int td_vbd_set_polling(struct td_vbd *vbd, const struct poll_params *params);
void td_vbd_get_polling(const struct td_vbd *vbd, struct poll_params *params);
int td_vbd_poll_stats(const struct td_vbd *vbd, unsigned int index, struct td_poll_stats *stats);
/* A ring is connected. */
bool td_vbd_connected(const struct td_vbd *vbd);

/* The image stack requests go to now (the CBT log's layer when one is in use, then the disk's
 * chain through ->parent); NULL while paused. */
struct td_image *td_vbd_image(struct td_vbd *vbd);
/* The disk's leaf (its chain through ->parent), below any CBT log; NULL while paused. For
 * `tap-ctl stats`' image list. */
const struct td_image *td_vbd_disk(const struct td_vbd *vbd);
/* The path of the CBT log in use, or NULL (none, or paused: the log is unmapped). */
const char *td_vbd_cbt_log(const struct td_vbd *vbd);
/* Where I/O from outside the ring (the NBD export) is submitted: the stack above, or the mirror
 * in front of it (src/mirror.h); NULL while paused. */
struct td_image *td_vbd_io_image(struct td_vbd *vbd);

/* ---- the storage-migration mirror (tap-ctl -2) ---------------------------------------------
 * Makes m (src/mirror.h; NULL: none) the VBD's secondary, replacing and destroying the one
 * before; it holds across pauses until replaced. Only while nothing is in flight and no ring
 * is being served (a fresh open, or paused). On failure m is destroyed and the old one kept:
 * -EBUSY, or -EINVAL when m is connected and its size is not the open image's (why: see
 * td_vbd_open). A resume onto an image of another size than a connected secondary's fails
 * with -EINVAL too (still paused). */
int td_vbd_set_mirror(struct td_vbd *vbd, struct td_mirror *m, char *why);
const struct td_mirror *td_vbd_mirror(const struct td_vbd *vbd);

#endif
