/* The bounce pool (src/bufpool.h): an anonymous MAP_NORESERVE mapping and a stack of free page
 * indices. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "src/bufpool.h"

int td_bufpool_init(struct td_bufpool *p, uint32_t npages)
{
	uint32_t i;

	memset(p, 0, sizeof(*p));
	p->base = mmap(NULL, (size_t)npages * TD_PAGE_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p->base == MAP_FAILED) {
		p->base = NULL;
		return -ENOMEM;
	}
	p->free = malloc(npages * sizeof(*p->free));
	if (!p->free) {
		munmap(p->base, (size_t)npages * TD_PAGE_SIZE);
		p->base = NULL;
		return -ENOMEM;
	}
	/* Low indices on top: the first requests touch the first pages. */
	for (i = 0; i < npages; i++)
		p->free[i] = npages - 1 - i;
	p->nfree = p->npages = npages;
	return 0;
}

void td_bufpool_fini(struct td_bufpool *p)
{
	if (p->base)
		munmap(p->base, (size_t)p->npages * TD_PAGE_SIZE);
	free(p->free);
	memset(p, 0, sizeof(*p));
}

bool td_bufpool_get(struct td_bufpool *p, uint32_t n, uint32_t *out)
{
	if (n > p->nfree)
		return false;
	for (uint32_t i = 0; i < n; i++)
		out[i] = p->free[--p->nfree];
	return true;
}

void td_bufpool_put(struct td_bufpool *p, uint32_t n, const uint32_t *pages)
{
	/* Reverse order, so that the next get hands out the same (adjacent) pages again. */
	while (n--)
		p->free[p->nfree++] = pages[n];
}
