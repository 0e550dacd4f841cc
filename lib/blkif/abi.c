/* Names of the blkif ring ABIs and the frontend `protocol` node that selects one. */
#include <errno.h>
#include <string.h>

#include "ringtap/blkif_abi.h"

/* blkif.h: an absent `protocol` node means the native ABI; Linux blkback agrees (its default is
 * the backend's own architecture). */
int blkif_abi_from_protocol(const char *protocol, enum blkif_abi *abi)
{
	if (!protocol || !*protocol || !strcmp(protocol, XEN_IO_PROTO_ABI_NATIVE))
		*abi = BLKIF_ABI_NATIVE;
	else if (!strcmp(protocol, XEN_IO_PROTO_ABI_X86_32))
		*abi = BLKIF_ABI_X86_32;
	else if (!strcmp(protocol, XEN_IO_PROTO_ABI_X86_64))
		*abi = BLKIF_ABI_X86_64;
	else
		return -EINVAL;
	return 0;
}

const char *blkif_abi_name(enum blkif_abi abi)
{
	switch (abi) {
	case BLKIF_ABI_NATIVE:
		return XEN_IO_PROTO_ABI_NATIVE;
	case BLKIF_ABI_X86_32:
		return XEN_IO_PROTO_ABI_X86_32;
	case BLKIF_ABI_X86_64:
		return XEN_IO_PROTO_ABI_X86_64;
	}
	return "unknown";
}
