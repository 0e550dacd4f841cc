/* hostile-front: a guest that connects like a normal frontend (libblkfront), then writes requests
 * a backend must refuse straight into the ring, and checks the status of each answer. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ringtap/blkfront.h"
#include "ringtap/log.h"

#define PAGE 4096u

struct ctx {
	struct blkfront *bf;
	const struct blkfront_info *info;
	unsigned int other_domid;
	int timeout_ms;
};

struct answer {
	bool done;
	int error;
};

static void on_answer(void *arg, int error)
{
	struct answer *a = arg;

	a->done = true;
	a->error = error;
}

static const char *status_name(int error)
{
	switch (error) {
	case 0:
		return "BLKIF_RSP_OKAY";
	case -EIO:
		return "BLKIF_RSP_ERROR";
	case -EOPNOTSUPP:
		return "BLKIF_RSP_EOPNOTSUPP";
	case -EPROTO:
		return "an undefined status";
	}
	return "no response (ring stopped)";
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sends req and waits for its answer: 0 and *error, or -ETIMEDOUT / the ring's error. */
static int send_raw(struct ctx *c, const struct blkfront_raw_req *req, int *error)
{
	struct answer a = { 0 };
	int64_t deadline = now_ms() + c->timeout_ms;
	int err = blkfront_raw_submit(c->bf, req, on_answer, &a);

	if (err)
		return err;
	while (!a.done) {
		if (now_ms() >= deadline)
			return -ETIMEDOUT;
		err = blkfront_wait(c->bf, 100);
		if (err < 0 && !a.done)
			return err;
	}
	*error = a.error;
	return 0;
}

/* Pages granted to `domid` for the case's data and descriptors. */
static int grant(struct ctx *c, unsigned int domid, unsigned int n, uint32_t *refs, void **addr)
{
	int err = blkfront_raw_grant(c->bf, domid, n, true, refs, addr);

	if (err)
		fprintf(stderr, "hostile-front: granting %u pages to domain %u: %s\n", n, domid,
			strerror(-err));
	return err;
}

/* A well-formed one-segment request (4 KiB at sector 0) on a page granted to the backend;
 * each case bends one field. */
static int base_rw(struct ctx *c, struct blkfront_raw_req *r, uint8_t op)
{
	uint32_t ref;
	void *addr;
	int err = grant(c, c->info->backend_id, 1, &ref, &addr);

	if (err)
		return err;
	memset(r, 0, sizeof(*r));
	r->operation = op;
	r->nr_segments = 1;
	r->nr_grefs = 1;
	r->seg[0] = (struct blkif_request_segment){ .gref = ref, .first_sect = 0, .last_sect = 7 };
	return 0;
}

/* An indirect request of nsegs descriptors, every one valid, on pages granted to the backend. */
static int base_indirect(struct ctx *c, struct blkfront_raw_req *r, uint8_t op, unsigned int nsegs)
{
	unsigned int i, npages = (nsegs + 511) / 512;
	uint32_t data_ref, ind_refs[BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST];
	void *data, *ind;
	int err;

	if (npages > BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST)
		npages = BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST;
	err = grant(c, c->info->backend_id, 1, &data_ref, &data);
	if (!err)
		err = grant(c, c->info->backend_id, npages, ind_refs, &ind);
	if (err)
		return err;
	for (i = 0; i < npages * 512; i++)
		((struct blkif_request_segment *)ind)[i] =
			(struct blkif_request_segment){ .gref = data_ref, .last_sect = 7 };
	memset(r, 0, sizeof(*r));
	r->operation = BLKIF_OP_INDIRECT;
	r->indirect_op = op;
	r->nr_segments = (uint16_t)nsegs;
	r->nr_grefs = npages;
	memcpy(r->indirect_grefs, ind_refs, npages * sizeof(ind_refs[0]));
	return 0;
}

typedef int (*case_fn)(struct ctx *c, struct blkfront_raw_req *r);

static int case_valid_read(struct ctx *c, struct blkfront_raw_req *r)
{
	return base_rw(c, r, BLKIF_OP_READ);
}

static int case_read_zero_segs(struct ctx *c, struct blkfront_raw_req *r)
{
	int err = base_rw(c, r, BLKIF_OP_READ);

	r->nr_segments = 0;
	return err;
}

static int case_direct_12(struct ctx *c, struct blkfront_raw_req *r)
{
	int err = base_rw(c, r, BLKIF_OP_READ);
	unsigned int i;

	for (i = 1; i < BLKIF_MAX_SEGMENTS_PER_REQUEST; i++)
		r->seg[i] = r->seg[0];
	r->nr_grefs = BLKIF_MAX_SEGMENTS_PER_REQUEST;
	r->nr_segments = BLKIF_MAX_SEGMENTS_PER_REQUEST + 1;
	return err;
}

static int case_indirect_over_max(struct ctx *c, struct blkfront_raw_req *r)
{
	/* info.max_segs is the backend's maximum: the frontend asked for 4096 */
	return base_indirect(c, r, BLKIF_OP_READ, c->info->max_segs + 1);
}

static int case_indirect_bad_op(struct ctx *c, struct blkfront_raw_req *r)
{
	return base_indirect(c, r, BLKIF_OP_FLUSH_DISKCACHE, 16);
}

static int case_first_gt_last(struct ctx *c, struct blkfront_raw_req *r)
{
	int err = base_rw(c, r, BLKIF_OP_READ);

	r->seg[0].first_sect = 3;
	r->seg[0].last_sect = 2;
	return err;
}

static int case_last_sect_8(struct ctx *c, struct blkfront_raw_req *r)
{
	int err = base_rw(c, r, BLKIF_OP_READ);

	r->seg[0].last_sect = 8;
	return err;
}

static int case_past_end(struct ctx *c, struct blkfront_raw_req *r)
{
	int err = base_rw(c, r, BLKIF_OP_READ);

	/* 8 sectors starting 4 before the end (in 512-byte ring sectors) */
	r->sector_number = c->info->sectors * (c->info->sector_size / 512) - 4;
	return err;
}

static int case_sector_overflow(struct ctx *c, struct blkfront_raw_req *r)
{
	int err = base_rw(c, r, BLKIF_OP_READ);

	r->sector_number = UINT64_MAX - 3;
	return err;
}

static int case_write_readonly(struct ctx *c, struct blkfront_raw_req *r)
{
	return base_rw(c, r, BLKIF_OP_WRITE);
}

/* A flush as Linux blkfront sends it: no segment, no sector range. */
static int case_flush_readonly(struct ctx *c, struct blkfront_raw_req *r)
{
	int err = base_rw(c, r, BLKIF_OP_FLUSH_DISKCACHE);

	r->nr_segments = 0;
	r->nr_grefs = 0;
	return err;
}

static int case_barrier_readonly(struct ctx *c, struct blkfront_raw_req *r)
{
	return base_rw(c, r, BLKIF_OP_WRITE_BARRIER);
}

static int case_foreign_grant(struct ctx *c, struct blkfront_raw_req *r)
{
	uint32_t ref = 0;
	void *addr;
	int err = base_rw(c, r, BLKIF_OP_READ);

	if (!err)
		err = grant(c, c->other_domid, 1, &ref, &addr);
	r->seg[0].gref = ref;
	return err;
}

static int case_unknown_op(struct ctx *c, struct blkfront_raw_req *r)
{
	int err = base_rw(c, r, BLKIF_OP_READ);

	r->operation = 0xee;
	return err;
}

static const struct hostile_case {
	const char *name;
	case_fn build;
	int expect; /* 0, -EIO or -EOPNOTSUPP */
	bool in_all;
	const char *what;
} cases[] = {
	{ "valid-read", case_valid_read, 0, false, "a correct 4 KiB read (control)" },
	{ "read-zero-segs", case_read_zero_segs, -EIO, true, "a read with nr_segments 0" },
	{ "direct-12", case_direct_12, -EIO, true, "a direct read with 12 segments" },
	{ "indirect-over-max", case_indirect_over_max, -EIO, true,
	  "an indirect read above the advertised maximum" },
	{ "indirect-bad-op", case_indirect_bad_op, -EIO, true, "an indirect flush" },
	{ "first-gt-last", case_first_gt_last, -EIO, true, "a segment with first_sect > last_sect" },
	{ "last-sect-8", case_last_sect_8, -EIO, true, "a segment with last_sect 8" },
	{ "past-end", case_past_end, -EIO, true, "a read running past the end of the disk" },
	{ "sector-overflow", case_sector_overflow, -EIO, true, "a sector range that overflows" },
	{ "foreign-grant", case_foreign_grant, -EIO, true, "a grant not granted to the backend" },
	{ "unknown-op", case_unknown_op, -EOPNOTSUPP, true, "an unknown operation" },
	{ "write-readonly", case_write_readonly, -EIO, false, "a write to a read-only VBD" },
	{ "flush-readonly", case_flush_readonly, -EIO, false,
	  "a flush without segments to a read-only VBD" },
	{ "barrier-readonly", case_barrier_readonly, -EIO, false,
	  "a write barrier to a read-only VBD" },
	{ "prod-overflow", NULL, 0, false,
	  "a producer index beyond the ring (the backend must halt the ring)" },
};

static int run_case(struct ctx *c, const struct hostile_case *hc, bool followup)
{
	struct blkfront_raw_req r;
	int err, status;

	if (!hc->build) {
		/* more requests than the ring holds: nothing valid to answer */
		blkfront_raw_set_req_prod(c->bf, c->info->ring_size * 2 + 7);
		printf("%s: req_prod set to %u on a ring of %u; the backend must halt the ring\n",
		       hc->name, c->info->ring_size * 2 + 7, c->info->ring_size);
		return 0;
	}
	err = hc->build(c, &r);
	if (err)
		return err;
	err = send_raw(c, &r, &status);
	if (err) {
		printf("%s: %s: no answer (%s)\n", hc->name, hc->what, strerror(-err));
		return err;
	}
	printf("%s: %s: %s (expected %s)\n", hc->name, hc->what, status_name(status),
	       status_name(hc->expect));
	if (status != hc->expect)
		return -EPROTO;
	if (followup && hc->build != case_valid_read) {
		/* the backend must go on serving this ring */
		case_valid_read(c, &r);
		err = send_raw(c, &r, &status);
		if (err || status) {
			printf("%s: the ring stopped serving valid requests afterwards (%s)\n",
			       hc->name, err ? strerror(-err) : status_name(status));
			return err ? err : -EPROTO;
		}
		printf("%s: a valid read afterwards: %s\n", hc->name, status_name(0));
	}
	return 0;
}

static void usage(FILE *out)
{
	unsigned int i;

	fprintf(out,
		"Usage: hostile-front --device PATH --case NAME [options]\n"
		"Connects to a blkif backend as a guest would, sends one malformed request (or all)\n"
		"and checks the backend's answer; exits 0 when it answered as required.\n"
		"  --device PATH        the frontend's xenstore directory (or device id)\n"
		"  --case NAME          one of the cases below, or 'all' (every case marked *)\n"
		"  --abi ABI            native (default), x86_32-abi, x86_64-abi\n"
		"  --order N            ring-page-order to ask for (default 0)\n"
		"  --other-domid D      domain the foreign-grant case grants to (default backend+1)\n"
		"  --no-followup        do not check that a valid read still works after each case\n"
		"  --timeout-ms MS      per answer and per handshake step (default 5000)\n"
		"  --hold-ms MS         stay connected this long after the cases (default 0)\n"
		"  --help\n"
		"Cases:\n");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		fprintf(out, "  %c %-18s %s\n", cases[i].in_all ? '*' : ' ', cases[i].name,
			cases[i].what);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "device", required_argument, NULL, 'd' },
		{ "case", required_argument, NULL, 'c' },
		{ "abi", required_argument, NULL, 'a' },
		{ "order", required_argument, NULL, 'o' },
		{ "other-domid", required_argument, NULL, 'D' },
		{ "no-followup", no_argument, NULL, 'n' },
		{ "timeout-ms", required_argument, NULL, 't' },
		{ "hold-ms", required_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *device = NULL, *name = NULL;
	struct blkfront_opts opts;
	struct ctx c = { .timeout_ms = 5000 };
	long hold_ms = 0;
	long other = -1;
	bool followup = true;
	unsigned int i, ran = 0;
	int opt, err = 0;

	blkfront_opts_init(&opts);
	opts.persistent = false;
	opts.max_indirect_segs = 4096; /* learn the backend's own maximum */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		char *end;

		switch (opt) {
		case 'd':
			device = optarg;
			break;
		case 'c':
			name = optarg;
			break;
		case 'a':
			if (!strcmp(optarg, "native"))
				opts.abi = BLKIF_ABI_NATIVE;
			else if (blkif_abi_from_protocol(optarg, &opts.abi)) {
				fprintf(stderr, "hostile-front: --abi %s: unknown ABI\n", optarg);
				return EINVAL;
			}
			break;
		case 'o':
			opts.ring_order = (unsigned int)strtoul(optarg, &end, 10);
			if (*end || !*optarg || opts.ring_order > 4) {
				fprintf(stderr, "hostile-front: --order %s: want 0..4\n", optarg);
				return EINVAL;
			}
			break;
		case 'D':
			other = strtol(optarg, &end, 10);
			if (*end || !*optarg || other < 0 || other >= DOMID_FIRST_RESERVED) {
				fprintf(stderr, "hostile-front: --other-domid %s: not a domain\n",
					optarg);
				return EINVAL;
			}
			break;
		case 'n':
			followup = false;
			break;
		case 't':
			c.timeout_ms = (int)strtol(optarg, &end, 10);
			if (*end || c.timeout_ms <= 0) {
				fprintf(stderr, "hostile-front: --timeout-ms %s: want > 0\n", optarg);
				return EINVAL;
			}
			break;
		case 'H':
			hold_ms = strtol(optarg, &end, 10);
			if (*end || !*optarg || hold_ms < 0 || hold_ms > 600000) {
				fprintf(stderr, "hostile-front: --hold-ms %s: want 0..600000\n",
					optarg);
				return EINVAL;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			fprintf(stderr, "hostile-front: unknown or incomplete option '%s'\n",
				argv[optind - 1]);
			return EINVAL;
		}
	}
	if (optind < argc || !device || !name) {
		fprintf(stderr, "hostile-front: --device and --case are required (see --help)\n");
		return EINVAL;
	}
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (!strcmp(name, cases[i].name))
			break;
	if (strcmp(name, "all") && i == sizeof(cases) / sizeof(cases[0])) {
		fprintf(stderr, "hostile-front: --case %s: unknown case (see --help)\n", name);
		return EINVAL;
	}
	rt_log_open("hostile-front", 1);
	opts.timeout_ms = (unsigned int)c.timeout_ms;
	err = blkfront_open(device, &opts, &c.bf);
	if (err) {
		fprintf(stderr, "hostile-front: %s: %s\n", device, strerror(-err));
		return -err;
	}
	c.info = blkfront_info(c.bf);
	c.other_domid = other >= 0 ? (unsigned int)other : c.info->backend_id + 1;
	printf("connected: %s, ring order %u (%u slots), backend max segments %u, %s%s\n",
	       blkif_abi_name(c.info->abi), c.info->ring_order, c.info->ring_size,
	       c.info->max_segs, c.info->readonly ? "read-only, " : "",
	       c.info->persistent ? "persistent" : "not persistent");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]) && !err; i++) {
		if (strcmp(name, cases[i].name) && !(strcmp(name, "all") == 0 && cases[i].in_all))
			continue;
		err = run_case(&c, &cases[i], followup);
		ran++;
	}
	if (hold_ms) {
		struct timespec ts = { .tv_sec = hold_ms / 1000, .tv_nsec = hold_ms % 1000 * 1000000 };

		nanosleep(&ts, NULL);
	}
	blkfront_close(c.bf);
	if (err)
		printf("FAILED\n");
	else
		printf("ok: %u case(s)\n", ran);
	return -err;
}
