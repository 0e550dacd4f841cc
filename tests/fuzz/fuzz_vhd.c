/* Fuzzes the VHD metadata parsers (lib/vhd): the input is a whole VHD file, opened from memory
 * (a memfd) with vhd_open_fd as the vhd driver and vhd-util do, then read as they read it: the
 * footer copy, parent locators, block bitmaps and sectors; and the individual parsers (footer,
 * header, batmap header, BAT, locator data, UTF-16 names) directly on the input's first bytes.
 *
 * Input: [fix][file]. Checksums stop a fuzzer at the first changed byte, so the harness first
 * recomputes those that `fix` names (bit 0: both footers, 1: the dynamic header, 2: the batmap)
 * where the file's own offsets put them; with fix 0 the file is taken as it is. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib/vhd/private.h"

/* Bounds on the work one input can ask for (a BAT of millions of allocated blocks). */
#define MAX_BLOCKS_READ 64
#define MAX_SECTORS_READ 64

#define FIX_FOOTERS 0x1
#define FIX_HEADER 0x2
#define FIX_BATMAP 0x4

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
	if (!ok)
		abort();
}

static bool in_file(uint64_t off, uint64_t len, size_t size)
{
	return off <= size && len <= size - off;
}

static void fix_checksum(uint8_t *p, size_t len, size_t csum_off)
{
	put_be32(p + csum_off, vhd_checksum(p, len, csum_off));
}

/* The header and batmap are found through the trailing footer, as vhd_open_fd finds them. */
static void fix_checksums(uint8_t *file, size_t size, unsigned int fix)
{
	const uint8_t *footer = file + size - VHD_FOOTER_SIZE;
	uint64_t hoff = get_be64(footer + 16), curr_size = get_be64(footer + 48);

	if (in_file(hoff, VHD_HEADER_SIZE, size)) {
		uint8_t *h = file + hoff;
		uint64_t bhoff = get_be64(h + 16) + vhd_bat_bytes(get_be32(h + 28));

		if ((fix & FIX_BATMAP) && in_file(bhoff, VHD_SECTOR_SIZE, size)) {
			uint8_t *bh = file + bhoff;
			uint64_t moff = get_be64(bh + 8),
				 need = vhd_batmap_checksum_bytes(curr_size);

			if (in_file(moff, need, size))
				put_be32(bh + 24,
					 vhd_batmap_checksum(file + moff, need, get_be32(bh + 20)));
		}
		if (fix & FIX_HEADER)
			fix_checksum(h, VHD_HEADER_SIZE, VHD_HEADER_CHECKSUM_OFFSET);
	}
	if (fix & FIX_FOOTERS) {
		fix_checksum(file + size - VHD_FOOTER_SIZE, VHD_FOOTER_SIZE,
			     VHD_FOOTER_CHECKSUM_OFFSET);
		if (size >= 2 * VHD_FOOTER_SIZE)
			fix_checksum(file, VHD_FOOTER_SIZE, VHD_FOOTER_CHECKSUM_OFFSET);
	}
}

static void parse_directly(const uint8_t *data, size_t size)
{
	struct vhd_footer footer;
	struct vhd_header header;
	struct vhd_batmap_header batmap;
	const char *why = NULL;
	char name[1024];
	static const uint32_t codes[] = { VHD_PLAT_MACX, VHD_PLAT_W2KU, VHD_PLAT_W2RU };

	if (size >= VHD_FOOTER_SIZE && vhd_footer_decode(data, &footer, &why) == 0) {
		(void)vhd_footer_validate(&footer, &why);
		if (size >= VHD_FOOTER_SIZE + VHD_HEADER_SIZE &&
		    vhd_header_decode(data + VHD_FOOTER_SIZE, &header, &why) == 0) {
			if (vhd_header_validate(&header, &footer, &why) == 0)
				check(header.block_size >= VHD_MIN_BLOCK_SIZE);
			(void)vhd_header_parent_name(&header, name, sizeof(name));
		}
	}
	if (size >= VHD_SECTOR_SIZE)
		(void)vhd_batmap_header_decode(data, &batmap, &why);
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (vhd_locator_decode(codes[i], data, size, name, sizeof(name)) == 0)
			check(memchr(name, '\0', sizeof(name)) != NULL);
	(void)vhd_utf16_to_utf8(data, size, true, name, sizeof(name));
}

/* What vhd-util check reads past vhd_open: the footer copy, every allocated block's bitmap. */
static void read_like_check(struct vhd_file *f)
{
	uint8_t *map = malloc(f->bitmap_bytes ? f->bitmap_bytes : 1);
	uint32_t done = 0;

	check(map != NULL);
	for (uint32_t b = 0; b < f->blocks && done < MAX_BLOCKS_READ; b++) {
		if (f->bat[b] == VHD_BAT_UNUSED)
			continue;
		done++;
		if (vhd_read_bitmap(f, b, map) == 0 && f->has_batmap &&
		    vhd_bit_test(f->batmap_map, b))
			(void)vhd_bits_all(map, 0, f->spb);
	}
	free(map);
}

/* What the driver and vhd-util read: the parent locators, sectors at both ends of the disk. */
static void read_like_driver(struct vhd_file *f)
{
	uint8_t buf[MAX_SECTORS_READ * VHD_SECTOR_SIZE], present[MAX_SECTORS_READ / 8];
	uint64_t sectors = f->footer.curr_size / VHD_SECTOR_SIZE;
	char path[4096];

	if (f->footer.type == VHD_TYPE_DIFF)
		for (int i = 0; i < VHD_LOCATORS; i++)
			if (vhd_read_locator(f, i, path, sizeof(path)) == 0)
				check(memchr(path, '\0', sizeof(path)) != NULL);
	(void)vhd_allocated_blocks(f);
	(void)vhd_physical_size(f);
	(void)vhd_hidden(f);
	(void)vhd_parent_is_raw(f);
	if (sectors) {
		uint32_t n = sectors < MAX_SECTORS_READ ? (uint32_t)sectors : MAX_SECTORS_READ;

		(void)vhd_read_sectors(f, 0, n, buf, present);
		(void)vhd_read_sectors(f, sectors - n, n, buf, present);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vhd_file *f;
	uint8_t *file;
	int fd;

	if (size < 1)
		return 0;
	file = malloc(size);
	check(file != NULL);
	memcpy(file, data + 1, size - 1);
	size--;
	if (size >= VHD_FOOTER_SIZE)
		fix_checksums(file, size, data[0]);
	parse_directly(file, size);

	fd = memfd_create("fuzz.vhd", MFD_CLOEXEC);
	check(fd >= 0);
	check(write(fd, file, size) == (ssize_t)size);
	free(file);
	f = malloc(sizeof(*f));
	check(f != NULL);
	if (vhd_open_fd(f, fd, "/fuzz/leaf.vhd", VHD_OPEN_RDONLY) == 0) {
		if (vhd_is_dynamic(f))
			read_like_check(f);
		read_like_driver(f);
	}
	/* vhd_open_fd leaves fd open on failure; vhd_close closes it and frees the metadata */
	f->dirty = f->batmap_dirty = false;
	vhd_close(f);
	free(f);
	return 0;
}
