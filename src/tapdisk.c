/* tapdisk: the per-VBD daemon. This entry point parses the command line; src/daemon.c serves
 * the control socket `tap-ctl` and `tapback` drive, on the datapath's event loop. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringtap/log.h"
#include "src/daemon.h"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: tapdisk [OPTIONS]\n"
		"Serve Xen virtual block devices (VBDs) to guests' blkfronts, driven over the\n"
		"control socket <run dir>/ctl<pid> by tap-ctl and tapback. Without options it\n"
		"daemonizes as `tap-ctl spawn` expects and exits once its last VBD is\n"
		"detached.\n\n"
		"  -f, --foreground       do not daemonize; print the socket path, log to stderr\n"
		"  -d, --debug            log debug messages too (--log-level debug)\n"
		"  -l, --log-level LEVEL  err, warning, notice, info (default) or debug; tap-ctl\n"
		"                         log-level changes it while tapdisk runs\n"
		"  -h, --help             show this help and exit\n"
		"  -V, --version          show the version and exit\n"
		"Environment: TAPDISK_RUN_DIR (default /run/blktap-control), TAPDISK_SHM_DIR\n"
		"(default /dev/shm), TAPDISK_LOG_FILE (a daemon's log instead of syslog),\n"
		"TAPDISK_LOG_LEVEL (the level when no option gives it; tap-ctl spawn -l sets it),\n"
		"TAPDISK_NBD_IDLE_TIMEOUT (seconds an idle NBD client keeps its slot; 60).\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "debug", no_argument, NULL, 'd' },
		{ "log-level", required_argument, NULL, 'l' },
		{ NULL, 0, NULL, 0 },
	};
	const char *env = getenv(TD_LOG_LEVEL_ENV);
	bool foreground = false;
	int c, level = LOG_INFO;

	if (env && *env && rt_log_level_parse(env, &level)) {
		fprintf(stderr, "tapdisk: %s=%s: expected err, warning, notice, info or debug\n",
			TD_LOG_LEVEL_ENV, env);
		return EINVAL;
	}
	opterr = 0;
	while ((c = getopt_long(argc, argv, "hVfdl:", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("tapdisk (ringtap) %s\n", PACKAGE_VERSION);
			return 0;
		case 'f':
			foreground = true;
			break;
		case 'd':
			level = LOG_DEBUG;
			break;
		case 'l':
			if (rt_log_level_parse(optarg, &level)) {
				fprintf(stderr,
					"tapdisk: --log-level %s: expected err, warning, "
					"notice, info or debug\n",
					optarg);
				return EINVAL;
			}
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
	/* errors are always logged: a level below err would hide why a command failed */
	rt_log_set_level(level < LOG_ERR ? LOG_ERR : level);
	return td_daemon_main(foreground);
}
