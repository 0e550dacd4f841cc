/* The I/O engine (engine.h): queues, batching, reaping, later completions and the drain, the
 * same for every backend; the backend only talks to the kernel. */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "drivers/engine.h"
#include "ringtap/driver.h"
#include "ringtap/log.h"
#include "src/loop.h"

extern const struct td_engine_ops td_engine_libaio;
#ifdef HAVE_LIBURING
extern const struct td_engine_ops td_engine_io_uring;
#endif

/* `auto` tries them in this order. */
const struct td_engine_ops *const td_engine_backends[] = {
#ifdef HAVE_LIBURING
	&td_engine_io_uring,
#endif
	&td_engine_libaio,
	NULL,
};

#define NBACKENDS (sizeof(td_engine_backends) / sizeof(td_engine_backends[0]) - 1)

struct td_engine {
	const struct td_engine_ops *ops;
	void *backend;
	struct td_loop *loop;
	int fd;
	int efd;
	struct td_loop_file efile;
	struct td_loop_timer retry; /* the kernel had no room and nothing was in flight */
	struct td_loop_timer flush; /* submits a partial batch at the end of the loop iteration */
	struct td_engine_tuning tuning;
	unsigned int depth;
	unsigned int batch; /* requests per submission; 0: whatever is queued, at once */
	unsigned int queued; /* in the submission queue (head) */
	bool flush_armed, flushing;
	unsigned int inflight; /* given to the backend, not reaped */
	bool no_fsync; /* the kernel refused an fsync request: fdatasync in the loop */
	bool blockdev; /* the file is a block device (discard: BLKDISCARD) */
	struct iovec *rest; /* the remainder of a short transfer, as it is resubmitted */
	int rest_cap;
	bool reap_failed_logged;
	struct td_engine_req *head, *tail; /* waiting to be submitted */
	struct td_engine_req *later_head, *later_tail; /* completed without the kernel */
	void (*after_reap)(void *arg);
	void *arg;
	const char *who;
};

static void queue_push(struct td_engine_req **head, struct td_engine_req **tail,
		       struct td_engine_req *r)
{
	r->next = NULL;
	if (*tail)
		(*tail)->next = r;
	else
		*head = r;
	*tail = r;
}

static struct td_engine_req *queue_pop(struct td_engine_req **head, struct td_engine_req **tail)
{
	struct td_engine_req *r = *head;

	if (r) {
		*head = r->next;
		if (!*head)
			*tail = NULL;
	}
	return r;
}

void td_engine_complete_later(struct td_engine *e, struct td_engine_req *r, int res)
{
	static const uint64_t one = 1;

	r->res = res;
	queue_push(&e->later_head, &e->later_tail, r);
	if (write(e->efd, &one, sizeof(one)) < 0)
		rt_err("%s: eventfd write: %s", e->who, strerror(errno));
}

/* Reaping failed: the requests in flight stay the kernel's (their buffers may still be written:
 * failing them would hand those buffers back), so they wait for a reap that works; polling
 * stops spinning on this engine (td_engine_poll returns the error) and the loop retries at
 * its next wake-up. Said once per engine. */
static void reap_failed(struct td_engine *e, int err)
{
	if (e->reap_failed_logged)
		return;
	e->reap_failed_logged = true;
	rt_err("%s: cannot read completions: %s (%u I/Os in flight wait for them)", e->who,
	       strerror(-err), e->inflight);
}

/*
 * A completion from the kernel. A read or write that moved less than asked (a signal, a file
 * system's limit, a device's) but something is resubmitted for the rest, first in the queue;
 * one that moved nothing more (the end of the file) is -EIO. -EAGAIN (the kernel or device
 * had no room for it at the time) is resubmitted, behind what is queued, a few times. Whether
 * done ran.
 */
static bool completed(struct td_engine *e, struct td_engine_req *r, long res)
{
	if (res == -EAGAIN && r->tries < TD_ENGINE_EAGAIN_TRIES) {
		r->tries++;
		queue_push(&e->head, &e->tail, r);
		e->queued++;
		return false;
	}
	if (res >= 0 && (r->op == TD_ENGINE_READ || r->op == TD_ENGINE_WRITE)) {
		size_t left = r->len - r->moved;

		if (res > 0 && (size_t)res < left) {
			r->moved += (uint32_t)res;
			r->next = e->head;
			e->head = r;
			if (!e->tail)
				e->tail = r;
			e->queued++;
			return false;
		}
		res = (size_t)res == left ? 0 : -EIO;
	} else if (res > 0) {
		res = 0;
	}
	r->res = (int)res;
	r->done(r, r->res);
	return true;
}

/* Completes what has finished: how many, or -errno when nothing completed because reaping
 * failed. */
static int reap(struct td_engine *e)
{
	struct td_engine_cqe cqe[TD_ENGINE_REAP];
	struct td_engine_req *r;
	int n, total = 0, err = 0;

	do {
		n = e->ops->reap(e, cqe, TD_ENGINE_REAP, false);
		if (n < 0) {
			reap_failed(e, n);
			err = n;
			break;
		}
		for (int i = 0; i < n; i++) {
			e->inflight--;
			total += completed(e, cqe[i].req, cqe[i].res);
		}
	} while (n == TD_ENGINE_REAP);
	while ((r = queue_pop(&e->later_head, &e->later_tail))) {
		r->done(r, r->res);
		total++;
	}
	if (total && e->after_reap)
		e->after_reap(e->arg);
	return total ? total : err;
}

/*
 * The eventfd is edge-triggered and never read: every completion signals it and every signal is
 * an edge for epoll (whatever the counter says), so a wake-up costs one epoll_wait and no
 * read(2), and completions polled from user space meanwhile cost nothing more. Level-triggered
 * would need a read per wake-up to stop epoll from reporting it again. The counter only grows:
 * 2^64 completions are out of reach.
 */
static void on_eventfd(struct td_loop *loop, int fd, uint32_t events, void *data)
{
	struct td_engine *e = data;

	reap(e);
	td_engine_kick(e);
}

/* Sets e up on ops: 0 or -errno. */
static int engine_start(struct td_engine *e, const struct td_engine_ops *ops)
{
	int rc;

	e->ops = ops;
	e->batch = 0; /* the backend's setup may set one */
	rc = ops->setup(e, e->fd, e->efd, e->depth);
	if (rc < 0)
		return rc;
	rc = td_loop_file_add(e->loop, &e->efile, e->efd, EPOLLIN | EPOLLET, on_eventfd, e);
	if (rc < 0)
		ops->teardown(e);
	return rc;
}

/* Why a kernel refuses a backend, for the log. */
static const char *refusal_hint(int err)
{
	switch (err) {
	case -EPERM:
		return " (kernel.io_uring_disabled, or a seccomp filter)";
	case -ENOSYS:
		return " (the kernel has no such interface, or a seccomp filter hides it)";
	case -EINVAL:
	case -EOPNOTSUPP:
		return " (the kernel is too old)";
	default:
		return "";
	}
}

/*
 * `auto`: the backends in order, the first that sets up. A backend the kernel refuses for good
 * (not for want of memory or descriptors) is not tried again by this process, and why it was
 * passed over is logged once per reason: one line however many files a chain opens.
 */
static int engine_start_auto(struct td_engine *e)
{
	static int refused[NBACKENDS], said[NBACKENDS];
	int rc = -ENOENT;

	for (size_t i = 0; i < NBACKENDS; i++) {
		const struct td_engine_ops *ops = td_engine_backends[i];

		if (refused[i]) {
			rc = refused[i];
			continue;
		}
		rc = engine_start(e, ops);
		if (rc == 0)
			return 0;
		if (rc != -ENOMEM && rc != -EMFILE && rc != -ENFILE && rc != -EAGAIN)
			refused[i] = rc;
		if (said[i] != rc && td_engine_backends[i + 1]) {
			said[i] = rc;
			rt_warn("I/O engine: %s is not available: %s%s; using %s", ops->name,
				strerror(-rc), refusal_hint(rc), td_engine_backends[i + 1]->name);
		}
	}
	return rc;
}

/* $name as an unsigned number in [min, max], or def when unset or empty; a bad value is
 * logged (once per process and variable) and ignored (def). */
static unsigned long env_uint(const char *name, unsigned long min, unsigned long max,
			      unsigned long def, bool *said)
{
	const char *v = getenv(name);
	unsigned long n;
	char *end;

	if (!v || !*v)
		return def;
	errno = 0;
	n = strtoul(v, &end, 10);
	if (*v >= '0' && *v <= '9' && !*end && !errno && n >= min && n <= max)
		return n;
	if (!*said)
		rt_warn("%s=%s: expected a number from %lu to %lu; ignored", name, v, min, max);
	*said = true;
	return def;
}

/* $name as on or off (also 1/0, yes/no, true/false), or def when unset or empty; a bad value
 * is logged (once per process and variable) and ignored (def). */
static bool env_bool(const char *name, bool def, bool *said)
{
	static const char *const on[] = { "on", "1", "yes", "true" };
	static const char *const off[] = { "off", "0", "no", "false" };
	const char *v = getenv(name);

	if (!v || !*v)
		return def;
	for (size_t i = 0; i < sizeof(on) / sizeof(on[0]); i++) {
		if (!strcmp(v, on[i]))
			return true;
		if (!strcmp(v, off[i]))
			return false;
	}
	if (!*said)
		rt_warn("%s=%s: expected on or off; ignored", name, v);
	*said = true;
	return def;
}

void td_engine_tuning_read(struct td_engine_tuning *t)
{
	static bool said[4];

	t->batch = (unsigned int)env_uint(TD_URING_BATCH_ENV, 1, TD_ENGINE_BATCH,
					  TD_URING_BATCH_DEFAULT, &said[0]);
	t->fixed_buffers =
		env_bool(TD_URING_FIXED_BUFFERS_ENV, TD_URING_FIXED_BUFFERS_DEFAULT, &said[1]);
	t->sqpoll = env_bool(TD_URING_SQPOLL_ENV, false, &said[2]);
	/* 4096, out of the range: no CPU given */
	t->sqpoll_cpu = (int)env_uint(TD_URING_SQPOLL_CPU_ENV, 0, 4095, 4096, &said[3]);
	if (t->sqpoll_cpu == 4096)
		t->sqpoll_cpu = -1;
}

const struct td_engine_tuning *td_engine_tuning(const struct td_engine *e)
{
	return &e->tuning;
}

void td_engine_set_batch(struct td_engine *e, unsigned int batch)
{
	e->batch = batch > TD_ENGINE_BATCH ? TD_ENGINE_BATCH : batch;
}

int td_engine_register_buffer(struct td_engine *e, void *base, size_t len)
{
	if (!e->ops->register_buffer)
		return -EOPNOTSUPP;
	return e->ops->register_buffer(e, base, len);
}

int td_engine_register_page(struct td_engine *e, uint32_t slot, void *addr)
{
	if (!e->ops->register_page)
		return -EOPNOTSUPP;
	return e->ops->register_page(e, slot, addr);
}

int td_engine_counters(const struct td_engine *e, struct td_counter *out, int max)
{
	return e->ops->counters && max > 0 ? e->ops->counters(e, out, max) : 0;
}

int td_engine_open(struct td_engine **out, const struct td_engine_conf *c)
{
	const struct td_engine_ops *ops = c->ops;
	struct stat st;
	bool any = !ops && (!c->backend || !strcmp(c->backend, TD_ENGINE_AUTO));
	struct td_engine *e;
	int rc;

	for (int i = 0; !ops && !any && td_engine_backends[i]; i++)
		if (!strcmp(td_engine_backends[i]->name, c->backend))
			ops = td_engine_backends[i];
	if (!ops && !any) {
		rt_err("%s: no I/O engine %s in this build", c->who ? c->who : "engine",
		       c->backend);
		return -ENOENT;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->loop = c->loop;
	e->fd = c->fd;
	e->depth = TD_ENGINE_DEPTH;
	td_engine_tuning_read(&e->tuning);
	e->after_reap = c->after_reap;
	e->arg = c->arg;
	e->who = c->who ? c->who : "engine";
	if (fstat(c->fd, &st) == 0)
		e->blockdev = S_ISBLK(st.st_mode);
	e->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (e->efd < 0) {
		rc = -errno;
		goto fail;
	}
	rc = any ? engine_start_auto(e) : engine_start(e, ops);
	if (rc < 0)
		goto fail_efd;
	*out = e;
	return 0;
fail_efd:
	close(e->efd);
fail:
	free(e);
	return rc;
}

void td_engine_close(struct td_engine *e)
{
	struct td_engine_cqe cqe[TD_ENGINE_REAP];

	if (!e)
		return;
	/* Never free buffers the kernel may still write into. */
	while (e->inflight) {
		int n = e->ops->reap(e, cqe, TD_ENGINE_REAP, true);

		if (n == -EINTR)
			continue;
		if (n <= 0) {
			if (n < 0)
				rt_err("%s: close: waiting for %u I/Os: %s", e->who, e->inflight,
				       strerror(-n));
			break; /* the backend's teardown waits for the rest */
		}
		e->inflight -= (unsigned int)n;
	}
	td_loop_timer_cancel(e->loop, &e->retry);
	td_loop_timer_cancel(e->loop, &e->flush);
	td_loop_file_del(e->loop, &e->efile);
	e->ops->teardown(e);
	close(e->efd);
	free(e->rest);
	free(e);
}

static void queue(struct td_engine *e, struct td_engine_req *r, uint8_t op, const struct iovec *iov,
		  int iovcnt, uint64_t off, td_engine_done_fn done)
{
	size_t len = 0;

	for (int i = 0; i < iovcnt; i++)
		len += iov[i].iov_len;
	r->op = op;
	r->iov = iov;
	r->iovcnt = iovcnt;
	r->off = off;
	r->len = len;
	r->res = 0;
	r->moved = 0;
	r->tries = 0;
	r->done = done;
	queue_push(&e->head, &e->tail, r);
	e->queued++;
}

void td_engine_read(struct td_engine *e, struct td_engine_req *r, const struct iovec *iov,
		    int iovcnt, uint64_t off, td_engine_done_fn done)
{
	queue(e, r, TD_ENGINE_READ, iov, iovcnt, off, done);
}

void td_engine_write(struct td_engine *e, struct td_engine_req *r, const struct iovec *iov,
		     int iovcnt, uint64_t off, td_engine_done_fn done)
{
	queue(e, r, TD_ENGINE_WRITE, iov, iovcnt, off, done);
}

void td_engine_fsync(struct td_engine *e, struct td_engine_req *r, td_engine_done_fn done)
{
	if (e->no_fsync) {
		r->op = TD_ENGINE_FSYNC;
		r->done = done;
		td_engine_complete_later(e, r, fdatasync(e->fd) < 0 ? -errno : 0);
		return;
	}
	queue(e, r, TD_ENGINE_FSYNC, NULL, 0, 0, done);
}

/* A discard without the backend. The kernel of Debian 12's liburing cannot express a block
 * device's discard through io_uring (a uring command of 6.12), so BLKDISCARD is an ioctl that
 * blocks the loop for its duration, as fallocate does on a backend without IORING_OP_FALLOCATE. */
static int discard_sync(const struct td_engine *e, uint64_t off, uint64_t len)
{
	if (e->blockdev) {
		uint64_t range[2] = { off, len };

		return ioctl(e->fd, BLKDISCARD, range) < 0 ? -errno : 0;
	}
	if (fallocate(e->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) <
	    0)
		return errno == EOPNOTSUPP || errno == ENOSYS ? -EOPNOTSUPP : -errno;
	return 0;
}

void td_engine_discard(struct td_engine *e, struct td_engine_req *r, uint64_t off, uint64_t len,
		       td_engine_done_fn done)
{
	if (len && !e->blockdev && e->ops->discards && e->ops->discards(e)) {
		queue(e, r, TD_ENGINE_DISCARD, NULL, 0, off, done);
		r->len = len;
		return;
	}
	r->op = TD_ENGINE_DISCARD;
	r->off = off;
	r->len = len;
	r->done = done;
	td_engine_complete_later(e, r, len ? discard_sync(e, off, len) : 0);
}

/* The backend refused r: it fails alone, later. An fsync the kernel does not take asynchronously
 * (-EINVAL) is done with fdatasync in the loop, this time and from now on. */
static void refused(struct td_engine *e, struct td_engine_req *r, int err)
{
	if (r->op == TD_ENGINE_FSYNC && err == -EINVAL) {
		if (!e->no_fsync)
			rt_warn("%s: the kernel refuses asynchronous fsync; flushing with fdatasync",
				e->who);
		e->no_fsync = true;
		err = fdatasync(e->fd) < 0 ? -errno : 0;
	}
	if (r->op == TD_ENGINE_DISCARD && (err == -EINVAL || err == -EOPNOTSUPP))
		err = discard_sync(e, r->off, r->len);
	td_engine_complete_later(e, r, err);
}

/* The kernel's queue had no room (io_submit's EAGAIN: fs.aio-max-nr reached host-wide) while
 * this engine had nothing in flight, so no completion of its own will kick it again. */
#define TD_ENGINE_RETRY_NS 1000000ull /* 1 ms */

static void on_retry(struct td_loop *loop, struct td_loop_timer *timer, void *data)
{
	td_engine_kick(data);
}

/*
 * Submits the rest of r, a read or write a short completion left unfinished, alone: its iovec
 * array without the bytes moved, built in the engine's scratch array (the backends read the
 * array at submission, so one serves every resubmission) and handed over in r's place for the
 * call. What submit returns.
 */
static int submit_rest(struct td_engine *e, struct td_engine_req *r)
{
	const struct iovec *iov = r->iov;
	int iovcnt = r->iovcnt, n = 0, rc;
	uint64_t off = r->off;
	size_t len = r->len, skip = r->moved;

	if (iovcnt > e->rest_cap) {
		struct iovec *v = realloc(e->rest, (size_t)iovcnt * sizeof(*v));

		if (!v)
			return -ENOMEM;
		e->rest = v;
		e->rest_cap = iovcnt;
	}
	for (int i = 0; i < iovcnt; i++) {
		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		e->rest[n].iov_base = (char *)iov[i].iov_base + skip;
		e->rest[n++].iov_len = iov[i].iov_len - skip;
		skip = 0;
	}
	r->iov = e->rest;
	r->iovcnt = n;
	r->off = off + r->moved;
	r->len = len - r->moved;
	rc = e->ops->submit(e, &r, 1);
	r->iov = iov;
	r->iovcnt = iovcnt;
	r->off = off;
	r->len = len;
	return rc;
}

static void on_flush(struct td_loop *loop, struct td_loop_timer *timer, void *data)
{
	struct td_engine *e = data;

	e->flush_armed = false;
	e->flushing = true;
	td_engine_kick(e);
	e->flushing = false;
}

/*
 * With a batch size (e->batch > 1), a kick submits full batches only; fewer requests wait for
 * more until the end of the loop iteration (a timer due at once: it runs after the iteration's
 * file events, so requests the other handlers queue meanwhile join the batch) or the next
 * td_engine_poll, whichever comes first.
 */
void td_engine_kick(struct td_engine *e)
{
	unsigned int max = e->batch ? e->batch : TD_ENGINE_BATCH;
	struct td_engine_req *batch[TD_ENGINE_BATCH], *r;
	int n, rc;

	while (e->head && e->inflight < e->depth) {
		n = 0;
		if (e->batch > 1 && !e->flushing && e->queued < e->batch && !e->head->moved) {
			if (!e->flush_armed) {
				e->flush_armed = true;
				td_loop_timer_arm(e->loop, &e->flush, 0, 0, on_flush, e);
			}
			return;
		}
		if (e->head->moved) {
			rc = submit_rest(e, e->head);
		} else {
			/* a batch ends before a request to resubmit */
			for (r = e->head; r && !r->moved && (unsigned int)n < max &&
					  e->inflight + (unsigned int)n < e->depth;
			     r = r->next)
				batch[n++] = r;
			rc = e->ops->submit(e, batch, n);
		}
		if (rc == -EAGAIN || rc == 0) {
			/* retried when completions free room, or by a timer if none will */
			if (!e->inflight)
				td_loop_timer_arm(e->loop, &e->retry, TD_ENGINE_RETRY_NS, 0,
						  on_retry, e);
			return;
		}
		if (rc < 0) {
			e->queued--;
			refused(e, queue_pop(&e->head, &e->tail), rc);
			continue;
		}
		e->inflight += (unsigned int)rc;
		e->queued -= (unsigned int)rc;
		while (rc--)
			queue_pop(&e->head, &e->tail);
	}
}

int td_engine_poll(struct td_engine *e)
{
	int n;

	if (!e->ops->reap_in_user_space(e))
		return -EOPNOTSUPP;
	n = e->inflight || e->later_head ? reap(e) : 0;
	if (e->head) {
		/* polling: the loop does not iterate while it spins, so a partial batch goes now */
		e->flushing = true;
		td_engine_kick(e);
		e->flushing = false;
	}
	return n;
}

unsigned int td_engine_inflight(const struct td_engine *e)
{
	return e->inflight;
}

void *td_engine_backend_data(const struct td_engine *e)
{
	return e->backend;
}

void td_engine_set_backend_data(struct td_engine *e, void *data)
{
	e->backend = data;
}

const char *td_engine_who(const struct td_engine *e)
{
	return e->who;
}

const char *td_engine_name(const struct td_engine *e)
{
	return e->ops->name;
}

const char *td_engine_backend_of(unsigned int td_open_flags)
{
	switch (td_open_flags & TD_OPEN_ENGINE_MASK) {
	case TD_OPEN_ENGINE_LIBAIO:
		return "libaio";
	case TD_OPEN_ENGINE_IO_URING:
		return "io_uring";
	default:
		return TD_ENGINE_AUTO;
	}
}
