/* vhd-util resize and revert: growing the virtual size, with a journal that revert replays if
 * the resize was interrupted. */
#include <errno.h>
#include <stdio.h>

#include "ringtap/vhd.h"
#include "cli.h"

struct resize_opts {
	const char *name, *journal;
	uint64_t size;
	bool have_size, fast;
};

static int resize_opt(int c, const char *arg, void *ctx)
{
	struct resize_opts *o = ctx;

	switch (c) {
	case 'n':
		o->name = arg;
		break;
	case 'j':
		o->journal = arg;
		break;
	case 'f':
		o->fast = true;
		break;
	case 's':
		o->have_size = true;
		if (vu_parse_u64(arg, VHD_MAX_CREATE_SIZE >> 20, &o->size))
			return vu_usage_error(&vu_resize, "bad size '%s' (MiB)", arg);
		break;
	}
	return 0;
}

static int run_resize(int argc, char **argv)
{
	struct resize_opts o = { 0 };
	struct vhd_file f;
	int rc;

	rc = vu_getopt(&vu_resize, argc, argv, "n:s:j:f", resize_opt, &o);
	if (rc)
		return rc;
	if (!o.name || !o.have_size)
		return vu_usage_error(&vu_resize, "-n NAME and -s SIZE_MIB are required");
	if (!o.journal == !o.fast)
		return vu_usage_error(&vu_resize, "exactly one of -j JOURNAL or -f is required");
	rc = vhd_open(&f, o.name, VHD_OPEN_RDWR);
	if (rc)
		return vu_error(&vu_resize, rc, "%s", f.err);
	if (!vhd_footer_by_tapdisk(&f.footer)) {
		/* blktap's refusal, word for word on stdout: XAPI only resizes its own VHDs */
		printf("%s not created by xen; resize not supported\n", o.name);
		vhd_close(&f);
		return -EINVAL;
	}
	rc = vhd_resize(&f, o.size << 20, o.journal);
	if (rc)
		vu_error(&vu_resize, rc, "%s", f.err);
	if (vhd_close(&f) && !rc)
		rc = vu_error(&vu_resize, -EIO, "%s: close failed", o.name);
	return rc;
}

static int run_revert(int argc, char **argv)
{
	struct resize_opts o = { 0 };
	char err[512];
	int rc;

	rc = vu_getopt(&vu_revert, argc, argv, "n:j:", resize_opt, &o);
	if (rc)
		return rc;
	if (!o.name || !o.journal)
		return vu_usage_error(&vu_revert, "-n NAME and -j JOURNAL are required");
	rc = vhd_revert(o.name, o.journal, err, sizeof(err));
	if (rc)
		return vu_error(&vu_revert, rc, "%s", err);
	return 0;
}

const struct vu_cmd vu_resize = {
	.name = "resize",
	.run = run_resize,
	.usage = "-n NAME -s SIZE_MIB (-j JOURNAL | -f)",
	.help = "Grow the virtual size to SIZE_MIB MiB (shrinking is refused; so is a VHD another\n"
		"tool created, as blktap does).\n"
		"  -j JOURNAL  may move data to enlarge the BAT; everything overwritten is saved in\n"
		"              JOURNAL first (removed on success; 'revert' undoes a failed resize)\n"
		"  -f          fast: only within the BAT reserved at creation (create -S), the\n"
		"              footer alone changes; safe while the disk is in use\n"
};

const struct vu_cmd vu_revert = {
	.name = "revert",
	.run = run_revert,
	.usage = "-n NAME -j JOURNAL",
	.help = "Undo an interrupted resize from its journal (a journal that was never completed\n"
		"means the disk was not touched: it is just removed).\n"
};
