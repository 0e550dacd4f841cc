# cbt-util: blktap's changed-block-tracking log utility as XAPI's storage manager runs it
# (/usr/sbin/cbt-util); the format is lib/cbt's.
$(eval $(call program,cbt-util,tools/cbt-util/cbt-util.c,rtcbt rtutil,$(LIBS_UUID)))
MAN_PAGES += man/cbt-util.8
