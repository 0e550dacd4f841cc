/* The data movement of one request: segments to buffers (persistent mappings or bounce pages
 * filled by one batched grant copy), I/Os on the image, completion, the copy back for reads. */
#include <errno.h>
#include <string.h>

#include "ringtap/log.h"
#include "src/ring_private.h"

static void io_done(struct td_io *io, int err);

static void release_buffers(struct td_ring *r, struct td_slot *slot)
{
	if (r->persistent)
		for (unsigned int i = 0; i < slot->req.nr_segs; i++)
			if (slot->pg[i]) {
				td_pgrant_put(&r->pgrants, slot->pg[i]);
				slot->pg[i] = NULL;
			}
	if (slot->nr_pages) {
		td_bufpool_put(&r->pool, slot->nr_pages, slot->pages);
		slot->nr_pages = 0;
	}
}

_Static_assert(TD_OP_DISCARD < TD_STATS_OPS, "one td_op_stats per operation");

/* Latency and outcome of a request being answered: two clock reads per request, no syscall. */
static void account(struct td_ring *r, const struct td_slot *slot, int16_t status)
{
	struct td_op_stats *o = &r->stats.ops[slot->req.op];
	uint64_t us = (td_loop_now_ns() - slot->start_ns) / 1000;
	unsigned int b = us ? 64 - (unsigned int)__builtin_clzll(us) : 0;

	o->completed++;
	if (status != BLKIF_RSP_OKAY)
		o->failed++;
	o->total_us += us;
	if (us > o->max_us)
		o->max_us = us;
	o->latency[b < TD_LAT_BUCKETS ? b : TD_LAT_BUCKETS - 1]++;
}

static void finish(struct td_ring *r, struct td_slot *slot, int16_t status)
{
	account(r, slot, status);
	release_buffers(r, slot);
	if (slot->req.op == TD_OP_BARRIER && r->barrier_active)
		r->barrier_active = false;
	r->inflight--;
	td_ring_respond(r, slot, status);
	/* Work that waited on this request (pages, a barrier's drain, the barrier itself). */
	r->retry = true;
}

static void refuse(struct td_ring *r, struct td_slot *slot, const char *why)
{
	r->stats.invalid++;
	rt_vbd_warn(r->log_id, "request id %llu refused: %s", (unsigned long long)slot->req.id,
		    why);
	finish(r, slot, BLKIF_RSP_ERROR);
}

static bool grant_copy_ok(struct td_ring *r, unsigned int n)
{
	if (!n)
		return true;
	if (xengnttab_grant_copy(r->gt, n, r->gcopy) < 0)
		goto fail;
	for (unsigned int i = 0; i < n; i++)
		if (r->gcopy[i].status != GNTST_okay)
			goto fail;
	return true;
fail:
	r->stats.grant_errors++;
	return false;
}

/* Copies the indirect segment pages out of guest memory: the only copy looked at. */
static int copy_indirect(struct td_ring *r, struct td_slot *slot)
{
	size_t left = (size_t)slot->req.nr_segs * sizeof(struct blkif_request_segment);
	unsigned int i;

	for (i = 0; i < slot->req.nr_indirect_pages; i++) {
		xengnttab_grant_copy_segment_t *g = &r->gcopy[i];

		g->source.foreign.ref = slot->req.indirect_grefs[i];
		g->source.foreign.offset = 0;
		g->source.foreign.domid = (uint16_t)r->params.domid;
		g->dest.virt = r->indirect_scratch + (size_t)i * TD_PAGE_SIZE;
		g->len = (uint16_t)(left > TD_PAGE_SIZE ? TD_PAGE_SIZE : left);
		g->flags = GNTCOPY_source_gref;
		left -= g->len;
	}
	if (!grant_copy_ok(r, i))
		return -EFAULT;
	td_blkif_indirect_segments(r->indirect_scratch, slot->req.nr_segs, slot->isegs);
	return 0;
}

static inline size_t seg_offset(const struct blkif_request_segment *s)
{
	return (size_t)s->first_sect << TD_SECTOR_SHIFT;
}

static inline size_t seg_len(const struct blkif_request_segment *s)
{
	return (size_t)(s->last_sect - s->first_sect + 1) << TD_SECTOR_SHIFT;
}

/* Gives every segment a buffer: its persistent mapping when there is one, else a bounce page
 * (also when the map is refused: Xen's maptrack table may be full; a bad grant then fails the
 * copy). -EAGAIN when the pool is short (nothing kept). */
static int map_segments(struct td_ring *r, struct td_slot *slot)
{
	unsigned int i, k, need = slot->req.nr_segs;
	int err = 0;

	if (r->persistent) {
		for (i = 0; i < slot->req.nr_segs; i++) {
			slot->pg[i] = td_pgrant_get(&r->pgrants, slot->segs[i].gref, &err);
			if (slot->pg[i])
				need--;
			else if (err != -ENOSPC)
				r->stats.pgrant_map_fallbacks++;
		}
	}
	if (!td_bufpool_get(&r->pool, need, slot->pages)) {
		release_buffers(r, slot);
		return -EAGAIN;
	}
	slot->nr_pages = need;
	slot->nr_iov = 0;
	for (i = 0, k = 0; i < slot->req.nr_segs; i++) {
		const struct blkif_request_segment *s = &slot->segs[i];
		uint8_t *base = slot->pg[i] ? slot->pg[i]->addr : td_bufpool_addr(&r->pool,
										   slot->pages[k++]);
		uint8_t *addr = base + seg_offset(s);
		struct iovec *last = slot->nr_iov ? &slot->iov[slot->nr_iov - 1] : NULL;

		/* Adjacent buffers make one iovec (and one kernel segment). */
		if (last && (uint8_t *)last->iov_base + last->iov_len == addr)
			last->iov_len += seg_len(s);
		else
			slot->iov[slot->nr_iov++] = (struct iovec){ addr, seg_len(s) };
	}
	return 0;
}

/* One grant copy for all bounced segments: guest to bounce (to_guest false) or back. */
static bool copy_bounced(struct td_ring *r, struct td_slot *slot, bool to_guest)
{
	unsigned int i, k = 0, n = 0;

	for (i = 0; i < slot->req.nr_segs; i++) {
		const struct blkif_request_segment *s = &slot->segs[i];
		xengnttab_grant_copy_segment_t *g;
		union xengnttab_copy_ptr *local, *guest;

		if (slot->pg[i])
			continue;
		g = &r->gcopy[n++];
		local = to_guest ? &g->source : &g->dest;
		guest = to_guest ? &g->dest : &g->source;
		local->virt = (uint8_t *)td_bufpool_addr(&r->pool, slot->pages[k++]) + seg_offset(s);
		guest->foreign.ref = s->gref;
		guest->foreign.offset = (uint16_t)seg_offset(s);
		guest->foreign.domid = (uint16_t)r->params.domid;
		g->len = (uint16_t)seg_len(s);
		g->flags = to_guest ? GNTCOPY_dest_gref : GNTCOPY_source_gref;
	}
	return grant_copy_ok(r, n);
}

static void submit_io(struct td_ring *r, struct td_slot *slot, unsigned int i, uint8_t op,
		      uint64_t sector)
{
	struct td_io *io = &slot->io[i];

	io->op = op;
	io->sector = sector;
	io->nr_sectors = op == TD_OP_DISCARD ? slot->req.nr_sectors : 0;
	io->done = io_done;
	io->data = slot;
	td_image_submit(r->image, io);
	r->need_kick = true;
}

static void submit_data(struct td_ring *r, struct td_slot *slot, uint8_t op)
{
	uint64_t sector = slot->req.sector;
	unsigned int i, start, n;

	slot->ios_pending = (uint8_t)((slot->nr_iov + TD_IOV_MAX - 1) / TD_IOV_MAX);
	for (i = 0, start = 0; start < slot->nr_iov; i++, start += n) {
		size_t bytes = 0;

		n = slot->nr_iov - start > TD_IOV_MAX ? TD_IOV_MAX : slot->nr_iov - start;
		slot->io[i].iov = &slot->iov[start];
		slot->io[i].iovcnt = (int)n;
		for (unsigned int j = start; j < start + n; j++)
			bytes += slot->iov[j].iov_len;
		submit_io(r, slot, i, op, sector);
		sector += bytes >> TD_SECTOR_SHIFT;
	}
}

bool td_request_dispatch(struct td_ring *r, struct td_slot *slot)
{
	uint8_t op = slot->req.op;
	int rc;

	if (op == TD_OP_DISCARD || ((op == TD_OP_FLUSH || op == TD_OP_BARRIER) &&
				    !slot->req.nr_segs)) {
		slot->ios_pending = 1;
		slot->io[0].iov = NULL;
		slot->io[0].iovcnt = 0;
		submit_io(r, slot, 0, op == TD_OP_DISCARD ? TD_OP_DISCARD : TD_OP_FLUSH,
			  slot->req.sector);
		return true;
	}
	rc = map_segments(r, slot);
	if (rc == -EAGAIN) {
		r->stats.pool_stalls++;
		return false;
	}
	if (op != TD_OP_READ && !copy_bounced(r, slot, false)) {
		rt_vbd_warn(r->log_id, "request id %llu: grant copy from the guest failed",
			    (unsigned long long)slot->req.id);
		finish(r, slot, BLKIF_RSP_ERROR);
		return true;
	}
	if (op == TD_OP_FLUSH || op == TD_OP_BARRIER)
		slot->stage = TD_STAGE_FLUSH;
	submit_data(r, slot, op == TD_OP_READ ? TD_OP_READ : TD_OP_WRITE);
	return true;
}

void td_request_start(struct td_ring *r, struct td_slot *slot)
{
	struct td_blkif_req *req = &slot->req;
	const char *why = NULL;

	slot->start_ns = td_loop_now_ns();
	slot->status = BLKIF_RSP_OKAY;
	slot->stage = TD_STAGE_DONE;
	slot->nr_pages = 0;
	slot->nr_iov = 0;
	slot->segs = req->seg;
	if (req->indirect) {
		r->stats.indirect++;
		slot->segs = slot->isegs;
		if (copy_indirect(r, slot) < 0) {
			req->nr_segs = 0; /* nothing acquired yet */
			refuse(r, slot, "indirect segment pages cannot be copied");
			return;
		}
		if (td_blkif_check_segments(req, slot->isegs, &r->limits, &why) != BLKIF_RSP_OKAY) {
			req->nr_segs = 0;
			refuse(r, slot, why);
			return;
		}
	}
	switch (req->op) {
	case TD_OP_READ: r->stats.reads++; break;
	case TD_OP_WRITE: r->stats.writes++; break;
	case TD_OP_FLUSH: r->stats.flushes++; break;
	case TD_OP_BARRIER: r->stats.barriers++; break;
	case TD_OP_DISCARD: r->stats.discards++; break;
	}
	if (req->op == TD_OP_BARRIER) {
		/* Everything consumed before it completes first; nothing after it starts. */
		if (r->inflight > 1) {
			r->barrier = slot;
			return;
		}
		r->barrier_active = true;
	}
	if (!td_request_dispatch(r, slot))
		r->stalled = slot;
}

static void io_done(struct td_io *io, int err)
{
	struct td_slot *slot = io->data;
	struct td_ring *r = slot->ring;
	struct td_blkif_req *req = &slot->req;

	if (err) {
		r->stats.io_errors++;
		slot->status = err == -EOPNOTSUPP ? BLKIF_RSP_EOPNOTSUPP : BLKIF_RSP_ERROR;
		rt_vbd_warn(r->log_id, "I/O at sector %llu failed: %s",
			    (unsigned long long)io->sector, strerror(-err));
	}
	if (--slot->ios_pending)
		return;
	if (slot->status == BLKIF_RSP_OKAY && slot->stage == TD_STAGE_FLUSH) {
		/* The data is written: now make it (and all completed before) durable. */
		slot->stage = TD_STAGE_DONE;
		slot->ios_pending = 1;
		slot->io[0].iov = NULL;
		slot->io[0].iovcnt = 0;
		submit_io(r, slot, 0, TD_OP_FLUSH, req->sector);
		td_image_kick(r->image);
		return;
	}
	if (slot->status == BLKIF_RSP_OKAY) {
		switch (req->op) {
		case TD_OP_READ:
			if (!copy_bounced(r, slot, true)) {
				rt_vbd_warn(r->log_id,
					    "request id %llu: grant copy to the guest failed",
					    (unsigned long long)req->id);
				slot->status = BLKIF_RSP_ERROR;
				break;
			}
			r->stats.bytes_read += req->nr_sectors << TD_SECTOR_SHIFT;
			break;
		case TD_OP_DISCARD:
			r->stats.sectors_discarded += req->nr_sectors;
			break;
		default:
			r->stats.bytes_written += req->nr_sectors << TD_SECTOR_SHIFT;
		}
	}
	finish(r, slot, slot->status);
}
