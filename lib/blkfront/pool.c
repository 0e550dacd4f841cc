/* The persistent-grant pool: pages granted once to the backend and reused for every request,
 * LIFO so that a backend caching fewer grants than we use still hits on the hot ones (blkif.h
 * note 7). Grows lazily in chunks up to a maximum; data is memcpy'd in and out. */
#include <errno.h>
#include <stdlib.h>

#include "blkfront_int.h"

struct bf_pool_chunk {
	struct bf_pool_chunk *next;
	void *base;
	unsigned int count;
	struct bf_page pages[];
};

void bf_pool_init(struct bf_pool *pool, unsigned int max, unsigned int grow_step,
		  bf_pool_grow_fn grow, bf_pool_release_fn release, void *ctx)
{
	*pool = (struct bf_pool){
		.max = max,
		.grow_step = grow_step ? grow_step : 1,
		.grow = grow,
		.release = release,
		.ctx = ctx,
	};
}

static int pool_grow(struct bf_pool *pool, unsigned int want)
{
	unsigned int i, count = want > pool->grow_step ? want : pool->grow_step;
	struct bf_pool_chunk *c;

	if (count > pool->max - pool->total)
		count = pool->max - pool->total;
	c = calloc(1, sizeof(*c) + count * sizeof(c->pages[0]));
	if (!c)
		return -ENOMEM;
	errno = 0;
	c->base = pool->grow(pool->ctx, count, c->pages);
	if (!c->base) {
		int err = errno ? -errno : -ENOMEM;

		free(c);
		return err;
	}
	c->count = count;
	c->next = pool->chunks;
	pool->chunks = c;
	pool->total += count;
	for (i = count; i-- > 0;) {
		c->pages[i].next = pool->free;
		pool->free = &c->pages[i];
	}
	pool->nfree += count;
	return 0;
}

int bf_pool_get(struct bf_pool *pool, unsigned int n, struct bf_page **out)
{
	unsigned int i;

	if (n > pool->max)
		return -EINVAL;
	if (pool->nfree < n) {
		int err;

		if (pool->nfree + (pool->max - pool->total) < n)
			return -EAGAIN;
		err = pool_grow(pool, n - pool->nfree);
		if (err)
			return err;
	}
	for (i = 0; i < n; i++) {
		out[i] = pool->free;
		pool->free = pool->free->next;
	}
	pool->nfree -= n;
	return 0;
}

void bf_pool_put(struct bf_pool *pool, struct bf_page **pages, unsigned int n)
{
	/* Last taken goes back on top, so the same pages are reused first. */
	while (n-- > 0) {
		pages[n]->next = pool->free;
		pool->free = pages[n];
		pool->nfree++;
	}
}

void bf_pool_destroy(struct bf_pool *pool)
{
	while (pool->chunks) {
		struct bf_pool_chunk *c = pool->chunks;

		pool->chunks = c->next;
		if (pool->release)
			pool->release(pool->ctx, c->base, c->count);
		free(c);
	}
	pool->free = NULL;
	pool->nfree = pool->total = 0;
}
