# Image drivers: one ops table per file; registry.c is the table of tables.
$(eval $(call static_lib,tddrivers,drivers/registry.c drivers/aio.c drivers/null.c))
