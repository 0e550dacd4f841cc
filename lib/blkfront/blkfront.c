/* libblkfront's device: caller I/O queued, split into ring requests with granted data pages
 * (per request, or from the persistent pool), responses validated and completed, the shared
 * ring's indexes and the event channel handled as ring.h prescribes. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include <xenevtchn.h>
#include <xengnttab.h>
#include <xenstore.h>

#include "blkfront_int.h"
#include "ringtap/log.h"

/* The caller's I/O, split over one or more ring requests. */
struct bf_io {
	struct bf_io *next;
	enum blkfront_op op;
	uint8_t *buf;
	uint64_t offset;
	size_t len, queued; /* bytes put on the ring so far */
	bool all_queued;
	unsigned int inflight;
	int error;
	blkfront_done_fn done;
	void *arg;
};

/* The shared ring header: req_prod, req_event, rsp_prod, rsp_event (ring.h) */
#define SR_REQ_PROD 0
#define SR_REQ_EVENT 1
#define SR_RSP_PROD 2
#define SR_RSP_EVENT 3

static inline volatile uint32_t *sr(struct blkfront *bf, int field)
{
	return (volatile uint32_t *)bf->sring + field;
}

static inline void *slot(struct blkfront *bf, uint32_t idx)
{
	return blkif_ring_slot(blkif_sring_entries(bf->sring), bf->entry_size, bf->nr_ents, idx);
}

void blkfront_opts_init(struct blkfront_opts *opts)
{
	*opts = (struct blkfront_opts){
		.ring_order = 0,
		.abi = BLKIF_ABI_NATIVE,
		.persistent = true,
		.max_indirect_segs = 256,
		.queue_depth = 0,
		.timeout_ms = 10000,
	};
}

const struct blkfront_info *blkfront_info(const struct blkfront *bf)
{
	return &bf->info;
}

void blkfront_stats(const struct blkfront *bf, struct blkfront_stats *stats)
{
	*stats = bf->stats;
}

unsigned int blkfront_inflight(const struct blkfront *bf)
{
	return bf->nios;
}

int blkfront_event_fd(const struct blkfront *bf)
{
	return xenevtchn_fd(bf->xce);
}

/* ---- grants ---- */

static void *pool_grow(void *ctx, unsigned int count, struct bf_page *pages)
{
	struct blkfront *bf = ctx;
	uint32_t *refs = calloc(count, sizeof(*refs));
	uint8_t *base;
	unsigned int i;

	if (!refs)
		return NULL;
	base = xengntshr_share_pages(bf->gs, bf->info.backend_id, (int)count, refs, 1);
	if (base) {
		for (i = 0; i < count; i++) {
			pages[i].addr = base + (size_t)i * BF_PAGE_SIZE;
			pages[i].ref = refs[i];
		}
		bf->stats.grants_shared += count;
	}
	free(refs);
	return base;
}

static void pool_release(void *ctx, void *base, unsigned int count)
{
	struct blkfront *bf = ctx;

	xengntshr_unshare(bf->gs, base, count);
}

static void *req_page(struct bf_req *r, unsigned int i)
{
	if (r->ppages)
		return r->ppages[i]->addr;
	if (i < r->nsegs)
		return (uint8_t *)r->data_map + (size_t)i * BF_PAGE_SIZE;
	return (uint8_t *)r->ind_map + (size_t)(i - r->nsegs) * BF_PAGE_SIZE;
}

/* Grants the pages of one request: 0, -EAGAIN (try again after completions) or an error. */
static int req_grant(struct blkfront *bf, struct bf_req *r, bool backend_writes)
{
	unsigned int i;
	int err;

	if (bf->use_pool) {
		err = bf_pool_get(&bf->pool, r->nsegs + r->nind, r->ppages);
		if (err)
			return err;
		for (i = 0; i < r->nsegs + r->nind; i++)
			r->refs[i] = r->ppages[i]->ref;
		return 0;
	}
	r->ppages = NULL;
	if (r->nsegs) {
		r->data_map = xengntshr_share_pages(bf->gs, bf->info.backend_id, (int)r->nsegs,
						    r->refs, backend_writes);
		if (!r->data_map)
			return errno ? -errno : -ENOMEM;
	}
	if (r->nind) {
		/* the backend only reads the descriptors */
		r->ind_map = xengntshr_share_pages(bf->gs, bf->info.backend_id, (int)r->nind,
						   r->refs + r->nsegs, 0);
		if (!r->ind_map) {
			err = errno ? -errno : -ENOMEM;
			if (r->data_map)
				xengntshr_unshare(bf->gs, r->data_map, r->nsegs);
			r->data_map = NULL;
			return err;
		}
	}
	bf->stats.grants_shared += r->nsegs + r->nind;
	return 0;
}

static void req_ungrant(struct blkfront *bf, struct bf_req *r)
{
	if (bf->use_pool) {
		bf_pool_put(&bf->pool, r->ppages, r->nsegs + r->nind);
		return;
	}
	/* Revoking ends the backend's access (on Xen, gntalloc defers it while still mapped) */
	if (r->data_map)
		xengntshr_unshare(bf->gs, r->data_map, r->nsegs);
	if (r->ind_map)
		xengntshr_unshare(bf->gs, r->ind_map, r->nind);
	r->data_map = r->ind_map = NULL;
}

/* ---- ring requests ---- */

static struct bf_req *req_alloc(struct blkfront *bf)
{
	struct bf_req *r = bf->free_reqs;

	if (r) {
		bf->free_reqs = r->next_free;
		r->in_use = true;
		r->io = NULL;
		r->raw_done = NULL;
		r->nsegs = r->nind = 0;
		r->len = r->io_off = 0;
	}
	return r;
}

static void req_free(struct blkfront *bf, struct bf_req *r)
{
	r->in_use = false;
	r->next_free = bf->free_reqs;
	bf->free_reqs = r;
}

static void ring_write(struct blkfront *bf, struct bf_req *r, const struct blkfront_raw_req *req)
{
	r->operation = req->operation;
	r->indirect_op = req->operation == BLKIF_OP_INDIRECT ? req->indirect_op : req->operation;
	bf_abi_write_request(bf->info.abi, slot(bf, bf->req_prod_pvt), req,
			     (uint64_t)(r - bf->reqs));
	bf->req_prod_pvt++;
	bf->stats.requests++;
	bf->pending_push = true;
}

static uint8_t blkif_op(enum blkfront_op op)
{
	switch (op) {
	case BLKFRONT_READ:
		return BLKIF_OP_READ;
	case BLKFRONT_WRITE:
		return BLKIF_OP_WRITE;
	case BLKFRONT_BARRIER:
		return BLKIF_OP_WRITE_BARRIER;
	case BLKFRONT_FLUSH:
		return BLKIF_OP_FLUSH_DISKCACHE;
	case BLKFRONT_DISCARD:
		return BLKIF_OP_DISCARD;
	}
	return BLKIF_OP_READ;
}

static void io_complete(struct blkfront *bf, struct bf_io *io)
{
	bf->nios--;
	bf->stats.ios++;
	if (io->error)
		bf->stats.errors++;
	if (io->done)
		io->done(io->arg, io->error);
	io->next = bf->io_cache;
	bf->io_cache = io;
}

/* Puts the next part of `io` on the ring: 0, -EAGAIN (no room now) or an error for the io. */
static int io_issue_one(struct blkfront *bf, struct bf_io *io)
{
	struct blkfront_raw_req req;
	uint64_t sector = (io->offset + io->queued) / BF_SECTOR_SIZE;
	size_t len = 0;
	struct bf_req *r;
	unsigned int i;
	int err;

	r = req_alloc(bf);
	if (!r)
		return -EAGAIN;
	if (io->op == BLKFRONT_READ || io->op == BLKFRONT_WRITE || io->op == BLKFRONT_BARRIER) {
		len = bf_chunk_len(io->len - io->queued, bf->info.max_segs);
		r->nsegs = bf_chunk_segs(len);
		r->nind = r->nsegs > BLKIF_MAX_SEGMENTS_PER_REQUEST ? bf_indirect_pages(r->nsegs)
								    : 0;
		err = req_grant(bf, r, io->op == BLKFRONT_READ);
		if (err) {
			req_free(bf, r);
			return err;
		}
	}
	r->io = io;
	r->io_off = io->queued;
	r->len = len;
	switch (io->op) {
	case BLKFRONT_FLUSH:
		bf_build_flush(&req);
		break;
	case BLKFRONT_DISCARD:
		bf_build_discard(&req, sector, io->len / BF_SECTOR_SIZE);
		len = io->len;
		break;
	default: {
		void *ind[BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST];

		if (io->op != BLKFRONT_READ)
			for (i = 0; i < r->nsegs; i++) {
				size_t off = (size_t)i * BF_PAGE_SIZE;
				size_t n = len - off < BF_PAGE_SIZE ? len - off : BF_PAGE_SIZE;

				memcpy(req_page(r, i), io->buf + io->queued + off, n);
			}
		for (i = 0; i < r->nind; i++)
			ind[i] = req_page(r, r->nsegs + i);
		bf_build_rw(&req, blkif_op(io->op), sector, len, r->refs, ind, r->refs + r->nsegs,
			    r->nind > 0);
		break;
	}
	}
	ring_write(bf, r, &req);
	io->inflight++;
	io->queued += len;
	if (io->queued >= io->len)
		io->all_queued = true;
	return 0;
}

/* Moves queued I/O onto free ring slots, in order. */
static void ring_fill(struct blkfront *bf)
{
	while (bf->waitq && !bf->broken) {
		struct bf_io *io = bf->waitq;
		int err = io_issue_one(bf, io);

		if (err == -EAGAIN)
			return;
		if (err) {
			/* grants may come back with the responses still due; if none is, give up */
			if (bf->req_prod_pvt != bf->rsp_cons)
				return;
			io->error = io->error ? io->error : err;
			io->all_queued = true;
		}
		if (io->all_queued) {
			bf->waitq = io->next;
			if (!bf->waitq)
				bf->waitq_tail = NULL;
			if (!io->inflight)
				io_complete(bf, io);
		}
	}
}

void blkfront_commit(struct blkfront *bf)
{
	uint32_t old, new;

	if (!bf->pending_push || bf->broken)
		return;
	bf->pending_push = false;
	old = *sr(bf, SR_REQ_PROD);
	new = bf->req_prod_pvt;
	blkif_wmb(); /* the backend sees the requests before the producer index */
	*sr(bf, SR_REQ_PROD) = new;
	blkif_mb(); /* ... and we read req_event after publishing */
	if ((uint32_t)(new - *sr(bf, SR_REQ_EVENT)) < (uint32_t)(new - old)) {
		xenevtchn_notify(bf->xce, bf->info.port);
		bf->stats.notifications_sent++;
	}
}

int blkfront_submit(struct blkfront *bf, enum blkfront_op op, uint64_t offset, void *buf,
		    size_t len, blkfront_done_fn done, void *arg)
{
	uint64_t size = bf->info.sectors * bf->info.sector_size;
	struct bf_io *io;

	if (bf->broken)
		return -ESHUTDOWN;
	if (offset % bf->info.sector_size || len % bf->info.sector_size || offset > size ||
	    len > size - offset)
		return -EINVAL;
	switch (op) {
	case BLKFRONT_READ:
		if (!len || !buf)
			return -EINVAL;
		break;
	case BLKFRONT_BARRIER:
		if (!bf->info.barrier)
			return -EOPNOTSUPP;
		/* one direct request: a split barrier would not order its own parts */
		if (len > BLKIF_MAX_SEGMENTS_PER_REQUEST * BF_PAGE_SIZE)
			return -EINVAL;
		/* fall through */
	case BLKFRONT_WRITE:
		if (!len || !buf)
			return -EINVAL;
		if (bf->info.readonly)
			return -EROFS;
		break;
	case BLKFRONT_FLUSH:
		if (!bf->info.flush)
			return -EOPNOTSUPP;
		offset = len = 0;
		break;
	case BLKFRONT_DISCARD:
		if (!bf->info.discard)
			return -EOPNOTSUPP;
		if (bf->info.readonly)
			return -EROFS;
		if (!len)
			return -EINVAL;
		break;
	default:
		return -EINVAL;
	}
	io = bf->io_cache;
	if (io)
		bf->io_cache = io->next;
	else if (!(io = malloc(sizeof(*io))))
		return -ENOMEM;
	*io = (struct bf_io){
		.op = op, .buf = buf, .offset = offset, .len = len, .done = done, .arg = arg,
	};
	if (bf->waitq_tail)
		bf->waitq_tail->next = io;
	else
		bf->waitq = io;
	bf->waitq_tail = io;
	bf->nios++;
	ring_fill(bf);
	return 0;
}

/* A response for r: data back to the caller, grants back, the io completed with its last part. */
static int req_complete(struct blkfront *bf, struct bf_req *r, int error)
{
	struct bf_io *io = r->io;
	unsigned int i;
	int completed = 0;

	if (!io) {
		blkfront_done_fn done = r->raw_done;
		void *arg = r->raw_arg;

		req_free(bf, r);
		if (done)
			done(arg, error);
		return 0;
	}
	if (!error && io->op == BLKFRONT_READ)
		for (i = 0; i < r->nsegs; i++) {
			size_t off = (size_t)i * BF_PAGE_SIZE;
			size_t n = r->len - off < BF_PAGE_SIZE ? r->len - off : BF_PAGE_SIZE;

			memcpy(io->buf + r->io_off + off, req_page(r, i), n);
		}
	if (r->nsegs + r->nind)
		req_ungrant(bf, r);
	req_free(bf, r);
	if (error && !io->error)
		io->error = error;
	io->inflight--;
	if (!io->inflight && io->all_queued) {
		io_complete(bf, io);
		completed = 1;
	}
	return completed;
}

/* Everything queued or in flight fails: the ring cannot be trusted or is going away. */
static int fail_all(struct blkfront *bf)
{
	unsigned int i;
	int n = 0;

	bf->broken = true;
	while (bf->waitq) {
		struct bf_io *io = bf->waitq;

		bf->waitq = io->next;
		io->all_queued = true;
		io->error = -ESHUTDOWN;
		if (!io->inflight) {
			io_complete(bf, io);
			n++;
		}
	}
	bf->waitq_tail = NULL;
	for (i = 0; i < bf->info.queue_depth; i++)
		if (bf->reqs[i].in_use)
			n += req_complete(bf, &bf->reqs[i], -ESHUTDOWN);
	return n;
}

static int ring_broken(struct blkfront *bf, const char *why, unsigned long long v)
{
	rt_err("blkfront: %s: backend misbehaved (%s %llu); ring stopped", bf->fe_path, why, v);
	fail_all(bf);
	return -ESHUTDOWN;
}

int blkfront_process(struct blkfront *bf, bool arm)
{
	int completed = 0;

	if (bf->broken)
		return -ESHUTDOWN;
	for (;;) {
		uint32_t rp = *sr(bf, SR_RSP_PROD);

		blkif_rmb(); /* responses are read after the producer index */
		/* only responses to requests we pushed can exist */
		if ((uint32_t)(rp - bf->rsp_cons) > (uint32_t)(bf->req_prod_pvt - bf->rsp_cons))
			return ring_broken(bf, "rsp_prod", rp);
		while (bf->rsp_cons != rp) {
			struct blkif_response rsp;
			struct bf_req *r;

			blkif_abi_read_response(bf->info.abi, slot(bf, bf->rsp_cons), &rsp);
			bf->rsp_cons++;
			bf->stats.responses++;
			if (rsp.id >= bf->info.queue_depth || !bf->reqs[rsp.id].in_use)
				return ring_broken(bf, "response id", rsp.id);
			r = &bf->reqs[rsp.id];
			if (rsp.operation != r->operation && rsp.operation != r->indirect_op)
				return ring_broken(bf, "response operation", rsp.operation);
			completed += req_complete(bf, r, bf_status_to_errno(rsp.status));
			if (bf->broken)
				return -ESHUTDOWN;
		}
		if (!arm)
			break;
		/* RING_FINAL_CHECK_FOR_RESPONSES: ask for a notification, then look once more */
		*sr(bf, SR_RSP_EVENT) = bf->rsp_cons + 1;
		blkif_mb();
		if (*sr(bf, SR_RSP_PROD) == bf->rsp_cons)
			break;
	}
	ring_fill(bf);
	blkfront_commit(bf);
	return completed;
}

int blkfront_wait(struct blkfront *bf, int timeout_ms)
{
	struct pollfd pfd[2] = {
		{ .fd = xenevtchn_fd(bf->xce), .events = POLLIN },
		{ .fd = bf_xenbus_fd(bf), .events = POLLIN },
	};
	int n = blkfront_process(bf, true);

	if (n)
		return n;
	if (poll(pfd, pfd[1].fd >= 0 ? 2 : 1, timeout_ms) < 0)
		return errno == EINTR ? 0 : -errno;
	if ((pfd[1].revents & POLLIN) && bf_xenbus_backend_gone(bf)) {
		/* nothing in flight will be answered: fail it all, now */
		fail_all(bf);
		return -ESHUTDOWN;
	}
	if (pfd[0].revents & POLLIN) {
		xenevtchn_port_or_error_t port = xenevtchn_pending(bf->xce);

		if (port >= 0) {
			bf->stats.events_received++;
			/* ports stay masked after delivery until unmasked (XSA-332 style) */
			xenevtchn_unmask(bf->xce, (evtchn_port_t)port);
		}
	}
	return blkfront_process(bf, true);
}

/* ---- raw access ---- */

int blkfront_raw_submit(struct blkfront *bf, const struct blkfront_raw_req *req,
			blkfront_done_fn done, void *arg)
{
	struct bf_req *r;

	if (bf->broken)
		return -ESHUTDOWN;
	r = req_alloc(bf);
	if (!r)
		return -EBUSY;
	r->raw_done = done;
	r->raw_arg = arg;
	ring_write(bf, r, req);
	blkfront_commit(bf);
	return 0;
}

int blkfront_raw_grant(struct blkfront *bf, unsigned int domid, unsigned int count, bool writable,
		       uint32_t *refs, void **addr)
{
	struct bf_raw_grant *g = calloc(1, sizeof(*g));

	if (!g)
		return -ENOMEM;
	g->addr = xengntshr_share_pages(bf->gs, domid, (int)count, refs, writable);
	if (!g->addr) {
		int err = errno ? -errno : -ENOMEM;

		free(g);
		return err;
	}
	g->count = count;
	g->next = bf->raw_grants;
	bf->raw_grants = g;
	*addr = g->addr;
	return 0;
}

void blkfront_raw_set_req_prod(struct blkfront *bf, uint32_t req_prod)
{
	blkif_wmb();
	*sr(bf, SR_REQ_PROD) = req_prod;
	blkif_mb();
	xenevtchn_notify(bf->xce, bf->info.port);
	bf->stats.notifications_sent++;
	fail_all(bf);
}

/* ---- open / close ---- */

static int alloc_reqs(struct blkfront *bf)
{
	unsigned int i, per_req = bf->info.max_segs + bf_indirect_pages(bf->info.max_segs);

	bf->reqs = calloc(bf->info.queue_depth, sizeof(*bf->reqs));
	if (!bf->reqs)
		return -ENOMEM;
	for (i = bf->info.queue_depth; i-- > 0;) {
		struct bf_req *r = &bf->reqs[i];

		r->refs = calloc(per_req, sizeof(*r->refs));
		if (bf->use_pool)
			r->ppages = calloc(per_req, sizeof(*r->ppages));
		if (!r->refs || (bf->use_pool && !r->ppages))
			return -ENOMEM;
		req_free(bf, r);
	}
	if (bf->use_pool)
		bf_pool_init(&bf->pool, bf->info.queue_depth * per_req, 64, pool_grow,
			     pool_release, bf);
	return 0;
}

static void destroy(struct blkfront *bf)
{
	unsigned int i;

	if (bf->use_pool)
		bf_pool_destroy(&bf->pool);
	while (bf->raw_grants) {
		struct bf_raw_grant *g = bf->raw_grants;

		bf->raw_grants = g->next;
		xengntshr_unshare(bf->gs, g->addr, g->count);
		free(g);
	}
	if (bf->sring)
		xengntshr_unshare(bf->gs, bf->sring, 1u << bf->info.ring_order);
	if (bf->port_bound)
		xenevtchn_unbind(bf->xce, bf->info.port);
	if (bf->reqs)
		for (i = 0; i < bf->info.queue_depth; i++) {
			free(bf->reqs[i].refs);
			if (bf->use_pool)
				free(bf->reqs[i].ppages);
		}
	free(bf->reqs);
	while (bf->io_cache) {
		struct bf_io *io = bf->io_cache;

		bf->io_cache = io->next;
		free(io);
	}
	if (bf->xce)
		xenevtchn_close(bf->xce);
	if (bf->gs)
		xengntshr_close(bf->gs);
	if (bf->xs)
		xs_close(bf->xs);
	free(bf->fe_path);
	free(bf->be_path);
	free(bf);
}

int blkfront_open(const char *device, const struct blkfront_opts *opts, struct blkfront **out)
{
	struct blkfront *bf = calloc(1, sizeof(*bf));
	int err;

	if (!bf)
		return -ENOMEM;
	if (opts)
		bf->opts = *opts;
	else
		blkfront_opts_init(&bf->opts);
	if (bf->opts.abi != BLKIF_ABI_NATIVE && bf->opts.abi != BLKIF_ABI_X86_32 &&
	    bf->opts.abi != BLKIF_ABI_X86_64) {
		free(bf);
		return -EINVAL;
	}
	if (!bf->opts.timeout_ms)
		bf->opts.timeout_ms = 10000;
	bf->info.abi = bf->opts.abi;
	bf->gs = xengntshr_open(NULL, 0);
	bf->xce = xenevtchn_open(NULL, 0);
	if (!bf->gs || !bf->xce) {
		err = errno ? -errno : -ENODEV;
		rt_err("blkfront: cannot open the grant/event-channel devices: %s", strerror(-err));
		goto fail;
	}
	err = bf_xenbus_connect(bf, device);
	if (err)
		goto fail;
	bf->info.queue_depth = bf->opts.queue_depth && bf->opts.queue_depth < bf->nr_ents
				       ? bf->opts.queue_depth
				       : bf->nr_ents;
	bf->use_pool = bf->info.persistent;
	err = alloc_reqs(bf);
	if (err)
		goto fail;
	*out = bf;
	return 0;
fail:
	bf_xenbus_close(bf);
	destroy(bf);
	return err;
}

void blkfront_close(struct blkfront *bf)
{
	if (!bf)
		return;
	if (bf->reqs)
		fail_all(bf);
	bf_xenbus_close(bf);
	destroy(bf);
}
