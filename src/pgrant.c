/* The persistent-grant cache (see pgrant.h): a hash on the grant reference and an LRU list of
 * the idle mappings; every entry is preallocated. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "src/pgrant.h"

static uint32_t bucket_of(const struct td_pgrant_cache *c, grant_ref_t gref)
{
	return (gref * 2654435761u) & (c->nbuckets - 1);
}

static void lru_unlink(struct td_pgrant *pg)
{
	pg->lru_prev->lru_next = pg->lru_next;
	pg->lru_next->lru_prev = pg->lru_prev;
	pg->lru_prev = pg->lru_next = NULL;
}

static void lru_append(struct td_pgrant_cache *c, struct td_pgrant *pg)
{
	pg->lru_prev = c->lru.lru_prev;
	pg->lru_next = &c->lru;
	c->lru.lru_prev->lru_next = pg;
	c->lru.lru_prev = pg;
}

int td_pgrant_init(struct td_pgrant_cache *c, uint32_t capacity, const struct td_pgrant_ops *ops)
{
	uint32_t i;

	memset(c, 0, sizeof(*c));
	if (!capacity)
		return -EINVAL;
	c->nbuckets = 1;
	while (c->nbuckets < capacity)
		c->nbuckets <<= 1;
	c->entries = calloc(capacity, sizeof(*c->entries));
	c->buckets = calloc(c->nbuckets, sizeof(*c->buckets));
	if (!c->entries || !c->buckets) {
		free(c->entries);
		free(c->buckets);
		return -ENOMEM;
	}
	for (i = capacity; i-- > 0;) {
		c->entries[i].hnext = c->free;
		c->free = &c->entries[i];
	}
	c->capacity = capacity;
	c->lru.lru_next = c->lru.lru_prev = &c->lru;
	c->ops = *ops;
	return 0;
}

void td_pgrant_fini(struct td_pgrant_cache *c)
{
	uint32_t i;

	if (!c->entries)
		return;
	for (i = 0; i < c->capacity; i++)
		if (c->entries[i].addr)
			c->ops.unmap(c->ops.ctx, c->entries[i].addr, i);
	free(c->entries);
	free(c->buckets);
	c->entries = NULL;
	c->buckets = NULL;
}

static void hash_remove(struct td_pgrant_cache *c, struct td_pgrant *pg)
{
	struct td_pgrant **p;

	for (p = &c->buckets[bucket_of(c, pg->gref)]; *p; p = &(*p)->hnext)
		if (*p == pg) {
			*p = pg->hnext;
			return;
		}
}

/* A free entry: a never-used one, or the least recently used idle mapping, unmapped. */
static struct td_pgrant *take_entry(struct td_pgrant_cache *c)
{
	struct td_pgrant *pg = c->free;

	if (pg) {
		c->free = pg->hnext;
		c->count++;
		return pg;
	}
	pg = c->lru.lru_next;
	if (pg == &c->lru)
		return NULL;
	lru_unlink(pg);
	hash_remove(c, pg);
	c->ops.unmap(c->ops.ctx, pg->addr, (uint32_t)(pg - c->entries));
	pg->addr = NULL;
	c->stats.evictions++;
	return pg;
}

struct td_pgrant *td_pgrant_get(struct td_pgrant_cache *c, grant_ref_t gref, int *err)
{
	uint32_t b = bucket_of(c, gref);
	struct td_pgrant *pg;

	for (pg = c->buckets[b]; pg; pg = pg->hnext)
		if (pg->gref == gref) {
			if (!pg->users++)
				lru_unlink(pg);
			c->stats.hits++;
			return pg;
		}
	c->stats.misses++;
	pg = take_entry(c);
	if (!pg) {
		c->stats.full++;
		*err = -ENOSPC;
		return NULL;
	}
	errno = 0;
	pg->addr = c->ops.map(c->ops.ctx, gref, (uint32_t)(pg - c->entries));
	if (!pg->addr) {
		*err = errno ? -errno : -EFAULT;
		c->stats.map_failures++;
		pg->hnext = c->free;
		c->free = pg;
		c->count--;
		return NULL;
	}
	pg->gref = gref;
	pg->users = 1;
	pg->hnext = c->buckets[b];
	c->buckets[b] = pg;
	return pg;
}

void td_pgrant_put(struct td_pgrant_cache *c, struct td_pgrant *pg)
{
	if (pg->users && !--pg->users)
		lru_append(c, pg);
}
