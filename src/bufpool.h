/* The ring's bounce pool: page-aligned buffers for the segments that are grant-copied, reserved
 * (not committed) at connect and reused LIFO so that the resident set stays as small as the
 * load. */
#ifndef TD_BUFPOOL_H
#define TD_BUFPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/blkif_req.h"

struct td_bufpool {
	uint8_t *base;
	uint32_t *free; /* stack of free page indices */
	uint32_t nfree, npages;
};

/* 0 or -ENOMEM. */
int td_bufpool_init(struct td_bufpool *p, uint32_t npages);
void td_bufpool_fini(struct td_bufpool *p);
/* n pages into out, or false (nothing taken) when fewer are free. */
bool td_bufpool_get(struct td_bufpool *p, uint32_t n, uint32_t *out);
void td_bufpool_put(struct td_bufpool *p, uint32_t n, const uint32_t *pages);
static inline void *td_bufpool_addr(const struct td_bufpool *p, uint32_t page)
{
	return p->base + (size_t)page * TD_PAGE_SIZE;
}

#endif
