/* tapdisk's rules for a guest's blkif request: decoded and validated on the private copy that
 * lib/blkif took of the ring slot (blkif_abi_copy_request, XSA-155). Pure functions, one set for
 * the three ABIs (their layouts are lib/blkif's), so that every rule is unit-tested without a
 * ring. */
#ifndef TD_BLKIF_REQ_H
#define TD_BLKIF_REQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ringtap/blkif_abi.h"

#define TD_SECTOR_SHIFT 9
#define TD_PAGE_SIZE 4096u
#define TD_SECTORS_PER_PAGE (TD_PAGE_SIZE >> TD_SECTOR_SHIFT)
#define TD_SEGS_PER_INDIRECT_PAGE (TD_PAGE_SIZE / sizeof(struct blkif_request_segment))
/* 8 indirect pages of 512 segments would allow more, but 4096 segments (16 MiB) is the cap. */
#define TD_MAX_INDIRECT_SEGS 4096u
#define TD_DEFAULT_INDIRECT_SEGS 256u

/* What the datapath does; the ring's `operation` is kept apart for the response. */
enum td_op {
	TD_OP_READ,
	TD_OP_WRITE,
	TD_OP_FLUSH, /* FLUSH_DISKCACHE: optional data, then durable */
	TD_OP_BARRIER, /* WRITE_BARRIER: drain, optional data, durable */
	TD_OP_DISCARD,
};

struct td_blkif_req {
	uint64_t id;
	uint64_t sector;
	uint64_t nr_sectors; /* discard: from the request; others: from the segments */
	uint8_t rsp_op; /* echoed in the response */
	uint8_t op; /* enum td_op */
	uint8_t discard_flag;
	bool indirect;
	uint16_t nr_segs;
	uint8_t nr_indirect_pages;
	grant_ref_t indirect_grefs[BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST];
	struct blkif_request_segment seg[BLKIF_MAX_SEGMENTS_PER_REQUEST]; /* direct only */
};

/* What the VBD accepts; fixed while the ring is connected. */
struct td_blkif_limits {
	uint64_t disk_sectors;
	uint16_t max_indirect_segs; /* 0: BLKIF_OP_INDIRECT not offered */
	bool readonly;
	bool discard;
};

/* Decodes and validates the header of a request copied by blkif_abi_copy_request. Returns BLKIF_RSP_OKAY, or the status
 * to answer (BLKIF_RSP_ERROR, BLKIF_RSP_EOPNOTSUPP) with *why saying what was wrong. id and
 * rsp_op are always filled, so a refused request can still be answered. For a direct request the
 * segments are validated too; an indirect one needs td_blkif_check_segments once its segment
 * pages are copied. */
int td_blkif_decode(enum blkif_abi abi, const void *copy, const struct td_blkif_limits *lim,
		    struct td_blkif_req *req, const char **why);

/* Validates segments (first_sect <= last_sect <= 7) and the sector range they cover (inside the
 * disk, no overflow); sets req->nr_sectors. BLKIF_RSP_OKAY or BLKIF_RSP_ERROR. */
int td_blkif_check_segments(struct td_blkif_req *req, const struct blkif_request_segment *segs,
			    const struct td_blkif_limits *lim, const char **why);

/* Copies the segments of indirect pages (already a private copy) for nr_segs segments. */
void td_blkif_indirect_segments(const void *pages, uint16_t nr_segs,
				struct blkif_request_segment *segs);

static inline unsigned int td_blkif_indirect_pages(unsigned int nr_segs)
{
	return (nr_segs + TD_SEGS_PER_INDIRECT_PAGE - 1) / TD_SEGS_PER_INDIRECT_PAGE;
}

#endif
