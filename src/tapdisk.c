/* tapdisk: the per-VBD daemon. This entry point parses the command line; the datapath and the
 * control socket it will serve are built by the datapath and control-plane work. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringtap/log.h"

static void usage(FILE *out)
{
	fprintf(out, "Usage: tapdisk [OPTIONS]\n"
		     "Serve one Xen virtual block device (VBD) to a guest's blkfront.\n\n"
		     "  -h, --help       show this help and exit\n"
		     "  -V, --version    show the version and exit\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "hV", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("tapdisk (ringtap) %s\n", PACKAGE_VERSION);
			return 0;
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
	rt_log_open("tapdisk", 1);
	rt_err("no control socket yet: the daemon mode is not built");
	return ENOSYS;
}
