/* Grant-table entries (grant.h). Every transition is one compare-and-swap on the entry's word
 * (layout.h), so mappers, copiers and the granting domain never take a lock. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "grant.h"

/* The page goes back to the system and reads as zeros; best effort, as a new grant is zeroed by
 * its owner anyway. The entry is released last, so nobody reuses the page while it is punched. */
static void grant_free(struct sx_domain *dom, uint32_t ref)
{
	fallocate(dom->mem_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		  (off_t)ref * SX_PAGE_SIZE, SX_PAGE_SIZE);
	atomic_store_explicit(&dom->shared->grants[ref], 0, memory_order_release);
}

int sx_grant_alloc(struct sx_domain *dom, uint16_t to, bool readonly, uint32_t owner,
		   uint32_t *hint)
{
	uint32_t n = SX_NR_GRANTS - SX_FIRST_GRANT, ref = *hint;
	uint64_t owned = (uint64_t)owner << SX_GNT_OWNER_SHIFT;

	for (; n > 0; n--, ref++) {
		uint64_t free_entry = 0;
		_Atomic uint64_t *e;

		if (ref < SX_FIRST_GRANT || ref >= SX_NR_GRANTS)
			ref = SX_FIRST_GRANT;
		e = &dom->shared->grants[ref];
		/* Reserved (in use, but revoked: nobody can pin it) while the page is zeroed, as
		 * gntalloc's pages are; only then is it granted. */
		if (atomic_load_explicit(e, memory_order_relaxed) == 0 &&
		    atomic_compare_exchange_strong(e, &free_entry,
						   SX_GNT_IN_USE | SX_GNT_REVOKED | owned)) {
			memset(dom->mem + (size_t)ref * SX_PAGE_SIZE, 0, SX_PAGE_SIZE);
			atomic_store_explicit(
				e, SX_GNT_IN_USE | owned | to | (readonly ? SX_GNT_READONLY : 0),
				memory_order_release);
			*hint = ref + 1;
			return (int)ref;
		}
	}
	return -ENOSPC;
}

int16_t sx_grant_pin(struct sx_domain *dom, uint32_t ref, uint16_t me, bool write)
{
	_Atomic uint64_t *e;
	uint64_t w;

	if (!atomic_load_explicit(&dom->shared->live, memory_order_acquire))
		return GNTST_bad_domain;
	if (ref >= SX_NR_GRANTS)
		return GNTST_bad_gntref;
	e = &dom->shared->grants[ref];
	w = atomic_load_explicit(e, memory_order_acquire);
	do {
		if (!(w & SX_GNT_IN_USE) || (w & SX_GNT_REVOKED) || sx_gnt_domid(w) != me)
			return GNTST_general_error;
		if (write && (w & SX_GNT_READONLY))
			return GNTST_general_error;
		if (sx_gnt_pins(w) == UINT32_MAX)
			return GNTST_no_space;
	} while (!atomic_compare_exchange_weak(e, &w, w + SX_GNT_PIN));
	return GNTST_okay;
}

void sx_grant_unpin(struct sx_domain *dom, uint32_t ref)
{
	uint64_t old = atomic_fetch_sub(&dom->shared->grants[ref], SX_GNT_PIN);

	if (sx_gnt_pins(old) == 1 && (old & SX_GNT_REVOKED))
		grant_free(dom, ref);
}

/* owner 0: whoever granted it. */
static void grant_revoke(struct sx_domain *dom, uint32_t ref, uint32_t owner)
{
	_Atomic uint64_t *e = &dom->shared->grants[ref];
	uint64_t w = atomic_load(e);

	do {
		if (!(w & SX_GNT_IN_USE) || (w & SX_GNT_REVOKED))
			return;
		if (owner && sx_gnt_owner(w) != owner)
			return;
	} while (!atomic_compare_exchange_weak(e, &w, w | SX_GNT_REVOKED));
	if (sx_gnt_pins(w) == 0)
		grant_free(dom, ref);
}

void sx_grant_revoke(struct sx_domain *dom, uint32_t ref)
{
	grant_revoke(dom, ref, 0);
}

void sx_grant_revoke_owned(struct sx_domain *dom, uint32_t ref, uint32_t owner)
{
	grant_revoke(dom, ref, owner);
}
