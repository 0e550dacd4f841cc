/* The vhd driver's metadata steps, chained through I/O engine completions (no synchronous write on
 * the I/O path): batched fdsyncs, block allocation in the crash-consistent order (docs/
 * ARCHITECTURE.md, "VHD block allocation"), sector-bitmap loads and updates, and flush (batmap
 * and trailing footer made durable).
 *
 * Allocation of a block, each step started by the completion of the one before:
 *   1. its zeroed sector bitmap and its last data sector written (the file covers the block);
 *   2. the waiting guest writes' data written, and an fdsync (the zeroed bitmap durable);
 *   3. the BAT entry written (one BAT sector write in flight at a time);
 *   4. the block is allocated in memory; each guest write, its data complete, waits for an
 *      fdsync (data durable), then its bits are written in the bitmap, then it is acknowledged.
 * A crash anywhere leaves either no BAT entry (the space is unused, `vhd-util check` passes) or
 * a BAT entry to a block whose bitmap vouches only for durable data. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/vhd_int.h"
#include "ringtap/log.h"

static void push(struct vreq **head, struct vreq *r)
{
	r->next = *head;
	*head = r;
}

/* Lists are pushed at the head: this gives them back in arrival order. */
static struct vreq *take_fifo(struct vreq **head)
{
	struct vreq *r = *head, *rev = NULL, *next;

	*head = NULL;
	for (; r; r = next) {
		next = r->next;
		r->next = rev;
		rev = r;
	}
	return rev;
}

static struct valloc *valloc_get(struct vhd_layer *l)
{
	struct valloc *a = l->free_allocs;

	if (a) {
		l->free_allocs = a->next;
		memset(a, 0, sizeof(*a));
		a->l = l;
	}
	return a;
}

static void valloc_put(struct vhd_layer *l, struct valloc *a)
{
	a->next = l->free_allocs;
	l->free_allocs = a;
	vhd_wake_waiters(l);
}

/* ---- fdsync batching ------------------------------------------------------------------------ */

static void sync_start(struct vhd_layer *l);

static void sync_done(struct vreq *s, int res)
{
	struct vhd_layer *l = s->layer;
	struct vreq *r, *next;

	l->sync_inflight = false;
	r = take_fifo(&l->sync_cur);
	if (res)
		rt_err("vhd: %s: fdsync: %s", l->f.path, strerror(-res));
	for (; r; r = next) {
		next = r->next;
		r->fn(r, res);
	}
	if (l->sync_next && !l->sync_inflight)
		sync_start(l);
}

static void sync_start(struct vhd_layer *l)
{
	struct vreq *s = &l->sync_req;

	vreq_meta(s, l, NULL);
	l->sync_cur = l->sync_next;
	l->sync_next = NULL;
	l->sync_inflight = true;
	l->stats.syncs++;
	vhd_fsync(l, s, sync_done);
}

void meta_sync(struct vhd_layer *l, struct vreq *r, vreq_fn fn)
{
	r->fn = fn;
	push(&l->sync_next, r);
	if (!l->sync_inflight)
		sync_start(l);
}

/* ---- sector bitmaps ------------------------------------------------------------------------- */

static void bitmap_loaded(struct vreq *ld, int res)
{
	struct vhd_layer *l = ld->layer;
	struct bcache_entry *e = ld->owner;
	struct vreq *r, *next;

	e->loading = false;
	r = take_fifo(&e->waiters);
	if (res) {
		rt_err("vhd: %s: cannot read the bitmap of block %u: %s", l->f.path, e->block,
		       strerror(-res));
		bcache_remove(&l->bc, e);
	}
	for (; r; r = next) {
		next = r->next;
		r->fn(r, res);
	}
}

void meta_load_bitmap(struct vhd_layer *l, struct vreq *r, vreq_fn fn)
{
	struct bcache_entry *e = bcache_find(&l->bc, r->block);
	struct vreq *ld;

	r->fn = fn;
	if (e) {
		if (e->loading) {
			push(&e->waiters, r);
			return;
		}
		l->stats.bitmap_hits++;
		fn(r, 0);
		return;
	}
	l->stats.bitmap_misses++;
	e = bcache_insert(&l->bc, r->block, l->f.bitmap_bytes);
	if (!e) {
		vhd_complete_later(l, r, -ENOMEM);
		return;
	}
	e->loading = true;
	push(&e->waiters, r);
	ld = &e->load;
	vreq_meta(ld, l, e);
	ld->iov[0].iov_base = e->map;
	ld->iov[0].iov_len = l->f.bitmap_bytes;
	ld->iovcnt = 1;
	vhd_read(l, ld, vhd_block_bitmap_offset(l->f.bat[r->block]), bitmap_loaded);
}

static void bits_write(struct vhd_layer *l, struct bcache_entry *e);

static void bits_written(struct vreq *w, int res)
{
	struct vhd_layer *l = w->layer;
	struct bcache_entry *e = w->owner;
	struct vreq *r, *next;

	e->writing = false;
	r = take_fifo(&e->bits_writing);
	if (res) {
		rt_err("vhd: %s: cannot write the bitmap of block %u: %s", l->f.path, e->block,
		       strerror(-res));
	} else {
		l->stats.bitmap_writes++;
		/* A full bitmap may be summarised by the batmap; the next flush writes it after an
		 * fdsync that makes this bitmap durable. */
		if (l->f.has_batmap && !vhd_bit_test(l->f.batmap_map, e->block) &&
		    vhd_bits_all(e->wbuf, 0, l->f.spb)) {
			vhd_bit_set(l->f.batmap_map, e->block);
			l->batmap_dirty = true;
		}
	}
	for (; r; r = next) {
		next = r->next;
		r->fn(r, res);
	}
	if (e->bits_next && !e->writing)
		bits_write(l, e);
}

static void bits_write(struct vhd_layer *l, struct bcache_entry *e)
{
	struct vreq *w = &e->bits, *r;

	/* reads may trust the bits from now on: the data they vouch for is durable */
	for (r = e->bits_next; r; r = r->next)
		vhd_bits_set(e->map, (uint32_t)(r->sector % l->f.spb), r->count);
	memcpy(e->wbuf, e->map, l->f.bitmap_bytes);
	e->bits_writing = e->bits_next;
	e->bits_next = NULL;
	e->writing = true;
	vreq_meta(w, l, e);
	vhd_write_buf(l, w, e->wbuf, l->f.bitmap_bytes, vhd_block_bitmap_offset(l->f.bat[e->block]),
		      bits_written);
}

static void set_bits_loaded(struct vreq *r, int res)
{
	struct vhd_layer *l = r->layer;
	struct bcache_entry *e;

	if (res) {
		r->then(r, res);
		return;
	}
	e = bcache_find(&l->bc, r->block);
	r->fn = r->then;
	if (vhd_bits_all(e->map, (uint32_t)(r->sector % l->f.spb), r->count)) {
		/* set by another write: on disk, or in the write in flight */
		if (e->writing)
			push(&e->bits_writing, r);
		else
			r->then(r, 0);
		return;
	}
	push(&e->bits_next, r);
	if (!e->writing)
		bits_write(l, e);
}

void meta_set_bits(struct vhd_layer *l, struct vreq *r, vreq_fn fn)
{
	r->then = fn;
	/* the entry may have been evicted while the data was written: load it again */
	meta_load_bitmap(l, r, set_bits_loaded);
}

/* ---- block allocation ----------------------------------------------------------------------- */

static struct valloc *alloc_find(struct vhd_layer *l, uint32_t block)
{
	struct valloc *a;

	for (a = l->allocs; a; a = a->next)
		if (a->block == block)
			return a;
	return NULL;
}

static void alloc_unlink(struct vhd_layer *l, struct valloc *a)
{
	struct valloc **p = &l->allocs;

	while (*p && *p != a)
		p = &(*p)->next;
	if (*p)
		*p = a->next;
}

/* The allocation failed: every guest write waiting on it fails. */
static void alloc_fail(struct vhd_layer *l, struct valloc *a, int err)
{
	struct vreq *r, *next;

	rt_err("vhd: %s: cannot allocate block %u: %s", l->f.path, a->block, strerror(-err));
	alloc_unlink(l, a);
	l->bat_disk[a->block] = VHD_BAT_UNUSED;
	for (r = a->waiters; r; r = next) {
		next = r->next;
		vhd_piece_done(r, err);
	}
	for (r = a->written; r; r = next) {
		next = r->next;
		vhd_piece_done(r, err);
	}
	valloc_put(l, a);
}

static void piece_synced(struct vreq *r, int res)
{
	if (res) {
		r->then(r, res);
		return;
	}
	meta_set_bits(r->layer, r, r->then);
}

/* Step 4: the BAT entry is on disk. */
static void alloc_commit(struct vhd_layer *l, struct valloc *a)
{
	struct vreq *r, *next;

	alloc_unlink(l, a);
	l->f.bat[a->block] = l->bat_disk[a->block];
	l->stats.blocks_allocated++;
	l->footer_dirty = true;
	/* its bitmap is known to be zero: no read needed (on failure it is read when needed) */
	if (!bcache_find(&l->bc, a->block))
		bcache_insert(&l->bc, a->block, l->f.bitmap_bytes);
	for (r = take_fifo(&a->written); r; r = next) {
		next = r->next;
		meta_sync(l, r, piece_synced);
	}
	valloc_put(l, a);
}

static void bat_write_next(struct vhd_layer *l);

static void bat_written(struct vreq *w, int res)
{
	struct vhd_layer *l = w->layer;
	struct valloc *a = l->bat_batch, *next;

	l->bat_writing = false;
	l->bat_batch = NULL;
	if (!res)
		l->stats.bat_writes++;
	for (; a; a = next) {
		next = a->qnext;
		if (res)
			alloc_fail(l, a, res);
		else
			alloc_commit(l, a);
	}
	if (l->bat_q && !l->bat_writing)
		bat_write_next(l);
}

/* Writes the BAT sector of the first queued allocation, with every queued one in that sector. */
static void bat_write_next(struct vhd_layer *l)
{
	uint64_t off = vhd_bat_sector_offset(&l->f.header, l->bat_q->block);
	struct valloc **p = &l->bat_q, *a;
	struct vreq *w = &l->bat_req;

	while ((a = *p)) {
		if (vhd_bat_sector_offset(&l->f.header, a->block) == off) {
			*p = a->qnext;
			a->qnext = l->bat_batch;
			l->bat_batch = a;
		} else {
			p = &a->qnext;
		}
	}
	vhd_bat_sector_encode(l->bat_disk, l->f.header.max_bat_entries, l->bat_batch->block,
			      l->bat_buf);
	l->bat_writing = true;
	vreq_meta(w, l, NULL);
	vhd_write_buf(l, w, l->bat_buf, VHD_SECTOR_SIZE, off, bat_written);
}

/* Step 3: the zeroed bitmap (and the file's new size) is durable: the BAT may point at it. */
static void alloc_synced(struct vreq *s, int res)
{
	struct valloc *a = s->owner;
	struct vhd_layer *l = a->l;

	if (res) {
		alloc_fail(l, a, res);
		return;
	}
	l->bat_disk[a->block] = (uint32_t)(a->off / VHD_SECTOR_SIZE);
	a->qnext = l->bat_q;
	l->bat_q = a;
	if (!l->bat_writing)
		bat_write_next(l);
}

static void alloc_piece_written(struct vreq *r, int res)
{
	struct vhd_layer *l = r->layer;
	struct valloc *a;

	if (res) {
		r->then(r, res);
		return;
	}
	if (l->f.bat[r->block] != VHD_BAT_UNUSED) {
		meta_sync(l, r, piece_synced);
		return;
	}
	a = alloc_find(l, r->block);
	if (!a) { /* the allocation failed meanwhile */
		r->then(r, -EIO);
		return;
	}
	push(&a->written, r);
}

static void alloc_write_data(struct vhd_layer *l, struct valloc *a, struct vreq *r)
{
	uint64_t off = a->off + l->f.bitmap_bytes + vhd_sectors_to_bytes(r->sector % l->f.spb);

	vhd_write(l, r, off, alloc_piece_written);
}

static void alloc_step1_done(struct vreq *w, int res)
{
	struct valloc *a = w->owner;
	struct vhd_layer *l = a->l;
	struct vreq *s = &a->sync, *r, *next;

	if (res && !a->err)
		a->err = res;
	if (--a->pending)
		return;
	if (a->err) {
		alloc_fail(l, a, a->err);
		return;
	}
	/* Step 2: the guest data goes out; the zeroed bitmap must be durable before the BAT
	 * entry is written. */
	a->data_ok = true;
	for (r = take_fifo(&a->waiters); r; r = next) {
		next = r->next;
		alloc_write_data(l, a, r);
	}
	vreq_meta(s, l, a);
	meta_sync(l, s, alloc_synced);
}

/* Step 1. */
static int alloc_start(struct vhd_layer *l, struct valloc *a)
{
	uint64_t block_bytes = (uint64_t)l->f.bitmap_bytes + l->f.header.block_size;
	uint64_t off = vhd_next_block_offset(l->alloc_end, l->f.bitmap_bytes);
	uint64_t end = off + block_bytes;
	struct vreq *z = &a->zero_w, *x = l->f.is_block ? NULL : &a->end_w;

	if (off / VHD_SECTOR_SIZE >= VHD_BAT_UNUSED)
		return -EFBIG;
	if (l->f.is_block && end > l->f.file_size - VHD_FOOTER_SIZE)
		return -ENOSPC;
	a->off = off;
	l->alloc_end = end;
	l->f.end_of_data = end;
	l->footer_dirty = true;
	vreq_meta(z, l, a);
	vhd_write_buf(l, z, l->zero, l->f.bitmap_bytes, off, alloc_step1_done);
	a->pending = 1;
	if (x) {
		/* the last sector of the data area: the file covers the whole block before the
		 * BAT points at it */
		vreq_meta(x, l, a);
		vhd_write_buf(l, x, l->zero, VHD_SECTOR_SIZE, end - VHD_SECTOR_SIZE,
			      alloc_step1_done);
		a->pending++;
	}
	return 0;
}

void meta_alloc_write(struct vhd_layer *l, struct vreq *r)
{
	struct valloc *a = alloc_find(l, r->block);
	int err;

	if (a) {
		if (a->data_ok)
			alloc_write_data(l, a, r);
		else
			push(&a->waiters, r);
		return;
	}
	a = valloc_get(l);
	if (!a) { /* every allocation slot is busy: wait for one (vhd_write_piece again) */
		r->next = NULL;
		if (l->alloc_wait_tail)
			l->alloc_wait_tail->next = r;
		else
			l->alloc_wait = r;
		l->alloc_wait_tail = r;
		return;
	}
	a->block = r->block;
	err = alloc_start(l, a);
	if (err) {
		rt_err("vhd: %s: cannot allocate block %u: %s", l->f.path, r->block,
		       strerror(-err));
		valloc_put(l, a);
		vhd_piece_done(r, err);
		return;
	}
	a->next = l->allocs;
	l->allocs = a;
	push(&a->waiters, r);
}

/* ---- flush ---------------------------------------------------------------------------------- */

#define FLUSH_BATMAP 0x1u /* the batmap snapshot is written by this flush */
#define FLUSH_FOOTER 0x2u /* the trailing footer is */

static void flush_next(struct vhd_layer *l);

static void flush_plain_done(struct vreq *f, int res)
{
	vhd_piece_done(f, res);
}

static void flush_finish(struct vreq *f, int res)
{
	struct vhd_layer *l = f->layer;

	if (res) {
		/* what it should have written stays to be written */
		if (f->block & FLUSH_BATMAP)
			l->batmap_dirty = true;
		if (f->block & FLUSH_FOOTER)
			l->footer_dirty = true;
	}
	vhd_piece_done(f, res);
	l->flushing = false;
	flush_next(l);
}

static void flush_meta_put(struct vreq *f)
{
	struct vhd_layer *l = f->layer;

	if (--f->count)
		return;
	if (f->res) {
		rt_err("vhd: %s: cannot write the batmap or footer: %s", l->f.path,
		       strerror(-f->res));
		flush_finish(f, f->res);
		return;
	}
	meta_sync(l, f, flush_finish);
}

static void flush_meta_written(struct vreq *w, int res)
{
	struct vreq *f = w->owner;

	if (res && !f->res)
		f->res = res;
	flush_meta_put(f);
}

static void meta_write(struct vhd_layer *l, struct vreq *f, void *buf, size_t len, uint64_t off)
{
	struct vreq *w = &l->flush_w[l->flush_nw++];

	vreq_meta(w, l, f);
	f->count++;
	vhd_write_buf(l, w, buf, len, off, flush_meta_written);
}

/* The fdsync covering everything completed before the flush is done: write the batmap
 * snapshot (the bitmaps of its bits are durable now) and the trailing footer, then fdsync. */
static void flush_synced(struct vreq *f, int res)
{
	struct vhd_layer *l = f->layer;
	const struct vhd_file *vf = &l->f;
	uint64_t map_bytes = vhd_sectors_to_bytes(vf->batmap.size);
	uint8_t *map = l->meta_buf, *hdr = map + vhd_round_up(map_bytes, VHD_ALIGN);
	uint8_t *foot = hdr + VHD_ALIGN;

	if (res) {
		flush_finish(f, res);
		return;
	}
	f->count = 1; /* held while the writes are queued */
	f->res = 0;
	l->flush_nw = 0;
	if (f->block & FLUSH_BATMAP) {
		struct vhd_batmap_header b = vf->batmap;

		b.checksum = vhd_batmap_checksum(
			map, vhd_batmap_checksum_bytes(vf->footer.curr_size), b.version);
		memset(hdr, 0, VHD_SECTOR_SIZE);
		vhd_batmap_header_encode(&b, hdr);
		l->f.batmap.checksum = b.checksum;
		meta_write(l, f, map, map_bytes, vf->batmap.offset);
		meta_write(l, f, hdr, VHD_SECTOR_SIZE, vhd_batmap_header_offset(&vf->header));
	}
	if (l->footer_dirty) {
		uint64_t off = vf->is_block ? vf->file_size - VHD_FOOTER_SIZE : vf->end_of_data;
		struct vhd_footer ft = vf->footer;

		vhd_footer_encode(&ft, foot);
		l->footer_dirty = false;
		f->block |= FLUSH_FOOTER;
		if (!vf->is_block && off + VHD_FOOTER_SIZE > l->alloc_end)
			l->alloc_end = off + VHD_FOOTER_SIZE; /* no block over the footer */
		meta_write(l, f, foot, VHD_FOOTER_SIZE, off);
	}
	flush_meta_put(f);
}

static void flush_next(struct vhd_layer *l)
{
	struct vreq *f = l->flush_q;
	const struct vhd_file *vf = &l->f;

	if (l->flushing || !f)
		return;
	l->flush_q = f->next;
	if (!l->flush_q)
		l->flush_q_tail = NULL;
	l->flushing = true;
	f->block = 0;
	if (l->batmap_dirty && vf->has_batmap) {
		/* the bits set so far: their bitmap writes have completed, so the fdsync requested
		 * now covers them */
		memcpy(l->meta_buf, vf->batmap_map, vhd_sectors_to_bytes(vf->batmap.size));
		l->batmap_dirty = false;
		f->block |= FLUSH_BATMAP;
	}
	meta_sync(l, f, flush_synced);
}

void meta_flush(struct vhd_layer *l, struct vreq *f)
{
	if (!l->writable || (!(l->batmap_dirty && l->f.has_batmap) && !l->footer_dirty)) {
		/* only data to make durable: one (batched) fdsync */
		meta_sync(l, f, flush_plain_done);
		return;
	}
	f->next = NULL;
	if (l->flush_q_tail)
		l->flush_q_tail->next = f;
	else
		l->flush_q = f;
	l->flush_q_tail = f;
	flush_next(l);
}
