# The NBD server tapdisk embeds to export each VBD and the client of its storage-migration mirror
# (one public header, include/ringtap/nbd.h),
# its unit tests (tests/unit/lib/nbd/) and nbd-file-server, a test program serving a plain file
# through the library on tapdisk's event loop.
RTNBD_SRCS := lib/nbd/codec.c lib/nbd/server.c lib/nbd/handshake.c lib/nbd/transmission.c \
	lib/nbd/client.c
$(eval $(call static_lib,rtnbd,$(RTNBD_SRCS)))

$(eval $(call unit_test,test_nbd_codec,tests/unit/lib/nbd/test_nbd_codec.c,rtnbd rtutil))
$(eval $(call test_program,nbd-file-server,tests/progs/nbd-file-server.c,rtnbd tdcore rtutil))
$(eval $(call unit_test,test_nbd_server,tests/unit/lib/nbd/test_nbd_server.c,rtnbd rtutil))
$(eval $(call unit_test,test_nbd_client,tests/unit/lib/nbd/test_nbd_client.c,rtnbd rtutil))
