# The real Xen test (tests/xen/check-xen): Debian's Xen 4.17 hypervisor under qemu-system-x86_64,
# ringtap in a Linux dom0, a Linux domU's own xen-blkfront doing I/O through it. Minutes of
# emulation, so not part of `make check`: `make check-xen` (CI runs it last).
XEN_TEST_DEPS := $(addprefix $(BUILD)/bin/,tapdisk tap-ctl tapback vhd-util) \
	$(addprefix $(BUILD)/tests/bin/,td-serve vhd-io)

.PHONY: check-xen
check-xen: $(XEN_TEST_DEPS)
	@tools/install-deps
	@RINGTAP_BUILD=$(abspath $(BUILD)) tests/xen/check-xen
