/* vhd-util create and snapshot: new dynamic, fixed (preallocated) and differencing disks. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringtap/vhd.h"
#include "cli.h"

#define MAX_MIB (VHD_MAX_CREATE_SIZE >> 20)

struct create_opts {
	struct vu_image_opts img;
	bool have_size;
};

static int create_opt(int c, const char *arg, void *ctx)
{
	struct create_opts *co = ctx;
	struct vu_image_opts *o = &co->img;
	const struct vu_cmd *cmd = o->parent || c == 'p' ? &vu_snapshot : &vu_create;

	switch (c) {
	case 'n':
		o->name = arg;
		return 0;
	case 's':
		co->have_size = true;
		return vu_parse_u64(arg, MAX_MIB, &o->size_mib) ?
			       vu_usage_error(&vu_create, "bad size '%s' (MiB, at most %llu)", arg,
					      (unsigned long long)MAX_MIB) :
			       0;
	case 'S':
		return vu_parse_u64(arg, MAX_MIB, &o->msize_mib) ?
			       vu_usage_error(cmd, "bad metadata size '%s' (MiB, at most %llu)",
					      arg, (unsigned long long)MAX_MIB) :
			       0;
	case 'r':
		o->reserve = true;
		return 0;
	case 'p':
		o->parent = arg;
		return 0;
	case 'm':
		o->parent_raw = true;
		return 0;
	case 'e':
		o->no_empty_check = true;
		return 0;
	case 'l':
		return vu_parse_u64(arg, 1000, &o->limit) ?
			       vu_usage_error(&vu_snapshot, "bad depth limit '%s'", arg) :
			       0;
	}
	return -EINVAL;
}

int vu_create_image(const struct vu_image_opts *o)
{
	struct vhd_create_params p = { 0 };
	struct vu_progress prog;
	char err[512];
	int rc;

	if (!o->size_mib)
		return vu_error(&vu_create, -EINVAL, "the size must be at least 1 MiB");
	if (o->size_mib > MAX_MIB || o->msize_mib > MAX_MIB)
		return vu_error(&vu_create, -EINVAL, "sizes are limited to %llu MiB (2 TiB)",
				(unsigned long long)MAX_MIB);
	if (o->msize_mib && o->msize_mib < o->size_mib) {
		/* blktap says so on stdout, where XAPI's storage manager logs it */
		printf("Error: <-S size> must be greater than <-s size>\n");
		return vu_error(&vu_create, -EINVAL,
				"-S (%llu MiB) must not be below -s (%llu MiB)",
				(unsigned long long)o->msize_mib, (unsigned long long)o->size_mib);
	}
	p.type = o->reserve ? VHD_TYPE_FIXED : VHD_TYPE_DYNAMIC;
	p.size = o->size_mib << 20;
	p.meta_size = o->msize_mib << 20;
	vu_progress_start(&prog, "preallocating");
	p.progress = vu_progress_cb;
	p.progress_arg = &prog;
	rc = vhd_create(o->name, &p, err, sizeof(err));
	vu_progress_end(&prog);
	if (rc)
		return vu_error(&vu_create, rc, "%s", err);
	return 0;
}

static int run_create(int argc, char **argv)
{
	struct create_opts o = { 0 };
	int rc;

	rc = vu_getopt(&vu_create, argc, argv, "n:s:S:r", create_opt, &o);
	if (rc)
		return rc;
	if (!o.img.name || !o.have_size)
		return vu_usage_error(&vu_create, "-n NAME and -s SIZE are required");
	return vu_create_image(&o.img);
}

/* blktap: an empty differencing parent adds nothing; link to its first non-empty ancestor. */
static int snapshot_target(const char *ppath, char *out, size_t outlen, bool *raw)
{
	char cur[PATH_MAX];
	int depth = 0, err;

	snprintf(cur, sizeof(cur), "%s", ppath);
	*raw = false;
	for (;;) {
		struct vhd_file f;

		err = vhd_open(&f, cur, VHD_OPEN_RDONLY);
		if (err)
			return vu_error(&vu_snapshot, err, "%s", f.err);
		if (f.footer.type != VHD_TYPE_DIFF || vhd_allocated_blocks(&f) ||
		    ++depth > VHD_MAX_CHAIN_DEPTH) {
			vhd_close(&f);
			break;
		}
		err = vhd_parent_path(&f, cur, sizeof(cur));
		if (!err)
			*raw = vhd_parent_is_raw(&f);
		if (err)
			vu_error(&vu_snapshot, err, "%s", f.err);
		vhd_close(&f);
		if (err)
			return err;
		if (*raw)
			break;
	}
	snprintf(out, outlen, "%s", cur);
	return 0;
}

static int chain_depth(const char *path, int *depth)
{
	struct vhd_chain c;
	int err = vhd_chain_open(&c, path, VHD_OPEN_RDONLY);

	if (err)
		return vu_error(&vu_snapshot, err, "%s", c.err);
	*depth = c.depth + (c.raw_fd >= 0);
	vhd_chain_close(&c);
	return 0;
}

int vu_snapshot_image(const struct vu_image_opts *o)
{
	struct vhd_create_params p = { 0 };
	char ppath[PATH_MAX], backing[PATH_MAX], err[512];
	int rc;

	if (o->msize_mib > MAX_MIB)
		return vu_error(&vu_snapshot, -EINVAL, "sizes are limited to %llu MiB (2 TiB)",
				(unsigned long long)MAX_MIB);
	rc = vhd_canonical_path(o->parent, ppath, sizeof(ppath));
	if (rc)
		return vu_error(&vu_snapshot, rc, "parent %s: %s", o->parent, strerror(-rc));
	p.type = VHD_TYPE_DIFF;
	p.parent_raw = o->parent_raw;
	snprintf(backing, sizeof(backing), "%s", ppath);
	if (!o->parent_raw && !o->no_empty_check) {
		bool raw;

		rc = snapshot_target(ppath, backing, sizeof(backing), &raw);
		if (rc)
			return rc;
		p.parent_raw = raw;
		if (strcmp(backing, ppath)) {
			/* sizes along the chain may differ: the child takes the named parent's */
			struct vhd_file f;

			rc = vhd_open(&f, ppath, VHD_OPEN_RDONLY);
			if (rc)
				return vu_error(&vu_snapshot, rc, "%s", f.err);
			p.size = f.footer.curr_size;
			vhd_close(&f);
		}
	}
	if (o->limit && !p.parent_raw) {
		int depth = 0;

		rc = chain_depth(backing, &depth);
		if (rc)
			return rc;
		if ((uint64_t)depth + 1 > o->limit) {
			/* on stdout, as blktap: callers read the reason there */
			printf("snapshot depth exceeded: current depth: %d, limit: %llu\n", depth,
			       (unsigned long long)o->limit);
			return -ENOSPC;
		}
	}
	p.parent = backing;
	p.meta_size = o->msize_mib << 20;
	rc = vhd_create(o->name, &p, err, sizeof(err));
	if (rc)
		return vu_error(&vu_snapshot, rc, "%s", err);
	return 0;
}

static int run_snapshot(int argc, char **argv)
{
	struct create_opts o = { 0 };
	int rc;

	rc = vu_getopt(&vu_snapshot, argc, argv, "n:p:S:l:me", create_opt, &o);
	if (rc)
		return rc;
	if (!o.img.name || !o.img.parent)
		return vu_usage_error(&vu_snapshot, "-n NAME and -p PARENT are required");
	return vu_snapshot_image(&o.img);
}

const struct vu_cmd vu_create = {
	.name = "create",
	.run = run_create,
	.usage = "-n NAME -s SIZE_MIB [-r] [-S META_MIB]",
	.help = "Create a dynamic VHD of SIZE_MIB MiB (rounded up to 2 MiB blocks).\n"
		"  -n NAME      the file (or block device) to create; an existing file is refused\n"
		"  -s SIZE_MIB  virtual size in MiB\n"
		"  -r           reserve: a fixed disk, all space preallocated\n"
		"  -S META_MIB  size the BAT for up to META_MIB MiB, for fast resizes (resize -f)\n"
};

const struct vu_cmd vu_snapshot = {
	.name = "snapshot",
	.run = run_snapshot,
	.usage = "-n NAME -p PARENT [-m] [-S META_MIB] [-e] [-l LIMIT]",
	.help = "Create a differencing VHD whose parent is PARENT.\n"
		"  -m           PARENT is a raw file or device\n"
		"  -S META_MIB  size the BAT for up to META_MIB MiB\n"
		"  -e           link to PARENT even if it is an empty differencing disk (by default\n"
		"               its first non-empty ancestor becomes the parent)\n"
		"  -l LIMIT     refuse if the new chain would be deeper than LIMIT\n"
};
