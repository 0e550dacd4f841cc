/* The handle behind both xengnttab_handle and xengntshr_handle (Xen's header makes them one type,
 * struct xengntdev_handle) and its regions: the pages it mapped, or the pages it shared. */
#ifndef SIMXEN_GNTDEV_H
#define SIMXEN_GNTDEV_H

#include <pthread.h>
#include <xengnttab.h>

#include "handle.h"
#include "owner.h"
#include "port.h"

#define SX_NO_NOTIFY_OFFSET UINT32_MAX
#define SX_NO_NOTIFY_PORT ((evtchn_port_t)-1)

struct sx_region {
	struct sx_region *next;
	uint8_t *addr;
	uint32_t count;
	uint32_t notify_offset; /* byte cleared when the region goes; SX_NO_NOTIFY_OFFSET: none */
	evtchn_port_t notify_port; /* local port notified then; SX_NO_NOTIFY_PORT: none */
	struct sx_region_grant {
		struct sx_domain *dom; /* the granting domain */
		uint32_t ref;
	} grants[];
};

struct xengntdev_handle {
	struct sx_handle base;
	pthread_mutex_t lock; /* everything below */
	struct sx_owner owner; /* what the process's death releases */
	struct sx_region *regions;
	uint32_t mapped; /* pages in regions */
	uint32_t max_grants; /* xengnttab_set_max_grants */
	uint32_t alloc_hint; /* where xengntshr looks for a free grant */
	uint32_t map_fail_every; /* $SIMXEN_GNTTAB_MAP_FAIL: every Nth map is refused; 0: none */
	uint32_t map_calls;
	struct sx_wakeups wakeups; /* sends unmap notifications */
};

/* Opens a handle: NULL with errno set (and logged) on failure. */
struct xengntdev_handle *sx_gntdev_open(xentoollog_logger *logger, const char *context);
/* Releases every region with release(), then frees the handle. */
void sx_gntdev_close(struct xengntdev_handle *h,
		     void (*release)(struct xengntdev_handle *h, struct sx_region *r));

/* A region of count pages with no address and no notification yet; NULL if out of memory. */
struct sx_region *sx_region_new(uint32_t count);
/* Reserves count pages of address space and maps there the pages backing r's grants, with prot.
 * 0 or -errno. */
int sx_region_map(struct sx_region *r, int prot);
/* Performs r's unmap notification: clears its byte, then notifies its port. Lock held. */
void sx_region_notify(struct xengntdev_handle *h, struct sx_region *r);

/* With h->lock held: adds r; removes and returns the region at addr of count pages (NULL: none,
 * as Linux's gntdev answers an unknown address or a wrong count). */
void sx_region_add(struct xengntdev_handle *h, struct sx_region *r);
struct sx_region *sx_region_take(struct xengntdev_handle *h, void *addr, uint32_t count);

/* The domain a grant operation names, or NULL if it does not exist. DOMID_SELF is the caller. */
struct sx_domain *sx_gntdev_domain(struct xengntdev_handle *h, uint32_t domid);

#endif
