# The control protocol between tapdisk and its clients (tap-ctl, tapback): one public header,
# include/ringtap/ctl.h. Its unit tests (sources in tests/unit/lib/ctl/) are declared here.
RTCTL_SRCS := lib/ctl/names.c lib/ctl/codec.c lib/ctl/server.c lib/ctl/client.c \
	lib/ctl/rundir.c lib/ctl/stale.c lib/ctl/daemonize.c
$(eval $(call static_lib,rtctl,$(RTCTL_SRCS)))

$(eval $(call unit_test,test_ctl_codec,tests/unit/lib/ctl/test_ctl_codec.c,rtctl rtutil,$(LIBS_JANSSON)))
$(eval $(call unit_test,test_ctl_server,tests/unit/lib/ctl/test_ctl_server.c,rtctl rtutil,$(LIBS_JANSSON)))
$(eval $(call unit_test,test_ctl_stale,tests/unit/lib/ctl/test_ctl_stale.c,rtctl rtutil,$(LIBS_JANSSON)))
