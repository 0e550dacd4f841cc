/* The VHD checksum: one's complement of the byte sum, the checksum field counted as zero. */
#include "ringtap/vhd.h"

uint32_t vhd_checksum(const void *buf, size_t len, size_t csum_off)
{
	const uint8_t *p = buf;
	uint32_t sum = 0;

	for (size_t i = 0; i < len; i++) {
		if (i >= csum_off && i < csum_off + 4)
			continue;
		sum += p[i];
	}
	return ~sum;
}

uint32_t vhd_batmap_checksum(const uint8_t *map, size_t len, uint32_t version)
{
	uint32_t sum = 0;

	/* batmap 1.1 summed signed chars (a tapdisk bug kept for compatibility) */
	for (size_t i = 0; i < len; i++)
		sum += version == VHD_VERSION(1, 1) ? (uint32_t)(int32_t)(int8_t)map[i] : map[i];
	return ~sum;
}
