/* tapdisk: the per-VBD daemon. This entry point parses the command line; src/daemon.c serves
 * the control socket `tap-ctl` and `tapback` drive, on the datapath's event loop. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringtap/log.h"
#include "ringtap/version.h"
#include "src/daemon.h"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: tapdisk [OPTIONS]\n"
		"Serve Xen virtual block devices (VBDs) to guests' blkfronts, driven over the\n"
		"control socket <run dir>/ctl<pid> by tap-ctl and tapback. Without options it\n"
		"daemonizes as `tap-ctl spawn` expects and exits once its last VBD is\n"
		"detached.\n\n"
		"  -f, --foreground  do not daemonize; print the socket path, log to stderr\n"
		"  -d, --debug       log debug messages too\n"
		"  -h, --help        show this help and exit\n"
		"  -V, --version     show the version and exit\n"
		"Environment: TAPDISK_RUN_DIR (default /run/blktap-control), TAPDISK_SHM_DIR\n"
		"(default /dev/shm), TAPDISK_LOG_FILE (a daemon's log instead of syslog),\n"
		"TAPDISK_NBD_IDLE_TIMEOUT (seconds an idle NBD client keeps its slot; 60).\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "debug", no_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 },
	};
	bool foreground = false, debug = false;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "hVfd", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			return rt_print_version("tapdisk");
		case 'f':
			foreground = true;
			break;
		case 'd':
			debug = true;
			break;
		default:
			fprintf(stderr, "tapdisk: unknown option '%s'\n", argv[optind - 1]);
			usage(stderr);
			return EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "tapdisk: unexpected argument '%s'\n", argv[optind]);
		return EINVAL;
	}
	rt_log_set_level(debug ? LOG_DEBUG : LOG_INFO);
	return td_daemon_main(foreground);
}
