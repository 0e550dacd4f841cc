/* Structural validation of a loaded dynamic disk: every metadata region and every block must
 * lie inside the file and no two may overlap; computes the end of metadata and of data. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "private.h"

struct region {
	uint64_t start, end;
	char name[32];
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int metadata_regions(struct vhd_file *f, struct region *r, int *n)
{
	const struct vhd_header *h = &f->header;
	int k = 0;

	r[k++] = (struct region){ 0, VHD_FOOTER_SIZE, "footer copy" };
	r[k++] = (struct region){ f->footer.data_offset, f->footer.data_offset + VHD_HEADER_SIZE,
				  "dynamic header" };
	r[k++] = (struct region){ h->table_offset,
				  h->table_offset + vhd_bat_bytes(h->max_bat_entries), "BAT" };
	if (f->has_batmap) {
		uint64_t hoff = vhd_batmap_header_offset(h);

		r[k++] = (struct region){ hoff, hoff + VHD_SECTOR_SIZE, "batmap header" };
		r[k++] = (struct region){ f->batmap.offset,
					  f->batmap.offset + vhd_sectors_to_bytes(f->batmap.size),
					  "batmap" };
	}
	if (f->footer.type == VHD_TYPE_DIFF) {
		for (int i = 0; i < VHD_LOCATORS; i++) {
			const struct vhd_locator *l = &h->loc[i];
			uint32_t space = vhd_locator_space(l);

			if (l->code == VHD_PLAT_NONE)
				continue;
			if (!space || space > VHD_MAX_LOCATOR_BYTES)
				return vhd_fail(
					f, -EINVAL,
					"parent locator %d has an invalid data space (%" PRIu32 ")",
					i, l->data_space);
			if (l->data_len > space)
				return vhd_fail(f, -EINVAL,
						"parent locator %d: data length %" PRIu32
						" exceeds its space (%" PRIu32 " bytes)",
						i, l->data_len, space);
			if (l->data_offset > VHD_MAX_SIZE)
				return vhd_fail(f, -EINVAL,
						"parent locator %d: offset %" PRIu64
						" out of range",
						i, l->data_offset);
			r[k] = (struct region){ l->data_offset, l->data_offset + space, "" };
			snprintf(r[k].name, sizeof(r[k].name), "parent locator %d", i);
			k++;
		}
	}
	*n = k;
	return 0;
}

/* The first block (in file order) whose extent intersects [start, end), or -1. */
static int64_t block_in(const uint64_t *sorted, uint32_t n, uint64_t block_bytes, uint64_t start,
			uint64_t end)
{
	uint32_t lo = 0, hi = n;

	/* first block whose end is after start */
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (vhd_sectors_to_bytes(sorted[mid] >> 32) + block_bytes <= start)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < n && vhd_sectors_to_bytes(sorted[lo] >> 32) < end)
		return lo;
	return -1;
}

int vhd_validate_layout(struct vhd_file *f)
{
	const struct vhd_header *h = &f->header;
	uint64_t limit, block_bytes = (uint64_t)f->bitmap_bytes + h->block_size, end;
	struct region r[16];
	uint64_t *sorted = NULL;
	uint32_t n = 0;
	int nr = 0, err;

	/* the trailing footer's place is off limits unless it is missing from a regular file */
	limit = f->footer_from_copy && !f->is_block ? f->file_size : f->file_size - VHD_FOOTER_SIZE;
	err = metadata_regions(f, r, &nr);
	if (err)
		return err;
	end = 0;
	for (int i = 0; i < nr; i++) {
		if (r[i].end > limit)
			return vhd_fail(f, -EINVAL,
					"%s (bytes %" PRIu64 "-%" PRIu64
					") extends past the end of the file (%" PRIu64 " bytes)",
					r[i].name, r[i].start, r[i].end, f->file_size);
		for (int j = 0; j < i; j++)
			if (r[i].start < r[j].end && r[j].start < r[i].end)
				return vhd_fail(f, -EINVAL, "%s overlaps %s", r[i].name, r[j].name);
		if (r[i].end > end)
			end = r[i].end;
	}
	f->end_of_metadata = end;

	sorted = malloc(sizeof(*sorted) * (h->max_bat_entries ? h->max_bat_entries : 1));
	if (!sorted)
		return vhd_fail(f, -ENOMEM, "out of memory for the BAT check");
	for (uint32_t i = 0; i < h->max_bat_entries; i++) {
		uint32_t e = f->bat[i];

		if (e == VHD_BAT_UNUSED)
			continue;
		if (vhd_sectors_to_bytes(e) + block_bytes > limit) {
			err = vhd_fail(f, -EINVAL,
				       "BAT entry %" PRIu32 ": block at byte %" PRIu64
				       " extends past the end of the file (%" PRIu64 " bytes)",
				       i, vhd_sectors_to_bytes(e), f->file_size);
			goto out;
		}
		sorted[n++] = (uint64_t)e << 32 | i;
	}
	qsort(sorted, n, sizeof(*sorted), cmp_u64);
	for (uint32_t k = 0; k + 1 < n; k++) {
		if (vhd_sectors_to_bytes(sorted[k] >> 32) + block_bytes >
		    vhd_sectors_to_bytes(sorted[k + 1] >> 32)) {
			err = vhd_fail(f, -EINVAL,
				       "BAT entries %" PRIu32 " and %" PRIu32
				       " point to overlapping blocks (bytes %" PRIu64
				       " and %" PRIu64 ")",
				       (uint32_t)sorted[k], (uint32_t)sorted[k + 1],
				       vhd_sectors_to_bytes(sorted[k] >> 32),
				       vhd_sectors_to_bytes(sorted[k + 1] >> 32));
			goto out;
		}
	}
	for (int i = 0; i < nr; i++) {
		int64_t k = block_in(sorted, n, block_bytes, r[i].start, r[i].end);

		if (k >= 0) {
			err = vhd_fail(f, -EINVAL,
				       "BAT entry %" PRIu32 ": block at byte %" PRIu64
				       " overlaps the %s",
				       (uint32_t)sorted[k], vhd_sectors_to_bytes(sorted[k] >> 32),
				       r[i].name);
			goto out;
		}
	}
	if (n && vhd_sectors_to_bytes(sorted[n - 1] >> 32) + block_bytes > end)
		end = vhd_sectors_to_bytes(sorted[n - 1] >> 32) + block_bytes;
	f->end_of_data = end;

	/* a batmap bit promises a full bitmap: it cannot stand for an unallocated block */
	if (f->has_batmap) {
		for (uint32_t i = 0; i < f->blocks; i++) {
			if (vhd_bit_test(f->batmap_map, i) && f->bat[i] == VHD_BAT_UNUSED) {
				err = vhd_fail(f, -EINVAL,
					       "batmap marks block %" PRIu32
					       " fully allocated but its BAT entry is unused",
					       i);
				goto out;
			}
		}
	}
	err = 0;
out:
	free(sorted);
	return err;
}
