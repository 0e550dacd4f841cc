# vhd-util: the offline VHD tool XAPI's storage manager calls.
VHD_UTIL_SRCS := $(addprefix tools/vhd-util/,main.c cli.c create.c query.c read.c scan.c \
	modify.c resize.c coalesce.c check.c fill.c)
$(eval $(call program,vhd-util,$(VHD_UTIL_SRCS),rtvhd rtutil))
BIN_PROGRAMS += $(BUILD)/bin/vhd-util # XAPI's storage manager runs /usr/bin/vhd-util
MAN_PAGES += man/vhd-util.8
