/* tapdisk: the per-VBD daemon. This entry point parses the command line; src/daemon.c serves
 * the control socket `tap-ctl` and `tapback` drive, on the datapath's event loop. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ringtap/log.h"
#include "ringtap/version.h"
#include "src/daemon.h"
#include "src/host_config.h"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: tapdisk [OPTIONS]\n"
		"Serve Xen virtual block devices (VBDs) to guests' blkfronts, driven over the\n"
		"control socket <run dir>/ctl<pid> by tap-ctl and tapback. Without options it\n"
		"daemonizes as `tap-ctl spawn` expects and exits once its last VBD is\n"
		"detached.\n\n"
		"  -f, --foreground       do not daemonize; print the socket path, log to stderr\n"
		"  -c, --config FILE      the host-wide configuration file (default $%s, else\n"
		"                         %s; a missing file means the built-in defaults)\n"
		"  -C, --check-config     read the configuration file, print the settings it\n"
		"                         gives and exit: 0 when every line was understood, 1 if not\n"
		"  -d, --debug            log debug messages too (--log-level debug)\n"
		"  -l, --log-level LEVEL  err, warning, notice, info (default) or debug; tap-ctl\n"
		"                         log-level changes it while tapdisk runs\n"
		"  -h, --help             show this help and exit\n"
		"  -V, --version          show the version and exit\n"
		"Environment: TAPDISK_RUN_DIR (default /run/blktap-control), TAPDISK_SHM_DIR\n"
		"(default /dev/shm), TAPDISK_LOG_FILE (a daemon's log instead of syslog),\n"
		"TAPDISK_LOG_LEVEL (the level when no option gives it; tap-ctl spawn -l sets it),\n"
		"TAPDISK_NBD_IDLE_TIMEOUT (seconds an idle NBD client keeps its slot; 60),\n"
		"TAPDISK_NBD_TIMEOUT (seconds an nbd: image's requests wait for a lost server; 60),\n"
		"%s (the configuration file; set and empty: none).\n",
		TD_CONFIG_ENV, TD_CONFIG_DEFAULT_PATH, TD_CONFIG_ENV);
}

/* --check-config: the file's problems on stderr, the settings it gives on stdout. */
static int check_config(const char *path)
{
	struct td_config cfg;
	int n;

	rt_log_open("tapdisk", 1);
	n = td_config_load(&cfg, path);
	if (n < 0 && n != -ENOENT) {
		fprintf(stderr, "tapdisk: cannot read %s: %s\n", path, strerror(-n));
		return 1;
	}
	printf("# %s%s\n", path ? path : "no configuration file",
	       n == -ENOENT ? ": missing, built-in defaults" : "");
	td_config_print(&cfg, stdout);
	return n > 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "debug", no_argument, NULL, 'd' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, 'C' },
		{ NULL, 0, NULL, 0 },
	};
	const char *env = getenv(TD_LOG_LEVEL_ENV);
	bool foreground = false, check = false;
	const char *config = NULL;
	static char cwd[PATH_MAX], abs_config[PATH_MAX + 256];
	int c, level = LOG_INFO;

	if (env && *env && rt_log_level_parse(env, &level)) {
		fprintf(stderr, "tapdisk: %s=%s: expected err, warning, notice, info or debug\n",
			TD_LOG_LEVEL_ENV, env);
		return EINVAL;
	}
	opterr = 0;
	while ((c = getopt_long(argc, argv, "hVfdl:c:C", opts, NULL)) != -1) {
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
		case 'c':
			config = optarg;
			break;
		case 'C':
			check = true;
			break;
		case '?':
			if (optopt == 'c') {
				fprintf(stderr, "tapdisk: option '-c' needs a file\n");
				return EINVAL;
			}
			/* fall through */
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
	config = td_config_path(config);
	if (check)
		return check_config(config);
	/* the daemon reads it after moving to / */
	if (config && config[0] != '/' && getcwd(cwd, sizeof(cwd)) &&
	    snprintf(abs_config, sizeof(abs_config), "%s/%s", cwd, config) <
		    (int)sizeof(abs_config))
		config = abs_config;
	return td_daemon_main(foreground, config);
}
