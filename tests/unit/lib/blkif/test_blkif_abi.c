/* The blkif ABI of lib/blkif: each ABI's slot sizes and offsets against Xen's own blkif.h (as
 * the compiler lays it out natively, for i386 and for x86_64), the ring's geometry for 1..16
 * pages, requests written by a frontend and read back by a backend in each ABI, responses the
 * other way, and the protocol names. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <string.h>
#include <cmocka.h>

#include "ringtap/blkif_abi.h"
#include "blkif_layout.h" /* generated from blkif_layout.c (lib/blkif/module.mk) */

#define OFF(t, f) offsetof(struct t, f)
/* In the compat structs `operation` precedes the union: a variant's member sits one byte later
 * in the slot than in the variant. */
#define U(t, f) offsetof(struct t, u.f)

static const enum blkif_abi abis[] = { BLKIF_ABI_NATIVE, BLKIF_ABI_X86_32, BLKIF_ABI_X86_64 };
#define FOR_EACH_ABI for (unsigned int a_ = 0; a_ < 3 && ((abi = abis[a_]), 1); a_++)

/* Set by the generated header when the compiler cannot target i386 and x86_64. */
#ifndef XEN_LAYOUT_UNAVAILABLE
#define XEN_LAYOUT_UNAVAILABLE 0
#endif
#define SKIP_WITHOUT_XEN_LAYOUT()                                                                  \
	do {                                                                                       \
		if (XEN_LAYOUT_UNAVAILABLE) {                                                      \
			print_message(                                                             \
				"the compiler cannot lay blkif.h out for i386 and x86_64\n");      \
			skip();                                                                    \
		}                                                                                  \
	} while (0)

/* Xen's request layouts for one architecture against one of ringtap's compat structs. */
#define CHECK_REQUEST_LAYOUT(X, t)                                                                 \
	do {                                                                                       \
		assert_int_equal(sizeof(struct t), X##_REQ_SIZE);                                  \
		assert_int_equal(OFF(t, operation), X##_REQ_OPERATION);                            \
		assert_int_equal(U(t, rw.nr_segments), X##_REQ_NR_SEGMENTS);                       \
		assert_int_equal(U(t, rw.handle), X##_REQ_HANDLE);                                 \
		assert_int_equal(U(t, rw.id), X##_REQ_ID);                                         \
		assert_int_equal(U(t, rw.sector_number), X##_REQ_SECTOR_NUMBER);                   \
		assert_int_equal(U(t, rw.seg), X##_REQ_SEG);                                       \
		assert_int_equal(U(t, other.id), X##_REQ_ID);                                      \
		assert_int_equal(1 + sizeof(((struct t *)0)->u.discard), X##_DISCARD_SIZE);        \
		assert_int_equal(U(t, discard.flag), X##_DISCARD_FLAG);                            \
		assert_int_equal(U(t, discard.handle), X##_DISCARD_HANDLE);                        \
		assert_int_equal(U(t, discard.id), X##_DISCARD_ID);                                \
		assert_int_equal(U(t, discard.sector_number), X##_DISCARD_SECTOR_NUMBER);          \
		assert_int_equal(U(t, discard.nr_sectors), X##_DISCARD_NR_SECTORS);                \
		assert_int_equal(1 + sizeof(((struct t *)0)->u.indirect), X##_INDIRECT_SIZE);      \
		assert_int_equal(U(t, indirect.indirect_op), X##_INDIRECT_INDIRECT_OP);            \
		assert_int_equal(U(t, indirect.nr_segments), X##_INDIRECT_NR_SEGMENTS);            \
		assert_int_equal(U(t, indirect.id), X##_INDIRECT_ID);                              \
		assert_int_equal(U(t, indirect.sector_number), X##_INDIRECT_SECTOR_NUMBER);        \
		assert_int_equal(U(t, indirect.handle), X##_INDIRECT_HANDLE);                      \
		assert_int_equal(U(t, indirect.indirect_grefs), X##_INDIRECT_INDIRECT_GREFS);      \
	} while (0)

static void x86_32_request_is_xen_i386_layout(void **state)
{
	SKIP_WITHOUT_XEN_LAYOUT();
#if !XEN_LAYOUT_UNAVAILABLE
	CHECK_REQUEST_LAYOUT(XEN_I386, blkif_x86_32_request);
#endif
	assert_int_equal(blkif_abi_request_size(BLKIF_ABI_X86_32), 108);
}

static void x86_64_request_is_xen_x86_64_layout(void **state)
{
	SKIP_WITHOUT_XEN_LAYOUT();
#if !XEN_LAYOUT_UNAVAILABLE
	CHECK_REQUEST_LAYOUT(XEN_X86_64, blkif_x86_64_request);
#endif
	assert_int_equal(blkif_abi_request_size(BLKIF_ABI_X86_64), 112);
}

#define CHECK_RESPONSE_AND_RING(X, abi, rsp, sring)                                                \
	do {                                                                                       \
		assert_int_equal(blkif_abi_response_size(abi), X##_RSP_SIZE);                      \
		assert_int_equal(sizeof(struct rsp), X##_RSP_SIZE);                                \
		assert_int_equal(OFF(rsp, id), X##_RSP_ID);                                        \
		assert_int_equal(OFF(rsp, operation), X##_RSP_OPERATION);                          \
		assert_int_equal(OFF(rsp, status), X##_RSP_STATUS);                                \
		assert_int_equal(blkif_abi_entry_size(abi), X##_ENTRY_SIZE);                       \
		assert_int_equal(OFF(sring, ring), X##_SRING_HEADER);                              \
		assert_int_equal(BLKIF_SRING_HEADER, X##_SRING_HEADER);                            \
	} while (0)

static void responses_and_slots_are_xen_layouts(void **state)
{
	SKIP_WITHOUT_XEN_LAYOUT();
#if !XEN_LAYOUT_UNAVAILABLE
	CHECK_RESPONSE_AND_RING(XEN_I386, BLKIF_ABI_X86_32, blkif_x86_32_response,
				blkif_x86_32_sring);
	CHECK_RESPONSE_AND_RING(XEN_X86_64, BLKIF_ABI_X86_64, blkif_x86_64_response,
				blkif_x86_64_sring);
	assert_int_equal(XEN_I386_RSP_STATUS, BLKIF_RSP_STATUS_OFFSET);
	assert_int_equal(XEN_X86_64_RSP_OPERATION, BLKIF_RSP_OPERATION_OFFSET);
#endif
}

/* Native is <xen/io/blkif.h> as this compiler lays it out; on x86_64 it is the x86_64 ABI. */
static void native_is_xen_header_here(void **state)
{
	assert_int_equal(blkif_abi_request_size(BLKIF_ABI_NATIVE), sizeof(struct blkif_request));
	assert_int_equal(blkif_abi_response_size(BLKIF_ABI_NATIVE), sizeof(struct blkif_response));
	assert_int_equal(blkif_abi_entry_size(BLKIF_ABI_NATIVE), sizeof(union blkif_sring_entry));
	assert_int_equal(BLKIF_SRING_HEADER, 64);
	assert_int_equal(OFF(blkif_response, status), BLKIF_RSP_STATUS_OFFSET);
#if defined(__x86_64__)
	assert_int_equal(sizeof(struct blkif_x86_64_request), sizeof(struct blkif_request));
	assert_int_equal(U(blkif_x86_64_request, rw.id), offsetof(struct blkif_request, id));
	assert_int_equal(U(blkif_x86_64_request, rw.seg), offsetof(struct blkif_request, seg));
	assert_int_equal(U(blkif_x86_64_request, discard.nr_sectors),
			 offsetof(struct blkif_request_discard, nr_sectors));
	assert_int_equal(U(blkif_x86_64_request, indirect.indirect_grefs),
			 offsetof(struct blkif_request_indirect, indirect_grefs));
	assert_int_equal(sizeof(struct blkif_x86_64_response), sizeof(struct blkif_response));
	assert_int_equal(sizeof(union blkif_x86_64_sring_entry), sizeof(union blkif_sring_entry));
#endif
	assert_true(blkif_abi_request_size(BLKIF_ABI_X86_32) <= BLKIF_REQ_COPY_SIZE);
	assert_true(blkif_abi_request_size(BLKIF_ABI_X86_64) <= BLKIF_REQ_COPY_SIZE);
	assert_true(blkif_abi_request_size(BLKIF_ABI_NATIVE) <= BLKIF_REQ_COPY_SIZE);
}

/* Xen's slot counts for 1..16 pages (index 0 unused). */
#define XEN_RINGS(X)                                                                               \
	{                                                                                          \
		0, X##_RING_1, X##_RING_2, X##_RING_3, X##_RING_4, X##_RING_5, X##_RING_6,         \
			X##_RING_7, X##_RING_8, X##_RING_9, X##_RING_10, X##_RING_11, X##_RING_12, \
			X##_RING_13, X##_RING_14, X##_RING_15, X##_RING_16                         \
	}

static void ring_geometry_for_1_to_16_pages(void **state)
{
#if !XEN_LAYOUT_UNAVAILABLE
	static const unsigned int i386[] = XEN_RINGS(XEN_I386);
	static const unsigned int x86_64[] = XEN_RINGS(XEN_X86_64);
#endif
	unsigned int n;

	for (n = 1; n <= BLKIF_MAX_RING_PAGES; n++) {
		size_t bytes = (size_t)n * BLKIF_RING_PAGE_SIZE;

		assert_int_equal(blkif_ring_entries(BLKIF_ABI_NATIVE, n),
				 __CONST_RING_SIZE(blkif, bytes));
		assert_int_equal(blkif_ring_entries(BLKIF_ABI_X86_32, n),
				 __CONST_RING_SIZE(blkif_x86_32, bytes));
		assert_int_equal(blkif_ring_entries(BLKIF_ABI_X86_64, n),
				 __CONST_RING_SIZE(blkif_x86_64, bytes));
#if !XEN_LAYOUT_UNAVAILABLE
		assert_int_equal(blkif_ring_entries(BLKIF_ABI_X86_32, n), i386[n]);
		assert_int_equal(blkif_ring_entries(BLKIF_ABI_X86_64, n), x86_64[n]);
#endif
	}
	assert_int_equal(blkif_ring_entries(BLKIF_ABI_NATIVE, 1), 32);
	assert_int_equal(blkif_ring_entries(BLKIF_ABI_NATIVE, 16), 512);
	/* 7 pages: 264 slots of 108 bytes fit (256), 255 of 112 (128) */
	assert_int_equal(blkif_ring_entries(BLKIF_ABI_X86_32, 7), 256);
	assert_int_equal(blkif_ring_entries(BLKIF_ABI_X86_64, 7), 128);
	assert_int_equal(blkif_ring_entries(BLKIF_ABI_NATIVE, 0), 0);
}

static void ring_slots_wrap_after_the_header(void **state)
{
	static uint8_t ring[4096] __attribute__((aligned(4096)));
	enum blkif_abi abi;

	FOR_EACH_ABI
	{
		size_t es = blkif_abi_entry_size(abi);
		unsigned int n = blkif_ring_entries(abi, 1);
		uint8_t *entries = blkif_sring_entries(ring);

		assert_ptr_equal(entries, ring + 64);
		assert_ptr_equal(blkif_ring_slot(entries, es, n, 0), entries);
		assert_ptr_equal(blkif_ring_slot(entries, es, n, 3), entries + 3 * es);
		assert_ptr_equal(blkif_ring_slot(entries, es, n, n), entries);
		assert_ptr_equal(blkif_ring_slot(entries, es, n, 0xffffffffu),
				 entries + (n - 1) * es);
		assert_true(64 + n * es <= sizeof(ring));
	}
}

/* ---- requests: frontend write, backend copy + unpack ---- */

static const struct blkif_request_segment segs[BLKIF_MAX_SEGMENTS_PER_REQUEST] = {
	{ 100, 0, 7 }, { 101, 1, 7 }, { 102, 2, 6 }, { 103, 0, 0 }, { 104, 7, 7 }, { 105, 3, 4 },
	{ 106, 0, 7 }, { 107, 0, 7 }, { 108, 0, 7 }, { 109, 0, 7 }, { 110, 5, 6 },
};
static const grant_ref_t grefs[BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST] = { 11, 12, 13, 14,
									 15, 16, 17, 18 };

/* Writes req into slot 1 of a ring whose bytes are 0xaa, then copies and unpacks it as tapdisk
 * does; the neighbouring slots are untouched. */
static void round_trip(enum blkif_abi abi, const struct blkif_abi_req *req,
		       struct blkif_abi_req *out, uint8_t *copy)
{
	static uint8_t ring[3 * 112 + 16] __attribute__((aligned(8)));
	size_t es = blkif_abi_entry_size(abi);

	memset(ring, 0xaa, sizeof(ring));
	blkif_abi_write_request(abi, blkif_ring_slot(ring, es, 4, 1), req);
	assert_int_equal(ring[es - 1], 0xaa);
	assert_int_equal(ring[2 * es], 0xaa);
	blkif_abi_copy_request(abi, blkif_ring_slot(ring, es, 4, 1), copy);
	memset(ring, 0x55, sizeof(ring)); /* the guest rewrites the slot: the copy stands */
	blkif_abi_unpack_request(abi, copy, out);
}

static void rw_round_trip_each_abi(void **state)
{
	static const uint8_t ops[] = { BLKIF_OP_READ, BLKIF_OP_WRITE, BLKIF_OP_WRITE_BARRIER,
				       BLKIF_OP_FLUSH_DISKCACHE };
	uint8_t copy[BLKIF_REQ_COPY_SIZE] __attribute__((aligned(8)));
	enum blkif_abi abi;

	FOR_EACH_ABI
	{
		for (unsigned int k = 0; k < sizeof(ops); k++) {
			unsigned int nsegs = ops[k] == BLKIF_OP_FLUSH_DISKCACHE ? 0 : 11 - k;
			struct blkif_abi_req in = {
				.id = 0x1122334455667788ull + k, .operation = ops[k],
				.sector_number = 0x0102030405060708ull, .handle = 0x5172,
				.nr_segments = (uint16_t)nsegs, .seg = segs, .nr_refs = nsegs,
			}, out;

			round_trip(abi, &in, &out, copy);
			assert_int_equal(out.operation, ops[k]);
			assert_true(out.id == in.id);
			assert_true(out.sector_number == in.sector_number);
			assert_int_equal(out.handle, 0x5172);
			assert_int_equal(out.nr_segments, nsegs);
			assert_int_equal(out.nr_refs, BLKIF_MAX_SEGMENTS_PER_REQUEST);
			assert_non_null(out.seg);
			assert_null(out.indirect_grefs);
			assert_memory_equal(out.seg, segs, nsegs * sizeof(segs[0]));
			/* the frontend zeroes the segments it does not use */
			for (unsigned int i = nsegs; i < BLKIF_MAX_SEGMENTS_PER_REQUEST; i++)
				assert_int_equal(out.seg[i].gref, 0);
		}
	}
}

static void indirect_round_trip_each_abi(void **state)
{
	uint8_t copy[BLKIF_REQ_COPY_SIZE] __attribute__((aligned(8)));
	enum blkif_abi abi;

	FOR_EACH_ABI
	{
		struct blkif_abi_req in = {
			.id = 0xfedcba9876543210ull, .operation = BLKIF_OP_INDIRECT,
			.indirect_op = BLKIF_OP_WRITE, .nr_segments = 4096, .handle = 3,
			.sector_number = 1ull << 40, .indirect_grefs = grefs, .nr_refs = 8,
		}, out;

		round_trip(abi, &in, &out, copy);
		assert_int_equal(out.operation, BLKIF_OP_INDIRECT);
		assert_int_equal(out.indirect_op, BLKIF_OP_WRITE);
		assert_int_equal(out.nr_segments, 4096);
		assert_true(out.id == in.id);
		assert_true(out.sector_number == in.sector_number);
		assert_int_equal(out.handle, 3);
		assert_int_equal(out.nr_refs, BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST);
		assert_null(out.seg);
		assert_memory_equal(out.indirect_grefs, grefs, sizeof(grefs));

		in.nr_segments = 513; /* two pages: the other grants are written as 0 */
		in.nr_refs = 2;
		round_trip(abi, &in, &out, copy);
		assert_int_equal(out.nr_segments, 513);
		assert_int_equal(out.indirect_grefs[1], 12);
		assert_int_equal(out.indirect_grefs[2], 0);
	}
}

static void discard_round_trip_each_abi(void **state)
{
	uint8_t copy[BLKIF_REQ_COPY_SIZE] __attribute__((aligned(8)));
	enum blkif_abi abi;

	FOR_EACH_ABI
	{
		struct blkif_abi_req in = {
			.id = 9, .operation = BLKIF_OP_DISCARD, .discard_flag = BLKIF_DISCARD_SECURE,
			.handle = 0xffff, .sector_number = 2048, .nr_sectors = 0x8000000000000001ull,
		}, out;

		round_trip(abi, &in, &out, copy);
		assert_int_equal(out.operation, BLKIF_OP_DISCARD);
		assert_int_equal(out.discard_flag, BLKIF_DISCARD_SECURE);
		assert_int_equal(out.handle, 0xffff);
		assert_true(out.id == 9);
		assert_true(out.sector_number == 2048);
		assert_true(out.nr_sectors == 0x8000000000000001ull);
		assert_null(out.seg);
		assert_null(out.indirect_grefs);
	}
}

/* What a hostile frontend writes (12 direct segments, an unknown operation) is carried as is:
 * refusing it is the backend's business (src/blkif_req.c). */
static void unvalidated_fields_are_carried(void **state)
{
	uint8_t copy[BLKIF_REQ_COPY_SIZE] __attribute__((aligned(8)));
	enum blkif_abi abi;

	FOR_EACH_ABI
	{
		struct blkif_abi_req in = {
			.id = 5, .operation = BLKIF_OP_READ, .nr_segments = 12, .seg = segs,
			.nr_refs = 12, /* only 11 fit: the 12th is not written */
		}, out;

		round_trip(abi, &in, &out, copy);
		assert_int_equal(out.nr_segments, 12);
		assert_int_equal(out.seg[10].gref, 110);

		in = (struct blkif_abi_req){ .id = 0xabcdef, .operation = 0x7f };
		round_trip(abi, &in, &out, copy);
		assert_int_equal(out.operation, 0x7f);
		assert_true(out.id == 0xabcdef);
	}
}

static void copy_takes_exactly_one_slot(void **state)
{
	uint8_t slot[128], copy[BLKIF_REQ_COPY_SIZE];
	enum blkif_abi abi;

	FOR_EACH_ABI
	{
		size_t n = blkif_abi_request_size(abi);

		memset(slot, 0x11, sizeof(slot));
		memset(copy, 0x22, sizeof(copy));
		blkif_abi_copy_request(abi, slot, copy);
		for (size_t i = 0; i < sizeof(copy); i++)
			assert_int_equal(copy[i], i < n ? 0x11 : 0);
	}
	assert_int_equal(blkif_abi_request_size(BLKIF_ABI_X86_32), 108);
	assert_int_equal(blkif_abi_request_size(BLKIF_ABI_X86_64), 112);
	assert_int_equal(blkif_abi_request_size(BLKIF_ABI_NATIVE), sizeof(struct blkif_request));
}

/* ---- responses: backend write, frontend read ---- */

static void response_written_field_by_field(void **state)
{
	uint8_t slot[128] __attribute__((aligned(8)));
	enum blkif_abi abi;

	FOR_EACH_ABI
	{
		memset(slot, 0xee, sizeof(slot));
		blkif_abi_write_response(abi, slot, 0x0102030405060708ull, BLKIF_OP_WRITE,
					 BLKIF_RSP_EOPNOTSUPP);
		if (abi == BLKIF_ABI_X86_32) {
			struct blkif_x86_32_response r;

			memcpy(&r, slot, sizeof(r));
			assert_true(r.id == 0x0102030405060708ull);
			assert_int_equal(r.operation, BLKIF_OP_WRITE);
			assert_int_equal(r.status, BLKIF_RSP_EOPNOTSUPP);
		} else {
			struct blkif_response r;

			memcpy(&r, slot, sizeof(r));
			assert_true(r.id == 0x0102030405060708ull);
			assert_int_equal(r.operation, BLKIF_OP_WRITE);
			assert_int_equal(r.status, BLKIF_RSP_EOPNOTSUPP);
		}
		/* padding (byte 9) and everything after the status keep the guest's bytes */
		assert_int_equal(slot[9], 0xee);
		for (size_t i = 12; i < sizeof(slot); i++)
			assert_int_equal(slot[i], 0xee);
	}
}

static void responses_read_each_abi(void **state)
{
	uint8_t raw[16] __attribute__((aligned(8)));
	struct blkif_response rsp;
	uint64_t id = 0x1122334455667788ull;
	int16_t st = BLKIF_RSP_EOPNOTSUPP;
	enum blkif_abi abi;

	FOR_EACH_ABI
	{
		memset(raw, 0, sizeof(raw));
		memcpy(raw, &id, 8);
		raw[8] = BLKIF_OP_DISCARD;
		memcpy(raw + 10, &st, 2); /* status at byte 10 in every ABI */
		blkif_abi_read_response(abi, raw, &rsp);
		assert_true(rsp.id == id);
		assert_int_equal(rsp.operation, BLKIF_OP_DISCARD);
		assert_int_equal(rsp.status, BLKIF_RSP_EOPNOTSUPP);
	}
}

/* Both ends through Xen's own ring.h macros, whose barriers this header supplies. */
static void ring_h_macros_carry_a_request_and_its_response(void **state)
{
	static uint8_t page[4096] __attribute__((aligned(4096)));
	uint8_t copy[BLKIF_REQ_COPY_SIZE] __attribute__((aligned(8)));
	enum blkif_abi abi;

	FOR_EACH_ABI
	{
		struct blkif_sring *s = (struct blkif_sring *)page;
		blkif_front_ring_t front;
		blkif_back_ring_t back;
		size_t es = blkif_abi_entry_size(abi);
		unsigned int n = blkif_ring_entries(abi, 1);
		struct blkif_abi_req in = { .id = 42, .operation = BLKIF_OP_FLUSH_DISKCACHE }, out;
		struct blkif_response rsp;
		int notify, more;

		memset(page, 0, sizeof(page));
		SHARED_RING_INIT(s);
		FRONT_RING_INIT(&front, s, sizeof(page));
		front.nr_ents = n;
		BACK_RING_INIT(&back, s, sizeof(page));
		back.nr_ents = n;

		blkif_abi_write_request(
			abi, blkif_ring_slot(blkif_sring_entries(s), es, n, front.req_prod_pvt),
			&in);
		front.req_prod_pvt++;
		RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&front, notify);
		assert_true(notify);

		RING_FINAL_CHECK_FOR_REQUESTS(&back, more);
		assert_true(more);
		blkif_abi_copy_request(
			abi, blkif_ring_slot(blkif_sring_entries(s), es, n, back.req_cons++), copy);
		blkif_abi_unpack_request(abi, copy, &out);
		assert_true(out.id == 42);
		assert_int_equal(out.operation, BLKIF_OP_FLUSH_DISKCACHE);
		RING_FINAL_CHECK_FOR_REQUESTS(&back, more);
		assert_false(more);

		blkif_abi_write_response(
			abi, blkif_ring_slot(blkif_sring_entries(s), es, n, back.rsp_prod_pvt++),
			out.id, out.operation, BLKIF_RSP_OKAY);
		RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&back, notify);
		assert_true(notify);
		assert_true(RING_HAS_UNCONSUMED_RESPONSES(&front));
		blkif_abi_read_response(
			abi, blkif_ring_slot(blkif_sring_entries(s), es, n, front.rsp_cons++),
			&rsp);
		assert_true(rsp.id == 42);
		assert_int_equal(rsp.operation, BLKIF_OP_FLUSH_DISKCACHE);
		assert_int_equal(rsp.status, BLKIF_RSP_OKAY);
	}
}

static void protocol_names_parse(void **state)
{
	enum blkif_abi abi = BLKIF_ABI_X86_32;

	assert_int_equal(blkif_abi_from_protocol(NULL, &abi), 0);
	assert_int_equal(abi, BLKIF_ABI_NATIVE);
	assert_int_equal(blkif_abi_from_protocol("x86_32-abi", &abi), 0);
	assert_int_equal(abi, BLKIF_ABI_X86_32);
	assert_int_equal(blkif_abi_from_protocol("x86_64-abi", &abi), 0);
	assert_int_equal(abi, BLKIF_ABI_NATIVE);
	assert_int_equal(blkif_abi_from_protocol("arm-abi", &abi), -EINVAL);
	assert_int_equal(blkif_abi_from_protocol("x86_32-abi-and-more", &abi), -EINVAL);
	assert_string_equal(blkif_abi_name(BLKIF_ABI_X86_32), "x86_32-abi");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(x86_32_request_is_xen_i386_layout),
		cmocka_unit_test(x86_64_request_is_xen_x86_64_layout),
		cmocka_unit_test(responses_and_slots_are_xen_layouts),
		cmocka_unit_test(native_is_xen_header_here),
		cmocka_unit_test(ring_geometry_for_1_to_16_pages),
		cmocka_unit_test(ring_slots_wrap_after_the_header),
		cmocka_unit_test(rw_round_trip_each_abi),
		cmocka_unit_test(indirect_round_trip_each_abi),
		cmocka_unit_test(discard_round_trip_each_abi),
		cmocka_unit_test(unvalidated_fields_are_carried),
		cmocka_unit_test(copy_takes_exactly_one_slot),
		cmocka_unit_test(response_written_field_by_field),
		cmocka_unit_test(responses_read_each_abi),
		cmocka_unit_test(ring_h_macros_carry_a_request_and_its_response),
		cmocka_unit_test(protocol_names_parse),
	};
	return cmocka_run_group_tests_name("blkif_abi", tests, NULL, NULL);
}
