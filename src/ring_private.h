/* The inside of the sealed ring (src/ring.h), shared by its own files only: the mapping and
 * event channel (ring_attach.c), the consume/drain/respond path (ring.c), the data movement of
 * one request (request.c) and adaptive polling (ring_poll.c). The fuzz harness of the datapath
 * (tests/fuzz/fuzz_ring.c) drives these functions directly. */
#ifndef TD_RING_PRIVATE_H
#define TD_RING_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>
#include <xenevtchn.h>
#include <xengnttab.h>

#include "ringtap/driver.h"
#include "ringtap/poll.h"
#include "src/blkif_req.h"
#include "src/bufpool.h"
#include "src/loop.h"
#include "src/pgrant.h"
#include "src/ring.h"

/* An I/O of more iovecs than the kernel takes (UIO_MAXIOV) is split into several. */
#define TD_IOV_MAX 1024u
#define TD_MAX_IOS_PER_REQ (TD_MAX_INDIRECT_SEGS / TD_IOV_MAX)

enum td_slot_stage {
	TD_STAGE_DONE, /* respond when the I/Os complete */
	TD_STAGE_FLUSH, /* then flush (FLUSH_DISKCACHE or WRITE_BARRIER with data) */
};

/* One per ring slot, preallocated: a request in flight needs no allocation. */
struct td_slot {
	struct td_ring *ring;
	struct td_blkif_req req;
	struct blkif_request_segment *segs; /* req.seg, or isegs for an indirect request */
	struct blkif_request_segment *isegs; /* max_segs entries when indirect is offered */
	struct iovec *iov; /* max_segs */
	uint32_t *pages; /* bounce pages of the pool, nr_pages of them */
	struct td_pgrant **pg; /* per segment: its persistent mapping, or NULL (bounced) */
	uint32_t nr_pages;
	uint16_t nr_iov;
	uint8_t stage;
	uint8_t ios_pending;
	int16_t status;
	uint64_t start_ns; /* td_loop_now_ns() when started: the latency histogram */
	struct td_io io[TD_MAX_IOS_PER_REQ];
	struct td_slot *next_free;
};

/* Back to the event loop at least this often while polling: the control socket, signals and
 * the other rings of the process are served between slices (one epoll_wait(0) per slice). */
#define TD_POLL_SLICE_NS 1000000ULL

struct td_ring_poll {
	struct poll_ctl ctl;
	struct poll_guard guard;
	struct poll_budget budget;
	bool guard_ok; /* the guard's /proc files are open */
	/* In an episode: the port stays masked and req_event is not re-armed, so the frontend does
	 * not notify; requests and completions are picked up by the spin loop. */
	bool active;
	/* Requests consumed or responses produced since the poller last looked (by the loop's
	 * handlers: an arrival by event). */
	bool work;
	uint64_t cpu_start_ns; /* the thread's CPU clock when the episode began */
	/* Counters beyond ctl.stats. */
	uint64_t cpu_ns; /* thread CPU time in episodes */
	uint64_t suppressed; /* request batches found by spinning that the frontend did not notify */
	uint64_t polled_requests; /* requests consumed by the spin loop */
	uint64_t polled_completions; /* I/Os completed by the spin loop */
	uint64_t budget_refused; /* episodes refused because the host-wide budget was exhausted */
	uint64_t slices; /* returns to the event loop in the middle of an episode */
	/* Spun with the ring empty while requests were in flight at the image: the guest was
	 * waiting for the disk, only a completion could end that wait. */
	uint64_t disk_wait_ns;
	/* The debug log's summary of episodes (at most one per TD_POLL_SUMMARY_NS): the counters
	 * when the last one was logged. */
	uint64_t summary_ns;
	struct poll_stats summary_base;
	uint64_t summary_cpu_ns, summary_polled_requests, summary_disk_wait_ns;
};
#define TD_POLL_SUMMARY_NS (10ull * 1000000000)

struct td_ring {
	char log_id[32]; /* "vbd <domid>/<devid>": names the ring in the log */
	struct td_loop *loop;
	struct td_image *image; /* where requests go; NULL while paused with the image closed */
	struct td_ring_params params;
	enum blkif_abi abi;
	struct td_blkif_limits limits;
	uint16_t max_segs; /* per request: 11, or the indirect maximum */

	xengnttab_handle *gt;
	xenevtchn_handle *xce;
	evtchn_port_t local_port;
	void *sring_pages;
	unsigned int nr_pages;
	blkif_back_ring_t back; /* indexes and notification macros; slots via slot_size */
	uint8_t *entries;
	size_t entry_size;

	struct td_slot *slots;
	struct td_slot *free_slots;
	struct td_bufpool pool;
	struct td_pgrant_cache pgrants;
	bool persistent;
	uint8_t *indirect_scratch; /* the copied indirect pages of the request being decoded */
	xengnttab_grant_copy_segment_t *gcopy; /* max_segs: one batch per request */

	struct td_loop_file evfile;
	struct td_loop_hook hook;

	uint32_t inflight;
	bool masked; /* the port delivered an event and is not unmasked yet */
	bool unmask_failed; /* the last unmask failed (logged once per run of failures) */
	bool halted;
	bool paused;
	bool need_kick;
	bool retry; /* blocked work may proceed: drain from the hook */
	bool rsp_pending;
	struct td_slot *stalled; /* waits for bounce pages */
	struct td_slot *barrier; /* waits for in-flight requests to finish */
	bool barrier_active; /* a barrier is being served: consume nothing else */

	struct td_ring_stats stats;
	struct td_ring_poll poll; /* adaptive polling (ring_poll.c) */
};

/* ring_attach.c: r->loop, params, limits and image set; allocates and maps (0 or -errno, what
 * was done undone, *why as td_ring_connect's), and undoes it. */
int td_ring_attach(struct td_ring *r, const char **why);
void td_ring_detach(struct td_ring *r);

/* ring.c */
/* Consumes every request the ring holds, then re-arms req_event and unmasks the port once it
 * is empty (unless blocked: paused, halted, barrier, bounce pages). */
void td_ring_drain(struct td_ring *r);
bool td_ring_blocked(const struct td_ring *r);
void td_ring_respond(struct td_ring *r, struct td_slot *slot, int16_t status);
/* Resumes work that waited (bounce pages, a barrier's drain) once `retry` says it may. */
void td_ring_retry(struct td_ring *r);

/* ring_poll.c */
/* At ring start: default settings (adaptive), the guard's files, the budget's table. */
void td_ring_poll_init(struct td_ring *r);
/* At ring stop: ends an episode without re-arming (the ring is going away), closes files. */
void td_ring_poll_fini(struct td_ring *r);
/* From the ring's before-sleep hook, after the responses were pushed: decides whether to poll
 * and spins (for at most one slice). Returns true when the loop must not sleep (come back). */
bool td_ring_poll_run(struct td_ring *r);

/* request.c */
/* Serves a decoded, validated request (the segments checked). */
void td_request_start(struct td_ring *r, struct td_slot *slot);
/* Starts the data movement; false when it must wait for bounce pages (slot kept). */
bool td_request_dispatch(struct td_ring *r, struct td_slot *slot);

#endif
