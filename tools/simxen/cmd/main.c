/* simxen: starts and stops the simulated Xen host (its xenstored and state directory), creates
 * and destroys domains, and plays the toolstack writing a VBD's xenstore nodes. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tools/simxen/cmd/simxen.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: simxen [--dir DIR] COMMAND [ARGS]\n"
		"The simulated Xen host for ringtap's tests, demo and benchmarks.\n"
		"\n"
		"  simxen start               start the host's xenstored in DIR, create dom0's\n"
		"                             nodes, print the environment to `eval`\n"
		"  simxen stop                stop it and remove DIR (idempotent)\n"
		"  simxen env                 print the environment again\n"
		"  simxen domain create NAME  create a domain; prints its id\n"
		"  simxen domain destroy ID   remove its nodes and state, fire @releaseDomain\n"
		"  simxen domain list         \"ID NAME\" per domain\n"
		"  simxen vbd add DOMID [--devid N] [--mode r|w] [--params P] [--dev NAME]\n"
		"                 [--physical-device-path P]\n"
		"                             write a vbd3 VBD's frontend and backend nodes in one\n"
		"                             transaction as xenopsd does; prints the devid\n"
		"  simxen vbd remove DOMID DEVID  remove both\n"
		"\n"
		"  -d, --dir DIR   state directory (default $SIMXEN_DIR, else /tmp/simxen-<uid>)\n"
		"  -h, --help      this help\n"
		"Guests: `simxen domain create` gives domain N the socket DIR/xenstored.dN.sock;\n"
		"a process run with XENSTORED_PATH=<it> SIMXEN_DOMID=N is that domain.\n"
		"Exit status: 0, or a positive errno value.\n");
}

static int parse_devid(const char *s, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || end == s || v <= 0 || v >= (1L << 30))
		return -EINVAL;
	*out = v;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "devid", required_argument, NULL, 'i' },
		{ "mode", required_argument, NULL, 'm' },
		{ "params", required_argument, NULL, 'P' },
		{ "dev", required_argument, NULL, 'D' },
		{ "physical-device-path", required_argument, NULL, 'X' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static char default_dir[64];
	struct cmd_opts o = { .devid = -1 };
	const char *cmd;
	int c, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":d:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			o.dir = optarg;
			break;
		case 'i':
			if (parse_devid(optarg, &o.devid) < 0) {
				fprintf(stderr, "simxen: --devid '%s' is not a device number\n",
					optarg);
				return EINVAL;
			}
			break;
		case 'm':
			o.mode = optarg;
			break;
		case 'P':
			o.params = optarg;
			break;
		case 'D':
			o.dev = optarg;
			break;
		case 'X':
			o.phys_path = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case ':':
			fprintf(stderr, "simxen: %s needs an argument\n", argv[optind - 1]);
			return EINVAL;
		default:
			fprintf(stderr, "simxen: unknown option '%s' (try --help)\n",
				argv[optind - 1]);
			return EINVAL;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "simxen: no command (try --help)\n");
		return EINVAL;
	}
	if (!o.dir || !*o.dir) {
		o.dir = getenv("SIMXEN_DIR");
		if (!o.dir || !*o.dir) {
			snprintf(default_dir, sizeof(default_dir), "/tmp/simxen-%u",
				 (unsigned int)getuid());
			o.dir = default_dir;
		}
	}
	cmd = argv[optind++];
	argc -= optind;
	argv += optind;
	if (strcmp(cmd, "vbd") != 0 &&
	    (o.mode || o.params || o.dev || o.phys_path || o.devid >= 0)) {
		fprintf(stderr, "simxen: --devid, --mode, --params, --dev and "
				"--physical-device-path are options of `simxen vbd add`\n");
		return EINVAL;
	}
	if (strcmp(cmd, "start") == 0)
		rc = cmd_start(&o, argc, argv);
	else if (strcmp(cmd, "stop") == 0)
		rc = cmd_stop(&o, argc, argv);
	else if (strcmp(cmd, "env") == 0)
		rc = cmd_env(&o, argc, argv);
	else if (strcmp(cmd, "domain") == 0)
		rc = cmd_domain(&o, argc, argv);
	else if (strcmp(cmd, "vbd") == 0)
		rc = cmd_vbd(&o, argc, argv);
	else {
		fprintf(stderr, "simxen: unknown command '%s' (try --help)\n", cmd);
		rc = -EINVAL;
	}
	return rc < 0 ? -rc : rc;
}
