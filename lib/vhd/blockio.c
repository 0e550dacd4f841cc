/* Synchronous data access through a single VHD file: sector bitmaps, block allocation in a
 * crash-consistent order, reads that report which sectors the file holds, writes. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "private.h"

static int check_block(struct vhd_file *f, uint32_t block)
{
	if (!vhd_is_dynamic(f))
		return vhd_fail(f, -EINVAL, "not a dynamic disk");
	if (block >= f->blocks)
		return vhd_fail(f, -ERANGE, "block %" PRIu32 " past the end of the disk", block);
	if (f->bat[block] == VHD_BAT_UNUSED)
		return vhd_fail(f, -EINVAL, "block %" PRIu32 " is not allocated", block);
	return 0;
}

int vhd_read_bitmap(struct vhd_file *f, uint32_t block, uint8_t *map)
{
	int err = check_block(f, block);

	if (err)
		return err;
	err = vhd_pread_full(f->fd, map, f->bitmap_bytes, vhd_block_bitmap_offset(f->bat[block]));
	return err ? vhd_fail(f, err, "cannot read the bitmap of block %" PRIu32 ": %s", block,
			      strerror(-err)) :
		     0;
}

int vhd_write_bitmap(struct vhd_file *f, uint32_t block, const uint8_t *map)
{
	int err = check_block(f, block);

	if (err)
		return err;
	err = vhd_pwrite_full(f->fd, map, f->bitmap_bytes, vhd_block_bitmap_offset(f->bat[block]));
	return err ? vhd_fail(f, err, "cannot write the bitmap of block %" PRIu32 ": %s", block,
			      strerror(-err)) :
		     0;
}

static int write_bat_entry(struct vhd_file *f, uint32_t block)
{
	uint8_t buf[VHD_SECTOR_SIZE];
	int err;

	vhd_bat_sector_encode(f->bat, f->header.max_bat_entries, block, buf);
	err = vhd_pwrite_full(f->fd, buf, sizeof(buf), vhd_bat_sector_offset(&f->header, block));
	return err ? vhd_fail(f, err, "cannot write the BAT: %s", strerror(-err)) : 0;
}

int vhd_allocate_block(struct vhd_file *f, uint32_t block)
{
	uint64_t off, end;
	int err;

	if (!f->writable)
		return vhd_fail(f, -EROFS, "opened read-only");
	if (!vhd_is_dynamic(f) || block >= f->blocks)
		return vhd_fail(f, -ERANGE, "block %" PRIu32 " past the end of the disk", block);
	if (f->bat[block] != VHD_BAT_UNUSED)
		return 0;
	off = vhd_next_block_offset(f->end_of_data, f->bitmap_bytes);
	end = off + f->bitmap_bytes + f->header.block_size;
	if (off / VHD_SECTOR_SIZE >= VHD_BAT_UNUSED)
		return vhd_fail(f, -EFBIG, "the file cannot grow beyond 2 TiB");
	if (f->is_block && end > f->file_size - VHD_FOOTER_SIZE)
		return vhd_fail(f, -ENOSPC, "no room on the device for block %" PRIu32, block);

	/* 1. a zeroed bitmap and data area (old footers or an aborted allocation may lie there;
	 *    qemu reads allocated blocks without looking at the bitmap) */
	err = 0;
	if (off < f->file_size)
		err = vhd_zero_range(f->fd, off, (end < f->file_size ? end : f->file_size) - off,
				     f->is_block);
	if (err)
		return vhd_fail(f, err, "cannot zero block %" PRIu32 ": %s", block, strerror(-err));
	if (!f->is_block && end > f->file_size) {
		if (ftruncate(f->fd, (off_t)end) < 0)
			return vhd_fail(f, -errno, "cannot extend the file: %s", strerror(errno));
		f->file_size = end;
	}
	/* 2. durable before the BAT points at it */
	if (fdatasync(f->fd) < 0)
		return vhd_fail(f, -errno, "fdatasync: %s", strerror(errno));
	f->bat[block] = (uint32_t)(off / VHD_SECTOR_SIZE);
	f->end_of_data = end;
	f->dirty = true;
	return write_bat_entry(f, block);
}

static int check_range(struct vhd_file *f, uint64_t sector, uint32_t count)
{
	uint64_t total = f->footer.curr_size / VHD_SECTOR_SIZE;

	if (sector > total || count > total - sector)
		return vhd_fail(f, -ERANGE,
				"sectors %" PRIu64 "+%" PRIu32 " past the end of the disk (%" PRIu64
				" sectors)",
				sector, count, total);
	return 0;
}

int vhd_read_sectors(struct vhd_file *f, uint64_t sector, uint32_t count, void *buf,
		     uint8_t *present)
{
	uint64_t total = f->footer.curr_size / VHD_SECTOR_SIZE;
	uint8_t *out = buf, *map = NULL;
	uint32_t done = 0;
	int err = 0;

	/* past the virtual size (a parent smaller than its child): zeros, and final */
	if (sector + count > total) {
		uint32_t beyond = sector >= total ? count : (uint32_t)(sector + count - total);

		memset(out + vhd_sectors_to_bytes(count - beyond), 0, vhd_sectors_to_bytes(beyond));
		vhd_bits_set(present, count - beyond, beyond);
		count -= beyond;
	}
	if (!count)
		return 0;
	if (!vhd_is_dynamic(f)) {
		err = vhd_pread_full(f->fd, out, vhd_sectors_to_bytes(count),
				     vhd_sectors_to_bytes(sector));
		if (err)
			return vhd_fail(f, err, "read: %s", strerror(-err));
		vhd_bits_set(present, 0, count);
		return 0;
	}
	map = malloc(f->bitmap_bytes);
	if (!map)
		return vhd_fail(f, -ENOMEM, "out of memory");
	while (done < count) {
		uint32_t block = (uint32_t)((sector + done) / f->spb);
		uint32_t first = (uint32_t)((sector + done) % f->spb);
		uint32_t n = count - done < f->spb - first ? count - done : f->spb - first;
		uint8_t *dst = out + vhd_sectors_to_bytes(done);

		if (f->bat[block] == VHD_BAT_UNUSED) {
			memset(dst, 0, vhd_sectors_to_bytes(n));
			vhd_bits_clear(present, done, n);
			done += n;
			continue;
		}
		err = vhd_pread_full(f->fd, dst, vhd_sectors_to_bytes(n),
				     vhd_block_data_offset(f->bat[block], f->bitmap_bytes) +
					     vhd_sectors_to_bytes(first));
		if (err) {
			err = vhd_fail(f, err, "read of block %" PRIu32 ": %s", block,
				       strerror(-err));
			break;
		}
		if (f->has_batmap && vhd_bit_test(f->batmap_map, block)) {
			vhd_bits_set(present, done, n);
		} else {
			err = vhd_read_bitmap(f, block, map);
			if (err)
				break;
			for (uint32_t i = 0; i < n; i++) {
				if (vhd_bit_test(map, first + i)) {
					vhd_bit_set(present, done + i);
				} else {
					vhd_bit_clear(present, done + i);
					memset(dst + vhd_sectors_to_bytes(i), 0, VHD_SECTOR_SIZE);
				}
			}
		}
		done += n;
	}
	free(map);
	return err;
}

int vhd_write_sectors(struct vhd_file *f, uint64_t sector, uint32_t count, const void *buf)
{
	const uint8_t *in = buf;
	uint8_t *map = NULL;
	uint32_t done = 0;
	int err;

	if (!f->writable)
		return vhd_fail(f, -EROFS, "opened read-only");
	err = check_range(f, sector, count);
	if (err)
		return err;
	if (!vhd_is_dynamic(f)) {
		err = vhd_pwrite_full(f->fd, in, vhd_sectors_to_bytes(count),
				      vhd_sectors_to_bytes(sector));
		return err ? vhd_fail(f, err, "write: %s", strerror(-err)) : 0;
	}
	map = malloc(f->bitmap_bytes);
	if (!map)
		return vhd_fail(f, -ENOMEM, "out of memory");
	while (done < count) {
		uint32_t block = (uint32_t)((sector + done) / f->spb);
		uint32_t first = (uint32_t)((sector + done) % f->spb);
		uint32_t n = count - done < f->spb - first ? count - done : f->spb - first;

		err = vhd_allocate_block(f, block);
		if (err)
			break;
		/* 3. the data */
		err = vhd_pwrite_full(f->fd, in + vhd_sectors_to_bytes(done),
				      vhd_sectors_to_bytes(n),
				      vhd_block_data_offset(f->bat[block], f->bitmap_bytes) +
					      vhd_sectors_to_bytes(first));
		if (err) {
			err = vhd_fail(f, err, "write to block %" PRIu32 ": %s", block,
				       strerror(-err));
			break;
		}
		done += n;
		if (f->has_batmap && vhd_bit_test(f->batmap_map, block))
			continue;
		err = vhd_read_bitmap(f, block, map);
		if (err)
			break;
		if (vhd_bits_all(map, first, n))
			continue;
		/* 4. the bits, once the data they vouch for is durable */
		if (fdatasync(f->fd) < 0) {
			err = vhd_fail(f, -errno, "fdatasync: %s", strerror(errno));
			break;
		}
		vhd_bits_set(map, first, n);
		err = vhd_write_bitmap(f, block, map);
		if (err)
			break;
		if (f->has_batmap && vhd_bits_all(map, 0, f->spb)) {
			vhd_bit_set(f->batmap_map, block);
			f->batmap_dirty = true;
		}
	}
	free(map);
	return err;
}
