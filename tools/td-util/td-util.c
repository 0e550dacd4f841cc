/* td-util: blktap's tapdisk utility (drivers/td.c) as XAPI's file-based SRs run it: create,
 * snapshot, query and set of "vhd" images, create and query of raw ("aio") ones. The VHD work is
 * vhd-util's own (vu_create_image, vu_snapshot_image, vu_query_image, vu_set). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ringtap/log.h"
#include "ringtap/version.h"
#include "ringtap/vhd.h"
#include "../vhd-util/cli.h"

enum td_type { TD_VHD, TD_AIO };

struct td_flags {
	bool on[128]; /* by option letter */
	const char *limit; /* -l's argument */
};

struct td_cmd {
	const char *name;
	const char *usage; /* after "td-util NAME TYPE " */
	const char *opts; /* getopt letters */
	int operands; /* how many follow the options */
	int (*run)(enum td_type type, const struct td_flags *flags, char **operands);
};

/* An "aio" image: a raw file of MiB MiB, preallocated (blktap writes zeros; -r is required). */
static int create_raw(const char *path, uint64_t mib, bool reserve)
{
	int fd, err;

	if (!reserve) {
		fprintf(stderr, "td-util create: Cannot create sparse aio image\n");
		return -EINVAL;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		err = -errno;
		fprintf(stderr, "td-util create: %s: %s\n", path, strerror(errno));
		return err;
	}
	err = mib ? -posix_fallocate(fd, 0, (off_t)(mib << 20)) : 0;
	if (!err && fsync(fd) < 0)
		err = -errno;
	close(fd);
	if (err) {
		fprintf(stderr, "td-util create: %s: %s\n", path, strerror(-err));
		unlink(path);
	}
	return err;
}

static int td_create(enum td_type type, const struct td_flags *flags, char **arg)
{
	struct vu_image_opts o = { .name = arg[1], .reserve = flags->on['r'] };

	if (vu_parse_u64(arg[0], VHD_MAX_CREATE_SIZE >> 20, &o.size_mib)) {
		fprintf(stderr, "td-util create: bad size '%s' (MiB, at most %llu)\n", arg[0],
			(unsigned long long)(VHD_MAX_CREATE_SIZE >> 20));
		return -EINVAL;
	}
	/* -b (blktap: "file is fixed size") is accepted and changes nothing */
	if (type == TD_AIO)
		return create_raw(o.name, o.size_mib, o.reserve);
	return vu_create_image(&o);
}

static int td_snapshot(enum td_type type, const struct td_flags *flags, char **arg)
{
	struct vu_image_opts o = { .name = arg[0], .parent = arg[1] };
	struct stat st;

	if (type != TD_VHD) {
		fprintf(stderr, "td-util snapshot: Cannot create snapshot of aio image type\n");
		return -EINVAL;
	}
	o.parent_raw = flags->on['m'];
	if (flags->limit && vu_parse_u64(flags->limit, 1000, &o.limit)) {
		fprintf(stderr, "td-util snapshot: bad depth limit '%s'\n", flags->limit);
		return -EINVAL;
	}
	if (stat(o.parent, &st) < 0) {
		int err = -errno;

		fprintf(stderr, "td-util snapshot: File %s not found\n", o.parent);
		return err;
	}
	return vu_snapshot_image(&o);
}

/* A raw image: its size, no parent, never hidden (blktap's answers for "aio"). */
static int query_raw(const struct td_flags *flags, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), err = 0;
	off_t end = 0;

	if (fd < 0 || (end = lseek(fd, 0, SEEK_END)) < 0) {
		err = -errno;
		printf("failed opening %s: %d\n", path, err);
	}
	if (fd >= 0)
		close(fd);
	if (err)
		return err;
	if (flags->on['v'])
		printf("%lld\n", (long long)(end >> 20));
	if (flags->on['p'])
		printf("%s has no parent\n", path);
	if (flags->on['f'])
		printf("hidden: 0\n");
	return 0;
}

static int td_query(enum td_type type, const struct td_flags *flags, char **arg)
{
	struct vu_query_opts o = { .name = arg[0] };

	if (type == TD_AIO)
		return query_raw(flags, arg[0]);
	o.virt = flags->on['v'];
	o.parent = flags->on['p'];
	o.fields = flags->on['f'];
	o.depth = flags->on['d'];
	if (flags->on['b']) /* the footer copy: the end of a file in use may be data */
		o.open_flags = VHD_OPEN_BACKUP_FOOTER;
	return vu_query_image(&o);
}

static int td_set(enum td_type type, const struct td_flags *flags, char **arg)
{
	char *argv[] = { "set", "-n", arg[0], "-f", arg[1], "-v", arg[2], NULL };

	if (type != TD_VHD) {
		fprintf(stderr, "td-util set: Cannot set fields of aio images\n");
		return -EINVAL;
	}
	if (strcmp(arg[1], "hidden")) {
		fprintf(stderr, "td-util set: Invalid field %s (FIELD := { hidden })\n", arg[1]);
		return -EINVAL;
	}
	return vu_set.run(7, argv);
}

static const struct td_cmd commands[] = {
	{ "create", "[-r] [-b] SIZE_MIB FILE", "rb", 2, td_create },
	{ "snapshot", "[-m] [-b] [-l LIMIT] FILE PARENT", "bml:", 2, td_snapshot },
	{ "query", "[-v] [-p] [-f] [-d] [-b] FILE", "vpfdb", 1, td_query },
	{ "set", "FILE hidden 0|1", "", 3, td_set },
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *out)
{
	fprintf(out, "Usage: td-util COMMAND TYPE [OPTIONS] OPERANDS\n"
		     "       td-util COMMAND --help\n"
		     "       td-util -h | --help | --version\n"
		     "TYPE := { vhd | aio }\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(out, "  td-util %s TYPE %s\n", commands[i].name, commands[i].usage);
	fprintf(out,
		"create: a dynamic VHD of SIZE_MIB MiB (-r: fixed, preallocated); aio needs -r.\n"
		"snapshot: a differencing VHD FILE on PARENT (-m: PARENT is raw; -l: refuse a chain\n"
		"  deeper than LIMIT). An empty differencing PARENT is skipped, as vhd-util does.\n"
		"query: one line each, in this order: -v virtual size in MiB; -p the parent's path or\n"
		"  \"FILE has no parent\"; -f \"hidden: 0|1\"; -d \"chain depth: N\"; -b reads the\n"
		"  footer copy at the start of the file.\n"
		"set: the hidden flag.\n"
		"Exit status: 0, or a positive errno value (22, EINVAL, for usage errors).\n");
}

/* COMMAND's usage line on stdout; 0, the exit status of --help. */
static int command_usage(const struct td_cmd *cmd)
{
	printf("Usage: td-util %s TYPE %s\n", cmd->name, cmd->usage);
	return 0;
}

/* The options of one sub-command; 1 for --help, -EINVAL (said on stderr) for bad ones. */
static int parse(const struct td_cmd *cmd, int argc, char **argv, struct td_flags *flags)
{
	static const struct option longopts[] = { { "help", no_argument, NULL, 'h' },
						  { NULL, 0, NULL, 0 } };
	char spec[16];
	int c;

	snprintf(spec, sizeof(spec), ":%sh", cmd->opts);
	memset(flags, 0, sizeof(*flags));
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, spec, longopts, NULL)) != -1) {
		if (c == 'h')
			return 1;
		if (c == '?' || c == ':') {
			fprintf(stderr, "td-util %s: %s '%s'\n", cmd->name,
				c == ':' ? "option needs an argument:" : "unknown option",
				argv[optind - 1]);
			return -EINVAL;
		}
		flags->on[c & 127] = true;
		if (c == 'l')
			flags->limit = optarg;
	}
	if (argc - optind != cmd->operands) {
		fprintf(stderr, "td-util %s: %d operand(s) expected, %d given\n", cmd->name,
			cmd->operands, argc - optind);
		return -EINVAL;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const struct td_cmd *cmd = NULL;
	struct td_flags flags;
	enum td_type type;
	int rc;

	vu_program = "td-util";
	rt_log_open("td-util", 0);
	if (argc < 2) {
		usage(stderr);
		return EINVAL;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version"))
		return rt_print_version("td-util");
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (!strcmp(argv[1], commands[i].name))
			cmd = &commands[i];
	if (!cmd) {
		fprintf(stderr, "td-util: unknown %s '%s' (try 'td-util --help')\n",
			argv[1][0] == '-' ? "option" : "command", argv[1]);
		return EINVAL;
	}
	/* COMMAND --help, before the TYPE it would otherwise be taken for */
	if (argc >= 3 && (!strcmp(argv[2], "--help") || !strcmp(argv[2], "-h")))
		return command_usage(cmd);
	if (argc < 3 || (strcmp(argv[2], "vhd") && strcmp(argv[2], "aio"))) {
		fprintf(stderr, "td-util %s: TYPE must be vhd or aio%s%s\n", cmd->name,
			argc < 3 ? "" : ", not ", argc < 3 ? "" : argv[2]);
		return EINVAL;
	}
	type = strcmp(argv[2], "vhd") ? TD_AIO : TD_VHD;
	/* the options and operands after TYPE, with the command name as argv[0] for getopt */
	argv[2] = argv[1];
	rc = parse(cmd, argc - 2, argv + 2, &flags);
	if (rc > 0)
		return command_usage(cmd);
	if (rc == 0)
		rc = cmd->run(type, &flags, argv + 2 + optind);
	fflush(stdout);
	return rc < 0 ? -rc : 0;
}
