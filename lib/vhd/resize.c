/* Growing a disk's virtual size, with an undo journal for the cases that move data. The
 * journal is ringtap's own format (only vhd-util reads it): the file's original size and every
 * byte range the resize overwrites, then an end marker once complete. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "private.h"

static const char jnl_magic[8] = { 'r', 't', 'v', 'h', 'd', 'j', 'n', 'l' };
static const char jnl_end[8] = { 'r', 't', 'v', 'h', 'd', 'e', 'n', 'd' };

struct extent {
	uint64_t off, len;
};

/* Save [off, off+len) of every extent (clipped to the file) and the file size. */
static int journal_write(struct vhd_file *f, const char *journal, const struct extent *ext, int n)
{
	uint8_t hdr[24];
	uint64_t pos = 0;
	int jfd, err = 0;

	jfd = open(journal, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (jfd < 0)
		return vhd_fail(f, -errno, "journal %s: %s", journal, strerror(errno));
	memcpy(hdr, jnl_magic, 8);
	put_be64(hdr + 8, f->file_size);
	put_be32(hdr + 16, (uint32_t)n);
	put_be32(hdr + 20, 1);
	err = vhd_pwrite_full(jfd, hdr, sizeof(hdr), pos);
	pos += sizeof(hdr);
	for (int i = 0; i < n && !err; i++) {
		uint64_t len = ext[i].off >= f->file_size ? 0 : ext[i].len;
		uint8_t eh[16], *buf;

		if (ext[i].off + len > f->file_size)
			len = f->file_size - ext[i].off;
		put_be64(eh, ext[i].off);
		put_be64(eh + 8, len);
		err = vhd_pwrite_full(jfd, eh, sizeof(eh), pos);
		pos += sizeof(eh);
		buf = malloc(len ? len : 1);
		if (!buf) {
			err = -ENOMEM;
			break;
		}
		if (!err)
			err = vhd_pread_full(f->fd, buf, len, ext[i].off);
		if (!err)
			err = vhd_pwrite_full(jfd, buf, len, pos);
		free(buf);
		pos += len;
	}
	if (!err && fsync(jfd) < 0)
		err = -errno;
	/* the end marker makes the journal valid: only then is the disk touched */
	if (!err)
		err = vhd_pwrite_full(jfd, jnl_end, 8, pos);
	if (!err && fsync(jfd) < 0)
		err = -errno;
	close(jfd);
	if (err) {
		unlink(journal);
		return vhd_fail(f, err, "cannot write the journal: %s", strerror(-err));
	}
	return 0;
}

int vhd_revert(const char *path, const char *journal, char *msg, size_t msglen)
{
	uint8_t hdr[24], end[8];
	uint64_t size, pos = sizeof(hdr), jsize;
	uint32_t n;
	int jfd, fd = -1, blk, err;

	jfd = open(journal, O_RDONLY | O_CLOEXEC);
	if (jfd < 0) {
		err = -errno;
		snprintf(msg, msglen, "journal %s: %s", journal, strerror(errno));
		return err;
	}
	err = vhd_fd_size(jfd, &jsize, &blk);
	if (!err)
		err = vhd_pread_full(jfd, hdr, sizeof(hdr), 0);
	if (err || memcmp(hdr, jnl_magic, 8)) {
		snprintf(msg, msglen, "%s is not a vhd-util journal", journal);
		err = -EINVAL;
		goto out;
	}
	if (jsize < sizeof(hdr) + 8 || vhd_pread_full(jfd, end, 8, jsize - 8) ||
	    memcmp(end, jnl_end, 8)) {
		/* never completed: the disk was not modified */
		unlink(journal);
		err = 0;
		goto out;
	}
	size = get_be64(hdr + 8);
	n = get_be32(hdr + 16);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		snprintf(msg, msglen, "%s: %s", path, strerror(errno));
		goto out;
	}
	for (uint32_t i = 0; i < n && !err; i++) {
		uint8_t eh[16], *buf;
		uint64_t off, len;

		err = vhd_pread_full(jfd, eh, sizeof(eh), pos);
		if (err)
			break;
		off = get_be64(eh);
		len = get_be64(eh + 8);
		pos += sizeof(eh);
		if (len > jsize - pos) {
			err = -EINVAL;
			break;
		}
		buf = malloc(len ? len : 1);
		if (!buf) {
			err = -ENOMEM;
			break;
		}
		err = vhd_pread_full(jfd, buf, len, pos);
		if (!err)
			err = vhd_pwrite_full(fd, buf, len, off);
		free(buf);
		pos += len;
	}
	if (!err && vhd_fd_size(fd, &jsize, &blk) == 0 && !blk && ftruncate(fd, (off_t)size) < 0)
		err = -errno;
	if (!err && fsync(fd) < 0)
		err = -errno;
	if (err)
		snprintf(msg, msglen, "%s: reverting from %s failed: %s", path, journal,
			 strerror(-err));
	else
		unlink(journal);
out:
	if (fd >= 0)
		close(fd);
	close(jfd);
	return err;
}

static int resize_fixed(struct vhd_file *f, uint64_t size, const char *journal)
{
	struct extent ext = { f->file_size - VHD_FOOTER_SIZE, VHD_FOOTER_SIZE };
	int err;

	if (f->is_block && size > f->file_size - VHD_FOOTER_SIZE)
		return vhd_fail(f, -ENOSPC, "device too small");
	err = journal_write(f, journal, &ext, 1);
	if (err)
		return err;
	if (!f->is_block) {
		/* zeros up to the new end; the old footer becomes data and must read as zero */
		err = vhd_zero_range(f->fd, f->footer.curr_size, VHD_FOOTER_SIZE, 0);
		if (!err && ftruncate(f->fd, (off_t)(size + VHD_FOOTER_SIZE)) < 0)
			err = -errno;
		if (err)
			return vhd_fail(f, err, "cannot grow the file: %s", strerror(-err));
		f->file_size = size + VHD_FOOTER_SIZE;
	}
	f->footer.curr_size = size;
	f->footer.geometry = vhd_chs(size);
	f->end_of_data = size;
	return vhd_write_footers(f);
}

/* Move block b to the end of the data area. */
static int move_block(struct vhd_file *f, uint32_t b, uint64_t *cursor)
{
	uint64_t len = (uint64_t)f->bitmap_bytes + f->header.block_size;
	uint64_t to = vhd_next_block_offset(*cursor, f->bitmap_bytes);
	uint8_t *buf = malloc(len);
	int err;

	if (!buf)
		return vhd_fail(f, -ENOMEM, "out of memory");
	if (f->is_block && to + len > f->file_size - VHD_FOOTER_SIZE) {
		free(buf);
		return vhd_fail(f, -ENOSPC, "no room on the device to move block %" PRIu32, b);
	}
	err = vhd_pread_full(f->fd, buf, len, vhd_sectors_to_bytes(f->bat[b]));
	if (!err)
		err = vhd_pwrite_full(f->fd, buf, len, to);
	free(buf);
	if (err)
		return vhd_fail(f, err, "cannot move block %" PRIu32 ": %s", b, strerror(-err));
	f->bat[b] = (uint32_t)(to / VHD_SECTOR_SIZE);
	*cursor = to + len;
	if (*cursor > f->file_size)
		f->file_size = *cursor;
	return 0;
}

static int grow_metadata(struct vhd_file *f, uint64_t size, const char *journal)
{
	struct vhd_header h = f->header;
	uint32_t entries = vhd_blocks_for(size, h.block_size), *bat = NULL;
	uint64_t block_bytes = (uint64_t)f->bitmap_bytes + h.block_size;
	uint64_t bm_off = h.table_offset + vhd_bat_bytes(entries), map_off = bm_off + 512;
	uint32_t map_secs = vhd_batmap_sectors(entries);
	uint64_t meta_end = map_off + vhd_sectors_to_bytes(map_secs), cursor;
	uint8_t *locdata[VHD_LOCATORS] = { 0 }, *map = NULL;
	struct extent ext[3];
	int err = 0;

	if (f->footer.data_offset > h.table_offset)
		return vhd_fail(f, -EOPNOTSUPP, "cannot grow a BAT that precedes the header");
	/* locators move after the new batmap; keep their bytes */
	for (int i = 0; i < VHD_LOCATORS && !err; i++) {
		uint32_t space = vhd_locator_space(&h.loc[i]);

		if (f->footer.type != VHD_TYPE_DIFF || h.loc[i].code == VHD_PLAT_NONE)
			continue;
		locdata[i] = malloc(space);
		if (!locdata[i])
			err = vhd_fail(f, -ENOMEM, "out of memory");
		else if ((err = vhd_pread_full(f->fd, locdata[i], space, h.loc[i].data_offset)))
			vhd_fail(f, err, "cannot read parent locator %d", i);
		h.loc[i].data_offset = meta_end;
		meta_end += space;
	}
	bat = malloc(sizeof(*bat) * entries);
	map = calloc(1, vhd_sectors_to_bytes(map_secs));
	if (!err && (!bat || !map))
		err = vhd_fail(f, -ENOMEM, "out of memory");
	if (err)
		goto out;

	ext[0] = (struct extent){ 0, h.table_offset };
	ext[1] = (struct extent){ h.table_offset, meta_end - h.table_offset };
	ext[2] = (struct extent){ f->file_size - VHD_FOOTER_SIZE, VHD_FOOTER_SIZE };
	err = journal_write(f, journal, ext, 3);
	if (err)
		goto out;

	/* 1. blocks in the way of the new metadata move to the end */
	cursor = f->end_of_data > meta_end ? f->end_of_data : meta_end;
	for (uint32_t b = 0; b < h.max_bat_entries && !err; b++) {
		uint64_t start = vhd_sectors_to_bytes(f->bat[b]);

		if (f->bat[b] != VHD_BAT_UNUSED && start < meta_end &&
		    start + block_bytes > h.table_offset)
			err = move_block(f, b, &cursor);
	}
	if (!err && fdatasync(f->fd) < 0)
		err = vhd_fail(f, -errno, "fdatasync: %s", strerror(errno));
	if (err)
		goto out;

	/* 2. the new BAT, batmap, locators, header */
	for (uint32_t b = 0; b < entries; b++)
		bat[b] = b < h.max_bat_entries ? f->bat[b] : VHD_BAT_UNUSED;
	if (f->has_batmap)
		memcpy(map, f->batmap_map,
		       vhd_sectors_to_bytes(f->batmap.size < map_secs ? f->batmap.size : map_secs));
	h.max_bat_entries = entries;
	free(f->bat);
	f->bat = bat;
	bat = NULL;
	f->header = h;
	f->blocks = vhd_blocks_for(size, h.block_size);
	f->footer.curr_size = size;
	f->footer.geometry = vhd_chs(size);
	err = vhd_write_bat(f);
	if (!err && f->has_batmap) {
		free(f->batmap_map);
		f->batmap_map = map;
		map = NULL;
		f->batmap.offset = map_off;
		f->batmap.size = map_secs;
		err = vhd_write_batmap(f);
	}
	for (int i = 0; i < VHD_LOCATORS && !err; i++) {
		if (!locdata[i])
			continue;
		err = vhd_pwrite_full(f->fd, locdata[i], vhd_locator_space(&h.loc[i]),
				      h.loc[i].data_offset);
		if (err)
			vhd_fail(f, err, "cannot write parent locator %d", i);
	}
	if (!err)
		err = vhd_write_header(f);
	if (!err) {
		f->end_of_metadata = meta_end;
		f->end_of_data = cursor;
		err = vhd_write_footers(f);
	}
out:
	for (int i = 0; i < VHD_LOCATORS; i++)
		free(locdata[i]);
	free(bat);
	free(map);
	return err;
}

int vhd_resize(struct vhd_file *f, uint64_t size, const char *journal)
{
	int err;

	if (!f->writable)
		return vhd_fail(f, -EROFS, "opened read-only");
	if (size % VHD_SECTOR_SIZE || size > VHD_MAX_CREATE_SIZE)
		return vhd_fail(f, -EINVAL, "invalid size %" PRIu64, size);
	if (size < f->footer.curr_size)
		return vhd_fail(f, -EINVAL, "shrinking a VHD is not supported");
	if (size == f->footer.curr_size)
		return 0;
	if (f->footer.type == VHD_TYPE_FIXED) {
		if (!journal)
			return vhd_fail(f, -EINVAL, "a fixed disk needs a journal to grow");
		err = resize_fixed(f, size, journal);
	} else if (vhd_blocks_for(size, f->header.block_size) <= f->header.max_bat_entries &&
		   (!f->has_batmap ||
		    vhd_sectors_to_bytes(f->batmap.size) >= vhd_batmap_checksum_bytes(size))) {
		/* the BAT was made big enough (create -S): only the footer changes */
		f->footer.curr_size = size;
		f->footer.geometry = vhd_chs(size);
		f->blocks = vhd_blocks_for(size, f->header.block_size);
		err = f->has_batmap ? vhd_write_batmap(f) : 0;
		if (!err)
			err = vhd_write_footers(f);
		if (!err && fsync(f->fd) < 0)
			err = vhd_fail(f, -errno, "fsync: %s", strerror(errno));
		return err;
	} else if (!journal) {
		return vhd_fail(
			f, -EINVAL,
			"not enough metadata space reserved for a fast resize (BAT of %" PRIu32
			" entries, %" PRIu32 " needed)",
			f->header.max_bat_entries, vhd_blocks_for(size, f->header.block_size));
	} else {
		err = grow_metadata(f, size, journal);
	}
	if (!err && fsync(f->fd) < 0)
		err = vhd_fail(f, -errno, "fsync: %s", strerror(errno));
	if (!err)
		unlink(journal);
	return err;
}
