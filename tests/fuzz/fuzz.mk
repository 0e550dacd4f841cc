# Builds the libFuzzer harnesses (tests/fuzz/fuzz_*.c) with clang, ASan and UBSan into build-fuzz/,
# apart from the main build: the code under test is compiled again with coverage instrumentation
# (-fsanitize=fuzzer-no-link), so the normal build never needs clang's fuzzer runtime.
# Invoked by `make fuzz` (tests/fuzz/module.mk), which passes each module's source list, so that a
# file added to a library is fuzzed without editing this file.

FUZZ_BUILD ?= build-fuzz
FUZZ_CC ?= clang
SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 \
	-Wno-unused-parameter
CPPFLAGS := -D_GNU_SOURCE -I. -Iinclude -include config.h
CFLAGS := -std=c11 -O1 -g $(WARN) $(SAN) -fsanitize=fuzzer-no-link
LDFLAGS := $(SAN) -fsanitize=fuzzer -pthread

# Every harness links its own file and the sources of what it fuzzes.
FUZZ_blkif_req := src/blkif_req.c $(RTBLKIF_SRCS)
# tapdisk's datapath core without the VBD, its CBT log, its mirror and the image registry (the
# harness fakes the VBD and the image)
FUZZ_ring := $(filter-out src/vbd.c src/image.c src/cbt_log.c src/mirror.c src/nbd_client.c,$(TD_CORE_SRCS)) $(RTBLKIF_SRCS) \
	$(wildcard lib/poll/*.c) lib/util/log.c
FUZZ_vhd := $(RTVHD_SRCS) lib/util/log.c
FUZZ_ctl_codec := lib/ctl/codec.c lib/ctl/names.c lib/util/log.c
FUZZ_nbd := $(RTNBD_SRCS) lib/util/log.c lib/util/sockserver.c
FUZZ_nbd_client := $(RTNBD_SRCS) lib/util/log.c lib/util/sockserver.c
FUZZ_xenstored := $(filter-out %/main.c,$(SIMXEN_XENSTORED_SRCS)) lib/util/log.c
LIBS_ctl_codec := $(LIBS_JANSSON)

HARNESSES := blkif_req ring vhd ctl_codec nbd nbd_client xenstored
BINS := $(foreach h,$(HARNESSES),$(FUZZ_BUILD)/bin/fuzz_$(h))

fobjs = $(patsubst %.c,$(FUZZ_BUILD)/obj/%.o,$(1))

.PHONY: build
build: $(BINS)

define harness
$(FUZZ_BUILD)/bin/fuzz_$(1): $(call fobjs,tests/fuzz/fuzz_$(1).c $(FUZZ_$(1)))
	@mkdir -p $$(@D)
	$$(FUZZ_CC) $$(LDFLAGS) -o $$@ $$^ $(LIBS_$(1))
endef
$(foreach h,$(HARNESSES),$(eval $(call harness,$(h))))

$(FUZZ_BUILD)/obj/%.o: %.c config.h
	@mkdir -p $(@D)
	$(FUZZ_CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

-include $(shell find $(FUZZ_BUILD)/obj -name '*.d' 2>/dev/null)
