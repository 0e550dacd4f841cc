# The fio external ioengine `blkfront` ($(BUILD)/lib/blkfront.so), built against the source of
# the installed Debian fio (tools/install-deps --fio-source fetches and configures it into
# third_party-src/, not committed). fio itself loads the engine, so nothing in it is sanitized:
# its objects, libblkfront's included, get their own directory and rule.
FIO_DEB_VERSION := $(shell dpkg-query -W -f='$${Version}' fio 2>/dev/null)
FIO_SRC := third_party-src/fio-$(subst :,_,$(FIO_DEB_VERSION))
FIO_ENGINE := $(BUILD)/lib/blkfront.so
FIO_ENGINE_SRCS := tools/fio/blkfront_engine.c $(BLKFRONT_SRCS) $(RTBLKIF_SRCS) lib/util/log.c
FIO_ENGINE_OBJS := $(patsubst %.c,$(BUILD)/obj/fio-engine/%.o,$(FIO_ENGINE_SRCS))
FIO_ENGINE_CPPFLAGS := -isystem $(FIO_SRC) -include $(FIO_SRC)/config-host.h \
	-D_LARGEFILE_SOURCE -D_FILE_OFFSET_BITS=64
SHARED_LIBS += $(FIO_ENGINE)

$(FIO_SRC)/config-host.h:
	tools/install-deps --fio-source

$(BUILD)/obj/fio-engine/%.o: %.c config.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS_BASE) $(CPPFLAGS) -std=c11 $(OPT) -g -fPIC $(WARN) $(CFLAGS) -MMD -MP \
		-c -o $@ $<

# fio's headers want GNU C and its configuration
$(BUILD)/obj/fio-engine/tools/fio/blkfront_engine.o: $(FIO_SRC)/config-host.h
$(BUILD)/obj/fio-engine/tools/fio/blkfront_engine.o: CPPFLAGS += $(FIO_ENGINE_CPPFLAGS)
$(BUILD)/obj/fio-engine/tools/fio/blkfront_engine.o: CFLAGS += -std=gnu11

$(FIO_ENGINE): $(FIO_ENGINE_OBJS) tools/fio/blkfront.map
	@mkdir -p $(@D)
	$(CC) -shared -pthread $(LDFLAGS) -Wl,-soname,blkfront.so \
		-Wl,--version-script=tools/fio/blkfront.map -o $@ $(FIO_ENGINE_OBJS) $(BLKFRONT_LDLIBS)
