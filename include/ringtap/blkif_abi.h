/* The blkif ring's three ABIs (native, x86_32, x86_64): the request and response layouts a
 * backend must read when the frontend's `protocol` differs from its own (cf. Linux blkback's
 * common.h). Native is the layout of <xen/io/blkif.h>. */
#ifndef RINGTAP_BLKIF_ABI_H
#define RINGTAP_BLKIF_ABI_H

#include <stdint.h>
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

/* Parses a frontend's `protocol` node; NULL or empty (absent) means the native ABI, as
 * blkif.h says and Linux blkback does. Returns 0 or -EINVAL for an unknown protocol. */
int blkif_abi_from_protocol(const char *protocol, enum blkif_abi *abi);
const char *blkif_abi_name(enum blkif_abi abi);

#endif
