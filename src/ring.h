/* One blkif shared ring served by tapdisk: the mapping and event channel (ring_attach.c), the
 * consume/drain/respond path (ring.c) and the data movement of one request (request.c). Internal
 * to tapdisk; the control plane uses src/tapdisk.h. */
#ifndef TD_RING_H
#define TD_RING_H

#include <stdbool.h>
#include <stdint.h>
#include <xenevtchn.h>
#include <xengnttab.h>

#include "ringtap/driver.h"
#include "src/blkif_req.h"
#include "src/loop.h"
#include "src/pgrant.h"
#include "src/ring_poll.h"
#include "src/tapdisk.h"

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

/* Page-aligned bounce buffers, reserved (not committed) at connect and reused LIFO so that the
 * resident set stays as small as the load. */
struct td_bufpool {
	uint8_t *base;
	uint32_t *free; /* stack of free page indices */
	uint32_t nfree, npages;
};

struct td_ring {
	struct td_vbd *vbd;
	struct td_loop *loop;
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

/* vbd.c: the image the ring's requests go to (it changes across a pause). */
struct td_image *td_vbd_image(struct td_vbd *vbd);

/* ring_attach.c */
int td_ring_attach(struct td_ring *r);
void td_ring_detach(struct td_ring *r);
int td_bufpool_init(struct td_bufpool *p, uint32_t npages);
void td_bufpool_fini(struct td_bufpool *p);
bool td_bufpool_get(struct td_bufpool *p, uint32_t n, uint32_t *out);
void td_bufpool_put(struct td_bufpool *p, uint32_t n, const uint32_t *pages);
static inline void *td_bufpool_addr(const struct td_bufpool *p, uint32_t page)
{
	return p->base + (size_t)page * TD_PAGE_SIZE;
}

/* ring.c */
int td_ring_start(struct td_ring *r);
void td_ring_stop(struct td_ring *r);
/* Consumes every request the ring holds, then re-arms req_event and unmasks the port once it
 * is empty (unless blocked: paused, halted, barrier, bounce pages). */
void td_ring_drain(struct td_ring *r);
bool td_ring_blocked(const struct td_ring *r);
void td_ring_respond(struct td_ring *r, struct td_slot *slot, int16_t status);
/* Resumes work that waited (bounce pages, a barrier's drain) once `retry` says it may. */
void td_ring_retry(struct td_ring *r);
/* Pushes pending responses and notifies the frontend at most once. */
void td_ring_push_responses(struct td_ring *r);

/* request.c */
/* Serves a decoded, validated request (the segments checked). */
void td_request_start(struct td_ring *r, struct td_slot *slot);
/* Starts the data movement; false when it must wait for bounce pages (slot kept). */
bool td_request_dispatch(struct td_ring *r, struct td_slot *slot);

#endif
