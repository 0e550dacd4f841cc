/* Ring slot layouts seen from the frontend: requests encoded and responses decoded in the ABI the
 * frontend announced in `protocol` (native, x86_32-abi, x86_64-abi). */
#include <errno.h>
#include <string.h>

#include "blkfront_int.h"

size_t bf_abi_entry_size(enum blkif_abi abi)
{
	switch (abi) {
	case BLKIF_ABI_X86_32:
		return sizeof(union blkif_x86_32_sring_entry);
	case BLKIF_ABI_X86_64:
		return sizeof(union blkif_x86_64_sring_entry);
	case BLKIF_ABI_NATIVE:
		break;
	}
	return sizeof(union blkif_sring_entry);
}

static unsigned int round_down_pow2(unsigned int x)
{
	unsigned int p = 1;

	while (p <= x / 2)
		p *= 2;
	return x ? p : 0;
}

unsigned int bf_ring_entries(enum blkif_abi abi, unsigned int order)
{
	size_t bytes = (size_t)BF_PAGE_SIZE << order;

	return round_down_pow2((unsigned int)((bytes - BF_SRING_HEADER) / bf_abi_entry_size(abi)));
}

/* The three ABIs name their request members alike, so one set of macros encodes each layout;
 * the native ABI keeps `operation` inside each request variant. */
#define ENCODE_RW(dst, req, id)                                                                    \
	do {                                                                                       \
		unsigned int i_, n_ = (req)->nr_grefs;                                             \
		if (n_ > BLKIF_MAX_SEGMENTS_PER_REQUEST)                                           \
			n_ = BLKIF_MAX_SEGMENTS_PER_REQUEST;                                       \
		(dst).nr_segments = (uint8_t)(req)->nr_segments;                                   \
		(dst).handle = (req)->handle;                                                      \
		(dst).id = (id);                                                                   \
		(dst).sector_number = (req)->sector_number;                                        \
		for (i_ = 0; i_ < n_; i_++)                                                        \
			(dst).seg[i_] = (req)->seg[i_];                                            \
	} while (0)

#define ENCODE_DISCARD(dst, req, id)                                                               \
	do {                                                                                       \
		(dst).flag = (req)->flag;                                          \
		(dst).handle = (req)->handle;                                                      \
		(dst).id = (id);                                                                   \
		(dst).sector_number = (req)->sector_number;                                        \
		(dst).nr_sectors = (req)->nr_sectors;                                              \
	} while (0)

#define ENCODE_INDIRECT(dst, req, id)                                                              \
	do {                                                                                       \
		unsigned int i_, n_ = (req)->nr_grefs;                                             \
		if (n_ > BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST)                                     \
			n_ = BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST;                                 \
		(dst).indirect_op = (req)->indirect_op;                                            \
		(dst).nr_segments = (req)->nr_segments;                                            \
		(dst).id = (id);                                                                   \
		(dst).sector_number = (req)->sector_number;                                        \
		(dst).handle = (req)->handle;                                                      \
		for (i_ = 0; i_ < n_; i_++)                                                        \
			(dst).indirect_grefs[i_] = (req)->indirect_grefs[i_];                      \
	} while (0)

#define ENCODE_COMPAT(type, slot, req, id)                                                         \
	do {                                                                                       \
		type r_;                                                                           \
		memset(&r_, 0, sizeof(r_));                                                        \
		r_.req.operation = (req)->operation;                                               \
		if ((req)->operation == BLKIF_OP_DISCARD)                                          \
			ENCODE_DISCARD(r_.req.u.discard, req, id);                                 \
		else if ((req)->operation == BLKIF_OP_INDIRECT)                                    \
			ENCODE_INDIRECT(r_.req.u.indirect, req, id);                               \
		else                                                                               \
			ENCODE_RW(r_.req.u.rw, req, id);                                           \
		memcpy((slot), &r_, sizeof(r_));                                                   \
	} while (0)

static void encode_native(void *slot, const struct blkfront_raw_req *req, uint64_t id)
{
	union blkif_sring_entry e;

	memset(&e, 0, sizeof(e));
	if (req->operation == BLKIF_OP_DISCARD) {
		struct blkif_request_discard *d = (struct blkif_request_discard *)&e.req;

		d->operation = req->operation;
		ENCODE_DISCARD(*d, req, id);
	} else if (req->operation == BLKIF_OP_INDIRECT) {
		struct blkif_request_indirect *ind = (struct blkif_request_indirect *)&e.req;

		ind->operation = req->operation;
		ENCODE_INDIRECT(*ind, req, id);
	} else {
		e.req.operation = req->operation;
		ENCODE_RW(e.req, req, id);
	}
	memcpy(slot, &e, sizeof(e));
}

void bf_abi_write_request(enum blkif_abi abi, void *slot, const struct blkfront_raw_req *req,
			  uint64_t id)
{
	switch (abi) {
	case BLKIF_ABI_X86_32:
		ENCODE_COMPAT(union blkif_x86_32_sring_entry, slot, req, id);
		break;
	case BLKIF_ABI_X86_64:
		ENCODE_COMPAT(union blkif_x86_64_sring_entry, slot, req, id);
		break;
	case BLKIF_ABI_NATIVE:
		encode_native(slot, req, id);
		break;
	}
}

/* Reads a response once through volatile accesses: the backend may rewrite the slot at any
 * time, and each field must be looked at exactly once (the copy is what gets validated). */
#define DECODE(type, slot, rsp)                                                                    \
	do {                                                                                       \
		const volatile type *s_ = (const volatile type *)(slot);                           \
		(rsp)->id = s_->id;                                                                \
		(rsp)->operation = s_->operation;                                                  \
		(rsp)->status = s_->status;                                                        \
	} while (0)

void bf_abi_read_response(enum blkif_abi abi, const void *slot, struct bf_response *rsp)
{
	switch (abi) {
	case BLKIF_ABI_X86_32:
		DECODE(struct blkif_x86_32_response, slot, rsp);
		break;
	case BLKIF_ABI_X86_64:
		DECODE(struct blkif_x86_64_response, slot, rsp);
		break;
	case BLKIF_ABI_NATIVE:
		DECODE(struct blkif_response, slot, rsp);
		break;
	}
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
