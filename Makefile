# ringtap — hand-written, non-recursive Makefile.
#
# Every directory with code has a module.mk fragment that declares what it builds with the
# macros below (program, static_lib, shared_lib, unit_test); this file only knows those macros.
#
#   make                 build everything into build/
#   make check           build, then run unit and system tests (tests/run)
#   make check SANITIZE=1  the same with ASan+UBSan, into build-san/
#   make soak            the VHD crash test through SOAK_KILLS (default 1000) SIGKILLs (long)
#   make check-busy      make check beside one CPU hog per core (HOGS=N to choose)
#   make demo            the main job: a simulated host, a guest disk, I/O
#   make check-xen       a Linux guest's own blkfront through ringtap under Debian's Xen (qemu)
#   make fuzz            libFuzzer harnesses, FUZZ_TIME s each (default 60; docs/FUZZING.md)
#   make fuzz-long       the same, an hour each
#   make programs        only what `make install` installs (the packages build this)
#   make install [DESTDIR=… PREFIX=/usr]   blktap's paths (README, "Installing"); make uninstall
#   make deb, make rpm   the Debian packages and the RPM, into build/packages/ (README)

.DEFAULT_GOAL := all
SHELL := /bin/bash

ifeq ($(SANITIZE),1)
BUILD ?= build-san
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
BUILD ?= build
SAN_FLAGS :=
endif

# ---- configuration: installs missing packages, runs autoconf + configure once ----------------
CONFIG_INPUTS := VERSION configure.ac config.mk.in tools/install-deps
# Package builds set INSTALL_DEPS=true: their build dependencies are declared, never installed
INSTALL_DEPS ?= tools/install-deps
config.mk config.h: $(CONFIG_INPUTS)
	@$(INSTALL_DEPS)
	@autoconf -f
	@autoheader -f
	@./configure -q
	@touch config.mk config.h

ifeq ($(filter clean distclean help,$(MAKECMDGOALS)),)
-include config.mk
endif

PREFIX ?= $(if $(prefix),$(prefix),/usr/local)
SBINDIR ?= $(PREFIX)/sbin
BINDIR ?= $(PREFIX)/bin
LIBEXECDIR ?= $(PREFIX)/libexec
MANDIR ?= $(PREFIX)/share/man
UNITDIR ?= /lib/systemd/system

CC ?= gcc
OPT ?= -O2
WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 \
	-Wno-unused-parameter
CPPFLAGS_BASE := -D_GNU_SOURCE -I. -Iinclude -include config.h
CFLAGS_BASE = -std=c11 $(OPT) -g -fPIC $(WARN) $(SAN_FLAGS)
LDFLAGS_BASE = $(SAN_FLAGS) -pthread

# A module whose code is loaded into programs built without sanitizers (e.g. simxen's Xen library
# replacements, the fio engine) builds its objects with: $(call no_sanitize,SOURCES,OUTPUT)
no_sanitize = $(eval $(call objs,$(1)) $(2): SAN_FLAGS :=)

# ---- macros used by module.mk fragments ------------------------------------------------------
objs = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
libfiles = $(foreach l,$(1),$(BUILD)/lib/lib$(l).a)

# $(call program,NAME,SOURCES,STATIC-LIBS,LDLIBS): builds $(BUILD)/bin/NAME (installed in sbin)
define program
PROGRAMS += $(BUILD)/bin/$(1)
$(BUILD)/bin/$(1): $(call objs,$(2)) $(call libfiles,$(3))
	@mkdir -p $$(@D)
	$$(CC) $$(LDFLAGS_BASE) $$(LDFLAGS) -o $$@ $$^ $(4) $$(LDLIBS)
endef

# Where blktap installs a program elsewhere, its module.mk says so (README, "Installing"):
#   BIN_PROGRAMS += $(BUILD)/bin/NAME       in bin (vhd-util, tapback)
#   LIBEXEC_PROGRAMS += $(BUILD)/bin/NAME   in libexec (tapdisk, which only tap-ctl starts)

# $(call noinst_program,NAME,SOURCES,STATIC-LIBS,LDLIBS): like program, in $(BUILD)/bin, but not
# installed (simxen and other tools for tests, the demo and benchmarks)
define noinst_program
$(call program,$(1),$(2),$(3),$(4))
NOINST_PROGRAMS += $(BUILD)/bin/$(1)
endef

# $(call test_program,NAME,SOURCES,STATIC-LIBS,LDLIBS): a helper binary for tests (not installed)
define test_program
TEST_PROGRAMS += $(BUILD)/tests/bin/$(1)
$(BUILD)/tests/bin/$(1): $(call objs,$(2)) $(call libfiles,$(3))
	@mkdir -p $$(@D)
	$$(CC) $$(LDFLAGS_BASE) $$(LDFLAGS) -o $$@ $$^ $(4) $$(LDLIBS)
endef

# $(call static_lib,NAME,SOURCES): builds $(BUILD)/lib/libNAME.a
define static_lib
STATIC_LIBS += $(BUILD)/lib/lib$(1).a
$(BUILD)/lib/lib$(1).a: $(call objs,$(2))
	@mkdir -p $$(@D)
	@rm -f $$@
	$$(AR) rcs $$@ $$^
endef

# $(call shared_lib,FILE,SOURCES,VERSION-SCRIPT,LDLIBS): builds $(BUILD)/lib/FILE
define shared_lib
SHARED_LIBS += $(BUILD)/lib/$(1)
$(BUILD)/lib/$(1): $(call objs,$(2)) $(3)
	@mkdir -p $$(@D)
	$$(CC) -shared $$(LDFLAGS_BASE) $$(LDFLAGS) -Wl,-soname,$(1) \
		$(if $(3),-Wl$$(comma)--version-script=$(3)) -o $$@ $(call objs,$(2)) $(4)
endef

# $(call unit_test,NAME,SOURCES,STATIC-LIBS,LDLIBS): a cmocka binary run by `make check`
define unit_test
UNIT_TESTS += $(BUILD)/tests/unit/$(1)
$(BUILD)/tests/unit/$(1): $(call objs,$(2)) $(call libfiles,$(3))
	@mkdir -p $$(@D)
	$$(CC) $$(LDFLAGS_BASE) $$(LDFLAGS) -o $$@ $$^ $(4) $$(LIBS_CMOCKA) $$(LDLIBS)
endef

comma := ,
PROGRAMS :=
NOINST_PROGRAMS :=
BIN_PROGRAMS :=
LIBEXEC_PROGRAMS :=
TEST_PROGRAMS :=
STATIC_LIBS :=
SHARED_LIBS :=
UNIT_TESTS :=
MAN_PAGES :=
EXTRA_TARGETS :=

ifeq ($(filter clean distclean help,$(MAKECMDGOALS)),)
include $(sort $(wildcard */module.mk */*/module.mk */*/*/module.mk))
endif

# ---- rules ----------------------------------------------------------------------------------
$(BUILD)/obj/%.o: %.c config.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS_BASE) $(CPPFLAGS) $(CFLAGS_BASE) $(CFLAGS) -MMD -MP -c -o $@ $<

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

ALL_TARGETS = $(PROGRAMS) $(TEST_PROGRAMS) $(STATIC_LIBS) $(SHARED_LIBS) $(UNIT_TESTS) \
	$(EXTRA_TARGETS)

.PHONY: all programs check check-busy soak demo install uninstall print-installed deb rpm clean \
	distclean help format
all: $(ALL_TARGETS)

check: all
	@tools/install-deps
	@RINGTAP_BUILD=$(abspath $(BUILD)) RINGTAP_SANITIZE=$(SANITIZE) tests/run $(TESTS)

# the suite on a busy host: as many CPU hogs as this machine has cores run beside the tests
HOGS ?= $(shell nproc)
check-busy: export RINGTAP_HOGS = $(HOGS)
check-busy: check

# the VHD kill -9 crash test as a soak: each round kills twice on each of two disks
SOAK_KILLS ?= 1000
soak: all
	@tools/install-deps
	@RINGTAP_BUILD=$(abspath $(BUILD)) RINGTAP_TEST_TIMEOUT=$$(($(SOAK_KILLS) * 30)) \
		VHD_CRASH_ROUNDS=$$((($(SOAK_KILLS) + 3) / 4)) tests/run vhd-serve-crash
	@grep -h '^summary:' $(abspath $(BUILD))/test-logs/system_vhd-serve-crash.log

demo: all
	@tools/install-deps
	@RINGTAP_BUILD=$(abspath $(BUILD)) tools/demo

# ---- install, uninstall, packages -------------------------------------------------------------
SBIN_PROGRAMS = $(filter-out $(NOINST_PROGRAMS) $(BIN_PROGRAMS) $(LIBEXEC_PROGRAMS),$(PROGRAMS))
INSTALL_PROGRAMS = $(SBIN_PROGRAMS) $(BIN_PROGRAMS) $(LIBEXEC_PROGRAMS)
SERVICES = $(wildcard systemd/*.service)
# every file `make install` writes, without DESTDIR: what `make uninstall` removes
INSTALLED_FILES = $(foreach p,$(SBIN_PROGRAMS),$(SBINDIR)/$(notdir $(p))) \
	$(foreach p,$(BIN_PROGRAMS),$(BINDIR)/$(notdir $(p))) \
	$(foreach p,$(LIBEXEC_PROGRAMS),$(LIBEXECDIR)/$(notdir $(p))) \
	$(foreach m,$(MAN_PAGES),$(MANDIR)/man8/$(notdir $(m))) \
	$(foreach u,$(SERVICES),$(UNITDIR)/$(notdir $(u)))

programs: $(INSTALL_PROGRAMS)

install: programs
	install -d $(addprefix $(DESTDIR),$(SBINDIR) $(BINDIR) $(LIBEXECDIR) $(MANDIR)/man8 $(UNITDIR))
	install -m 0755 $(SBIN_PROGRAMS) $(DESTDIR)$(SBINDIR)/
	install -m 0755 $(BIN_PROGRAMS) $(DESTDIR)$(BINDIR)/
	install -m 0755 $(LIBEXEC_PROGRAMS) $(DESTDIR)$(LIBEXECDIR)/
	install -m 0644 $(MAN_PAGES) $(DESTDIR)$(MANDIR)/man8/
	$(foreach u,$(SERVICES),sed 's|@BINDIR@|$(BINDIR)|g' $(u) > $(DESTDIR)$(UNITDIR)/$(notdir $(u)) &&) true

uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED_FILES))

# print the installed files (tests/system/install.sh checks them and each program's man page)
print-installed:
	@printf '%s\n' $(INSTALLED_FILES)

deb rpm:
	@RINGTAP_BUILD=$(abspath $(BUILD)) tools/build-packages $@

format:
	clang-format -i $(shell git ls-files '*.c' '*.h')

clean:
	rm -rf build build-san build-clang

distclean: clean
	rm -rf configure config.h config.h.in config.mk config.log config.status autom4te.cache

help:
	@sed -n '3,17s/^# \{0,1\}//p' Makefile
