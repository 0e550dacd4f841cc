# tapdisk, the per-VBD daemon.
$(eval $(call program,tapdisk,src/tapdisk.c,rtutil))
