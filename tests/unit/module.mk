# Unit tests (cmocka) of pure logic; one binary per concept.
$(eval $(call unit_test,test_blkif_abi,tests/unit/test_blkif_abi.c,rtblkif))
