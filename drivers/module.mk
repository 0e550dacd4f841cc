# Image drivers: one ops table per file (vhd_*.c are the vhd driver's parts); registry.c is the
# table of tables. librtvhd's objects are archived here too, so that every program linking the
# drivers gets them without listing rtvhd after tddrivers.
$(eval $(call static_lib,tddrivers,drivers/registry.c drivers/image_lock.c drivers/aio_ring.c drivers/aio.c drivers/null.c drivers/vhd.c drivers/vhd_aio.c drivers/vhd_bcache.c drivers/vhd_meta.c $(sort $(wildcard lib/vhd/*.c))))
