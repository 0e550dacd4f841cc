/* Persistent grants (feature-persistent): a bounded cache of guest pages mapped once and kept,
 * evicting the least recently used idle mapping when full. Mapping and unmapping are callbacks,
 * so that the policy is tested without a grant table. */
#ifndef TD_PGRANT_H
#define TD_PGRANT_H

#include <stdint.h>

#include "ringtap/blkif_abi.h"

struct td_pgrant {
	grant_ref_t gref;
	void *addr;
	uint32_t users;
	struct td_pgrant *hnext; /* hash chain, or the free list */
	struct td_pgrant *lru_prev, *lru_next; /* idle entries only */
};

/* index: the entry's, 0..capacity-1, fixed for the cache's life (a mapping reuses its entry's
 * index: the ring registers each mapped page in the image's fixed-buffer slot of that index). */
struct td_pgrant_ops {
	/* Maps one page granted as gref into entry index; NULL with errno on failure. */
	void *(*map)(void *ctx, grant_ref_t gref, uint32_t index);
	/* Unmaps entry index's page (addr). */
	void (*unmap)(void *ctx, void *addr, uint32_t index);
	void *ctx;
};

struct td_pgrant_stats {
	uint64_t hits, misses, evictions, full, map_failures;
};

struct td_pgrant_cache {
	struct td_pgrant *entries;
	struct td_pgrant *free;
	struct td_pgrant **buckets;
	uint32_t nbuckets; /* a power of two */
	uint32_t capacity, count;
	struct td_pgrant lru; /* sentinel: lru.lru_next is the least recently used */
	struct td_pgrant_ops ops;
	struct td_pgrant_stats stats;
};

int td_pgrant_init(struct td_pgrant_cache *c, uint32_t capacity, const struct td_pgrant_ops *ops);
/* Unmaps every mapping, in use or not (the ring is gone). */
void td_pgrant_fini(struct td_pgrant_cache *c);

/* The mapping of gref, mapped now if needed, with one more user. NULL with *err = -ENOSPC when
 * the cache is full of mappings in use, or the map's -errno (counted in map_failures); either way
 * the caller copies that segment with a grant copy instead, and a later get maps it again. */
struct td_pgrant *td_pgrant_get(struct td_pgrant_cache *c, grant_ref_t gref, int *err);
void td_pgrant_put(struct td_pgrant_cache *c, struct td_pgrant *pg);

#endif
