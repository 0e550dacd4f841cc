/* vhd_check(): everything vhd_open() validates, plus the footer copy, every block's bitmap
 * against the batmap, and the parent chain. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "private.h"

static int check_footer_copy(struct vhd_file *f, int flags)
{
	uint8_t end[VHD_FOOTER_SIZE], copy[VHD_FOOTER_SIZE];
	int err;

	if (f->footer_from_copy && !(flags & VHD_CHECK_IGNORE_FOOTER))
		return vhd_fail(f, -EINVAL,
				"the footer at the end of the file is missing or invalid (the copy "
				"at offset 0 is valid: `vhd-util repair` rewrites it)");
	if (!vhd_is_dynamic(f) || f->footer_from_copy)
		return 0;
	if (!f->copy_valid)
		return vhd_fail(f, -EINVAL, "the footer copy at offset 0 is invalid");
	err = vhd_pread_full(f->fd, end, sizeof(end), f->file_size - VHD_FOOTER_SIZE);
	if (!err)
		err = vhd_pread_full(f->fd, copy, sizeof(copy), 0);
	if (err)
		return vhd_fail(f, err, "cannot read the footers: %s", strerror(-err));
	if (memcmp(end, copy, sizeof(end)))
		return vhd_fail(f, -EINVAL,
				"the footer copy at offset 0 differs from the footer at the end");
	return 0;
}

static int check_bitmaps(struct vhd_file *f)
{
	uint8_t *map = malloc(f->bitmap_bytes);
	int err = 0;

	if (!map)
		return vhd_fail(f, -ENOMEM, "out of memory");
	for (uint32_t b = 0; b < f->blocks && !err; b++) {
		if (f->bat[b] == VHD_BAT_UNUSED)
			continue;
		err = vhd_read_bitmap(f, b, map);
		if (!err && f->has_batmap && vhd_bit_test(f->batmap_map, b) &&
		    !vhd_bits_all(map, 0, f->spb))
			err = vhd_fail(f, -EINVAL,
				       "batmap marks block %" PRIu32
				       " full but its sector bitmap is not",
				       b);
	}
	free(map);
	return err;
}

int vhd_check(const char *path, int flags, char *msg, size_t msglen)
{
	struct vhd_file f;
	int err;

	err = vhd_open(&f, path, VHD_OPEN_RDONLY);
	if (err) {
		snprintf(msg, msglen, "%s", f.err);
		return err;
	}
	err = check_footer_copy(&f, flags);
	if (!err && vhd_is_dynamic(&f) && !(flags & VHD_CHECK_FAST))
		err = check_bitmaps(&f);
	if (err)
		snprintf(msg, msglen, "%s", f.err);
	if (!err && f.footer.type == VHD_TYPE_DIFF) {
		struct vhd_chain c;

		/* loops and wrong parents always fail; a parent that is just absent (an LV not
		 * active yet) only when asked to check parents */
		err = vhd_chain_open(&c, path, VHD_OPEN_RDONLY);
		if (err) {
			snprintf(msg, msglen, "%s", c.err);
			if (err == -ENOENT && !(flags & VHD_CHECK_PARENTS))
				err = 0;
		} else {
			vhd_chain_close(&c);
		}
	}
	vhd_close(&f);
	return err;
}
