/* blktap's CBT log format: the header's byte layout, marking blocks, merging bitmaps. */
#include <errno.h>
#include <string.h>

#include "ringtap/cbt.h"

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = n - 1; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

void cbt_header_encode(const struct cbt_header *h, uint8_t out[CBT_HEADER_SIZE])
{
	memset(out, 0, CBT_HEADER_SIZE);
	memcpy(out, h->parent, 16);
	memcpy(out + 16, h->child, 16);
	put_le32(out + 32, (uint32_t)h->consistent);
	put_le64(out + 40, h->size);
}

void cbt_header_decode(const uint8_t in[CBT_HEADER_SIZE], struct cbt_header *h)
{
	memcpy(h->parent, in, 16);
	memcpy(h->child, in + 16, 16);
	h->consistent = (int32_t)(uint32_t)get_le(in + 32, 4);
	h->size = get_le(in + 40, 8);
}

int cbt_mark_sectors(uint8_t *bitmap, uint64_t bitmap_bytes, uint64_t sector, uint64_t nr_sectors)
{
	const unsigned int shift = CBT_BLOCK_SHIFT - CBT_SECTOR_SHIFT;
	uint64_t first, last, first_byte, last_byte;

	if (!nr_sectors)
		return 0;
	if (sector > UINT64_MAX - (nr_sectors - 1))
		return -ERANGE;
	first = sector >> shift;
	last = (sector + nr_sectors - 1) >> shift;
	if ((last >> 3) >= bitmap_bytes)
		return -ERANGE;
	first_byte = first >> 3;
	last_byte = last >> 3;
	if (first_byte == last_byte) {
		bitmap[first_byte] |= (uint8_t)((0xffu << (first & 7)) & (0xffu >> (7 - (last & 7))));
		return 0;
	}
	bitmap[first_byte] |= (uint8_t)(0xffu << (first & 7));
	if (last_byte - first_byte > 1)
		memset(bitmap + first_byte + 1, 0xff, last_byte - first_byte - 1);
	bitmap[last_byte] |= (uint8_t)(0xffu >> (7 - (last & 7)));
	return 0;
}

int cbt_bitmap_merge(uint8_t *child, size_t child_len, const uint8_t *parent, size_t parent_len)
{
	if (parent_len > child_len)
		return -EINVAL;
	for (size_t i = 0; i < parent_len; i++)
		child[i] |= parent[i];
	return 0;
}
