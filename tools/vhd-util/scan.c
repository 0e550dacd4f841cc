/* vhd-util scan: one line per VHD matching a pattern (files, or logical volumes of a volume
 * group), "vhd=<name> capacity=<bytes> size=<bytes> hidden=<0|1> parent=<name|none>", which
 * XAPI parses to build its view of an SR. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <glob.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ringtap/vhd.h"
#include "cli.h"

struct scan_opts {
	const char *pattern, *vg;
	bool fast, nofail, parents, verbose, markers;
};

struct targets {
	char **names; /* paths to open */
	bool *raw; /* a raw parent found with -a: listed, not opened as a VHD */
	int n, cap;
};

static int scan_opt(int c, const char *arg, void *ctx)
{
	struct scan_opts *o = ctx;

	switch (c) {
	case 'm':
		o->pattern = arg;
		break;
	case 'f':
		o->fast = true;
		break;
	case 'c':
		o->nofail = true;
		break;
	case 'l':
		o->vg = arg;
		break;
	case 'a':
		o->parents = true;
		break;
	case 'v':
		o->verbose = true;
		break;
	case 'M':
		o->markers = true;
		break;
	case 'p': /* pretty (tree) printing: the flat listing carries the same facts */
		break;
	}
	return 0;
}

static const char *base(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

static int add_target(struct targets *t, const char *path, bool raw)
{
	for (int i = 0; i < t->n; i++)
		if (!strcmp(base(t->names[i]), base(path)))
			return 0;
	if (t->n == t->cap) {
		int cap = t->cap ? 2 * t->cap : 16;
		char **names = realloc(t->names, sizeof(*names) * (size_t)cap);
		bool *kinds;

		if (!names)
			return -ENOMEM;
		t->names = names;
		kinds = realloc(t->raw, sizeof(*kinds) * (size_t)cap);
		if (!kinds)
			return -ENOMEM;
		t->raw = kinds;
		t->cap = cap;
	}
	t->raw[t->n] = raw;
	t->names[t->n] = strdup(path);
	return t->names[t->n++] ? 0 : -ENOMEM;
}

/* A raw parent's line, as blktap prints it: its size is both capacity and size. */
static int scan_raw(struct scan_opts *o, const char *path)
{
	const char *shown = o->verbose ? path : base(path);
	int fd = open(path, O_RDONLY | O_CLOEXEC), err;
	off_t end;

	if (fd < 0) {
		err = -errno;
		printf("vhd=%s scan-error=%d error-message='opening file: %s'\n", shown, err,
		       strerror(-err));
		return err;
	}
	end = lseek(fd, 0, SEEK_END);
	err = end < 0 ? -errno : 0;
	close(fd);
	if (err) {
		printf("vhd=%s scan-error=%d error-message='getting size: %s'\n", shown, err,
		       strerror(-err));
		return err;
	}
	printf("vhd=%s capacity=%lld size=%lld hidden=0 parent=none\n", shown, (long long)end,
	       (long long)end);
	return 0;
}

/* LVHD locators hold /dev/mapper/VG--name-LV--name: back to the LV's name. */
static void volume_name(const char *src, char *dst, size_t len)
{
	char copy[PATH_MAX], *c = copy, *slash;
	const char *s = base(src);

	for (; *s && c < copy + sizeof(copy) - 1; s++, c++) {
		if (*s == '-' && s[1] == '-')
			*c = *++s;
		else if (*s == '-')
			*c = '/';
		else
			*c = *s;
	}
	*c = '\0';
	slash = strrchr(copy, '/');
	snprintf(dst, len, "%s", slash ? slash + 1 : base(src));
}

static int scan_one(struct scan_opts *o, struct targets *t, const char *path)
{
	const char *shown = o->verbose ? path : base(path);
	char parent[PATH_MAX] = "", pname[PATH_MAX];
	struct vhd_file f;
	struct stat st;
	uint64_t size;
	int err;

	err = vhd_open(&f, path, VHD_OPEN_RDONLY);
	if (err) {
		const char *msg = strchr(f.err, ':') ? strchr(f.err, ':') + 2 : f.err;

		printf("vhd=%s scan-error=%d error-message='opening file: %s'\n", path, err, msg);
		return err;
	}
	size = f.file_size;
	if (!f.is_block && fstat(f.fd, &st) == 0)
		size = (uint64_t)st.st_size;
	if (f.footer.type == VHD_TYPE_DIFF) {
		err = 1;
		if (o->fast)
			err = vhd_header_parent_name(&f.header, parent, sizeof(parent));
		if (err)
			err = vhd_parent_path(&f, parent, sizeof(parent));
		if (err && parent[0])
			err = 0; /* a parent not present: report the name it was recorded under */
		if (err) {
			printf("vhd=%s scan-error=%d error-message='getting parent: %s'\n", path,
			       err, strchr(f.err, ':') ? strchr(f.err, ':') + 2 : f.err);
			vhd_close(&f);
			return err;
		}
		if (o->vg)
			volume_name(parent, pname, sizeof(pname));
		else
			snprintf(pname, sizeof(pname), "%s", o->verbose ? parent : base(parent));
	}
	if (o->markers)
		printf("vhd=%s capacity=%" PRIu64 " size=%" PRIu64
		       " hidden=%d marker=%d keyhash= parent=%s\n",
		       shown, f.footer.curr_size, size, vhd_hidden(&f),
		       f.has_batmap ? f.batmap.marker : 0, parent[0] ? pname : "none");
	else
		printf("vhd=%s capacity=%" PRIu64 " size=%" PRIu64 " hidden=%d parent=%s\n", shown,
		       f.footer.curr_size, size, vhd_hidden(&f), parent[0] ? pname : "none");
	err = 0;
	if (o->parents && parent[0]) {
		char full[2 * PATH_MAX];

		if (o->vg)
			snprintf(full, sizeof(full), "/dev/%s/%s", o->vg, pname);
		else if (parent[0] == '/')
			snprintf(full, sizeof(full), "%s", parent);
		else
			snprintf(full, sizeof(full), "%.*s%s", (int)(base(path) - path), path,
				 parent);
		err = add_target(t, full, vhd_parent_is_raw(&f));
	}
	vhd_close(&f);
	return err;
}

static int find_volumes(struct scan_opts *o, struct targets *t)
{
	char dir[PATH_MAX], path[2 * PATH_MAX];
	struct dirent **ents;
	int n, err = 0;

	snprintf(dir, sizeof(dir), "/dev/%s", o->vg);
	n = scandir(dir, &ents, NULL, alphasort);
	if (n < 0)
		return vu_error(&vu_scan, -errno,
				"volume group %s: %s (only active logical "
				"volumes are scanned)",
				o->vg, strerror(errno));
	for (int i = 0; i < n; i++) {
		if (!err && ents[i]->d_name[0] != '.' &&
		    (!o->pattern ||
		     !fnmatch(o->pattern, ents[i]->d_name, FNM_PATHNAME | FNM_EXTMATCH))) {
			snprintf(path, sizeof(path), "%s/%s", dir, ents[i]->d_name);
			err = add_target(t, path, false);
		}
		free(ents[i]);
	}
	free(ents);
	return err;
}

static int run_scan(int argc, char **argv)
{
	struct scan_opts o = { 0 };
	struct targets t = { 0 };
	int rc, err = 0, first_operand, matched;

	rc = vu_getopt(&vu_scan, argc, argv, "m:fcl:pavM", scan_opt, &o);
	if (rc)
		return rc;
	first_operand = optind;
	if (!o.pattern && first_operand == argc)
		return vu_usage_error(&vu_scan, "-m PATTERN or file names are required");
	if (o.vg) {
		err = find_volumes(&o, &t);
	} else if (o.pattern) {
		glob_t g;

		rc = glob(o.pattern, GLOB_BRACE, NULL, &g);
		if (rc == 0) {
			for (size_t i = 0; i < g.gl_pathc && !err; i++)
				err = add_target(&t, g.gl_pathv[i], false);
		} else if (rc != GLOB_NOMATCH) {
			err = vu_error(&vu_scan, -EIO, "cannot expand '%s'", o.pattern);
		}
		globfree(&g);
	}
	for (int i = first_operand; i < argc && !err; i++)
		err = add_target(&t, argv[i], false);
	/* parents found with -a are appended and scanned in turn; like blktap, a parent that
	 * cannot be read gets its scan-error line but does not fail the scan */
	matched = t.n;
	for (int i = 0; i < t.n && !err; i++) {
		rc = t.raw[i] ? scan_raw(&o, t.names[i]) : scan_one(&o, &t, t.names[i]);
		if (rc && !o.nofail && i < matched)
			err = rc;
	}
	for (int i = 0; i < t.n; i++)
		free(t.names[i]);
	free(t.names);
	free(t.raw);
	return err;
}

const struct vu_cmd vu_scan = {
	.name = "scan",
	.run = run_scan,
	.usage = "[-m PATTERN] [-f] [-c] [-l VG] [-a] [-v] [-M] [-p] [FILE...]",
	.help = "Print one line per VHD:\n"
		"  vhd=NAME capacity=BYTES size=BYTES hidden=0|1 parent=NAME|none\n"
		"or, for one that cannot be read, vhd=NAME scan-error=ERRNO error-message='...'.\n"
		"  -m PATTERN  files matching the glob PATTERN (with -l: logical volume names)\n"
		"  -f          fast: take parent names from the header, without finding the files\n"
		"  -c          continue after failures (exit 0)\n"
		"  -l VG       scan the active logical volumes of volume group VG\n"
		"  -a          scan the parents of what matched too (a raw parent gets a line with\n"
		"              parent=none; a parent that cannot be read, a scan-error line, exit 0)\n"
		"  -v          full paths instead of base names\n"
		"  -M          add marker= and keyhash= fields\n"
		"  -p          accepted for compatibility (the listing is flat)\n",
	.operands = true,
};
