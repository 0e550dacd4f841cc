/* The vhd image driver's public face: its counters, for the daemon's `tap-ctl stats`. */
#ifndef TD_DRIVERS_VHD_H
#define TD_DRIVERS_VHD_H

#include <stdint.h>

struct td_image;

/* blktap3's numbering of disk types, as XAPI reads it in stats' images[].driver.type. */
#define TD_VHD_BLKTAP3_TYPE 4

struct td_vhd_stats {
	uint64_t blocks_allocated; /* by this driver since open */
	uint64_t parent_reads; /* reads (pieces) forwarded to the parent image */
	uint64_t bitmap_hits, bitmap_misses; /* the sector-bitmap cache */
	uint64_t bitmap_writes, bat_writes, syncs;
	uint64_t batmap_reads; /* reads served without a bitmap (block full per the batmap) */
};

extern const struct td_driver_ops td_driver_vhd;

/* The counters of one image of a chain opened by the vhd driver (img->parent walks the chain;
 * a raw parent at the root is an `aio` image). 0, or -EINVAL when img is not a vhd image. */
int td_vhd_stats(const struct td_image *img, struct td_vhd_stats *st);

#endif
