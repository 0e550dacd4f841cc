/* poll-gaps: a guest doing queue-depth-1 reads with random pauses between them, waiting for each
 * answer by event (as a guest kernel waits for its interrupt), to prove the backend's polling
 * never loses a wake-up: every answer must come within a bound, whatever the gap. Reads check a
 * stamp the test wrote at the start of each 4 KiB block (its index, little-endian 64-bit). */
#include <errno.h>
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

struct opts {
	const char *device;
	unsigned long count;
	unsigned long gap_min_us, gap_max_us;
	unsigned long bound_ms;
	unsigned long linger_ms;
	unsigned int seed;
	const char *done_file;
	const char *start_file;
	bool check_stamps;
};

struct pending {
	bool done;
	int error;
};

static void on_done(void *arg, int error)
{
	struct pending *p = arg;

	p->done = true;
	p->error = error;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_us(unsigned long us)
{
	struct timespec ts = { (time_t)(us / 1000000), (long)(us % 1000000) * 1000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: poll-gaps --device PATH [options]\n"
		"Queue-depth-1 4 KiB reads at random blocks, a random pause before each, every answer\n"
		"awaited by event with a bound. Prints key=value lines; exit 0 when every answer came\n"
		"within the bound (and every stamp matched), 1 otherwise, an errno on setup failure.\n"
		"  --device PATH     the frontend's xenstore directory\n"
		"  --count N         requests (default 2000)\n"
		"  --gap-min-us N    shortest pause before a request (default 0)\n"
		"  --gap-max-us N    longest pause (default 0: back to back)\n"
		"  --bound-ms N      an answer later than this is a stall (default 1000)\n"
		"  --seed N          random seed (default 1)\n"
		"  --stamps          check each block's stamp (its index, le64, at its start)\n"
		"  --start-file FILE once connected, wait (up to 60 s) for FILE to exist before the I/O\n"
		"  --done-file FILE  create FILE once the I/O is over, then ...\n"
		"  --linger-ms N     ... stay connected and idle N ms before closing (default 0)\n"
		"  -h, --help        this help\n");
}

static int parse_ul(const char *s, unsigned long *v)
{
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	*v = strtoul(s, &end, 0);
	return errno || *end ? -EINVAL : 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	enum { O_DEV = 256, O_COUNT, O_GMIN, O_GMAX, O_BOUND, O_SEED, O_STAMPS, O_DONE, O_LINGER,
	       O_START };
	static const struct option lopts[] = {
		{ "device", required_argument, NULL, O_DEV },
		{ "count", required_argument, NULL, O_COUNT },
		{ "gap-min-us", required_argument, NULL, O_GMIN },
		{ "gap-max-us", required_argument, NULL, O_GMAX },
		{ "bound-ms", required_argument, NULL, O_BOUND },
		{ "seed", required_argument, NULL, O_SEED },
		{ "stamps", no_argument, NULL, O_STAMPS },
		{ "done-file", required_argument, NULL, O_DONE },
		{ "start-file", required_argument, NULL, O_START },
		{ "linger-ms", required_argument, NULL, O_LINGER },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long seed;
	int c, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
		rc = 0;
		switch (c) {
		case 'h': usage(stdout); exit(0);
		case O_DEV: o->device = optarg; break;
		case O_COUNT: rc = parse_ul(optarg, &o->count); break;
		case O_GMIN: rc = parse_ul(optarg, &o->gap_min_us); break;
		case O_GMAX: rc = parse_ul(optarg, &o->gap_max_us); break;
		case O_BOUND: rc = parse_ul(optarg, &o->bound_ms); break;
		case O_SEED:
			rc = parse_ul(optarg, &seed);
			o->seed = (unsigned int)seed;
			break;
		case O_STAMPS: o->check_stamps = true; break;
		case O_DONE: o->done_file = optarg; break;
		case O_START: o->start_file = optarg; break;
		case O_LINGER: rc = parse_ul(optarg, &o->linger_ms); break;
		default:
			fprintf(stderr, "poll-gaps: unknown option '%s'\n", argv[optind - 1]);
			return -EINVAL;
		}
		if (rc < 0) {
			fprintf(stderr, "poll-gaps: bad value for %s: '%s'\n", argv[optind - 1], optarg);
			return -EINVAL;
		}
	}
	if (optind < argc || !o->device || o->gap_min_us > o->gap_max_us || !o->bound_ms) {
		fprintf(stderr, "poll-gaps: need --device, gap-min <= gap-max, a bound\n");
		return -EINVAL;
	}
	return 0;
}

/* One read, awaited by event; its latency in ns, or a negative errno (-ETIMEDOUT past bound:
 * the request stays in flight and `p` with it, so both belong to the caller). */
static int64_t one_read(struct blkfront *bf, uint64_t block, void *buf, unsigned long bound_ms,
			struct pending *pp)
{
	uint64_t start = now_ns(), deadline = start + bound_ms * 1000000ull;
	int err;

	*pp = (struct pending){ 0 };
	err = blkfront_submit(bf, BLKFRONT_READ, block * BLOCK, buf, BLOCK, on_done, pp);
	if (err)
		return err;
	blkfront_commit(bf);
	while (!pp->done) {
		uint64_t now = now_ns();
		int n;

		if (now >= deadline)
			return -ETIMEDOUT;
		n = blkfront_wait(bf, (int)((deadline - now) / 1000000) + 1);
		if (n < 0)
			return n;
	}
	return pp->error ? pp->error : (int64_t)(now_ns() - start);
}

int main(int argc, char **argv)
{
	struct opts o = { .count = 2000, .bound_ms = 1000, .seed = 1 };
	struct blkfront_opts bo;
	struct blkfront_stats st;
	struct blkfront *bf;
	struct pending pend;
	uint64_t blocks, max_ns = 0, total_ns = 0, stalls = 0, bad = 0;
	unsigned long i;
	uint8_t *buf;
	int err;

	if (parse_args(argc, argv, &o) < 0)
		return EINVAL;
	rt_log_open("poll-gaps", 1);
	srand(o.seed);
	blkfront_opts_init(&bo);
	err = blkfront_open(o.device, &bo, &bf);
	if (err) {
		fprintf(stderr, "poll-gaps: %s: %s\n", o.device, strerror(-err));
		return -err;
	}
	if (o.start_file) { /* the test sets the stage (e.g. a CPU hog) once the ring is connected */
		for (i = 0; i < 6000 && access(o.start_file, F_OK) < 0; i++)
			sleep_us(10000);
		if (i == 6000) {
			fprintf(stderr, "poll-gaps: %s never appeared\n", o.start_file);
			blkfront_close(bf);
			return ETIMEDOUT;
		}
	}
	blocks = blkfront_info(bf)->sectors * blkfront_info(bf)->sector_size / BLOCK;
	buf = aligned_alloc(BLOCK, BLOCK);
	if (!buf || !blocks) {
		blkfront_close(bf);
		return ENOMEM;
	}
	for (i = 0; i < o.count; i++) {
		uint64_t block = (uint64_t)rand() % blocks, stamp;
		unsigned long gap = o.gap_min_us;
		int64_t ns;

		if (o.gap_max_us > o.gap_min_us)
			gap += (unsigned long)rand() % (o.gap_max_us - o.gap_min_us + 1);
		if (gap)
			sleep_us(gap);
		ns = one_read(bf, block, buf, o.bound_ms, &pend);
		if (ns == -ETIMEDOUT) {
			stalls++;
			fprintf(stderr, "poll-gaps: request %lu (block %" PRIu64 ") stalled\n", i,
				block);
			break; /* still in flight: the next one would reuse its buffer */
		}
		if (ns < 0) {
			fprintf(stderr, "poll-gaps: request %lu: %s\n", i, strerror((int)-ns));
			bad++;
			break;
		}
		total_ns += (uint64_t)ns;
		if ((uint64_t)ns > max_ns)
			max_ns = (uint64_t)ns;
		memcpy(&stamp, buf, sizeof(stamp));
		if (o.check_stamps && stamp != block) {
			fprintf(stderr, "poll-gaps: block %" PRIu64 " reads stamp %" PRIu64 "\n", block,
				stamp);
			bad++;
		}
	}
	blkfront_stats(bf, &st);
	printf("requests=%lu\nmax_us=%" PRIu64 "\nmean_us=%" PRIu64 "\nstalls=%" PRIu64
	       "\nbad=%" PRIu64 "\nnotifications_sent=%" PRIu64 "\nevents_received=%" PRIu64 "\n",
	       i, max_ns / 1000, i ? total_ns / i / 1000 : 0, stalls, bad, st.notifications_sent,
	       st.events_received);
	fflush(stdout);
	if (o.done_file) {
		FILE *f = fopen(o.done_file, "w");

		if (f)
			fclose(f);
	}
	if (o.linger_ms)
		sleep_us(o.linger_ms * 1000);
	blkfront_close(bf);
	free(buf);
	return stalls || bad ? 1 : 0;
}
