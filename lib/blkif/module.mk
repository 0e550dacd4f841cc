# The blkif ring ABI shared by tapdisk and libblkfront: slot layouts, ring geometry, barriers,
# copy helpers (include/ringtap/blkif_abi.h), and the protocol names.
RTBLKIF_SRCS := lib/blkif/abi.c lib/blkif/ring.c lib/blkif/request.c
$(eval $(call static_lib,rtblkif,$(RTBLKIF_SRCS)))
# Its unit test (tests/unit/lib/blkif/; the Makefile reads module.mk three levels deep) checks the
# layouts against Xen's own blkif.h as the compiler lays it out for i386 and x86_64: the header
# blkif_layout.h generated from blkif_layout.c (freestanding assembly, no 32-bit libc needed;
# where the compiler cannot target both, the test says so and skips that check).
BLKIF_LAYOUT_H := $(BUILD)/gen/tests/unit/lib/blkif/blkif_layout.h
BLKIF_LAYOUT_DEFS = sed -n 's/.*->\([A-Z0-9_]*\) \([0-9][0-9]*\).*/\#define XEN_$(1)_\1 \2/p' $(2)
$(BLKIF_LAYOUT_H): tests/unit/lib/blkif/blkif_layout.c
	@mkdir -p $(@D)
	@if $(CC) -m32 -ffreestanding -S -o $@.32.s $< && \
	    $(CC) -m64 -ffreestanding -S -o $@.64.s $<; then \
		{ $(call BLKIF_LAYOUT_DEFS,I386,$@.32.s); \
		  $(call BLKIF_LAYOUT_DEFS,X86_64,$@.64.s); } > $@.tmp; \
	else \
		echo '#define XEN_LAYOUT_UNAVAILABLE 1' > $@.tmp; \
	fi; rm -f $@.32.s $@.64.s; mv $@.tmp $@
$(call objs,tests/unit/lib/blkif/test_blkif_abi.c): $(BLKIF_LAYOUT_H)
$(call objs,tests/unit/lib/blkif/test_blkif_abi.c): CPPFLAGS += -I$(dir $(BLKIF_LAYOUT_H))
$(eval $(call unit_test,test_blkif_abi,tests/unit/lib/blkif/test_blkif_abi.c,rtblkif))
