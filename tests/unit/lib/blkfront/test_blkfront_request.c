/* Caller I/O becomes ring requests as Linux blkfront builds them: at most max_segs pages each,
 * full pages but the last, direct up to 11 segments, indirect descriptors beyond. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "lib/blkfront/blkfront_int.h"

static void chunks_split_at_max_segments(void **state)
{
	assert_int_equal(bf_chunk_len(4096, 11), 4096);
	assert_int_equal(bf_chunk_len(512, 11), 512);
	assert_int_equal(bf_chunk_len(11 * 4096 + 512, 11), 11 * 4096);
	assert_int_equal(bf_chunk_len((size_t)16 << 20, 256), (size_t)1 << 20);
	assert_int_equal(bf_chunk_len((size_t)16 << 20, 4096), (size_t)16 << 20);
	assert_int_equal(bf_chunk_segs(512), 1);
	assert_int_equal(bf_chunk_segs(4096), 1);
	assert_int_equal(bf_chunk_segs(4097), 2);
	assert_int_equal(bf_chunk_segs(1 << 20), 256);
	assert_int_equal(bf_indirect_pages(12), 1);
	assert_int_equal(bf_indirect_pages(512), 1);
	assert_int_equal(bf_indirect_pages(513), 2);
	assert_int_equal(bf_indirect_pages(4096), 8);
	assert_int_equal(BF_MAX_INDIRECT_SEGS, 4096);
}

static void direct_request_segments(void **state)
{
	grant_ref_t refs[3] = { 7, 8, 9 };
	struct blkfront_raw_req r;

	/* 2 pages and 1.5 KiB: the last segment holds sectors 0..2 */
	bf_build_rw(&r, BLKIF_OP_READ, 100, 2 * 4096 + 1536, refs, NULL, NULL, false);
	assert_int_equal(r.operation, BLKIF_OP_READ);
	assert_int_equal(r.nr_segments, 3);
	assert_int_equal(r.nr_grefs, 3);
	assert_int_equal(r.sector_number, 100);
	assert_int_equal(r.seg[0].gref, 7);
	assert_int_equal(r.seg[0].first_sect, 0);
	assert_int_equal(r.seg[0].last_sect, 7);
	assert_int_equal(r.seg[1].last_sect, 7);
	assert_int_equal(r.seg[2].gref, 9);
	assert_int_equal(r.seg[2].last_sect, 2);
}

static void single_sector_request(void **state)
{
	grant_ref_t ref = 42;
	struct blkfront_raw_req r;

	bf_build_rw(&r, BLKIF_OP_WRITE, 0, 512, &ref, NULL, NULL, false);
	assert_int_equal(r.nr_segments, 1);
	assert_int_equal(r.seg[0].first_sect, 0);
	assert_int_equal(r.seg[0].last_sect, 0);
}

static void indirect_request_descriptors(void **state)
{
	static struct blkif_request_segment pages[2][512];
	static grant_ref_t refs[600];
	void *ind[2] = { pages[0], pages[1] };
	grant_ref_t ind_refs[2] = { 1000, 1001 };
	struct blkfront_raw_req r;
	unsigned int i;

	for (i = 0; i < 600; i++)
		refs[i] = 10 + i;
	memset(pages, 0xff, sizeof(pages));
	bf_build_rw(&r, BLKIF_OP_WRITE, 64, 600 * 4096, refs, ind, ind_refs, true);
	assert_int_equal(r.operation, BLKIF_OP_INDIRECT);
	assert_int_equal(r.indirect_op, BLKIF_OP_WRITE);
	assert_int_equal(r.nr_segments, 600);
	assert_int_equal(r.nr_grefs, 2);
	assert_int_equal(r.indirect_grefs[0], 1000);
	assert_int_equal(r.indirect_grefs[1], 1001);
	assert_int_equal(r.sector_number, 64);
	assert_int_equal(pages[0][0].gref, 10);
	assert_int_equal(pages[0][511].gref, 10 + 511);
	assert_int_equal(pages[1][0].gref, 10 + 512);
	assert_int_equal(pages[1][87].gref, 10 + 599);
	assert_int_equal(pages[1][87].last_sect, 7);
	assert_int_equal(pages[1][88].gref, 0xffffffff); /* nothing written past the last one */
}

static void twelve_segments_go_indirect_with_one_page(void **state)
{
	static struct blkif_request_segment page[512];
	grant_ref_t refs[12] = { 0 };
	grant_ref_t ind_ref = 5;
	void *ind[1] = { page };
	struct blkfront_raw_req r;

	bf_build_rw(&r, BLKIF_OP_READ, 0, 12 * 4096 - 512, refs, ind, &ind_ref, true);
	assert_int_equal(r.nr_segments, 12);
	assert_int_equal(r.nr_grefs, 1);
	assert_int_equal(page[11].last_sect, 6);
}

static void flush_and_discard(void **state)
{
	struct blkfront_raw_req r;

	bf_build_flush(&r);
	assert_int_equal(r.operation, BLKIF_OP_FLUSH_DISKCACHE);
	assert_int_equal(r.nr_segments, 0);
	bf_build_discard(&r, 8, 16);
	assert_int_equal(r.operation, BLKIF_OP_DISCARD);
	assert_int_equal(r.sector_number, 8);
	assert_int_equal(r.nr_sectors, 16);
	assert_int_equal(r.flag, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(chunks_split_at_max_segments),
		cmocka_unit_test(direct_request_segments),
		cmocka_unit_test(single_sector_request),
		cmocka_unit_test(indirect_request_descriptors),
		cmocka_unit_test(twelve_segments_go_indirect_with_one_page),
		cmocka_unit_test(flush_and_discard),
	};
	return cmocka_run_group_tests_name("blkfront_request", tests, NULL, NULL);
}
