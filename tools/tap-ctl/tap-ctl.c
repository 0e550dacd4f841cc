/* tap-ctl: the toolstack's command line for tapdisk (blktap3's sub-commands, flags, output
 * formats and exit codes). This file holds the command table, main and the shared helpers. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringtap/version.h"
#include "tools/tap-ctl/tap-ctl.h"

static const struct tapctl_cmd commands[] = {
	{ "list", tapctl_cmd_list, "[-p pid] [-m minor] [-t type] [-f file]",
	  "list tapdisks and their VBDs" },
	{ "allocate", tapctl_cmd_allocate, "[-d devname]", "allocate a minor" },
	{ "free", tapctl_cmd_free, "-m minor", "free a minor" },
	{ "create", tapctl_cmd_create,
	  "-a type:/path [-R] [-d devname] [-t secs] [-r] [-e minor] [-2 nbd:name|null] [-s] [-D] "
	  "[-C cbtlog] [-c slice] [-L on|off|auto]",
	  "allocate + spawn + attach + open" },
	{ "destroy", tapctl_cmd_destroy, "-p pid -m minor [-t secs]", "close + detach + free" },
	{ "spawn", tapctl_cmd_spawn, "[-c slice] [-l level]", "start a tapdisk, print its pid" },
	{ "attach", tapctl_cmd_attach, "-p pid -m minor", "attach a minor to a tapdisk" },
	{ "detach", tapctl_cmd_detach, "-p pid -m minor", "detach a minor" },
	{ "open", tapctl_cmd_open,
	  "-p pid -m minor -a type:/path [-R] [-r] [-e minor] [-2 nbd:name|null] [-s] [-t secs] [-D] "
	  "[-C cbtlog] [-E] [-L on|off|auto]",
	  "open an image on an attached minor" },
	{ "close", tapctl_cmd_close, "-p pid -m minor [-t secs] [-f]", "close the image" },
	{ "pause", tapctl_cmd_pause, "-p pid -m minor [-t secs]",
	  "quiesce I/O and close the image chain" },
	{ "unpause", tapctl_cmd_unpause,
	  "-p pid -m minor [-a type:/path] [-2 nbd:name|null] [-c cbtlog] [-L on|off|auto]",
	  "reopen the chain, maybe from a new image" },
	{ "stats", tapctl_cmd_stats, "-p pid -m minor", "print the VBD's statistics (JSON)" },
	{ "poll", tapctl_cmd_poll,
	  "-p pid -m minor [-P adaptive|fixed|off] [-d usecs] [-i percent] [-w usecs] [-g factor] "
	  "[-s factor]",
	  "show or change ring polling" },
	{ "log-level", tapctl_cmd_log_level, "-p pid [-l err|warning|notice|info|debug]",
	  "show or change a tapdisk's log level" },
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void main_usage(FILE *out)
{
	size_t i;

	fprintf(out, "Usage: tap-ctl COMMAND [OPTIONS]\n"
		     "Control tapdisk, ringtap's per-VBD daemon (blktap3-compatible).\n\n"
		     "Commands:\n");
	for (i = 0; i < NCOMMANDS; i++)
		fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].help);
	fprintf(out,
		"\n  -h, --help     show this help (COMMAND -h: the command's options)\n"
		"  --version      show the version and exit\n"
		"  --debug        accepted anywhere, ignored (blktap3 compatibility)\n\n"
		"Images (-a): aio:/path (raw: an alias), vhd:/path, or a remote NBD export:\n"
		"nbd:unix:/socket[:exportname=NAME] or nbd:tcp:HOST:PORT[:exportname=NAME].\n"
		"Exit status: 0, or a positive errno value (its text on stderr).\n"
		"Environment: %s (run directory, default %s), %s (tapdisk binary),\n"
		"TAP_CTL_TIMEOUT (seconds per daemon request), TAPDISK_LOG_LEVEL (the level of the\n"
		"tapdisks spawn and create start). See tap-ctl(8).\n",
		CTL_RUN_DIR_ENV, CTL_DEFAULT_RUN_DIR, CTL_TAPDISK_ENV);
}

void tapctl_usage(const struct tapctl_cmd *cmd, FILE *out)
{
	fprintf(out, "Usage: tap-ctl %s %s\n", cmd->name, cmd->usage);
	if (out == stdout)
		fprintf(out, "%s. See tap-ctl(8).\n", cmd->help);
}

void tapctl_msg(const struct tapctl_cmd *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "tap-ctl %s: ", cmd->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int tapctl_fail(const struct tapctl_cmd *cmd, int err, const struct ctl_client *c, const char *fmt,
		...)
{
	const char *daemon_msg = c ? ctl_client_error_message(c) : NULL;
	const char *reason = c ? ctl_client_error_reason(c) : NULL;
	va_list ap;

	if (err < 0)
		err = -err;
	fprintf(stderr, "tap-ctl %s: ", cmd->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (daemon_msg && daemon_msg[0])
		fprintf(stderr, ": %s", daemon_msg);
	fprintf(stderr, ": %s", strerror(err));
	if (reason && reason[0]) /* after strerror: scripts match what comes before */
		fprintf(stderr, ": %s", reason);
	fputc('\n', stderr);
	return err ? err : EIO;
}

int tapctl_getopt(const struct tapctl_cmd *cmd, int argc, char **argv, const char *optstring)
{
	static const struct option longopts[] = { { "help", no_argument, NULL, 'h' },
						  { NULL, 0, NULL, 0 } };
	char spec[64];
	int c;

	/* leading ':' tells a missing argument apart; '+' stops at the first operand */
	snprintf(spec, sizeof(spec), "+:%sh", optstring);
	opterr = 0;
	c = getopt_long(argc, argv, spec, longopts, NULL);
	if (c == ':') {
		tapctl_msg(cmd, "option '-%c' needs an argument", optopt);
		tapctl_usage(cmd, stderr);
		return '?';
	}
	if (c == '?') {
		if (optopt)
			tapctl_msg(cmd, "unknown option '-%c'", optopt);
		else
			tapctl_msg(cmd, "unknown option '%s'", argv[optind - 1]);
		tapctl_usage(cmd, stderr);
	}
	return c;
}

int tapctl_no_operands(const struct tapctl_cmd *cmd, int argc, char **argv)
{
	if (optind < argc) {
		tapctl_msg(cmd, "unexpected argument '%s'", argv[optind]);
		tapctl_usage(cmd, stderr);
		return EINVAL;
	}
	return 0;
}

int tapctl_parse_int(const struct tapctl_cmd *cmd, char opt, const char *s, long min, long max,
		     long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (!*s || *end || errno || v < min || v > max) {
		tapctl_msg(cmd, "invalid value '%s' for -%c (an integer from %ld to %ld)", s, opt,
			   min, max);
		return EINVAL;
	}
	*out = v;
	return 0;
}

int tapctl_parse_pid(const struct tapctl_cmd *cmd, const char *s, pid_t *pid)
{
	long v;
	int err = tapctl_parse_int(cmd, 'p', s, 1, INT_MAX, &v);

	if (!err)
		*pid = (pid_t)v;
	return err;
}

int tapctl_parse_minor(const struct tapctl_cmd *cmd, const char *s, int *minor)
{
	long v;
	int err = tapctl_parse_int(cmd, 'm', s, 0, CTL_MINOR_MAX - 1, &v);

	if (!err)
		*minor = (int)v;
	return err;
}

int tapctl_parse_image(const struct tapctl_cmd *cmd, const char *s, struct ctl_image *img)
{
	int err = ctl_image_parse(s, img);

	if (err == -ENAMETOOLONG) {
		tapctl_msg(cmd, "image path in '%.40s...' is too long", s);
		return ENAMETOOLONG;
	}
	if (err) {
		tapctl_msg(cmd,
			   "invalid image '%s': expected type:/absolute/path with type aio, raw "
			   "or vhd, or nbd:unix:/socket, nbd:tcp:host:port or "
			   "rbd:pool/image[@snapshot][:option=value...]",
			   s);
		return EINVAL;
	}
	return 0;
}

int tapctl_parse_path(const struct tapctl_cmd *cmd, char opt, const char *s, char *buf)
{
	if (s[0] != '/' || strlen(s) >= CTL_PATH_MAX) {
		tapctl_msg(cmd, "invalid path '%s' for -%c: an absolute path is needed", s, opt);
		return EINVAL;
	}
	strcpy(buf, s);
	return 0;
}

unsigned int tapctl_timeout_ms(unsigned int def_s)
{
	const char *env = getenv("TAP_CTL_TIMEOUT");
	char *end;
	double s;

	if (env && *env) {
		s = strtod(env, &end);
		if (!*end && s > 0 && s < 86400)
			return (unsigned int)(s * 1000);
	}
	return def_s * 1000;
}

int tapctl_connect(const struct tapctl_cmd *cmd, pid_t pid, unsigned int timeout_s,
		   struct ctl_client **c)
{
	char path[PATH_MAX];
	int err = ctl_client_connect_pid(pid, tapctl_timeout_ms(timeout_s), c);

	if (err) {
		if (ctl_socket_path(pid, path, sizeof(path)))
			path[0] = '\0';
		if (err == -ENOENT)
			return tapctl_fail(cmd, err, NULL, "no tapdisk with pid %d (no %s)",
					   (int)pid, path);
		if (err == -ECONNREFUSED)
			return tapctl_fail(cmd, err, NULL, "tapdisk %d is not running (stale %s)",
					   (int)pid, path);
		return tapctl_fail(cmd, err, NULL, "cannot connect to %s", path);
	}
	return 0;
}

int main(int argc, char **argv)
{
	const struct tapctl_cmd *cmd = NULL;
	int i, n;
	size_t k;

	signal(SIGPIPE, SIG_IGN);
	/* blktap3 accepts --debug anywhere; drop it before option parsing */
	for (i = 1, n = 1; i < argc; i++)
		if (strcmp(argv[i], "--debug"))
			argv[n++] = argv[i];
	argc = n;
	argv[argc] = NULL;

	if (argc < 2) {
		main_usage(stderr);
		return EINVAL;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		main_usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version"))
		return rt_print_version("tap-ctl");
	if (argv[1][0] == '-') {
		fprintf(stderr, "tap-ctl: unknown option '%s' (try --help)\n", argv[1]);
		return EINVAL;
	}
	for (k = 0; k < NCOMMANDS; k++)
		if (!strcmp(argv[1], commands[k].name))
			cmd = &commands[k];
	if (!cmd) {
		fprintf(stderr, "tap-ctl: unknown command '%s' (try --help)\n", argv[1]);
		return EINVAL;
	}
	optind = 1;
	return cmd->run(cmd, argc - 1, argv + 1);
}
