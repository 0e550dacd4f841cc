/* The io_uring backend of the I/O engine (liburing): one ring per engine, the engine's file
 * registered (a fixed file: no file lookup per request), the engine's eventfd registered for
 * completions, batched io_uring_submit, completions read from the CQ ring in user space (no
 * system call: adaptive polling may spin on them), fsync as IORING_OP_FSYNC with
 * IORING_FSYNC_DATASYNC, a discard on a file as IORING_OP_FALLOCATE punching a hole, fixed
 * buffers (the caller's region and pages) for READ_FIXED/WRITE_FIXED. Built only with liburing
 * (configure); `auto` then prefers it. */
#include <errno.h>
#include <linux/falloc.h>
#include <liburing.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "drivers/engine.h"
#include "ringtap/log.h"

struct engine_uring {
	struct io_uring ring;
	int fd; /* what a request names: 0, the registered file's index, or the descriptor */
	unsigned int sqe_flags; /* IOSQE_FIXED_FILE when the file is registered */
	bool sqpoll; /* a kernel thread consumes the submission queue */
	/* The registered buffers: index 0 the caller's region (td_engine_register_buffer), index
	 * slot + 1 its page `slot` (td_engine_register_page); {NULL, 0} where none. nr entries (0:
	 * nothing registered, no table), a power of two once a page is there; the pages hashed on
	 * their address (buckets: nr chain heads; hnext: per index; 0 ends a chain, as index 0 is
	 * never a page's), so that a request finds its page in O(1). */
	struct iovec *fixed;
	uint32_t *buckets, *hnext;
	uint32_t nr;
	uint32_t pages; /* registered now */
	bool pages_refused; /* the kernel refused one: no more (said once) */
	uint64_t fixed_ios; /* READ_FIXED/WRITE_FIXED submitted */
	uint64_t fixed_page_ios; /* of them, on a page */
	/* Requests and cancellations the kernel took and whose completion was not read: the
	 * engine's in-flight count plus the engine's dropped requests at close. */
	unsigned int inflight;
};

static int table_resize(struct engine_uring *u, uint32_t nr);

/* How long a wait for completions lasts before the caller looks again (reap's `wait`, close). */
#define URING_WAIT_S 1

/* How long the SQPOLL thread spins on an empty submission queue before it sleeps (the next
 * submission wakes it with a system call). */
#define URING_SQPOLL_IDLE_MS 10

/* The ring with `flags`. Without SQPOLL also COOP_TASKRUN and TASKRUN_FLAG (5.19): a completion
 * does not interrupt the task with an IPI (expensive in a VM: a polling spin measured twice the
 * disk time with it) but waits, flagged in the SQ ring, for the next system call, which reap
 * makes itself when the flag is up; a task asleep in epoll is still woken. Each is left out on
 * a kernel too old for it, SUBMIT_ALL on one older than 5.18. */
static int ring_init(struct io_uring *ring, struct io_uring_params *p, unsigned int flags,
		     const struct td_engine_tuning *t, unsigned int depth)
{
	int rc;

	memset(p, 0, sizeof(*p));
	p->flags = flags | IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
	if (!(flags & IORING_SETUP_SQPOLL))
		p->flags |= IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
	p->cq_entries = 2 * depth;
	if (flags & IORING_SETUP_SQPOLL) {
		p->sq_thread_idle = URING_SQPOLL_IDLE_MS;
		if (t->sqpoll_cpu >= 0) {
			p->flags |= IORING_SETUP_SQ_AFF;
			p->sq_thread_cpu = (unsigned int)t->sqpoll_cpu;
		}
	}
	rc = io_uring_queue_init_params(TD_ENGINE_BATCH, ring, p);
	if (rc == -EINVAL && !(flags & IORING_SETUP_SQPOLL)) { /* a kernel older than 5.19 */
		p->flags &= ~(unsigned int)(IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG);
		rc = io_uring_queue_init_params(TD_ENGINE_BATCH, ring, p);
	}
	if (rc == -EINVAL && !(flags & IORING_SETUP_SQPOLL)) { /* a kernel older than 5.18 */
		p->flags &= ~(unsigned int)IORING_SETUP_SUBMIT_ALL;
		rc = io_uring_queue_init_params(TD_ENGINE_BATCH, ring, p);
	}
	return rc;
}

static int engine_uring_setup(struct td_engine *e, int fd, int efd, unsigned int depth)
{
	const struct td_engine_tuning *t = td_engine_tuning(e);
	struct engine_uring *u = calloc(1, sizeof(*u));
	struct io_uring_params p;
	int rc = -EINVAL;

	if (!u)
		return -ENOMEM;
	/*
	 * The submission queue holds one batch (the engine hands over at most TD_ENGINE_BATCH at
	 * once and whatever the kernel did not take is taken back before submit returns); the
	 * completion queue holds every request in flight (at most `depth`) and as many again for
	 * close's cancellations, so that it never overflows. SUBMIT_ALL (5.18): a request the
	 * kernel refuses at submission completes with its error rather than stopping the batch.
	 * SQPOLL when asked for: a kernel that refuses it (an old one, a CPU out of range, a
	 * sandbox) is said once per process and reason, and the ring goes without.
	 */
	if (t->sqpoll) {
		static int said;

		rc = ring_init(&u->ring, &p, IORING_SETUP_SQPOLL, t, depth);
		if (rc == 0) {
			u->sqpoll = true;
		} else if (said != rc) {
			said = rc;
			rt_warn("%s: io_uring: the kernel refuses SQPOLL%s: %s; submitting without it",
				td_engine_who(e), t->sqpoll_cpu >= 0 ? " on that CPU" : "",
				strerror(-rc));
		}
	}
	if (!u->sqpoll)
		rc = ring_init(&u->ring, &p, 0, t, depth);
	if (rc < 0) {
		free(u);
		return rc;
	}
	/* the iovec arrays are read at submission (engine.h): the kernel must not read them
	 * later (5.5); a wait with a timeout that takes no submission entry (5.11) */
	if (!(p.features & IORING_FEAT_SUBMIT_STABLE) || !(p.features & IORING_FEAT_EXT_ARG)) {
		rc = -EOPNOTSUPP;
		goto fail;
	}
	rc = io_uring_register_eventfd(&u->ring, efd);
	if (rc < 0)
		goto fail;
	if (io_uring_register_files(&u->ring, &fd, 1) == 0) {
		u->fd = 0;
		u->sqe_flags = IOSQE_FIXED_FILE;
	} else {
		u->fd = fd; /* the descriptor itself: a file lookup per request */
	}
	td_engine_set_batch(e, t->batch);
	td_engine_set_backend_data(e, u);
	return 0;
fail:
	io_uring_queue_exit(&u->ring);
	free(u);
	return rc;
}

/* A completion of the backend's own (a cancellation) carries no request. */
static void reaped(struct engine_uring *u, unsigned int n)
{
	io_uring_cq_advance(&u->ring, n);
	u->inflight -= n;
}

/*
 * The engine has drained, or gave up waiting (a reap failed, or nothing completed within
 * URING_WAIT_S). The kernel may still write into the buffers of what is in flight, so this
 * waits for every completion before the ring goes (closing a ring does not wait for its
 * requests): first asking the kernel to cancel what it can (requests waiting in its workers;
 * a request already at the disk completes normally), then as long as it takes, as libaio's
 * io_destroy does.
 */
static void engine_uring_teardown(struct td_engine *e)
{
	struct engine_uring *u = td_engine_backend_data(e);
	struct __kernel_timespec ts = { .tv_sec = URING_WAIT_S };
	struct io_uring_cqe *cqe;
	struct io_uring_sqe *sqe;
	unsigned int waited = 0;
	int rc;

	if (u->inflight) {
		sqe = io_uring_get_sqe(&u->ring);
		if (sqe) {
			io_uring_prep_cancel_fd(sqe, u->fd,
						IORING_ASYNC_CANCEL_ALL |
							(u->sqe_flags & IOSQE_FIXED_FILE ?
								 IORING_ASYNC_CANCEL_FD_FIXED :
								 0));
			io_uring_sqe_set_data(sqe, NULL);
			if (io_uring_submit(&u->ring) == 1)
				u->inflight++;
		}
	}
	while (u->inflight) {
		rc = io_uring_wait_cqe_timeout(&u->ring, &cqe, &ts);
		if (rc == 0) {
			reaped(u, 1);
			continue;
		}
		if (rc == -EINTR)
			continue;
		if (rc != -ETIME) {
			rt_err("%s: close: cannot wait for %u I/Os: %s", td_engine_who(e),
			       u->inflight, strerror(-rc));
			break;
		}
		if (++waited % 10 == 1)
			rt_warn("%s: close: still waiting for %u I/Os", td_engine_who(e),
				u->inflight);
	}
	/* The ring goes away in the kernel's own time, after queue_exit returns, and until then
	 * holds the files registered with it: the engine's file would stay open, and its image
	 * locked (image_lock.c's locks belong to the open file), after the driver closed it. */
	if (u->sqe_flags & IOSQE_FIXED_FILE)
		io_uring_unregister_files(&u->ring);
	table_resize(u, 0); /* the registered buffers */
	io_uring_queue_exit(&u->ring);
	free(u);
	td_engine_set_backend_data(e, NULL);
}

/* A fixed page is one page, aligned. */
#define URING_PAGE 4096u

/* The kernel's most registered buffers (IORING_MAX_REG_BUFFERS), and a page table's first size:
 * the table grows by doubling, each time registering again what it holds. */
#define URING_MAX_FIXED 16384u
#define URING_FIRST_FIXED 256u

static uint32_t page_bucket(const struct engine_uring *u, const void *page)
{
	return (uint32_t)(((uintptr_t)page / URING_PAGE) * 2654435761u) & (u->nr - 1);
}

/* The index of the registered page at `page`, or 0. */
static uint32_t page_find(const struct engine_uring *u, const void *page)
{
	uint32_t i;

	if (!u->pages)
		return 0;
	for (i = u->buckets[page_bucket(u, page)]; i; i = u->hnext[i])
		if (u->fixed[i].iov_base == page)
			return i;
	return 0;
}

/* Whether r's buffers are one contiguous run inside the registered region (index 0). */
static bool in_region(const struct engine_uring *u, const struct td_engine_req *r)
{
	const char *at = r->iov[0].iov_base, *base = u->nr ? u->fixed[0].iov_base : NULL;
	size_t len = u->nr ? u->fixed[0].iov_len : 0;

	if (!base || r->iovcnt < 1 || at < base || r->len > len ||
	    (size_t)(at - base) > len - r->len)
		return false;
	for (int i = 0; i < r->iovcnt; i++) {
		if (r->iov[i].iov_base != at)
			return false;
		at += r->iov[i].iov_len;
	}
	return true;
}

/* The registered buffer r's buffers lie in (its index), or -1: the region, or the page of a
 * request of one iovec. */
static int fixed_index(const struct engine_uring *u, const struct td_engine_req *r)
{
	uintptr_t at, page;
	uint32_t i;

	if ((r->op != TD_ENGINE_READ && r->op != TD_ENGINE_WRITE) || !u->nr)
		return -1;
	if (in_region(u, r))
		return 0;
	if (r->iovcnt != 1)
		return -1;
	at = (uintptr_t)r->iov[0].iov_base;
	page = at & ~(uintptr_t)(URING_PAGE - 1);
	if (r->len > URING_PAGE - (at - page))
		return -1;
	i = page_find(u, (void *)page);
	return i ? (int)i : -1;
}

static void prep(struct engine_uring *u, struct io_uring_sqe *sqe, struct td_engine_req *r)
{
	int fixed = fixed_index(u, r);

	if (fixed >= 0) {
		if (r->op == TD_ENGINE_READ)
			io_uring_prep_read_fixed(sqe, u->fd, r->iov[0].iov_base,
						 (unsigned int)r->len, r->off, fixed);
		else
			io_uring_prep_write_fixed(sqe, u->fd, r->iov[0].iov_base,
						  (unsigned int)r->len, r->off, fixed);
		sqe->flags |= (__u8)u->sqe_flags;
		io_uring_sqe_set_data(sqe, r);
		u->fixed_ios++;
		if (fixed)
			u->fixed_page_ios++;
		return;
	}
	switch (r->op) {
	case TD_ENGINE_READ:
		io_uring_prep_readv(sqe, u->fd, r->iov, (unsigned int)r->iovcnt, r->off);
		break;
	case TD_ENGINE_WRITE:
		io_uring_prep_writev(sqe, u->fd, r->iov, (unsigned int)r->iovcnt, r->off);
		break;
	case TD_ENGINE_DISCARD:
		io_uring_prep_fallocate(sqe, u->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
					(off_t)r->off, (off_t)r->len);
		break;
	default:
		io_uring_prep_fsync(sqe, u->fd, IORING_FSYNC_DATASYNC);
		break;
	}
	sqe->flags |= (__u8)u->sqe_flags;
	io_uring_sqe_set_data(sqe, r);
}

/*
 * Takes back the requests the kernel left in the submission queue (io_uring_enter consumed only
 * the first ones, or none: it could not allocate, or refused the whole call), so that the
 * engine keeps them queued and hands them over again; otherwise the next io_uring_enter would
 * start them behind the engine's back. Sound because nothing but this thread's io_uring_enter
 * reads the queue (not used with SQPOLL, whose thread takes every entry): the tail goes back to
 * the kernel's head.
 */
static unsigned int sq_take_back(struct io_uring *ring)
{
	unsigned int left = io_uring_sq_ready(ring);

	if (left) {
		ring->sq.sqe_tail -= left;
		ring->sq.sqe_head = ring->sq.sqe_tail;
		io_uring_smp_store_release(ring->sq.ktail, ring->sq.sqe_tail);
	}
	return left;
}

static int engine_uring_submit(struct td_engine *e, struct td_engine_req **reqs, int n)
{
	struct engine_uring *u = td_engine_backend_data(e);
	int rc, taken;

	/* the queue is empty between calls and holds TD_ENGINE_BATCH: an entry for each */
	for (int i = 0; i < n; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);

		if (!sqe) {
			n = i;
			break;
		}
		prep(u, sqe, reqs[i]);
	}
	rc = io_uring_submit(&u->ring);
	if (u->sqpoll) {
		/* The tail is published: the kernel's thread takes every entry, in its time (an
		 * error of io_uring_enter, which only wakes the thread, changes nothing). Wait until
		 * it has, as the iovec arrays are the caller's again when submit returns (engine.h);
		 * the thread gone (EOWNERDEAD) takes nothing more. */
		while (io_uring_sq_ready(&u->ring) && rc != -EOWNERDEAD)
			rc = io_uring_submit(&u->ring);
		if (rc == -EOWNERDEAD)
			rt_err("%s: io_uring: the SQ thread is gone: %u requests stay unsubmitted",
			       td_engine_who(e), io_uring_sq_ready(&u->ring));
		u->inflight += (unsigned int)n;
		return n;
	}
	taken = n - (int)sq_take_back(&u->ring);
	u->inflight += (unsigned int)taken;
	if (taken > 0)
		return taken;
	/* none taken: the kernel is short of memory or its completion queue overflowed (-EBUSY),
	 * which the engine retries; another error refuses reqs[0] */
	return rc >= 0 || rc == -EBUSY || rc == -EINTR ? -EAGAIN : rc;
}

static int engine_uring_reap(struct td_engine *e, struct td_engine_cqe *out, int max, bool wait)
{
	struct engine_uring *u = td_engine_backend_data(e);
	struct io_uring_cqe *cqes[TD_ENGINE_REAP];
	unsigned int n;
	int k = 0;

	if (max > TD_ENGINE_REAP)
		max = TD_ENGINE_REAP;
	if (wait) {
		struct __kernel_timespec ts = { .tv_sec = URING_WAIT_S };
		struct io_uring_cqe *cqe;
		int rc = io_uring_wait_cqe_timeout(&u->ring, &cqe, &ts);

		if (rc == -ETIME)
			return 0;
		if (rc < 0)
			return rc;
	}
	/* from the CQ ring in memory: a system call only when the kernel holds completions back
	 * (COOP_TASKRUN: see ring_init) or the queue overflowed, which the sizing rules out */
	if (!io_uring_cq_ready(&u->ring) &&
	    (IO_URING_READ_ONCE(*u->ring.sq.kflags) & IORING_SQ_TASKRUN))
		io_uring_get_events(&u->ring);
	n = io_uring_peek_batch_cqe(&u->ring, cqes, (unsigned int)max);
	for (unsigned int i = 0; i < n; i++) {
		struct td_engine_req *r = io_uring_cqe_get_data(cqes[i]);

		if (!r)
			continue; /* a cancellation's own */
		out[k].req = r;
		out[k].res = cqes[i]->res;
		k++;
	}
	reaped(u, n);
	return k;
}

static bool engine_uring_reap_in_user_space(const struct td_engine *e)
{
	return true;
}

static void table_free(struct engine_uring *u)
{
	free(u->fixed);
	free(u->buckets);
	free(u->hnext);
	u->fixed = NULL;
	u->buckets = u->hnext = NULL;
	u->nr = u->pages = 0;
}

/* Hashes the pages of the table (buckets and hnext zeroed). */
static void table_hash(struct engine_uring *u)
{
	for (uint32_t i = 1; i < u->nr; i++)
		if (u->fixed[i].iov_base) {
			uint32_t b = page_bucket(u, u->fixed[i].iov_base);

			u->hnext[i] = u->buckets[b];
			u->buckets[b] = i;
		}
}

/*
 * Registers the table again with nr entries (nr == 0: none), what it holds kept: a new table of
 * the kernel's is registered whole (one call, the empty entries as holes), so growing pins the
 * registered pages again. Requests in flight keep the pages they use (the kernel references
 * them per request since 5.13). When the kernel refuses, the old table is registered again;
 * failing that too, nothing stays registered. 0 or -errno.
 */
static int table_resize(struct engine_uring *u, uint32_t nr)
{
	struct iovec *fixed;
	uint32_t *buckets, *hnext;
	int rc;

	if (u->nr)
		io_uring_unregister_buffers(&u->ring);
	if (!nr) {
		table_free(u);
		return 0;
	}
	fixed = calloc(nr, sizeof(*fixed));
	buckets = calloc(nr, sizeof(*buckets));
	hnext = calloc(nr, sizeof(*hnext));
	rc = fixed && buckets && hnext ? 0 : -ENOMEM;
	if (rc == 0) {
		for (uint32_t i = 0; i < u->nr && i < nr; i++)
			fixed[i] = u->fixed[i];
		rc = io_uring_register_buffers(&u->ring, fixed, nr);
	}
	if (rc < 0) {
		free(fixed);
		free(buckets);
		free(hnext);
		if (u->nr && io_uring_register_buffers(&u->ring, u->fixed, u->nr) < 0)
			table_free(u);
		return rc;
	}
	table_free(u);
	u->fixed = fixed;
	u->buckets = buckets;
	u->hnext = hnext;
	u->nr = nr;
	for (uint32_t i = 1; i < nr; i++)
		u->pages += fixed[i].iov_base != NULL;
	table_hash(u);
	return 0;
}

/* Nothing registered: the table goes (a ring without registered buffers, as before any). */
static bool table_unused(const struct engine_uring *u)
{
	return !u->pages && !u->fixed[0].iov_base;
}

/* Replaces entry i (< nr) with [base, base + len) (NULL: empty). 0 or -errno. */
static int table_set(struct engine_uring *u, uint32_t i, void *base, size_t len)
{
	struct iovec iov = { base, base ? len : 0 };
	int rc = io_uring_register_buffers_update_tag(&u->ring, i, &iov, NULL, 1);

	if (rc < 0)
		return rc;
	if (i && u->fixed[i].iov_base) { /* out of its chain */
		uint32_t *p = &u->buckets[page_bucket(u, u->fixed[i].iov_base)];

		while (*p != i)
			p = &u->hnext[*p];
		*p = u->hnext[i];
		u->pages--;
	}
	u->fixed[i] = iov;
	if (i && base) {
		uint32_t b = page_bucket(u, base);

		u->hnext[i] = u->buckets[b];
		u->buckets[b] = i;
		u->pages++;
	}
	if (table_unused(u))
		return table_resize(u, 0);
	return 0;
}

/* Entry i registered as [base, base + len), the table grown to hold it (to nr entries). */
static int fixed_set(struct engine_uring *u, uint32_t i, void *base, size_t len, uint32_t nr)
{
	int rc;

	if (!base && (i >= u->nr || !u->fixed[i].iov_base))
		return 0; /* nothing there */
	if (i >= u->nr) {
		rc = table_resize(u, nr);
		if (rc < 0)
			return rc;
	}
	rc = table_set(u, i, base, len);
	if (rc < 0 && table_unused(u))
		table_resize(u, 0); /* grown for nothing */
	return rc;
}

/* The region: index 0, replaced or (len 0) dropped. Off unless TAPDISK_URING_FIXED_BUFFERS
 * says on; a kernel that refuses (RLIMIT_MEMLOCK, pages it cannot pin) is logged at debug level
 * and the requests go as before. */
static int engine_uring_register_buffer(struct td_engine *e, void *base, size_t len)
{
	struct engine_uring *u = td_engine_backend_data(e);
	int rc;

	if (len && !td_engine_tuning(e)->fixed_buffers)
		return -EOPNOTSUPP;
	rc = fixed_set(u, 0, len ? base : NULL, len, 1);
	if (rc < 0)
		rt_debug("%s: io_uring: cannot register %zu bytes at %p as a fixed buffer: %s",
			 td_engine_who(e), len, base, strerror(-rc));
	return rc;
}

/* Page `slot`: index slot + 1, the table grown (doubling) to hold it. Off unless the region's
 * switch says on. The kernel refusing one (EFAULT: a file on a disk file system, which it does
 * not pin for long; RLIMIT_MEMLOCK) is said once, and no more pages are registered on this
 * engine (each would be refused the same way, at a system call per mapping). */
static int engine_uring_register_page(struct td_engine *e, uint32_t slot, void *addr)
{
	struct engine_uring *u = td_engine_backend_data(e);
	uint32_t nr = URING_FIRST_FIXED;
	int rc;

	if (slot >= URING_MAX_FIXED - 1)
		return addr ? -ENOSPC : 0;
	if (!addr || u->pages_refused || !td_engine_tuning(e)->fixed_buffers)
		return addr ? -EOPNOTSUPP : fixed_set(u, slot + 1, NULL, 0, 0);
	if ((uintptr_t)addr % URING_PAGE)
		return -EINVAL;
	while (nr < slot + 2)
		nr *= 2;
	if (u->nr > nr)
		nr = u->nr;
	if (slot + 1 < u->nr && u->fixed[slot + 1].iov_base) {
		rc = table_set(u, slot + 1, NULL, 0); /* the slot's page before */
		if (rc < 0)
			return rc;
	}
	rc = fixed_set(u, slot + 1, addr, URING_PAGE, nr);
	if (rc < 0) {
		u->pages_refused = true;
		rt_info("%s: io_uring: the kernel refuses to register a page at %p as a fixed "
			"buffer: %s; this file's I/O on pages goes without",
			td_engine_who(e), addr, strerror(-rc));
	}
	return rc;
}

static int engine_uring_counters(const struct td_engine *e, struct td_counter *out, int max)
{
	const struct engine_uring *u = td_engine_backend_data(e);
	const struct td_counter c[] = {
		{ "fixed_ios", u->fixed_ios },
		{ "fixed_page_ios", u->fixed_page_ios },
		{ "fixed_pages", u->pages },
	};
	int n = 0;

	for (; n < max && n < (int)(sizeof(c) / sizeof(c[0])); n++)
		out[n] = c[n];
	return n;
}

/* A hole is punched with IORING_OP_FALLOCATE (5.6; the ring needs 5.11's features anyway) in
 * the kernel's workers, off the loop. A block device's discard is not: engine.c's ioctl. */
static bool engine_uring_discards(const struct td_engine *e)
{
	return true;
}

const struct td_engine_ops td_engine_io_uring = {
	.name = "io_uring",
	.setup = engine_uring_setup,
	.teardown = engine_uring_teardown,
	.submit = engine_uring_submit,
	.reap = engine_uring_reap,
	.reap_in_user_space = engine_uring_reap_in_user_space,
	.discards = engine_uring_discards,
	.register_buffer = engine_uring_register_buffer,
	.register_page = engine_uring_register_page,
	.counters = engine_uring_counters,
};
