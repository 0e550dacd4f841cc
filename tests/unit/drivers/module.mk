# Unit tests of the image drivers (null, and aio on a file in /tmp).
$(eval $(call unit_test,test_drivers,tests/unit/drivers/test_drivers.c,tdcore tddrivers rtvhd rtutil,$(LIBS_AIO)))
