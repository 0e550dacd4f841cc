/* vhd-util set, modify and key: edits of single metadata fields (hidden flag, parent, physical
 * size, emptying the BAT) and the encryption-key query XAPI makes. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ringtap/vhd.h"
#include "cli.h"

struct modify_opts {
	const char *name, *field, *value, *parent;
	bool parent_raw, zero, have_phys, print, set;
	uint64_t phys;
};

static int modify_opt(int c, const char *arg, void *ctx)
{
	struct modify_opts *o = ctx;

	switch (c) {
	case 'n':
		o->name = arg;
		break;
	case 'f':
		o->field = arg;
		break;
	case 'v':
		o->value = arg;
		break;
	case 'p':
		o->parent = arg;
		o->print = true;
		break;
	case 'm':
		o->parent_raw = true;
		break;
	case 'z':
		o->zero = true;
		break;
	case 's':
		o->set = true;
		o->have_phys = true;
		if (arg && vu_parse_u64(arg, VHD_MAX_SIZE, &o->phys))
			return vu_usage_error(&vu_modify, "bad size '%s' (bytes)", arg);
		break;
	}
	return 0;
}

static int run_set(int argc, char **argv)
{
	struct modify_opts o = { 0 };
	struct vhd_file f;
	uint64_t v;
	int rc;

	rc = vu_getopt(&vu_set, argc, argv, "n:f:v:", modify_opt, &o);
	if (rc)
		return rc;
	if (!o.name || !o.field || !o.value)
		return vu_usage_error(&vu_set, "-n NAME, -f FIELD and -v VALUE are required");
	if (strcmp(o.field, "hidden") && strcmp(o.field, "marker"))
		return vu_usage_error(&vu_set, "unknown field '%s' (hidden, marker)", o.field);
	if (vu_parse_u64(o.value, 255, &v) || (!strcmp(o.field, "hidden") && v > 1))
		return vu_usage_error(&vu_set, "bad value '%s' for %s", o.value, o.field);
	rc = vhd_open(&f, o.name, VHD_OPEN_RDWR);
	if (rc)
		return vu_error(&vu_set, rc, "%s", f.err);
	if (!strcmp(o.field, "hidden")) {
		f.footer.hidden = (uint8_t)v;
		rc = vhd_write_footers(&f);
	} else if (!f.has_batmap) {
		rc = vhd_fail(&f, -EINVAL, "no batmap to hold a marker");
	} else {
		f.batmap.marker = (uint8_t)v;
		rc = vhd_write_batmap(&f);
	}
	if (rc)
		vu_error(&vu_set, rc, "%s", f.err);
	if (vhd_close(&f) && !rc)
		rc = vu_error(&vu_set, -EIO, "%s: close failed", o.name);
	return rc;
}

static int zero_data(struct vhd_file *f)
{
	int err;

	if (!vhd_is_dynamic(f))
		return vhd_fail(f, -EINVAL, "not a dynamic disk");
	/* the batmap first: a set bit must never outlive the block it describes */
	if (f->has_batmap) {
		memset(f->batmap_map, 0, vhd_sectors_to_bytes(f->batmap.size));
		err = vhd_write_batmap(f);
		if (err)
			return err;
	}
	for (uint32_t i = 0; i < f->header.max_bat_entries; i++)
		f->bat[i] = VHD_BAT_UNUSED;
	err = vhd_write_bat(f);
	if (err)
		return err;
	f->end_of_data = f->end_of_metadata;
	return vhd_write_footers(f);
}

/* blktap's vhd_set_phys_size: the footer goes to BYTES - 512. On a logical volume XAPI does this
 * before shrinking it (and after growing it), so the footer is at the end either way. */
static int set_phys_size(struct vhd_file *f, uint64_t size)
{
	uint8_t buf[VHD_FOOTER_SIZE];

	if (size < vhd_physical_size(f) || size % VHD_SECTOR_SIZE)
		return vhd_fail(f, -EINVAL,
				"new physical size %" PRIu64 " is below the data's end (%" PRIu64
				") or not a multiple of 512",
				size, vhd_physical_size(f));
	if (f->is_block && size > f->file_size)
		return vhd_fail(f, -ENOSPC, "the device is only %" PRIu64 " bytes", f->file_size);
	vhd_footer_encode(&f->footer, buf);
	if (pwrite(f->fd, buf, sizeof(buf), (off_t)(size - VHD_FOOTER_SIZE)) != sizeof(buf))
		return vhd_fail(f, -EIO, "cannot write the footer at %" PRIu64, size);
	if (fsync(f->fd) < 0)
		return vhd_fail(f, -errno, "fsync: %s", strerror(errno));
	return 0;
}

static int run_modify(int argc, char **argv)
{
	struct modify_opts o = { 0 };
	struct vhd_file f;
	int rc;

	rc = vu_getopt(&vu_modify, argc, argv, "n:p:ms:z", modify_opt, &o);
	if (rc)
		return rc;
	if (!o.name)
		return vu_usage_error(&vu_modify, "-n NAME is required");
	if (!o.parent && !o.have_phys && !o.zero)
		return vu_usage_error(&vu_modify, "nothing to do: -p, -s or -z");
	if (o.parent_raw && !o.parent)
		return vu_usage_error(&vu_modify, "-m goes with -p");
	rc = vhd_open(&f, o.name, VHD_OPEN_RDWR);
	if (rc)
		return vu_error(&vu_modify, rc, "%s", f.err);
	if (o.zero)
		rc = zero_data(&f);
	if (!rc && o.parent)
		rc = vhd_set_parent(&f, o.parent, o.parent_raw);
	if (!rc && o.have_phys)
		rc = set_phys_size(&f, o.phys);
	if (rc)
		vu_error(&vu_modify, rc, "%s", f.err);
	if (vhd_close(&f) && !rc)
		rc = vu_error(&vu_modify, -EIO, "%s: close failed", o.name);
	return rc;
}

static int key_opt(int c, const char *arg, void *ctx)
{
	struct modify_opts *o = ctx;

	if (c == 'n')
		o->name = arg;
	else if (c == 'p')
		o->print = true;
	else
		o->set = true;
	return 0;
}

static int run_key(int argc, char **argv)
{
	struct modify_opts o = { 0 };
	struct vhd_file f;
	int rc;

	rc = vu_getopt(&vu_key, argc, argv, "n:psk:H:C", key_opt, &o);
	if (rc)
		return rc;
	if (!o.name || o.print == o.set)
		return vu_usage_error(&vu_key, "-n NAME and one of -p or -s are required");
	if (o.set)
		return vu_error(&vu_key, -EOPNOTSUPP, "encrypted VHDs are not supported");
	rc = vhd_open(&f, o.name, VHD_OPEN_RDONLY);
	if (rc)
		return vu_error(&vu_key, rc, "%s", f.err);
	printf("none\n"); /* no key hash: this VHD is not encrypted */
	vhd_close(&f);
	return 0;
}

const struct vu_cmd vu_set = {
	.name = "set",
	.run = run_set,
	.usage = "-n NAME -f FIELD -v VALUE",
	.help = "Set a metadata field.\n"
		"  -f hidden -v 0|1   the hidden flag (footer byte 85, as blktap)\n"
		"  -f marker -v N     tapdisk's batmap marker\n"
};

const struct vu_cmd vu_modify = {
	.name = "modify",
	.run = run_modify,
	.usage = "-n NAME [-p PARENT [-m]] [-s BYTES] [-z]",
	.help = "Modify a VHD.\n"
		"  -p PARENT  set the parent (rewrites locators, parent name, UUID and timestamp)\n"
		"  -m         PARENT is a raw file or device\n"
		"  -s BYTES   set the physical size: the footer moves to BYTES - 512\n"
		"  -z         drop all data: every BAT entry becomes unused\n"
};

const struct vu_cmd vu_key = {
	.name = "key",
	.run = run_key,
	.usage = "-n NAME -p | -s [-k FILE] [-H HASH] [-C]",
	.help = "Encryption keys: -p prints the key hash (\"none\": ringtap's VHDs are not\n"
		"encrypted); -s is not supported.\n"
};
