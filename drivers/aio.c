/* The `aio` driver (blktap3's name for raw images; `raw` is an alias): a raw file or block
 * device with O_DIRECT through the I/O engine (engine.h: batched submission, completions reaped
 * in user space while polling or woken in the loop). Flush is an engine fsync; discard an engine
 * discard (a punched hole on files, BLKDISCARD on devices). Opened through image_lock_open: locked exclusively
 * when writable, shared when read-only. */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "drivers/engine.h"
#include "drivers/image_lock.h"
#include "ringtap/driver.h"
#include "ringtap/log.h"

_Static_assert(sizeof(struct td_engine_req) <= sizeof(((struct td_io *)0)->drv),
	       "an engine request fits in td_io's driver space");

struct aio_img {
	int fd;
	struct td_engine *engine;
};

static const char *const aio_aliases[] = { "raw", NULL };

/* Each td_io carries its engine request in its driver space: no allocation per I/O. */
static struct td_engine_req *io_req(struct td_io *io)
{
	return (struct td_engine_req *)io->drv;
}

static void io_done(struct td_engine_req *req, int res)
{
	struct td_io *io = (struct td_io *)((char *)req - offsetof(struct td_io, drv));

	io->done(io, res);
}

static int aio_open(struct td_image *img, const char *path, unsigned int flags)
{
	struct aio_img *a;
	struct stat st;
	bool direct;
	int rc;

	if (!*path)
		return -EINVAL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->fd = image_lock_open(path, !(flags & TD_OPEN_RDONLY), image_lock_mode_of(flags), "aio",
				&direct, img->why, sizeof(img->why));
	if (a->fd < 0) {
		rc = a->fd;
		goto fail;
	}
	if (fstat(a->fd, &st) < 0) {
		rc = -errno;
		goto fail;
	}
	img->info.sector_size = 512;
	img->info.readonly = flags & TD_OPEN_RDONLY;
	img->info.discard = true;
	if (S_ISBLK(st.st_mode)) {
		uint64_t bytes;
		unsigned int pbs = 512;

		if (ioctl(a->fd, BLKGETSIZE64, &bytes) < 0) {
			rc = -errno;
			goto fail;
		}
		if (ioctl(a->fd, BLKPBSZGET, &pbs) < 0)
			pbs = 512;
		img->info.sectors = bytes >> TD_SECTOR_SHIFT;
		img->info.physical_sector_size = pbs;
		img->info.discard_granularity = pbs;
	} else if (S_ISREG(st.st_mode)) {
		img->info.sectors = (uint64_t)st.st_size >> TD_SECTOR_SHIFT;
		img->info.physical_sector_size = 512;
		img->info.discard_granularity = 4096;
	} else {
		rc = -EINVAL;
		goto fail;
	}
	rc = td_engine_open(&a->engine, &(struct td_engine_conf){
						.loop = img->loop,
						.fd = a->fd,
						.who = "aio",
						.backend = td_engine_backend_of(flags),
					});
	if (rc < 0)
		goto fail;
	img->info.engine = td_engine_name(a->engine);
	img->priv = a;
	return 0;
fail:
	if (a->fd >= 0)
		close(a->fd);
	free(a);
	img->priv = NULL;
	return rc;
}

static void aio_close(struct td_image *img)
{
	struct aio_img *a = img->priv;

	if (!a)
		return;
	td_engine_close(a->engine); /* the kernel is done with the buffers after it */
	close(a->fd);
	free(a);
	img->priv = NULL;
}

static void aio_submit(struct td_image *img, struct td_io *io)
{
	struct aio_img *a = img->priv;
	struct td_engine_req *req = io_req(io);
	uint64_t off = io->sector << TD_SECTOR_SHIFT;

	switch (io->op) {
	case TD_IO_READ:
		td_engine_read(a->engine, req, io->iov, io->iovcnt, off, io_done);
		break;
	case TD_IO_WRITE:
		td_engine_write(a->engine, req, io->iov, io->iovcnt, off, io_done);
		break;
	case TD_IO_FLUSH:
		td_engine_fsync(a->engine, req, io_done);
		break;
	case TD_IO_DISCARD:
		td_engine_discard(a->engine, req, off, io->nr_sectors << TD_SECTOR_SHIFT, io_done);
		break;
	default:
		req->done = io_done;
		td_engine_complete_later(a->engine, req, -EOPNOTSUPP);
		break;
	}
}

static void aio_kick(struct td_image *img)
{
	struct aio_img *a = img->priv;

	td_engine_kick(a->engine);
}

/* Adaptive polling: completions straight from the kernel's ring, no system call. */
static int aio_poll(struct td_image *img)
{
	struct aio_img *a = img->priv;

	return td_engine_poll(a->engine);
}

/* The caller's buffer region: a fixed buffer of the engine when the backend can (engine.h). */
static void aio_register_buffer(struct td_image *img, void *base, size_t len)
{
	struct aio_img *a = img->priv;

	td_engine_register_buffer(a->engine, base, len);
}

static void aio_register_page(struct td_image *img, uint32_t slot, void *addr)
{
	struct aio_img *a = img->priv;

	td_engine_register_page(a->engine, slot, addr);
}

/* For `tap-ctl stats`: the engine's counters (images[].driver_stats). */
static int aio_counters(const struct td_image *img, struct td_counter *out, int max)
{
	const struct aio_img *a = img->priv;

	return td_engine_counters(a->engine, out, max);
}

static void aio_info(const struct td_image *img, struct td_image_info *info)
{
	*info = img->info;
}

const struct td_driver_ops td_driver_aio = {
	.name = "aio",
	.aliases = aio_aliases,
	.open = aio_open,
	.close = aio_close,
	.submit = aio_submit,
	.kick = aio_kick,
	.info = aio_info,
	.poll = aio_poll,
	.register_buffer = aio_register_buffer,
	.register_page = aio_register_page,
	.counters = aio_counters,
};
