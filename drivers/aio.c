/* The `aio` driver (blktap3's name for raw images; `raw` is an alias): a raw file or block
 * device through libaio with O_DIRECT, batched io_submit, completions read from the kernel's
 * completion ring in user space (woken by an eventfd in the loop, or polled). Flush is
 * IOCB_CMD_FDSYNC; discard punches a hole (files) or BLKDISCARD (devices). Opened through
 * image_lock_open: locked exclusively when writable, shared when read-only. */
#include <errno.h>
#include <fcntl.h>
#include <libaio.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "drivers/aio_ring.h"
#include "drivers/image_lock.h"
#include "ringtap/log.h"
#include "src/image.h"

_Static_assert(sizeof(struct iocb) <= sizeof(((struct td_io *)0)->drv), "iocb fits td_io");

#define AIO_DEPTH 1024
#define AIO_BATCH 128

struct aio_img {
	int fd;
	int efd;
	bool direct;
	bool blockdev;
	bool no_aio_fsync; /* the kernel refused IOCB_CMD_FDSYNC: fdatasync in the loop */
	io_context_t ctx;
	struct aio_ring_reader events; /* completions, from user space where the ring allows */
	unsigned int inflight;
	struct td_io *head, *tail; /* queued for the next io_submit */
	struct td_io *done_head, *done_tail; /* completed synchronously, reported from the loop */
	struct td_loop_file efile;
};

static const char *const aio_aliases[] = { "raw", NULL };

static void queue_push(struct td_io **head, struct td_io **tail, struct td_io *io)
{
	io->next = NULL;
	if (*tail)
		(*tail)->next = io;
	else
		*head = io;
	*tail = io;
}

static struct td_io *queue_pop(struct td_io **head, struct td_io **tail)
{
	struct td_io *io = *head;

	if (io) {
		*head = io->next;
		if (!*head)
			*tail = NULL;
	}
	return io;
}

static size_t io_bytes(const struct td_io *io)
{
	size_t n = 0;

	for (int i = 0; i < io->iovcnt; i++)
		n += io->iov[i].iov_len;
	return n;
}

/* Completes an I/O from the loop later (never from submit): queue it, wake the eventfd. */
static void complete_later(struct aio_img *a, struct td_io *io, int err)
{
	static const uint64_t one = 1;

	io->drv[0] = (uint64_t)(int64_t)err;
	queue_push(&a->done_head, &a->done_tail, io);
	if (write(a->efd, &one, sizeof(one)) < 0)
		rt_err("aio: eventfd write: %s", strerror(errno));
}

static int discard_range(struct aio_img *a, uint64_t off, uint64_t len)
{
	if (!len)
		return 0;
	if (a->blockdev) {
		uint64_t range[2] = { off, len };

		return ioctl(a->fd, BLKDISCARD, range) < 0 ? -errno : 0;
	}
	if (fallocate(a->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) < 0)
		return errno == EOPNOTSUPP || errno == ENOSYS ? -EOPNOTSUPP : -errno;
	return 0;
}

static void aio_kick(struct td_image *img);

/* Completes what has finished; returns how many I/Os completed. */
static int reap(struct aio_img *a)
{
	struct io_event ev[64];
	struct td_io *io;
	int n, i, total = 0;

	do {
		n = aio_ring_get_events(&a->events, ev, 64);
		for (i = 0; i < n; i++) {
			long res = (long)ev[i].res;
			int err = 0;

			io = ev[i].data;
			a->inflight--;
			if (res < 0)
				err = (int)res;
			else if (io->op != TD_OP_FLUSH && (size_t)res != io_bytes(io))
				err = -EIO; /* short transfer: the size was checked, so it is an error */
			io->done(io, err);
		}
		total += n;
	} while (n == 64);
	while ((io = queue_pop(&a->done_head, &a->done_tail))) {
		io->done(io, (int)(int64_t)io->drv[0]);
		total++;
	}
	return total;
}

/* The eventfd is edge-triggered and never read: every completion signals it, and every signal
 * is an edge for epoll (whatever the counter says), so one wake-up costs one epoll_wait and no
 * read(2). The counter only grows: 2^64 completions are out of reach. */
static void on_eventfd(struct td_loop *loop, int fd, uint32_t events, void *data)
{
	struct td_image *img = data;
	struct aio_img *a = img->priv;

	reap(a);
	if (a->head)
		aio_kick(img);
}

static int aio_open(struct td_image *img, const char *path, unsigned int flags)
{
	struct aio_img *a;
	struct stat st;
	int rc;

	if (!*path)
		return -EINVAL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->efd = -1;
	a->fd = image_lock_open(path, !(flags & TD_OPEN_RDONLY), image_lock_mode_of(flags), "aio",
				&a->direct, img->why, sizeof(img->why));
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

		a->blockdev = true;
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
	a->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (a->efd < 0) {
		rc = -errno;
		goto fail;
	}
	rc = io_setup(AIO_DEPTH, &a->ctx);
	if (rc < 0)
		goto fail;
	if (!aio_ring_reader_init(&a->events, a->ctx, "aio"))
		rt_warn("aio: unknown completion ring layout; completions through io_getevents");
	img->priv = a;
	rc = td_loop_file_add(img->loop, &a->efile, a->efd, EPOLLIN | EPOLLET, on_eventfd, img);
	if (rc < 0) {
		io_destroy(a->ctx);
		goto fail;
	}
	return 0;
fail:
	if (a->efd >= 0)
		close(a->efd);
	if (a->fd >= 0)
		close(a->fd);
	free(a);
	img->priv = NULL;
	return rc;
}

static void aio_close(struct td_image *img)
{
	struct aio_img *a = img->priv;
	struct timespec ts = { 1, 0 };
	struct io_event ev[64];

	if (!a)
		return;
	/* The owner drains before closing; should it not have, wait for the kernel to finish with
	 * the buffers rather than free them under it. */
	while (a->inflight) {
		int n = io_getevents(a->ctx, 1, 64, ev, &ts);

		if (n <= 0)
			break;
		a->inflight -= n;
	}
	td_loop_file_del(img->loop, &a->efile);
	io_destroy(a->ctx);
	close(a->efd);
	close(a->fd);
	free(a);
	img->priv = NULL;
}

static void aio_submit(struct td_image *img, struct td_io *io)
{
	struct aio_img *a = img->priv;
	struct iocb *cb = (struct iocb *)io->drv;
	long long off = (long long)(io->sector << TD_SECTOR_SHIFT);

	switch (io->op) {
	case TD_OP_READ:
		io_prep_preadv(cb, a->fd, io->iov, io->iovcnt, off);
		break;
	case TD_OP_WRITE:
		io_prep_pwritev(cb, a->fd, io->iov, io->iovcnt, off);
		break;
	case TD_OP_FLUSH:
		if (a->no_aio_fsync) {
			complete_later(a, io, fdatasync(a->fd) < 0 ? -errno : 0);
			return;
		}
		io_prep_fdsync(cb, a->fd);
		break;
	case TD_OP_DISCARD:
		complete_later(a, io,
			       discard_range(a, io->sector << TD_SECTOR_SHIFT,
					     io->nr_sectors << TD_SECTOR_SHIFT));
		return;
	default:
		complete_later(a, io, -EOPNOTSUPP);
		return;
	}
	cb->data = io;
	io_set_eventfd(cb, a->efd);
	queue_push(&a->head, &a->tail, io);
}

static void aio_kick(struct td_image *img)
{
	struct aio_img *a = img->priv;
	struct iocb *cbs[AIO_BATCH];
	struct td_io *io;
	int n, rc;

	while (a->head && a->inflight < AIO_DEPTH) {
		n = 0;
		for (io = a->head; io && n < AIO_BATCH && a->inflight + n < AIO_DEPTH; io = io->next)
			cbs[n++] = (struct iocb *)io->drv;
		rc = io_submit(a->ctx, n, cbs);
		if (rc == -EAGAIN || rc == 0)
			return; /* retried when completions free room */
		if (rc < 0) {
			/* The first iocb was refused: fail it alone and go on with the rest. */
			io = queue_pop(&a->head, &a->tail);
			if (io->op == TD_OP_FLUSH && rc == -EINVAL && !a->no_aio_fsync) {
				rt_warn("aio: kernel refuses IOCB_CMD_FDSYNC; flushing with fdatasync");
				a->no_aio_fsync = true;
				complete_later(a, io, fdatasync(a->fd) < 0 ? -errno : 0);
			} else {
				complete_later(a, io, rc);
			}
			continue;
		}
		a->inflight += rc;
		while (rc--)
			queue_pop(&a->head, &a->tail);
	}
}

/* Adaptive polling: completions straight from the ring, no system call (the eventfd keeps
 * counting them: the loop reads it once when it next wakes). */
static int aio_poll(struct td_image *img)
{
	struct aio_img *a = img->priv;
	int n;

	if (!aio_ring_reader_user(&a->events))
		return -EOPNOTSUPP;
	if (!a->inflight && !a->done_head)
		return 0;
	n = reap(a);
	if (n && a->head)
		aio_kick(img);
	return n;
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
};
