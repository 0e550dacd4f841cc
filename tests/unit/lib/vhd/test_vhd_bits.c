/* librtvhd's bitmaps (MSB first), BAT encoding, layout arithmetic and the batmap header. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <string.h>
#include <cmocka.h>

#include "ringtap/vhd.h"

static void bits_are_msb_first(void **state)
{
	uint8_t map[4] = { 0 };

	vhd_bit_set(map, 0);
	vhd_bit_set(map, 9);
	assert_int_equal(map[0], 0x80);
	assert_int_equal(map[1], 0x40);
	assert_true(vhd_bit_test(map, 9));
	assert_false(vhd_bit_test(map, 8));
	vhd_bit_clear(map, 0);
	assert_int_equal(map[0], 0);
}

static void bit_ranges_set_clear_count_and_run(void **state)
{
	uint8_t map[8] = { 0 };

	vhd_bits_set(map, 3, 20);
	assert_int_equal(map[0], 0x1f);
	assert_int_equal(map[1], 0xff);
	assert_int_equal(map[2], 0xfe);
	assert_int_equal(map[3], 0);
	assert_int_equal(vhd_bits_count(map, 0, 64), 20);
	assert_true(vhd_bits_all(map, 3, 20));
	assert_false(vhd_bits_all(map, 2, 20));
	assert_int_equal(vhd_bits_run(map, 3, 64), 20);
	assert_int_equal(vhd_bits_run(map, 0, 64), 3);
	assert_int_equal(vhd_bits_run(map, 23, 10), 10);
	vhd_bits_clear(map, 4, 18);
	assert_int_equal(vhd_bits_count(map, 0, 64), 2);
	assert_true(vhd_bit_test(map, 3));
	assert_true(vhd_bit_test(map, 22));
}

static void bat_encodes_big_endian_and_by_sector(void **state)
{
	uint32_t bat[200], out[200];
	uint8_t buf[800], sec[VHD_SECTOR_SIZE];
	struct vhd_header h;

	for (uint32_t i = 0; i < 200; i++)
		bat[i] = i % 3 ? VHD_BAT_UNUSED : 0x01020304 + i;
	vhd_bat_encode(bat, 200, buf);
	assert_int_equal(buf[0], 1);
	assert_int_equal(buf[3], 4);
	vhd_bat_decode(buf, 200, out);
	assert_memory_equal(bat, out, sizeof(bat));

	vhd_header_init(&h, 1536, 200, VHD_BLOCK_SIZE);
	assert_int_equal(vhd_bat_sector_offset(&h, 127), 1536);
	assert_int_equal(vhd_bat_sector_offset(&h, 128), 2048);
	vhd_bat_sector_encode(bat, 200, 150, sec);
	assert_memory_equal(sec, buf + 512, 288); /* entries 128..199 */
	for (int i = 288; i < 512; i++)
		assert_int_equal(sec[i], 0xff); /* padding past the table: unused */
}

static void layout_sizes_follow_blktap(void **state)
{
	assert_int_equal(vhd_bitmap_bytes(VHD_BLOCK_SIZE), 512);
	assert_int_equal(vhd_bitmap_bytes(512 << 10), 512);
	assert_int_equal(vhd_bitmap_bytes(4u << 20), 1024);
	assert_int_equal(vhd_blocks_for(100 << 20, VHD_BLOCK_SIZE), 50);
	assert_int_equal(vhd_blocks_for((100 << 20) + 1, VHD_BLOCK_SIZE), 51);
	assert_int_equal(vhd_bat_bytes(50), 512);
	assert_int_equal(vhd_bat_bytes(129), 1024);
	assert_int_equal(vhd_bat_bytes(0), 512);
	assert_int_equal(vhd_batmap_sectors(50), 1);
	assert_int_equal(vhd_batmap_sectors(4097), 2);
	assert_int_equal(vhd_batmap_checksum_bytes(100 << 20), 512);
	assert_int_equal(vhd_batmap_checksum_bytes(2040ULL << 30), 512 * 255);
	/* data 4 KiB-aligned: the bitmap sector just before a 4 KiB boundary */
	assert_int_equal(vhd_next_block_offset(3072, 512), 3584);
	assert_int_equal(vhd_next_block_offset(3584, 512), 3584);
	assert_int_equal(vhd_next_block_offset(3585, 512), 7680);
	assert_int_equal(vhd_block_data_offset(7, 512) % 4096, 0);
	assert_int_equal(vhd_block_bitmap_offset(7), 3584);
}

static void batmap_header_round_trips_and_validates(void **state)
{
	struct vhd_batmap_header b, g;
	uint8_t buf[VHD_SECTOR_SIZE];
	const char *why = NULL;

	vhd_batmap_header_init(&b, 2560, 1);
	b.checksum = 0xffffffbf;
	b.marker = 1;
	b.rest[0] = 0x5a; /* bytes another tool stored: preserved */
	vhd_batmap_header_encode(&b, buf);
	assert_memory_equal(buf, "tdbatmap", 8);
	assert_int_equal(vhd_batmap_header_decode(buf, &g, &why), 0);
	assert_memory_equal(&b, &g, sizeof(b));
	buf[22] = 3; /* version 1.3: newer than we know */
	assert_int_equal(vhd_batmap_header_decode(buf, &g, &why), -EINVAL);
	assert_non_null(strstr(why, "version"));
	vhd_batmap_header_encode(&b, buf);
	buf[15] = 1; /* offset not sector-aligned */
	assert_int_equal(vhd_batmap_header_decode(buf, &g, &why), -EINVAL);
	memcpy(buf, "tdbatmaq", 8);
	assert_int_equal(vhd_batmap_header_decode(buf, &g, &why), -EINVAL);
	assert_non_null(strstr(why, "cookie"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(bits_are_msb_first),
		cmocka_unit_test(bit_ranges_set_clear_count_and_run),
		cmocka_unit_test(bat_encodes_big_endian_and_by_sector),
		cmocka_unit_test(layout_sizes_follow_blktap),
		cmocka_unit_test(batmap_header_round_trips_and_validates),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
