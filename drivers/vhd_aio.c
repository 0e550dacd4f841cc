/* libaio for the vhd driver: batched io_submit, completions read from the kernel's completion
 * ring in user space (the same ring reader as drivers/aio.c), an eventfd to wake the loop. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "drivers/vhd_aio.h"
#include "ringtap/log.h"

#define VAIO_DEPTH 512
#define VAIO_BATCH 128

struct vreq *vreq_new(int iovcnt)
{
	struct vreq *r = calloc(1, sizeof(*r) + (size_t)iovcnt * sizeof(struct iovec));

	if (r)
		r->iovcnt = iovcnt;
	return r;
}

void vreq_free(struct vreq *r)
{
	free(r);
}

static void queue_push(struct vreq **head, struct vreq **tail, struct vreq *r)
{
	r->next = NULL;
	if (*tail)
		(*tail)->next = r;
	else
		*head = r;
	*tail = r;
}

static struct vreq *queue_pop(struct vreq **head, struct vreq **tail)
{
	struct vreq *r = *head;

	if (r) {
		*head = r->next;
		if (!*head)
			*tail = NULL;
	}
	return r;
}

static void wake(struct vaio *a)
{
	static const uint64_t one = 1;

	if (write(a->efd, &one, sizeof(one)) < 0)
		rt_err("vhd: eventfd write: %s", strerror(errno));
}

void vaio_complete_later(struct vaio *a, struct vreq *r, int res)
{
	r->res = res;
	queue_push(&a->fail_head, &a->fail_tail, r);
	wake(a);
}

static int reap(struct vaio *a)
{
	struct io_event ev[64];
	struct vreq *r;
	int n, total = 0;

	do {
		n = aio_ring_get_events(&a->events, ev, 64);
		for (int i = 0; i < n; i++) {
			long res = (long)ev[i].res;

			r = ev[i].data;
			a->inflight--;
			if (res < 0)
				r->res = (int)res;
			else
				r->res = (size_t)res == r->len ? 0 : -EIO;
			r->fn(r, r->res);
		}
		total += n;
	} while (n == 64);
	while ((r = queue_pop(&a->fail_head, &a->fail_tail))) {
		r->fn(r, r->res);
		total++;
	}
	if (total && a->after_reap)
		a->after_reap(a->arg);
	return total;
}

static void on_eventfd(struct td_loop *loop, int fd, uint32_t events, void *data)
{
	struct vaio *a = data;
	uint64_t cnt;

	if (read(fd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
		rt_err("vhd: eventfd read: %s", strerror(errno));
	reap(a);
	vaio_kick(a);
}

int vaio_init(struct vaio *a, struct td_loop *loop, int fd, void (*after_reap)(void *arg),
	      void *arg)
{
	int rc;

	memset(a, 0, sizeof(*a));
	a->fd = fd;
	a->loop = loop;
	a->after_reap = after_reap;
	a->arg = arg;
	a->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (a->efd < 0)
		return -errno;
	rc = io_setup(VAIO_DEPTH, &a->ctx);
	if (rc < 0) {
		close(a->efd);
		return rc;
	}
	aio_ring_reader_init(&a->events, a->ctx, "vhd");
	rc = td_loop_file_add(loop, &a->efile, a->efd, EPOLLIN, on_eventfd, a);
	if (rc < 0) {
		io_destroy(a->ctx);
		close(a->efd);
		return rc;
	}
	return 0;
}

void vaio_fini(struct vaio *a)
{
	struct timespec ts = { 1, 0 };
	struct io_event ev[64];

	/* never free buffers the kernel may still write into */
	while (a->inflight) {
		int n = io_getevents(a->ctx, 1, 64, ev, &ts);

		if (n <= 0)
			break;
		a->inflight -= (unsigned int)n;
	}
	td_loop_file_del(a->loop, &a->efile);
	io_destroy(a->ctx);
	close(a->efd);
}

static void prep(struct vaio *a, struct vreq *r, vreq_fn fn, size_t len)
{
	r->fn = fn;
	r->len = len;
	r->res = 0;
	r->cb.data = r;
	io_set_eventfd(&r->cb, a->efd);
	queue_push(&a->head, &a->tail, r);
}

static size_t iov_len(const struct vreq *r)
{
	size_t n = 0;

	for (int i = 0; i < r->iovcnt; i++)
		n += r->iov[i].iov_len;
	return n;
}

void vaio_read(struct vaio *a, struct vreq *r, uint64_t off, vreq_fn fn)
{
	io_prep_preadv(&r->cb, a->fd, r->iov, r->iovcnt, (long long)off);
	prep(a, r, fn, iov_len(r));
}

void vaio_write(struct vaio *a, struct vreq *r, uint64_t off, vreq_fn fn)
{
	io_prep_pwritev(&r->cb, a->fd, r->iov, r->iovcnt, (long long)off);
	prep(a, r, fn, iov_len(r));
}

void vaio_write_buf(struct vaio *a, struct vreq *r, void *buf, size_t len, uint64_t off, vreq_fn fn)
{
	r->iov[0].iov_base = buf;
	r->iov[0].iov_len = len;
	r->iovcnt = 1;
	vaio_write(a, r, off, fn);
}

void vaio_fdsync(struct vaio *a, struct vreq *r, vreq_fn fn)
{
	if (a->no_aio_fsync) {
		r->fn = fn;
		vaio_complete_later(a, r, fdatasync(a->fd) < 0 ? -errno : 0);
		return;
	}
	io_prep_fdsync(&r->cb, a->fd);
	prep(a, r, fn, 0);
}

void vaio_kick(struct vaio *a)
{
	struct iocb *cbs[VAIO_BATCH];
	struct vreq *r;
	int n, rc;

	while (a->head && a->inflight < VAIO_DEPTH) {
		n = 0;
		for (r = a->head; r && n < VAIO_BATCH && a->inflight + (unsigned int)n < VAIO_DEPTH;
		     r = r->next)
			cbs[n++] = &r->cb;
		rc = io_submit(a->ctx, n, cbs);
		if (rc == -EAGAIN || rc == 0)
			return; /* retried when completions free room */
		if (rc < 0) {
			/* the first iocb was refused: fail it alone and go on with the rest */
			r = queue_pop(&a->head, &a->tail);
			if (r->cb.aio_lio_opcode == IO_CMD_FDSYNC && rc == -EINVAL &&
			    !a->no_aio_fsync) {
				rt_warn("vhd: kernel refuses IOCB_CMD_FDSYNC; flushing with "
					"fdatasync");
				a->no_aio_fsync = true;
				vaio_complete_later(a, r, fdatasync(a->fd) < 0 ? -errno : 0);
			} else {
				vaio_complete_later(a, r, rc);
			}
			continue;
		}
		a->inflight += (unsigned int)rc;
		while (rc--)
			queue_pop(&a->head, &a->tail);
	}
}

int vaio_poll(struct vaio *a)
{
	int n;

	if (!aio_ring_reader_user(&a->events))
		return -EOPNOTSUPP;
	if (!a->inflight && !a->fail_head)
		return 0;
	n = reap(a);
	vaio_kick(a);
	return n;
}
