/* libxengnttab.so.1 for simxen, mapping side: xengnttab_* maps, unmaps and copies other domains'
 * grants with the checks of Xen and the errors of Linux's gntdev (a failed map is NULL + EINVAL,
 * over the handle's limit ENOMEM). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "gntdev.h"
#include "grant.h"
#include "port.h"

static const char *const gntst_msgs[] = GNTTABOP_error_msgs;

static const char *gntst_str(int16_t status)
{
	int i = -status;

	return i >= 0 && i < (int)(sizeof(gntst_msgs) / sizeof(gntst_msgs[0])) ? gntst_msgs[i] :
										 "unknown";
}

#define MAP_FAIL_ENV "SIMXEN_GNTTAB_MAP_FAIL"

/* $SIMXEN_GNTTAB_MAP_FAIL=N: the Nth, 2Nth, ... map of the handle is refused as the hypervisor
 * refuses one when its maptrack table is full (gntdev: EINVAL). 0 or -EINVAL. */
static int map_fail_every(uint32_t *every)
{
	const char *env = getenv(MAP_FAIL_ENV);
	unsigned long v;
	char *end;

	*every = 0;
	if (!env || !*env)
		return 0;
	errno = 0;
	v = strtoul(env, &end, 10);
	if (errno || *end || env[0] == '-' || v == 0 || v > UINT32_MAX)
		return -EINVAL;
	*every = (uint32_t)v;
	return 0;
}

xengnttab_handle *xengnttab_open(struct xentoollog_logger *logger, unsigned open_flags)
{
	xengnttab_handle *xgt = sx_gntdev_open(logger, "xengnttab");

	if (xgt && map_fail_every(&xgt->map_fail_every) < 0) {
		sx_log(&xgt->base, XTL_ERROR, EINVAL, "simxen: %s is not a positive number",
		       MAP_FAIL_ENV);
		sx_gntdev_close(xgt, NULL);
		errno = EINVAL;
		return NULL;
	}
	return xgt;
}

/* Records the first n pinned grants of r under the handle's owner slot (delta 1), or forgets
 * them (-1), so that the process's death unpins what it still maps. 0 or -errno. */
static int mapping_record(xengnttab_handle *xgt, struct sx_region *r, uint32_t n, int delta)
{
	uint32_t i;
	int rc;

	for (i = 0; i < n; i++) {
		rc = sx_owner_pins_add(&xgt->owner, &xgt->base.host, r->grants[i].dom,
				       r->grants[i].ref, delta);
		if (rc < 0) {
			mapping_record(xgt, r, i, -1);
			return rc;
		}
	}
	return 0;
}

static void mapping_release(xengnttab_handle *xgt, struct sx_region *r)
{
	uint32_t i;

	sx_region_notify(xgt, r);
	munmap(r->addr, (size_t)r->count * SX_PAGE_SIZE);
	mapping_record(xgt, r, r->count, -1);
	for (i = 0; i < r->count; i++)
		sx_grant_unpin(r->grants[i].dom, r->grants[i].ref);
	free(r);
}

/* Closing gntdev unmaps what the handle mapped. */
int xengnttab_close(xengnttab_handle *xgt)
{
	if (xgt)
		sx_gntdev_close(xgt, mapping_release);
	return 0;
}

int xengnttab_fd(xengnttab_handle *xgt)
{
	return xgt->base.host.dir_fd;
}

int xengnttab_set_max_grants(xengnttab_handle *xgt, uint32_t nr_grants)
{
	pthread_mutex_lock(&xgt->lock);
	xgt->max_grants = nr_grants;
	pthread_mutex_unlock(&xgt->lock);
	return 0;
}

/* Pins the count grants of r (domids[i], or domid for all when domids is NULL). */
static int mapping_pin(xengnttab_handle *xgt, struct sx_region *r, const uint32_t *domids,
		       uint32_t domid, const uint32_t *refs, bool write)
{
	uint32_t i;

	for (i = 0; i < r->count; i++) {
		uint32_t d = domids ? domids[i] : domid;
		struct sx_domain *dom = sx_gntdev_domain(xgt, d);
		int16_t st =
			dom ? sx_grant_pin(dom, refs[i], xgt->base.domid, write) : GNTST_bad_domain;

		if (st != GNTST_okay) {
			sx_log(&xgt->base, XTL_DEBUG, EINVAL, "cannot map d%u ref %u%s: %s", d,
			       refs[i], write ? " writable" : "", gntst_str(st));
			while (i-- > 0)
				sx_grant_unpin(r->grants[i].dom, r->grants[i].ref);
			return -EINVAL;
		}
		r->grants[i].dom = dom;
		r->grants[i].ref = refs[i];
	}
	return 0;
}

/* An offset beyond the page means no byte to clear, as in Xen's library. */
static int mapping_check_notify(xengnttab_handle *xgt, bool write, uint32_t notify_offset,
				evtchn_port_t notify_port)
{
	/* gntdev cannot clear a byte in a read-only mapping, nor notify an unbound port. */
	if (notify_offset < SX_PAGE_SIZE && !write)
		return -EINVAL;
	if (notify_port != SX_NO_NOTIFY_PORT && !sx_port_is_bound(xgt->base.self, notify_port))
		return -EINVAL;
	return 0;
}

static void *map_fail(int err)
{
	errno = err;
	return NULL;
}

static void *map_grants(xengnttab_handle *xgt, uint32_t count, const uint32_t *domids,
			uint32_t domid, const uint32_t *refs, int prot, uint32_t notify_offset,
			evtchn_port_t notify_port)
{
	bool write = prot & PROT_WRITE;
	struct sx_region *r = NULL;
	int rc;

	if (count == 0 || count > SX_NR_GRANTS || !refs)
		return map_fail(EINVAL);
	rc = mapping_check_notify(xgt, write, notify_offset, notify_port);
	if (rc < 0)
		return map_fail(-rc);
	pthread_mutex_lock(&xgt->lock);
	if (xgt->map_fail_every && ++xgt->map_calls % xgt->map_fail_every == 0) {
		sx_log(&xgt->base, XTL_DEBUG, EINVAL, "map of %u grants refused (%s)", count,
		       MAP_FAIL_ENV);
		rc = -EINVAL;
		goto out;
	}
	if ((uint64_t)xgt->mapped + count > xgt->max_grants) {
		sx_log(&xgt->base, XTL_ERROR, ENOMEM,
		       "mapping %u more grants exceeds the limit of %u", count, xgt->max_grants);
		rc = -ENOMEM;
		goto out;
	}
	r = sx_region_new(count);
	if (!r) {
		rc = -ENOMEM;
		goto out;
	}
	rc = mapping_pin(xgt, r, domids, domid, refs, write);
	if (rc < 0)
		goto out;
	rc = sx_region_map(r, prot);
	if (rc < 0)
		sx_log(&xgt->base, XTL_ERROR, -rc, "mmap failed");
	else if ((rc = mapping_record(xgt, r, count, 1)) < 0)
		munmap(r->addr, (size_t)count * SX_PAGE_SIZE);
	if (rc < 0) {
		while (count-- > 0)
			sx_grant_unpin(r->grants[count].dom, r->grants[count].ref);
		goto out;
	}
	if (notify_offset < SX_PAGE_SIZE)
		r->notify_offset = notify_offset;
	r->notify_port = notify_port;
	sx_region_add(xgt, r);
out:
	pthread_mutex_unlock(&xgt->lock);
	if (rc < 0) {
		free(r);
		errno = -rc;
		return NULL;
	}
	return r->addr;
}

void *xengnttab_map_grant_ref(xengnttab_handle *xgt, uint32_t domid, uint32_t ref, int prot)
{
	return map_grants(xgt, 1, NULL, domid, &ref, prot, SX_NO_NOTIFY_OFFSET, SX_NO_NOTIFY_PORT);
}

void *xengnttab_map_grant_refs(xengnttab_handle *xgt, uint32_t count, uint32_t *domids,
			       uint32_t *refs, int prot)
{
	if (!domids)
		return map_fail(EINVAL);
	return map_grants(xgt, count, domids, 0, refs, prot, SX_NO_NOTIFY_OFFSET,
			  SX_NO_NOTIFY_PORT);
}

void *xengnttab_map_domain_grant_refs(xengnttab_handle *xgt, uint32_t count, uint32_t domid,
				      uint32_t *refs, int prot)
{
	return map_grants(xgt, count, NULL, domid, refs, prot, SX_NO_NOTIFY_OFFSET,
			  SX_NO_NOTIFY_PORT);
}

void *xengnttab_map_grant_ref_notify(xengnttab_handle *xgt, uint32_t domid, uint32_t ref, int prot,
				     uint32_t notify_offset, evtchn_port_t notify_port)
{
	return map_grants(xgt, 1, NULL, domid, &ref, prot, notify_offset, notify_port);
}

int xengnttab_unmap(xengnttab_handle *xgt, void *start_address, uint32_t count)
{
	struct sx_region *r;

	pthread_mutex_lock(&xgt->lock);
	r = start_address ? sx_region_take(xgt, start_address, count) : NULL;
	if (r)
		mapping_release(xgt, r);
	pthread_mutex_unlock(&xgt->lock);
	return r ? 0 : sx_ret(-EINVAL);
}

/* One side of a copy: a local buffer, or a pinned grant. */
struct copy_end {
	struct sx_domain *dom; /* NULL: local */
	uint32_t ref;
	uint8_t *ptr;
};

static int16_t copy_end_get(xengnttab_handle *xgt, const union xengnttab_copy_ptr *p, bool gref,
			    bool write, struct copy_end *end)
{
	int16_t st;

	end->dom = NULL;
	if (!gref) {
		end->ptr = p->virt;
		return GNTST_okay;
	}
	end->dom = sx_gntdev_domain(xgt, p->foreign.domid);
	if (!end->dom)
		return GNTST_bad_domain;
	st = sx_grant_pin(end->dom, p->foreign.ref, xgt->base.domid, write);
	if (st != GNTST_okay) {
		end->dom = NULL;
		return st;
	}
	end->ref = p->foreign.ref;
	end->ptr = end->dom->mem + (size_t)end->ref * SX_PAGE_SIZE + p->foreign.offset;
	return GNTST_okay;
}

static void copy_end_put(struct copy_end *end)
{
	if (end->dom)
		sx_grant_unpin(end->dom, end->ref);
}

/* Xen's checks, in Xen's order: bounds, then source, then destination. A copy between two local
 * buffers is refused, as by gntdev. */
static int16_t copy_segment(xengnttab_handle *xgt, xengnttab_grant_copy_segment_t *seg)
{
	bool src_gref = seg->flags & GNTCOPY_source_gref;
	bool dst_gref = seg->flags & GNTCOPY_dest_gref;
	struct copy_end src, dst;
	int16_t st;

	if (!src_gref && !dst_gref)
		return GNTST_bad_copy_arg;
	if ((src_gref && seg->source.foreign.offset + seg->len > SX_PAGE_SIZE) ||
	    (dst_gref && seg->dest.foreign.offset + seg->len > SX_PAGE_SIZE))
		return GNTST_bad_copy_arg;
	st = copy_end_get(xgt, &seg->source, src_gref, false, &src);
	if (st != GNTST_okay)
		return st;
	st = copy_end_get(xgt, &seg->dest, dst_gref, true, &dst);
	if (st == GNTST_okay)
		memmove(dst.ptr, src.ptr, seg->len);
	copy_end_put(&dst);
	copy_end_put(&src);
	return st;
}

/* Every segment gets its own status; the call itself succeeds, as GNTTABOP_copy does. */
int xengnttab_grant_copy(xengnttab_handle *xgt, uint32_t count,
			 xengnttab_grant_copy_segment_t *segs)
{
	uint32_t i;

	if (count && !segs)
		return sx_ret(-EINVAL);
	for (i = 0; i < count; i++)
		segs[i].status = copy_segment(xgt, &segs[i]);
	return 0;
}

/* dma-buf needs a kernel. */
int xengnttab_dmabuf_exp_from_refs(xengnttab_handle *xgt, uint32_t domid, uint32_t flags,
				   uint32_t count, const uint32_t *refs, uint32_t *fd)
{
	return sx_ret(-ENOSYS);
}

int xengnttab_dmabuf_exp_wait_released(xengnttab_handle *xgt, uint32_t fd, uint32_t wait_to_ms)
{
	return sx_ret(-ENOSYS);
}

int xengnttab_dmabuf_imp_to_refs(xengnttab_handle *xgt, uint32_t domid, uint32_t fd, uint32_t count,
				 uint32_t *refs)
{
	return sx_ret(-ENOSYS);
}

int xengnttab_dmabuf_imp_release(xengnttab_handle *xgt, uint32_t fd)
{
	return sx_ret(-ENOSYS);
}
