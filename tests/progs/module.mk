# poll-gaps: a guest doing QD1 reads with random pauses, awaited by event (adaptive polling's
# no-lost-wake-up, notification and idle tests)
$(eval $(call test_program,poll-gaps,tests/progs/poll-gaps.c,blkfront rtblkif rtutil,\
	$(LIBS_XENGNTTAB) $(LIBS_XENEVTCHN) $(LIBS_XENSTORE)))
