/* The I/O engine (drivers/engine.h) on a real file, once through each backend (libaio, then
 * io_uring: skipped, saying why, when this build or kernel has none): writes and reads land,
 * done never runs inside submit or kick, more requests than the depth wait (never fail), close
 * waits for what is in flight, errors and short transfers reach done, `auto` picks io_uring
 * where the kernel allows it; and through a backend of the test's own: refused submissions,
 * the fsync fallback, reaping errors reported (not taken for "no completion"). */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libaio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "drivers/aio_ring.h"
#include "drivers/engine.h"
#include "src/loop.h"
#include "tests/unit/drivers/backends.h"

#define BLK 4096

struct rec {
	struct td_engine_req req;
	int calls;
	int res;
};

static int done_calls;

/* The backend the real-file tests run on, and why it cannot run here ("" when it can). */
static const char *backend;
static char unavailable[128];

static void rec_done(struct td_engine_req *req, int res)
{
	struct rec *r = (struct rec *)req;

	r->calls++;
	r->res = res;
	done_calls++;
}

struct fixture {
	char path[64];
	int fd;
	struct td_loop loop;
	struct td_engine *e;
	unsigned char *buf;
};

/* A file of `blocks` 4 KiB blocks, each filled with its number, opened O_DIRECT (when `flags`
 * says O_RDWR) so that requests stay in flight in the kernel. */
static void fixture_open(struct fixture *f, int blocks, int flags)
{
	unsigned char b[BLK];

	if (unavailable[0])
		skip();
	strcpy(f->path, "/tmp/td-test-engine.XXXXXX");
	f->fd = mkstemp(f->path);
	assert_true(f->fd >= 0);
	for (int i = 0; i < blocks; i++) {
		memset(b, i & 0xff, BLK);
		assert_int_equal(pwrite(f->fd, b, BLK, (off_t)i * BLK), BLK);
	}
	close(f->fd);
	f->fd = open(f->path, flags | O_DIRECT);
	assert_true(f->fd >= 0);
	assert_int_equal(posix_memalign((void **)&f->buf, BLK, (size_t)blocks * BLK), 0);
	assert_int_equal(td_loop_init(&f->loop), 0);
	assert_int_equal(td_engine_open(&f->e, &(struct td_engine_conf){ .loop = &f->loop,
									 .fd = f->fd,
									 .who = "test",
									 .backend = backend }),
			 0);
	assert_string_equal(td_engine_name(f->e), backend);
	done_calls = 0;
}

static void fixture_close(struct fixture *f)
{
	td_engine_close(f->e);
	td_loop_fini(&f->loop);
	close(f->fd);
	unlink(f->path);
	free(f->buf);
}

/* Runs the loop until `calls` completions, for at most 30 s (a loop iteration may bring none:
 * io_uring's completion work interrupts epoll_wait before the eventfd wakes it). */
static void run_until(struct td_loop *loop, int calls)
{
	for (double end = test_now_s() + 30; done_calls < calls && test_now_s() < end;)
		assert_true(td_loop_run_once(loop, 100) >= 0);
	assert_int_equal(done_calls, calls);
}

static void writes_and_reads_a_file(void **state)
{
	struct fixture f;
	struct rec w = { 0 }, s = { 0 }, r = { 0 };
	struct iovec iov[2];
	unsigned char chk[2 * BLK];
	int fd;

	fixture_open(&f, 8, O_RDWR);
	memset(f.buf, 0x5a, BLK);
	memset(f.buf + BLK, 0xa5, BLK);
	iov[0] = (struct iovec){ f.buf, BLK };
	iov[1] = (struct iovec){ f.buf + BLK, BLK };
	td_engine_write(f.e, &w.req, iov, 2, 2 * BLK, rec_done);
	td_engine_kick(f.e);
	run_until(&f.loop, 1);
	assert_int_equal(w.res, 0);
	td_engine_fsync(f.e, &s.req, rec_done);
	td_engine_kick(f.e);
	run_until(&f.loop, 2);
	assert_int_equal(s.res, 0);
	fd = open(f.path, O_RDONLY);
	assert_int_equal(pread(fd, chk, 2 * BLK, 2 * BLK), 2 * BLK);
	close(fd);
	assert_memory_equal(chk, f.buf, 2 * BLK);

	memset(f.buf + 2 * BLK, 0, 2 * BLK);
	iov[0] = (struct iovec){ f.buf + 2 * BLK, 2 * BLK };
	td_engine_read(f.e, &r.req, iov, 1, 2 * BLK, rec_done);
	td_engine_kick(f.e);
	run_until(&f.loop, 3);
	assert_int_equal(r.res, 0);
	assert_memory_equal(f.buf + 2 * BLK, f.buf, 2 * BLK);
	assert_int_equal(td_engine_inflight(f.e), 0);
	fixture_close(&f);
}

/* Completions, later ones included, are reported from the loop or from a poll: never from the
 * caller's submit or kick, even when the kernel finished before kick returned. */
static void done_never_runs_inside_submit_or_kick(void **state)
{
	struct fixture f;
	struct rec r[4], later;
	struct iovec iov[4];
	int polled = 0;

	memset(r, 0, sizeof(r));
	memset(&later, 0, sizeof(later));
	fixture_open(&f, 8, O_RDONLY);
	for (int i = 0; i < 4; i++) {
		iov[i] = (struct iovec){ f.buf + (size_t)i * BLK, BLK };
		td_engine_read(f.e, &r[i].req, &iov[i], 1, (uint64_t)i * BLK, rec_done);
	}
	later.req.done = rec_done;
	td_engine_complete_later(f.e, &later.req, -EOPNOTSUPP);
	assert_int_equal(done_calls, 0);
	td_engine_kick(f.e);
	assert_int_equal(done_calls, 0);
	/* polling reaps from user space, with no loop iteration and no system call */
	for (double end = test_now_s() + 30; polled < 5 && test_now_s() < end;) {
		int n = td_engine_poll(f.e);

		assert_true(n >= 0);
		polled += n;
	}
	assert_int_equal(polled, 5);
	assert_int_equal(later.calls, 1);
	assert_int_equal(later.res, -EOPNOTSUPP);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(r[i].calls, 1);
		assert_int_equal(r[i].res, 0);
		assert_int_equal(f.buf[(size_t)i * BLK], i);
	}
	fixture_close(&f);
}

/* More requests than the depth: the rest wait in the queue and go out as slots free up; none
 * fails, each completes once with its own data. */
static void more_requests_than_the_depth_wait_and_complete(void **state)
{
	enum { N = TD_ENGINE_DEPTH + 200, BLOCKS = 64 };
	struct fixture f;
	struct rec *r = calloc(N, sizeof(*r));
	struct iovec *iov = calloc(N, sizeof(*iov));
	unsigned char *bufs;

	assert_non_null(r);
	assert_non_null(iov);
	assert_int_equal(posix_memalign((void **)&bufs, BLK, (size_t)N * BLK), 0);
	fixture_open(&f, BLOCKS, O_RDONLY);
	memset(bufs, 0xff, (size_t)N * BLK);
	for (int i = 0; i < N; i++) {
		iov[i] = (struct iovec){ bufs + (size_t)i * BLK, BLK };
		td_engine_read(f.e, &r[i].req, &iov[i], 1, (uint64_t)(i % BLOCKS) * BLK, rec_done);
	}
	td_engine_kick(f.e);
	assert_true(td_engine_inflight(f.e) <= TD_ENGINE_DEPTH);
	run_until(&f.loop, N);
	for (int i = 0; i < N; i++) {
		assert_int_equal(r[i].calls, 1);
		assert_int_equal(r[i].res, 0);
		assert_int_equal(bufs[(size_t)i * BLK], i % BLOCKS);
	}
	assert_int_equal(td_engine_inflight(f.e), 0);
	fixture_close(&f);
	free(bufs);
	free(iov);
	free(r);
}

/* Close with requests in flight waits for the kernel to finish with their buffers: the data is
 * in the file afterwards, and no done runs from close. */
static void close_waits_for_requests_in_flight(void **state)
{
	enum { N = 64 };
	struct fixture f;
	struct rec r[N];
	struct iovec iov[N];
	unsigned char chk[BLK];
	int fd;

	memset(r, 0, sizeof(r));
	fixture_open(&f, N, O_RDWR);
	for (int i = 0; i < N; i++) {
		memset(f.buf + (size_t)i * BLK, 0x80 | i, BLK);
		iov[i] = (struct iovec){ f.buf + (size_t)i * BLK, BLK };
		td_engine_write(f.e, &r[i].req, &iov[i], 1, (uint64_t)i * BLK, rec_done);
	}
	td_engine_kick(f.e);
	assert_int_equal(td_engine_inflight(f.e), N); /* nothing reaped yet */
	td_engine_close(f.e);
	f.e = NULL;
	assert_int_equal(done_calls, 0);
	fd = open(f.path, O_RDONLY);
	for (int i = 0; i < N; i++) {
		assert_int_equal(pread(fd, chk, BLK, (off_t)i * BLK), BLK);
		assert_memory_equal(chk, f.buf + (size_t)i * BLK, BLK);
	}
	close(fd);
	fixture_close(&f);
}

/* The kernel's error reaches done: a write through a read-only descriptor. */
static void kernel_errors_reach_done(void **state)
{
	struct fixture f;
	struct rec w = { 0 };
	struct iovec iov = { NULL, BLK };

	fixture_open(&f, 2, O_RDONLY);
	iov.iov_base = f.buf;
	td_engine_write(f.e, &w.req, &iov, 1, 0, rec_done);
	td_engine_kick(f.e);
	run_until(&f.loop, 1);
	assert_int_equal(w.res, -EBADF);
	fixture_close(&f);
}

/* A read across the end of the file: the part inside moves, the rest is resubmitted and moves
 * nothing, which is an error (-EIO): the engine's semantics whatever the backend, as the drivers
 * never read past their images' end. */
static void a_short_transfer_is_an_error(void **state)
{
	struct fixture f;
	struct rec r = { 0 };
	struct iovec iov;

	fixture_open(&f, 2, O_RDONLY);
	iov = (struct iovec){ f.buf, 2 * BLK };
	td_engine_read(f.e, &r.req, &iov, 1, BLK, rec_done);
	td_engine_kick(f.e);
	run_until(&f.loop, 1);
	assert_int_equal(r.res, -EIO);
	fixture_close(&f);
}

/* A discard punches a hole: the file's allocated blocks drop, the range reads zeros, the data
 * around it stays, the size too; a discard of nothing completes (later) with success. */
static void a_discard_punches_a_hole(void **state)
{
	struct fixture f;
	struct rec d = { 0 }, z = { 0 }, r = { 0 };
	struct iovec iov;
	struct stat before, after;

	done_calls = 0;
	fixture_open(&f, 64, O_RDWR);
	assert_int_equal(fsync(f.fd), 0);
	assert_int_equal(fstat(f.fd, &before), 0);
	td_engine_discard(f.e, &d.req, 16 * BLK, 32 * BLK, rec_done);
	td_engine_discard(f.e, &z.req, 0, 0, rec_done);
	td_engine_kick(f.e);
	assert_int_equal(done_calls, 0);
	run_until(&f.loop, 2);
	assert_int_equal(d.res, 0);
	assert_int_equal(z.res, 0);
	assert_int_equal(fstat(f.fd, &after), 0);
	assert_int_equal(after.st_size, before.st_size);
	if (after.st_blocks > before.st_blocks - 32 * BLK / 512)
		fail_msg("%lld 512-byte blocks before the discard, %lld after: no hole",
			 (long long)before.st_blocks, (long long)after.st_blocks);
	iov = (struct iovec){ f.buf, 64 * BLK };
	td_engine_read(f.e, &r.req, &iov, 1, 0, rec_done);
	td_engine_kick(f.e);
	run_until(&f.loop, 3);
	assert_int_equal(r.res, 0);
	for (int i = 0; i < 64; i++)
		for (int j = 0; j < BLK; j += 512)
			assert_int_equal(f.buf[i * BLK + j], i >= 16 && i < 48 ? 0 : i & 0xff);
	fixture_close(&f);
}

/* A request the kernel keeps (a read from an empty pipe) at close: the engine gives up waiting
 * for it after a while, then io_uring's teardown cancels it and waits for the cancellation; no
 * done runs and the read is gone (what is written to the pipe afterwards is still there).
 * io_uring only: libaio does not keep such a request (it refuses to read a pipe). */
static void close_cancels_what_never_completes(void **state)
{
	struct td_loop loop;
	struct td_engine *e;
	struct rec r = { 0 };
	char buf[16] = "", c = 0;
	struct iovec iov = { buf, sizeof(buf) };
	double start;
	int p[2];

	if (unavailable[0])
		skip();
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(td_loop_init(&loop), 0);
	setenv(TD_URING_BATCH_ENV, "1", 1); /* the read goes to the kernel at the kick */
	assert_int_equal(td_engine_open(&e, &(struct td_engine_conf){ .loop = &loop,
								      .fd = p[0],
								      .backend = "io_uring" }),
			 0);
	unsetenv(TD_URING_BATCH_ENV);
	done_calls = 0;
	td_engine_read(e, &r.req, &iov, 1, 0, rec_done);
	td_engine_kick(e);
	assert_int_equal(td_engine_inflight(e), 1);
	start = test_now_s();
	td_engine_close(e);
	assert_true(test_now_s() - start < 20);
	assert_int_equal(done_calls, 0);
	assert_int_equal(write(p[1], "x", 1), 1);
	assert_int_equal(read(p[0], &c, 1), 1);
	assert_int_equal(c, 'x');
	assert_int_equal(buf[0], 0);
	td_loop_fini(&loop);
	close(p[0]);
	close(p[1]);
}

/* `auto`, and no choice at all, is io_uring where this build and the kernel have it, else
 * libaio (under tests/progs' deny-io-uring, for one). */
static void auto_prefers_io_uring(void **state)
{
	/* `unavailable` is the io_uring group's: the last probed */
	const char *want = unavailable[0] ? "libaio" : "io_uring";
	const char *chosen[2] = { TD_ENGINE_AUTO, NULL };
	struct td_loop loop;
	struct td_engine *e;

	assert_int_equal(td_loop_init(&loop), 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(
			td_engine_open(&e, &(struct td_engine_conf){ .loop = &loop,
								     .fd = 0,
								     .backend = chosen[i] }),
			0);
		assert_string_equal(td_engine_name(e), want);
		td_engine_close(e);
	}
	td_loop_fini(&loop);
}

/* ---- a backend of the test's own: what the engine does with a backend's errors -------------- */

static struct {
	int submit_err; /* refuse the first request with it (once) */
	int reap_err; /* reap fails with it */
	struct td_engine_req *taken[8];
	size_t taken_len[8]; /* the length asked for at submission */
	int ntaken;
	int reaped;
	/* results of the next completions, in order (then: the whole length) */
	long results[8];
	int nresults, result;
	long always; /* nonzero: the result of every completion after those */
	/* what each submission asked for: the offset, length and iovec array */
	struct {
		uint64_t off;
		size_t len;
		int iovcnt;
		struct iovec iov[4];
	} seen[8];
	int nseen;
} fake;

static int fake_setup(struct td_engine *e, int fd, int efd, unsigned int depth)
{
	return 0;
}

static void fake_teardown(struct td_engine *e)
{
}

static int fake_submit(struct td_engine *e, struct td_engine_req **reqs, int n)
{
	if (fake.submit_err) {
		int err = fake.submit_err;

		fake.submit_err = 0;
		return err;
	}
	if (fake.reaped == fake.ntaken) /* all completed: the array starts again */
		fake.ntaken = fake.reaped = 0;
	for (int i = 0; i < n && fake.ntaken < 8; i++) {
		if (fake.nseen < 8) {
			fake.seen[fake.nseen].off = reqs[i]->off;
			fake.seen[fake.nseen].len = reqs[i]->len;
			fake.seen[fake.nseen].iovcnt = reqs[i]->iovcnt;
			for (int j = 0; j < reqs[i]->iovcnt && j < 4; j++)
				fake.seen[fake.nseen].iov[j] = reqs[i]->iov[j];
			fake.nseen++;
		}
		fake.taken_len[fake.ntaken] = reqs[i]->len;
		fake.taken[fake.ntaken++] = reqs[i];
	}
	return n;
}

static int fake_reap(struct td_engine *e, struct td_engine_cqe *out, int max, bool wait)
{
	int n = 0;

	if (fake.reap_err)
		return fake.reap_err;
	while (fake.reaped < fake.ntaken && n < max) {
		out[n].req = fake.taken[fake.reaped];
		out[n].res = fake.result < fake.nresults ? fake.results[fake.result++] :
			     fake.always		 ? fake.always :
							   (long)fake.taken_len[fake.reaped];
		fake.reaped++;
		n++;
	}
	return n;
}

static bool fake_user_space(const struct td_engine *e)
{
	return true;
}

static const struct td_engine_ops fake_ops = {
	.name = "fake",
	.setup = fake_setup,
	.teardown = fake_teardown,
	.submit = fake_submit,
	.reap = fake_reap,
	.reap_in_user_space = fake_user_space,
};

static void backend_errors_are_reported(void **state)
{
	char path[] = "/tmp/td-test-engine-fake.XXXXXX";
	int fd = mkstemp(path);
	struct td_loop loop;
	struct td_engine *e;
	struct rec a = { 0 }, b = { 0 }, s = { 0 };
	char buf[512];
	struct iovec iov = { buf, sizeof(buf) };

	assert_true(fd >= 0);
	memset(&fake, 0, sizeof(fake));
	done_calls = 0;
	assert_int_equal(td_loop_init(&loop), 0);
	assert_int_equal(
		td_engine_open(&e, &(struct td_engine_conf){ .loop = &loop,
							     .fd = fd,
							     .backend = "no-such-engine" }),
		-ENOENT);
	assert_int_equal(
		td_engine_open(
			&e, &(struct td_engine_conf){ .loop = &loop, .fd = fd, .ops = &fake_ops }),
		0);

	/* a refused request fails alone, from the loop; the next one goes on */
	fake.submit_err = -EIO;
	td_engine_write(e, &a.req, &iov, 1, 0, rec_done);
	td_engine_write(e, &b.req, &iov, 1, 512, rec_done);
	td_engine_kick(e);
	assert_int_equal(done_calls, 0);
	assert_int_equal(td_engine_inflight(e), 1);
	run_until(&loop, 2);
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.res, -EIO);
	assert_int_equal(b.calls, 1);
	assert_int_equal(b.res, 0);

	/* an fsync the kernel does not take asynchronously: fdatasync, from the loop */
	fake.submit_err = -EINVAL;
	td_engine_fsync(e, &s.req, rec_done);
	td_engine_kick(e);
	assert_int_equal(s.calls, 0);
	run_until(&loop, 3);
	assert_int_equal(s.res, 0);

	/* reaping fails: an error, not "nothing completed"; the request stays in flight */
	td_engine_write(e, &a.req, &iov, 1, 0, rec_done);
	td_engine_kick(e);
	fake.reap_err = -EINVAL;
	assert_int_equal(td_engine_poll(e), -EINVAL);
	assert_int_equal(td_engine_poll(e), -EINVAL);
	assert_int_equal(td_engine_inflight(e), 1);
	fake.reap_err = 0;
	assert_int_equal(td_engine_poll(e), 1);
	assert_int_equal(a.calls, 2);

	/* the kernel has no room (EAGAIN) and nothing is in flight: no completion will kick the
	 * queue again, so a timer of the loop does */
	fake.submit_err = -EAGAIN;
	td_engine_write(e, &b.req, &iov, 1, 512, rec_done);
	td_engine_kick(e);
	assert_int_equal(td_engine_inflight(e), 0);
	for (int i = 0; i < 1000 && td_engine_inflight(e) == 0; i++)
		assert_true(td_loop_run_once(&loop, 100) >= 0);
	assert_int_equal(td_engine_inflight(e), 1);
	assert_int_equal(td_engine_poll(e), 1);
	assert_int_equal(b.calls, 2);
	assert_int_equal(b.res, 0);
	td_engine_close(e);
	td_loop_fini(&loop);
	close(fd);
	unlink(path);
}

/* A short read or write (the kernel moved part of it) is resubmitted for the rest: the next
 * submission starts where the transfer stopped, with the iovec array cut there, and done runs
 * once, with success, when every byte moved; a resubmission that moves nothing is -EIO. */
static void a_short_transfer_is_resubmitted(void **state)
{
	struct td_loop loop;
	struct td_engine *e;
	struct rec a = { 0 }, b = { 0 };
	char buf[3][512];
	struct iovec iov[3] = { { buf[0], 512 }, { buf[1], 512 }, { buf[2], 512 } };

	memset(&fake, 0, sizeof(fake));
	assert_int_equal(td_loop_init(&loop), 0);
	assert_int_equal(
		td_engine_open(
			&e, &(struct td_engine_conf){ .loop = &loop, .fd = -1, .ops = &fake_ops }),
		0);
	/* 1536 bytes at 4096: 700 move, then 300, then the rest (536) */
	fake.results[0] = 700;
	fake.results[1] = 300;
	fake.nresults = 2;
	td_engine_read(e, &a.req, iov, 3, 4096, rec_done);
	td_engine_kick(e);
	assert_int_equal(td_engine_poll(e), 0); /* completed short: resubmitted, not done */
	assert_int_equal(a.calls, 0);
	assert_int_equal(td_engine_inflight(e), 1);
	assert_int_equal(fake.nseen, 2);
	assert_int_equal(fake.seen[1].off, 4096 + 700);
	assert_int_equal(fake.seen[1].len, 1536 - 700);
	assert_int_equal(fake.seen[1].iovcnt, 2);
	assert_ptr_equal(fake.seen[1].iov[0].iov_base, buf[1] + 188);
	assert_int_equal(fake.seen[1].iov[0].iov_len, 512 - 188);
	assert_ptr_equal(fake.seen[1].iov[1].iov_base, buf[2]);
	assert_int_equal(td_engine_poll(e), 0);
	assert_int_equal(fake.nseen, 3);
	assert_int_equal(fake.seen[2].off, 4096 + 1000);
	assert_int_equal(fake.seen[2].len, 536);
	assert_int_equal(fake.seen[2].iovcnt, 2);
	assert_ptr_equal(fake.seen[2].iov[0].iov_base, buf[1] + 488);
	assert_int_equal(fake.seen[2].iov[0].iov_len, 24);
	assert_ptr_equal(fake.seen[2].iov[1].iov_base, buf[2]);
	assert_int_equal(td_engine_poll(e), 1);
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.res, 0);
	/* the driver's own array is untouched */
	assert_ptr_equal(a.req.iov, iov);
	assert_int_equal(a.req.iovcnt, 3);
	assert_int_equal(a.req.off, 4096);

	/* a write that moves part, then nothing (the end of a device): -EIO */
	fake.results[2] = 512;
	fake.results[3] = 0;
	fake.nresults = 4;
	td_engine_write(e, &b.req, iov, 3, 0, rec_done);
	td_engine_kick(e);
	assert_int_equal(td_engine_poll(e), 0);
	assert_int_equal(td_engine_poll(e), 1);
	assert_int_equal(b.calls, 1);
	assert_int_equal(b.res, -EIO);
	assert_int_equal(fake.seen[4].off, 512);
	assert_int_equal(fake.seen[4].iovcnt, 2);
	td_engine_close(e);
	td_loop_fini(&loop);
}

/* -EAGAIN from the kernel is retried (the same request again) and succeeds; a request that gets
 * it every time fails with it after TD_ENGINE_EAGAIN_TRIES retries. */
static void eagain_is_retried(void **state)
{
	struct td_loop loop;
	struct td_engine *e;
	struct rec a = { 0 };
	char buf[512];
	struct iovec iov = { buf, sizeof(buf) };
	int polls = 0;

	memset(&fake, 0, sizeof(fake));
	assert_int_equal(td_loop_init(&loop), 0);
	assert_int_equal(
		td_engine_open(
			&e, &(struct td_engine_conf){ .loop = &loop, .fd = -1, .ops = &fake_ops }),
		0);
	fake.results[0] = fake.results[1] = -EAGAIN;
	fake.nresults = 2;
	td_engine_write(e, &a.req, &iov, 1, 512, rec_done);
	td_engine_kick(e);
	while (!a.calls && polls++ < 10)
		assert_true(td_engine_poll(e) >= 0);
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.res, 0);
	assert_int_equal(fake.nseen, 3);
	assert_int_equal(fake.seen[2].off, 512);
	assert_int_equal(fake.seen[2].len, 512);

	/* for ever EAGAIN: the error, after the retries */
	memset(&fake, 0, sizeof(fake));
	fake.always = -EAGAIN;
	a.calls = 0;
	polls = 0;
	td_engine_write(e, &a.req, &iov, 1, 0, rec_done);
	td_engine_kick(e);
	while (!a.calls && polls++ < 100)
		assert_true(td_engine_poll(e) >= 0);
	assert_int_equal(a.calls, 1);
	assert_int_equal(polls, TD_ENGINE_EAGAIN_TRIES + 1);
	assert_int_equal(a.res, -EAGAIN);
	td_engine_close(e);
	td_loop_fini(&loop);
}

/* ---- io_uring's settings ($TAPDISK_URING_*) -------------------------------------------------- */

static void clear_uring_env(void)
{
	unsetenv(TD_URING_BATCH_ENV);
	unsetenv(TD_URING_FIXED_BUFFERS_ENV);
	unsetenv(TD_URING_SQPOLL_ENV);
	unsetenv(TD_URING_SQPOLL_CPU_ENV);
}

/* The variables' values, their defaults, and bad values (the default, not an error). */
static void tuning_from_the_environment(void **state)
{
	struct td_engine_tuning t;

	clear_uring_env();
	td_engine_tuning_read(&t);
	assert_int_equal(t.batch, TD_URING_BATCH_DEFAULT);
	assert_int_equal(t.fixed_buffers, TD_URING_FIXED_BUFFERS_DEFAULT);
	assert_false(t.sqpoll);
	assert_int_equal(t.sqpoll_cpu, -1);
	setenv(TD_URING_BATCH_ENV, "32", 1);
	setenv(TD_URING_FIXED_BUFFERS_ENV, "on", 1);
	setenv(TD_URING_SQPOLL_ENV, "1", 1);
	setenv(TD_URING_SQPOLL_CPU_ENV, "0", 1);
	td_engine_tuning_read(&t);
	assert_int_equal(t.batch, 32);
	assert_true(t.fixed_buffers);
	assert_true(t.sqpoll);
	assert_int_equal(t.sqpoll_cpu, 0);
	setenv(TD_URING_BATCH_ENV, "0", 1);
	setenv(TD_URING_FIXED_BUFFERS_ENV, "maybe", 1);
	setenv(TD_URING_SQPOLL_ENV, "off", 1);
	setenv(TD_URING_SQPOLL_CPU_ENV, "-1", 1);
	td_engine_tuning_read(&t);
	assert_int_equal(t.batch, TD_URING_BATCH_DEFAULT);
	assert_int_equal(t.fixed_buffers, TD_URING_FIXED_BUFFERS_DEFAULT);
	assert_false(t.sqpoll);
	assert_int_equal(t.sqpoll_cpu, -1);
	setenv(TD_URING_BATCH_ENV, "129", 1);
	setenv(TD_URING_SQPOLL_CPU_ENV, "4096", 1);
	td_engine_tuning_read(&t);
	assert_int_equal(t.batch, TD_URING_BATCH_DEFAULT);
	assert_int_equal(t.sqpoll_cpu, -1);
	setenv(TD_URING_BATCH_ENV, "12x", 1);
	td_engine_tuning_read(&t);
	assert_int_equal(t.batch, TD_URING_BATCH_DEFAULT);
	clear_uring_env();
}

/* With a batch of 4: fewer requests wait (for the end of the loop iteration), 4 go at once. */
static void io_uring_batches(void **state)
{
	struct fixture f;
	struct rec r[4];
	struct iovec iov[4];

	memset(r, 0, sizeof(r));
	clear_uring_env();
	setenv(TD_URING_BATCH_ENV, "4", 1);
	done_calls = 0;
	fixture_open(&f, 8, O_RDONLY);
	for (int i = 0; i < 3; i++) {
		iov[i] = (struct iovec){ f.buf + i * BLK, BLK };
		td_engine_read(f.e, &r[i].req, &iov[i], 1, (uint64_t)i * BLK, rec_done);
	}
	td_engine_kick(f.e);
	assert_int_equal(td_engine_inflight(f.e), 0); /* waiting for a fourth */
	run_until(&f.loop, 3); /* the end of the iteration submitted them */
	for (int i = 0; i < 4; i++) {
		iov[i] = (struct iovec){ f.buf + i * BLK, BLK };
		td_engine_read(f.e, &r[i].req, &iov[i], 1, (uint64_t)(i + 4) * BLK, rec_done);
	}
	td_engine_kick(f.e);
	assert_int_equal(td_engine_inflight(f.e) + (unsigned int)(done_calls - 3), 4);
	run_until(&f.loop, 7);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(r[i].res, 0);
		assert_int_equal(f.buf[i * BLK], i + 4);
	}
	clear_uring_env();
	fixture_close(&f);
}

/* Fixed buffers: a read into the registered region goes through it (READ_FIXED): once the
 * region's memory is replaced behind the engine's back (what the ownership rule forbids), the
 * data lands in the registered pages, not in the new ones; after unregistering, a read lands
 * where asked again. Off (the default): nothing is registered. */
static void io_uring_fixed_buffers(void **state)
{
	struct fixture f;
	struct rec w = { 0 }, r = { 0 };
	struct iovec iov[2];
	size_t len = 16 * BLK;
	unsigned char *region;

	clear_uring_env();
	done_calls = 0;
	fixture_open(&f, 8, O_RDWR);
	region = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(region != MAP_FAILED);
	assert_int_equal(td_engine_register_buffer(f.e, region, len), -EOPNOTSUPP);
	fixture_close(&f);

	setenv(TD_URING_FIXED_BUFFERS_ENV, "on", 1);
	done_calls = 0;
	fixture_open(&f, 8, O_RDWR);
	assert_int_equal(td_engine_register_buffer(f.e, region, len), 0);
	/* a write from two contiguous iovecs inside the region: one WRITE_FIXED */
	memset(region, 0xab, 2 * BLK);
	iov[0] = (struct iovec){ region, BLK };
	iov[1] = (struct iovec){ region + BLK, BLK };
	td_engine_write(f.e, &w.req, iov, 2, 2 * BLK, rec_done);
	td_engine_kick(f.e);
	run_until(&f.loop, 1);
	assert_int_equal(w.res, 0);
	assert_int_equal(pread(f.fd, f.buf, BLK, 3 * BLK), BLK);
	assert_int_equal(f.buf[0], 0xab);
	/* replace the region's pages, then read into them */
	assert_true(mmap(region, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == region);
	iov[0] = (struct iovec){ region + 4 * BLK, 2 * BLK };
	td_engine_read(f.e, &r.req, iov, 1, 2 * BLK, rec_done);
	td_engine_kick(f.e);
	run_until(&f.loop, 2);
	assert_int_equal(r.res, 0);
	assert_int_equal(region[4 * BLK], 0); /* into the registered (old) pages */
	/* unregistered: a read lands in the mapping */
	assert_int_equal(td_engine_register_buffer(f.e, NULL, 0), 0);
	td_engine_read(f.e, &r.req, iov, 1, 2 * BLK, rec_done);
	td_engine_kick(f.e);
	run_until(&f.loop, 3);
	assert_int_equal(r.res, 0);
	assert_int_equal(region[4 * BLK], 0xab);
	/* registered again, and closed with it registered */
	assert_int_equal(td_engine_register_buffer(f.e, region, len), 0);
	clear_uring_env();
	fixture_close(&f);
	munmap(region, len);
}

/* The engine's counter `name` (td_engine_counters). */
static uint64_t counter(const struct td_engine *e, const char *name)
{
	struct td_counter c[8];
	int n = td_engine_counters(e, c, 8);

	for (int i = 0; i < n; i++)
		if (!strcmp(c[i].name, name))
			return c[i].value;
	fail_msg("no counter %s", name);
	return 0;
}

/* Reads one iovec from block `blk` into iov and waits for it (the calls-th completion). */
static void read_one(struct fixture *f, struct rec *r, void *at, size_t len, int blk, int calls)
{
	struct iovec iov = { at, len };

	td_engine_read(f->e, &r->req, &iov, 1, (uint64_t)blk * BLK, rec_done);
	td_engine_kick(f->e);
	run_until(&f->loop, calls);
	assert_int_equal(r->res, 0);
}

/* Fixed pages (what the ring registers for its persistent grants): a request of one iovec
 * inside a registered page goes as READ_FIXED/WRITE_FIXED on that page, counted, wherever its
 * slot lies (slot 300 grows the table, the region kept); once the page's memory is replaced
 * behind the engine's back a read lands in the registered page; unregistered, in the mapping.
 * One iovec across two pages is not fixed. A page the kernel refuses to pin (read-only: it
 * would be written) stops the registration of pages on that engine; off: nothing registers. */
static void io_uring_fixed_pages(void **state)
{
	struct fixture f;
	struct rec w = { 0 }, r = { 0 };
	size_t len = 4 * BLK;
	unsigned char *pages, *region, *ro;
	struct iovec iov;

	clear_uring_env();
	fixture_open(&f, 8, O_RDWR);
	pages = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	region = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ro = mmap(NULL, BLK, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(pages != MAP_FAILED && region != MAP_FAILED && ro != MAP_FAILED);
	assert_int_equal(td_engine_register_page(f.e, 0, pages), -EOPNOTSUPP);
	assert_int_equal(counter(f.e, "fixed_pages"), 0);
	fixture_close(&f);

	setenv(TD_URING_FIXED_BUFFERS_ENV, "on", 1);
	fixture_open(&f, 8, O_RDWR);
	assert_int_equal(td_engine_register_buffer(f.e, region, len), 0);
	assert_int_equal(td_engine_register_page(f.e, 0, pages), 0);
	assert_int_equal(td_engine_register_page(f.e, 300, pages + BLK), 0);
	assert_int_equal(counter(f.e, "fixed_pages"), 2);
	/* 2 KiB from the middle of slot 300's page: one WRITE_FIXED on it */
	memset(pages + BLK, 0xcd, BLK);
	iov = (struct iovec){ pages + BLK + 1024, 2048 };
	td_engine_write(f.e, &w.req, &iov, 1, 2 * BLK, rec_done);
	td_engine_kick(f.e);
	run_until(&f.loop, 1);
	assert_int_equal(w.res, 0);
	assert_int_equal(pread(f.fd, f.buf, BLK, 2 * BLK), BLK);
	assert_int_equal(f.buf[0], 0xcd);
	assert_int_equal(f.buf[2047], 0xcd);
	assert_int_equal(f.buf[2048], 2);
	assert_int_equal(counter(f.e, "fixed_page_ios"), 1);
	assert_int_equal(counter(f.e, "fixed_ios"), 1);
	/* the region still goes fixed after the table grew */
	read_one(&f, &r, region, BLK, 5, 2);
	assert_int_equal(region[0], 5);
	assert_int_equal(counter(f.e, "fixed_ios"), 2);
	assert_int_equal(counter(f.e, "fixed_page_ios"), 1);
	/* one iovec over slot 0's page and the next: as before */
	read_one(&f, &r, pages, 2 * BLK, 0, 3);
	assert_int_equal(pages[0], 0);
	assert_int_equal(pages[BLK], 1);
	assert_int_equal(counter(f.e, "fixed_ios"), 2);
	/* slot 300's page replaced: the read lands in the registered (old) page */
	assert_true(mmap(pages + BLK, BLK, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == pages + BLK);
	read_one(&f, &r, pages + BLK, BLK, 4, 4);
	assert_int_equal(pages[BLK], 0);
	assert_int_equal(counter(f.e, "fixed_page_ios"), 2);
	/* unregistered: the read lands in the mapping */
	assert_int_equal(td_engine_register_page(f.e, 300, NULL), 0);
	assert_int_equal(counter(f.e, "fixed_pages"), 1);
	read_one(&f, &r, pages + BLK, BLK, 4, 5);
	assert_int_equal(pages[BLK], 4);
	assert_int_equal(counter(f.e, "fixed_page_ios"), 2);
	/* refused: no page after it either; the ones registered stay until unregistered */
	assert_true(td_engine_register_page(f.e, 1, ro) < 0);
	assert_int_equal(td_engine_register_page(f.e, 2, pages + 2 * BLK), -EOPNOTSUPP);
	assert_int_equal(counter(f.e, "fixed_pages"), 1);
	read_one(&f, &r, pages, BLK, 6, 6);
	assert_int_equal(counter(f.e, "fixed_page_ios"), 3);
	assert_int_equal(td_engine_register_page(f.e, 0, NULL), 0);
	assert_int_equal(counter(f.e, "fixed_pages"), 0);
	/* closed with the region registered */
	clear_uring_env();
	fixture_close(&f);
	munmap(pages, len);
	munmap(region, len);
	munmap(ro, BLK);
}

/* Whether a thread of this process is io_uring's SQ poller (iou-sqp-<pid>). */
static bool have_sqpoll_thread(void)
{
	char path[64], comm[32];
	bool found = false;
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;

	assert_non_null(d);
	while (!found && (de = readdir(d))) {
		FILE *fp;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%.20s/comm", de->d_name);
		fp = fopen(path, "re");
		if (!fp)
			continue;
		found = fgets(comm, sizeof(comm), fp) && !strncmp(comm, "iou-sqp-", 8);
		fclose(fp);
	}
	closedir(d);
	return found;
}

/* SQPOLL: I/O works with the kernel's thread submitting (which this process then has); a CPU
 * the kernel refuses (out of range) falls back to a ring without it, which works too. */
static void io_uring_sqpoll(void **state)
{
	struct fixture f;
	struct rec r[8];
	struct iovec iov[8];

	memset(r, 0, sizeof(r));
	clear_uring_env();
	setenv(TD_URING_SQPOLL_ENV, "on", 1);
	for (int pass = 0; pass < 2; pass++) {
		if (pass) {
			/* the first ring's thread goes in the kernel's own time */
			for (double end = test_now_s() + 30;
			     have_sqpoll_thread() && test_now_s() < end;)
				usleep(1000);
			assert_false(have_sqpoll_thread());
			setenv(TD_URING_SQPOLL_CPU_ENV, "4095", 1);
		}
		done_calls = 0;
		fixture_open(&f, 8, O_RDONLY);
		if (!pass) { /* the thread names itself once it runs */
			for (double end = test_now_s() + 10;
			     !have_sqpoll_thread() && test_now_s() < end;)
				usleep(1000);
			if (!have_sqpoll_thread()) {
				printf("SKIP: io_uring_sqpoll: the kernel refuses SQPOLL here\n");
				clear_uring_env();
				fixture_close(&f);
				skip();
			}
		}
		if (pass)
			assert_false(have_sqpoll_thread());
		for (int i = 0; i < 8; i++) {
			iov[i] = (struct iovec){ f.buf + i * BLK, BLK };
			td_engine_read(f.e, &r[i].req, &iov[i], 1, (uint64_t)(7 - i) * BLK,
				       rec_done);
		}
		td_engine_kick(f.e);
		run_until(&f.loop, 8);
		for (int i = 0; i < 8; i++) {
			assert_int_equal(r[i].res, 0);
			assert_int_equal(f.buf[i * BLK], 7 - i);
		}
		fixture_close(&f);
	}
	clear_uring_env();
}

/* The aio ring reader hands io_getevents' error back rather than "no events". */
static void aio_ring_reports_getevents_errors(void **state)
{
	struct aio_ring_reader r;
	struct io_event ev[4];

	assert_false(aio_ring_reader_init(&r, NULL, "test"));
	assert_false(aio_ring_reader_user(&r));
	assert_int_equal(aio_ring_get_events(&r, ev, 4), -EINVAL);
}

/* The real-file tests on one backend. */
static int run_on(const char *name, const char *group)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(writes_and_reads_a_file),
		cmocka_unit_test(done_never_runs_inside_submit_or_kick),
		cmocka_unit_test(more_requests_than_the_depth_wait_and_complete),
		cmocka_unit_test(close_waits_for_requests_in_flight),
		cmocka_unit_test(kernel_errors_reach_done),
		cmocka_unit_test(a_short_transfer_is_an_error),
		cmocka_unit_test(a_discard_punches_a_hole),
	};

	backend = name;
	test_backend_probe(name, unavailable, sizeof(unavailable));
	return cmocka_run_group_tests_name(group, tests, NULL, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(auto_prefers_io_uring),
		cmocka_unit_test(backend_errors_are_reported),
		cmocka_unit_test(a_short_transfer_is_resubmitted),
		cmocka_unit_test(eagain_is_retried),
		cmocka_unit_test(tuning_from_the_environment),
		cmocka_unit_test(aio_ring_reports_getevents_errors),
	};
	const struct CMUnitTest io_uring_tests[] = {
		cmocka_unit_test(close_cancels_what_never_completes),
		cmocka_unit_test(io_uring_batches),
		cmocka_unit_test(io_uring_fixed_buffers),
		cmocka_unit_test(io_uring_fixed_pages),
		cmocka_unit_test(io_uring_sqpoll),
	};
	int failed = run_on("libaio", "engine_libaio");

	failed += run_on("io_uring", "engine_io_uring");
	failed += cmocka_run_group_tests_name("engine_io_uring_only", io_uring_tests, NULL, NULL);
	return failed + cmocka_run_group_tests_name("engine", tests, NULL, NULL);
}
