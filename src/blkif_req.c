/* Copy-once decoding and validation of blkif requests for the three ABIs (see blkif_req.h);
 * the rules are Linux blkback's. */
#include <string.h>

#include "src/blkif_req.h"

_Static_assert(sizeof(struct blkif_request) <= TD_BLKIF_REQ_COPY_SIZE, "native copy size");
_Static_assert(sizeof(struct blkif_x86_64_request) <= TD_BLKIF_REQ_COPY_SIZE, "x86_64 copy size");
_Static_assert(sizeof(struct blkif_x86_32_request) <= TD_BLKIF_REQ_COPY_SIZE, "x86_32 copy size");
_Static_assert(sizeof(struct blkif_x86_32_request) % 4 == 0, "x86_32 request in words");
_Static_assert(sizeof(struct blkif_request) % 4 == 0, "request in words");
_Static_assert(TD_MAX_INDIRECT_SEGS <=
		       BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST * TD_SEGS_PER_INDIRECT_PAGE,
	       "indirect maximum fits the indirect pages");

size_t td_blkif_request_size(enum blkif_abi abi)
{
	switch (abi) {
	case BLKIF_ABI_X86_32:
		return sizeof(struct blkif_x86_32_request);
	case BLKIF_ABI_X86_64:
		return sizeof(struct blkif_x86_64_request);
	default:
		return sizeof(struct blkif_request);
	}
}

size_t td_blkif_response_size(enum blkif_abi abi)
{
	switch (abi) {
	case BLKIF_ABI_X86_32:
		return sizeof(struct blkif_x86_32_response);
	case BLKIF_ABI_X86_64:
		return sizeof(struct blkif_x86_64_response);
	default:
		return sizeof(struct blkif_response);
	}
}

void td_blkif_copy_request(enum blkif_abi abi, const volatile void *slot, void *copy)
{
	const volatile uint32_t *src = slot;
	uint32_t *dst = copy;
	size_t i, n = td_blkif_request_size(abi) / 4;

	/* Word by word through volatile: the compiler may neither re-read guest memory later nor
	 * merge these reads with later uses. Slots are 4-byte aligned in every ABI. */
	for (i = 0; i < n; i++)
		dst[i] = src[i];
	memset((char *)copy + n * 4, 0, TD_BLKIF_REQ_COPY_SIZE - n * 4);
}

/* The ABI-independent view of a request, taken from the copy (fields may be unaligned in the
 * packed x86_32 layout: read through the packed structs). */
struct raw_req {
	uint8_t operation;
	uint8_t nr_segments; /* rw */
	uint64_t id;
	uint64_t sector;
	const struct blkif_request_segment *seg;
	uint8_t discard_flag;
	uint64_t discard_sectors;
	uint8_t indirect_op;
	uint16_t indirect_segs;
	const grant_ref_t *indirect_grefs; /* may be unaligned: copied with memcpy */
};

static void raw_from_native(const struct blkif_request *r, struct raw_req *o)
{
	const struct blkif_request_discard *d = (const void *)r;
	const struct blkif_request_indirect *in = (const void *)r;

	o->operation = r->operation;
	o->nr_segments = r->nr_segments;
	o->seg = r->seg;
	o->discard_flag = d->flag;
	o->discard_sectors = d->nr_sectors;
	o->indirect_op = in->indirect_op;
	o->indirect_segs = in->nr_segments;
	o->indirect_grefs = in->indirect_grefs;
	switch (r->operation) {
	case BLKIF_OP_DISCARD:
		o->id = d->id;
		o->sector = d->sector_number;
		break;
	case BLKIF_OP_INDIRECT:
		o->id = in->id;
		o->sector = in->sector_number;
		break;
	default:
		o->id = r->id;
		o->sector = r->sector_number;
	}
}

#define RAW_FROM_COMPAT(abi)                                                                       \
	static void raw_from_##abi(const struct blkif_##abi##_request *r, struct raw_req *o)       \
	{                                                                                          \
		o->operation = r->operation;                                                       \
		o->nr_segments = r->u.rw.nr_segments;                                              \
		o->seg = r->u.rw.seg;                                                              \
		o->discard_flag = r->u.discard.flag;                                               \
		o->discard_sectors = r->u.discard.nr_sectors;                                      \
		o->indirect_op = r->u.indirect.indirect_op;                                        \
		o->indirect_segs = r->u.indirect.nr_segments;                                      \
		o->indirect_grefs = r->u.indirect.indirect_grefs;                                  \
		switch (r->operation) {                                                            \
		case BLKIF_OP_DISCARD:                                                             \
			o->id = r->u.discard.id;                                                   \
			o->sector = r->u.discard.sector_number;                                    \
			break;                                                                     \
		case BLKIF_OP_INDIRECT:                                                            \
			o->id = r->u.indirect.id;                                                  \
			o->sector = r->u.indirect.sector_number;                                   \
			break;                                                                     \
		case BLKIF_OP_READ:                                                                \
		case BLKIF_OP_WRITE:                                                               \
		case BLKIF_OP_WRITE_BARRIER:                                                       \
		case BLKIF_OP_FLUSH_DISKCACHE:                                                     \
			o->id = r->u.rw.id;                                                        \
			o->sector = r->u.rw.sector_number;                                         \
			break;                                                                     \
		default:                                                                           \
			o->id = r->u.other.id;                                                     \
			o->sector = 0;                                                             \
		}                                                                                  \
	}

/* The packed structs' members are read by value; GCC warns only about taking their address,
 * which the seg/gref pointers do on purpose (they are consumed with memcpy). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Waddress-of-packed-member"
RAW_FROM_COMPAT(x86_32)
RAW_FROM_COMPAT(x86_64)
#pragma GCC diagnostic pop

static void raw_decode(enum blkif_abi abi, const void *copy, struct raw_req *o)
{
	switch (abi) {
	case BLKIF_ABI_X86_32:
		raw_from_x86_32(copy, o);
		break;
	case BLKIF_ABI_X86_64:
		raw_from_x86_64(copy, o);
		break;
	default:
		raw_from_native(copy, o);
	}
}

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

static int decode_rw(const struct raw_req *raw, const struct td_blkif_limits *lim,
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

static int decode_discard(const struct raw_req *raw, const struct td_blkif_limits *lim,
			  struct td_blkif_req *req, const char **why)
{
	if (!lim->discard)
		return refuse(why, "discard not offered", BLKIF_RSP_EOPNOTSUPP);
	if (lim->readonly)
		return refuse(why, "discard on a read-only disk", BLKIF_RSP_ERROR);
	req->discard_flag = raw->discard_flag;
	req->nr_sectors = raw->discard_sectors;
	if (req->nr_sectors && (req->sector > lim->disk_sectors ||
				req->nr_sectors > lim->disk_sectors - req->sector))
		return refuse(why, "discard range beyond the end of the disk", BLKIF_RSP_ERROR);
	return BLKIF_RSP_OKAY;
}

static int decode_indirect(const struct raw_req *raw, const struct td_blkif_limits *lim,
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
	req->nr_segs = raw->indirect_segs;
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
	struct raw_req raw;

	raw_decode(abi, copy, &raw);
	memset(req, 0, offsetof(struct td_blkif_req, seg));
	req->id = raw.id;
	req->rsp_op = raw.operation;
	req->sector = raw.sector;
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

void td_blkif_write_response(enum blkif_abi abi, volatile void *slot, uint64_t id, uint8_t op,
			     int16_t status)
{
	volatile uint8_t *p = slot;

	/* The three ABIs agree: id at 0 (4-byte aligned on x86_32), operation at 8, status at
	 * 10; only the slot size differs. */
	_Static_assert(offsetof(struct blkif_x86_32_response, status) ==
			       offsetof(struct blkif_response, status),
		       "status offset");
	(void)abi;
	*(volatile uint32_t *)(p + 0) = (uint32_t)id;
	*(volatile uint32_t *)(p + 4) = (uint32_t)(id >> 32);
	*(volatile uint8_t *)(p + offsetof(struct blkif_response, operation)) = op;
	*(volatile int16_t *)(p + offsetof(struct blkif_response, status)) = status;
}
