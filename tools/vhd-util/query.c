/* vhd-util query: the one-line-per-field answers XAPI parses (sizes, parent, hidden, allocated
 * blocks, chain depth, fast-resize limit), always in blktap's order. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "ringtap/vhd.h"
#include "cli.h"

struct query_opts {
	const char *name;
	bool virt, phys, parent, fields, marker, alloc, depth, max;
};

static int query_opt(int c, const char *arg, void *ctx)
{
	struct query_opts *o = ctx;

	switch (c) {
	case 'n':
		o->name = arg;
		break;
	case 'v':
		o->virt = true;
		break;
	case 's':
		o->phys = true;
		break;
	case 'p':
		o->parent = true;
		break;
	case 'f':
		o->fields = true;
		break;
	case 'm':
		o->marker = true;
		break;
	case 'a':
		o->alloc = true;
		break;
	case 'd':
		o->depth = true;
		break;
	case 'S':
		o->max = true;
		break;
	}
	return 0;
}

static int run_query(int argc, char **argv)
{
	struct query_opts o = { 0 };
	struct vhd_file f;
	int rc, err = 0;

	rc = vu_getopt(&vu_query, argc, argv, "n:vspfmadS", query_opt, &o);
	if (rc)
		return rc;
	if (!o.name)
		return vu_usage_error(&vu_query, "-n NAME is required");
	rc = vhd_open(&f, o.name, VHD_OPEN_RDONLY);
	if (rc)
		return vu_error(&vu_query, rc, "Failed opening %s", f.err);

	if (o.virt)
		printf("%" PRIu64 "\n", f.footer.curr_size >> 20);
	if (o.phys)
		printf("%" PRIu64 "\n", vhd_physical_size(&f));
	if (o.parent) {
		char parent[PATH_MAX];

		if (f.footer.type != VHD_TYPE_DIFF) {
			printf("%s has no parent\n", o.name);
		} else if ((rc = vhd_parent_path(&f, parent, sizeof(parent)))) {
			printf("query failed\n");
			err = err ? err : vu_error(&vu_query, rc, "%s", f.err);
		} else {
			printf("%s\n", parent);
		}
	}
	if (o.fields)
		printf("hidden: %d\n", vhd_hidden(&f));
	if (o.marker)
		printf("marker: %d\n", f.has_batmap ? f.batmap.marker : 0);
	if (o.alloc)
		printf("%" PRIu32 "\n", vhd_allocated_blocks(&f));
	if (o.depth) {
		struct vhd_chain c;

		rc = vhd_chain_open(&c, o.name, VHD_OPEN_RDONLY);
		if (rc) {
			printf("error checking chain depth: %d\n", rc);
			err = err ? err : vu_error(&vu_query, rc, "%s", c.err);
		} else {
			printf("chain depth: %d\n", c.depth + (c.raw_fd >= 0));
			vhd_chain_close(&c);
		}
	}
	if (o.max)
		printf("%" PRIu64 "\n",
		       vhd_is_dynamic(&f) ?
			       ((uint64_t)f.header.max_bat_entries * f.header.block_size) >> 20 :
			       f.footer.curr_size >> 20);
	vhd_close(&f);
	return err;
}

const struct vu_cmd vu_query = {
	.name = "query",
	.run = run_query,
	.usage = "-n NAME [-v] [-s] [-p] [-f] [-m] [-a] [-d] [-S]",
	.help = "Print facts about a VHD, one per line, in this order:\n"
		"  -v  virtual size in MiB\n"
		"  -s  physical utilisation in bytes (end of data plus the footer)\n"
		"  -p  parent path, or \"NAME has no parent\"\n"
		"  -f  \"hidden: 0|1\"\n"
		"  -m  \"marker: N\" (tapdisk's batmap marker)\n"
		"  -a  number of allocated blocks\n"
		"  -d  \"chain depth: N\"\n"
		"  -S  largest virtual size in MiB a fast resize (resize -f) can reach\n"
};
