/* Request slots in the three ABIs: unpacked from a backend's private copy, written by a
 * frontend. The native layout is <xen/io/blkif.h>'s, the others ringtap/blkif_abi.h's. */
#include "ringtap/blkif_abi.h"

_Static_assert(sizeof(struct blkif_request) <= BLKIF_REQ_COPY_SIZE, "native copy size");
_Static_assert(sizeof(struct blkif_x86_64_request) <= BLKIF_REQ_COPY_SIZE, "x86_64 copy size");
_Static_assert(sizeof(struct blkif_x86_32_request) <= BLKIF_REQ_COPY_SIZE, "x86_32 copy size");
_Static_assert(sizeof(struct blkif_x86_32_request) % 4 == 0, "x86_32 request in words");
_Static_assert(sizeof(struct blkif_request) % 4 == 0, "request in words");
/* The segment and grant arrays sit 4-byte aligned in an 8-aligned copy: pointing into it is
 * safe although the compat structs are packed. */
_Static_assert(offsetof(struct blkif_x86_32_request, u.rw.seg) % 4 == 0, "x86_32 segments");
_Static_assert(offsetof(struct blkif_x86_32_request, u.indirect.indirect_grefs) % 4 == 0,
	       "x86_32 indirect grants");
_Static_assert(offsetof(struct blkif_x86_64_request, u.rw.seg) % 4 == 0, "x86_64 segments");
_Static_assert(offsetof(struct blkif_x86_64_request, u.indirect.indirect_grefs) % 4 == 0,
	       "x86_64 indirect grants");
_Static_assert(offsetof(struct blkif_response, id) == BLKIF_RSP_ID_OFFSET &&
		       offsetof(struct blkif_x86_32_response, id) == BLKIF_RSP_ID_OFFSET &&
		       offsetof(struct blkif_x86_64_response, id) == BLKIF_RSP_ID_OFFSET,
	       "response id offset");
_Static_assert(offsetof(struct blkif_response, operation) == BLKIF_RSP_OPERATION_OFFSET &&
		       offsetof(struct blkif_x86_32_response, operation) ==
			       BLKIF_RSP_OPERATION_OFFSET &&
		       offsetof(struct blkif_x86_64_response, operation) ==
			       BLKIF_RSP_OPERATION_OFFSET,
	       "response operation offset");
_Static_assert(offsetof(struct blkif_response, status) == BLKIF_RSP_STATUS_OFFSET &&
		       offsetof(struct blkif_x86_32_response, status) == BLKIF_RSP_STATUS_OFFSET &&
		       offsetof(struct blkif_x86_64_response, status) == BLKIF_RSP_STATUS_OFFSET,
	       "response status offset");

#define AT(copy, type, member) ((const void *)((const uint8_t *)(copy) + offsetof(type, member)))

static void unpack_native(const void *copy, struct blkif_abi_req *o)
{
	const struct blkif_request *r = copy;
	const struct blkif_request_discard *d = copy;
	const struct blkif_request_indirect *in = copy;

	o->operation = r->operation;
	switch (r->operation) {
	case BLKIF_OP_DISCARD:
		o->discard_flag = d->flag;
		o->handle = d->handle;
		o->id = d->id;
		o->sector_number = d->sector_number;
		o->nr_sectors = d->nr_sectors;
		break;
	case BLKIF_OP_INDIRECT:
		o->indirect_op = in->indirect_op;
		o->nr_segments = in->nr_segments;
		o->handle = in->handle;
		o->id = in->id;
		o->sector_number = in->sector_number;
		o->indirect_grefs = in->indirect_grefs;
		o->nr_refs = BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST;
		break;
	default:
		o->nr_segments = r->nr_segments;
		o->handle = r->handle;
		o->id = r->id;
		o->sector_number = r->sector_number;
		o->seg = r->seg;
		o->nr_refs = BLKIF_MAX_SEGMENTS_PER_REQUEST;
	}
}

/* x86_32 and x86_64 name their members alike: one body for both. Members are read by value from
 * the packed structs; the arrays are pointed at through offsetof (aligned, see above). */
#define UNPACK_COMPAT(abi)                                                                         \
	static void unpack_##abi(const void *copy, struct blkif_abi_req *o)                        \
	{                                                                                          \
		typedef struct blkif_##abi##_request req_t;                                        \
		const req_t *r = copy;                                                             \
                                                                                                   \
		o->operation = r->operation;                                                       \
		switch (r->operation) {                                                            \
		case BLKIF_OP_DISCARD:                                                             \
			o->discard_flag = r->u.discard.flag;                                       \
			o->handle = r->u.discard.handle;                                           \
			o->id = r->u.discard.id;                                                   \
			o->sector_number = r->u.discard.sector_number;                             \
			o->nr_sectors = r->u.discard.nr_sectors;                                   \
			break;                                                                     \
		case BLKIF_OP_INDIRECT:                                                            \
			o->indirect_op = r->u.indirect.indirect_op;                                \
			o->nr_segments = r->u.indirect.nr_segments;                                \
			o->handle = r->u.indirect.handle;                                          \
			o->id = r->u.indirect.id;                                                  \
			o->sector_number = r->u.indirect.sector_number;                            \
			o->indirect_grefs = AT(copy, req_t, u.indirect.indirect_grefs);            \
			o->nr_refs = BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST;                         \
			break;                                                                     \
		case BLKIF_OP_READ:                                                                \
		case BLKIF_OP_WRITE:                                                               \
		case BLKIF_OP_WRITE_BARRIER:                                                       \
		case BLKIF_OP_FLUSH_DISKCACHE:                                                     \
			o->nr_segments = r->u.rw.nr_segments;                                      \
			o->handle = r->u.rw.handle;                                                \
			o->id = r->u.rw.id;                                                        \
			o->sector_number = r->u.rw.sector_number;                                  \
			o->seg = AT(copy, req_t, u.rw.seg);                                        \
			o->nr_refs = BLKIF_MAX_SEGMENTS_PER_REQUEST;                               \
			break;                                                                     \
		default:                                                                           \
			o->id = r->u.other.id;                                                     \
		}                                                                                  \
	}

UNPACK_COMPAT(x86_32)
UNPACK_COMPAT(x86_64)

void blkif_abi_unpack_request(enum blkif_abi abi, const void *copy, struct blkif_abi_req *req)
{
	memset(req, 0, sizeof(*req));
	switch (abi) {
	case BLKIF_ABI_X86_32:
		unpack_x86_32(copy, req);
		break;
	case BLKIF_ABI_X86_64:
		unpack_x86_64(copy, req);
		break;
	case BLKIF_ABI_NATIVE:
		unpack_native(copy, req);
		break;
	}
}

static unsigned int min_refs(unsigned int n, unsigned int max)
{
	return n < max ? n : max;
}

/* The three ABIs name the members of each request variant alike. */
#define PACK_RW(dst, req)                                                                          \
	do {                                                                                       \
		unsigned int i_, n_ = min_refs((req)->nr_refs, BLKIF_MAX_SEGMENTS_PER_REQUEST);    \
		(dst).nr_segments = (uint8_t)(req)->nr_segments;                                   \
		(dst).handle = (req)->handle;                                                      \
		(dst).id = (req)->id;                                                              \
		(dst).sector_number = (req)->sector_number;                                        \
		for (i_ = 0; i_ < n_; i_++)                                                        \
			(dst).seg[i_] = (req)->seg[i_];                                            \
	} while (0)

#define PACK_DISCARD(dst, req)                                                                     \
	do {                                                                                       \
		(dst).flag = (req)->discard_flag;                                                  \
		(dst).handle = (req)->handle;                                                      \
		(dst).id = (req)->id;                                                              \
		(dst).sector_number = (req)->sector_number;                                        \
		(dst).nr_sectors = (req)->nr_sectors;                                              \
	} while (0)

#define PACK_INDIRECT(dst, req)                                                                    \
	do {                                                                                       \
		unsigned int i_,                                                                   \
			n_ = min_refs((req)->nr_refs, BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST);       \
		(dst).indirect_op = (req)->indirect_op;                                            \
		(dst).nr_segments = (req)->nr_segments;                                            \
		(dst).id = (req)->id;                                                              \
		(dst).sector_number = (req)->sector_number;                                        \
		(dst).handle = (req)->handle;                                                      \
		for (i_ = 0; i_ < n_; i_++)                                                        \
			(dst).indirect_grefs[i_] = (req)->indirect_grefs[i_];                      \
	} while (0)

#define PACK_COMPAT(type, slot, req)                                                               \
	do {                                                                                       \
		type e_;                                                                           \
		memset(&e_, 0, sizeof(e_));                                                        \
		e_.req.operation = (req)->operation;                                               \
		if ((req)->operation == BLKIF_OP_DISCARD)                                          \
			PACK_DISCARD(e_.req.u.discard, req);                                       \
		else if ((req)->operation == BLKIF_OP_INDIRECT)                                    \
			PACK_INDIRECT(e_.req.u.indirect, req);                                     \
		else                                                                               \
			PACK_RW(e_.req.u.rw, req);                                                 \
		memcpy((slot), &e_, sizeof(e_));                                                   \
	} while (0)

/* The native ABI keeps `operation` inside each request variant. */
static void pack_native(void *slot, const struct blkif_abi_req *req)
{
	union blkif_sring_entry e;

	memset(&e, 0, sizeof(e));
	if (req->operation == BLKIF_OP_DISCARD) {
		struct blkif_request_discard *d = (struct blkif_request_discard *)&e.req;

		d->operation = req->operation;
		PACK_DISCARD(*d, req);
	} else if (req->operation == BLKIF_OP_INDIRECT) {
		struct blkif_request_indirect *ind = (struct blkif_request_indirect *)&e.req;

		ind->operation = req->operation;
		PACK_INDIRECT(*ind, req);
	} else {
		e.req.operation = req->operation;
		PACK_RW(e.req, req);
	}
	memcpy(slot, &e, sizeof(e));
}

void blkif_abi_write_request(enum blkif_abi abi, void *slot, const struct blkif_abi_req *req)
{
	switch (abi) {
	case BLKIF_ABI_X86_32:
		PACK_COMPAT(union blkif_x86_32_sring_entry, slot, req);
		break;
	case BLKIF_ABI_X86_64:
		PACK_COMPAT(union blkif_x86_64_sring_entry, slot, req);
		break;
	case BLKIF_ABI_NATIVE:
		pack_native(slot, req);
		break;
	}
}
