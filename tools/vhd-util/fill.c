/* vhd-util fill: allocate every block of a dynamic or differencing disk, copying what its parents
 * hold into it (blktap's fill), or with -b only allocating blocks and marking every sector present
 * (much faster: nothing is read from the parents). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringtap/vhd.h"
#include "cli.h"

#define NO_SECTOR UINT64_MAX

struct fill_opts {
	const char *name;
	bool bat_only, ignore_2tb;
	uint64_t from, to; /* sectors, inclusive; NO_SECTOR when not given */
};

static int fill_opt(int c, const char *arg, void *ctx)
{
	struct fill_opts *o = ctx;
	uint64_t *sector = c == 'f' ? &o->from : &o->to;

	switch (c) {
	case 'n':
		o->name = arg;
		break;
	case 'b':
		o->bat_only = true;
		break;
	case 'B':
		o->ignore_2tb = true;
		break;
	case 'f':
	case 't':
		if (vu_parse_u64(arg, NO_SECTOR - 1, sector))
			return vu_usage_error(&vu_fill, "bad sector '%s'", arg);
		break;
	}
	return 0;
}

/* -b: allocate blocks first..last with full sector bitmaps, the data left zeroed. */
static int fill_bat(struct vhd_file *f, uint32_t first, uint32_t last)
{
	uint8_t *map = malloc(f->bitmap_bytes);
	int err = 0;

	if (!map)
		return vhd_fail(f, -ENOMEM, "out of memory");
	memset(map, 0, f->bitmap_bytes);
	vhd_bits_set(map, 0, f->spb);
	for (uint32_t b = first; b <= last && !err; b++) {
		if (f->bat[b] != VHD_BAT_UNUSED)
			continue;
		err = vhd_allocate_block(f, b);
		if (!err)
			err = vhd_write_bitmap(f, b, map);
		if (!err && f->has_batmap) {
			vhd_bit_set(f->batmap_map, b);
			f->batmap_dirty = true;
		}
	}
	free(map);
	return err;
}

/* Every block read through the chain and written into the leaf: afterwards the leaf alone holds
 * the whole disk's contents. */
static int fill_data(struct vhd_chain *c)
{
	struct vhd_file *f = &c->files[0];
	uint64_t total = f->footer.curr_size / VHD_SECTOR_SIZE;
	uint8_t *buf = malloc(f->header.block_size);
	struct vu_progress prog;
	int err = 0;

	if (!buf)
		return vhd_fail(f, -ENOMEM, "out of memory");
	vu_progress_start(&prog, "filling");
	for (uint32_t b = 0; b < f->blocks && !err; b++) {
		uint64_t first = (uint64_t)b * f->spb;
		uint32_t count = first + f->spb > total ? (uint32_t)(total - first) : f->spb;

		if (f->has_batmap && f->bat[b] != VHD_BAT_UNUSED && vhd_bit_test(f->batmap_map, b))
			continue; /* already complete */
		err = vhd_chain_read(c, first, count, buf);
		if (err) {
			vhd_fail(f, err, "%s", c->err);
			break;
		}
		err = vhd_write_sectors(f, first, count, buf);
		vu_progress_update(&prog, b + 1, f->blocks);
	}
	vu_progress_end(&prog);
	free(buf);
	return err;
}

static int run_fill(int argc, char **argv)
{
	struct fill_opts o = { .from = NO_SECTOR, .to = NO_SECTOR };
	struct vhd_chain c;
	struct vhd_file *f;
	int rc;

	rc = vu_getopt(&vu_fill, argc, argv, "n:f:t:bB", fill_opt, &o);
	if (rc)
		return rc;
	if (!o.name)
		return vu_usage_error(&vu_fill, "-n NAME is required");
	if ((o.from != NO_SECTOR || o.to != NO_SECTOR || o.ignore_2tb) && !o.bat_only)
		return vu_usage_error(&vu_fill, "-f, -t and -B go with -b");
	if (o.from != NO_SECTOR && o.to != NO_SECTOR && o.to < o.from)
		return vu_usage_error(&vu_fill, "invalid sector range %" PRIu64 "-%" PRIu64, o.from,
				      o.to);
	/* -b reads no parent: the leaf alone is opened (its parents need not be there) */
	if (o.bat_only) {
		struct vhd_file leaf;
		uint64_t first, last;

		rc = vhd_open(&leaf, o.name, VHD_OPEN_RDWR);
		if (rc)
			return vu_error(&vu_fill, rc, "%s", leaf.err);
		if (!vhd_is_dynamic(&leaf)) {
			vhd_close(&leaf);
			return 0; /* a fixed disk is allocated already */
		}
		first = o.from == NO_SECTOR ? 0 : o.from / leaf.spb;
		last = o.to == NO_SECTOR ? leaf.blocks - 1 : o.to / leaf.spb;
		if (last >= leaf.blocks)
			last = leaf.blocks - 1;
		rc = first <= last ? fill_bat(&leaf, (uint32_t)first, (uint32_t)last) : 0;
		if (rc)
			vu_error(&vu_fill, rc, "%s", leaf.err);
		if (vhd_close(&leaf) && !rc)
			rc = vu_error(&vu_fill, -EIO, "%s: close failed", o.name);
		return rc;
	}
	rc = vhd_chain_open(&c, o.name, VHD_OPEN_RDWR);
	if (rc)
		return vu_error(&vu_fill, rc, "%s", c.err);
	f = &c.files[0];
	rc = vhd_is_dynamic(f) ? fill_data(&c) : 0;
	if (rc)
		vu_error(&vu_fill, rc, "%s", f->err);
	if (vhd_flush(f) && !rc)
		rc = vu_error(&vu_fill, -EIO, "%s: cannot write its metadata", o.name);
	vhd_chain_close(&c);
	return rc;
}

const struct vu_cmd vu_fill = {
	.name = "fill",
	.run = run_fill,
	.usage = "-n NAME [-b [-f SECTOR] [-t SECTOR] [-B]]",
	.help = "Allocate every block of NAME, copying into it what its parents hold, so that it\n"
		"alone holds the disk's contents.\n"
		"  -b         only allocate the blocks and mark every sector present (the data reads\n"
		"             as zeros; nothing is read from the parents)\n"
		"  -f SECTOR  with -b: start at the block holding SECTOR\n"
		"  -t SECTOR  with -b: end with the block holding SECTOR (inclusive)\n"
		"  -B         with -b: accepted for blktap compatibility (ringtap never places a block\n"
		"             beyond what the BAT's 32-bit sector numbers can address)\n"
};
