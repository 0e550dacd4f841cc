# librtcbt: blktap's changed-block-tracking log format, shared by tapdisk and cbt-util.
$(eval $(call static_lib,rtcbt,lib/cbt/format.c lib/cbt/file.c))
$(eval $(call unit_test,test_cbt_format,tests/unit/lib/cbt/test_cbt_format.c,rtcbt))
