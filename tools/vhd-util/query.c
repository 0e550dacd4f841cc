/* vhd-util query: the one-line-per-field answers XAPI parses (sizes, parent, hidden, allocated
 * blocks, chain depth, fast-resize limit), always in blktap's order. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "ringtap/vhd.h"
#include "cli.h"

static int query_opt(int c, const char *arg, void *ctx)
{
	struct vu_query_opts *o = ctx;

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
	case 'u':
		o->unresolved = true;
		break;
	}
	return 0;
}

/* The parent as its first usable locator records it (relative to the child's directory, as
 * written), or the header's name: nothing is looked up, so a missing parent is no error. */
static int recorded_parent(struct vhd_file *f, char *out, size_t len)
{
	for (int i = 0; i < VHD_LOCATORS; i++)
		if (vhd_read_locator(f, i, out, len) == 0)
			return 0;
	return vhd_header_parent_name(&f->header, out, len);
}

static void print_parent(const struct vu_query_opts *o, struct vhd_file *f, int *err)
{
	char parent[PATH_MAX];
	int rc;

	if (f->footer.type != VHD_TYPE_DIFF) {
		printf("%s has no parent\n", o->name);
		return;
	}
	rc = o->unresolved ? recorded_parent(f, parent, sizeof(parent)) :
			     vhd_parent_path(f, parent, sizeof(parent));
	if (rc) {
		printf("query failed\n");
		*err = *err ? *err : vu_error(&vu_query, rc, "%s", f->err);
	} else {
		printf("%s\n", parent);
	}
}

int vu_query_image(const struct vu_query_opts *o)
{
	struct vhd_file f;
	int rc, err = 0;

	rc = vhd_open(&f, o->name, VHD_OPEN_RDONLY | o->open_flags);
	if (rc)
		return vu_error(&vu_query, rc, "Failed opening %s", f.err);

	if (o->virt)
		printf("%" PRIu64 "\n", f.footer.curr_size >> 20);
	if (o->phys)
		printf("%" PRIu64 "\n", vhd_physical_size(&f));
	if (o->parent)
		print_parent(o, &f, &err);
	if (o->fields)
		printf("hidden: %d\n", vhd_hidden(&f));
	if (o->marker)
		printf("marker: %d\n", f.has_batmap ? f.batmap.marker : 0);
	if (o->alloc)
		printf("%" PRIu32 "\n", vhd_allocated_blocks(&f));
	if (o->depth) {
		struct vhd_chain c;

		rc = vhd_chain_open(&c, o->name, VHD_OPEN_RDONLY);
		if (rc) {
			printf("error checking chain depth: %d\n", rc);
			err = err ? err : vu_error(&vu_query, rc, "%s", c.err);
		} else {
			printf("chain depth: %d\n", c.depth + (c.raw_fd >= 0));
			vhd_chain_close(&c);
		}
	}
	if (o->max)
		printf("%" PRIu64 "\n",
		       vhd_is_dynamic(&f) ?
			       ((uint64_t)f.header.max_bat_entries * f.header.block_size) >> 20 :
			       f.footer.curr_size >> 20);
	vhd_close(&f);
	return err;
}

static int run_query(int argc, char **argv)
{
	struct vu_query_opts o = { 0 };
	int rc;

	rc = vu_getopt(&vu_query, argc, argv, "n:vspfmadSu", query_opt, &o);
	if (rc)
		return rc;
	if (!o.name)
		return vu_usage_error(&vu_query, "-n NAME is required");
	return vu_query_image(&o);
}

const struct vu_cmd vu_query = {
	.name = "query",
	.run = run_query,
	.usage = "-n NAME [-v] [-s] [-p [-u]] [-f] [-m] [-a] [-d] [-S]",
	.help = "Print facts about a VHD, one per line, in this order:\n"
		"  -v  virtual size in MiB\n"
		"  -s  physical utilisation in bytes (end of data plus the footer)\n"
		"  -p  parent path, or \"NAME has no parent\"\n"
		"  -u  with -p: the parent as recorded in the file, without looking it up\n"
		"  -f  \"hidden: 0|1\"\n"
		"  -m  \"marker: N\" (tapdisk's batmap marker)\n"
		"  -a  number of allocated blocks\n"
		"  -d  \"chain depth: N\"\n"
		"  -S  largest virtual size in MiB a fast resize (resize -f) can reach\n"
};
