/* Image drivers through their ops tables: the registry (names, aliases), the null driver
 * (sizes, zeros, completion only from kick), and, once over each I/O engine (libaio, io_uring:
 * skipped, saying why, where this build or kernel has none), the aio driver on a real file (data,
 * flush, discard, read-only; completions polled from the kernel's ring without the loop; image
 * locks) and the vhd driver under more I/O than its pools hold. */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "ringtap/driver.h"
#include "ringtap/vhd.h"
#include "src/loop.h"
#include "tests/unit/drivers/backends.h"

struct done_rec {
	int calls;
	int err;
};

static void rec_done(struct td_io *io, int err)
{
	struct done_rec *r = io->data;

	r->calls++;
	r->err = err;
}

static void io_init(struct td_io *io, uint8_t op, uint64_t sector, struct iovec *iov, int n,
		    struct done_rec *rec)
{
	memset(io, 0, sizeof(*io));
	io->op = op;
	io->sector = sector;
	io->iov = iov;
	io->iovcnt = n;
	io->done = rec_done;
	io->data = rec;
}

static void registry_names_and_aliases(void **state)
{
	struct td_loop loop;
	struct td_image img;

	assert_non_null(td_driver_find("aio"));
	assert_ptr_equal(td_driver_find("raw"), td_driver_find("aio"));
	assert_non_null(td_driver_find("null"));
	assert_null(td_driver_find("qcow9"));
	assert_int_equal(td_loop_init(&loop), 0);
	assert_int_equal(td_image_open(&img, &loop, "qcow9:/x", 0), -EPROTONOSUPPORT);
	assert_int_equal(td_image_open(&img, &loop, "no-colon", 0), -EINVAL);
	assert_int_equal(td_image_open(&img, &loop, ":/x", 0), -EINVAL);
	assert_int_equal(td_image_open(&img, &loop, "null:1M", 0), 0);
	assert_string_equal(img.name, "null:1M");
	td_image_close(&img);
	td_loop_fini(&loop);
}

static void null_sizes(void **state)
{
	struct td_loop loop;
	struct td_image img;
	uint64_t b;

	assert_int_equal(td_loop_init(&loop), 0);
	assert_int_equal(td_image_open(&img, &loop, "null:1M", 0), 0);
	assert_int_equal(img.info.sectors, 2048);
	td_image_close(&img);
	assert_int_equal(td_image_open(&img, &loop, "null:", 0), 0);
	assert_int_equal(img.info.sectors, (1u << 30) / 512);
	td_image_close(&img);
	assert_int_equal(td_image_open(&img, &loop, "null:4096", TD_OPEN_RDONLY), 0);
	assert_int_equal(img.info.sectors, 8);
	assert_true(img.info.readonly);
	td_image_close(&img);
	assert_int_equal(td_image_open(&img, &loop, "null:100", 0), -EINVAL); /* not sectors */
	assert_int_equal(td_image_open(&img, &loop, "null:0", 0), -EINVAL);
	assert_int_equal(td_image_open(&img, &loop, "null:1X", 0), -EINVAL);
	assert_int_equal(td_image_open(&img, &loop, "null:-1", 0), -EINVAL);
	assert_int_equal(td_image_open(&img, &loop, "null:99999999999T", 0), -EINVAL);
	assert_int_equal(td_parse_size("2G", &b), 0);
	assert_true(b == 2ull << 30);
	assert_int_equal(td_parse_size("3KiB", &b), 0);
	assert_int_equal(b, 3072);
	td_loop_fini(&loop);
}

static void null_completes_at_kick_with_zeros(void **state)
{
	struct td_loop loop;
	struct td_image img;
	struct td_io io[3];
	struct done_rec rec[3] = { { 0 } };
	char buf[2][4096];
	struct iovec iov[2] = { { buf[0], 4096 }, { buf[1], 1024 } };

	memset(buf, 0xab, sizeof(buf));
	assert_int_equal(td_loop_init(&loop), 0);
	assert_int_equal(td_image_open(&img, &loop, "null:1M", 0), 0);
	io_init(&io[0], TD_IO_READ, 0, iov, 2, &rec[0]);
	io_init(&io[1], TD_IO_WRITE, 8, iov, 1, &rec[1]);
	io_init(&io[2], TD_IO_FLUSH, 0, NULL, 0, &rec[2]);
	for (int i = 0; i < 3; i++)
		td_image_submit(&img, &io[i]);
	assert_int_equal(rec[0].calls + rec[1].calls + rec[2].calls, 0); /* not from submit */
	td_image_kick(&img);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(rec[i].calls, 1);
		assert_int_equal(rec[i].err, 0);
	}
	for (int i = 0; i < 4096 + 1024; i++)
		assert_int_equal(((unsigned char *)buf)[i], 0);
	assert_int_equal((unsigned char)buf[1][1024], 0xab); /* nothing beyond the iovec */
	td_image_close(&img);
	td_loop_fini(&loop);
}

/* The engine the aio and vhd tests run on (TD_OPEN_ENGINE_*), its name, why it cannot here. */
static unsigned int engine;
static const char *engine_name;
static char unavailable[128];

/* td_image_open on the engine under test: every file of the image's stack says it uses it. */
static int open_img(struct td_image *img, struct td_loop *loop, const char *type_path,
		    unsigned int flags)
{
	int rc;

	if (unavailable[0])
		skip();
	rc = td_image_open(img, loop, type_path, flags | engine);
	if (rc == 0 && strncmp(type_path, "null:", 5))
		for (const struct td_image *i = img; i; i = i->parent)
			assert_string_equal(i->info.engine, engine_name);
	return rc;
}

/* Runs the loop until rec has `calls` completions, for at most 30 s (an iteration may bring
 * none: io_uring's completion work interrupts epoll_wait before the eventfd wakes it). */
static void run_until(struct td_loop *loop, struct done_rec *rec, int calls)
{
	for (double end = test_now_s() + 30; rec->calls < calls && test_now_s() < end;)
		assert_true(td_loop_run_once(loop, 100) >= 0);
	assert_int_equal(rec->calls, calls);
}

static void aio_reads_writes_flushes_and_discards(void **state)
{
	char path[] = "/tmp/td-test-aio.XXXXXX";
	int fd = mkstemp(path);
	struct td_loop loop;
	struct td_image img;
	struct td_io io;
	struct done_rec rec = { 0 };
	unsigned char *buf, *chk;
	struct iovec iov[2];
	char tp[64];
	struct stat st;

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1 << 20), 0);
	buf = aligned_alloc(4096, 16384);
	chk = malloc(8192);
	assert_int_equal(td_loop_init(&loop), 0);
	snprintf(tp, sizeof(tp), "raw:%s", path);
	assert_int_equal(open_img(&img, &loop, tp, 0), 0);
	assert_string_equal(img.name + 3, tp + 3);
	assert_memory_equal(img.name, "aio:", 4); /* printed as aio */
	assert_int_equal(img.info.sectors, 2048);

	memset(buf, 0x3c, 4096);
	memset(buf + 4096, 0xc3, 4096);
	iov[0] = (struct iovec){ buf, 4096 };
	iov[1] = (struct iovec){ buf + 4096, 4096 };
	io_init(&io, TD_IO_WRITE, 16, iov, 2, &rec);
	td_image_submit(&img, &io);
	td_image_kick(&img);
	run_until(&loop, &rec, 1);
	assert_int_equal(rec.err, 0);
	assert_int_equal(pread(fd, chk, 8192, 16 * 512), 8192);
	assert_memory_equal(chk, buf, 8192);

	io_init(&io, TD_IO_FLUSH, 0, NULL, 0, &rec);
	td_image_submit(&img, &io);
	td_image_kick(&img);
	run_until(&loop, &rec, 2);
	assert_int_equal(rec.err, 0);

	memset(buf + 8192, 0, 8192);
	iov[0] = (struct iovec){ buf + 8192, 8192 };
	io_init(&io, TD_IO_READ, 16, iov, 1, &rec);
	td_image_submit(&img, &io);
	td_image_kick(&img);
	run_until(&loop, &rec, 3);
	assert_int_equal(rec.err, 0);
	assert_memory_equal(buf + 8192, buf, 8192);

	/* discard: a hole, zeros, the size kept */
	assert_int_equal(fstat(fd, &st), 0);
	blkcnt_t before = st.st_blocks;
	io_init(&io, TD_IO_DISCARD, 16, NULL, 0, &rec);
	io.nr_sectors = 16;
	td_image_submit(&img, &io);
	td_image_kick(&img);
	run_until(&loop, &rec, 4);
	assert_int_equal(rec.err, 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_true(st.st_blocks < before);
	assert_int_equal(st.st_size, 1 << 20);
	assert_int_equal(pread(fd, chk, 8192, 16 * 512), 8192);
	for (int i = 0; i < 8192; i++)
		assert_int_equal(chk[i], 0);
	td_image_close(&img);

	/* read-only: opened O_RDONLY, so a write fails in the kernel even if it got there */
	assert_int_equal(open_img(&img, &loop, tp, TD_OPEN_RDONLY), 0);
	assert_true(img.info.readonly);
	iov[0] = (struct iovec){ buf, 4096 };
	io_init(&io, TD_IO_WRITE, 0, iov, 1, &rec);
	td_image_submit(&img, &io);
	td_image_kick(&img);
	run_until(&loop, &rec, 5);
	assert_int_equal(rec.err, -EBADF);
	td_image_close(&img);

	assert_int_equal(open_img(&img, &loop, "aio:/nonexistent/x", 0), -ENOENT);
	assert_int_equal(open_img(&img, &loop, "aio:", 0), -EINVAL);
	assert_int_equal(open_img(&img, &loop, "aio:/tmp", 0), -EISDIR);
	td_loop_fini(&loop);
	close(fd);
	unlink(path);
	free(buf);
	free(chk);
}

/* Adaptive polling's path: completions read from the kernel's ring in user space, without the loop
 * (no eventfd read, no io_getevents), across several wraps of the ring, with the right data. */
static void aio_poll_reaps_the_ring_without_the_loop(void **state)
{
	enum { N = 600, ROUNDS = 4 };
	char path[] = "/tmp/td-test-aio-poll.XXXXXX";
	int fd = mkstemp(path);
	struct td_loop loop;
	struct td_image img;
	struct td_io *io = calloc(N, sizeof(*io));
	struct iovec *iov = calloc(N, sizeof(*iov));
	struct done_rec rec = { 0 };
	unsigned char *file = malloc((size_t)N * 4096), *buf = aligned_alloc(4096, (size_t)N * 4096);
	char tp[64];

	assert_true(fd >= 0 && io && iov && file && buf);
	for (size_t i = 0; i < (size_t)N * 4096; i++)
		file[i] = (unsigned char)(i / 4096 * 7 + i % 251);
	assert_int_equal(pwrite(fd, file, (size_t)N * 4096, 0), (ssize_t)N * 4096);
	assert_int_equal(td_loop_init(&loop), 0);
	snprintf(tp, sizeof(tp), "aio:%s", path);
	assert_int_equal(open_img(&img, &loop, tp, TD_OPEN_RDONLY), 0);
	assert_int_equal(td_image_poll(&img), 0); /* nothing in flight */
	for (int round = 0; round < ROUNDS; round++) {
		int polled = 0;

		memset(buf, 0, (size_t)N * 4096);
		for (int i = 0; i < N; i++) {
			/* round r reads block (i + r) % N into slot i */
			iov[i] = (struct iovec){ buf + (size_t)i * 4096, 4096 };
			io_init(&io[i], TD_IO_READ, (uint64_t)((i + round) % N) * 8, &iov[i], 1, &rec);
			td_image_submit(&img, &io[i]);
		}
		td_image_kick(&img);
		/* spinning without a system call (the clock is the vDSO's) as adaptive polling
		 * does: the completions must show up in user space all the same */
		for (double end = test_now_s() + 30; polled < N && test_now_s() < end;) {
			int n = td_image_poll(&img);

			assert_true(n >= 0);
			polled += n;
		}
		assert_int_equal(polled, N);
		assert_int_equal(rec.calls, (round + 1) * N);
		assert_int_equal(rec.err, 0);
		for (int i = 0; i < N; i++)
			assert_memory_equal(buf + (size_t)i * 4096,
					    file + (size_t)((i + round) % N) * 4096, 4096);
	}
	assert_int_equal(td_image_poll(&img), 0);
	/* the eventfd still counted them: the loop's handler finds nothing left to complete */
	assert_true(td_loop_run_once(&loop, 0) >= 0);
	assert_int_equal(rec.calls, ROUNDS * N);
	td_image_close(&img);

	/* the null driver completes at kick: nothing to poll, ever */
	assert_int_equal(open_img(&img, &loop, "null:1M", 0), 0);
	assert_int_equal(td_image_poll(&img), 0);
	td_image_close(&img);
	td_loop_fini(&loop);
	close(fd);
	unlink(path);
	free(io);
	free(iov);
	free(file);
	free(buf);
}

/* Whether another open file of path holds a lock on byte (QEMU's layout: 100 + permission the
 * holder takes, 200 + permission it does not share; 1 is write). */
static bool byte_locked(const char *path, int byte)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = byte, .l_len = 1 };
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(fcntl(fd, F_OFD_GETLK, &fl), 0);
	close(fd);
	return fl.l_type != F_UNLCK;
}

/* Image locks (drivers/image_lock.c): a writable image excludes every other opener, read-only
 * ones share, -L off opts out, close releases; the refusal says who holds the image. */
static void aio_images_lock_as_qemu(void **state)
{
	char path[] = "/tmp/td-test-lock.XXXXXX", tp[64], pid[32];
	struct td_image a, b, c;
	struct td_loop loop;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1 << 20), 0);
	assert_int_equal(td_loop_init(&loop), 0);
	snprintf(tp, sizeof(tp), "aio:%s", path);
	snprintf(pid, sizeof(pid), "pid %d ", (int)getpid());

	assert_int_equal(open_img(&a, &loop, tp, 0), 0);
	assert_true(byte_locked(path, 101)); /* takes write */
	assert_true(byte_locked(path, 201)); /* shares no write */
	assert_false(byte_locked(path, 200)); /* shares read */
	assert_int_equal(open_img(&b, &loop, tp, 0), -EBUSY);
	assert_non_null(strstr(b.why, pid));
	assert_non_null(strstr(b.why, "read-write"));
	assert_int_equal(open_img(&b, &loop, tp, TD_OPEN_RDONLY), -EBUSY);
	assert_int_equal(open_img(&b, &loop, tp, TD_OPEN_LOCK_ON), -EBUSY);
	/* off: no lock taken, none checked */
	assert_int_equal(open_img(&b, &loop, tp, TD_OPEN_LOCK_OFF), 0);
	td_image_close(&b);
	td_image_close(&a);
	assert_false(byte_locked(path, 101));
	assert_false(byte_locked(path, 201));

	/* readers share; a writer is refused while they hold it, and is told they read */
	assert_int_equal(open_img(&a, &loop, tp, TD_OPEN_RDONLY), 0);
	assert_int_equal(open_img(&b, &loop, tp, TD_OPEN_RDONLY), 0);
	assert_false(byte_locked(path, 101));
	assert_true(byte_locked(path, 201));
	assert_int_equal(open_img(&c, &loop, tp, 0), -EBUSY);
	assert_non_null(strstr(c.why, "read-only"));
	td_image_close(&a);
	assert_int_equal(open_img(&c, &loop, tp, 0), -EBUSY);
	td_image_close(&b);
	assert_int_equal(open_img(&c, &loop, tp, 0), 0);
	assert_string_equal(c.why, "");
	td_image_close(&c);
	td_loop_fini(&loop);
	close(fd);
	unlink(path);
}

/* The vhd driver under more guest I/O than it has pieces (and more new blocks than allocation
 * slots, and I/Os of more buffers than a piece takes): everything waits its turn, nothing
 * fails, and the data reads back, zeros where nothing was written. */
static void vhd_more_ios_than_pieces_wait_and_complete(void **state)
{
	enum { BLOCKS = 100, PER_BLOCK = 7, N = BLOCKS * PER_BLOCK, MANY = 40, HEAD = 32768 };
	char dir[] = "/tmp/td-test-vhd.XXXXXX", path[64], tp[80], err[256];
	struct vhd_create_params cp = { .type = VHD_TYPE_DYNAMIC, .size = 256ull << 20 };
	struct td_loop loop;
	struct td_image img;
	struct td_io *io = calloc(N + 1, sizeof(*io));
	struct iovec *iov = calloc(N + MANY, sizeof(*iov));
	struct done_rec rec = { 0 };
	unsigned char *buf, *rd;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/d.vhd", dir);
	assert_int_equal(vhd_create(path, &cp, err, sizeof(err)), 0);
	assert_true(io && iov);
	assert_int_equal(posix_memalign((void **)&buf, 4096, (size_t)(N + MANY) * 4096), 0);
	assert_int_equal(posix_memalign((void **)&rd, 4096, (size_t)N * HEAD), 0);
	assert_int_equal(td_loop_init(&loop), 0);
	snprintf(tp, sizeof(tp), "vhd:%s", path);
	assert_int_equal(open_img(&img, &loop, tp, 0), 0);

	/* write i: 4 KiB number (i / BLOCKS) of block i % BLOCKS */
	for (int i = 0; i < N; i++) {
		memset(buf + (size_t)i * 4096, 1 + i % 251, 4096);
		iov[i] = (struct iovec){ buf + (size_t)i * 4096, 4096 };
		io_init(&io[i], TD_IO_WRITE,
			(uint64_t)(i % BLOCKS) * 4096 + (uint64_t)(i / BLOCKS) * 8, &iov[i], 1, &rec);
		td_image_submit(&img, &io[i]);
	}
	/* and one write of MANY 512-byte buffers into block BLOCKS (a fresh one), at sector 0 */
	for (int k = 0; k < MANY; k++) {
		memset(buf + (size_t)(N + k) * 4096, 0x40 + k, 512);
		iov[N + k] = (struct iovec){ buf + (size_t)(N + k) * 4096, 512 };
	}
	io_init(&io[N], TD_IO_WRITE, (uint64_t)BLOCKS * 4096, &iov[N], MANY, &rec);
	td_image_submit(&img, &io[N]);
	assert_int_equal(rec.calls, 0); /* never from inside submit */
	td_image_kick(&img);
	run_until(&loop, &rec, N + 1);
	assert_int_equal(rec.err, 0);

	/* read back, N times: the first HEAD bytes of a block (a written run, then zeros: two
	 * pieces each, so that some reads find no piece for their second run) */
	rec = (struct done_rec){ 0 };
	memset(rd, 0xee, (size_t)N * HEAD);
	for (int i = 0; i < N; i++) {
		iov[i] = (struct iovec){ rd + (size_t)i * HEAD, HEAD };
		io_init(&io[i], TD_IO_READ, (uint64_t)(i % BLOCKS) * 4096, &iov[i], 1, &rec);
		td_image_submit(&img, &io[i]);
	}
	td_image_kick(&img);
	run_until(&loop, &rec, N);
	assert_int_equal(rec.err, 0);
	for (int i = 0; i < N; i++) {
		const unsigned char *p = rd + (size_t)i * HEAD;
		int b = i % BLOCKS;

		for (int j = 0; j < PER_BLOCK; j++)
			assert_memory_equal(p + j * 4096, buf + (size_t)(j * BLOCKS + b) * 4096,
					    4096);
		for (size_t z = PER_BLOCK * 4096; z < HEAD; z++)
			assert_int_equal(p[z], 0);
	}
	/* the many-buffer write, read back in one buffer */
	rec = (struct done_rec){ 0 };
	iov[0] = (struct iovec){ rd, MANY * 512 };
	io_init(&io[0], TD_IO_READ, (uint64_t)BLOCKS * 4096, &iov[0], 1, &rec);
	td_image_submit(&img, &io[0]);
	td_image_kick(&img);
	run_until(&loop, &rec, 1);
	assert_int_equal(rec.err, 0);
	for (int k = 0; k < MANY; k++)
		assert_memory_equal(rd + k * 512, buf + (size_t)(N + k) * 4096, 512);
	td_image_close(&img);
	assert_int_equal(vhd_check(path, 0, err, sizeof(err)), 0); /* as vhd-util check sees it */
	td_loop_fini(&loop);
	unlink(path);
	rmdir(dir);
	free(io);
	free(iov);
	free(buf);
	free(rd);
}

/* The aio and vhd tests on one engine. */
static int run_on(unsigned int flags, const char *name, const char *group)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(aio_reads_writes_flushes_and_discards),
		cmocka_unit_test(aio_poll_reaps_the_ring_without_the_loop),
		cmocka_unit_test(aio_images_lock_as_qemu),
		cmocka_unit_test(vhd_more_ios_than_pieces_wait_and_complete),
	};

	engine = flags;
	engine_name = name;
	test_backend_probe(name, unavailable, sizeof(unavailable));
	return cmocka_run_group_tests_name(group, tests, NULL, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(registry_names_and_aliases),
		cmocka_unit_test(null_sizes),
		cmocka_unit_test(null_completes_at_kick_with_zeros),
	};
	int failed = cmocka_run_group_tests_name("drivers", tests, NULL, NULL);

	failed += run_on(TD_OPEN_ENGINE_LIBAIO, "libaio", "drivers_libaio");
	return failed + run_on(TD_OPEN_ENGINE_IO_URING, "io_uring", "drivers_io_uring");
}
