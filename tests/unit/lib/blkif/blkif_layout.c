/* Xen's own <xen/io/blkif.h>, laid out by the compiler for i386 (-m32) and x86_64 (-m64): the
 * reference that test_blkif_abi.c checks ringtap's x86_32 and x86_64 layouts against. Compiled
 * freestanding to assembly only (no 32-bit libc needed); each constant becomes a line
 * `->NAME VALUE` that lib/blkif/module.mk turns into a #define, as Linux's asm-offsets does. */
#include <stddef.h>
#include <stdint.h>
#include <xen/io/blkif.h>

#define DEFINE(sym, val) __asm__ volatile("\n.ascii \"->" #sym " %c0\"" : : "i"(val))
#define OFF(sym, type, member) DEFINE(sym, offsetof(type, member))
#define RING(n) DEFINE(RING_##n, __CONST_RING_SIZE(blkif, (n)*4096))

void blkif_layout(void);

void blkif_layout(void)
{
	DEFINE(REQ_SIZE, sizeof(struct blkif_request));
	OFF(REQ_OPERATION, struct blkif_request, operation);
	OFF(REQ_NR_SEGMENTS, struct blkif_request, nr_segments);
	OFF(REQ_HANDLE, struct blkif_request, handle);
	OFF(REQ_ID, struct blkif_request, id);
	OFF(REQ_SECTOR_NUMBER, struct blkif_request, sector_number);
	OFF(REQ_SEG, struct blkif_request, seg);

	DEFINE(DISCARD_SIZE, sizeof(struct blkif_request_discard));
	OFF(DISCARD_FLAG, struct blkif_request_discard, flag);
	OFF(DISCARD_HANDLE, struct blkif_request_discard, handle);
	OFF(DISCARD_ID, struct blkif_request_discard, id);
	OFF(DISCARD_SECTOR_NUMBER, struct blkif_request_discard, sector_number);
	OFF(DISCARD_NR_SECTORS, struct blkif_request_discard, nr_sectors);

	DEFINE(INDIRECT_SIZE, sizeof(struct blkif_request_indirect));
	OFF(INDIRECT_INDIRECT_OP, struct blkif_request_indirect, indirect_op);
	OFF(INDIRECT_NR_SEGMENTS, struct blkif_request_indirect, nr_segments);
	OFF(INDIRECT_ID, struct blkif_request_indirect, id);
	OFF(INDIRECT_SECTOR_NUMBER, struct blkif_request_indirect, sector_number);
	OFF(INDIRECT_HANDLE, struct blkif_request_indirect, handle);
	OFF(INDIRECT_INDIRECT_GREFS, struct blkif_request_indirect, indirect_grefs);

	DEFINE(RSP_SIZE, sizeof(struct blkif_response));
	OFF(RSP_ID, struct blkif_response, id);
	OFF(RSP_OPERATION, struct blkif_response, operation);
	OFF(RSP_STATUS, struct blkif_response, status);

	DEFINE(ENTRY_SIZE, sizeof(union blkif_sring_entry));
	OFF(SRING_HEADER, struct blkif_sring, ring);
	RING(1);
	RING(2);
	RING(3);
	RING(4);
	RING(5);
	RING(6);
	RING(7);
	RING(8);
	RING(9);
	RING(10);
	RING(11);
	RING(12);
	RING(13);
	RING(14);
	RING(15);
	RING(16);
}
