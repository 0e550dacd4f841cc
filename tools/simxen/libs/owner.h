/* Owner slots of grant-device handles: what a process shares and maps is recorded under its
 * handle's slot, so that when the process dies its grants are revoked and its mappings unpinned,
 * as Linux releases a dead process's gntalloc and gntdev files. */
#ifndef SIMXEN_OWNER_H
#define SIMXEN_OWNER_H

#include <stdint.h>

#include "host.h"

struct sx_owner_pins;

struct sx_owner {
	int fd; /* this handle's own open file description of the owners file: its lock holds slot */
	uint32_t slot; /* 1 to SX_NR_OWNERS - 1 */
	struct sx_owners_shared *table;
	struct sx_owner_pins *pins; /* one pin-count file per domain mapped from */
};

/* Reaps the slots of dead processes, then takes a free slot for a handle of domain domid. 0 or
 * -errno (-EMFILE: every slot is held). */
int sx_owner_claim(struct sx_owner *o, struct sx_host *h, uint16_t domid);
/* Frees the slot; the handle has already unshared and unmapped everything. */
void sx_owner_release(struct sx_owner *o, struct sx_host *h);

/* Releases what the processes that died holding a slot left: revokes their grants (pages
 * still mapped elsewhere are freed by their last unmap) and drops their mappings' pins. Returns
 * how many slots were reaped. */
unsigned int sx_owner_reap(struct sx_owner *o, struct sx_host *h);

/* Records that the handle mapped ref of dom once more (delta 1) or once less (-1), after pinning
 * it and before unpinning it, so that a death between the two leaks a pin instead of dropping a
 * pin twice. 0 or -errno (only when adding). */
int sx_owner_pins_add(struct sx_owner *o, struct sx_host *h, struct sx_domain *dom, uint32_t ref,
		      int delta);

#endif
