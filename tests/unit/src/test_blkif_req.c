/* Every validation rule of the blkif request decoder, for each of the three ABIs (the slot
 * copy and the response writer are lib/blkif's: tests/unit/lib/blkif). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "src/blkif_req.h"

#define DISK 2048u /* sectors */

static const struct td_blkif_limits lim_rw = {
	.disk_sectors = DISK, .max_indirect_segs = 256, .readonly = false, .discard = true
};
static const struct td_blkif_limits lim_ro = {
	.disk_sectors = DISK, .max_indirect_segs = 256, .readonly = true, .discard = true
};
static const struct td_blkif_limits lim_nofeat = {
	.disk_sectors = DISK, .max_indirect_segs = 0, .readonly = false, .discard = false
};

/* A request as a frontend describes it, written into a slot with the ABI's layout. */
struct spec {
	uint8_t op, nseg8, indirect_op, flag;
	uint16_t nseg16;
	uint64_t id, sector, nr_sectors;
	struct blkif_request_segment seg[BLKIF_MAX_SEGMENTS_PER_REQUEST];
	grant_ref_t igref[BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST];
};

#define FILL_COMPAT(r, s)                                                                          \
	do {                                                                                       \
		(r)->operation = (s)->op;                                                          \
		if ((s)->op == BLKIF_OP_DISCARD) {                                                 \
			(r)->u.discard.flag = (s)->flag;                                           \
			(r)->u.discard.id = (s)->id;                                               \
			(r)->u.discard.sector_number = (s)->sector;                                \
			(r)->u.discard.nr_sectors = (s)->nr_sectors;                               \
		} else if ((s)->op == BLKIF_OP_INDIRECT) {                                         \
			(r)->u.indirect.indirect_op = (s)->indirect_op;                            \
			(r)->u.indirect.nr_segments = (s)->nseg16;                                 \
			(r)->u.indirect.id = (s)->id;                                              \
			(r)->u.indirect.sector_number = (s)->sector;                               \
			memcpy((void *)(r)->u.indirect.indirect_grefs, (s)->igref,                 \
			       sizeof((s)->igref));                                                \
		} else if ((s)->op <= BLKIF_OP_FLUSH_DISKCACHE) {                                  \
			(r)->u.rw.nr_segments = (s)->nseg8;                                        \
			(r)->u.rw.id = (s)->id;                                                    \
			(r)->u.rw.sector_number = (s)->sector;                                     \
			memcpy((void *)(r)->u.rw.seg, (s)->seg, sizeof((s)->seg));                 \
		} else {                                                                           \
			(r)->u.other.id = (s)->id;                                                 \
		}                                                                                  \
	} while (0)

static void write_slot(enum blkif_abi abi, const struct spec *s, void *slot)
{
	memset(slot, 0x5a, 128);
	if (abi == BLKIF_ABI_X86_32) {
		struct blkif_x86_32_request *r = slot;

		FILL_COMPAT(r, s);
	} else if (abi == BLKIF_ABI_X86_64) {
		struct blkif_x86_64_request *r = slot;

		FILL_COMPAT(r, s);
	} else if (s->op == BLKIF_OP_DISCARD) {
		struct blkif_request_discard *d = slot;

		d->operation = s->op;
		d->flag = s->flag;
		d->id = s->id;
		d->sector_number = s->sector;
		d->nr_sectors = s->nr_sectors;
	} else if (s->op == BLKIF_OP_INDIRECT) {
		struct blkif_request_indirect *in = slot;

		in->operation = s->op;
		in->indirect_op = s->indirect_op;
		in->nr_segments = s->nseg16;
		in->id = s->id;
		in->sector_number = s->sector;
		memcpy(in->indirect_grefs, s->igref, sizeof(s->igref));
	} else {
		struct blkif_request *r = slot;

		r->operation = s->op;
		r->nr_segments = s->nseg8;
		r->id = s->id;
		r->sector_number = s->sector;
		memcpy(r->seg, s->seg, sizeof(s->seg));
	}
}

static int decode(enum blkif_abi abi, const struct spec *s, const struct td_blkif_limits *lim,
		  struct td_blkif_req *req)
{
	uint32_t slot[32], copy[BLKIF_REQ_COPY_SIZE / 4];
	const char *why = NULL;
	int st;

	write_slot(abi, s, slot);
	blkif_abi_copy_request(abi, slot, copy);
	memset(slot, 0xff, sizeof(slot)); /* the guest changes the slot: the copy must not */
	st = td_blkif_decode(abi, copy, lim, req, &why);
	if (st != BLKIF_RSP_OKAY)
		assert_non_null(why);
	return st;
}

static struct spec rw(uint8_t op, unsigned int nseg, uint64_t sector)
{
	struct spec s = { .op = op, .nseg8 = (uint8_t)nseg, .id = 0x1122334455667788ull,
			  .sector = sector };

	for (unsigned int i = 0; i < BLKIF_MAX_SEGMENTS_PER_REQUEST; i++)
		s.seg[i] = (struct blkif_request_segment){ .gref = 100 + i, .first_sect = 0,
							   .last_sect = 7 };
	return s;
}

static const enum blkif_abi abis[] = { BLKIF_ABI_NATIVE, BLKIF_ABI_X86_32, BLKIF_ABI_X86_64 };
#define FOR_EACH_ABI for (size_t ai = 0; ai < 3 && ((abi = abis[ai]), 1); ai++)

static void read_and_write_decode(void **state)
{
	struct td_blkif_req req;
	enum blkif_abi abi;

	FOR_EACH_ABI {
		struct spec s = rw(BLKIF_OP_READ, 3, 16);

		s.seg[1].first_sect = 2;
		s.seg[1].last_sect = 5;
		assert_int_equal(decode(abi, &s, &lim_rw, &req), BLKIF_RSP_OKAY);
		assert_int_equal(req.op, TD_OP_READ);
		assert_int_equal(req.rsp_op, BLKIF_OP_READ);
		assert_true(req.id == 0x1122334455667788ull);
		assert_int_equal(req.sector, 16);
		assert_int_equal(req.nr_segs, 3);
		assert_int_equal(req.nr_sectors, 8 + 4 + 8);
		assert_int_equal(req.seg[0].gref, 100);
		assert_int_equal(req.seg[1].first_sect, 2);
		assert_int_equal(req.seg[2].gref, 102);

		s = rw(BLKIF_OP_WRITE, 11, DISK - 88);
		assert_int_equal(decode(abi, &s, &lim_rw, &req), BLKIF_RSP_OKAY);
		assert_int_equal(req.op, TD_OP_WRITE);
		assert_int_equal(req.nr_sectors, 88);
	}
}

static void zero_segments_only_for_flush(void **state)
{
	struct td_blkif_req req;
	enum blkif_abi abi;

	FOR_EACH_ABI {
		struct spec s = rw(BLKIF_OP_READ, 0, 0);

		assert_int_equal(decode(abi, &s, &lim_rw, &req), BLKIF_RSP_ERROR);
		s = rw(BLKIF_OP_WRITE, 0, 0);
		assert_int_equal(decode(abi, &s, &lim_rw, &req), BLKIF_RSP_ERROR);
		s = rw(BLKIF_OP_FLUSH_DISKCACHE, 0, 0);
		assert_int_equal(decode(abi, &s, &lim_rw, &req), BLKIF_RSP_OKAY);
		assert_int_equal(req.op, TD_OP_FLUSH);
		assert_int_equal(req.nr_sectors, 0);
		/* a bare flush names no range: its sector is not checked */
		s = rw(BLKIF_OP_FLUSH_DISKCACHE, 0, UINT64_MAX);
		assert_int_equal(decode(abi, &s, &lim_rw, &req), BLKIF_RSP_OKAY);
		s = rw(BLKIF_OP_WRITE_BARRIER, 0, 0);
		assert_int_equal(decode(abi, &s, &lim_rw, &req), BLKIF_RSP_OKAY);
		assert_int_equal(req.op, TD_OP_BARRIER);
		/* flush with data is a write followed by a flush */
		s = rw(BLKIF_OP_FLUSH_DISKCACHE, 2, 8);
		assert_int_equal(decode(abi, &s, &lim_rw, &req), BLKIF_RSP_OKAY);
		assert_int_equal(req.nr_sectors, 16);
	}
}

static void direct_segments_at_most_11(void **state)
{
	struct td_blkif_req req;
	enum blkif_abi abi;

	FOR_EACH_ABI {
		struct spec s = rw(BLKIF_OP_READ, 12, 0);

		assert_int_equal(decode(abi, &s, &lim_rw, &req), BLKIF_RSP_ERROR);
		s = rw(BLKIF_OP_WRITE, 255, 0);
		assert_int_equal(decode(abi, &s, &lim_rw, &req), BLKIF_RSP_ERROR);
		s = rw(BLKIF_OP_READ, 11, 0);
		assert_int_equal(decode(abi, &s, &lim_rw, &req), BLKIF_RSP_OKAY);
	}
}

static void segment_sectors_inside_the_page(void **state)
{
	struct td_blkif_req req;
	enum blkif_abi abi;

	FOR_EACH_ABI {
		struct spec s = rw(BLKIF_OP_READ, 2, 0);

		s.seg[1].first_sect = 5;
		s.seg[1].last_sect = 4;
		assert_int_equal(decode(abi, &s, &lim_rw, &req), BLKIF_RSP_ERROR);
		s = rw(BLKIF_OP_WRITE, 1, 0);
		s.seg[0].last_sect = 8;
		assert_int_equal(decode(abi, &s, &lim_rw, &req), BLKIF_RSP_ERROR);
		s.seg[0].first_sect = 8;
		assert_int_equal(decode(abi, &s, &lim_rw, &req), BLKIF_RSP_ERROR);
		s.seg[0].first_sect = s.seg[0].last_sect = 7;
		assert_int_equal(decode(abi, &s, &lim_rw, &req), BLKIF_RSP_OKAY);
		assert_int_equal(req.nr_sectors, 1);
	}
}

static void sector_range_inside_the_disk(void **state)
{
	struct td_blkif_req req;
	enum blkif_abi abi;

	FOR_EACH_ABI {
		struct spec s = rw(BLKIF_OP_READ, 1, DISK - 8);

		assert_int_equal(decode(abi, &s, &lim_rw, &req), BLKIF_RSP_OKAY);
		s.sector = DISK - 7; /* one sector past the end */
		assert_int_equal(decode(abi, &s, &lim_rw, &req), BLKIF_RSP_ERROR);
		s.sector = DISK;
		assert_int_equal(decode(abi, &s, &lim_rw, &req), BLKIF_RSP_ERROR);
		s.sector = UINT64_MAX - 3; /* sector + 8 overflows */
		assert_int_equal(decode(abi, &s, &lim_rw, &req), BLKIF_RSP_ERROR);
		s.sector = UINT64_MAX;
		assert_int_equal(decode(abi, &s, &lim_rw, &req), BLKIF_RSP_ERROR);
	}
}

static void read_only_refuses_writes_and_discards(void **state)
{
	struct td_blkif_req req;
	enum blkif_abi abi;

	FOR_EACH_ABI {
		struct spec s = rw(BLKIF_OP_WRITE, 1, 0);

		assert_int_equal(decode(abi, &s, &lim_ro, &req), BLKIF_RSP_ERROR);
		s = rw(BLKIF_OP_WRITE_BARRIER, 1, 0);
		assert_int_equal(decode(abi, &s, &lim_ro, &req), BLKIF_RSP_ERROR);
		s = rw(BLKIF_OP_FLUSH_DISKCACHE, 1, 0);
		assert_int_equal(decode(abi, &s, &lim_ro, &req), BLKIF_RSP_ERROR);
		s = rw(BLKIF_OP_READ, 1, 0);
		assert_int_equal(decode(abi, &s, &lim_ro, &req), BLKIF_RSP_OKAY);
		/* a bare flush or barrier too, as Linux blkback answers them */
		s = rw(BLKIF_OP_FLUSH_DISKCACHE, 0, 0);
		assert_int_equal(decode(abi, &s, &lim_ro, &req), BLKIF_RSP_ERROR);
		s = rw(BLKIF_OP_WRITE_BARRIER, 0, 0);
		assert_int_equal(decode(abi, &s, &lim_ro, &req), BLKIF_RSP_ERROR);
		s = rw(BLKIF_OP_FLUSH_DISKCACHE, 0, 0);
		assert_int_equal(decode(abi, &s, &lim_rw, &req), BLKIF_RSP_OKAY);
		s = (struct spec){ .op = BLKIF_OP_DISCARD, .id = 9, .sector = 0, .nr_sectors = 8 };
		assert_int_equal(decode(abi, &s, &lim_ro, &req), BLKIF_RSP_ERROR);
		s = (struct spec){ .op = BLKIF_OP_INDIRECT, .indirect_op = BLKIF_OP_WRITE,
				   .nseg16 = 12, .id = 9 };
		assert_int_equal(decode(abi, &s, &lim_ro, &req), BLKIF_RSP_ERROR);
		s.indirect_op = BLKIF_OP_READ;
		assert_int_equal(decode(abi, &s, &lim_ro, &req), BLKIF_RSP_OKAY);
	}
}

static void discard_decodes_and_checks_its_range(void **state)
{
	struct td_blkif_req req;
	enum blkif_abi abi;

	FOR_EACH_ABI {
		struct spec s = { .op = BLKIF_OP_DISCARD, .flag = BLKIF_DISCARD_SECURE,
				  .id = 0xabcdef0123ull, .sector = 64, .nr_sectors = 128 };

		assert_int_equal(decode(abi, &s, &lim_rw, &req), BLKIF_RSP_OKAY);
		assert_int_equal(req.op, TD_OP_DISCARD);
		assert_int_equal(req.rsp_op, BLKIF_OP_DISCARD);
		assert_true(req.id == 0xabcdef0123ull);
		assert_int_equal(req.sector, 64);
		assert_int_equal(req.nr_sectors, 128);
		assert_int_equal(req.discard_flag, BLKIF_DISCARD_SECURE);
		s.sector = DISK - 127;
		assert_int_equal(decode(abi, &s, &lim_rw, &req), BLKIF_RSP_ERROR);
		s.sector = 8;
		s.nr_sectors = UINT64_MAX - 4;
		assert_int_equal(decode(abi, &s, &lim_rw, &req), BLKIF_RSP_ERROR);
		s.nr_sectors = 8;
		assert_int_equal(decode(abi, &s, &lim_nofeat, &req), BLKIF_RSP_EOPNOTSUPP);
	}
}

static void indirect_rules(void **state)
{
	struct td_blkif_req req;
	enum blkif_abi abi;

	FOR_EACH_ABI {
		struct spec s = { .op = BLKIF_OP_INDIRECT, .indirect_op = BLKIF_OP_READ,
				  .nseg16 = 256, .id = 77, .sector = 1024,
				  .igref = { 500, 501, 502, 503, 504, 505, 506, 507 } };

		assert_int_equal(decode(abi, &s, &lim_rw, &req), BLKIF_RSP_OKAY);
		assert_true(req.indirect);
		assert_int_equal(req.op, TD_OP_READ);
		/* answered with the indirect_op, as Linux blkback does and blkfront checks */
		assert_int_equal(req.rsp_op, BLKIF_OP_READ);
		assert_int_equal(req.nr_segs, 256);
		assert_int_equal(req.nr_indirect_pages, 1);
		assert_int_equal(req.indirect_grefs[0], 500);
		assert_int_equal(req.id, 77);
		assert_int_equal(req.sector, 1024);

		s.nseg16 = 257; /* above the advertised maximum */
		assert_int_equal(decode(abi, &s, &lim_rw, &req), BLKIF_RSP_ERROR);
		s.nseg16 = 0;
		assert_int_equal(decode(abi, &s, &lim_rw, &req), BLKIF_RSP_ERROR);
		s.nseg16 = 12;
		s.indirect_op = BLKIF_OP_WRITE;
		assert_int_equal(decode(abi, &s, &lim_rw, &req), BLKIF_RSP_OKAY);
		assert_int_equal(req.op, TD_OP_WRITE);
		assert_int_equal(req.rsp_op, BLKIF_OP_WRITE);
		s.indirect_op = BLKIF_OP_FLUSH_DISKCACHE;
		assert_int_equal(decode(abi, &s, &lim_rw, &req), BLKIF_RSP_ERROR);
		s.indirect_op = BLKIF_OP_INDIRECT;
		assert_int_equal(decode(abi, &s, &lim_rw, &req), BLKIF_RSP_ERROR);
		s.indirect_op = BLKIF_OP_READ;
		assert_int_equal(decode(abi, &s, &lim_nofeat, &req), BLKIF_RSP_EOPNOTSUPP);
	}
}

static void indirect_maximum_4096(void **state)
{
	struct td_blkif_limits lim = lim_rw;
	struct td_blkif_req req;
	enum blkif_abi abi;

	lim.max_indirect_segs = TD_MAX_INDIRECT_SEGS;
	lim.disk_sectors = 1u << 20;
	FOR_EACH_ABI {
		struct spec s = { .op = BLKIF_OP_INDIRECT, .indirect_op = BLKIF_OP_WRITE,
				  .nseg16 = 4096, .id = 1 };

		assert_int_equal(decode(abi, &s, &lim, &req), BLKIF_RSP_OKAY);
		assert_int_equal(req.nr_indirect_pages, 8);
		s.nseg16 = 4097;
		assert_int_equal(decode(abi, &s, &lim, &req), BLKIF_RSP_ERROR);
		s.nseg16 = 65535;
		assert_int_equal(decode(abi, &s, &lim, &req), BLKIF_RSP_ERROR);
	}
}

static void indirect_segments_are_checked(void **state)
{
	struct blkif_request_segment page[TD_SEGS_PER_INDIRECT_PAGE], segs[300];
	struct td_blkif_req req = { .nr_segs = 300, .sector = 0 };
	struct td_blkif_limits lim = lim_rw;
	const char *why;

	lim.disk_sectors = 4096;
	for (unsigned int i = 0; i < 300; i++)
		page[i] = (struct blkif_request_segment){ .gref = i, .first_sect = 0,
							  .last_sect = 7 };
	td_blkif_indirect_segments(page, 300, segs);
	assert_int_equal(segs[299].gref, 299);
	assert_int_equal(td_blkif_check_segments(&req, segs, &lim, &why), BLKIF_RSP_OKAY);
	assert_int_equal(req.nr_sectors, 2400);
	segs[150].last_sect = 8;
	assert_int_equal(td_blkif_check_segments(&req, segs, &lim, &why), BLKIF_RSP_ERROR);
	segs[150].last_sect = 7;
	segs[299].first_sect = 7;
	segs[299].last_sect = 6;
	assert_int_equal(td_blkif_check_segments(&req, segs, &lim, &why), BLKIF_RSP_ERROR);
	segs[299].first_sect = 0;
	segs[299].last_sect = 7;
	req.sector = 4096 - 2399; /* one past the end */
	assert_int_equal(td_blkif_check_segments(&req, segs, &lim, &why), BLKIF_RSP_ERROR);
	assert_int_equal(td_blkif_indirect_pages(1), 1);
	assert_int_equal(td_blkif_indirect_pages(512), 1);
	assert_int_equal(td_blkif_indirect_pages(513), 2);
	assert_int_equal(td_blkif_indirect_pages(4096), 8);
}

static void unknown_operations_are_eopnotsupp(void **state)
{
	static const uint8_t ops[] = { BLKIF_OP_RESERVED_1, 7, 8, 100, 255 };
	struct td_blkif_req req;
	enum blkif_abi abi;

	FOR_EACH_ABI {
		for (size_t i = 0; i < sizeof(ops); i++) {
			struct spec s = { .op = ops[i], .id = 0xfeedf00dcafeull + i };

			assert_int_equal(decode(abi, &s, &lim_rw, &req), BLKIF_RSP_EOPNOTSUPP);
			assert_true(req.id == 0xfeedf00dcafeull + i);
			assert_int_equal(req.rsp_op, ops[i]);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(read_and_write_decode),
		cmocka_unit_test(zero_segments_only_for_flush),
		cmocka_unit_test(direct_segments_at_most_11),
		cmocka_unit_test(segment_sectors_inside_the_page),
		cmocka_unit_test(sector_range_inside_the_disk),
		cmocka_unit_test(read_only_refuses_writes_and_discards),
		cmocka_unit_test(discard_decodes_and_checks_its_range),
		cmocka_unit_test(indirect_rules),
		cmocka_unit_test(indirect_maximum_4096),
		cmocka_unit_test(indirect_segments_are_checked),
		cmocka_unit_test(unknown_operations_are_eopnotsupp),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
