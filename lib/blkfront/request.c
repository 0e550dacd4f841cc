/* Turning a caller's I/O into blkif ring requests: how much fits in one request, its segments
 * (data from offset 0 of each granted page, full pages but the last) and indirect descriptors. */
#include <string.h>

#include "blkfront_int.h"

size_t bf_chunk_len(size_t remaining, unsigned int max_segs)
{
	size_t max = (size_t)max_segs * BF_PAGE_SIZE;

	return remaining < max ? remaining : max;
}

unsigned int bf_chunk_segs(size_t len)
{
	return (unsigned int)((len + BF_PAGE_SIZE - 1) / BF_PAGE_SIZE);
}

unsigned int bf_indirect_pages(unsigned int nsegs)
{
	return (unsigned int)((nsegs + BF_SEGS_PER_INDIRECT_PAGE - 1) / BF_SEGS_PER_INDIRECT_PAGE);
}

/* Segment i covers the page's sectors from 0 to the last one holding data. */
static struct blkif_request_segment segment(grant_ref_t ref, size_t len, unsigned int i)
{
	size_t left = len - (size_t)i * BF_PAGE_SIZE;
	size_t bytes = left < BF_PAGE_SIZE ? left : BF_PAGE_SIZE;
	struct blkif_request_segment s = {
		.gref = ref,
		.first_sect = 0,
		.last_sect = (uint8_t)(bytes / BF_SECTOR_SIZE - 1),
	};
	return s;
}

void bf_build_rw(struct blkfront_raw_req *req, uint8_t op, uint64_t sector, size_t len,
		 const grant_ref_t *data_refs, void *const *ind_pages, const grant_ref_t *ind_refs,
		 bool indirect)
{
	unsigned int i, nsegs = bf_chunk_segs(len);

	memset(req, 0, sizeof(*req));
	req->sector_number = sector;
	req->nr_segments = (uint16_t)nsegs;
	if (!indirect) {
		req->operation = op;
		req->nr_grefs = nsegs;
		for (i = 0; i < nsegs && i < BLKIF_MAX_SEGMENTS_PER_REQUEST; i++)
			req->seg[i] = segment(data_refs[i], len, i);
		return;
	}
	req->operation = BLKIF_OP_INDIRECT;
	req->indirect_op = op;
	req->nr_grefs = bf_indirect_pages(nsegs);
	for (i = 0; i < req->nr_grefs; i++)
		req->indirect_grefs[i] = ind_refs[i];
	for (i = 0; i < nsegs; i++) {
		struct blkif_request_segment *page = ind_pages[i / BF_SEGS_PER_INDIRECT_PAGE];

		page[i % BF_SEGS_PER_INDIRECT_PAGE] = segment(data_refs[i], len, i);
	}
}

void bf_build_discard(struct blkfront_raw_req *req, uint64_t sector, uint64_t nr_sectors)
{
	memset(req, 0, sizeof(*req));
	req->operation = BLKIF_OP_DISCARD;
	req->sector_number = sector;
	req->nr_sectors = nr_sectors;
}

void bf_build_flush(struct blkfront_raw_req *req)
{
	memset(req, 0, sizeof(*req));
	req->operation = BLKIF_OP_FLUSH_DISKCACHE;
}
