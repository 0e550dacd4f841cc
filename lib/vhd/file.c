/* Opening a VHD (loading and validating all metadata), writing its metadata back, closing. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "private.h"

static int load_footer(struct vhd_file *f, int flags)
{
	uint8_t buf[VHD_FOOTER_SIZE];
	struct vhd_footer copy;
	const char *why_end = NULL, *why_copy = NULL;
	int err;

	if (f->file_size < VHD_FOOTER_SIZE)
		return vhd_fail(f, -EINVAL, "file too small to be a VHD (%" PRIu64 " bytes)",
				f->file_size);
	err = vhd_pread_full(f->fd, buf, sizeof(buf), f->file_size - VHD_FOOTER_SIZE);
	if (err)
		return vhd_fail(f, err, "cannot read the footer: %s", strerror(-err));
	err = vhd_footer_decode(buf, &f->footer, &why_end);
	if (!err)
		err = vhd_footer_validate(&f->footer, &why_end);

	/* the copy at offset 0 (dynamic disks) stands in for a trailing footer lost in a crash */
	f->copy_valid = false;
	if (f->file_size >= 2 * VHD_FOOTER_SIZE) {
		int cerr = vhd_pread_full(f->fd, buf, sizeof(buf), 0);

		if (!cerr)
			cerr = vhd_footer_decode(buf, &copy, &why_copy);
		if (!cerr)
			cerr = vhd_footer_validate(&copy, &why_copy);
		if (!cerr && copy.type != VHD_TYPE_FIXED)
			f->copy_valid = true;
		else if (!cerr)
			why_copy = "the footer copy at offset 0 is for a fixed disk";
	}
	if (!err && !(f->copy_valid && (flags & VHD_OPEN_BACKUP_FOOTER)))
		return 0;
	if (!f->copy_valid)
		return vhd_fail(f, -EINVAL, "not a valid VHD: %s at the end of the file%s%s",
				why_end, why_copy ? "; at offset 0: " : "",
				why_copy ? why_copy : "");
	f->footer = copy;
	f->footer_from_copy = true;
	return 0;
}

static int load_header(struct vhd_file *f)
{
	uint8_t buf[VHD_HEADER_SIZE];
	const char *why;
	int err;

	if (f->footer.data_offset % VHD_SECTOR_SIZE || f->footer.data_offset < VHD_FOOTER_SIZE ||
	    f->footer.data_offset > f->file_size ||
	    f->file_size - f->footer.data_offset < VHD_HEADER_SIZE)
		return vhd_fail(f, -EINVAL,
				"dynamic header offset %" PRIu64 " is outside the file (%" PRIu64
				" bytes) or misaligned",
				f->footer.data_offset, f->file_size);
	err = vhd_pread_full(f->fd, buf, sizeof(buf), f->footer.data_offset);
	if (err)
		return vhd_fail(f, err, "cannot read the dynamic header: %s", strerror(-err));
	err = vhd_header_decode(buf, &f->header, &why);
	if (!err)
		err = vhd_header_validate(&f->header, &f->footer, &why);
	if (err)
		return vhd_fail(f, err, "%s", why);
	f->spb = f->header.block_size / VHD_SECTOR_SIZE;
	f->bitmap_bytes = vhd_bitmap_bytes(f->header.block_size);
	f->blocks = vhd_blocks_for(f->footer.curr_size, f->header.block_size);
	return 0;
}

static int load_bat(struct vhd_file *f)
{
	uint64_t bytes = vhd_bat_bytes(f->header.max_bat_entries);
	uint8_t *buf;
	int err;

	if (f->header.table_offset > f->file_size || f->file_size - f->header.table_offset < bytes)
		return vhd_fail(f, -EINVAL,
				"BAT (%" PRIu32 " entries at byte %" PRIu64
				") extends past the end of the file (%" PRIu64 " bytes)",
				f->header.max_bat_entries, f->header.table_offset, f->file_size);
	buf = malloc(bytes);
	f->bat = malloc(sizeof(uint32_t) *
			(f->header.max_bat_entries ? f->header.max_bat_entries : 1));
	if (!buf || !f->bat) {
		free(buf);
		return vhd_fail(f, -ENOMEM, "out of memory for the BAT");
	}
	err = vhd_pread_full(f->fd, buf, bytes, f->header.table_offset);
	if (err) {
		free(buf);
		return vhd_fail(f, err, "cannot read the BAT: %s", strerror(-err));
	}
	vhd_bat_decode(buf, f->header.max_bat_entries, f->bat);
	free(buf);
	return 0;
}

/* blktap's rule: tapdisk files of version >= 1.2 have a batmap; 1.1 may. */
static int load_batmap(struct vhd_file *f)
{
	uint8_t buf[VHD_SECTOR_SIZE];
	uint64_t hoff = vhd_batmap_header_offset(&f->header), need;
	uint32_t ver = f->footer.creator_version;
	const char *why;
	bool required;
	int err;

	if (!vhd_footer_by_tapdisk(&f->footer) || ver <= VHD_VERSION(0, 1))
		return 0;
	required = ver >= VHD_VERSION(1, 2);
	if (hoff > f->file_size || f->file_size - hoff < VHD_SECTOR_SIZE) {
		if (!required)
			return 0;
		return vhd_fail(f, -EINVAL, "batmap header (byte %" PRIu64 ") is outside the file",
				hoff);
	}
	err = vhd_pread_full(f->fd, buf, sizeof(buf), hoff);
	if (err)
		return vhd_fail(f, err, "cannot read the batmap header: %s", strerror(-err));
	err = vhd_batmap_header_decode(buf, &f->batmap, &why);
	if (err) {
		if (!required)
			return 0;
		return vhd_fail(f, err, "%s (a tapdisk %" PRIu32 ".%" PRIu32 " file must have one)",
				why, ver >> 16, ver & 0xffff);
	}
	need = vhd_batmap_checksum_bytes(f->footer.curr_size);
	if (vhd_sectors_to_bytes(f->batmap.size) < need ||
	    (uint64_t)f->batmap.size * VHD_SECTOR_SIZE * 8 < f->blocks)
		return vhd_fail(f, -EINVAL,
				"batmap (%" PRIu32 " sectors) too small for %" PRIu32 " blocks",
				f->batmap.size, f->blocks);
	if (f->batmap.size > vhd_batmap_sectors(f->header.max_bat_entries) + 8 ||
	    f->batmap.offset > f->file_size ||
	    f->file_size - f->batmap.offset < vhd_sectors_to_bytes(f->batmap.size))
		return vhd_fail(f, -EINVAL,
				"batmap (%" PRIu32 " sectors at byte %" PRIu64
				") is too large or outside the file",
				f->batmap.size, f->batmap.offset);
	f->batmap_map = malloc(vhd_sectors_to_bytes(f->batmap.size));
	if (!f->batmap_map)
		return vhd_fail(f, -ENOMEM, "out of memory for the batmap");
	err = vhd_pread_full(f->fd, f->batmap_map, vhd_sectors_to_bytes(f->batmap.size),
			     f->batmap.offset);
	if (err)
		return vhd_fail(f, err, "cannot read the batmap: %s", strerror(-err));
	if (vhd_batmap_checksum(f->batmap_map, need, f->batmap.version) != f->batmap.checksum)
		return vhd_fail(f, -EINVAL, "batmap checksum mismatch");
	f->has_batmap = true;
	return 0;
}

int vhd_open_fd(struct vhd_file *f, int fd, const char *name, int flags)
{
	int is_block = 0, err;

	memset(f, 0, sizeof(*f));
	f->fd = fd;
	f->path = strdup(name);
	if (!f->path)
		return -ENOMEM;
	f->writable = flags & VHD_OPEN_RDWR;
	err = vhd_fd_size(fd, &f->file_size, &is_block);
	if (err)
		return vhd_fail(f, err, "not a regular file or block device");
	f->is_block = is_block;

	err = load_footer(f, flags);
	if (err)
		return err;
	if (f->footer.type == VHD_TYPE_FIXED) {
		if (f->file_size - VHD_FOOTER_SIZE < f->footer.curr_size)
			return vhd_fail(f, -EINVAL,
					"fixed disk file (%" PRIu64
					" bytes) is shorter than its virtual size (%" PRIu64 ")",
					f->file_size, f->footer.curr_size);
		f->end_of_metadata = 0;
		f->end_of_data = f->footer.curr_size;
		return 0;
	}
	if (f->file_size < VHD_FOOTER_SIZE + VHD_HEADER_SIZE + VHD_FOOTER_SIZE)
		return vhd_fail(f, -EINVAL, "file too small for a dynamic disk (%" PRIu64 " bytes)",
				f->file_size);
	err = load_header(f);
	if (!err)
		err = load_bat(f);
	if (!err)
		err = load_batmap(f);
	if (!err)
		err = vhd_validate_layout(f);
	return err;
}

int vhd_open(struct vhd_file *f, const char *path, int flags)
{
	int fd = open(path, ((flags & VHD_OPEN_RDWR) ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	int err;

	if (fd < 0) {
		err = -errno;
		memset(f, 0, sizeof(*f));
		f->fd = -1;
		snprintf(f->err, sizeof(f->err), "%s: %s", path, strerror(-err));
		return err;
	}
	err = vhd_open_fd(f, fd, path, flags);
	if (err) {
		char msg[VHD_ERR_LEN];

		memcpy(msg, f->err, sizeof(msg));
		f->dirty = f->batmap_dirty = false;
		vhd_close(f);
		memcpy(f->err, msg, sizeof(msg));
	}
	return err;
}

bool vhd_parent_is_raw(const struct vhd_file *f)
{
	return f->footer.type == VHD_TYPE_DIFF && vhd_uuid_is_null(f->header.parent_uuid);
}

int vhd_hidden(const struct vhd_file *f)
{
	/* tapdisk 0.1 and 1.1 kept `hidden` valid only in the copy at offset 0 */
	if (vhd_is_dynamic(f) && vhd_footer_by_tapdisk(&f->footer) &&
	    (f->footer.creator_version == VHD_VERSION(0, 1) ||
	     f->footer.creator_version == VHD_VERSION(1, 1))) {
		uint8_t buf[VHD_FOOTER_SIZE];
		struct vhd_footer copy;
		const char *why;

		if (!vhd_pread_full(f->fd, buf, sizeof(buf), 0) &&
		    !vhd_footer_decode(buf, &copy, &why))
			return copy.hidden != 0;
	}
	return f->footer.hidden != 0;
}

uint32_t vhd_allocated_blocks(const struct vhd_file *f)
{
	uint32_t n = 0;

	if (!vhd_is_dynamic(f))
		return vhd_blocks_for(f->footer.curr_size, VHD_BLOCK_SIZE);
	for (uint32_t i = 0; i < f->blocks; i++)
		n += f->bat[i] != VHD_BAT_UNUSED;
	return n;
}

uint64_t vhd_physical_size(const struct vhd_file *f)
{
	if (!vhd_is_dynamic(f))
		return f->file_size;
	return f->end_of_data + VHD_FOOTER_SIZE;
}

int vhd_write_footers(struct vhd_file *f)
{
	uint8_t buf[VHD_FOOTER_SIZE];
	uint64_t off;
	int err;

	if (!f->writable)
		return vhd_fail(f, -EROFS, "opened read-only");
	if (f->is_block)
		off = f->file_size - VHD_FOOTER_SIZE;
	else
		off = f->end_of_data;
	vhd_footer_encode(&f->footer, buf);
	err = vhd_pwrite_full(f->fd, buf, sizeof(buf), off);
	if (err)
		return vhd_fail(f, err, "cannot write the footer: %s", strerror(-err));
	if (!f->is_block) {
		if (ftruncate(f->fd, (off_t)(off + VHD_FOOTER_SIZE)) < 0)
			return vhd_fail(f, -errno, "cannot truncate after the footer: %s",
					strerror(errno));
		f->file_size = off + VHD_FOOTER_SIZE;
	}
	if (vhd_is_dynamic(f)) {
		err = vhd_pwrite_full(f->fd, buf, sizeof(buf), 0);
		if (err)
			return vhd_fail(f, err, "cannot write the footer copy: %s", strerror(-err));
		f->copy_valid = true;
	}
	f->footer_from_copy = false;
	f->dirty = false;
	return 0;
}

int vhd_write_header(struct vhd_file *f)
{
	uint8_t buf[VHD_HEADER_SIZE];
	int err;

	vhd_header_encode(&f->header, buf);
	err = vhd_pwrite_full(f->fd, buf, sizeof(buf), f->footer.data_offset);
	return err ? vhd_fail(f, err, "cannot write the header: %s", strerror(-err)) : 0;
}

int vhd_write_bat(struct vhd_file *f)
{
	uint64_t bytes = vhd_bat_bytes(f->header.max_bat_entries);
	uint8_t *buf = malloc(bytes);
	int err;

	if (!buf)
		return vhd_fail(f, -ENOMEM, "out of memory");
	memset(buf, 0xff, bytes);
	vhd_bat_encode(f->bat, f->header.max_bat_entries, buf);
	err = vhd_pwrite_full(f->fd, buf, bytes, f->header.table_offset);
	free(buf);
	return err ? vhd_fail(f, err, "cannot write the BAT: %s", strerror(-err)) : 0;
}

int vhd_write_batmap(struct vhd_file *f)
{
	uint8_t buf[VHD_SECTOR_SIZE];
	int err;

	if (!f->has_batmap)
		return 0;
	f->batmap.checksum = vhd_batmap_checksum(
		f->batmap_map, vhd_batmap_checksum_bytes(f->footer.curr_size), f->batmap.version);
	err = vhd_pwrite_full(f->fd, f->batmap_map, vhd_sectors_to_bytes(f->batmap.size),
			      f->batmap.offset);
	if (!err) {
		vhd_batmap_header_encode(&f->batmap, buf);
		err = vhd_pwrite_full(f->fd, buf, sizeof(buf),
				      vhd_batmap_header_offset(&f->header));
	}
	if (err)
		return vhd_fail(f, err, "cannot write the batmap: %s", strerror(-err));
	f->batmap_dirty = false;
	return 0;
}

int vhd_flush(struct vhd_file *f)
{
	int err = 0;

	if (!f->writable)
		return 0;
	/* batmap bits only ever get set here, after the bitmaps they summarise are on disk */
	if (f->batmap_dirty) {
		if (fdatasync(f->fd) < 0)
			return vhd_fail(f, -errno, "fdatasync: %s", strerror(errno));
		err = vhd_write_batmap(f);
	}
	if (!err && (f->dirty || f->footer_from_copy))
		err = vhd_write_footers(f);
	if (!err && fsync(f->fd) < 0)
		err = vhd_fail(f, -errno, "fsync: %s", strerror(errno));
	return err;
}

int vhd_close(struct vhd_file *f)
{
	int err = 0;

	if (f->fd >= 0 && f->writable && (f->dirty || f->batmap_dirty))
		err = vhd_flush(f);
	if (f->fd >= 0 && close(f->fd) < 0 && !err)
		err = -errno;
	free(f->bat);
	free(f->batmap_map);
	free(f->path);
	f->fd = -1;
	f->bat = NULL;
	f->batmap_map = NULL;
	f->path = NULL;
	return err;
}
