/* Attaching a blkif ring: map its 1-16 pages from the frontend, bind its event channel, and
 * preallocate everything a request in flight needs (slots, bounce pool, grant caches). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "ringtap/log.h"
#include "src/ring_private.h"

/* A persistent grant's page is the image's fixed-buffer page of its cache entry's index while
 * it is mapped (engine.h: io_uring's READ_FIXED/WRITE_FIXED, when asked for): registered once
 * mapped, unregistered before it is unmapped (a later mapping at the same address would
 * otherwise be taken for it). Without an image (paused with it closed) the resume registers
 * what is mapped then (ring.c). */
static void *pgrant_map(void *ctx, grant_ref_t gref, uint32_t index)
{
	struct td_ring *r = ctx;
	void *addr = xengnttab_map_grant_ref(r->gt, r->params.domid, gref, PROT_READ | PROT_WRITE);

	if (addr)
		td_image_register_page(r->image, index, addr);
	return addr;
}

static void pgrant_unmap(void *ctx, void *addr, uint32_t index)
{
	struct td_ring *r = ctx;

	td_image_register_page(r->image, index, NULL);
	xengnttab_unmap(r->gt, addr, 1);
}

static int check_params(const struct td_ring_params *p, enum blkif_abi *abi)
{
	if (p->order > TD_MAX_RING_ORDER)
		return -EINVAL;
	if (p->max_indirect_segs > TD_MAX_INDIRECT_SEGS)
		return -EINVAL;
	return blkif_abi_from_protocol(p->protocol, abi);
}

static int alloc_slots(struct td_ring *r, unsigned int n)
{
	unsigned int i;

	r->slots = calloc(n, sizeof(*r->slots));
	if (!r->slots)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		struct td_slot *s = &r->slots[i];

		s->ring = r;
		s->iov = calloc(r->max_segs, sizeof(*s->iov));
		s->pages = calloc(r->max_segs, sizeof(*s->pages));
		s->pg = calloc(r->max_segs, sizeof(*s->pg));
		if (r->limits.max_indirect_segs)
			s->isegs = calloc(r->max_segs, sizeof(*s->isegs));
		if (!s->iov || !s->pages || !s->pg || (r->limits.max_indirect_segs && !s->isegs))
			return -ENOMEM;
		s->next_free = r->free_slots;
		r->free_slots = s;
	}
	return 0;
}

static void free_slots(struct td_ring *r)
{
	if (!r->slots)
		return;
	for (unsigned int i = 0; i < r->back.nr_ents; i++) {
		free(r->slots[i].iov);
		free(r->slots[i].pages);
		free(r->slots[i].pg);
		free(r->slots[i].isegs);
	}
	free(r->slots);
	r->slots = NULL;
	r->free_slots = NULL;
}

/* A step of the attach failed: *why says which (the caller logs it with the error). */
static int attach_failed(const char **why, const char *step, int rc)
{
	if (why)
		*why = step;
	return rc;
}

int td_ring_attach(struct td_ring *r, const char **why)
{
	const struct td_ring_params *p = &r->params;
	uint32_t refs[TD_MAX_RING_PAGES];
	uint32_t pool_pages, pg_cap;
	size_t nents;
	xenevtchn_port_or_error_t port;
	int rc;

	rc = check_params(p, &r->abi);
	if (rc < 0)
		return attach_failed(why, "bad ring parameters", rc);
	r->nr_pages = 1u << p->order;
	r->limits.max_indirect_segs = p->max_indirect_segs;
	r->max_segs = p->max_indirect_segs > BLKIF_MAX_SEGMENTS_PER_REQUEST
			      ? p->max_indirect_segs
			      : BLKIF_MAX_SEGMENTS_PER_REQUEST;
	nents = blkif_ring_entries(r->abi, r->nr_pages);
	r->entry_size = blkif_abi_entry_size(r->abi);
	/* Bounce pages: room for every slot's direct segments, or for the queue of large requests
	 * up to 32 MiB (at least two of the largest); only what the load touches becomes resident. */
	pool_pages = (uint32_t)nents * r->max_segs;
	if (pool_pages > 8192)
		pool_pages = 8192 > 2u * r->max_segs ? 8192 : 2u * r->max_segs;
	/* Persistent grants: Linux blkback's 1056 (32 slots x 11 segments x 3) or 11 per slot, but
	 * with indirect descriptors at least as many as the bounce pages plus an indirect page per
	 * slot: a frontend keeping 8 requests of 1 MiB in flight uses 2056 grants, and a cache
	 * smaller than the frontend's working set misses on nearly every segment (1 MiB reads at
	 * QD8 spent 0.17-0.8 ms of CPU per request mapping and unmapping). Only the grants a
	 * frontend uses get mapped: a Linux guest (32 indirect segments by default) uses ~1100. */
	pg_cap = nents * 11 > 1056 ? (uint32_t)nents * 11 : 1056;
	if (pg_cap < pool_pages + nents)
		pg_cap = pool_pages + (uint32_t)nents;
	if (p->max_persistent_grants)
		pg_cap = p->max_persistent_grants;

	r->gt = xengnttab_open(NULL, 0);
	if (!r->gt)
		return attach_failed(why, "cannot open the grant table", errno ? -errno : -ENODEV);
	/* The ring pages and the persistent grants are this handle's only mappings. Refused (an
	 * older gntdev, or above its limit), the device's own limit stays: the ring still maps,
	 * and a persistent grant that cannot be mapped is grant-copied instead (request.c). */
	if (xengnttab_set_max_grants(r->gt, r->nr_pages + (p->persistent ? pg_cap : 0) + 16) < 0)
		rt_vbd_warn(r->log_id,
			    "cannot raise the grant mapping limit to %u: %s; persistent grants "
			    "beyond the device's limit are copied",
			    r->nr_pages + (p->persistent ? pg_cap : 0) + 16, strerror(errno));
	memcpy(refs, p->ring_refs, r->nr_pages * sizeof(refs[0]));
	r->sring_pages = xengnttab_map_domain_grant_refs(r->gt, r->nr_pages, p->domid, refs,
							  PROT_READ | PROT_WRITE);
	if (!r->sring_pages) {
		rc = attach_failed(why, "cannot map the ring pages", errno ? -errno : -EFAULT);
		goto fail;
	}
	{
		struct blkif_sring *s = r->sring_pages;
		/* Attach at the frontend's current response index (a reconnect resumes there). */
		RING_IDX start = __atomic_load_n(&s->rsp_prod, __ATOMIC_ACQUIRE);

		BACK_RING_ATTACH(&r->back, s, start, (size_t)r->nr_pages * TD_PAGE_SIZE);
		r->back.nr_ents = (unsigned int)nents;
		r->entries = blkif_sring_entries(s);
	}

	r->xce = xenevtchn_open(NULL, 0);
	if (!r->xce) {
		rc = attach_failed(why, "cannot open the event channel device",
				   errno ? -errno : -ENODEV);
		goto fail;
	}
	port = xenevtchn_bind_interdomain(r->xce, p->domid, p->port);
	if (port < 0) {
		rc = attach_failed(why, "cannot bind the event channel", errno ? -errno : -EINVAL);
		goto fail;
	}
	r->local_port = (evtchn_port_t)port;

	rc = alloc_slots(r, r->back.nr_ents);
	if (rc == 0)
		rc = td_bufpool_init(&r->pool, pool_pages);
	if (rc < 0) {
		attach_failed(why, "cannot allocate the ring's slots and buffers", rc);
		goto fail;
	}
	r->gcopy = calloc(r->max_segs, sizeof(*r->gcopy));
	r->indirect_scratch = aligned_alloc(TD_PAGE_SIZE,
					    BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST * TD_PAGE_SIZE);
	if (!r->gcopy || !r->indirect_scratch) {
		rc = attach_failed(why, "cannot allocate the ring's slots and buffers", -ENOMEM);
		goto fail;
	}
	r->persistent = p->persistent;
	if (r->persistent) {
		struct td_pgrant_ops ops = { pgrant_map, pgrant_unmap, r };

		rc = td_pgrant_init(&r->pgrants, pg_cap, &ops);
		if (rc < 0) {
			attach_failed(why, "cannot allocate the persistent-grant cache", rc);
			goto fail;
		}
	}
	return 0;
fail:
	td_ring_detach(r);
	return rc;
}

void td_ring_detach(struct td_ring *r)
{
	if (r->persistent)
		td_pgrant_fini(&r->pgrants);
	r->persistent = false;
	free(r->indirect_scratch);
	r->indirect_scratch = NULL;
	free(r->gcopy);
	r->gcopy = NULL;
	td_bufpool_fini(&r->pool);
	free_slots(r);
	if (r->xce) {
		if (r->local_port)
			xenevtchn_unbind(r->xce, r->local_port);
		xenevtchn_close(r->xce);
		r->xce = NULL;
		r->local_port = 0;
	}
	if (r->gt) {
		if (r->sring_pages)
			xengnttab_unmap(r->gt, r->sring_pages, r->nr_pages);
		r->sring_pages = NULL;
		xengnttab_close(r->gt);
		r->gt = NULL;
	}
}
