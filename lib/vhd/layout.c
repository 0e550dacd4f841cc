/* Sizes and offsets of VHD structures, and tapdisk's batmap header: pure arithmetic shared by
 * the synchronous helpers and by image drivers doing their own I/O. */
#include <errno.h>
#include <string.h>

#include "private.h"

static const char batmap_cookie[8] = { 't', 'd', 'b', 'a', 't', 'm', 'a', 'p' };

uint32_t vhd_bitmap_bytes(uint32_t block_size)
{
	uint32_t bits = block_size / VHD_SECTOR_SIZE;

	return (uint32_t)vhd_round_up((bits + 7) / 8, VHD_SECTOR_SIZE);
}

uint32_t vhd_blocks_for(uint64_t size, uint32_t block_size)
{
	return (uint32_t)((size + block_size - 1) / block_size);
}

uint64_t vhd_bat_bytes(uint32_t entries)
{
	uint64_t b = vhd_round_up((uint64_t)entries * 4, VHD_SECTOR_SIZE);

	return b ? b : VHD_SECTOR_SIZE;
}

uint64_t vhd_batmap_header_offset(const struct vhd_header *h)
{
	return h->table_offset + vhd_bat_bytes(h->max_bat_entries);
}

uint32_t vhd_batmap_sectors(uint32_t entries)
{
	uint64_t bytes = ((uint64_t)entries + 7) / 8;
	uint32_t secs = (uint32_t)((bytes + VHD_SECTOR_SIZE - 1) / VHD_SECTOR_SIZE);

	return secs ? secs : 1;
}

uint64_t vhd_batmap_checksum_bytes(uint64_t curr_size)
{
	/* blktap: secs_round_up_no_zero(curr_size >> (VHD_BLOCK_SHIFT + 3)) sectors, i.e. it
	 * assumes 2 MiB blocks; files it wrote are checksummed over exactly this much */
	uint64_t bytes = curr_size >> 24;
	uint64_t secs = (bytes + VHD_SECTOR_SIZE - 1) / VHD_SECTOR_SIZE;

	return vhd_sectors_to_bytes(secs ? secs : 1);
}

uint64_t vhd_next_block_offset(uint64_t end, uint32_t bitmap_bytes)
{
	end = vhd_round_up(end, VHD_SECTOR_SIZE);
	return vhd_round_up(end + bitmap_bytes, VHD_DATA_ALIGN) - bitmap_bytes;
}

void vhd_batmap_header_init(struct vhd_batmap_header *b, uint64_t map_offset, uint32_t sectors)
{
	memset(b, 0, sizeof(*b));
	memcpy(b->cookie, batmap_cookie, 8);
	b->offset = map_offset;
	b->size = sectors;
	b->version = VHD_BATMAP_VERSION;
}

void vhd_batmap_header_encode(const struct vhd_batmap_header *b, uint8_t buf[VHD_SECTOR_SIZE])
{
	memcpy(buf, b->cookie, 8);
	put_be64(buf + 8, b->offset);
	put_be32(buf + 16, b->size);
	put_be32(buf + 20, b->version);
	put_be32(buf + 24, b->checksum);
	buf[28] = b->marker;
	memcpy(buf + 29, b->rest, sizeof(b->rest));
}

int vhd_batmap_header_decode(const uint8_t buf[VHD_SECTOR_SIZE], struct vhd_batmap_header *b,
			     const char **why)
{
	memcpy(b->cookie, buf, 8);
	b->offset = get_be64(buf + 8);
	b->size = get_be32(buf + 16);
	b->version = get_be32(buf + 20);
	b->checksum = get_be32(buf + 24);
	b->marker = buf[28];
	memcpy(b->rest, buf + 29, sizeof(b->rest));
	if (memcmp(b->cookie, batmap_cookie, 8) != 0) {
		*why = "bad batmap cookie (not \"tdbatmap\")";
		return -EINVAL;
	}
	if (b->version > VHD_BATMAP_VERSION || b->version >> 16 != 1) {
		*why = "unsupported batmap version";
		return -EINVAL;
	}
	if (b->offset % VHD_SECTOR_SIZE) {
		*why = "batmap offset is not sector-aligned";
		return -EINVAL;
	}
	return 0;
}
