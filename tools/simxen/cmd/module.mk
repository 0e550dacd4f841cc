# simxen: the simulated Xen host's command (start/stop, domains, VBD nodes); not installed.
SIMXEN_CMD_SRCS := $(addprefix tools/simxen/cmd/,main.c host.c domain.c vbd.c xs.c)
$(eval $(call noinst_program,simxen,$(SIMXEN_CMD_SRCS),simxenstate,$(LIBS_XENSTORE)))
