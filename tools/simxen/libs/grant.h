/* Grant-table entries: granting, pinning (maps and copies), revoking and freeing pages, with the
 * checks and GNTST_* statuses of Xen's grant-table code. */
#ifndef SIMXEN_GRANT_H
#define SIMXEN_GRANT_H

#include <stdbool.h>
#include <stdint.h>

#include "host.h"

/* Grants a free page of dom, zeroed, to domain `to` for the holder of owner slot `owner`: its ref,
 * or -ENOSPC when the table is full. *hint (a ref, kept by the caller between calls) is where the
 * search starts. */
int sx_grant_alloc(struct sx_domain *dom, uint16_t to, bool readonly, uint32_t owner,
		   uint32_t *hint);

/* Pins ref of dom for use by domain `me` (write: a writable map or a copy into it): GNTST_okay,
 * or GNTST_bad_domain (destroyed), GNTST_bad_gntref (out of the table), GNTST_general_error (not
 * granted, granted to another domain, revoked, or read-only and write). */
int16_t sx_grant_pin(struct sx_domain *dom, uint32_t ref, uint16_t me, bool write);
/* Drops a pin; the last pin of a revoked grant frees its page. */
void sx_grant_unpin(struct sx_domain *dom, uint32_t ref);

/* Ends foreign access to ref (unshare, domain destruction): frees the page now if nothing maps
 * it, else when its last pin goes (the deferred release of Linux's gntalloc). No-op on a free or
 * already revoked entry. */
void sx_grant_revoke(struct sx_domain *dom, uint32_t ref);
/* The same, only if ref is granted by owner slot `owner` (a dead owner's grants). */
void sx_grant_revoke_owned(struct sx_domain *dom, uint32_t ref, uint32_t owner);

#endif
