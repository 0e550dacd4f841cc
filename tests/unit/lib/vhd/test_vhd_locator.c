/* librtvhd's parent locators: UTF-16 conversions, MacX/W2ku/W2ru encodings, relative paths. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "ringtap/vhd.h"

static void utf16_round_trips_both_endians_and_surrogates(void **state)
{
	const char *s = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"; /* a é € 😀 */
	uint8_t out[32];
	char back[32];
	size_t n;

	assert_int_equal(vhd_utf8_to_utf16(s, out, sizeof(out), false, &n), 0);
	assert_int_equal(n, 10); /* 3 units + a surrogate pair */
	assert_int_equal(out[0], 'a');
	assert_int_equal(out[1], 0);
	assert_int_equal(out[6], 0x3d); /* high surrogate D83D, little-endian */
	assert_int_equal(out[7], 0xd8);
	assert_int_equal(vhd_utf16_to_utf8(out, n, false, back, sizeof(back)), 0);
	assert_string_equal(back, s);
	assert_int_equal(vhd_utf8_to_utf16(s, out, sizeof(out), true, &n), 0);
	assert_int_equal(out[0], 0);
	assert_int_equal(out[1], 'a');
	assert_int_equal(vhd_utf16_to_utf8(out, n, true, back, sizeof(back)), 0);
	assert_string_equal(back, s);
}

static void utf16_rejects_malformed_input(void **state)
{
	uint8_t lone_high[] = { 0x3d, 0xd8, 'a', 0 }, lone_low[] = { 0x00, 0xdc };
	uint8_t out[8];
	char back[8];
	size_t n;

	assert_int_equal(vhd_utf16_to_utf8(lone_high, 4, false, back, sizeof(back)), -EILSEQ);
	assert_int_equal(vhd_utf16_to_utf8(lone_low, 2, false, back, sizeof(back)), -EILSEQ);
	assert_int_equal(vhd_utf16_to_utf8(lone_low, 1, false, back, sizeof(back)), -EILSEQ);
	assert_int_equal(vhd_utf8_to_utf16("\xc0\xaf", out, sizeof(out), false, &n), -EILSEQ);
	assert_int_equal(vhd_utf8_to_utf16("\xed\xa0\x80", out, sizeof(out), false, &n), -EILSEQ);
	assert_int_equal(vhd_utf8_to_utf16("\xe2\x82", out, sizeof(out), false, &n), -EILSEQ);
	assert_int_equal(vhd_utf8_to_utf16("abcde", out, sizeof(out), false, &n), -ENAMETOOLONG);
	assert_int_equal(vhd_utf16_to_utf8((const uint8_t *)"a\0b\0c\0d\0", 8, false, back, 4),
			 -ENAMETOOLONG);
}

static void locators_encode_like_blktap(void **state)
{
	uint8_t out[64];
	char back[64];
	size_t n;

	assert_int_equal(vhd_locator_encode(VHD_PLAT_MACX, "./p.vhd", out, sizeof(out), &n), 0);
	assert_int_equal(n, 14);
	assert_memory_equal(out, "file://./p.vhd", 14);
	assert_int_equal(vhd_locator_encode(VHD_PLAT_W2RU, "./d/p.vhd", out, sizeof(out), &n), 0);
	assert_int_equal(n, 18); /* ".\d\p.vhd": 9 UTF-16LE units */
	assert_memory_equal(out, ".\0\\\0d\0\\\0p\0", 10);
	assert_int_equal(vhd_locator_encode(VHD_PLAT_W2KU, "../p.vhd", out, sizeof(out), &n), 0);
	assert_memory_equal(out, ".\0\\\0.\0.\0\\\0", 10);
	assert_int_equal(vhd_locator_decode(VHD_PLAT_W2KU, out, n, back, sizeof(back)), 0);
	assert_string_equal(back, "./../p.vhd");
	assert_int_equal(vhd_locator_encode(VHD_PLAT_MAC, "p", out, sizeof(out), &n), -EOPNOTSUPP);
}

static void locators_decode_and_reject(void **state)
{
	char back[64];

	assert_int_equal(vhd_locator_decode(VHD_PLAT_MACX, (const uint8_t *)"file:///a/p.vhd", 15,
					    back, sizeof(back)),
			 0);
	assert_string_equal(back, "/a/p.vhd");
	assert_int_equal(vhd_locator_decode(VHD_PLAT_MACX, (const uint8_t *)"http://x", 8, back,
					    sizeof(back)),
			 -EINVAL);
	assert_int_equal(vhd_locator_decode(VHD_PLAT_MACX, (const uint8_t *)"file://\xff", 8, back,
					    sizeof(back)),
			 -EILSEQ);
	assert_int_equal(vhd_locator_decode(VHD_PLAT_MACX, (const uint8_t *)"file://", 7, back,
					    sizeof(back)),
			 -EINVAL); /* empty */
	assert_int_equal(vhd_locator_decode(VHD_PLAT_W2KU, (const uint8_t *)"C\0:\0\\\0v\0\\\0p\0",
					    12, back, sizeof(back)),
			 0);
	assert_string_equal(back, "/v/p"); /* drive letter dropped, separators turned */
	assert_int_equal(
		vhd_locator_decode(VHD_PLAT_WI2K, (const uint8_t *)"x", 1, back, sizeof(back)),
		-EOPNOTSUPP);
}

static void locator_space_is_sectors_or_bytes(void **state)
{
	struct vhd_locator l = { .code = VHD_PLAT_MACX };

	l.data_space = 1;
	assert_int_equal(vhd_locator_space(&l), 512);
	l.data_space = 1024;
	assert_int_equal(vhd_locator_space(&l), 1024);
	l.data_space = 1000;
	assert_int_equal(vhd_locator_space(&l), 0);
	assert_true(vhd_locator_code_valid(VHD_PLAT_W2RU));
	assert_false(vhd_locator_code_valid(0x41414141));
}

static void relative_paths(void **state)
{
	char out[64];

	assert_int_equal(vhd_relative_path("/sr/c.vhd", "/sr/p.vhd", out, sizeof(out)), 0);
	assert_string_equal(out, "./p.vhd");
	assert_int_equal(vhd_relative_path("/sr/a/c.vhd", "/sr/b/p.vhd", out, sizeof(out)), 0);
	assert_string_equal(out, "../b/p.vhd");
	assert_int_equal(vhd_relative_path("/sr/b/c.vhd", "/sr/bc/p", out, sizeof(out)), 0);
	assert_string_equal(out, "../bc/p");
	assert_int_equal(vhd_relative_path("/c.vhd", "/d/p.vhd", out, sizeof(out)), 0);
	assert_string_equal(out, "./d/p.vhd");
	assert_int_equal(vhd_relative_path("/x/y/z/c", "/p", out, sizeof(out)), 0);
	assert_string_equal(out, "../../../p");
	assert_int_equal(vhd_relative_path("rel/c", "/p", out, sizeof(out)), -EINVAL);
	assert_int_equal(vhd_relative_path("/a/c", "/a/pppppppp", out, 8), -ENAMETOOLONG);
}

/* a file under root, with its directories (mode 0755) */
static void put_file(const char *root, const char *rel, const char *content)
{
	char path[PATH_MAX], *slash;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	for (slash = strchr(path + strlen(root) + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		assert_true(mkdir(path, 0755) == 0 || errno == EEXIST);
		*slash = '/';
	}
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void canonical_paths_name_lvm_volumes_by_their_mapper_node(void **state)
{
	char tmpl[] = "/tmp/vhd-canon.XXXXXX", root[PATH_MAX], in[2 * PATH_MAX];
	char want[2 * PATH_MAX], out[2 * PATH_MAX];
	const char *vol = "VG_XenStorage--9a-VHD--b-c";

	assert_non_null(mkdtemp(tmpl));
	assert_non_null(realpath(tmpl, root));
	put_file(root, "dev/dm-7", "");
	put_file(root, "sys/block/dm-7/dm/name", "VG_XenStorage--9a-VHD--b-c\n");
	put_file(root, "dev/mapper/VG_XenStorage--9a-VHD--b-c", "");
	put_file(root, "dev/dm-8", ""); /* no sysfs entry */
	put_file(root, "dev/dm-9", ""); /* a dm name but no node under /dev/mapper */
	put_file(root, "sys/block/dm-9/dm/name", "gone\n");
	put_file(root, "dev/dm-10x", "");
	put_file(root, "sys/block/dm-10x/dm/name", "VG_XenStorage--9a-VHD--b-c\n");
	put_file(root, "images/p.vhd", "");
	snprintf(in, sizeof(in), "%s/dev/VG_XenStorage-9a", root);
	assert_int_equal(mkdir(in, 0755), 0);
	snprintf(in, sizeof(in), "%s/dev/VG_XenStorage-9a/VHD-b-c", root);
	assert_int_equal(symlink("../dm-7", in), 0);

	/* the LV's /dev/VG/LV link and its dm node both name the mapper node */
	snprintf(want, sizeof(want), "%s/dev/mapper/%s", root, vol);
	assert_int_equal(vhd_canonical_path_at(root, in, out, sizeof(out)), 0);
	assert_string_equal(out, want);
	snprintf(in, sizeof(in), "%s/dev/dm-7", root);
	assert_int_equal(vhd_canonical_path_at(root, in, out, sizeof(out)), 0);
	assert_string_equal(out, want);
	/* anything else is its real path */
	for (int i = 0; i < 4; i++) {
		static const char *const others[] = { "dev/dm-8", "dev/dm-9", "dev/dm-10x",
						      "images/../images/p.vhd" };

		snprintf(in, sizeof(in), "%s/%s", root, others[i]);
		snprintf(want, sizeof(want), "%s/%s", root, i == 3 ? "images/p.vhd" : others[i]);
		assert_int_equal(vhd_canonical_path_at(root, in, out, sizeof(out)), 0);
		assert_string_equal(out, want);
	}
	snprintf(in, sizeof(in), "%s/images/none.vhd", root);
	assert_int_equal(vhd_canonical_path_at(root, in, out, sizeof(out)), -ENOENT);
	snprintf(in, sizeof(in), "%s/dev/dm-7", root);
	assert_int_equal(vhd_canonical_path_at(root, in, out, strlen(want)), -ENAMETOOLONG);
	assert_int_equal(nftw(root, remove_entry, 8, FTW_DEPTH | FTW_PHYS), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(utf16_round_trips_both_endians_and_surrogates),
		cmocka_unit_test(utf16_rejects_malformed_input),
		cmocka_unit_test(locators_encode_like_blktap),
		cmocka_unit_test(locators_decode_and_reject),
		cmocka_unit_test(locator_space_is_sectors_or_bytes),
		cmocka_unit_test(relative_paths),
		cmocka_unit_test(canonical_paths_name_lvm_volumes_by_their_mapper_node),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
