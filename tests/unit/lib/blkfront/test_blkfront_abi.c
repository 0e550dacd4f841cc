/* libblkfront writes its raw requests in the layout of the ABI it announced: checked against
 * <xen/io/blkif.h> (native) and ringtap/blkif_abi.h (x86_32, x86_64) field by field. The ring's
 * geometry and responses are lib/blkif's (tests/unit/lib/blkif). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <string.h>
#include <cmocka.h>

#include "lib/blkfront/blkfront_int.h"

static struct blkfront_raw_req rw_req(void)
{
	struct blkfront_raw_req r;
	unsigned int i;

	memset(&r, 0, sizeof(r));
	r.operation = BLKIF_OP_WRITE;
	r.nr_segments = 3;
	r.nr_grefs = 3;
	r.handle = 0x1234;
	r.sector_number = 0x0102030405060708ull;
	for (i = 0; i < 3; i++)
		r.seg[i] = (struct blkif_request_segment){ .gref = 100 + i, .first_sect = (uint8_t)i,
							   .last_sect = 7 };
	return r;
}

static void rw_native_layout(void **state)
{
	struct blkfront_raw_req r = rw_req();
	union blkif_sring_entry e;

	memset(&e, 0xaa, sizeof(e));
	bf_abi_write_request(BLKIF_ABI_NATIVE, &e, &r, 0xdeadbeefcafe);
	assert_int_equal(e.req.operation, BLKIF_OP_WRITE);
	assert_int_equal(e.req.nr_segments, 3);
	assert_int_equal(e.req.handle, 0x1234);
	assert_int_equal(e.req.id, 0xdeadbeefcafe);
	assert_int_equal(e.req.sector_number, 0x0102030405060708ull);
	assert_int_equal(e.req.seg[2].gref, 102);
	assert_int_equal(e.req.seg[2].first_sect, 2);
	assert_int_equal(e.req.seg[2].last_sect, 7);
	assert_int_equal(e.req.seg[3].gref, 0); /* the rest of the slot is zeroed */
}

static void rw_x86_32_layout(void **state)
{
	struct blkfront_raw_req r = rw_req();
	union blkif_x86_32_sring_entry e;
	uint8_t *b = (uint8_t *)&e;
	uint64_t id;

	bf_abi_write_request(BLKIF_ABI_X86_32, &e, &r, 77);
	assert_int_equal(e.req.operation, BLKIF_OP_WRITE);
	assert_int_equal(e.req.u.rw.nr_segments, 3);
	/* i386: id right after handle, at byte 4 */
	memcpy(&id, b + 4, 8);
	assert_int_equal(id, 77);
	assert_int_equal(e.req.u.rw.sector_number, 0x0102030405060708ull);
	assert_int_equal(e.req.u.rw.seg[1].gref, 101);
}

static void rw_x86_64_layout(void **state)
{
	struct blkfront_raw_req r = rw_req();
	union blkif_x86_64_sring_entry e;
	uint8_t *b = (uint8_t *)&e;
	uint64_t id;

	bf_abi_write_request(BLKIF_ABI_X86_64, &e, &r, 78);
	memcpy(&id, b + 8, 8);
	assert_int_equal(id, 78);
	assert_int_equal(e.req.u.rw.handle, 0x1234);
	assert_int_equal(e.req.u.rw.seg[0].gref, 100);
}

static void direct_segments_beyond_eleven_are_not_written(void **state)
{
	struct blkfront_raw_req r = rw_req();
	uint8_t e[2 * sizeof(union blkif_sring_entry)];
	unsigned int i;

	r.nr_segments = 12; /* what a hostile frontend says */
	r.nr_grefs = 12;
	for (i = 0; i < 11; i++)
		r.seg[i].gref = 5;
	memset(e, 0x55, sizeof(e));
	bf_abi_write_request(BLKIF_ABI_NATIVE, e, &r, 1);
	assert_int_equal(((union blkif_sring_entry *)e)->req.nr_segments, 12);
	/* the next slot is untouched */
	assert_int_equal(e[sizeof(union blkif_sring_entry)], 0x55);
}

static void discard_each_abi(void **state)
{
	struct blkfront_raw_req r;
	union blkif_sring_entry n;
	union blkif_x86_32_sring_entry e32;
	union blkif_x86_64_sring_entry e64;
	struct blkif_request_discard *d = (struct blkif_request_discard *)&n.req;

	memset(&r, 0, sizeof(r));
	r.operation = BLKIF_OP_DISCARD;
	r.flag = BLKIF_DISCARD_SECURE;
	r.sector_number = 2048;
	r.nr_sectors = 4096;
	bf_abi_write_request(BLKIF_ABI_NATIVE, &n, &r, 9);
	assert_int_equal(d->operation, BLKIF_OP_DISCARD);
	assert_int_equal(d->flag, BLKIF_DISCARD_SECURE);
	assert_int_equal(d->id, 9);
	assert_int_equal(d->sector_number, 2048);
	assert_int_equal(d->nr_sectors, 4096);
	bf_abi_write_request(BLKIF_ABI_X86_32, &e32, &r, 9);
	assert_int_equal(e32.req.u.discard.nr_sectors, 4096);
	assert_int_equal(e32.req.u.discard.id, 9);
	bf_abi_write_request(BLKIF_ABI_X86_64, &e64, &r, 9);
	assert_int_equal(e64.req.u.discard.sector_number, 2048);
	assert_int_equal(e64.req.u.discard.flag, BLKIF_DISCARD_SECURE);
}

static void indirect_each_abi(void **state)
{
	struct blkfront_raw_req r;
	union blkif_sring_entry n;
	union blkif_x86_32_sring_entry e32;
	union blkif_x86_64_sring_entry e64;
	struct blkif_request_indirect *ind = (struct blkif_request_indirect *)&n.req;

	memset(&r, 0, sizeof(r));
	r.operation = BLKIF_OP_INDIRECT;
	r.indirect_op = BLKIF_OP_READ;
	r.nr_segments = 1000;
	r.nr_grefs = 2;
	r.indirect_grefs[0] = 11;
	r.indirect_grefs[1] = 12;
	r.sector_number = 8;
	bf_abi_write_request(BLKIF_ABI_NATIVE, &n, &r, 3);
	assert_int_equal(ind->operation, BLKIF_OP_INDIRECT);
	assert_int_equal(ind->indirect_op, BLKIF_OP_READ);
	assert_int_equal(ind->nr_segments, 1000);
	assert_int_equal(ind->id, 3);
	assert_int_equal(ind->indirect_grefs[1], 12);
	assert_int_equal(ind->indirect_grefs[2], 0);
	bf_abi_write_request(BLKIF_ABI_X86_32, &e32, &r, 3);
	assert_int_equal(e32.req.u.indirect.nr_segments, 1000);
	assert_int_equal(e32.req.u.indirect.indirect_grefs[0], 11);
	assert_int_equal(e32.req.u.indirect.sector_number, 8);
	bf_abi_write_request(BLKIF_ABI_X86_64, &e64, &r, 3);
	assert_int_equal(e64.req.u.indirect.indirect_grefs[1], 12);
	assert_int_equal(e64.req.u.indirect.id, 3);
}

static void statuses_map_to_errno(void **state)
{
	assert_int_equal(bf_status_to_errno(BLKIF_RSP_OKAY), 0);
	assert_int_equal(bf_status_to_errno(BLKIF_RSP_ERROR), -EIO);
	assert_int_equal(bf_status_to_errno(BLKIF_RSP_EOPNOTSUPP), -EOPNOTSUPP);
	assert_int_equal(bf_status_to_errno(7), -EPROTO);
	assert_int_equal(bf_status_to_errno(-32768), -EPROTO);
}

static void xenstore_numbers_parse_strictly(void **state)
{
	uint64_t v = 0;

	assert_int_equal(bf_parse_uint("4", 4, &v), 0);
	assert_int_equal(v, 4);
	assert_int_equal(bf_parse_uint("18446744073709551615", UINT64_MAX, &v), 0);
	assert_int_equal(v, UINT64_MAX);
	assert_int_equal(bf_parse_uint("18446744073709551616", UINT64_MAX, &v), -EINVAL);
	assert_int_equal(bf_parse_uint("5", 4, &v), -EINVAL);
	assert_int_equal(bf_parse_uint("", 4, &v), -EINVAL);
	assert_int_equal(bf_parse_uint(NULL, 4, &v), -EINVAL);
	assert_int_equal(bf_parse_uint("-1", 4, &v), -EINVAL);
	assert_int_equal(bf_parse_uint(" 1", 4, &v), -EINVAL);
	assert_int_equal(bf_parse_uint("1x", 4, &v), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rw_native_layout),
		cmocka_unit_test(rw_x86_32_layout),
		cmocka_unit_test(rw_x86_64_layout),
		cmocka_unit_test(direct_segments_beyond_eleven_are_not_written),
		cmocka_unit_test(discard_each_abi),
		cmocka_unit_test(indirect_each_abi),
		cmocka_unit_test(statuses_map_to_errno),
		cmocka_unit_test(xenstore_numbers_parse_strictly),
	};
	return cmocka_run_group_tests_name("blkfront_abi", tests, NULL, NULL);
}
