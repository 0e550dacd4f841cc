/* vhd-util: the offline VHD tool XAPI's storage manager drives (blktap's sub-commands, flags and
 * output formats). Dispatches to one file per group of sub-commands. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ringtap/log.h"
#include "ringtap/version.h"
#include "cli.h"

static const struct vu_cmd *const commands[] = {
	&vu_create, &vu_snapshot, &vu_query,	&vu_read,  &vu_set,    &vu_modify, &vu_key,
	&vu_scan,   &vu_resize,	  &vu_coalesce, &vu_check, &vu_revert, &vu_repair, &vu_fill,
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *out)
{
	fprintf(out, "Usage: vhd-util COMMAND [OPTIONS]\n"
		     "       vhd-util COMMAND --help\n"
		     "       vhd-util -h | --help | --version\n"
		     "COMMAND := { ");
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(out, "%s%s", i ? " | " : "", commands[i]->name);
	fprintf(out,
		" }\n"
		"--debug anywhere logs failures to syslog as well. Exit status: 0, or a\n"
		"positive errno value (22, EINVAL, for usage errors); an unknown COMMAND exits 0\n"
		"after this usage, as blktap's vhd-util does.\n");
}

int main(int argc, char **argv)
{
	const struct vu_cmd *cmd = NULL;
	char *args[argc + 1];
	int n = 0, err;

	/* XAPI puts --debug anywhere: drop it before any parsing */
	for (int i = 0; i < argc; i++) {
		if (i > 0 && !strcmp(argv[i], "--debug"))
			vu_debug = true;
		else
			args[n++] = argv[i];
	}
	args[n] = NULL;
	rt_log_open("vhd-util", 0);

	if (n < 2) { /* blktap prints its usage and exits 0 */
		usage(stdout);
		return 0;
	}
	if (!strcmp(args[1], "--help") || !strcmp(args[1], "-h") || !strcmp(args[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(args[1], "--version")) {
		return rt_print_version("vhd-util");
	}
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (!strcmp(args[1], commands[i]->name))
			cmd = commands[i];
	if (!cmd && args[1][0] == '-') {
		fprintf(stderr, "vhd-util: unknown option '%s' (try 'vhd-util --help')\n", args[1]);
		return EINVAL;
	}
	if (!cmd) {
		/* as blktap's vhd-util: the name on stderr, the usage on stdout, exit 0 */
		fprintf(stderr, "vhd-util: unknown command '%s'\n", args[1]);
		usage(stdout);
		return 0;
	}
	err = cmd->run(n - 1, args + 1);
	if (err > 0) /* --help */
		return 0;
	fflush(stdout);
	return err < 0 ? -err : 0;
}
