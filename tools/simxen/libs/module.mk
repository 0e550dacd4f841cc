# simxen's replacements of Xen's libxengnttab.so.1 and libxenevtchn.so.1 (selected at run time
# with LD_LIBRARY_PATH), the simxenstate library for the simxen command, and their test programs.
SIMXEN_LIBS_DIR := tools/simxen/libs
SIMXEN_CORE_SRCS := $(addprefix $(SIMXEN_LIBS_DIR)/,host.c grant.c port.c)
SIMXEN_GNTTAB_SRCS := $(SIMXEN_CORE_SRCS) \
	$(addprefix $(SIMXEN_LIBS_DIR)/,handle.c owner.c gntdev.c gnttab.c gntshr.c)
SIMXEN_EVTCHN_SRCS := $(SIMXEN_CORE_SRCS) $(addprefix $(SIMXEN_LIBS_DIR)/,handle.c evtchn.c)
SIMXEN_STATE_SRCS := $(SIMXEN_CORE_SRCS) $(SIMXEN_LIBS_DIR)/state.c

SIMXEN_GNTTAB_MAP := $(SIMXEN_LIBS_DIR)/libxengnttab.map
SIMXEN_EVTCHN_MAP := $(SIMXEN_LIBS_DIR)/libxenevtchn.map
SIMXEN_SO_LIBS := -lxentoollog -pthread

$(eval $(call shared_lib,libxengnttab.so.1,$(SIMXEN_GNTTAB_SRCS),$(SIMXEN_GNTTAB_MAP),$(SIMXEN_SO_LIBS)))
$(eval $(call shared_lib,libxenevtchn.so.1,$(SIMXEN_EVTCHN_SRCS),$(SIMXEN_EVTCHN_MAP),$(SIMXEN_SO_LIBS)))
$(eval $(call static_lib,simxenstate,$(SIMXEN_STATE_SRCS)))

# Loaded into programs built without sanitizers (fio), so never sanitized themselves.
SIMXEN_ALL_SRCS := $(sort $(SIMXEN_GNTTAB_SRCS) $(SIMXEN_EVTCHN_SRCS) $(SIMXEN_STATE_SRCS))
SIMXEN_SHARED_LIBS := $(BUILD)/lib/libxengnttab.so.1 $(BUILD)/lib/libxenevtchn.so.1
$(call no_sanitize,$(SIMXEN_ALL_SRCS),$(SIMXEN_SHARED_LIBS))

# Test programs: linked against Debian's libraries, run on simxen's (tests/system/simxen-*.sh).
SIMXEN_TEST_LIBS := $(LIBS_XENGNTTAB) $(LIBS_XENEVTCHN)
SIMXEN_GRANTS_TEST_SRCS := $(addprefix tests/progs/tools/simxen/libs/,grants-test.c peer.c)
SIMXEN_EVTCHN_TEST_SRCS := $(addprefix tests/progs/tools/simxen/libs/,evtchn-test.c peer.c)
$(eval $(call test_program,simxen-grants-test,$(SIMXEN_GRANTS_TEST_SRCS),simxenstate,$(SIMXEN_TEST_LIBS)))
$(eval $(call test_program,simxen-evtchn-test,$(SIMXEN_EVTCHN_TEST_SRCS),simxenstate,$(SIMXEN_TEST_LIBS)))
SIMXEN_GRANTS_DEATH_TEST_SRCS := $(addprefix tests/progs/tools/simxen/libs/,grants-death-test.c peer.c)
$(eval $(call test_program,simxen-grants-death-test,$(SIMXEN_GRANTS_DEATH_TEST_SRCS),,$(SIMXEN_TEST_LIBS)))
