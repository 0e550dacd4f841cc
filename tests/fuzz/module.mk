# Fuzzing (docs/FUZZING.md): libFuzzer harnesses built with clang into build-fuzz/ by
# tests/fuzz/fuzz.mk, apart from the main build (other flags, clang's fuzzer runtime), then run
# one after another for FUZZ_TIME seconds each by tests/fuzz/run.
#   make fuzz                 every harness for FUZZ_TIME seconds (default 60)
#   make fuzz-long            the same for an hour each (FUZZ_TIME=3600)
#   make fuzz FUZZ=vhd        one harness (blkif_req vhd ctl_codec nbd xenstored)
FUZZ_TIME ?= 60
FUZZ ?=

.PHONY: fuzz fuzz-long fuzz-build
# The source lists are expanded here, once every module.mk is read.
fuzz-build: config.mk
	@$(MAKE) --no-print-directory -f tests/fuzz/fuzz.mk build \
		RTVHD_SRCS="$(RTVHD_SRCS)" RTNBD_SRCS="$(RTNBD_SRCS)" \
		SIMXEN_XENSTORED_SRCS="$(SIMXEN_XENSTORED_SRCS)" LIBS_JANSSON="$(LIBS_JANSSON)"

fuzz: fuzz-build
	@tests/fuzz/run $(FUZZ_TIME) $(FUZZ)

fuzz-long: FUZZ_TIME := 3600
fuzz-long: fuzz
