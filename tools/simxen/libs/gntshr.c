/* libxengnttab.so.1 for simxen, sharing side: xengntshr_* grants pages of the caller's domain
 * memory to another domain, as Linux's gntalloc does. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "gntdev.h"
#include "grant.h"
#include "port.h"

xengntshr_handle *xengntshr_open(struct xentoollog_logger *logger, unsigned open_flags)
{
	return sx_gntdev_open(logger, "xengntshr");
}

/* Ending access while another domain still maps a page is deferred: the grant is revoked at once
 * (no new map or copy), the page freed when its last mapping goes. */
static void share_release(xengntshr_handle *xgs, struct sx_region *r)
{
	uint32_t i;

	sx_region_notify(xgs, r);
	munmap(r->addr, (size_t)r->count * SX_PAGE_SIZE);
	for (i = 0; i < r->count; i++)
		sx_grant_revoke(r->grants[i].dom, r->grants[i].ref);
	free(r);
}

/* Closing gntalloc ends every share of the handle. */
int xengntshr_close(xengntshr_handle *xgs)
{
	if (xgs)
		sx_gntdev_close(xgs, share_release);
	return 0;
}

int xengntshr_fd(xengntshr_handle *xgs)
{
	return xgs->base.host.dir_fd;
}

static void *share(xengntshr_handle *xgs, uint32_t domid, int count, uint32_t *refs, int writable,
		   uint32_t notify_offset, evtchn_port_t notify_port)
{
	struct sx_domain *self = xgs->base.self;
	struct sx_region *r = NULL;
	bool reaped = false;
	int i, rc = 0;

	if (count <= 0 || (uint32_t)count > SX_NR_GRANTS || !refs || !sx_domid_valid(domid))
		rc = -EINVAL;
	else if (notify_port != SX_NO_NOTIFY_PORT && !sx_port_is_bound(self, notify_port))
		rc = -EINVAL; /* gntalloc needs a bound port to notify */
	else if (!atomic_load(&self->shared->live))
		rc = -ESRCH; /* the domain was destroyed under this handle */
	else if (!(r = sx_region_new((uint32_t)count)))
		rc = -ENOMEM;
	if (rc < 0)
		goto fail;
	pthread_mutex_lock(&xgs->lock);
	for (i = 0; i < count; i++) {
		rc = sx_grant_alloc(self, (uint16_t)domid, !writable, xgs->owner.slot,
				    &xgs->alloc_hint);
		/* A full table may hold grants of processes that died since the last reaping. */
		if (rc == -ENOSPC && !reaped) {
			reaped = true;
			if (sx_owner_reap(&xgs->owner, &xgs->base.host) > 0) {
				i--;
				continue;
			}
		}
		if (rc < 0) {
			sx_log(&xgs->base, XTL_ERROR, -rc, "no free grant for %d pages", count);
			break;
		}
		r->grants[i].dom = self;
		r->grants[i].ref = (uint32_t)rc;
	}
	if (rc >= 0) {
		rc = sx_region_map(r, PROT_READ | PROT_WRITE);
		if (rc < 0)
			sx_log(&xgs->base, XTL_ERROR, -rc, "mmap failed");
	}
	if (rc < 0) {
		while (i-- > 0)
			sx_grant_revoke(self, r->grants[i].ref);
		pthread_mutex_unlock(&xgs->lock);
		goto fail;
	}
	for (i = 0; i < count; i++)
		refs[i] = r->grants[i].ref;
	if (notify_offset < SX_PAGE_SIZE)
		r->notify_offset = notify_offset;
	r->notify_port = notify_port;
	sx_region_add(xgs, r);
	pthread_mutex_unlock(&xgs->lock);
	return r->addr;
fail:
	free(r);
	errno = -rc;
	return NULL;
}

void *xengntshr_share_pages(xengntshr_handle *xgs, uint32_t domid, int count, uint32_t *refs,
			    int writable)
{
	return share(xgs, domid, count, refs, writable, SX_NO_NOTIFY_OFFSET, SX_NO_NOTIFY_PORT);
}

void *xengntshr_share_page_notify(xengntshr_handle *xgs, uint32_t domid, uint32_t *ref,
				  int writable, uint32_t notify_offset, evtchn_port_t notify_port)
{
	return share(xgs, domid, 1, ref, writable, notify_offset, notify_port);
}

int xengntshr_unshare(xengntshr_handle *xgs, void *start_address, uint32_t count)
{
	struct sx_region *r;

	pthread_mutex_lock(&xgs->lock);
	r = start_address ? sx_region_take(xgs, start_address, count) : NULL;
	if (r)
		share_release(xgs, r);
	pthread_mutex_unlock(&xgs->lock);
	return r ? 0 : sx_ret(-EINVAL);
}
