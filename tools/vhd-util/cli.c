/* Option parsing, error messages and the progress bar shared by every vhd-util sub-command. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ringtap/log.h"
#include "cli.h"

bool vu_debug;
const char *vu_program = "vhd-util";

void vu_usage(const struct vu_cmd *cmd, bool to_stderr)
{
	FILE *out = to_stderr ? stderr : stdout;

	fprintf(out, "Usage: %s %s %s\n", vu_program, cmd->name, cmd->usage);
	if (!to_stderr && cmd->help)
		fprintf(out, "%s", cmd->help);
}

static void vu_vmsg(const struct vu_cmd *cmd, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
static void vu_vmsg(const struct vu_cmd *cmd, const char *fmt, va_list ap)
{
	char msg[1024];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	fprintf(stderr, "%s %s: %s\n", vu_program, cmd->name, msg);
	if (vu_debug)
		rt_err("%s: %s", cmd->name, msg);
}

int vu_error(const struct vu_cmd *cmd, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vu_vmsg(cmd, fmt, ap);
	va_end(ap);
	return err;
}

int vu_usage_error(const struct vu_cmd *cmd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vu_vmsg(cmd, fmt, ap);
	va_end(ap);
	vu_usage(cmd, true);
	return -EINVAL;
}

int vu_getopt(const struct vu_cmd *cmd, int argc, char **argv, const char *opts,
	      int (*on_opt)(int c, const char *arg, void *ctx), void *ctx)
{
	static const struct option longopts[] = { { "help", no_argument, NULL, 'h' },
						  { NULL, 0, NULL, 0 } };
	char spec[64];
	int c, err;

	snprintf(spec, sizeof(spec), ":%sh", opts);
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, spec, longopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			vu_usage(cmd, false);
			return 1;
		case '?':
			if (optopt)
				return vu_usage_error(cmd, "unknown option '-%c'", optopt);
			return vu_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
		case ':':
			return vu_usage_error(cmd, "option '-%c' needs an argument", optopt);
		default:
			err = on_opt(c, optarg, ctx);
			if (err)
				return err;
		}
	}
	if (optind != argc && !cmd->operands)
		return vu_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	return 0;
}

int vu_parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

void vu_progress_start(struct vu_progress *p, const char *what)
{
	p->on = isatty(STDERR_FILENO);
	p->last = -1;
	p->what = what;
}

void vu_progress_update(struct vu_progress *p, uint64_t done, uint64_t total)
{
	int pct = total ? (int)(done * 100 / total) : 100, bars = pct / 4;

	if (!p->on || pct == p->last)
		return;
	p->last = pct;
	fprintf(stderr, "\r%s [%.*s%*s] %3d%%", p->what, bars, "#########################",
		25 - bars, "", pct);
	fflush(stderr);
}

void vu_progress_end(struct vu_progress *p)
{
	if (p->on && p->last >= 0)
		fprintf(stderr, "\n");
}

void vu_progress_cb(uint64_t done, uint64_t total, void *arg)
{
	vu_progress_update(arg, done, total);
}
