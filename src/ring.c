/* The ring's consume/drain/respond path. Small functions on purpose: the adaptive polling loop
 * (ring_poll.c) reuses the same steps (check req_prod, consume, kick) without the event channel. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringtap/log.h"
#include "src/ring_private.h"

static inline void *ring_slot(struct td_ring *r, RING_IDX idx)
{
	return blkif_ring_slot(r->entries, r->entry_size, r->back.nr_ents, idx);
}

bool td_ring_blocked(const struct td_ring *r)
{
	return r->halted || r->paused || r->stalled || r->barrier || r->barrier_active;
}

void td_ring_respond(struct td_ring *r, struct td_slot *slot, int16_t status)
{
	blkif_abi_write_response(r->abi, ring_slot(r, r->back.rsp_prod_pvt), slot->req.id,
				 slot->req.rsp_op, status);
	r->back.rsp_prod_pvt++;
	r->rsp_pending = true;
	r->poll.work = true;
	r->stats.responses++;
	if (status == BLKIF_RSP_ERROR)
		r->stats.errors++;
	else if (status == BLKIF_RSP_EOPNOTSUPP)
		r->stats.eopnotsupp++;
	slot->next_free = r->free_slots;
	r->free_slots = slot;
}

void td_ring_push_responses(struct td_ring *r)
{
	int notify;

	if (!r->rsp_pending)
		return;
	r->rsp_pending = false;
	RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&r->back, notify);
	if (notify) {
		if (xenevtchn_notify(r->xce, r->local_port) < 0)
			rt_vbd_err(r->log_id, "notify: %s", strerror(errno));
		r->stats.notifications++;
	}
}

static void ring_halt(struct td_ring *r, RING_IDX prod)
{
	r->halted = true;
	r->stats.halted = true;
	rt_vbd_err(r->log_id,
		   "frontend producer index %u overflows the ring (consumer %u, %u "
		   "slots): ring halted",
		   prod, r->back.req_cons, r->back.nr_ents);
}

/* Events may be delivered again. On failure the port stays masked for the next drain to retry
 * (the spin loop and the loop's hooks keep serving meanwhile); logged once per run of failures. */
static void ring_unmask(struct td_ring *r)
{
	if (xenevtchn_unmask(r->xce, r->local_port) < 0) {
		if (!r->unmask_failed)
			rt_vbd_err(r->log_id, "cannot unmask event channel %u: %s", r->local_port,
				   strerror(errno));
		r->unmask_failed = true;
		return;
	}
	r->masked = false;
	r->unmask_failed = false;
}

/* Copies, decodes and validates one request, then starts it or answers it. */
static void consume_one(struct td_ring *r, RING_IDX idx)
{
	uint8_t copy[BLKIF_REQ_COPY_SIZE] __attribute__((aligned(8)));
	struct td_slot *slot = r->free_slots;
	const char *why = NULL;
	int status;

	r->free_slots = slot->next_free;
	blkif_abi_copy_request(r->abi, ring_slot(r, idx), copy);
	r->stats.requests++;
	status = td_blkif_decode(r->abi, copy, &r->limits, &slot->req, &why);
	if (status != BLKIF_RSP_OKAY) {
		r->stats.invalid++;
		rt_vbd_warn(r->log_id, "request id %llu (operation %u) refused: %s",
			    (unsigned long long)slot->req.id, slot->req.rsp_op, why);
		td_ring_respond(r, slot, (int16_t)status);
		return;
	}
	r->inflight++;
	td_request_start(r, slot);
}

static void ring_kick(struct td_ring *r)
{
	if (r->need_kick) {
		r->need_kick = false;
		td_image_kick(r->image);
	}
}

/* Consumes what the ring holds now, up to a block; true if it consumed anything.
 *
 * Each request goes to the image as soon as it is decoded (one io_submit each), not with the rest
 * of the drain: the block layer plugs for the length of an io_submit, so no request of a batch
 * reaches the disk before the last one is prepared (~3.4 us each on O_DIRECT). Handing a whole
 * drain over at once (25 requests per batch at QD32) kept the disk at half its queue depth and
 * the requests moved in two convoys between guest and disk; batches of 1, 2, 4 and 8 measured
 * in that order, best first. See docs/PERFORMANCE.md (datapath). */
static bool ring_consume(struct td_ring *r)
{
	RING_IDX rp, rc;
	bool any = false;

	if (td_ring_blocked(r))
		return false;
	rp = __atomic_load_n(&r->back.sring->req_prod, __ATOMIC_ACQUIRE);
	if (RING_REQUEST_PROD_OVERFLOW(&r->back, rp)) {
		ring_halt(r, rp);
		return false;
	}
	rc = r->back.req_cons;
	while (rc != rp && !RING_REQUEST_CONS_OVERFLOW(&r->back, rc) && r->free_slots) {
		r->back.req_cons = ++rc;
		consume_one(r, rc - 1);
		ring_kick(r);
		any = true;
		r->poll.work = true;
		if (td_ring_blocked(r))
			break;
	}
	return any;
}

void td_ring_drain(struct td_ring *r)
{
	int more;

	for (;;) {
		ring_consume(r); /* started what it consumed */
		if (td_ring_blocked(r))
			return; /* stays masked: unblocking drains again */
		if (r->poll.active)
			return; /* polling: stays masked, req_event not re-armed (ring_poll.c) */
		RING_FINAL_CHECK_FOR_REQUESTS(&r->back, more);
		if (!more)
			break;
	}
	if (r->masked)
		ring_unmask(r);
}

static void on_event(struct td_loop *loop, int fd, uint32_t events, void *data)
{
	struct td_ring *r = data;
	xenevtchn_port_or_error_t port = xenevtchn_pending(r->xce);
	RING_IDX before = r->back.req_cons;

	if (port < 0)
		return;
	if ((evtchn_port_t)port != r->local_port) {
		/* not ours (the handle binds one port): let it be delivered, or say why not */
		if (xenevtchn_unmask(r->xce, (evtchn_port_t)port) < 0)
			rt_vbd_err(r->log_id, "cannot unmask event channel %d: %s", port,
				   strerror(errno));
		return;
	}
	r->masked = true;
	r->stats.events++;
	td_ring_drain(r);
	if (r->back.req_cons == before && !td_ring_blocked(r))
		r->stats.spurious_events++;
}

void td_ring_retry(struct td_ring *r)
{
	if (r->retry) {
		r->retry = false;
		if (r->stalled) {
			struct td_slot *s = r->stalled;

			r->stalled = NULL;
			if (!td_request_dispatch(r, s))
				r->stalled = s;
			ring_kick(r);
		}
		if (r->barrier && r->inflight == 1) {
			struct td_slot *s = r->barrier;

			r->barrier = NULL;
			r->barrier_active = true;
			if (!td_request_dispatch(r, s))
				r->stalled = s;
			ring_kick(r);
		}
		if (!td_ring_blocked(r))
			td_ring_drain(r);
	}
}

/* Before the loop sleeps: resume blocked work that may proceed, then one push and at most one
 * notification for everything answered in this iteration; then, maybe, poll. */
static bool before_sleep(struct td_loop *loop, void *data)
{
	struct td_ring *r = data;
	bool busy;

	td_ring_retry(r);
	td_ring_push_responses(r);
	busy = td_ring_poll_run(r);
	td_ring_push_responses(r);
	return r->retry || busy;
}

static int ring_start(struct td_ring *r)
{
	int rc;

	rc = td_loop_file_add(r->loop, &r->evfile, xenevtchn_fd(r->xce), EPOLLIN, on_event, r);
	if (rc < 0)
		return rc;
	td_loop_hook_add(r->loop, &r->hook, before_sleep, r);
	td_ring_poll_init(r);
	/* The frontend may have queued requests (and notified) before the port was bound. */
	r->masked = false;
	r->retry = true;
	return 0;
}

static void ring_stop(struct td_ring *r)
{
	td_ring_poll_fini(r);
	td_ring_push_responses(r);
	td_loop_hook_del(r->loop, &r->hook);
	td_loop_file_del(r->loop, &r->evfile);
}

/*
 * The bounce pool as the image's fixed buffer (io_uring: READ_FIXED/WRITE_FIXED, when asked
 * for): the ring owns the pool, so the ring hands it to the image it serves once both exist
 * (connect, resume with the image to use from then on) and takes it back before either goes
 * (drop_image, before the VBD closes the stack; disconnect, before the pool is unmapped).
 * Each file of the image registers it with its own engine; a file opened later (a reopen) gets
 * it at the next resume. The persistent grants' pages go the same way, each as the image's
 * page of its cache entry's index: the ones mapped now here, the ones mapped or unmapped later
 * as that happens (ring_attach.c's callbacks), each unregistered before it is unmapped.
 */
static void pool_to_image(struct td_ring *r, bool give)
{
	if (!r->image)
		return;
	if (r->pool.base)
		td_image_register_buffer(r->image, give ? r->pool.base : NULL,
					 give ? (size_t)r->pool.npages * TD_PAGE_SIZE : 0);
	if (r->persistent)
		for (uint32_t i = 0; i < r->pgrants.capacity; i++)
			if (r->pgrants.entries[i].addr)
				td_image_register_page(r->image, i,
						       give ? r->pgrants.entries[i].addr : NULL);
}

int td_ring_connect(struct td_loop *loop, const struct td_ring_params *params,
		    const struct td_ring_target *target, bool paused, struct td_ring **out,
		    const char **why)
{
	struct td_ring *r = calloc(1, sizeof(*r));
	int rc;

	if (!r)
		return -ENOMEM;
	r->loop = loop;
	r->params = *params;
	snprintf(r->log_id, sizeof(r->log_id), "vbd %u/%u", params->domid, params->devid);
	r->image = target->image;
	r->limits.disk_sectors = target->disk_sectors;
	r->limits.readonly = target->readonly;
	r->limits.discard = target->discard;
	rc = td_ring_attach(r, why);
	r->params.protocol = NULL; /* the caller's string: read once, by attach */
	if (rc < 0) {
		free(r);
		return rc;
	}
	r->paused = paused;
	pool_to_image(r, true);
	rc = ring_start(r);
	if (rc < 0) {
		pool_to_image(r, false);
		if (why)
			*why = "cannot watch the event channel";
		td_ring_detach(r);
		free(r);
		return rc;
	}
	rt_vbd_debug(r->log_id,
		     "ring: %u page(s), %u slots, protocol %s, event channel %u "
		     "(local %u), %u segments per request (indirect %u), persistent grants %s "
		     "(cache %u pages), %u bounce pages, discard %s, flush and barrier yes%s",
		     r->nr_pages, r->back.nr_ents, blkif_abi_name(r->abi),
		     r->params.port, r->local_port, r->max_segs, r->limits.max_indirect_segs,
		     r->persistent ? "on" : "off", r->persistent ? r->pgrants.capacity : 0,
		     r->pool.npages, r->limits.discard ? "yes" : "no",
		     r->limits.readonly ? ", read-only" : "");
	*out = r;
	return 0;
}

void td_ring_disconnect(struct td_ring *r)
{
	const struct td_ring_stats *s = &r->stats;

	rt_vbd_debug(r->log_id,
		     "ring disconnected: %llu requests (%llu reads, %llu writes, %llu flushes, "
		     "%llu discards), %llu refused, %llu failed, %llu events, %llu notifications%s",
		     (unsigned long long)s->requests, (unsigned long long)s->reads,
		     (unsigned long long)s->writes, (unsigned long long)s->flushes,
		     (unsigned long long)s->discards, (unsigned long long)s->invalid,
		     (unsigned long long)s->errors, (unsigned long long)s->events,
		     (unsigned long long)s->notifications, r->halted ? "; halted" : "");
	ring_stop(r);
	pool_to_image(r, false);
	td_ring_detach(r);
	free(r);
}

void td_ring_pause(struct td_ring *r)
{
	r->paused = true;
}

void td_ring_drop_image(struct td_ring *r)
{
	pool_to_image(r, false);
	r->image = NULL;
}

void td_ring_resume(struct td_ring *r, const struct td_ring_target *target)
{
	r->image = target->image;
	pool_to_image(r, true);
	r->limits.disk_sectors = target->disk_sectors;
	r->limits.readonly = target->readonly;
	r->limits.discard = target->discard;
	r->paused = false;
	r->retry = true; /* the loop's hook drains what the frontend queued meanwhile */
}

uint32_t td_ring_inflight(const struct td_ring *r)
{
	return r->inflight;
}

void td_ring_stats(const struct td_ring *r, struct td_ring_stats *out)
{
	*out = r->stats;
	out->inflight = r->inflight;
	out->idx = (struct td_ring_indexes){
		.nr_ents = r->back.nr_ents,
		.req_prod = __atomic_load_n(&r->back.sring->req_prod, __ATOMIC_RELAXED),
		.req_cons = r->back.req_cons,
		.req_event = __atomic_load_n(&r->back.sring->req_event, __ATOMIC_RELAXED),
		.rsp_prod = __atomic_load_n(&r->back.sring->rsp_prod, __ATOMIC_RELAXED),
		.rsp_prod_pvt = r->back.rsp_prod_pvt,
		.rsp_event = __atomic_load_n(&r->back.sring->rsp_event, __ATOMIC_RELAXED),
	};
	if (r->persistent) {
		out->pgrant_hits = r->pgrants.stats.hits;
		out->pgrant_misses = r->pgrants.stats.misses;
		out->pgrant_evictions = r->pgrants.stats.evictions;
	}
}

void td_ring_info(const struct td_ring *r, struct td_ring_info *out)
{
	*out = (struct td_ring_info){
		.nr_pages = r->nr_pages,
		.nr_slots = r->back.nr_ents,
		.abi = blkif_abi_name(r->abi),
		.persistent = r->persistent,
	};
}
