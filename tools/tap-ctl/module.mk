# tap-ctl, the toolstack's command line for tapdisk; and ctl-fake-tapdisk, a test server that
# speaks the control protocol over an in-memory VBD model so tap-ctl is tested end to end.
TAPCTL_SRCS := tools/tap-ctl/tap-ctl.c tools/tap-ctl/list.c tools/tap-ctl/minors.c \
	tools/tap-ctl/vbd.c tools/tap-ctl/lifecycle.c tools/tap-ctl/log_level.c
$(eval $(call program,tap-ctl,$(TAPCTL_SRCS),rtctl rtutil,$(LIBS_JANSSON)))
MAN_PAGES += man/tap-ctl.8

$(eval $(call test_program,ctl-fake-tapdisk,tests/progs/ctl-fake-tapdisk.c,rtctl rtutil,$(LIBS_JANSSON)))
