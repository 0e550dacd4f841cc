/* What xengnttab (mapping) and xengntshr (sharing) handles have in common: opening, closing,
 * their regions of grant-backed pages and the unmap notifications of those regions. */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "gntdev.h"

struct xengntdev_handle *sx_gntdev_open(xentoollog_logger *logger, const char *context)
{
	struct xengntdev_handle *h = calloc(1, sizeof(*h));
	int rc;

	if (!h)
		return NULL;
	rc = sx_handle_open(&h->base, logger, context);
	if (rc < 0) {
		free(h);
		errno = -rc;
		return NULL;
	}
	rc = sx_owner_claim(&h->owner, &h->base.host, h->base.domid);
	if (rc < 0) {
		sx_log(&h->base, XTL_ERROR, -rc, "simxen: no owner slot for the handle");
		sx_handle_close(&h->base);
		free(h);
		errno = -rc;
		return NULL;
	}
	pthread_mutex_init(&h->lock, NULL);
	h->max_grants = UINT32_MAX;
	h->alloc_hint = SX_FIRST_GRANT;
	sx_wakeups_init(&h->wakeups);
	return h;
}

void sx_gntdev_close(struct xengntdev_handle *h,
		     void (*release)(struct xengntdev_handle *h, struct sx_region *r))
{
	struct sx_region *r;

	pthread_mutex_lock(&h->lock);
	while ((r = h->regions)) {
		h->regions = r->next;
		release(h, r);
	}
	pthread_mutex_unlock(&h->lock);
	sx_owner_release(&h->owner, &h->base.host);
	sx_wakeups_fini(&h->wakeups);
	pthread_mutex_destroy(&h->lock);
	sx_handle_close(&h->base);
	free(h);
}

struct sx_region *sx_region_new(uint32_t count)
{
	struct sx_region *r = calloc(1, sizeof(*r) + count * sizeof(r->grants[0]));

	if (r) {
		r->count = count;
		r->notify_offset = SX_NO_NOTIFY_OFFSET;
		r->notify_port = SX_NO_NOTIFY_PORT;
	}
	return r;
}

int sx_region_map(struct sx_region *r, int prot)
{
	size_t size = (size_t)r->count * SX_PAGE_SIZE;
	uint32_t i, run;
	uint8_t *base =
		mmap(NULL, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (base == MAP_FAILED)
		return -errno;
	/* One mmap per run of consecutive refs of one domain (the usual multi-page ring). */
	for (i = 0; i < r->count; i += run) {
		const struct sx_region_grant *g = &r->grants[i];

		for (run = 1;
		     i + run < r->count && g[run].dom == g->dom && g[run].ref == g->ref + run;)
			run++;
		if (mmap(base + (size_t)i * SX_PAGE_SIZE, (size_t)run * SX_PAGE_SIZE, prot,
			 MAP_SHARED | MAP_FIXED, g->dom->mem_fd,
			 (off_t)g->ref * SX_PAGE_SIZE) == MAP_FAILED) {
			int rc = -errno;

			munmap(base, size);
			return rc;
		}
	}
	r->addr = base;
	return 0;
}

void sx_region_notify(struct xengntdev_handle *h, struct sx_region *r)
{
	int rc;

	if (r->notify_offset != SX_NO_NOTIFY_OFFSET)
		r->addr[r->notify_offset] = 0;
	if (r->notify_port == SX_NO_NOTIFY_PORT)
		return;
	rc = sx_port_notify(&h->base.host, &h->wakeups, h->base.self, r->notify_port, 0);
	if (rc < 0)
		sx_log(&h->base, XTL_DEBUG, -rc, "unmap notification on port %u failed",
		       r->notify_port);
}

void sx_region_add(struct xengntdev_handle *h, struct sx_region *r)
{
	r->next = h->regions;
	h->regions = r;
	h->mapped += r->count;
}

struct sx_region *sx_region_take(struct xengntdev_handle *h, void *addr, uint32_t count)
{
	struct sx_region **p, *r;

	for (p = &h->regions; (r = *p); p = &r->next) {
		if (r->addr != addr)
			continue;
		if (r->count != count)
			return NULL;
		*p = r->next;
		h->mapped -= r->count;
		return r;
	}
	return NULL;
}

struct sx_domain *sx_gntdev_domain(struct xengntdev_handle *h, uint32_t domid)
{
	struct sx_domain *d;

	if (domid == DOMID_SELF)
		return h->base.self;
	if (!sx_domid_valid(domid) || sx_domain_get(&h->base.host, (uint16_t)domid, &d) < 0)
		return NULL;
	return d;
}
