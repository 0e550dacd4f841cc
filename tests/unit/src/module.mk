# Unit tests of tapdisk's core: request decoding/validation per ABI, responses, the
# persistent-grant cache, the event loop, the VBD state machine, the host-wide config file.
$(eval $(call unit_test,test_blkif_req,tests/unit/src/test_blkif_req.c,tdcore rtblkif))
$(eval $(call unit_test,test_pgrant,tests/unit/src/test_pgrant.c,tdcore))
$(eval $(call unit_test,test_loop,tests/unit/src/test_loop.c,tdcore))
$(eval $(call unit_test,test_vbd_state,tests/unit/src/test_vbd_state.c,tdcore))
$(eval $(call unit_test,test_host_config,tests/unit/src/test_host_config.c src/host_config.c,rtpoll rtutil))
$(eval $(call unit_test,test_cbt_log,tests/unit/src/test_cbt_log.c,tdcore rtcbt rtutil))
