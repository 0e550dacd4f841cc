# Image drivers: one ops table per file (vhd_*.c are the vhd driver's parts); registry.c is the
# table of tables; engine*.c the I/O engine the file-backed drivers share (engine.h). The vhd
# driver needs librtvhd: programs list rtvhd after tddrivers.
TD_DRIVERS_SRCS := drivers/registry.c drivers/image_lock.c drivers/engine.c drivers/engine_aio.c \
	drivers/aio_ring.c drivers/aio.c drivers/null.c drivers/vhd.c drivers/vhd_bcache.c \
	drivers/vhd_meta.c
# the nbd: driver (a remote NBD export) on tapdisk's NBD client (src/nbd_client.c in tdcore,
# lib/nbd): programs list rtnbd, and TD_DRIVERS_LDLIBS scans tdcore again after tddrivers
TD_DRIVERS_SRCS += drivers/nbd.c
# the io_uring backend when configure found liburing
ifeq ($(HAVE_LIBURING),yes)
TD_DRIVERS_SRCS += drivers/engine_uring.c
endif
# the rbd driver when configure found librbd (else rbd_none.c refuses rbd: saying why)
TD_DRIVERS_SRCS += drivers/rbd_path.c
ifeq ($(HAVE_LIBRBD),yes)
TD_DRIVERS_SRCS += drivers/rbd.c
else
TD_DRIVERS_SRCS += drivers/rbd_none.c
endif
# what a program linking tddrivers links too
TD_DRIVERS_LDLIBS = $(BUILD)/lib/libtdcore.a $(BUILD)/lib/librtnbd.a $(BUILD)/lib/librtutil.a \
	$(LIBS_AIO) $(LIBS_URING) $(LIBS_RBD)
$(eval $(call static_lib,tddrivers,$(TD_DRIVERS_SRCS)))
