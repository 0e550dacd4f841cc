# tapdisk, the per-VBD daemon, and its datapath core (a static library shared with td-serve
# and the unit tests; the image drivers are in drivers/).
TD_CORE_SRCS := src/loop.c src/blkif_req.c src/pgrant.c src/bufpool.c src/image.c src/ring_attach.c \
	src/ring.c src/request.c src/vbd_state.c src/vbd.c src/ring_poll.c src/cbt_log.c
# the storage-migration mirror in front of a VBD's image, and its NBD client (lib/nbd)
TD_CORE_SRCS += src/mirror.c src/nbd_client.c
$(eval $(call static_lib,tdcore,$(TD_CORE_SRCS)))
TD_LIBS := tdcore tddrivers rtvhd rtcbt rtnbd rtblkif rtpoll rtutil
TD_LDLIBS = $(LIBS_XENGNTTAB) $(LIBS_XENEVTCHN) $(TD_DRIVERS_LDLIBS)
# the daemon: control socket, handlers, stats (JSON and /dev/shm) around the datapath core
TD_DAEMON_SRCS := src/tapdisk.c src/daemon.c src/ctl_handlers.c src/stats_json.c src/shm_stats.c \
	src/host_config.c
# each VBD's NBD export (lib/nbd)
TD_DAEMON_SRCS += src/nbd_export.c
# storage migration: the SCM_RIGHTS receivers and the secondary's stash
TD_DAEMON_SRCS += src/fd_receiver.c src/secondary.c
$(eval $(call program,tapdisk,$(TD_DAEMON_SRCS),tdcore tddrivers rtvhd rtcbt rtctl rtnbd rtpoll rtblkif rtutil,$(TD_LDLIBS) $(LIBS_JANSSON)))
MAN_PAGES += man/tapdisk.8
LIBEXEC_PROGRAMS += $(BUILD)/bin/tapdisk # blktap: /usr/libexec/tapdisk, started by tap-ctl
