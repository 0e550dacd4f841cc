/* blktap's CBT log format: the header's bytes, the bitmap's length, marking blocks from sector
 * ranges (compared with a bit-by-bit model), merging bitmaps. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include "ringtap/cbt.h"

static void header_layout_is_blktaps(void **state)
{
	struct cbt_header h, back;
	uint8_t b[CBT_HEADER_SIZE];

	for (int i = 0; i < 16; i++) {
		h.parent[i] = (uint8_t)(0x10 + i);
		h.child[i] = (uint8_t)(0x80 + i);
	}
	h.consistent = 1;
	h.size = 0x0102030405060708ull;
	memset(b, 0xee, sizeof(b));
	cbt_header_encode(&h, b);
	assert_memory_equal(b, h.parent, 16);
	assert_memory_equal(b + 16, h.child, 16);
	/* int32 little-endian at 32, four bytes of padding, uint64 little-endian at 40 */
	const uint8_t tail[16] = { 1, 0, 0, 0, 0, 0, 0, 0, 8, 7, 6, 5, 4, 3, 2, 1 };
	assert_memory_equal(b + 32, tail, 16);
	cbt_header_decode(b, &back);
	assert_memory_equal(&back.parent, h.parent, 16);
	assert_memory_equal(&back.child, h.child, 16);
	assert_int_equal(back.consistent, 1);
	assert_true(back.size == h.size);
	/* a negative flag and the largest size survive the round trip */
	h.consistent = -2;
	h.size = UINT64_MAX;
	cbt_header_encode(&h, b);
	cbt_header_decode(b, &back);
	assert_int_equal(back.consistent, -2);
	assert_true(back.size == UINT64_MAX);
}

static void bitmap_length_rounds_up_blocks_then_bytes(void **state)
{
	assert_true(cbt_bitmap_bytes(0) == 0);
	assert_true(cbt_bitmap_bytes(1) == 1);
	assert_true(cbt_bitmap_bytes(64 << 10) == 1);
	assert_true(cbt_bitmap_bytes(8 * (64 << 10)) == 1);
	assert_true(cbt_bitmap_bytes(8 * (64 << 10) + 1) == 2);
	assert_true(cbt_bitmap_bytes(16ull << 20) == 32); /* 256 blocks */
	assert_true(cbt_bitmap_bytes(2ull << 40) == 4ull << 20);
	/* no overflow at the top of the range: 2^48 blocks, 2^45 bytes */
	assert_true(cbt_bitmap_bytes(UINT64_MAX) == 1ull << 45);
	assert_true(cbt_log_bytes(16ull << 20) == 48 + 32);
}

/* The model: bit by bit, as blktap's tapdisk does it. */
static void model_mark(uint8_t *bm, uint64_t sector, uint64_t n)
{
	for (uint64_t b = sector * 512 / (64 << 10); b <= (sector + n - 1) * 512 / (64 << 10); b++)
		bm[b / 8] |= (uint8_t)(1u << (b % 8));
}

static void marking_sets_every_block_touched(void **state)
{
	enum { BYTES = 64 };
	uint8_t got[BYTES], want[BYTES];
	const uint64_t sectors = BYTES * 8 * 128; /* the disk the bitmap covers */
	unsigned int seed = 7;

	/* every start and length near block and byte boundaries, then random ones */
	const uint64_t edges[] = { 0, 1, 127, 128, 129, 1023, 1024, 1025, 2047, 4095, 4096, 8191 };
	for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++) {
		for (size_t j = 0; j < sizeof(edges) / sizeof(edges[0]); j++) {
			uint64_t s = edges[i], n = edges[j] + 1;

			if (s + n > sectors)
				continue;
			memset(got, 0, sizeof(got));
			memset(want, 0, sizeof(want));
			assert_int_equal(cbt_mark_sectors(got, BYTES, s, n), 0);
			model_mark(want, s, n);
			assert_memory_equal(got, want, BYTES);
		}
	}
	for (int k = 0; k < 2000; k++) {
		uint64_t s = (uint64_t)rand_r(&seed) % sectors;
		uint64_t n = 1 + (uint64_t)rand_r(&seed) % (sectors - s);

		memset(got, 0xa5 & -(k & 1), sizeof(got)); /* marks add to what is set */
		memcpy(want, got, sizeof(got));
		assert_int_equal(cbt_mark_sectors(got, BYTES, s, n), 0);
		model_mark(want, s, n);
		assert_memory_equal(got, want, BYTES);
		for (uint64_t b = s / 128; b <= (s + n - 1) / 128; b++)
			assert_true(cbt_block_is_set(got, b));
	}
}

static void marking_outside_the_bitmap_is_refused(void **state)
{
	uint8_t bm[4] = { 0 }, zero[4] = { 0 };

	assert_int_equal(cbt_mark_sectors(bm, 4, 0, 0), 0); /* nothing */
	assert_memory_equal(bm, zero, 4);
	assert_int_equal(cbt_mark_sectors(bm, 4, 32 * 128 - 1, 2), -ERANGE);
	assert_int_equal(cbt_mark_sectors(bm, 4, 32 * 128, 1), -ERANGE);
	assert_int_equal(cbt_mark_sectors(bm, 4, UINT64_MAX, 2), -ERANGE);
	assert_int_equal(cbt_mark_sectors(bm, 4, 1, UINT64_MAX), -ERANGE);
	assert_int_equal(cbt_mark_sectors(bm, 0, 0, 1), -ERANGE);
	assert_memory_equal(bm, zero, 4);
	/* the last block is markable */
	assert_int_equal(cbt_mark_sectors(bm, 4, 32 * 128 - 1, 1), 0);
	assert_int_equal(bm[3], 0x80);
}

static void merge_ors_the_parent_into_the_child(void **state)
{
	uint8_t child[4] = { 0x01, 0x00, 0xf0, 0x0f };
	const uint8_t parent[3] = { 0x10, 0x02, 0x0f };
	const uint8_t want[4] = { 0x11, 0x02, 0xff, 0x0f };
	uint8_t small[2] = { 0x55, 0x55 };

	assert_int_equal(cbt_bitmap_merge(child, 4, parent, 3), 0);
	assert_memory_equal(child, want, 4);
	/* a parent longer than the child: refused, the child unchanged */
	assert_int_equal(cbt_bitmap_merge(small, 2, parent, 3), -EINVAL);
	assert_int_equal(small[0], 0x55);
	assert_int_equal(small[1], 0x55);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(header_layout_is_blktaps),
		cmocka_unit_test(bitmap_length_rounds_up_blocks_then_bytes),
		cmocka_unit_test(marking_sets_every_block_touched),
		cmocka_unit_test(marking_outside_the_bitmap_is_refused),
		cmocka_unit_test(merge_ors_the_parent_into_the_child),
	};
	return cmocka_run_group_tests_name("cbt_format", tests, NULL, NULL);
}
