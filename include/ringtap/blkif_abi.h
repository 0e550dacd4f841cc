/* The blkif ring ABI shared by tapdisk (backend) and libblkfront (frontend): the three slot
 * layouts (native, x86_32, x86_64; cf. Linux blkback's common.h), the ring's geometry, the
 * barriers Xen's io/ring.h macros expand to, and the helpers that copy requests and responses in
 * and out of ring slots. Native is the layout of <xen/io/blkif.h>. What a backend accepts (the
 * validation of guest input) is not here: that is the backend's policy. */
#ifndef RINGTAP_BLKIF_ABI_H
#define RINGTAP_BLKIF_ABI_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <xen/xen.h>
#include <xen/grant_table.h>
#include <xen/io/ring.h>
#include <xen/io/blkif.h>
#include <xen/io/protocols.h>

enum blkif_abi {
	BLKIF_ABI_NATIVE = 0,
	BLKIF_ABI_X86_32,
	BLKIF_ABI_X86_64,
};

/* x86_32: 8-byte fields are 4-byte aligned (i386). The members follow a 1-byte `operation`, so
 * they are packed with explicit padding; the whole request is 4-byte aligned (108 bytes). */
struct blkif_x86_32_request_rw {
	uint8_t nr_segments;
	blkif_vdev_t handle;
	uint64_t id;
	blkif_sector_t sector_number;
	struct blkif_request_segment seg[BLKIF_MAX_SEGMENTS_PER_REQUEST];
} __attribute__((__packed__));

struct blkif_x86_32_request_discard {
	uint8_t flag;
	blkif_vdev_t handle;
	uint64_t id;
	blkif_sector_t sector_number;
	uint64_t nr_sectors;
} __attribute__((__packed__));

struct blkif_x86_32_request_other {
	uint8_t _pad1;
	blkif_vdev_t _pad2;
	uint64_t id;
} __attribute__((__packed__));

struct blkif_x86_32_request_indirect {
	uint8_t indirect_op;
	uint16_t nr_segments;
	uint64_t id;
	blkif_sector_t sector_number;
	blkif_vdev_t handle;
	uint16_t _pad1;
	grant_ref_t indirect_grefs[BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST];
	uint64_t _pad2; /* i386 pads the indirect request to 64 bytes */
} __attribute__((__packed__));

struct blkif_x86_32_request {
	uint8_t operation;
	union {
		struct blkif_x86_32_request_rw rw;
		struct blkif_x86_32_request_discard discard;
		struct blkif_x86_32_request_other other;
		struct blkif_x86_32_request_indirect indirect;
	} u;
} __attribute__((__packed__, __aligned__(4)));

#pragma pack(push, 4)
struct blkif_x86_32_response {
	uint64_t id;
	uint8_t operation;
	int16_t status;
};
#pragma pack(pop)

/* x86_64: 64-bit fields are naturally aligned. */
struct blkif_x86_64_request_rw {
	uint8_t nr_segments;
	blkif_vdev_t handle;
	uint32_t _pad1;
	uint64_t id;
	blkif_sector_t sector_number;
	struct blkif_request_segment seg[BLKIF_MAX_SEGMENTS_PER_REQUEST];
} __attribute__((__packed__));

struct blkif_x86_64_request_discard {
	uint8_t flag;
	blkif_vdev_t handle;
	uint32_t _pad1;
	uint64_t id;
	blkif_sector_t sector_number;
	uint64_t nr_sectors;
} __attribute__((__packed__));

struct blkif_x86_64_request_other {
	uint8_t _pad1;
	blkif_vdev_t _pad2;
	uint32_t _pad3;
	uint64_t id;
} __attribute__((__packed__));

struct blkif_x86_64_request_indirect {
	uint8_t indirect_op;
	uint16_t nr_segments;
	uint32_t _pad1;
	uint64_t id;
	blkif_sector_t sector_number;
	blkif_vdev_t handle;
	uint16_t _pad2;
	grant_ref_t indirect_grefs[BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST];
	uint32_t _pad3;
} __attribute__((__packed__));

struct blkif_x86_64_request {
	uint8_t operation;
	union {
		struct blkif_x86_64_request_rw rw;
		struct blkif_x86_64_request_discard discard;
		struct blkif_x86_64_request_other other;
		struct blkif_x86_64_request_indirect indirect;
	} u;
} __attribute__((__packed__, __aligned__(8)));

struct blkif_x86_64_response {
	uint64_t id;
	uint8_t operation;
	int16_t status;
};

DEFINE_RING_TYPES(blkif_x86_32, struct blkif_x86_32_request, struct blkif_x86_32_response);
DEFINE_RING_TYPES(blkif_x86_64, struct blkif_x86_64_request, struct blkif_x86_64_response);

/* ---- barriers ---------------------------------------------------------------------------- */

/* Ordering of the shared ring's indexes against its slots, for both ends. x86 needs a fence only
 * for the full barrier (store-load); acquire/release keep the compiler from reordering. */
static inline void blkif_mb(void)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

static inline void blkif_rmb(void)
{
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
}

static inline void blkif_wmb(void)
{
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

/* io/ring.h's RING_PUSH_* and RING_FINAL_CHECK_* call xen_mb() & co., which it spells mb(),
 * rmb() and wmb() and leaves to its user (from interface 0x00030208 on, xen_mb() & co. too); an
 * includer that has its own keeps them. */
#ifndef mb
#define mb() blkif_mb()
#endif
#ifndef rmb
#define rmb() blkif_rmb()
#endif
#ifndef wmb
#define wmb() blkif_wmb()
#endif
#ifndef xen_mb
#define xen_mb() mb()
#define xen_rmb() rmb()
#define xen_wmb() wmb()
#endif

/* ---- ring geometry ----------------------------------------------------------------------- */

/* Ring pages are Xen pages; `ring-page-order` 0..4 gives 1..16 of them. */
#define BLKIF_RING_PAGE_SIZE 4096u
#define BLKIF_MAX_RING_ORDER 4u
#define BLKIF_MAX_RING_PAGES (1u << BLKIF_MAX_RING_ORDER)
/* The shared ring's header (req_prod, req_event, rsp_prod, rsp_event, padding): the slots start
 * here in every ABI. */
#define BLKIF_SRING_HEADER offsetof(struct blkif_sring, ring)
/* The largest request slot of the three ABIs (native/x86_64: 112 bytes, x86_32: 108): what a
 * private copy of a request needs. */
#define BLKIF_REQ_COPY_SIZE 112u

/* sizeof the ABI's `kind blkif_<abi>_name`, the native ABI's being `kind blkif_name`. */
#define BLKIF_ABI_SIZEOF(abi, kind, name)                                                          \
	((abi) == BLKIF_ABI_X86_32 ? sizeof(kind blkif_x86_32_##name) :                            \
	 (abi) == BLKIF_ABI_X86_64 ? sizeof(kind blkif_x86_64_##name) :                            \
				     sizeof(kind blkif_##name))

static inline size_t blkif_abi_request_size(enum blkif_abi abi)
{
	return BLKIF_ABI_SIZEOF(abi, struct, request);
}

static inline size_t blkif_abi_response_size(enum blkif_abi abi)
{
	return BLKIF_ABI_SIZEOF(abi, struct, response);
}

/* A ring slot holds a request or its response: the larger of the two. */
static inline size_t blkif_abi_entry_size(enum blkif_abi abi)
{
	return BLKIF_ABI_SIZEOF(abi, union, sring_entry);
}

/* Slots in a ring of nr_pages pages: io/ring.h's __CONST_RING_SIZE, (size - header) / entry
 * rounded down to a power of two. 0 for nr_pages 0. */
unsigned int blkif_ring_entries(enum blkif_abi abi, unsigned int nr_pages);

/* The first slot of a shared ring mapped at `sring`. */
static inline void *blkif_sring_entries(void *sring)
{
	return (uint8_t *)sring + BLKIF_SRING_HEADER;
}

/* The slot of index idx in a ring of nr_ents (a power of two) slots of entry_size bytes. */
static inline void *blkif_ring_slot(void *entries, size_t entry_size, unsigned int nr_ents,
				    RING_IDX idx)
{
	return (uint8_t *)entries + (size_t)(idx & (nr_ents - 1)) * entry_size;
}

/* ---- requests ---------------------------------------------------------------------------- */

/* One request of any ABI, unpacked (and not validated). seg and indirect_grefs point to arrays:
 * as unpacked by the backend, into its private copy of the slot, nr_refs (11 or 8) entries;
 * to be written by the frontend, the first nr_refs entries are written (at most 11 / 8). */
struct blkif_abi_req {
	uint64_t id;
	blkif_sector_t sector_number;
	uint64_t nr_sectors; /* BLKIF_OP_DISCARD */
	uint8_t operation;
	uint8_t indirect_op; /* BLKIF_OP_INDIRECT */
	uint8_t discard_flag; /* BLKIF_OP_DISCARD */
	uint16_t nr_segments; /* a direct request's is 8 bits on the ring, an indirect one's 16 */
	blkif_vdev_t handle;
	const struct blkif_request_segment *seg; /* READ, WRITE, WRITE_BARRIER, FLUSH_DISKCACHE */
	const grant_ref_t *indirect_grefs; /* BLKIF_OP_INDIRECT */
	unsigned int nr_refs;
};

/* Backend: copies one request slot out of guest memory with volatile reads, so that every later
 * decision is taken on this copy (XSA-155); copy holds BLKIF_REQ_COPY_SIZE bytes, 8-aligned. */
static inline void blkif_abi_copy_request(enum blkif_abi abi, const volatile void *slot, void *copy)
{
	const volatile uint32_t *src = slot;
	uint32_t *dst = copy;
	size_t i, n = blkif_abi_request_size(abi) / 4;

	/* Word by word through volatile: the compiler may neither re-read guest memory later nor
	 * merge these reads with later uses. Slots are 4-byte aligned in every ABI. Inlined, the
	 * copy must also see every store made to the slot before it, whatever their type (a test
	 * that builds the slot itself): the empty asm takes the slot and clobbers memory. */
	__asm__ volatile("" : : "r"(slot) : "memory");
	for (i = 0; i < n; i++)
		dst[i] = src[i];
	memset((uint8_t *)copy + n * 4, 0, BLKIF_REQ_COPY_SIZE - n * 4);
}

/* Backend: unpacks a private copy (blkif_abi_copy_request) of a request in the given ABI. */
void blkif_abi_unpack_request(enum blkif_abi abi, const void *copy, struct blkif_abi_req *req);

/* Frontend: writes req with the layout of the ABI into a slot: the whole slot, padding zeroed. A
 * direct request's nr_segments is truncated to its 8 bits, as the ring holds it. */
void blkif_abi_write_request(enum blkif_abi abi, void *slot, const struct blkif_abi_req *req);

/* ---- responses --------------------------------------------------------------------------- */

/* The three ABIs agree on a response's fields: id at 0 (4-byte aligned on x86_32), operation at
 * 8, status at 10; only the slot size differs. */
#define BLKIF_RSP_ID_OFFSET 0u
#define BLKIF_RSP_OPERATION_OFFSET 8u
#define BLKIF_RSP_STATUS_OFFSET 10u

/* Backend: writes a response into a slot field by field, never a struct copy, so that no backend
 * memory reaches the guest through padding (XSA-216). */
static inline void blkif_abi_write_response(enum blkif_abi abi, volatile void *slot, uint64_t id,
					    uint8_t operation, int16_t status)
{
	volatile uint8_t *p = slot;

	(void)abi;
	*(volatile uint32_t *)(p + BLKIF_RSP_ID_OFFSET) = (uint32_t)id;
	*(volatile uint32_t *)(p + BLKIF_RSP_ID_OFFSET + 4) = (uint32_t)(id >> 32);
	*(volatile uint8_t *)(p + BLKIF_RSP_OPERATION_OFFSET) = operation;
	*(volatile int16_t *)(p + BLKIF_RSP_STATUS_OFFSET) = status;
}

/* Frontend: reads a response out of its (shared) slot once, field by field: the backend may
 * rewrite the slot at any time, and the copy is what gets looked at. */
static inline void blkif_abi_read_response(enum blkif_abi abi, const volatile void *slot,
					   struct blkif_response *rsp)
{
	const volatile uint8_t *p = slot;
	uint32_t lo = *(const volatile uint32_t *)(p + BLKIF_RSP_ID_OFFSET);
	uint32_t hi = *(const volatile uint32_t *)(p + BLKIF_RSP_ID_OFFSET + 4);

	(void)abi;
	rsp->id = (uint64_t)hi << 32 | lo;
	rsp->operation = *(const volatile uint8_t *)(p + BLKIF_RSP_OPERATION_OFFSET);
	rsp->status = *(const volatile int16_t *)(p + BLKIF_RSP_STATUS_OFFSET);
}

/* ---- protocol names --------------------------------------------------------------------- */

/* Parses a frontend's `protocol` node; NULL or empty (absent) means the native ABI, as
 * blkif.h says and Linux blkback does. Returns 0 or -EINVAL for an unknown protocol. */
int blkif_abi_from_protocol(const char *protocol, enum blkif_abi *abi);
const char *blkif_abi_name(enum blkif_abi abi);

#endif
