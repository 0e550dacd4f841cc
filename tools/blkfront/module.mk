# libblkfront: the guest side of the blkif protocol (xengntshr, xenevtchn, libxenstore), used by
# the fio engine and the hostile-frontend test program.
BLKFRONT_SRCS := tools/blkfront/abi.c tools/blkfront/request.c tools/blkfront/pool.c \
	tools/blkfront/xenbus.c tools/blkfront/blkfront.c
$(eval $(call static_lib,blkfront,$(BLKFRONT_SRCS)))
# Link line for programs using it: libblkfront, then what it needs.
BLKFRONT_LDLIBS = $(LIBS_XENGNTTAB) $(LIBS_XENEVTCHN) $(LIBS_XENSTORE)
# Its unit tests (tests/unit/tools/blkfront/; the Makefile reads module.mk three levels deep)
$(eval $(call unit_test,test_blkfront_abi,tests/unit/tools/blkfront/test_blkfront_abi.c,blkfront rtblkif rtutil,$(BLKFRONT_LDLIBS)))
$(eval $(call unit_test,test_blkfront_request,tests/unit/tools/blkfront/test_blkfront_request.c,blkfront rtblkif rtutil,$(BLKFRONT_LDLIBS)))
$(eval $(call unit_test,test_blkfront_pool,tests/unit/tools/blkfront/test_blkfront_pool.c,blkfront rtblkif rtutil,$(BLKFRONT_LDLIBS)))
# hostile-front: a guest writing malformed requests into the ring (system tests of the backend)
$(eval $(call test_program,hostile-front,tools/blkfront/tests/hostile_front.c,blkfront rtblkif rtutil,$(BLKFRONT_LDLIBS)))
# blkfront-io: a guest doing I/O from the command line (system tests compare with image bytes)
$(eval $(call test_program,blkfront-io,tools/blkfront/tests/blkfront_io.c,blkfront rtblkif rtutil,$(BLKFRONT_LDLIBS)))
# blkfront-reopen: a guest closing and reopening its disk in a loop (tapback's reopen test)
$(eval $(call test_program,blkfront-reopen,tools/blkfront/tests/blkfront_reopen.c,blkfront rtblkif rtutil,$(BLKFRONT_LDLIBS)))
