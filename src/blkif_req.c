/* Validation of blkif requests copied once out of the ring, for the three ABIs (see
 * blkif_req.h); the rules are Linux blkback's, the layouts lib/blkif's. */
#include <string.h>

#include "src/blkif_req.h"

_Static_assert(TD_MAX_INDIRECT_SEGS <=
		       BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST * TD_SEGS_PER_INDIRECT_PAGE,
	       "indirect maximum fits the indirect pages");

static int refuse(const char **why, const char *reason, int status)
{
	if (why)
		*why = reason;
	return status;
}

int td_blkif_check_segments(struct td_blkif_req *req, const struct blkif_request_segment *segs,
			    const struct td_blkif_limits *lim, const char **why)
{
	uint64_t sectors = 0;
	unsigned int i;

	for (i = 0; i < req->nr_segs; i++) {
		if (segs[i].last_sect >= TD_SECTORS_PER_PAGE)
			return refuse(why, "segment last_sect beyond the page", BLKIF_RSP_ERROR);
		if (segs[i].first_sect > segs[i].last_sect)
			return refuse(why, "segment first_sect > last_sect", BLKIF_RSP_ERROR);
		sectors += (uint64_t)segs[i].last_sect - segs[i].first_sect + 1;
	}
	req->nr_sectors = sectors;
	/* As blkback: an empty request (a bare flush) names no range to check. */
	if (sectors && (req->sector > lim->disk_sectors || sectors > lim->disk_sectors - req->sector))
		return refuse(why, "sector range beyond the end of the disk", BLKIF_RSP_ERROR);
	return BLKIF_RSP_OKAY;
}

static int decode_rw(const struct blkif_abi_req *raw, const struct td_blkif_limits *lim,
		     struct td_blkif_req *req, const char **why)
{
	req->nr_segs = raw->nr_segments;
	if (req->nr_segs == 0 && (req->op == TD_OP_READ || req->op == TD_OP_WRITE))
		return refuse(why, "read/write without segments", BLKIF_RSP_ERROR);
	if (req->nr_segs > BLKIF_MAX_SEGMENTS_PER_REQUEST)
		return refuse(why, "more than 11 direct segments", BLKIF_RSP_ERROR);
	/* As blkback (xen_vbd_translate): everything but a read is a write to the disk, a bare
	 * flush included, and a read-only VBD answers it with an error. */
	if (lim->readonly && req->op != TD_OP_READ)
		return refuse(why, req->op == TD_OP_WRITE ? "write to a read-only disk"
							 : "flush or barrier on a read-only disk",
			      BLKIF_RSP_ERROR);
	memcpy(req->seg, raw->seg, req->nr_segs * sizeof(req->seg[0]));
	return td_blkif_check_segments(req, req->seg, lim, why);
}

static int decode_discard(const struct blkif_abi_req *raw, const struct td_blkif_limits *lim,
			  struct td_blkif_req *req, const char **why)
{
	if (!lim->discard)
		return refuse(why, "discard not offered", BLKIF_RSP_EOPNOTSUPP);
	if (lim->readonly)
		return refuse(why, "discard on a read-only disk", BLKIF_RSP_ERROR);
	req->discard_flag = raw->discard_flag;
	req->nr_sectors = raw->nr_sectors;
	if (req->nr_sectors && (req->sector > lim->disk_sectors ||
				req->nr_sectors > lim->disk_sectors - req->sector))
		return refuse(why, "discard range beyond the end of the disk", BLKIF_RSP_ERROR);
	return BLKIF_RSP_OKAY;
}

static int decode_indirect(const struct blkif_abi_req *raw, const struct td_blkif_limits *lim,
			   struct td_blkif_req *req, const char **why)
{
	if (!lim->max_indirect_segs)
		return refuse(why, "indirect request not offered", BLKIF_RSP_EOPNOTSUPP);
	if (raw->indirect_op != BLKIF_OP_READ && raw->indirect_op != BLKIF_OP_WRITE)
		return refuse(why, "indirect_op is neither read nor write", BLKIF_RSP_ERROR);
	req->op = raw->indirect_op == BLKIF_OP_READ ? TD_OP_READ : TD_OP_WRITE;
	/* Linux blkfront matches a response to the indirect_op, as blkback answers. */
	req->rsp_op = raw->indirect_op;
	req->indirect = true;
	req->nr_segs = raw->nr_segments;
	if (req->nr_segs == 0)
		return refuse(why, "indirect request without segments", BLKIF_RSP_ERROR);
	if (req->nr_segs > lim->max_indirect_segs)
		return refuse(why, "more indirect segments than offered", BLKIF_RSP_ERROR);
	if (lim->readonly && req->op == TD_OP_WRITE)
		return refuse(why, "write to a read-only disk", BLKIF_RSP_ERROR);
	req->nr_indirect_pages = (uint8_t)td_blkif_indirect_pages(req->nr_segs);
	memcpy(req->indirect_grefs, raw->indirect_grefs,
	       req->nr_indirect_pages * sizeof(grant_ref_t));
	return BLKIF_RSP_OKAY;
}

int td_blkif_decode(enum blkif_abi abi, const void *copy, const struct td_blkif_limits *lim,
		    struct td_blkif_req *req, const char **why)
{
	struct blkif_abi_req raw;

	blkif_abi_unpack_request(abi, copy, &raw);
	memset(req, 0, offsetof(struct td_blkif_req, seg));
	req->id = raw.id;
	req->rsp_op = raw.operation;
	req->sector = raw.sector_number;
	switch (raw.operation) {
	case BLKIF_OP_READ:
		req->op = TD_OP_READ;
		return decode_rw(&raw, lim, req, why);
	case BLKIF_OP_WRITE:
		req->op = TD_OP_WRITE;
		return decode_rw(&raw, lim, req, why);
	case BLKIF_OP_FLUSH_DISKCACHE:
		req->op = TD_OP_FLUSH;
		return decode_rw(&raw, lim, req, why);
	case BLKIF_OP_WRITE_BARRIER:
		req->op = TD_OP_BARRIER;
		return decode_rw(&raw, lim, req, why);
	case BLKIF_OP_DISCARD:
		req->op = TD_OP_DISCARD;
		return decode_discard(&raw, lim, req, why);
	case BLKIF_OP_INDIRECT:
		return decode_indirect(&raw, lim, req, why);
	default:
		return refuse(why, "unknown operation", BLKIF_RSP_EOPNOTSUPP);
	}
}

void td_blkif_indirect_segments(const void *pages, uint16_t nr_segs,
				struct blkif_request_segment *segs)
{
	memcpy(segs, pages, (size_t)nr_segs * sizeof(*segs));
}
