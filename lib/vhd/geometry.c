/* CHS geometry of a disk, by the algorithm in the VHD specification (appendix "CHS
 * calculation"); qemu and blktap compute the same. */
#include "ringtap/vhd.h"

uint32_t vhd_chs(uint64_t size)
{
	uint64_t total = size / VHD_SECTOR_SIZE;
	uint32_t spt, heads, cyl_x_heads;

	if (total > 65535ULL * 16 * 255)
		total = 65535ULL * 16 * 255;
	if (total >= 65535ULL * 16 * 63) {
		spt = 255;
		heads = 16;
		cyl_x_heads = (uint32_t)(total / spt);
	} else {
		spt = 17;
		cyl_x_heads = (uint32_t)(total / spt);
		heads = (cyl_x_heads + 1023) / 1024;
		if (heads < 4)
			heads = 4;
		if (cyl_x_heads >= heads * 1024 || heads > 16) {
			spt = 31;
			heads = 16;
			cyl_x_heads = (uint32_t)(total / spt);
		}
		if (cyl_x_heads >= heads * 1024) {
			spt = 63;
			heads = 16;
			cyl_x_heads = (uint32_t)(total / spt);
		}
	}
	return (cyl_x_heads / heads) << 16 | heads << 8 | spt;
}

uint64_t vhd_chs_size(uint32_t g)
{
	return (uint64_t)(g >> 16) * ((g >> 8) & 0xff) * (g & 0xff) * VHD_SECTOR_SIZE;
}
