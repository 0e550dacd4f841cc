/* blkfront-reopen: a guest that closes its disk and opens it again, over and over, through
 * libblkfront's own close and open, checking after each reconnect that what it wrote before is
 * read back. With --inflight a write is still in flight when it closes (that block may then hold
 * its old or its new bytes, sector by sector, nothing else). With --hold DIR the first cycle
 * waits for the test at two points, so that a test can make sure the backend has the in-flight
 * write when the frontend closes: it creates DIR/written after its write and waits for DIR/go
 * before submitting the in-flight write, then creates DIR/inflight and waits for DIR/close
 * before closing. System test of tapback's reopen and of tapdisk's quiesce. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ringtap/blkfront.h"
#include "ringtap/log.h"

#define BLOCK 4096u
#define SECTOR 512u

struct loop {
	const char *device;
	struct blkfront_opts opts;
	struct blkfront *bf;
	unsigned int count, blocks, base; /* the region: blocks [base, base + blocks) */
	int timeout_ms;
	double seconds;
	bool inflight;
	const char *hold; /* --hold DIR, or NULL */
	uint8_t *disk;	  /* what each block of the region holds, as far as we know */
	uint8_t *pending; /* the in-flight write's bytes (its block is pending_block) */
	long pending_block;
};

struct waiter {
	bool done;
	int error;
};

static void on_done(void *arg, int error)
{
	struct waiter *w = arg;

	w->done = true;
	w->error = error;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fill(uint8_t *buf, unsigned int iter, unsigned int block)
{
	for (unsigned int i = 0; i < BLOCK; i += 4) {
		uint32_t x = (iter * 2654435761u) ^ (block << 16) ^ i;

		memcpy(buf + i, &x, 4);
	}
}

/* One I/O to completion. */
static int io(struct loop *l, enum blkfront_op op, unsigned int block, uint8_t *buf)
{
	struct waiter w = { 0 };
	double deadline = now_s() + l->timeout_ms / 1000.0;
	int err;

	err = blkfront_submit(l->bf, op, (uint64_t)(l->base + block) * BLOCK, buf, BLOCK, on_done,
			      &w);
	if (err)
		return err;
	blkfront_commit(l->bf);
	while (!w.done) {
		if (now_s() > deadline)
			return -ETIMEDOUT;
		err = blkfront_wait(l->bf, 100);
		if (err < 0)
			return err;
	}
	return w.error;
}

/* --hold: creates DIR/MARK, then waits (up to the I/O timeout) until DIR/GO exists. */
static int hold(const struct loop *l, const char *mark, const char *go)
{
	char path[4096];
	double deadline = now_s() + l->timeout_ms / 1000.0;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", l->hold, mark);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	close(fd);
	snprintf(path, sizeof(path), "%s/%s", l->hold, go);
	while (access(path, F_OK)) {
		if (now_s() > deadline)
			return -ETIMEDOUT;
		nanosleep(&(struct timespec){ .tv_nsec = 10000000 }, NULL); /* the test's pace */
	}
	return 0;
}

/* The block the last close left a write in flight on: each sector old or new, then known. */
static int check_pending(struct loop *l, const uint8_t *got)
{
	uint8_t *known = l->disk + (size_t)l->pending_block * BLOCK;

	for (unsigned int s = 0; s < BLOCK; s += SECTOR) {
		if (!memcmp(got + s, known + s, SECTOR))
			continue;
		if (memcmp(got + s, l->pending + s, SECTOR))
			return -EILSEQ;
		memcpy(known + s, got + s, SECTOR);
	}
	l->pending_block = -1;
	return 0;
}

static int cycle(struct loop *l, unsigned int iter)
{
	unsigned int block = iter % l->blocks, prev = (iter + l->blocks - 1) % l->blocks;
	uint8_t buf[BLOCK];
	struct waiter w = { 0 };
	int err;

	err = blkfront_open(l->device, &l->opts, &l->bf);
	if (err) {
		fprintf(stderr, "blkfront-reopen: open %u: %s\n", iter, strerror(-err));
		return err;
	}
	/* what the previous connection wrote is there */
	if (iter) {
		err = io(l, BLKFRONT_READ, prev, buf);
		if (!err && memcmp(buf, l->disk + (size_t)prev * BLOCK, BLOCK))
			err = -EILSEQ;
		if (err) {
			fprintf(stderr, "blkfront-reopen: open %u: block %u written before: %s\n",
				iter, prev, strerror(-err));
			goto out;
		}
	}
	if (l->pending_block >= 0) {
		err = io(l, BLKFRONT_READ, (unsigned int)l->pending_block, buf);
		if (!err)
			err = check_pending(l, buf);
		if (err) {
			fprintf(stderr, "blkfront-reopen: open %u: block written while closing: %s\n",
				iter, strerror(-err));
			goto out;
		}
	}
	fill(buf, iter, block);
	err = io(l, BLKFRONT_WRITE, block, buf);
	if (err) {
		fprintf(stderr, "blkfront-reopen: open %u: write: %s\n", iter, strerror(-err));
		goto out;
	}
	memcpy(l->disk + (size_t)block * BLOCK, buf, BLOCK);
	if (l->inflight) {
		/* a write to another block, still in flight when the frontend closes */
		unsigned int other = (block + l->blocks / 2) % l->blocks;

		if (l->hold && !iter && (err = hold(l, "written", "go"))) {
			fprintf(stderr, "blkfront-reopen: --hold: %s\n", strerror(-err));
			goto out;
		}
		fill(l->pending, iter | 0x80000000u, other);
		err = blkfront_submit(l->bf, BLKFRONT_WRITE, (uint64_t)(l->base + other) * BLOCK,
				      l->pending, BLOCK, on_done, &w);
		if (err) {
			fprintf(stderr, "blkfront-reopen: open %u: submit: %s\n", iter,
				strerror(-err));
			goto out;
		}
		blkfront_commit(l->bf);
		l->pending_block = other;
		if (l->hold && !iter && (err = hold(l, "inflight", "close")))
			fprintf(stderr, "blkfront-reopen: --hold: %s\n", strerror(-err));
	}
out:
	blkfront_close(l->bf); /* fails the in-flight write (-ESHUTDOWN) */
	l->bf = NULL;
	if (!err && w.done && w.error && w.error != -ESHUTDOWN)
		err = w.error;
	return err;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: blkfront-reopen --device DEV [--count N] [--seconds S] [--inflight]\n"
		   "         [--hold DIR] [--blocks N] [--base BLOCK] [--timeout-ms MS]\n"
		   "Opens, verifies, writes and closes DEV N times (stops early after S seconds),\n"
		   "using 4 KiB blocks [BLOCK, BLOCK + N) of a zeroed disk; prints \"reopened N\".\n"
		   "--hold DIR: the first cycle waits for DIR/go after its write (creating\n"
		   "DIR/written) and for DIR/close after the in-flight one (DIR/inflight).\n"
		   "Exit 0, or an errno.\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "device", required_argument, NULL, 'd' },
		{ "count", required_argument, NULL, 'c' },
		{ "seconds", required_argument, NULL, 's' },
		{ "blocks", required_argument, NULL, 'b' },
		{ "base", required_argument, NULL, 'B' },
		{ "timeout-ms", required_argument, NULL, 't' },
		{ "inflight", no_argument, NULL, 'i' },
		{ "hold", required_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct loop l = { .count = 1000, .blocks = 64, .timeout_ms = 20000, .seconds = 1e9,
			  .pending_block = -1 };
	unsigned int iter;
	double start, slowest = 0;
	int opt, err = 0;
	char *end;

	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		unsigned long v = 0;

		if (opt != 'd' && opt != 'i' && opt != 'h' && opt != 's' && opt != 'H') {
			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno || *end || !v || v > 1u << 20) {
				fprintf(stderr, "blkfront-reopen: bad value '%s'\n", optarg);
				return EINVAL;
			}
		}
		switch (opt) {
		case 'd':
			l.device = optarg;
			break;
		case 'c':
			l.count = (unsigned int)v;
			break;
		case 's':
			l.seconds = strtod(optarg, &end);
			if (*end || !(l.seconds > 0)) {
				fprintf(stderr, "blkfront-reopen: bad seconds '%s'\n", optarg);
				return EINVAL;
			}
			break;
		case 'b':
			l.blocks = v < 2 ? 2 : (unsigned int)v;
			break;
		case 'B':
			l.base = (unsigned int)v;
			break;
		case 't':
			l.timeout_ms = (int)v;
			break;
		case 'i':
			l.inflight = true;
			break;
		case 'H':
			l.hold = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EINVAL;
		}
	}
	if (!l.device) {
		usage(stderr);
		return EINVAL;
	}
	rt_log_open("blkfront-reopen", 1);
	blkfront_opts_init(&l.opts);
	l.opts.timeout_ms = (unsigned int)l.timeout_ms;
	/* the region starts zeroed: the test gives a fresh image, a region per run */
	l.disk = calloc(l.blocks, BLOCK);
	l.pending = malloc(BLOCK);
	if (!l.disk || !l.pending)
		return ENOMEM;
	start = now_s();
	for (iter = 0; iter < l.count && now_s() - start < l.seconds; iter++) {
		double t = now_s();

		err = cycle(&l, iter);
		if (err)
			break;
		t = now_s() - t;
		if (t > slowest)
			slowest = t;
	}
	printf("reopened %u in %.1f s (slowest %.0f ms)\n", iter, now_s() - start, slowest * 1e3);
	free(l.disk);
	free(l.pending);
	return err ? -err : 0;
}
