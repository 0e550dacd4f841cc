/* Fuzzes the blkif request decoder (src/blkif_req.c, on lib/blkif's slot layouts): one guest
 * ring slot in any of the three ABIs, then, for an indirect request, its segment pages through a
 * fake grant copy, as the datapath does (ring.c consume_one, request.c copy_indirect and
 * td_request_start).
 *
 * Input: [abi][features][max_indirect_segs u16][disk_sectors u64][ring slot][granted pages...]
 * The bytes after the slot are the guest's grantable pages, 4 KiB each (the last one zero-padded):
 * grant reference g names page g; any other reference fails to copy, as a bad gref does. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <xengnttab.h>

#include "src/blkif_req.h"

#define HDR_SIZE 12u
#define SLOT_SIZE 128u /* a ring entry of the largest ABI, padded */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct guest_pages {
	const uint8_t *bytes;
	size_t len;
	size_t npages;
};

static uint64_t get_le(const uint8_t *p, unsigned int n)
{
	uint64_t v = 0;

	for (unsigned int i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* xengnttab_grant_copy's semantics for guest-to-local copies: bounds and the reference checked
 * per segment, the status reported per segment. */
static void fake_grant_copy(const struct guest_pages *g, uint32_t count,
			    xengnttab_grant_copy_segment_t *segs)
{
	for (uint32_t i = 0; i < count; i++) {
		xengnttab_grant_copy_segment_t *s = &segs[i];
		uint32_t ref = s->source.foreign.ref;
		size_t off = (size_t)ref * TD_PAGE_SIZE + s->source.foreign.offset;

		if (!(s->flags & GNTCOPY_source_gref) || ref >= g->npages) {
			s->status = GNTST_bad_gntref;
			continue;
		}
		if ((size_t)s->source.foreign.offset + s->len > TD_PAGE_SIZE) {
			s->status = GNTST_bad_copy_arg;
			continue;
		}
		/* Bytes past the end of the input read as zeros (the page's unfilled tail). */
		memset(s->dest.virt, 0, s->len);
		if (off < g->len)
			memcpy(s->dest.virt, g->bytes + off,
			       g->len - off < s->len ? g->len - off : s->len);
		s->status = GNTST_okay;
	}
}

static void check(bool ok)
{
	if (!ok)
		abort();
}

/* What every accepted request must satisfy, whatever the guest wrote. */
static void check_accepted(const struct td_blkif_req *req, const struct td_blkif_limits *lim,
			   const struct blkif_request_segment *segs)
{
	uint64_t sectors = 0;

	check(req->op <= TD_OP_DISCARD);
	if (req->op != TD_OP_DISCARD) {
		for (unsigned int i = 0; i < req->nr_segs; i++) {
			check(segs[i].first_sect <= segs[i].last_sect);
			check(segs[i].last_sect < TD_SECTORS_PER_PAGE);
			sectors += (uint64_t)segs[i].last_sect - segs[i].first_sect + 1;
		}
		check(sectors == req->nr_sectors);
	}
	if (req->nr_sectors)
		check(req->sector <= lim->disk_sectors &&
		      req->nr_sectors <= lim->disk_sectors - req->sector);
	if (req->indirect) {
		check(req->nr_segs >= 1 && req->nr_segs <= lim->max_indirect_segs);
		check(req->op == TD_OP_READ || req->op == TD_OP_WRITE);
	} else {
		check(req->nr_segs <= BLKIF_MAX_SEGMENTS_PER_REQUEST);
	}
	if (req->op == TD_OP_READ || req->op == TD_OP_WRITE)
		check(req->nr_segs > 0);
	if (lim->readonly)
		check(req->op == TD_OP_READ ||
		      ((req->op == TD_OP_FLUSH || req->op == TD_OP_BARRIER) && !req->nr_segs));
	if (req->op == TD_OP_DISCARD)
		check(lim->discard && !lim->readonly);
}

/* request.c's copy_indirect and the segment check that follows it in td_request_start. */
static void decode_indirect_pages(struct td_blkif_req *req, const struct td_blkif_limits *lim,
				  const struct guest_pages *g)
{
	unsigned int max_segs = lim->max_indirect_segs > BLKIF_MAX_SEGMENTS_PER_REQUEST ?
					lim->max_indirect_segs :
					BLKIF_MAX_SEGMENTS_PER_REQUEST;
	xengnttab_grant_copy_segment_t *gcopy = calloc(max_segs, sizeof(*gcopy));
	struct blkif_request_segment *isegs = calloc(max_segs, sizeof(*isegs));
	uint8_t *scratch =
		aligned_alloc(TD_PAGE_SIZE, BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST * TD_PAGE_SIZE);
	size_t left = (size_t)req->nr_segs * sizeof(struct blkif_request_segment);
	const char *why = NULL;
	unsigned int i;
	bool copied = true;

	check(gcopy && isegs && scratch);
	check(req->nr_indirect_pages == td_blkif_indirect_pages(req->nr_segs));
	check(req->nr_indirect_pages <= BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST);
	for (i = 0; i < req->nr_indirect_pages; i++) {
		xengnttab_grant_copy_segment_t *s = &gcopy[i];

		s->source.foreign.ref = req->indirect_grefs[i];
		s->source.foreign.offset = 0;
		s->source.foreign.domid = 1;
		s->dest.virt = scratch + (size_t)i * TD_PAGE_SIZE;
		s->len = (uint16_t)(left > TD_PAGE_SIZE ? TD_PAGE_SIZE : left);
		s->flags = GNTCOPY_source_gref;
		left -= s->len;
	}
	check(left == 0);
	fake_grant_copy(g, i, gcopy);
	for (unsigned int k = 0; k < i; k++)
		copied = copied && gcopy[k].status == GNTST_okay;
	if (copied) {
		td_blkif_indirect_segments(scratch, req->nr_segs, isegs);
		if (td_blkif_check_segments(req, isegs, lim, &why) == BLKIF_RSP_OKAY)
			check_accepted(req, lim, isegs);
		else
			check(why != NULL);
	}
	free(scratch);
	free(isegs);
	free(gcopy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t slot[SLOT_SIZE] __attribute__((aligned(8))) = { 0 };
	uint8_t copy[BLKIF_REQ_COPY_SIZE] __attribute__((aligned(8)));
	uint8_t rsp[SLOT_SIZE] __attribute__((aligned(8)));
	struct td_blkif_limits lim = { 0 };
	struct td_blkif_req req;
	struct guest_pages g;
	enum blkif_abi abi;
	const char *why = NULL;
	size_t req_size, n;
	int status;

	if (size < HDR_SIZE)
		return 0;
	abi = (enum blkif_abi)(data[0] % 3);
	lim.readonly = data[1] & 1;
	lim.discard = data[1] & 2;
	/* ring_attach refuses more than TD_MAX_INDIRECT_SEGS; bit 2 withholds the feature */
	lim.max_indirect_segs =
		(data[1] & 4) ? 0 : (uint16_t)(get_le(data + 2, 2) % (TD_MAX_INDIRECT_SEGS + 1));
	lim.disk_sectors = get_le(data + 4, 8);
	data += HDR_SIZE;
	size -= HDR_SIZE;

	req_size = blkif_abi_request_size(abi);
	check(req_size <= BLKIF_REQ_COPY_SIZE);
	n = size < req_size ? size : req_size;
	memcpy(slot, data, n);
	blkif_abi_copy_request(abi, slot, copy);
	/* the guest rewrites its slot at once: nothing below may depend on it */
	memset(slot, 0xa5, sizeof(slot));
	g.bytes = data + n;
	g.len = size - n;
	g.npages = (g.len + TD_PAGE_SIZE - 1) / TD_PAGE_SIZE;

	status = td_blkif_decode(abi, copy, &lim, &req, &why);
	if (status == BLKIF_RSP_OKAY) {
		if (req.indirect)
			decode_indirect_pages(&req, &lim, &g);
		else
			check_accepted(&req, &lim, req.seg);
	} else {
		check(status == BLKIF_RSP_ERROR || status == BLKIF_RSP_EOPNOTSUPP);
		check(why != NULL);
	}

	/* the answer goes back field by field, in the ABI's layout */
	memset(rsp, 0, sizeof(rsp));
	blkif_abi_write_response(abi, rsp, req.id, req.rsp_op, (int16_t)status);
	check(((const struct blkif_response *)(const void *)rsp)->status == status);
	check(((const struct blkif_response *)(const void *)rsp)->operation == req.rsp_op);
	check(blkif_abi_response_size(abi) <= sizeof(rsp));
	return 0;
}
