/* tapdisk's internal API, what the control plane (and the td-serve test entry point) calls: a
 * VBD (one image stack) with its rings. All calls run on the loop's thread. */
#ifndef TD_TAPDISK_H
#define TD_TAPDISK_H

#include <stdbool.h>
#include <stdint.h>

struct td_loop;
struct td_vbd;

#define TD_MAX_RING_PAGES 16 /* ring-page-order 0..4 */
#define TD_MAX_RING_ORDER 4

/* What the frontend wrote in xenstore, as tapback reads it. */
struct td_ring_params {
	uint32_t domid;
	uint32_t devid;
	uint32_t ring_refs[TD_MAX_RING_PAGES];
	unsigned int order; /* ring-page-order: 1 << order refs */
	uint32_t port; /* the frontend's event-channel port */
	const char *protocol; /* NULL or "": native; "x86_32-abi", "x86_64-abi" */
	bool persistent; /* the frontend's feature-persistent */
	/* The feature-max-indirect-segments advertised; 0: no indirect requests. */
	uint16_t max_indirect_segs;
	/* Persistent-grant cache size in pages; 0: default (max(1056, ring size x 11, the bounce
	 * pages + ring size): see td_ring_attach). */
	uint32_t max_persistent_grants;
};

/* Completion accounting of one operation: latency from the request's start (after decode) to
 * its response, with a log2 histogram: bucket 0 is < 1 us, bucket k >= 1 is [2^(k-1), 2^k) us,
 * the last one open-ended. */
#define TD_LAT_BUCKETS 24
#define TD_STATS_OPS 5 /* indexed by TD_OP_READ, _WRITE, _FLUSH, _BARRIER, _DISCARD */
struct td_op_stats {
	uint64_t completed; /* answered, successfully or not */
	uint64_t failed; /* answered with an error status */
	uint64_t total_us;
	uint64_t max_us;
	uint64_t latency[TD_LAT_BUCKETS];
};

/* The ring's indexes, for display (/dev/shm io_ring files); guest-written ones: a snapshot. */
struct td_ring_indexes {
	uint32_t nr_ents;
	uint32_t req_prod, req_cons, req_event;
	uint32_t rsp_prod, rsp_prod_pvt, rsp_event;
};

struct td_ring_stats {
	uint64_t requests; /* consumed from the ring */
	uint64_t reads, writes, flushes, barriers, discards, indirect;
	uint64_t bytes_read, bytes_written, sectors_discarded;
	uint64_t responses;
	uint64_t invalid; /* refused by validation (answered ERROR or EOPNOTSUPP) */
	uint64_t errors; /* answered BLKIF_RSP_ERROR, any cause */
	uint64_t eopnotsupp; /* answered BLKIF_RSP_EOPNOTSUPP */
	uint64_t io_errors; /* the image failed an I/O */
	uint64_t grant_errors; /* a grant copy or map failed */
	uint64_t events; /* event-channel deliveries */
	uint64_t spurious_events; /* ... that found no request */
	uint64_t notifications; /* sent to the frontend */
	uint64_t pool_stalls; /* requests that waited for bounce pages */
	uint64_t pgrant_hits, pgrant_misses, pgrant_evictions;
	uint64_t pgrant_map_fallbacks; /* segments grant-copied because their map was refused */
	uint32_t inflight;
	bool halted; /* the frontend broke the ring protocol; nothing more is consumed */
	struct td_op_stats ops[TD_STATS_OPS];
	struct td_ring_indexes idx; /* filled by td_vbd_stats */
};

struct td_vbd_info {
	uint64_t sectors; /* 512-byte units, as xenstore's `sectors` */
	uint32_t sector_size;
	uint32_t physical_sector_size;
	uint32_t info; /* xenstore `info`: VDISK_READONLY, ... */
	bool discard;
	uint32_t discard_granularity, discard_alignment;
	bool paused;
	unsigned int nr_rings;
	char image[512]; /* "type:path" with the canonical type */
};

/* Opens type:path ("aio:/path", "raw:/path", "null:1G"); flags: TD_OPEN_RDONLY and the
 * locking mode (TD_OPEN_LOCK_ON, _OFF; neither: auto), kept for every reopen. 0 or -errno;
 * why (NULL, or TD_IMAGE_WHY_MAX bytes) gets the reason an open failed beyond its errno (-EBUSY:
 * who holds the image's lock), or "". */
int td_vbd_open(struct td_loop *loop, const char *type_path, unsigned int flags,
		struct td_vbd **out, char *why);
/* Disconnects (must be idle: see td_vbd_disconnect) and closes. */
void td_vbd_close(struct td_vbd *vbd);

/* Maps the ring, binds the port and starts serving. 0 or -errno (-EINVAL for bad parameters,
 * -EBUSY when a ring is connected, the grant/event-channel error otherwise). */
int td_vbd_connect(struct td_vbd *vbd, const struct td_ring_params *params);
/* Unmaps and unbinds. -EBUSY while requests are in flight: pause first. */
int td_vbd_disconnect(struct td_vbd *vbd);

/* Stops consuming the ring and drains in-flight requests, then closes the image (every image of
 * the chain: the toolstack renames, re-parents and resizes files while paused); `done` runs
 * from the loop once that is done (never from inside this call). -EALREADY when already
 * paused. td_vbd_info keeps answering from what the image reported when it was open. */
int td_vbd_pause(struct td_vbd *vbd, void (*done)(struct td_vbd *vbd, void *data), void *data);
/* Resumes after a pause: reopens a new image (type_path) or the same one again (NULL) from
 * disk, and relocks it; lock: a new locking mode (TD_OPEN_LOCK_*) or -1 for the VBD's own. On
 * failure (-EBUSY: another opener took the image's lock while paused; why as td_vbd_open's)
 * the VBD stays paused, still naming its old image and mode. 0 or -errno. */
int td_vbd_resume(struct td_vbd *vbd, const char *type_path, int lock, char *why);

/* I/O that another path (the NBD export, src/nbd_export.c) submits to the VBD's image: while
 * td_vbd_paused() it must be held, not submitted; each one submitted is counted between
 * td_vbd_io_begin and td_vbd_io_end, so that a pause drains it as it drains the ring. */
bool td_vbd_paused(const struct td_vbd *vbd);
void td_vbd_io_begin(struct td_vbd *vbd);
void td_vbd_io_end(struct td_vbd *vbd);
/* No request in flight, from the ring or another path: the VBD may be closed. */
bool td_vbd_idle(const struct td_vbd *vbd);

void td_vbd_info(const struct td_vbd *vbd, struct td_vbd_info *info);
/* The counters of ring `index`. 0 or -ENOENT. */
int td_vbd_stats(const struct td_vbd *vbd, unsigned int index, struct td_ring_stats *stats);

/* ---- adaptive polling (src/ring_poll.c, DESIGN.md §5) -------------------------------------
 * INTEGRATION for the control plane: keep one struct poll_params (include/ringtap/poll.h) per
 * VBD, start from poll_params_default() (adaptive), fill it from `tap-ctl poll` and the ring
 * connect message (struct ctl_poll_settings; only the fields its set_mask names):
 *   policy          <- CTL_POLL_ADAPTIVE / FIXED / OFF -> POLL_POLICY_ADAPTIVE / FIXED / OFF
 *   fixed_ns        <- duration_us * 1000 (xenstore polling-duration: the fixed window)
 *   idle_threshold  <- idle_threshold (xenstore polling-idle-threshold, %, fixed policy)
 *   max_ns          <- max_window_us * 1000 (adaptive ceiling; must stay >= start_ns)
 *   grow, shrink    <- grow, shrink (2..16 here: 1 or above 16 is refused with -EINVAL)
 *   budget          (ringtap's own: rings polling at once host-wide; 0 = online CPUs - 1)
 * and call td_vbd_set_polling(vbd, &params). It may be called at any time, before the ring
 * connects too (the settings apply when it does) and while polling (the episode ends first).
 * Returns 0 or -EINVAL (poll_params_validate refused them; nothing changed).
 * td_vbd_poll_stats(vbd, 0, &st) gives the counters for `tap-ctl stats` (-ENOENT: no ring).
 * Tests point the host-wide budget's table elsewhere with RINGTAP_POLL_BUDGET=/path. */
struct poll_params;

struct td_poll_stats {
	uint32_t policy; /* enum poll_policy */
	bool polling; /* in an episode now */
	uint64_t window_ns; /* the current window (adaptive) or the fixed one */
	uint64_t entered; /* episodes started */
	uint64_t hits; /* request or completion batches found while polling */
	uint64_t misses; /* episodes that ended with the window expiring */
	uint64_t guarded; /* episodes refused or cut short (load guard, budget, idle%) */
	uint64_t budget_refused; /* ... of them because the host-wide budget was exhausted */
	uint64_t wakeups; /* work that arrived by event instead */
	uint64_t polled_requests; /* requests consumed by the spin loop */
	uint64_t polled_completions; /* I/Os completed by the spin loop */
	uint64_t polled_ns; /* wall time spent in episodes */
	uint64_t cpu_ns; /* CPU time spent in episodes (the thread's clock) */
	uint64_t notifications_received; /* event-channel deliveries from the frontend */
	uint64_t notifications_suppressed; /* request batches polled that the frontend did not
					    * notify (req_event left behind) */
	uint64_t guard_cpus_busy, guard_pressure, guard_steal; /* guard trips by cause */
	uint64_t guard_preempted; /* ... the poller was preempted: a task waited for its CPU */
	unsigned int budget_in_use; /* host-wide slots held now */
};

int td_vbd_set_polling(struct td_vbd *vbd, const struct poll_params *params);
void td_vbd_get_polling(const struct td_vbd *vbd, struct poll_params *params);
int td_vbd_poll_stats(const struct td_vbd *vbd, unsigned int index, struct td_poll_stats *stats);

#endif
