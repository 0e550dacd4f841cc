# td-util: blktap's tapdisk utility as XAPI's file-based SRs (FileSR, EXT, NFS) run it; the VHD
# work is vhd-util's own sub-command code, linked in.
TD_UTIL_SRCS := tools/td-util/td-util.c $(addprefix tools/vhd-util/,cli.c create.c query.c \
	modify.c)
$(eval $(call program,td-util,$(TD_UTIL_SRCS),rtvhd rtutil))
MAN_PAGES += man/td-util.8
