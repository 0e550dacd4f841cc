/* The vhd driver's shared internals: one `struct vhd_layer` per file of a chain (each is the
 * priv of its own td_image; img->parent is the next one), the bitmap cache, the metadata steps
 * (block allocation, sector-bitmap updates, flush) shared by drivers/vhd*.c. */
#ifndef TD_DRIVERS_VHD_INT_H
#define TD_DRIVERS_VHD_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <stddef.h>
#include <sys/uio.h>

#include "drivers/engine.h"
#include "drivers/vhd.h"
#include "ringtap/driver.h"
#include "ringtap/vhd.h"

#define VHD_ALIGN 4096 /* buffers for O_DIRECT metadata I/O */

struct vreq;

/* res: 0 or -errno (a short transfer is -EIO). Runs from the loop, never from inside a submit. */
typedef void (*vreq_fn)(struct vreq *r, int res);

/* One step of the driver: an I/O of the layer's engine (read, write, fsync) or a wait (for a
 * bitmap, a sync, a block allocation). None is allocated per I/O: a guest I/O's pieces come
 * from the layer's pool (struct vpiece), metadata steps are embedded in what they work for (the
 * layer, a cache entry, an allocation), one per step that can be in flight. */
struct vreq {
	struct td_engine_req req; /* when the step is an I/O */
	vreq_fn fn;
	vreq_fn then; /* where a multi-step request goes when the steps are done */
	int res;
	struct vreq *next; /* for the queue it waits in (and the pool's free list) */
	/* what the request works for (drivers/vhd*.c's meaning) */
	void *layer; /* the image layer it belongs to */
	void *owner; /* what it waits for or serves (an allocation, a flush) */
	struct td_io *io; /* the guest I/O it is part of, or NULL */
	uint64_t sector; /* first sector (of the image) */
	uint32_t count; /* sectors */
	uint32_t block;
	uint32_t rest; /* a read piece serving its block's runs itself: sectors after this run */
	size_t io_off; /* byte offset of this piece in the guest I/O */
	int iovcnt;
	struct iovec *iov; /* the piece's slice of the guest I/O's buffers, or &iov1 */
	struct iovec iov1; /* a metadata step's one buffer */
};

/* Buffers of a guest I/O one piece covers at most: a piece ends where its slice would need more
 * (the I/O is cut into more pieces). Ring requests are one buffer when their bounce pages are
 * adjacent, one per segment with persistent grants. */
#define VHD_PIECE_IOV 16
/* Pieces per layer, as many as its engine has in flight; when they are all busy, guest I/Os wait
 * (in arrival order) for one to come back: never failed for it. */
#define VHD_PIECES TD_ENGINE_DEPTH
/* Block allocations in progress per writable layer; more writes into new blocks wait likewise. */
#define VHD_ALLOCS 64

/* A guest I/O's piece: the step, its slice of the I/O's buffers, and the I/O it forwards to the
 * parent image when the sectors are not in this file. */
struct vpiece {
	struct vreq r;
	struct td_io pio;
	struct iovec iov[VHD_PIECE_IOV];
};

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
	struct vreq load; /* its read */
	struct vreq bits; /* its write (never at the same time as the read) */
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
	struct valloc *next; /* allocations in progress, or the free list */
	struct valloc *qnext; /* the BAT writer's queue */
	struct vreq zero_w, end_w, sync; /* its steps 1 and 2 */
};

struct vhd_layer {
	struct td_image *img;
	struct vhd_file f; /* metadata; f.bat is the BAT reads and writes go by */
	int fd; /* the driver's own descriptor: O_DIRECT unless the filesystem refuses it */
	bool writable;
	bool leaf;
	struct td_engine *engine; /* every I/O of this file */
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
	struct vreq notify; /* completes done_head from the loop */
	bool notify_queued;
	struct vpiece *pieces; /* VHD_PIECES */
	struct vreq *free_pieces;
	struct td_io *starved_head, *starved_tail; /* guest I/Os waiting for pieces */
	struct valloc *vallocs; /* VHD_ALLOCS (writable dynamic layers) */
	struct valloc *free_allocs;
	struct vreq *alloc_wait, *alloc_wait_tail; /* write pieces waiting for an allocation */
	struct vreq resume; /* restarts the waiters from the loop when pieces come back */
	bool resume_queued;
	struct vreq sync_req; /* the fdsync in flight */
	struct vreq bat_req; /* the BAT sector write in flight */
	struct vreq flush_w[3]; /* the running flush's batmap, batmap header, footer */
	int flush_nw;
	bool kick_parent; /* reads were forwarded to the parent since it was last kicked */
	struct td_vhd_stats stats;
};

/* Guest I/O accounting, kept in td_io's driver space. */
struct vio_state {
	uint32_t pending; /* pieces outstanding + 1 while the submit path runs or it waits */
	int32_t err;
	struct vhd_layer *layer;
	uint64_t split_off; /* bytes of it cut into pieces so far */
};

static inline struct vio_state *vio_state(struct td_io *io)
{
	return (struct vio_state *)io->drv;
}

/* vhd.c */
/* A metadata step embedded in what it works for, ready for one buffer. */
void vreq_meta(struct vreq *r, struct vhd_layer *l, void *owner);
/* A guest I/O piece is done: back to the pool, and res counted in its I/O. */
void vhd_piece_done(struct vreq *r, int res);
/* A guest write piece, according to its block: allocate it, or write (and set bits). Again when
 * it waited for an allocation. */
void vhd_write_piece(struct vhd_layer *l, struct vreq *r);
/* Pieces or allocations came back: the waiters are restarted from the loop. */
void vhd_wake_waiters(struct vhd_layer *l);
/* Queue one I/O of the layer's engine (started at the next kick); r->fn(r, res) when done. */
void vhd_read(struct vhd_layer *l, struct vreq *r, uint64_t off, vreq_fn fn);
void vhd_write(struct vhd_layer *l, struct vreq *r, uint64_t off, vreq_fn fn);
/* A write of one buffer (metadata): r->iov must have room for it (vreq_meta). */
void vhd_write_buf(struct vhd_layer *l, struct vreq *r, void *buf, size_t len, uint64_t off,
		   vreq_fn fn);
void vhd_fsync(struct vhd_layer *l, struct vreq *r, vreq_fn fn);
/* Runs r->fn(r, res) from the loop, later (never from the caller's stack). */
void vhd_complete_later(struct vhd_layer *l, struct vreq *r, int res);
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
/* A guest flush (f: its piece): every write completed before it durable, metadata (batmap,
 * footer) too. */
void meta_flush(struct vhd_layer *l, struct vreq *f);

#endif
