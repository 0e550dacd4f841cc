/* blkfront-io: a guest doing I/O through libblkfront from the command line, so system tests can
 * write, read, flush and discard known bytes and compare them with the image file. */
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

struct run {
	struct blkfront *bf;
	bool poll;
	unsigned int pieces; /* each read/write is submitted as this many concurrent I/Os */
	int timeout_ms;
	int acked_fd; /* --acked: one line per acknowledged write or discard, or -1 */
};

struct pending {
	unsigned int left;
	int error;
};

static void on_done(void *arg, int error)
{
	struct pending *p = arg;

	p->left--;
	if (error && !p->error)
		p->error = error;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int wait_all(struct run *r, struct pending *p)
{
	int64_t deadline = now_ms() + r->timeout_ms;

	blkfront_commit(r->bf);
	while (p->left) {
		int n;

		if (now_ms() > deadline)
			return -ETIMEDOUT;
		n = r->poll ? blkfront_process(r->bf, false) : blkfront_wait(r->bf, 100);
		if (n < 0)
			return n;
		if (n > 0) /* progress: a slow backend (a busy host, a sanitizer) is not a dead one */
			deadline = now_ms() + r->timeout_ms;
	}
	return p->error;
}

/* Submits [off, off+len) as r->pieces I/Os of whole sectors, all in flight together. */
static int do_io(struct run *r, enum blkfront_op op, uint64_t off, uint8_t *buf, size_t len)
{
	struct pending p = { 0 };
	size_t sectors = len / 512, done = 0;
	unsigned int i, n = r->pieces && sectors >= r->pieces ? r->pieces : 1;
	int err = 0;

	for (i = 0; i < n && !err; i++) {
		size_t s = sectors / n + (i < sectors % n ? 1 : 0);

		p.left++;
		err = blkfront_submit(r->bf, op, off + done * 512, buf ? buf + done * 512 : NULL,
				      s * 512, on_done, &p);
		if (err)
			p.left--;
		done += s;
	}
	if (err) {
		wait_all(r, &p);
		return err;
	}
	return wait_all(r, &p);
}

static int parse_size(const char *s, uint64_t *v)
{
	char *end;
	unsigned long long x;

	errno = 0;
	x = strtoull(s, &end, 0);
	if (errno || end == s || s[0] == '-')
		return -EINVAL;
	switch (*end) {
	case 'K':
		x <<= 10;
		end++;
		break;
	case 'M':
		x <<= 20;
		end++;
		break;
	case 'G':
		x <<= 30;
		end++;
		break;
	}
	if (*end)
		return -EINVAL;
	*v = x;
	return 0;
}

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: blkfront-io --device PATH [options] COMMAND...\n"
		"Connects to a blkif backend as a guest and runs the commands in order:\n"
		"  write OFF LEN FILE    write LEN bytes read from FILE at byte offset OFF\n"
		"  read OFF LEN FILE     read LEN bytes at OFF into FILE\n"
		"  barrier OFF LEN FILE  a write with BLKIF_OP_WRITE_BARRIER (at most 44 KiB)\n"
		"  flush                 BLKIF_OP_FLUSH_DISKCACHE\n"
		"  discard OFF LEN       BLKIF_OP_DISCARD\n"
		"  info                  what was negotiated, as key=value lines\n"
		"  stats                 the frontend's counters, as key=value lines\n"
		"  wait-for FILE         wait (at most a minute) until FILE exists: the test\n"
		"                        holds the connection open meanwhile\n"
		"Sizes take K, M, G suffixes. Options:\n"
		"  --device PATH         the frontend's xenstore directory (or device id)\n"
		"  --abi ABI             native (default), x86_32-abi, x86_64-abi\n"
		"  --order N             ring-page-order to ask for (default 0)\n"
		"  --no-persistent       do not offer persistent grants\n"
		"  --max-indirect N      indirect segments to accept (default 256, 0: none)\n"
		"  --queue-depth N       ring requests in flight at most (default: ring size)\n"
		"  --pieces N            split each read/write into N concurrent I/Os (default 1)\n"
		"  --poll                poll the ring instead of waiting for events\n"
		"  --timeout-ms MS       a command without a completion for that long, or a handshake\n"
		"                        step, fails (default 10000)\n"
		"  --acked FILE          append \"OP OFF LEN\" to FILE once each write, barrier or\n"
		"                        discard is acknowledged (crash tests: what must survive)\n"
		"  --help\n"
		"Exit status: 0, or the positive errno of the first failure.\n");
}

static int file_io(const char *path, uint8_t *buf, size_t len, bool out)
{
	int fd = out ? open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644) : open(path, O_RDONLY);
	size_t done = 0;

	if (fd < 0)
		return -errno;
	while (done < len) {
		ssize_t n =
			out ? write(fd, buf + done, len - done) : read(fd, buf + done, len - done);

		if (n <= 0) {
			close(fd);
			return n < 0 ? -errno : -EIO;
		}
		done += (size_t)n;
	}
	close(fd);
	return 0;
}

static void print_info(struct blkfront *bf)
{
	const struct blkfront_info *in = blkfront_info(bf);

	printf("sectors=%" PRIu64 "\nsector_size=%u\nreadonly=%d\nflush=%d\nbarrier=%d\n"
	       "discard=%d\ndiscard_granularity=%u\npersistent=%d\nring_order=%u\nring_size=%u\n"
	       "queue_depth=%u\nmax_segs=%u\nprotocol=%s\nbackend_id=%u\n",
	       in->sectors, in->sector_size, in->readonly, in->flush, in->barrier, in->discard,
	       in->discard_granularity, in->persistent, in->ring_order, in->ring_size,
	       in->queue_depth, in->max_segs, blkif_abi_name(in->abi), in->backend_id);
}

static void print_stats(struct blkfront *bf)
{
	struct blkfront_stats s;

	blkfront_stats(bf, &s);
	printf("notifications_sent=%" PRIu64 "\nevents_received=%" PRIu64 "\nrequests=%" PRIu64
	       "\nresponses=%" PRIu64 "\nios=%" PRIu64 "\nerrors=%" PRIu64
	       "\ngrants_shared=%" PRIu64 "\n",
	       s.notifications_sent, s.events_received, s.requests, s.responses, s.ios, s.errors,
	       s.grants_shared);
}

/* Waits until `path` exists (the test says go), for at most a minute: 0 or -ETIMEDOUT. */
static int wait_for(const char *path)
{
	struct timespec tick = { 0, 10 * 1000 * 1000 };

	for (int i = 0; i < 6000; i++) {
		if (access(path, F_OK) == 0)
			return 0;
		nanosleep(&tick, NULL);
	}
	return -ETIMEDOUT;
}

/* Runs argv[i..] as commands; returns 0 or the first error. */
static int run_commands(struct run *r, int argc, char **argv, int i)
{
	while (i < argc) {
		const char *cmd = argv[i++];
		uint64_t off = 0, len = 0;
		uint8_t *buf = NULL;
		enum blkfront_op op;
		int err = 0;

		if (!strcmp(cmd, "info")) {
			print_info(r->bf);
			continue;
		}
		if (!strcmp(cmd, "stats")) {
			print_stats(r->bf);
			continue;
		}
		if (!strcmp(cmd, "wait-for")) {
			err = i < argc ? wait_for(argv[i++]) : -EINVAL;
			if (err)
				fprintf(stderr, "blkfront-io: wait-for: %s\n", strerror(-err));
			if (err)
				return err;
			continue;
		}
		if (!strcmp(cmd, "flush")) {
			err = do_io(r, BLKFRONT_FLUSH, 0, NULL, 0);
			if (err)
				fprintf(stderr, "blkfront-io: flush: %s\n", strerror(-err));
			if (err)
				return err;
			continue;
		}
		if (!strcmp(cmd, "write"))
			op = BLKFRONT_WRITE;
		else if (!strcmp(cmd, "read"))
			op = BLKFRONT_READ;
		else if (!strcmp(cmd, "barrier"))
			op = BLKFRONT_BARRIER;
		else if (!strcmp(cmd, "discard"))
			op = BLKFRONT_DISCARD;
		else {
			fprintf(stderr, "blkfront-io: unknown command '%s'\n", cmd);
			return -EINVAL;
		}
		if (i + (op == BLKFRONT_DISCARD ? 2 : 3) > argc || parse_size(argv[i], &off) ||
		    parse_size(argv[i + 1], &len) || len > SIZE_MAX / 2) {
			fprintf(stderr, "blkfront-io: %s: bad or missing arguments\n", cmd);
			return -EINVAL;
		}
		i += 2;
		if (op != BLKFRONT_DISCARD) {
			const char *path = argv[i++];

			buf = malloc(len ? len : 1);
			if (!buf)
				return -ENOMEM;
			if (op != BLKFRONT_READ)
				err = file_io(path, buf, len, false);
			if (!err)
				err = do_io(r, op, off, buf, len);
			if (!err && op == BLKFRONT_READ)
				err = file_io(path, buf, len, true);
			free(buf);
		} else {
			err = do_io(r, op, off, NULL, len);
		}
		if (err) {
			fprintf(stderr, "blkfront-io: %s %" PRIu64 " %" PRIu64 ": %s\n", cmd, off,
				len, strerror(-err));
			return err;
		}
		if (r->acked_fd >= 0 && op != BLKFRONT_READ) {
			/* one write(2) after the response: the line exists only for an acked I/O */
			char line[80];
			int n = snprintf(line, sizeof(line), "%s %" PRIu64 " %" PRIu64 "\n", cmd,
					 off, len);

			if (write(r->acked_fd, line, (size_t)n) != n)
				return -EIO;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "device", required_argument, NULL, 'd' },
		{ "abi", required_argument, NULL, 'a' },
		{ "order", required_argument, NULL, 'o' },
		{ "no-persistent", no_argument, NULL, 'P' },
		{ "max-indirect", required_argument, NULL, 'i' },
		{ "queue-depth", required_argument, NULL, 'q' },
		{ "pieces", required_argument, NULL, 'n' },
		{ "poll", no_argument, NULL, 'p' },
		{ "timeout-ms", required_argument, NULL, 't' },
		{ "acked", required_argument, NULL, 'A' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct run r = { .pieces = 1, .timeout_ms = 10000, .acked_fd = -1 };
	struct blkfront_opts opts;
	const char *device = NULL;
	int opt, err;
	uint64_t v;

	blkfront_opts_init(&opts);
	opterr = 0;
	/* '+': commands after the options are not options */
	while ((opt = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		switch (opt) {
		case 'd':
			device = optarg;
			continue;
		case 'a':
			if (!strcmp(optarg, "native"))
				opts.abi = BLKIF_ABI_NATIVE;
			else if (!strcmp(optarg, "x86_64-abi"))
				opts.abi = BLKIF_ABI_X86_64;
			else if (blkif_abi_from_protocol(optarg, &opts.abi))
				break;
			continue;
		case 'P':
			opts.persistent = false;
			continue;
		case 'A':
			if (r.acked_fd >= 0)
				close(r.acked_fd);
			r.acked_fd = open(optarg, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
			if (r.acked_fd < 0) {
				fprintf(stderr, "blkfront-io: %s: %s\n", optarg, strerror(errno));
				return errno;
			}
			continue;
		case 'p':
			r.poll = true;
			continue;
		case 'h':
			usage(stdout);
			return 0;
		case 'o':
		case 'i':
		case 'q':
		case 'n':
		case 't':
			if (parse_size(optarg, &v) || v > 1u << 20)
				break;
			if (opt == 'o' && v <= 4)
				opts.ring_order = (unsigned int)v;
			else if (opt == 'i' && v <= 4096)
				opts.max_indirect_segs = (unsigned int)v;
			else if (opt == 'q')
				opts.queue_depth = (unsigned int)v;
			else if (opt == 'n' && v > 0)
				r.pieces = (unsigned int)v;
			else if (opt == 't' && v > 0)
				r.timeout_ms = (int)v;
			else
				break;
			continue;
		default:
			fprintf(stderr, "blkfront-io: unknown or incomplete option '%s'\n",
				argv[optind - 1]);
			return EINVAL;
		}
		fprintf(stderr, "blkfront-io: bad option value '%s'\n", optarg);
		return EINVAL;
	}
	if (!device) {
		fprintf(stderr, "blkfront-io: --device is required (see --help)\n");
		return EINVAL;
	}
	rt_log_open("blkfront-io", 1);
	opts.timeout_ms = (unsigned int)r.timeout_ms;
	err = blkfront_open(device, &opts, &r.bf);
	if (err) {
		fprintf(stderr, "blkfront-io: %s: %s\n", device, strerror(-err));
		return -err;
	}
	err = run_commands(&r, argc, argv, optind);
	blkfront_close(r.bf);
	if (r.acked_fd >= 0)
		close(r.acked_fd);
	return -err;
}
