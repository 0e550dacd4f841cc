/* tap-ctl list: every tapdisk found by its control socket, each VBD it serves, and allocated
 * minors no tapdisk claims (blktap3's three-way join). Without a tty one line per entry in the
 * format XAPI parses: "pid=%d minor=%d state=%#x args=%s:%s"; on a tty a table. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tools/tap-ctl/tap-ctl.h"

/* One output row; -1 / NULL for what is unknown, as blktap3's tap_list_t. */
struct row {
	int pid, minor;
	long state;
	const char *type, *path;
};

struct filter {
	pid_t pid;
	int minor;
	const char *type, *file;
};

static bool keep(const struct filter *f, const struct row *r)
{
	/* as blktap3: a row lacking the field is not filtered out by it */
	if (f->minor >= 0 && r->minor != f->minor)
		return false;
	if (f->pid > 0 && r->pid != f->pid)
		return false;
	if (f->type && r->type && strcmp(r->type, f->type))
		return false;
	if (f->file && r->path && strcmp(r->path, f->file))
		return false;
	return true;
}

static void print_row(const struct row *r, bool tty)
{
	const char *sep = "";

	if (tty) {
		char pid[24] = "-", minor[24] = "-", state[24] = "-";

		if (r->pid >= 0)
			snprintf(pid, sizeof(pid), "%d", r->pid);
		if (r->minor >= 0)
			snprintf(minor, sizeof(minor), "%d", r->minor);
		if (r->state >= 0)
			snprintf(state, sizeof(state), "%#lx", (unsigned long)r->state);
		printf("%8s %5s %6s %6s %s\n", pid, minor, state, r->type ? r->type : "-",
		       r->path ? r->path : "-");
		return;
	}
	if (r->pid >= 0) {
		printf("pid=%d", r->pid);
		sep = " ";
	}
	if (r->minor >= 0) {
		printf("%sminor=%d", sep, r->minor);
		sep = " ";
	}
	if (r->state >= 0) {
		printf("%sstate=%#lx", sep, (unsigned long)r->state);
		sep = " ";
	}
	if (r->type && r->path)
		printf("%sargs=%s:%s", sep, r->type, r->path);
	putchar('\n');
}

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

/* Numbers N of directory entries named PREFIX<N>, sorted. Missing directory: none. */
static int scan_numbered(const char *dir, const char *prefix, int max, int **out, size_t *count)
{
	size_t plen = strlen(prefix), n = 0, cap = 0;
	struct dirent *de;
	int *v = NULL;
	DIR *d;

	*out = NULL;
	*count = 0;
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		const char *digits = de->d_name + plen;
		char *end;
		long num;

		if (strncmp(de->d_name, prefix, plen) || !*digits || *digits < '0' || *digits > '9')
			continue;
		errno = 0;
		num = strtol(digits, &end, 10);
		if (*end || errno || num < 0 || num > max)
			continue;
		if (n == cap) {
			int *nv = realloc(v, (cap = cap ? 2 * cap : 16) * sizeof(*v));

			if (!nv) {
				free(v);
				closedir(d);
				return -ENOMEM;
			}
			v = nv;
		}
		v[n++] = (int)num;
	}
	closedir(d);
	if (n)
		qsort(v, n, sizeof(*v), cmp_int);
	*out = v;
	*count = n;
	return 0;
}

static void claim(int *minors, size_t n, int minor)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (minors[i] == minor)
			minors[i] = -1;
}

/* Lists one tapdisk. Returns 0 (rows printed, or skipped if it is gone) or a positive errno
 * that makes the whole list fail (refused). */
static int list_tapdisk(const struct tapctl_cmd *cmd, const struct filter *f, pid_t pid, bool tty,
			int *minors, size_t nminors)
{
	struct ctl_client *c;
	struct ctl_list l;
	struct row r = { pid, -1, -1, NULL, NULL };
	unsigned int i;
	int err;

	err = ctl_client_connect_pid(pid, tapctl_timeout_ms(TAPCTL_LIST_TIMEOUT_S), &c);
	if (err == -ENOENT || err == -ECONNREFUSED)
		return 0; /* a stale socket: that tapdisk is gone */
	if (err == -EACCES || err == -EPERM)
		return tapctl_fail(cmd, err, NULL, "tapdisk %d", (int)pid);
	if (!err) {
		err = ctl_list(c, &l);
		if (err == -EACCES || err == -EPERM) {
			tapctl_fail(cmd, err, c, "tapdisk %d", (int)pid);
			ctl_client_close(c);
			return -err;
		}
		ctl_client_close(c);
	}
	if (err || l.count == 0) {
		/* as blktap3: a tapdisk that serves nothing (or does not answer) is listed alone */
		if (err)
			tapctl_fail(cmd, err, NULL, "tapdisk %d did not answer", (int)pid);
		if (keep(f, &r))
			print_row(&r, tty);
		if (!err)
			ctl_list_release(&l);
		return 0;
	}
	for (i = 0; i < l.count; i++) {
		const struct ctl_list_entry *e = &l.entries[i];

		r.minor = e->minor;
		r.state = e->state;
		r.type = ctl_image_type_name(e->image.type);
		r.path = r.type ? e->image.path : NULL;
		claim(minors, nminors, e->minor);
		if (keep(f, &r))
			print_row(&r, tty);
	}
	ctl_list_release(&l);
	return 0;
}

int tapctl_cmd_list(const struct tapctl_cmd *cmd, int argc, char **argv)
{
	struct filter f = { -1, -1, NULL, NULL };
	char minors_dir[PATH_MAX];
	int *pids = NULL, *minors = NULL, c, err, rc = 0;
	size_t npids, nminors, i;
	bool tty;

	while ((c = tapctl_getopt(cmd, argc, argv, "p:m:t:f:")) != -1) {
		switch (c) {
		case 'p':
			if (tapctl_parse_pid(cmd, optarg, &f.pid))
				return EINVAL;
			break;
		case 'm':
			if (tapctl_parse_minor(cmd, optarg, &f.minor))
				return EINVAL;
			break;
		case 't':
			f.type = ctl_image_type_name(ctl_image_type_from_name(optarg));
			if (!f.type) {
				tapctl_msg(cmd, "unknown image type '%s' (aio, raw, vhd or nbd)",
					   optarg);
				return EINVAL;
			}
			break;
		case 'f':
			f.file = optarg;
			break;
		case 'h':
			tapctl_usage(cmd, stdout);
			return 0;
		default:
			return EINVAL;
		}
	}
	if ((err = tapctl_no_operands(cmd, argc, argv)))
		return err;

	/* a dead tapdisk is not listed, nor the minors it held: its leftovers go first */
	ctl_reap_dead();
	snprintf(minors_dir, sizeof(minors_dir), "%s/tapdisk", ctl_run_dir());
	err = scan_numbered(ctl_run_dir(), "ctl", INT_MAX, &pids, &npids);
	if (!err)
		err = scan_numbered(minors_dir, "tapdisk-", CTL_MINOR_MAX - 1, &minors, &nminors);
	if (err) {
		free(pids);
		return tapctl_fail(cmd, err, NULL, "cannot read %s", ctl_run_dir());
	}

	tty = isatty(STDOUT_FILENO);
	if (tty)
		printf("%8s %5s %6s %6s %s\n", "pid", "minor", "state", "type", "file");
	for (i = 0; i < npids && !rc; i++)
		if (f.pid <= 0 || pids[i] == f.pid)
			rc = list_tapdisk(cmd, &f, pids[i], tty, minors, nminors);
	/* orphaned minors: allocated, no tapdisk serving them (not with -p, as blktap3) */
	for (i = 0; i < nminors && !rc && f.pid <= 0; i++) {
		struct row r = { -1, minors[i], -1, NULL, NULL };

		if (minors[i] >= 0 && keep(&f, &r))
			print_row(&r, tty);
	}
	free(pids);
	free(minors);
	return rc;
}
