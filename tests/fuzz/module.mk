# Fuzzing (docs/FUZZING.md): libFuzzer harnesses built with clang into build-fuzz/ by
# tests/fuzz/fuzz.mk, apart from the main build (other flags, clang's fuzzer runtime), then run
# one after another for FUZZ_TIME seconds each by tests/fuzz/run.
#   make fuzz                 every harness for FUZZ_TIME seconds (default 60)
#   make fuzz-long            the same for an hour each (FUZZ_TIME=3600)
#   make fuzz FUZZ=vhd        one harness (blkif_req ring vhd ctl_codec nbd
#                             nbd_client xenstored)
FUZZ_TIME ?= 60
FUZZ_CC ?= clang
FUZZ ?=

.PHONY: fuzz fuzz-long fuzz-build
# The source lists are expanded here, once every module.mk is read.
fuzz-build: config.mk
	@echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }' | \
		$(FUZZ_CC) -x c -fsanitize=fuzzer -o /dev/null - 2>/dev/null || { \
		echo "make fuzz: $(FUZZ_CC) cannot link libFuzzer (Debian: libclang-rt-14-dev)" >&2; \
		exit 1; }
	@$(MAKE) --no-print-directory -f tests/fuzz/fuzz.mk build \
		TD_CORE_SRCS="$(TD_CORE_SRCS)" RTBLKIF_SRCS="$(RTBLKIF_SRCS)" RTVHD_SRCS="$(RTVHD_SRCS)" \
		RTNBD_SRCS="$(RTNBD_SRCS)" \
		SIMXEN_XENSTORED_SRCS="$(SIMXEN_XENSTORED_SRCS)" LIBS_JANSSON="$(LIBS_JANSSON)" \
		FUZZ_CC="$(FUZZ_CC)"

fuzz: fuzz-build
	@tests/fuzz/run $(FUZZ_TIME) $(FUZZ)

fuzz-long: FUZZ_TIME := 3600
fuzz-long: fuzz
