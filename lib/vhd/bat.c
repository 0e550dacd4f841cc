/* The block allocation table: big-endian sector numbers of each block's bitmap. */
#include <string.h>

#include "private.h"

void vhd_bat_decode(const uint8_t *buf, uint32_t entries, uint32_t *bat)
{
	for (uint32_t i = 0; i < entries; i++)
		bat[i] = get_be32(buf + 4 * (size_t)i);
}

void vhd_bat_encode(const uint32_t *bat, uint32_t entries, uint8_t *buf)
{
	for (uint32_t i = 0; i < entries; i++)
		put_be32(buf + 4 * (size_t)i, bat[i]);
}

uint64_t vhd_bat_sector_offset(const struct vhd_header *h, uint32_t block)
{
	return h->table_offset + (uint64_t)block * 4 / VHD_SECTOR_SIZE * VHD_SECTOR_SIZE;
}

void vhd_bat_sector_encode(const uint32_t *bat, uint32_t entries, uint32_t block,
			   uint8_t buf[VHD_SECTOR_SIZE])
{
	uint32_t first = block / (VHD_SECTOR_SIZE / 4) * (VHD_SECTOR_SIZE / 4);

	/* entries past the table's end are padding: blktap and qemu write them as unused */
	for (uint32_t i = 0; i < VHD_SECTOR_SIZE / 4; i++)
		put_be32(buf + 4 * i, first + i < entries ? bat[first + i] : VHD_BAT_UNUSED);
}
