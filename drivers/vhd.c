/* The `vhd` image driver: fixed, dynamic and differencing VHDs (lib/vhd validates and loads the
 * metadata), each file of a chain one td_image (img->parent: the next; a raw root is an `aio`
 * image), all I/O through one I/O engine (engine.h) per file on the driver's own O_DIRECT
 * descriptors. Reads go by the
 * in-memory BAT, the batmap and cached sector bitmaps; what a differencing disk lacks is read
 * from its parent, what a dynamic disk lacks is zero. Writes allocate blocks (vhd_meta.c). Each
 * file is locked (image_lock.c): the leaf exclusively when writable, parents shared. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "drivers/image_lock.h"
#include "drivers/vhd_int.h"
#include "ringtap/iov.h"
#include "ringtap/log.h"

#define VHD_BITMAP_CACHE 1024 /* blocks (2 GiB of 2 MiB blocks; 512 KiB of bitmaps) */

/* ---- steps: the engine's requests --------------------------------------------------------- */

void vreq_meta(struct vreq *r, struct vhd_layer *l, void *owner)
{
	r->layer = l;
	r->owner = owner;
	r->iov = &r->iov1;
	r->iovcnt = 0;
}

static void vreq_engine_done(struct td_engine_req *req, int res)
{
	struct vreq *r = (struct vreq *)((char *)req - offsetof(struct vreq, req));

	r->fn(r, res);
}

void vhd_read(struct vhd_layer *l, struct vreq *r, uint64_t off, vreq_fn fn)
{
	r->fn = fn;
	td_engine_read(l->engine, &r->req, r->iov, r->iovcnt, off, vreq_engine_done);
}

void vhd_write(struct vhd_layer *l, struct vreq *r, uint64_t off, vreq_fn fn)
{
	r->fn = fn;
	td_engine_write(l->engine, &r->req, r->iov, r->iovcnt, off, vreq_engine_done);
}

void vhd_write_buf(struct vhd_layer *l, struct vreq *r, void *buf, size_t len, uint64_t off,
		   vreq_fn fn)
{
	r->iov[0].iov_base = buf;
	r->iov[0].iov_len = len;
	r->iovcnt = 1;
	vhd_write(l, r, off, fn);
}

void vhd_fsync(struct vhd_layer *l, struct vreq *r, vreq_fn fn)
{
	r->fn = fn;
	td_engine_fsync(l->engine, &r->req, vreq_engine_done);
}

void vhd_complete_later(struct vhd_layer *l, struct vreq *r, int res)
{
	r->req.done = vreq_engine_done;
	td_engine_complete_later(l->engine, &r->req, res);
}

/* ---- guest I/O accounting ------------------------------------------------------------------- */

void vio_get(struct td_io *io)
{
	vio_state(io)->pending++;
}

void vio_put(struct td_io *io, int err)
{
	struct vio_state *st = vio_state(io);

	if (err && !st->err)
		st->err = err;
	if (--st->pending == 0)
		io->done(io, st->err);
}

static void drain_done(struct vreq *n, int res)
{
	struct vhd_layer *l = n->layer;
	struct td_io *io;

	l->notify_queued = false;
	while ((io = l->done_head)) {
		l->done_head = io->next;
		if (!l->done_head)
			l->done_tail = NULL;
		io->done(io, vio_state(io)->err);
	}
}

/* The submit path's (or the wait's) own reference: the last one completes the I/O from the
 * loop, later. */
static void vio_release(struct vhd_layer *l, struct td_io *io)
{
	if (--vio_state(io)->pending)
		return;
	io->next = NULL;
	if (l->done_tail)
		l->done_tail->next = io;
	else
		l->done_head = io;
	l->done_tail = io;
	if (!l->notify_queued) {
		l->notify_queued = true;
		l->notify.fn = drain_done;
		vhd_complete_later(l, &l->notify, 0);
	}
}

/* ---- pieces: a guest I/O's range within one block ------------------------------------------ */

static size_t io_bytes(const struct td_io *io)
{
	return rt_iov_bytes(io->iov, io->iovcnt);
}

/* The guest buffers covering [off, off + len) into iov (VHD_PIECE_IOV of them: callers cut the
 * range with iov_span); how many. */
static int iov_walk(const struct td_io *io, size_t off, size_t len, struct iovec *iov)
{
	return rt_iov_window(iov, VHD_PIECE_IOV, io->iov, io->iovcnt, off, &len);
}

/* Bytes from off that at most `max` of the guest buffers cover. */
static size_t iov_span(const struct td_io *io, size_t off, int max)
{
	size_t span = 0;

	for (int i = 0; i < io->iovcnt && max; i++) {
		size_t l = io->iov[i].iov_len;

		if (off >= l) {
			off -= l;
			continue;
		}
		span += l - off;
		off = 0;
		max--;
	}
	return span;
}

static void zero_fill(struct td_io *io, size_t off, size_t len)
{
	for (int i = 0; i < io->iovcnt && len; i++) {
		size_t l = io->iov[i].iov_len, k;

		if (off >= l) {
			off -= l;
			continue;
		}
		k = l - off < len ? l - off : len;
		memset((char *)io->iov[i].iov_base + off, 0, k);
		len -= k;
		off = 0;
	}
}

static struct vpiece *vpiece_of(struct vreq *r)
{
	return (struct vpiece *)((char *)r - offsetof(struct vpiece, r));
}

/* A piece from the pool for [off, off + count sectors) of the guest I/O's buffers (at most
 * VHD_PIECE_IOV of them), counted in the I/O; NULL when every piece is busy. */
static struct vreq *piece_get(struct vhd_layer *l, struct td_io *io, uint64_t sector,
			      uint32_t count, size_t off)
{
	struct vreq *r = l->free_pieces;

	if (!r)
		return NULL;
	l->free_pieces = r->next;
	r->next = NULL;
	r->fn = r->then = NULL;
	r->res = 0;
	r->layer = l;
	r->owner = NULL;
	r->io = io;
	r->sector = sector;
	r->count = count;
	r->rest = 0;
	r->block = l->f.spb ? (uint32_t)(sector / l->f.spb) : 0;
	r->io_off = off;
	r->iov = vpiece_of(r)->iov;
	r->iovcnt = iov_walk(io, off, vhd_sectors_to_bytes(count), r->iov);
	vio_get(io);
	return r;
}

void vhd_wake_waiters(struct vhd_layer *l)
{
	if ((l->starved_head || l->alloc_wait) && !l->resume_queued) {
		l->resume_queued = true;
		vhd_complete_later(l, &l->resume, 0);
	}
}

void vhd_piece_done(struct vreq *r, int res)
{
	struct vhd_layer *l = r->layer;
	struct td_io *io = r->io;

	r->next = l->free_pieces;
	l->free_pieces = r;
	vhd_wake_waiters(l);
	vio_put(io, res);
}

static uint64_t data_offset(const struct vhd_layer *l, uint32_t block, uint64_t sector)
{
	return vhd_block_data_offset(l->f.bat[block], l->f.bitmap_bytes) +
	       vhd_sectors_to_bytes(sector % l->f.spb);
}

/* ---- reads ---------------------------------------------------------------------------------- */

static void fwd_done(struct td_io *pio, int err)
{
	struct vreq *r = pio->data;

	r->fn(r, err);
}

/* r reads its sectors (within one block): from this file when `have`, else what the parent
 * holds, zeros for the rest (a dynamic disk, or past the end of a smaller parent); then
 * r->fn(r, res). False when there was nothing to submit (zeros only): r is done, fn not run. */
static bool piece_read(struct vhd_layer *l, struct vreq *r, bool have, vreq_fn fn)
{
	struct td_image *p = l->img->parent;
	struct vpiece *vp = vpiece_of(r);
	uint32_t n = 0;

	if (have) {
		r->iovcnt = iov_walk(r->io, r->io_off, vhd_sectors_to_bytes(r->count), r->iov);
		vhd_read(l, r, data_offset(l, r->block, r->sector), fn);
		return true;
	}
	if (p && l->f.footer.type == VHD_TYPE_DIFF && r->sector < p->info.sectors)
		n = p->info.sectors - r->sector < r->count ?
			    (uint32_t)(p->info.sectors - r->sector) :
			    r->count;
	if (n < r->count)
		zero_fill(r->io, r->io_off + vhd_sectors_to_bytes(n),
			  vhd_sectors_to_bytes(r->count - n));
	if (!n)
		return false;
	r->iovcnt = iov_walk(r->io, r->io_off, vhd_sectors_to_bytes(n), r->iov);
	r->fn = fn;
	vp->pio = (struct td_io){
		.op = TD_IO_READ,
		.sector = r->sector,
		.iov = r->iov,
		.iovcnt = r->iovcnt,
		.done = fwd_done,
		.data = r,
	};
	l->stats.parent_reads++;
	l->kick_parent = true;
	td_image_submit(p, &vp->pio);
	return true;
}

static void read_have_bitmap(struct vreq *r, int res);

/* A run read by the piece itself is done: on with the rest of its block. */
static void read_run_done(struct vreq *r, int res)
{
	if (res) {
		vhd_piece_done(r, res);
		return;
	}
	r->sector += r->count;
	r->io_off += vhd_sectors_to_bytes(r->count);
	r->count = r->rest;
	r->rest = 0;
	/* the entry may have been evicted meanwhile */
	meta_load_bitmap(r->layer, r, read_have_bitmap);
}

/* The block's bitmap is cached: runs of set bits from this file, the rest from below, each run
 * one piece. When no piece is free, r reads the next run itself and goes on afterwards. */
static void read_have_bitmap(struct vreq *r, int res)
{
	struct vhd_layer *l = r->layer;
	struct bcache_entry *e;

	if (res) {
		vhd_piece_done(r, res);
		return;
	}
	e = bcache_find(&l->bc, r->block);
	for (;;) {
		uint32_t first = (uint32_t)(r->sector % l->f.spb);
		uint32_t run = vhd_bits_run(e->map, first, r->count);
		bool have = vhd_bit_test(e->map, first);
		struct vreq *p;

		if (run == r->count) {
			if (!piece_read(l, r, have, vhd_piece_done))
				vhd_piece_done(r, 0);
			return;
		}
		p = piece_get(l, r->io, r->sector, run, r->io_off);
		if (p) {
			if (!piece_read(l, p, have, vhd_piece_done))
				vhd_piece_done(p, 0);
		} else {
			r->rest = r->count - run;
			r->count = run;
			if (piece_read(l, r, have, read_run_done))
				return;
			r->count += r->rest;
			r->rest = 0;
		}
		r->sector += run;
		r->io_off += vhd_sectors_to_bytes(run);
		r->count -= run;
	}
}

static void read_piece(struct vhd_layer *l, struct vreq *r)
{
	if (l->f.bat[r->block] == VHD_BAT_UNUSED) {
		if (!piece_read(l, r, false, vhd_piece_done))
			vhd_piece_done(r, 0);
		return;
	}
	if (l->f.has_batmap && vhd_bit_test(l->f.batmap_map, r->block)) {
		l->stats.batmap_reads++;
		piece_read(l, r, true, vhd_piece_done);
		return;
	}
	meta_load_bitmap(l, r, read_have_bitmap);
}

/* ---- writes --------------------------------------------------------------------------------- */

static void write_synced(struct vreq *r, int res)
{
	if (res)
		vhd_piece_done(r, res);
	else
		meta_set_bits(r->layer, r, vhd_piece_done);
}

static void write_data_done(struct vreq *r, int res)
{
	if (res)
		vhd_piece_done(r, res);
	else /* the bits only once the data they vouch for is durable */
		meta_sync(r->layer, r, write_synced);
}

static void write_have_bitmap(struct vreq *r, int res)
{
	struct vhd_layer *l = r->layer;
	struct bcache_entry *e;

	if (res) {
		vhd_piece_done(r, res);
		return;
	}
	e = bcache_find(&l->bc, r->block);
	vhd_write(l, r, data_offset(l, r->block, r->sector),
		  vhd_bits_all(e->map, (uint32_t)(r->sector % l->f.spb), r->count) ?
			  vhd_piece_done :
			  write_data_done);
}

void vhd_write_piece(struct vhd_layer *l, struct vreq *r)
{
	r->then = vhd_piece_done;
	if (l->f.bat[r->block] == VHD_BAT_UNUSED)
		meta_alloc_write(l, r);
	else if (l->f.has_batmap && vhd_bit_test(l->f.batmap_map, r->block))
		vhd_write(l, r, data_offset(l, r->block, r->sector), vhd_piece_done);
	else
		meta_load_bitmap(l, r, write_have_bitmap);
}

/* ---- the ops -------------------------------------------------------------------------------- */

/* Cuts the guest I/O into pieces from where it stopped: one per block of a dynamic disk, at most
 * VHD_PIECE_IOV buffers each. False when the pieces ran out first. */
static bool rw_split(struct vhd_layer *l, struct td_io *io)
{
	struct vio_state *st = vio_state(io);
	size_t bytes = io_bytes(io);
	bool write = io->op == TD_IO_WRITE;

	while (st->split_off < bytes) {
		size_t off = (size_t)st->split_off;
		uint64_t sector = io->sector + off / VHD_SECTOR_SIZE;
		uint64_t count = (bytes - off) / VHD_SECTOR_SIZE;
		uint64_t span = iov_span(io, off, VHD_PIECE_IOV) / VHD_SECTOR_SIZE;
		struct vreq *r;

		if (vhd_is_dynamic(&l->f) && count > l->f.spb - sector % l->f.spb)
			count = l->f.spb - sector % l->f.spb;
		if (count > span)
			count = span;
		if (count > UINT32_MAX / 2)
			count = UINT32_MAX / 2;
		if (!count) { /* buffers smaller than a sector: not what the core hands over */
			if (!st->err)
				st->err = -EINVAL;
			st->split_off = bytes;
			break;
		}
		r = piece_get(l, io, sector, (uint32_t)count, off);
		if (!r)
			return false;
		st->split_off += vhd_sectors_to_bytes(count);
		if (!vhd_is_dynamic(&l->f) && write)
			vhd_write(l, r, vhd_sectors_to_bytes(sector), vhd_piece_done);
		else if (!vhd_is_dynamic(&l->f))
			vhd_read(l, r, vhd_sectors_to_bytes(sector), vhd_piece_done);
		else if (write)
			vhd_write_piece(l, r);
		else
			read_piece(l, r);
	}
	return true;
}

/* Starts a guest I/O, or carries on with one that waited: false when it must wait (again) for
 * pieces. */
static bool io_start(struct vhd_layer *l, struct td_io *io)
{
	struct vreq *f;

	if (io->op != TD_IO_FLUSH)
		return rw_split(l, io);
	f = piece_get(l, io, 0, 0, 0);
	if (!f)
		return false;
	meta_flush(l, f);
	return true;
}

/* Waits, holding a reference, in arrival order. */
static void io_starve(struct vhd_layer *l, struct td_io *io)
{
	vio_get(io);
	io->next = NULL;
	if (l->starved_tail)
		l->starved_tail->next = io;
	else
		l->starved_head = io;
	l->starved_tail = io;
}

/* From the loop (l->resume), when pieces or allocations came back. */
static void resume_waiters(struct vreq *n, int res)
{
	struct vhd_layer *l = n->layer;
	struct td_io *io;
	struct vreq *r;

	l->resume_queued = false;
	/* writes holding pieces first: what they wait for frees pieces for the others */
	while ((r = l->alloc_wait) && l->free_allocs) {
		l->alloc_wait = r->next;
		if (!l->alloc_wait)
			l->alloc_wait_tail = NULL;
		vhd_write_piece(l, r);
	}
	while ((io = l->starved_head)) {
		if (!io_start(l, io))
			break;
		l->starved_head = io->next;
		if (!l->starved_head)
			l->starved_tail = NULL;
		vio_release(l, io);
	}
	/* the engine starts what this queued once this completion batch is reaped */
}

static void vhd_submit(struct td_image *img, struct td_io *io)
{
	struct vhd_layer *l = img->priv;
	struct vio_state *st = vio_state(io);
	uint64_t bytes = io_bytes(io);

	st->pending = 1;
	st->err = 0;
	st->layer = l;
	st->split_off = 0;
	switch (io->op) {
	case TD_IO_WRITE:
		if (!l->writable) {
			st->err = -EROFS;
			break;
		}
		/* fall through */
	case TD_IO_READ:
		if (bytes % VHD_SECTOR_SIZE || io->sector > img->info.sectors ||
		    bytes / VHD_SECTOR_SIZE > img->info.sectors - io->sector) {
			st->err = -EINVAL;
			break;
		}
		/* fall through */
	case TD_IO_FLUSH:
		if (l->starved_head || !io_start(l, io))
			io_starve(l, io);
		break;
	default:
		st->err = -EOPNOTSUPP;
		break;
	}
	vio_release(l, io);
}

static void vhd_kick(struct td_image *img)
{
	struct vhd_layer *l = img->priv;

	td_engine_kick(l->engine);
	if (l->kick_parent) {
		l->kick_parent = false;
		td_image_kick(img->parent);
	}
}

/* Completions may have forwarded reads to the parent: submit them. */
static void after_reap(void *arg)
{
	struct vhd_layer *l = arg;

	if (l->kick_parent) {
		l->kick_parent = false;
		td_image_kick(l->img->parent);
	}
}

/* Every file of the chain reads into the caller's buffers (a parent's read is forwarded with
 * them), so each registers the region. */
static void vhd_register_buffer(struct td_image *img, void *base, size_t len)
{
	struct vhd_layer *l = img->priv;

	td_engine_register_buffer(l->engine, base, len);
	td_image_register_buffer(img->parent, base, len);
}

static void vhd_register_page(struct td_image *img, uint32_t slot, void *addr)
{
	struct vhd_layer *l = img->priv;

	td_engine_register_page(l->engine, slot, addr);
	td_image_register_page(img->parent, slot, addr);
}

static int vhd_poll(struct td_image *img)
{
	struct vhd_layer *l = img->priv;
	int n = td_engine_poll(l->engine), p;

	if (n < 0)
		return n;
	if (img->parent) {
		p = td_image_poll(img->parent);
		if (p > 0)
			n += p;
	}
	return n;
}

static void vhd_info(const struct td_image *img, struct td_image_info *info)
{
	*info = img->info;
}

int td_vhd_stats(const struct td_image *img, struct td_vhd_stats *st)
{
	const struct vhd_layer *l;

	if (!img || img->ops != &td_driver_vhd || !img->priv)
		return -EINVAL;
	l = img->priv;
	*st = l->stats;
	return 0;
}

/* For `tap-ctl stats`: images[].driver_stats of each file of the chain, its engine's too. */
static int vhd_counters(const struct td_image *img, struct td_counter *out, int max)
{
	const struct vhd_layer *l = img->priv;
	const struct td_counter c[] = {
		{ "blocks_allocated", l->stats.blocks_allocated },
		{ "parent_reads", l->stats.parent_reads },
		{ "bitmap_hits", l->stats.bitmap_hits },
		{ "bitmap_misses", l->stats.bitmap_misses },
		{ "bitmap_writes", l->stats.bitmap_writes },
		{ "bat_writes", l->stats.bat_writes },
		{ "syncs", l->stats.syncs },
		{ "batmap_reads", l->stats.batmap_reads },
	};
	int n = 0;

	for (; n < max && n < (int)(sizeof(c) / sizeof(c[0])); n++)
		out[n] = c[n];
	return n + td_engine_counters(l->engine, out + n, max - n); /* then the file's engine's */
}

/* ---- open and close ------------------------------------------------------------------------- */

static void layer_free(struct vhd_layer *l)
{
	free(l->bat_disk);
	free(l->zero);
	free(l->bat_buf);
	free(l->meta_buf);
	free(l->pieces);
	free(l->vallocs);
	bcache_fini(&l->bc);
	free(l);
}

/* The layer's per-I/O state, made once: guest I/O pieces, block allocations (writable dynamic
 * layers), the steps of which one at a time is in flight. */
static int pools_init(struct vhd_layer *l)
{
	vreq_meta(&l->notify, l, NULL);
	vreq_meta(&l->resume, l, NULL);
	l->resume.fn = resume_waiters;
	l->pieces = calloc(VHD_PIECES, sizeof(*l->pieces));
	if (!l->pieces)
		return -ENOMEM;
	for (int i = VHD_PIECES - 1; i >= 0; i--) {
		l->pieces[i].r.next = l->free_pieces;
		l->free_pieces = &l->pieces[i].r;
	}
	if (l->writable && vhd_is_dynamic(&l->f)) {
		l->vallocs = calloc(VHD_ALLOCS, sizeof(*l->vallocs));
		if (!l->vallocs)
			return -ENOMEM;
		for (int i = VHD_ALLOCS - 1; i >= 0; i--) {
			l->vallocs[i].next = l->free_allocs;
			l->free_allocs = &l->vallocs[i];
		}
	}
	return 0;
}

/* Writes what close owes the file: the batmap and the trailing footer (synchronously: close is
 * not on the I/O path), through the library's own descriptor. */
static void layer_close_file(struct vhd_layer *l)
{
	int err;

	if (l->writable && vhd_is_dynamic(&l->f)) {
		/* the library's descriptor is buffered: drop pages our O_DIRECT writes made stale */
		posix_fadvise(l->f.fd, 0, 0, POSIX_FADV_DONTNEED);
		l->f.dirty = l->footer_dirty;
		l->f.batmap_dirty = l->batmap_dirty && l->f.has_batmap;
	}
	err = vhd_close(&l->f);
	if (err)
		rt_err("vhd: close: %s", l->f.err[0] ? l->f.err : strerror(-err));
}

static void vhd_close_img(struct td_image *img)
{
	struct vhd_layer *l = img->priv;

	if (!l)
		return;
	td_engine_close(l->engine); /* the kernel is done with the buffers after it */
	l->engine = NULL;
	layer_close_file(l);
	close(l->fd); /* the lock goes last: the footer is written under it */
	if (img->parent) {
		td_image_close(img->parent);
		free(img->parent);
		img->parent = NULL;
	}
	layer_free(l);
	img->priv = NULL;
}

/* A file of the chain becomes a layer: its own descriptor and I/O engine, its buffers. The
 * vhd_file (metadata and the library's descriptor) is the layer's from now on. */
static int layer_init(struct td_image *img, struct vhd_file *vf, bool writable, bool leaf,
		      unsigned int flags)
{
	enum image_lock_mode lock = image_lock_mode_of(flags);
	struct vhd_layer *l = calloc(1, sizeof(*l));
	bool direct;
	int err;

	if (!l) {
		vhd_close(vf);
		return -ENOMEM;
	}
	l->f = *vf;
	l->img = img;
	l->writable = writable;
	l->leaf = leaf;
	l->fd = -1;
	img->priv = l;
	img->info.sectors = l->f.footer.curr_size / VHD_SECTOR_SIZE;
	img->info.sector_size = 512;
	img->info.physical_sector_size = 512;
	img->info.readonly = !writable;
	img->info.discard = false;

	/* locked before anything is written (the footer repair below) */
	l->fd = image_lock_open(l->f.path, writable, lock, "vhd", &direct, img->why,
				sizeof(img->why));
	if (l->fd < 0) {
		err = l->fd;
		if (err != -EBUSY)
			rt_err("vhd: %s: %s", l->f.path, strerror(-err));
		goto fail_file;
	}
	err = pools_init(l);
	if (err)
		goto fail_fd;
	if (vhd_is_dynamic(&l->f)) {
		size_t bat = sizeof(uint32_t) *
			     (l->f.header.max_bat_entries ? l->f.header.max_bat_entries : 1);
		size_t zero = l->f.bitmap_bytes > VHD_ALIGN ? l->f.bitmap_bytes : VHD_ALIGN;
		size_t meta = vhd_round_up(vhd_sectors_to_bytes(l->f.batmap.size), VHD_ALIGN) +
			      2 * VHD_ALIGN;

		l->bat_disk = malloc(bat);
		err = -ENOMEM;
		if (!l->bat_disk || posix_memalign((void **)&l->zero, VHD_ALIGN, zero) ||
		    posix_memalign((void **)&l->bat_buf, VHD_ALIGN, VHD_ALIGN) ||
		    posix_memalign((void **)&l->meta_buf, VHD_ALIGN, meta))
			goto fail_fd;
		memcpy(l->bat_disk, l->f.bat, bat);
		memset(l->zero, 0, zero);
		err = bcache_init(&l->bc, VHD_BITMAP_CACHE, l->f.bitmap_bytes);
		if (err)
			goto fail_fd;
		/* After a crash the trailing footer may be missing (it was read from the copy at
		 * offset 0) and an allocation may have left the file longer than its blocks: put
		 * the footer back where it belongs before anything is allocated after it. */
		if (writable &&
		    (l->f.footer_from_copy ||
		     (!l->f.is_block && l->f.file_size != l->f.end_of_data + VHD_FOOTER_SIZE))) {
			rt_info("vhd: %s: %s; rewriting the footer", l->f.path,
				l->f.footer_from_copy ?
					"trailing footer missing (used the copy at offset 0)" :
					"file longer than its blocks");
			err = vhd_write_footers(&l->f);
			if (!err && fsync(l->f.fd) < 0)
				err = -errno;
			if (err) {
				rt_err("vhd: %s", l->f.err);
				goto fail_fd;
			}
		}
		l->alloc_end = l->f.end_of_data + (l->f.is_block ? 0 : VHD_FOOTER_SIZE);
	}
	err = td_engine_open(&l->engine, &(struct td_engine_conf){
						 .loop = img->loop,
						 .fd = l->fd,
						 .who = "vhd",
						 .backend = td_engine_backend_of(flags),
						 .after_reap = after_reap,
						 .arg = l,
					 });
	if (err) {
		rt_err("vhd: %s: I/O engine: %s", l->f.path, strerror(-err));
		goto fail_fd;
	}
	img->info.engine = td_engine_name(l->engine);
	return 0;
fail_fd:
	close(l->fd);
fail_file:
	l->f.dirty = l->f.batmap_dirty = false;
	vhd_close(&l->f);
	layer_free(l);
	img->priv = NULL;
	return err;
}

static int vhd_open_img(struct td_image *img, const char *path, unsigned int flags)
{
	bool writable = !(flags & TD_OPEN_RDONLY);
	/* what the parents inherit: read-only, the same locking and I/O engine */
	unsigned int pflags = TD_OPEN_RDONLY | (flags & (TD_OPEN_LOCK_MASK | TD_OPEN_ENGINE_MASK));
	struct td_image *cur = img;
	struct vhd_chain c;
	int err = 0, i, consumed = 0;

	if (!*path)
		return -EINVAL;
	err = vhd_chain_open(&c, path, writable ? VHD_OPEN_RDWR : VHD_OPEN_RDONLY);
	if (err) {
		/* lib/vhd's reason names the file it is about; name the leaf only if it does not */
		if (!strncmp(c.err, path, strlen(path)))
			rt_err("vhd: cannot open %s", c.err);
		else
			rt_err("vhd: cannot open %s: %s", path, c.err[0] ? c.err : strerror(-err));
		return err;
	}
	/* each file of the chain is one image, the leaf the caller's */
	for (i = 0; i < c.depth; i++) {
		if (i > 0) {
			struct td_image *p = calloc(1, sizeof(*p));

			if (!p) {
				err = -ENOMEM;
				break;
			}
			p->ops = &td_driver_vhd;
			p->loop = img->loop;
			p->flags = pflags;
			snprintf(p->name, sizeof(p->name), "vhd:%s", c.files[i].path);
			cur->parent = p;
			cur = p;
		}
		consumed = i + 1; /* the layer's now, or closed by layer_init */
		err = layer_init(cur, &c.files[i], writable && i == 0, i == 0, i ? pflags : flags);
		if (err) {
			if (cur != img) /* a parent's reason is the chain's */
				memcpy(img->why, cur->why, sizeof(img->why));
			break;
		}
	}
	if (!err && c.raw_path) {
		struct td_image *p = calloc(1, sizeof(*p));
		char name[sizeof(p->name)];

		snprintf(name, sizeof(name), "aio:%s", c.raw_path);
		err = p ? td_image_open(p, img->loop, name, pflags) : -ENOMEM;
		if (err) {
			if (p)
				memcpy(img->why, p->why, sizeof(img->why));
			rt_err("vhd: cannot open the raw parent %s: %s", c.raw_path,
			       strerror(-err));
			free(p);
		} else {
			cur->parent = p;
		}
	}
	if (err) {
		for (i = consumed; i < c.depth; i++)
			vhd_close(&c.files[i]);
		/* closes the layers made, and frees parent images (one whose layer failed too) */
		if (img->priv)
			vhd_close_img(img);
	}
	free(c.files);
	free(c.raw_path);
	if (c.raw_fd >= 0)
		close(c.raw_fd);
	return err;
}

const struct td_driver_ops td_driver_vhd = {
	.name = "vhd",
	.aliases = NULL,
	.open = vhd_open_img,
	.close = vhd_close_img,
	.submit = vhd_submit,
	.kick = vhd_kick,
	.info = vhd_info,
	.poll = vhd_poll,
	.counters = vhd_counters,
	.register_buffer = vhd_register_buffer,
	.register_page = vhd_register_page,
};
