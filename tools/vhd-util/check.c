/* vhd-util check and repair: refuse every corruption the library detects; rewrite lost or
 * damaged footers from the surviving copy. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ringtap/vhd.h"
#include "cli.h"

struct check_opts {
	const char *name;
	int flags;
	int open_flags; /* repair -b: VHD_OPEN_BACKUP_FOOTER */
};

static int check_opt(int c, const char *arg, void *ctx)
{
	struct check_opts *o = ctx;

	switch (c) {
	case 'n':
		o->name = arg;
		break;
	case 'i':
		o->flags |= VHD_CHECK_IGNORE_FOOTER;
		break;
	case 'B':
		o->flags |= VHD_CHECK_FAST;
		break;
	case 'p':
		o->flags |= VHD_CHECK_PARENTS;
		break;
	case 'b':
		o->open_flags |= VHD_OPEN_BACKUP_FOOTER;
		break;
	}
	return 0; /* -I, -t, -b, -s: blktap's, accepted (UUIDs are checked when parents are) */
}

static int run_check(int argc, char **argv)
{
	struct check_opts o = { 0 };
	char msg[1024];
	int rc;

	rc = vu_getopt(&vu_check, argc, argv, "n:iBpItbs", check_opt, &o);
	if (rc)
		return rc;
	if (!o.name)
		return vu_usage_error(&vu_check, "-n NAME is required");
	rc = vhd_check(o.name, o.flags, msg, sizeof(msg));
	if (rc)
		return vu_error(&vu_check, rc, "%s is invalid: %s", o.name, msg);
	printf("%s is valid\n", o.name);
	return 0;
}

static int run_repair(int argc, char **argv)
{
	struct check_opts o = { 0 };
	struct vhd_file f;
	bool fresh_uuid;
	int rc;

	rc = vu_getopt(&vu_repair, argc, argv, "n:b", check_opt, &o);
	if (rc)
		return rc;
	if (!o.name)
		return vu_usage_error(&vu_repair, "-n NAME is required");
	rc = vhd_open(&f, o.name, VHD_OPEN_RDWR | o.open_flags);
	if (rc)
		return vu_error(&vu_repair, rc, "%s", f.err);
	/* blktap gives a footer without an identity a new one */
	fresh_uuid = vhd_uuid_is_null(f.footer.uuid);
	if (fresh_uuid)
		rc = vhd_uuid_generate(f.footer.uuid);
	/* rewrite both footers from the one that survived (also when they merely differ) */
	if (!rc && (fresh_uuid || f.footer_from_copy || vhd_is_dynamic(&f)))
		rc = vhd_write_footers(&f);
	if (!rc)
		rc = vhd_flush(&f);
	if (rc)
		vu_error(&vu_repair, rc, "%s", f.err);
	vhd_close(&f);
	return rc;
}

const struct vu_cmd vu_check = {
	.name = "check",
	.run = run_check,
	.usage = "-n NAME [-i] [-B] [-p]",
	.help = "Validate a VHD: footers, header, BAT (entries inside the file, no overlaps), batmap,\n"
		"parent locators, every block's bitmap, parent loops. Prints \"NAME is valid\".\n"
		"  -i  ignore a missing trailing footer (the copy at offset 0 stands in)\n"
		"  -B  fast: do not read every block's bitmap\n"
		"  -p  the parent chain must be complete (a missing parent is an error)\n"
};

const struct vu_cmd vu_repair = {
	.name = "repair",
	.run = run_repair,
	.usage = "-n NAME [-b]",
	.help = "Rewrite the trailing footer and the copy at offset 0 from the valid one (after a\n"
		"crash lost the trailing footer); a footer with a null UUID gets a new one.\n"
		"  -b  take the footer from the copy at offset 0 even if the trailing one is valid\n"
};
