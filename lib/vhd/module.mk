# librtvhd: the VHD format library shared by the vhd image driver and vhd-util.
RTVHD_SRCS := $(addprefix lib/vhd/,bat.c bitmap.c blockio.c canonpath.c chain.c check.c \
	checksum.c create.c file.c footer.c geometry.c header.c ids.c io.c layout.c locator.c \
	parent.c resize.c validate.c)
$(eval $(call static_lib,rtvhd,$(RTVHD_SRCS)))

# Tests: cmocka units for the pure logic and validation; vhd-io writes/reads images for the
# system tests (tests/system/vhd-*.sh).
$(eval $(call test_program,vhd-io,tests/unit/lib/vhd/vhd-io.c,rtvhd))
$(eval $(call unit_test,test_vhd_format,tests/unit/lib/vhd/test_vhd_format.c,rtvhd))
$(eval $(call unit_test,test_vhd_bits,tests/unit/lib/vhd/test_vhd_bits.c,rtvhd))
$(eval $(call unit_test,test_vhd_locator,tests/unit/lib/vhd/test_vhd_locator.c,rtvhd))
$(eval $(call unit_test,test_vhd_open,tests/unit/lib/vhd/test_vhd_open.c,rtvhd))
