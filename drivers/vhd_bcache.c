/* The vhd driver's sector-bitmap cache: bitmaps of allocated blocks by block number (hashed),
 * least recently used idle entry evicted; an entry with I/O or waiters is never evicted, so the
 * cache grows past its nominal size while every entry is busy and shrinks back as they idle. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/vhd_int.h"

int bcache_init(struct bcache *bc, uint32_t cap, uint32_t bitmap_bytes)
{
	memset(bc, 0, sizeof(*bc));
	bc->cap = cap;
	bc->nbuckets = 1;
	while (bc->nbuckets < cap * 2)
		bc->nbuckets <<= 1;
	bc->hash = calloc(bc->nbuckets, sizeof(*bc->hash));
	return bc->hash ? 0 : -ENOMEM;
}

static void entry_free(struct bcache_entry *e)
{
	free(e->map);
	free(e->wbuf);
}

void bcache_fini(struct bcache *bc)
{
	for (uint32_t i = 0; i < bc->slots; i++) {
		entry_free(bc->entries[i]);
		free(bc->entries[i]);
	}
	free(bc->entries);
	free(bc->hash);
	memset(bc, 0, sizeof(*bc));
}

static uint32_t bucket(const struct bcache *bc, uint32_t block)
{
	return (block * 2654435761u) & (bc->nbuckets - 1);
}

struct bcache_entry *bcache_find(struct bcache *bc, uint32_t block)
{
	struct bcache_entry *e;

	for (e = bc->hash[bucket(bc, block)]; e; e = e->hnext) {
		if (e->block == block) {
			e->used = ++bc->tick;
			return e;
		}
	}
	return NULL;
}

void bcache_remove(struct bcache *bc, struct bcache_entry *e)
{
	struct bcache_entry **p = &bc->hash[bucket(bc, e->block)];

	while (*p && *p != e)
		p = &(*p)->hnext;
	if (*p)
		*p = e->hnext;
	e->hnext = NULL;
	e->block = VHD_BAT_UNUSED;
	bc->nr--;
}

/* A free slot: one never used, else the least recently used idle one (when at capacity). */
static struct bcache_entry *free_slot(struct bcache *bc)
{
	struct bcache_entry *victim = NULL;

	for (uint32_t i = 0; i < bc->slots; i++) {
		struct bcache_entry *e = bc->entries[i];

		if (e->block == VHD_BAT_UNUSED)
			return e;
		if (bc->nr >= bc->cap && !bcache_busy(e) && (!victim || e->used < victim->used))
			victim = e;
	}
	if (victim)
		bcache_remove(bc, victim);
	return victim;
}

/* More slots; entries never move (requests waiting on one point at it). */
static int grow(struct bcache *bc)
{
	uint32_t n = bc->slots ? bc->slots * 2 : (bc->cap < 16 ? bc->cap : 16);
	struct bcache_entry **ne;

	if (n < 1)
		n = 1;
	ne = realloc(bc->entries, n * sizeof(*ne));
	if (!ne)
		return -ENOMEM;
	bc->entries = ne;
	for (; bc->slots < n; bc->slots++) {
		ne[bc->slots] = calloc(1, sizeof(**ne));
		if (!ne[bc->slots])
			return -ENOMEM;
		ne[bc->slots]->block = VHD_BAT_UNUSED;
	}
	return 0;
}

struct bcache_entry *bcache_insert(struct bcache *bc, uint32_t block, uint32_t bitmap_bytes)
{
	struct bcache_entry *e = free_slot(bc);

	if (!e) {
		if (grow(bc) < 0)
			return NULL;
		e = free_slot(bc);
		if (!e)
			return NULL;
	}
	if (!e->map) {
		if (posix_memalign((void **)&e->map, VHD_ALIGN, bitmap_bytes)) {
			e->map = NULL;
			return NULL;
		}
		if (posix_memalign((void **)&e->wbuf, VHD_ALIGN, bitmap_bytes)) {
			free(e->map);
			e->map = e->wbuf = NULL;
			return NULL;
		}
	}
	memset(e->map, 0, bitmap_bytes);
	e->block = block;
	e->loading = e->writing = false;
	e->waiters = e->bits_next = e->bits_writing = NULL;
	e->used = ++bc->tick;
	e->hnext = bc->hash[bucket(bc, block)];
	bc->hash[bucket(bc, block)] = e;
	bc->nr++;
	return e;
}
