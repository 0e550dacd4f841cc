# The blkif ring ABIs, shared by tapdisk and libblkfront.
$(eval $(call static_lib,rtblkif,lib/blkif/abi.c))
