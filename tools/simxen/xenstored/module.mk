# simxen-xenstored: the xenstore daemon of simxen, the simulated Xen host (not installed).
SIMXEN_XENSTORED_SRCS := $(addprefix tools/simxen/xenstored/,main.c conn.c ops.c store.c \
	access.c perms.c path.c watch.c transaction.c domain.c)
$(eval $(call noinst_program,simxen-xenstored,$(SIMXEN_XENSTORED_SRCS),rtutil))

# Its test client, through Debian's libxenstore (tests/system/simxen-xenstore-*.sh).
$(eval $(call test_program,xs-client-test,tests/progs/tools/simxen/xenstored/xs-client-test.c,,$(LIBS_XENSTORE)))
