/* The blkif shared ring's geometry per ABI: how many slots fit in its pages. */
#include "ringtap/blkif_abi.h"

_Static_assert(offsetof(struct blkif_sring, ring) == offsetof(struct blkif_x86_32_sring, ring),
	       "x86_32 ring header");
_Static_assert(offsetof(struct blkif_sring, ring) == offsetof(struct blkif_x86_64_sring, ring),
	       "x86_64 ring header");

unsigned int blkif_ring_entries(enum blkif_abi abi, unsigned int nr_pages)
{
	size_t bytes = (size_t)nr_pages * BLKIF_RING_PAGE_SIZE;

	if (bytes <= BLKIF_SRING_HEADER)
		return 0;
	switch (abi) {
	case BLKIF_ABI_X86_32:
		return __CONST_RING_SIZE(blkif_x86_32, bytes);
	case BLKIF_ABI_X86_64:
		return __CONST_RING_SIZE(blkif_x86_64, bytes);
	case BLKIF_ABI_NATIVE:
		break;
	}
	return __CONST_RING_SIZE(blkif, bytes);
}
