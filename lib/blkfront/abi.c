/* libblkfront's requests on the ring: its raw request (ringtap/blkfront.h) written in the ABI the
 * frontend announced in `protocol`, through lib/blkif's slot layouts, and response statuses. */
#include <errno.h>

#include "blkfront_int.h"

void bf_abi_write_request(enum blkif_abi abi, void *slot, const struct blkfront_raw_req *req,
			  uint64_t id)
{
	const struct blkif_abi_req r = {
		.id = id,
		.sector_number = req->sector_number,
		.nr_sectors = req->nr_sectors,
		.operation = req->operation,
		.indirect_op = req->indirect_op,
		.discard_flag = req->flag,
		.nr_segments = req->nr_segments,
		.handle = req->handle,
		.seg = req->seg,
		.indirect_grefs = req->indirect_grefs,
		.nr_refs = req->nr_grefs,
	};

	blkif_abi_write_request(abi, slot, &r);
}

int bf_status_to_errno(int16_t status)
{
	switch (status) {
	case BLKIF_RSP_OKAY:
		return 0;
	case BLKIF_RSP_ERROR:
		return -EIO;
	case BLKIF_RSP_EOPNOTSUPP:
		return -EOPNOTSUPP;
	}
	return -EPROTO;
}
