/* One blkif shared ring served by tapdisk, sealed: what the rest of tapdisk may use of it. The
 * ring owns its mapping, event channel, slots, bounce pool and polling; it is given the image its
 * requests go to (switched on resume). Its own files (ring.c, ring_attach.c, request.c,
 * ring_poll.c) share src/ring_private.h; nothing else does. */
#ifndef TD_RING_H
#define TD_RING_H

#include <stdbool.h>
#include <stdint.h>

struct poll_params;
struct td_image;
struct td_loop;
struct td_ring;

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
	struct td_ring_indexes idx; /* filled by td_ring_stats */
};

struct td_poll_stats {
	uint32_t policy; /* enum poll_policy */
	bool polling; /* in an episode now */
	uint64_t window_ns; /* the current window (adaptive) or the fixed one */
	uint64_t entered; /* episodes started */
	uint64_t hits; /* request or completion batches found while polling */
	uint64_t misses; /* episodes that ended with the window expiring */
	uint64_t guarded; /* episodes refused or cut short (load guard, budget, idle%) */
	uint64_t budget_refused; /* ... of them because the host-wide budget was exhausted */
	uint64_t idle_refused; /* ... of them because host idle% <= polling-idle-threshold */
	uint64_t window_min_ns, window_max_ns; /* the bounds in force (poll_params_bounds) */
	uint64_t wakeups; /* work that arrived by event instead */
	uint64_t empty; /* episodes that found nothing */
	uint64_t judged_off; /* episodes the payoff judge refused */
	uint64_t disk_wait_ns; /* spun with the ring empty and requests in flight at the image */
	/* The payoff judge (adaptive): polling allowed now, probing now, probes done, verdicts
	 * (kept on, kept off), probes started because the completion rate moved, and the last
	 * probe's completions per second with polling on and off, and its noise (how far apart its two
	 * phases of a mode were, %). */
	bool judge_on, judge_probing;
	uint64_t judge_probes, judge_kept_on, judge_kept_off, judge_changes;
	uint64_t judge_rate_on, judge_rate_off, judge_noise_pct;
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
	bool guard_on; /* the load guard runs (its /proc files opened) and is not ignored */
	uint32_t guard_verdict; /* enum poll_guard_verdict: its last judgement */
	unsigned int idle_pct; /* its last sample of the host's idle share (own CPU as idle) */
};

/* Environment: the polling budget's slot table (tests use their own; default
 * POLL_BUDGET_DEFAULT_PATH). */
#define TD_POLL_BUDGET_ENV "RINGTAP_POLL_BUDGET"

/* What the ring serves: the image its requests go to and the limits its validation applies. */
struct td_ring_target {
	struct td_image *image;
	uint64_t disk_sectors;
	bool readonly; /* writes and discards refused */
	bool discard; /* discards accepted */
};

/* The ring's geometry, once connected (for the log). */
struct td_ring_info {
	unsigned int nr_pages;
	unsigned int nr_slots;
	const char *abi; /* blkif_abi_name */
	bool persistent;
};

/* Maps the ring, binds the port, preallocates what requests need, and starts serving (unless
 * `paused`: then it serves from td_ring_resume). The parameters are copied (protocol read
 * now). 0 or -errno (-EINVAL for bad parameters, the grant/event-channel error otherwise);
 * nothing is logged: the caller logs once, with *why (a static string saying which step failed;
 * why may be NULL). */
int td_ring_connect(struct td_loop *loop, const struct td_ring_params *params,
		    const struct td_ring_target *target, bool paused, struct td_ring **out,
		    const char **why);
/* Stops serving, unmaps, unbinds and frees. Requests in flight must have completed. */
void td_ring_disconnect(struct td_ring *r);

/* Stops consuming requests; those in flight go on and complete (td_ring_inflight counts them). */
void td_ring_pause(struct td_ring *r);
/* While paused and drained: the VBD closed the image; td_ring_resume gives the next one. */
void td_ring_drop_image(struct td_ring *r);
/* Consumes again, serving `target` (a new image and limits after a pause, or the same). */
void td_ring_resume(struct td_ring *r, const struct td_ring_target *target);
uint32_t td_ring_inflight(const struct td_ring *r);
/* Pushes pending responses and notifies the frontend at most once. */
void td_ring_push_responses(struct td_ring *r);

/* Snapshots for the control plane, taken when it asks (never kept current by the datapath). */
void td_ring_stats(const struct td_ring *r, struct td_ring_stats *out);
void td_ring_info(const struct td_ring *r, struct td_ring_info *out);

/* Polling settings (validated by the caller); an episode in progress ends and re-arms. */
void td_ring_set_polling(struct td_ring *r, const struct poll_params *p);
void td_ring_poll_stats(const struct td_ring *r, struct td_poll_stats *st);

#endif
