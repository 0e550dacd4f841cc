# librtvhd: the VHD format library shared by the vhd image driver and vhd-util.
RTVHD_SRCS := $(addprefix lib/vhd/,bat.c bitmap.c blockio.c chain.c check.c checksum.c create.c \
	file.c footer.c geometry.c header.c ids.c io.c layout.c locator.c parent.c resize.c \
	validate.c)
$(eval $(call static_lib,rtvhd,$(RTVHD_SRCS)))
