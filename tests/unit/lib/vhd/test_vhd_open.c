/* vhd_open() validates everything it reads: each rule is broken on a copy of a good image held
 * in memory (a memfd) and must give its own clear error; random damage must never crash. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "ringtap/vhd.h"

struct image {
	uint8_t *buf;
	size_t len;
};

struct fixture {
	char dir[64];
	struct image dyn, diff, fixed;
};

static struct image load(const char *path)
{
	struct image im = { 0 };
	FILE *f = fopen(path, "rb");

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	im.len = (size_t)ftell(f);
	rewind(f);
	im.buf = malloc(im.len);
	assert_int_equal(fread(im.buf, 1, im.len, f), im.len);
	fclose(f);
	return im;
}

static struct image copy(const struct image *im)
{
	struct image c = { malloc(im->len), im->len };

	memcpy(c.buf, im->buf, im->len);
	return c;
}

/* Open a buffer as a VHD with vhd_open_fd's FLAGS; returns its result, f is left for
 * vhd_close. */
static int open_image_flags(const struct image *im, struct vhd_file *f, int flags)
{
	int fd = memfd_create("vhd", MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, im->buf, im->len), (ssize_t)im->len);
	return vhd_open_fd(f, fd, "image", flags);
}

static int open_image(const struct image *im, struct vhd_file *f)
{
	return open_image_flags(im, f, VHD_OPEN_RDONLY);
}

static void expect_error(struct image *im, int err, const char *msg)
{
	struct vhd_file f;
	int rc = open_image(im, &f);

	if (rc != err || !strstr(f.err, msg))
		print_error("got %d '%s', expected %d '%s'\n", rc, f.err, err, msg);
	assert_int_equal(rc, err);
	assert_non_null(strstr(f.err, msg));
	vhd_close(&f);
	free(im->buf);
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8),
	p[3] = (uint8_t)v;
}

/* Rewrite both footers (end and offset 0) after changing fields. */
static void edit_footers(struct image *im, void (*edit)(struct vhd_footer *, void *), void *arg)
{
	struct vhd_footer f;
	const char *why;

	vhd_footer_decode(im->buf + im->len - 512, &f, &why);
	edit(&f, arg);
	vhd_footer_encode(&f, im->buf + im->len - 512);
	if (f.type != VHD_TYPE_FIXED)
		vhd_footer_encode(&f, im->buf);
}

static void edit_header(struct image *im, void (*edit)(struct vhd_header *, void *), void *arg)
{
	struct vhd_header h;
	const char *why;

	vhd_header_decode(im->buf + 512, &h, &why);
	edit(&h, arg);
	vhd_header_encode(&h, im->buf + 512);
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	struct vhd_create_params p = { .type = VHD_TYPE_DYNAMIC, .size = 20 << 20 };
	struct vhd_file f;
	char path[128], parent[128], err[256];
	uint8_t *data = calloc(1, 4 << 20);

	strcpy(fx->dir, "/tmp/test_vhd_open.XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	snprintf(parent, sizeof(parent), "%s/p.vhd", fx->dir);
	assert_int_equal(vhd_create(parent, &p, err, sizeof(err)), 0);
	/* block 0 half written, block 2 full (its batmap bit set) */
	memset(data, 0x5a, 4 << 20);
	assert_int_equal(vhd_open(&f, parent, VHD_OPEN_RDWR), 0);
	assert_int_equal(vhd_write_sectors(&f, 2048, 2048, data), 0);
	assert_int_equal(vhd_write_sectors(&f, 8192, 4096, data), 0);
	assert_int_equal(vhd_close(&f), 0);
	fx->dyn = load(parent);

	snprintf(path, sizeof(path), "%s/c.vhd", fx->dir);
	p = (struct vhd_create_params){ .type = VHD_TYPE_DIFF, .parent = parent };
	assert_int_equal(vhd_create(path, &p, err, sizeof(err)), 0);
	fx->diff = load(path);
	unlink(path);

	snprintf(path, sizeof(path), "%s/f.vhd", fx->dir);
	p = (struct vhd_create_params){ .type = VHD_TYPE_FIXED, .size = 4 << 20 };
	assert_int_equal(vhd_create(path, &p, err, sizeof(err)), 0);
	fx->fixed = load(path);
	unlink(path);
	unlink(parent);
	rmdir(fx->dir);
	free(data);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	free(fx->dyn.buf);
	free(fx->diff.buf);
	free(fx->fixed.buf);
	free(fx);
	return 0;
}

static void good_images_open_with_their_metadata(void **state)
{
	struct fixture *fx = *state;
	struct vhd_file f;

	assert_int_equal(open_image(&fx->dyn, &f), 0);
	assert_int_equal(f.footer.type, VHD_TYPE_DYNAMIC);
	assert_int_equal(f.blocks, 10);
	assert_int_equal(vhd_allocated_blocks(&f), 2);
	assert_true(f.has_batmap);
	assert_true(vhd_bit_test(f.batmap_map, 2));
	assert_false(vhd_bit_test(f.batmap_map, 0));
	assert_int_equal(f.bat[0], 3584 / 512);
	assert_int_equal(vhd_block_data_offset(f.bat[2], f.bitmap_bytes) % 4096, 0);
	assert_int_equal(f.end_of_metadata, 3072);
	assert_int_equal(vhd_physical_size(&f), fx->dyn.len);
	assert_false(f.footer_from_copy);
	vhd_close(&f);
	assert_int_equal(open_image(&fx->diff, &f), 0);
	assert_int_equal(f.footer.type, VHD_TYPE_DIFF);
	assert_int_equal(f.header.loc[0].code, VHD_PLAT_MACX);
	assert_int_equal(f.header.loc[1].code, VHD_PLAT_W2KU);
	assert_int_equal(f.header.loc[2].code, VHD_PLAT_W2RU);
	assert_false(vhd_parent_is_raw(&f));
	vhd_close(&f);
	assert_int_equal(open_image(&fx->fixed, &f), 0);
	assert_int_equal(f.footer.curr_size, 4 << 20);
	vhd_close(&f);
}

static void truncated_files_are_refused(void **state)
{
	struct fixture *fx = *state;
	struct image im = copy(&fx->dyn);

	im.len -= 1 << 20;
	expect_error(&im, -EINVAL, "extends past the end of the file");
	im = copy(&fx->dyn);
	im.len = 300;
	expect_error(&im, -EINVAL, "too small");
	im = copy(&fx->dyn);
	im.len = 1024; /* the copy at offset 0 stands in, but no room for the header */
	expect_error(&im, -EINVAL, "file too small for a dynamic disk");
	im = copy(&fx->fixed);
	im.len = 4096;
	expect_error(&im, -EINVAL, "not a valid VHD: bad footer cookie");
}

static void lost_trailing_footer_falls_back_to_the_copy(void **state)
{
	struct fixture *fx = *state;
	struct image im = copy(&fx->dyn);
	struct vhd_file f;

	im.buf[im.len - 512 + 100] ^= 0xff;
	assert_int_equal(open_image(&im, &f), 0);
	assert_true(f.footer_from_copy);
	assert_int_equal(vhd_allocated_blocks(&f), 2);
	vhd_close(&f);
	im.buf[100] ^= 0xff; /* and the copy too */
	expect_error(&im, -EINVAL, "footer checksum mismatch");
	im = copy(&fx->dyn);
	memcpy(im.buf + im.len - 512, "conectiX", 8);
	memcpy(im.buf, "conectiX", 8);
	expect_error(&im, -EINVAL, "cookie");
}

/* VHD_OPEN_BACKUP_FOOTER (blktap's "use the back-up footer"): the copy at offset 0 wins when
 * it is valid, even over a valid trailing footer; when it is not, the trailing one serves. */
static void backup_footer_flag_prefers_the_copy(void **state)
{
	struct fixture *fx = *state;
	struct image im = copy(&fx->dyn);
	struct vhd_footer cp;
	struct vhd_file f;
	const char *why;

	assert_int_equal(vhd_footer_decode(im.buf, &cp, &why), 0);
	cp.hidden = 1;
	vhd_footer_encode(&cp, im.buf);
	assert_int_equal(open_image(&im, &f), 0);
	assert_int_equal(f.footer.hidden, 0);
	assert_false(f.footer_from_copy);
	vhd_close(&f);
	assert_int_equal(open_image_flags(&im, &f, VHD_OPEN_RDONLY | VHD_OPEN_BACKUP_FOOTER), 0);
	assert_int_equal(f.footer.hidden, 1);
	assert_true(f.footer_from_copy);
	vhd_close(&f);
	im.buf[100] ^= 0xff; /* a damaged copy: the trailing footer serves */
	assert_int_equal(open_image_flags(&im, &f, VHD_OPEN_RDONLY | VHD_OPEN_BACKUP_FOOTER), 0);
	assert_int_equal(f.footer.hidden, 0);
	assert_false(f.footer_from_copy);
	vhd_close(&f);
	free(im.buf);
}

static void set_data_offset(struct vhd_footer *f, void *arg)
{
	f->data_offset = *(uint64_t *)arg;
}

static void set_size(struct vhd_footer *f, void *arg)
{
	f->curr_size = *(uint64_t *)arg;
}

static void footers_rules(void **state)
{
	struct fixture *fx = *state;
	struct image im = copy(&fx->dyn);
	uint64_t v = 1ULL << 40;

	edit_footers(&im, set_data_offset, &v);
	expect_error(&im, -EINVAL, "dynamic header offset");
	im = copy(&fx->dyn);
	v = 700;
	edit_footers(&im, set_data_offset, &v);
	expect_error(&im, -EINVAL, "misaligned");
	im = copy(&fx->dyn);
	v = 4ULL << 40;
	edit_footers(&im, set_size, &v);
	expect_error(&im, -EINVAL, "exceeds 2 TiB");
	im = copy(&fx->fixed);
	v = 8 << 20;
	edit_footers(&im, set_size, &v);
	expect_error(&im, -EINVAL, "shorter than its virtual size");
}

static void set_table(struct vhd_header *h, void *arg)
{
	h->table_offset = *(uint64_t *)arg;
}

static void set_block_size(struct vhd_header *h, void *arg)
{
	h->block_size = *(uint32_t *)arg;
}

static void set_max_bat(struct vhd_header *h, void *arg)
{
	h->max_bat_entries = *(uint32_t *)arg;
}

static void set_locator(struct vhd_header *h, void *arg)
{
	h->loc[0] = *(struct vhd_locator *)arg;
}

static void header_rules(void **state)
{
	struct fixture *fx = *state;
	struct image im = copy(&fx->dyn);
	uint64_t off = 1ULL << 33;
	uint32_t v;

	im.buf[512 + 700] ^= 1;
	expect_error(&im, -EINVAL, "dynamic header checksum mismatch");
	im = copy(&fx->dyn);
	edit_header(&im, set_table, &off);
	expect_error(&im, -EINVAL, "BAT (10 entries at byte 8589934592) extends past");
	im = copy(&fx->dyn);
	v = 3 << 20;
	edit_header(&im, set_block_size, &v);
	expect_error(&im, -EINVAL, "block size is not a power of two");
	im = copy(&fx->dyn);
	v = 1u << 30;
	edit_header(&im, set_block_size, &v);
	expect_error(&im, -EINVAL, "block size");
	im = copy(&fx->dyn);
	v = 9;
	edit_header(&im, set_max_bat, &v);
	expect_error(&im, -EINVAL, "fewer entries than the virtual size needs");
	im = copy(&fx->dyn);
	v = 1u << 23;
	edit_header(&im, set_max_bat, &v);
	expect_error(&im, -EINVAL, "more than 4194304 entries");
}

static void bat_rules(void **state)
{
	struct fixture *fx = *state;
	struct image im = copy(&fx->dyn);

	put32(im.buf + 1536 + 4 * 1, 0x00100000); /* block 1 at 512 MiB */
	expect_error(&im, -EINVAL, "BAT entry 1: block at byte 536870912 extends past the end");
	im = copy(&fx->dyn);
	put32(im.buf + 1536 + 4 * 1, 3584 / 512 + 8); /* inside block 0 */
	expect_error(&im, -EINVAL, "point to overlapping blocks");
	im = copy(&fx->dyn);
	put32(im.buf + 1536, 3); /* block 0 on the BAT itself */
	expect_error(&im, -EINVAL, "BAT entry 0: block at byte 1536 overlaps the BAT");
	im = copy(&fx->dyn);
	put32(im.buf + 1536, 0);
	expect_error(&im, -EINVAL, "overlaps the footer copy");
	im = copy(&fx->dyn);
	put32(im.buf + 1536 + 4 * 9, 0xfffffffe); /* the last possible sector */
	expect_error(&im, -EINVAL, "extends past the end");
}

static void batmap_rules(void **state)
{
	struct fixture *fx = *state;
	struct image im = copy(&fx->dyn);
	uint8_t sector[512];
	struct vhd_batmap_header b;
	const char *why;

	im.buf[2560] ^= 0x01; /* map byte: checksum no longer matches */
	expect_error(&im, -EINVAL, "batmap checksum mismatch");
	im = copy(&fx->dyn);
	memcpy(im.buf + 2048, "xxxxxxxx", 8);
	expect_error(&im, -EINVAL, "batmap cookie");
	/* a set bit for an unallocated block, with a consistent checksum */
	im = copy(&fx->dyn);
	im.buf[2560] |= 0x04; /* block 5 */
	vhd_batmap_header_decode(im.buf + 2048, &b, &why);
	b.checksum = vhd_batmap_checksum(im.buf + 2560, 512, b.version);
	vhd_batmap_header_encode(&b, sector);
	memcpy(im.buf + 2048, sector, 512);
	expect_error(&im, -EINVAL,
		     "batmap marks block 5 fully allocated but its BAT entry is unused");
	im = copy(&fx->dyn);
	vhd_batmap_header_decode(im.buf + 2048, &b, &why);
	b.offset = 1ULL << 40;
	vhd_batmap_header_encode(&b, sector);
	memcpy(im.buf + 2048, sector, 512);
	expect_error(&im, -EINVAL, "outside the file");
	im = copy(&fx->dyn);
	vhd_batmap_header_decode(im.buf + 2048, &b, &why);
	b.offset = 1536; /* the BAT */
	vhd_batmap_header_encode(&b, sector);
	memcpy(im.buf + 2048, sector, 512);
	expect_error(&im, -EINVAL, "batmap checksum mismatch"); /* reads the BAT's bytes */
}

static void locator_rules(void **state)
{
	struct fixture *fx = *state;
	struct image im = copy(&fx->diff);
	struct vhd_locator l = { VHD_PLAT_MACX, 512, 14, 0, 1ULL << 40 };

	edit_header(&im, set_locator, &l);
	expect_error(&im, -EINVAL, "parent locator 0 (bytes 1099511627776");
	im = copy(&fx->diff);
	l = (struct vhd_locator){ VHD_PLAT_MACX, 1000, 14, 0, 3072 };
	edit_header(&im, set_locator, &l);
	expect_error(&im, -EINVAL, "parent locator 0 has an invalid data space");
	im = copy(&fx->diff);
	l = (struct vhd_locator){ VHD_PLAT_MACX, 512, 600, 0, 3072 };
	edit_header(&im, set_locator, &l);
	expect_error(&im, -EINVAL, "exceeds its space");
	im = copy(&fx->diff);
	l = (struct vhd_locator){ VHD_PLAT_MACX, 512, 14, 0, 512 };
	edit_header(&im, set_locator, &l);
	expect_error(&im, -EINVAL, "parent locator 0 overlaps dynamic header");
	im = copy(&fx->diff);
	l = (struct vhd_locator){ 0x41414141, 512, 14, 0, 3072 };
	edit_header(&im, set_locator, &l);
	expect_error(&im, -EINVAL, "unknown parent locator platform code");
}

/* Random damage to metadata and BAT: any outcome but a crash or an out-of-bounds access. */
static void random_damage_never_crashes(void **state)
{
	struct fixture *fx = *state;
	const struct image *srcs[] = { &fx->dyn, &fx->diff, &fx->fixed };
	unsigned int seed = 12345;
	uint8_t *buf = malloc(64 * 512), *present = malloc(64);

	for (int i = 0; i < 3000; i++) {
		const struct image *src = srcs[i % 3];
		struct image im = copy(src);
		struct vhd_file f;
		int flips = 1 + rand_r(&seed) % 4;

		for (int k = 0; k < flips; k++) {
			size_t at = (size_t)rand_r(&seed) % 4096;

			if (rand_r(&seed) % 3 == 0)
				at = im.len - 512 + (size_t)rand_r(&seed) % 512;
			im.buf[at % im.len] = (uint8_t)rand_r(&seed);
		}
		/* sometimes fix the checksums so the damage reaches the deeper rules */
		if (rand_r(&seed) % 2 && src != &fx->fixed) {
			struct vhd_header h;
			const char *why;

			vhd_header_decode(im.buf + 512, &h, &why);
			vhd_header_encode(&h, im.buf + 512);
		}
		if (open_image(&im, &f) == 0) {
			uint64_t secs = f.footer.curr_size / 512;

			for (uint64_t s = 0; s + 64 <= secs && s < 16384; s += 2048)
				(void)!vhd_read_sectors(&f, s, 64, buf, present);
		}
		vhd_close(&f);
		free(im.buf);
	}
	free(buf);
	free(present);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(good_images_open_with_their_metadata),
		cmocka_unit_test(truncated_files_are_refused),
		cmocka_unit_test(lost_trailing_footer_falls_back_to_the_copy),
		cmocka_unit_test(backup_footer_flag_prefers_the_copy),
		cmocka_unit_test(footers_rules),
		cmocka_unit_test(header_rules),
		cmocka_unit_test(bat_rules),
		cmocka_unit_test(batmap_rules),
		cmocka_unit_test(locator_rules),
		cmocka_unit_test(random_damage_never_crashes),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
