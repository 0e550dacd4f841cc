# libblkfront: the guest side of the blkif protocol (xengntshr, xenevtchn, libxenstore), used by
# the fio engine and the hostile-frontend test program.
BLKFRONT_SRCS := lib/blkfront/abi.c lib/blkfront/request.c lib/blkfront/pool.c \
	lib/blkfront/xenbus.c lib/blkfront/blkfront.c
$(eval $(call static_lib,blkfront,$(BLKFRONT_SRCS)))
# Link line for programs using it: libblkfront, then what it needs.
BLKFRONT_LDLIBS = $(LIBS_XENGNTTAB) $(LIBS_XENEVTCHN) $(LIBS_XENSTORE)
# Its unit tests (tests/unit/lib/blkfront/; the Makefile reads module.mk three levels deep)
$(eval $(call unit_test,test_blkfront_abi,tests/unit/lib/blkfront/test_blkfront_abi.c,blkfront rtblkif rtutil,$(BLKFRONT_LDLIBS)))
$(eval $(call unit_test,test_blkfront_request,tests/unit/lib/blkfront/test_blkfront_request.c,blkfront rtblkif rtutil,$(BLKFRONT_LDLIBS)))
$(eval $(call unit_test,test_blkfront_pool,tests/unit/lib/blkfront/test_blkfront_pool.c,blkfront rtblkif rtutil,$(BLKFRONT_LDLIBS)))
# hostile-front: a guest writing malformed requests into the ring (system tests of the backend)
$(eval $(call test_program,hostile-front,tests/progs/lib/blkfront/hostile_front.c,blkfront rtblkif rtutil,$(BLKFRONT_LDLIBS)))
# blkfront-io: a guest doing I/O from the command line (system tests compare with image bytes)
$(eval $(call test_program,blkfront-io,tests/progs/lib/blkfront/blkfront_io.c,blkfront rtblkif rtutil,$(BLKFRONT_LDLIBS)))
# blkfront-reopen: a guest closing and reopening its disk in a loop (tapback's reopen test)
$(eval $(call test_program,blkfront-reopen,tests/progs/lib/blkfront/blkfront_reopen.c,blkfront rtblkif rtutil,$(BLKFRONT_LDLIBS)))
