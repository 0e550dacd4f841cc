/* The /dev/shm statistics of a connected ring, as blktap3's tapdisk publishes them for XAPI's
 * rrdp-iostat and xen-ringwatch:
 *   td3-<pid>/vbd-<domid>-<devid>    one page: struct td3_page below (tapdisk-metrics.h)
 *   vbd3-<domid>-<devid>/statistics  one page: struct blkback_page below (blktap3.h's
 *                                    blkback_stats, what older rrdp-iostat read there)
 *   vbd3-<domid>-<devid>/io_ring     the ring's indexes as text (written as io_ring~, then
 *                                    renamed, as blktap3 does)
 * rrdp-iostat notices the vbd3-* directory (inotify), reads kthread-pid from xenstore and maps
 * td3-<pid>/vbd-*: so the td3 page exists before the directory appears. All little-endian. */
#include <endian.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ringtap/log.h"
#include "src/blkif_req.h"
#include "src/daemon.h"

#define SHM_PAGE 4096
#define TD3_VERSION 1
#define BT3_LOW_MEMORY_MODE 0x1 /* flags: never set, ringtap has no low-memory mode */
#define IO_RING_PERIOD_NS 1000000000ull

struct td3_page {
	uint32_t version;
	uint32_t pad;
	uint64_t oo_reqs; /* requests that waited for buffers */
	uint64_t read_reqs_submitted, read_reqs_completed, read_sectors, read_total_ticks;
	uint64_t write_reqs_submitted, write_reqs_completed, write_sectors, write_total_ticks;
	uint64_t io_errors;
	uint64_t flags;
};
_Static_assert(offsetof(struct td3_page, oo_reqs) == 8, "td3 layout");
_Static_assert(sizeof(struct td3_page) == 96, "td3 layout");

struct blkback_page {
	uint64_t st_ds_req, st_f_req, st_oo_req;
	uint64_t st_rd_req, st_rd_cnt, st_rd_sect, st_rd_sum_usecs, st_rd_max_usecs;
	uint64_t st_wr_req, st_wr_cnt, st_wr_sect, st_wr_sum_usecs, st_wr_max_usecs;
	uint64_t flags;
};
_Static_assert(sizeof(struct blkback_page) == 112, "blkback_stats layout");

/* Stores that the reader may see half-done, as blktap3's: each field is one aligned store. */
#define PUT(field, value) __atomic_store_n(&(field), htole64(value), __ATOMIC_RELAXED)

static void write_pages(struct td_shm_stats *sh, const struct td_ring_stats *s)
{
	const struct td_op_stats *rd = &s->ops[TD_OP_READ], *wr = &s->ops[TD_OP_WRITE];
	struct td3_page *p = sh->td3;
	struct blkback_page *b = sh->blkback;

	PUT(p->oo_reqs, s->pool_stalls);
	PUT(p->read_reqs_submitted, s->reads);
	PUT(p->read_reqs_completed, rd->completed);
	PUT(p->read_sectors, s->bytes_read >> TD_SECTOR_SHIFT);
	PUT(p->read_total_ticks, rd->total_us);
	PUT(p->write_reqs_submitted, s->writes);
	PUT(p->write_reqs_completed, wr->completed);
	PUT(p->write_sectors, s->bytes_written >> TD_SECTOR_SHIFT);
	PUT(p->write_total_ticks, wr->total_us);
	PUT(p->io_errors, s->io_errors);

	PUT(b->st_ds_req, s->discards);
	PUT(b->st_f_req, s->flushes + s->barriers);
	PUT(b->st_oo_req, s->pool_stalls);
	PUT(b->st_rd_req, s->reads);
	PUT(b->st_rd_cnt, rd->completed);
	PUT(b->st_rd_sect, s->bytes_read >> TD_SECTOR_SHIFT);
	PUT(b->st_rd_sum_usecs, rd->total_us);
	PUT(b->st_rd_max_usecs, rd->max_us);
	PUT(b->st_wr_req, s->writes);
	PUT(b->st_wr_cnt, wr->completed);
	PUT(b->st_wr_sect, s->bytes_written >> TD_SECTOR_SHIFT);
	PUT(b->st_wr_sum_usecs, wr->total_us);
	PUT(b->st_wr_max_usecs, wr->max_us);
}

static int write_io_ring(int fd, const struct td_ring_indexes *x)
{
	char text[256];
	int n = snprintf(text, sizeof(text),
			 "nr_ents %u\nreq prod %u cons %u event %u\nrsp prod %u pvt %u event %u\n",
			 x->nr_ents, x->req_prod, x->req_cons, x->req_event, x->rsp_prod,
			 x->rsp_prod_pvt, x->rsp_event);

	if (pwrite(fd, text, (size_t)n, 0) != n || ftruncate(fd, n) < 0)
		return -errno;
	return 0;
}

/* Before the loop sleeps: publish what completed since the last look. */
static bool shm_hook(struct td_loop *loop, void *data)
{
	struct td_minor *v = data;
	struct td_ring_stats s;
	uint64_t now;

	if (td_vbd_stats(v->vbd, 0, &s))
		return false;
	if (s.requests + s.responses != v->shm.published) {
		v->shm.published = s.requests + s.responses;
		write_pages(&v->shm, &s);
	}
	now = td_loop_now_ns();
	if (now >= v->shm.next_ring_ns) {
		v->shm.next_ring_ns = now + IO_RING_PERIOD_NS;
		write_io_ring(v->shm.io_ring_fd, &s.idx);
	}
	return false;
}

/* A zeroed shared page at path, mapped. */
static int map_page(const char *path, void **out)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600), err;
	void *p;

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, SHM_PAGE) < 0) {
		err = -errno;
		close(fd);
		unlink(path);
		return err;
	}
	p = mmap(NULL, SHM_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	err = p == MAP_FAILED ? -errno : 0;
	close(fd);
	if (err) {
		unlink(path);
		return err;
	}
	*out = p;
	return 0;
}

static int make_dir(const char *path)
{
	return mkdir(path, 0700) < 0 && errno != EEXIST ? -errno : 0;
}

static int fits(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fits(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int td_shm_stats_create(struct td_minor *v)
{
	struct td_daemon *d = v->d;
	struct td_shm_stats *sh = &v->shm;
	char path[320], tmp[320];
	int err;

	if (!d->td3_dir[0]) {
		err = fits(d->td3_dir, sizeof(d->td3_dir), "%s/td3-%d", d->shm_root, (int)getpid());
		if (!err)
			err = make_dir(d->td3_dir);
		if (err) {
			d->td3_dir[0] = '\0';
			return err;
		}
	}
	err = fits(sh->page, sizeof(sh->page), "%s/vbd-%u-%u", d->td3_dir, v->ring.domid,
		   v->ring.devid);
	if (!err)
		err = map_page(sh->page, &sh->td3);
	if (err) {
		sh->page[0] = '\0';
		return err;
	}
	((struct td3_page *)sh->td3)->version = htole32(TD3_VERSION);
	err = fits(sh->dir, sizeof(sh->dir), "%s/vbd3-%u-%u", d->shm_root, v->ring.domid,
		   v->ring.devid);
	if (!err)
		err = make_dir(sh->dir);
	if (err) {
		sh->dir[0] = '\0';
		goto fail;
	}
	snprintf(path, sizeof(path), "%s/statistics", sh->dir);
	err = map_page(path, &sh->blkback);
	if (err)
		goto fail;
	snprintf(tmp, sizeof(tmp), "%s/io_ring~", sh->dir);
	snprintf(path, sizeof(path), "%s/io_ring", sh->dir);
	sh->io_ring_fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (sh->io_ring_fd < 0) {
		err = -errno;
		goto fail;
	}
	sh->published = UINT64_MAX;
	sh->next_ring_ns = 0;
	shm_hook(&d->loop, v); /* filled before the reader can find it */
	if (rename(tmp, path) < 0) {
		err = -errno;
		unlink(tmp);
		goto fail;
	}
	td_loop_hook_add(&d->loop, &sh->hook, shm_hook, v);
	return 0;
fail:
	td_shm_stats_destroy(v);
	return err;
}

void td_shm_stats_destroy(struct td_minor *v)
{
	struct td_shm_stats *sh = &v->shm;
	char path[320];

	if (sh->hook.fn) {
		td_loop_hook_del(&v->d->loop, &sh->hook);
		sh->hook.fn = NULL;
	}
	if (sh->io_ring_fd >= 0)
		close(sh->io_ring_fd);
	sh->io_ring_fd = -1;
	if (sh->blkback)
		munmap(sh->blkback, SHM_PAGE);
	sh->blkback = NULL;
	if (sh->dir[0]) {
		snprintf(path, sizeof(path), "%s/io_ring", sh->dir);
		unlink(path);
		snprintf(path, sizeof(path), "%s/statistics", sh->dir);
		unlink(path);
		if (rmdir(sh->dir) < 0 && errno != ENOENT)
			rt_warn("cannot remove %s: %s", sh->dir, strerror(errno));
		sh->dir[0] = '\0';
	}
	if (sh->td3)
		munmap(sh->td3, SHM_PAGE);
	sh->td3 = NULL;
	if (sh->page[0])
		unlink(sh->page);
	sh->page[0] = '\0';
}

void td_shm_stats_cleanup(struct td_daemon *d)
{
	if (d->td3_dir[0] && rmdir(d->td3_dir) < 0 && errno != ENOENT)
		rt_warn("cannot remove %s: %s", d->td3_dir, strerror(errno));
	d->td3_dir[0] = '\0';
}
