/* Changed block tracking: blktap's CBT log file format, shared by tapdisk (which marks the blocks
 * a guest changes) and cbt-util (which the toolstack runs on the logs).
 *
 * A log is a 48-byte header followed by a bitmap with one bit per 64 KiB block of the disk:
 *
 *   offset  size  field
 *        0    16  parent: the uuid of the previous log of the chain (raw bytes)
 *       16    16  child: the uuid of the next log of the chain (raw bytes)
 *       32     4  consistent: int32, little-endian (the toolstack's flag, never tapdisk's)
 *       36     4  padding (zero)
 *       40     8  size: the disk's size in bytes, uint64, little-endian
 *       48     *  bitmap: ceil(ceil(size / 64 KiB) / 8) bytes; block n is bit (n % 8) of byte n / 8
 *
 * Pure functions (no I/O, no allocation), but cbt_file_length. */
#ifndef RINGTAP_CBT_H
#define RINGTAP_CBT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CBT_BLOCK_SHIFT 16
#define CBT_BLOCK_SIZE (1u << CBT_BLOCK_SHIFT) /* 64 KiB */
#define CBT_HEADER_SIZE 48
#define CBT_SECTOR_SHIFT 9 /* the 512-byte sectors of the datapath */

struct cbt_header {
	uint8_t parent[16];
	uint8_t child[16];
	int32_t consistent;
	uint64_t size; /* bytes */
};

void cbt_header_encode(const struct cbt_header *h, uint8_t out[CBT_HEADER_SIZE]);
void cbt_header_decode(const uint8_t in[CBT_HEADER_SIZE], struct cbt_header *h);

/* Blocks of a disk of `disk_bytes` (the last one may be partial). */
static inline uint64_t cbt_blocks(uint64_t disk_bytes)
{
	return (disk_bytes >> CBT_BLOCK_SHIFT) + ((disk_bytes & (CBT_BLOCK_SIZE - 1)) != 0);
}

/* The bitmap's length in bytes for a disk of `disk_bytes`. */
static inline uint64_t cbt_bitmap_bytes(uint64_t disk_bytes)
{
	uint64_t blocks = cbt_blocks(disk_bytes);

	return (blocks >> 3) + ((blocks & 7) != 0);
}

/* The shortest log file that covers a disk of `disk_bytes`: header and bitmap. */
static inline uint64_t cbt_log_bytes(uint64_t disk_bytes)
{
	return CBT_HEADER_SIZE + cbt_bitmap_bytes(disk_bytes);
}

/* Sets the bits of the blocks that sectors [sector, sector + nr_sectors) touch, in a bitmap of
 * bitmap_bytes bytes. 0 (nothing to do for nr_sectors 0), or -ERANGE when the range overflows
 * or reaches past the bitmap (nothing is set then). */
int cbt_mark_sectors(uint8_t *bitmap, uint64_t bitmap_bytes, uint64_t sector, uint64_t nr_sectors);

static inline bool cbt_block_is_set(const uint8_t *bitmap, uint64_t block)
{
	return (bitmap[block >> 3] >> (block & 7)) & 1;
}

/* child |= parent over the parent's length (cbt-util coalesce). -EINVAL (nothing changed) when
 * the parent's bitmap is longer than the child's. */
int cbt_bitmap_merge(uint8_t *child, size_t child_len, const uint8_t *parent, size_t parent_len);

/* The length of an open log: a regular file's size, or a block device's (an LVM volume on LVHD
 * SRs). 0 or -errno. */
int cbt_file_length(int fd, uint64_t *len);

#endif
