# Unit tests of the image drivers (null, and aio on a file in /tmp).
$(eval $(call unit_test,test_drivers,tests/unit/drivers/test_drivers.c,tdcore tddrivers rtvhd rtnbd rtutil,$(TD_DRIVERS_LDLIBS)))
# The I/O engine under the aio and vhd drivers: on a real file, and with a backend of its own.
$(eval $(call unit_test,test_engine,tests/unit/drivers/test_engine.c,tddrivers tdcore rtutil,$(TD_DRIVERS_LDLIBS)))
# The rbd driver's open string (built with or without librbd).
$(eval $(call unit_test,test_rbd_path,tests/unit/drivers/test_rbd_path.c,tddrivers,))
