/* The vhd driver's shared internals: one `struct vhd_layer` per file of a chain (each is the
 * priv of its own td_image; img->parent is the next one), the bitmap cache, the metadata steps
 * (block allocation, sector-bitmap updates, flush) shared by drivers/vhd*.c. */
#ifndef TD_DRIVERS_VHD_INT_H
#define TD_DRIVERS_VHD_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "drivers/vhd.h"
#include "drivers/vhd_aio.h"
#include "ringtap/vhd.h"
#include "src/image.h"

#define VHD_ALIGN 4096 /* buffers for O_DIRECT metadata I/O */

/* A cached sector bitmap of one allocated block. `map` is what reads trust: bits are set in it
 * when the write that records them on disk is submitted (their data is durable by then). */
struct bcache_entry {
	uint32_t block; /* VHD_BAT_UNUSED: free slot */
	bool loading; /* its read is in flight; waiters wait */
	bool writing; /* a write of it is in flight */
	uint8_t *map; /* bitmap_bytes, aligned */
	uint8_t *wbuf; /* the snapshot being written */
	struct vreq *waiters; /* want it loaded */
	struct vreq *bits_next; /* want bits set: the next write */
	struct vreq *bits_writing; /* their bits are in the write in flight */
	uint64_t used; /* LRU tick */
	struct bcache_entry *hnext; /* hash chain */
};

struct bcache {
	struct bcache_entry **entries; /* each allocated alone: waiters point at them */
	uint32_t nr, cap; /* slots in use by blocks / the nominal size */
	uint32_t slots; /* allocated slots (grows past cap while every entry is busy) */
	struct bcache_entry **hash;
	uint32_t nbuckets;
	uint64_t tick;
};

/* One block being allocated (the order: docs/ARCHITECTURE.md, "VHD block allocation"). */
struct valloc {
	struct vhd_layer *l;
	uint32_t block;
	bool data_ok; /* step 1 done: guest data may be written into the block */
	uint64_t off; /* of its sector bitmap */
	int pending; /* aios of the current step */
	int err;
	struct vreq *waiters; /* guest writes into the block, not yet started */
	struct vreq *written; /* guest writes whose data went out with the allocation */
	struct valloc *next; /* allocations in progress */
	struct valloc *qnext; /* the BAT writer's queue */
};

struct vhd_layer {
	struct td_image *img;
	struct vhd_file f; /* metadata; f.bat is the BAT reads and writes go by */
	int fd; /* the driver's own descriptor: O_DIRECT unless the filesystem refuses it */
	bool writable;
	bool leaf;
	struct vaio aio;
	uint32_t *bat_disk; /* the BAT as the file has it or will (allocations in flight) */
	uint64_t alloc_end; /* the next block goes at or after this offset */
	struct bcache bc;
	struct valloc *allocs; /* in progress */
	/* fdsync batching: one in flight; requests made meanwhile wait for the next one */
	bool sync_inflight;
	struct vreq *sync_cur, *sync_next;
	/* BAT sector writes, one at a time (two in flight to one sector could land out of order) */
	bool bat_writing;
	struct valloc *bat_q, *bat_batch;
	uint8_t *bat_buf;
	/* flushes with metadata to write run one at a time */
	bool flushing;
	struct vreq *flush_q, *flush_q_tail;
	uint8_t *meta_buf; /* batmap snapshot + batmap header + footer for the running flush */
	bool footer_dirty; /* blocks were allocated since the trailing footer was written */
	bool batmap_dirty; /* batmap bits set since it was last written */
	uint8_t *zero; /* bitmap_bytes (at least 4 KiB) of zeros */
	struct td_io *done_head, *done_tail; /* guest I/Os finished without an aio */
	struct vreq *notify; /* completes done_head from the loop */
	bool notify_queued;
	bool kick_parent; /* reads were forwarded to the parent since it was last kicked */
	struct td_vhd_stats stats;
};

/* Guest I/O accounting, kept in td_io's driver space. */
struct vio_state {
	uint32_t pending; /* pieces outstanding + 1 while the submit path still runs */
	int32_t err;
	struct vhd_layer *layer;
};

static inline struct vio_state *vio_state(struct td_io *io)
{
	return (struct vio_state *)io->drv;
}

/* vhd.c */
void vio_get(struct td_io *io);
/* One piece done; the last one completes the guest I/O (from the loop). */
void vio_put(struct td_io *io, int err);

/* vhd_bcache.c */
int bcache_init(struct bcache *bc, uint32_t cap, uint32_t bitmap_bytes);
void bcache_fini(struct bcache *bc);
struct bcache_entry *bcache_find(struct bcache *bc, uint32_t block);
/* A slot for `block` (evicting an idle one, growing when all are busy); NULL: out of memory. */
struct bcache_entry *bcache_insert(struct bcache *bc, uint32_t block, uint32_t bitmap_bytes);
void bcache_remove(struct bcache *bc, struct bcache_entry *e);
static inline bool bcache_busy(const struct bcache_entry *e)
{
	return e->loading || e->writing || e->waiters || e->bits_next || e->bits_writing;
}

/* vhd_meta.c */
/* r waits until an fdsync that starts after this call has completed (r->fn runs then). */
void meta_sync(struct vhd_layer *l, struct vreq *r, vreq_fn fn);
/* A guest write piece into an unallocated block: writes its data once the block's zeroed
 * bitmap is written, then r->then(r, res) once its bits are on disk; allocates the block
 * first when no allocation is in progress. */
void meta_alloc_write(struct vhd_layer *l, struct vreq *r);
/* Sets r's sectors in its block's bitmap on disk (its data is durable); then r->fn(r, res). */
void meta_set_bits(struct vhd_layer *l, struct vreq *r, vreq_fn fn);
/* Has a block's bitmap in the cache, then r->fn(r, 0) (at once on a hit, which is allowed from
 * the submit path: the guest I/O cannot complete before submit returns), or r->fn(r, -errno).
 * The entry is bcache_find(&l->bc, r->block) in that call. */
void meta_load_bitmap(struct vhd_layer *l, struct vreq *r, vreq_fn fn);
/* A guest flush: every write completed before it durable, metadata (batmap, footer) too. */
void meta_flush(struct vhd_layer *l, struct td_io *io);

#endif
