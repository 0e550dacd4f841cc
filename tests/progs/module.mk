# poll-gaps: a guest doing QD1 reads with random pauses, awaited by event (adaptive polling's
# no-lost-wake-up, notification and idle tests)
$(eval $(call test_program,poll-gaps,tests/progs/poll-gaps.c,blkfront rtblkif rtutil,\
	$(LIBS_XENGNTTAB) $(LIBS_XENEVTCHN) $(LIBS_XENSTORE)))
# td-serve: one VBD served from command-line parameters (tests, benchmarks), on tapdisk's core
$(eval $(call test_program,td-serve,tests/progs/src/td_serve.c,$(TD_LIBS),$(TD_LDLIBS)))
# deny-io-uring: runs a program under a seccomp filter that refuses io_uring (the I/O engine's
# fallback to libaio)
$(eval $(call test_program,deny-io-uring,tests/progs/src/deny_io_uring.c))
