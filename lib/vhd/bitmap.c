/* Bit ranges in MSB-first bitmaps: block sector bitmaps and the batmap. */
#include "ringtap/vhd.h"

void vhd_bits_set(uint8_t *map, uint32_t first, uint32_t count)
{
	for (uint32_t i = first; i < first + count; i++) {
		if (!(i & 7) && first + count - i >= 8) {
			map[i >> 3] = 0xff;
			i += 7;
		} else {
			vhd_bit_set(map, i);
		}
	}
}

void vhd_bits_clear(uint8_t *map, uint32_t first, uint32_t count)
{
	for (uint32_t i = first; i < first + count; i++) {
		if (!(i & 7) && first + count - i >= 8) {
			map[i >> 3] = 0;
			i += 7;
		} else {
			vhd_bit_clear(map, i);
		}
	}
}

uint32_t vhd_bits_count(const uint8_t *map, uint32_t first, uint32_t count)
{
	uint32_t n = 0;

	for (uint32_t i = first; i < first + count; i++) {
		if (!(i & 7) && first + count - i >= 8) {
			n += (uint32_t)__builtin_popcount(map[i >> 3]);
			i += 7;
		} else {
			n += vhd_bit_test(map, i);
		}
	}
	return n;
}

bool vhd_bits_all(const uint8_t *map, uint32_t first, uint32_t count)
{
	return vhd_bits_count(map, first, count) == count;
}

uint32_t vhd_bits_run(const uint8_t *map, uint32_t first, uint32_t max)
{
	bool v;
	uint32_t n = 0;

	if (!max)
		return 0;
	v = vhd_bit_test(map, first);
	while (n < max && vhd_bit_test(map, first + n) == v)
		n++;
	return n;
}
