/* The 512-byte footer every VHD ends with (and dynamic disks also start with). */
#include <errno.h>
#include <string.h>

#include "private.h"

static const char footer_cookie[8] = { 'c', 'o', 'n', 'e', 'c', 't', 'i', 'x' };

int vhd_footer_init(struct vhd_footer *f, enum vhd_disk_type type, uint64_t size, time_t now)
{
	memset(f, 0, sizeof(*f));
	memcpy(f->cookie, footer_cookie, 8);
	f->features = VHD_FEATURES_RESERVED;
	f->ff_version = VHD_FF_VERSION;
	f->data_offset = type == VHD_TYPE_FIXED ? UINT64_MAX : VHD_FOOTER_SIZE;
	f->timestamp = vhd_time(now);
	memcpy(f->creator_app, "tap", 4); /* "tap\0" */
	f->creator_version = VHD_CREATOR_VERSION;
	f->creator_os = VHD_CREATOR_OS_WINDOWS;
	f->orig_size = size;
	f->curr_size = size;
	f->geometry = vhd_chs(size);
	f->type = type;
	return vhd_uuid_generate(f->uuid);
}

static void footer_pack(const struct vhd_footer *f, uint8_t *b)
{
	memcpy(b, f->cookie, 8);
	put_be32(b + 8, f->features);
	put_be32(b + 12, f->ff_version);
	put_be64(b + 16, f->data_offset);
	put_be32(b + 24, f->timestamp);
	memcpy(b + 28, f->creator_app, 4);
	put_be32(b + 32, f->creator_version);
	put_be32(b + 36, f->creator_os);
	put_be64(b + 40, f->orig_size);
	put_be64(b + 48, f->curr_size);
	put_be32(b + 56, f->geometry);
	put_be32(b + 60, f->type);
	put_be32(b + 64, f->checksum);
	memcpy(b + 68, f->uuid, 16);
	b[VHD_FOOTER_SAVED_OFFSET] = f->saved;
	b[VHD_FOOTER_HIDDEN_OFFSET] = f->hidden;
	memcpy(b + 86, f->reserved, sizeof(f->reserved));
}

void vhd_footer_encode(struct vhd_footer *f, uint8_t buf[VHD_FOOTER_SIZE])
{
	footer_pack(f, buf);
	f->checksum = vhd_checksum(buf, VHD_FOOTER_SIZE, VHD_FOOTER_CHECKSUM_OFFSET);
	put_be32(buf + VHD_FOOTER_CHECKSUM_OFFSET, f->checksum);
}

bool vhd_footer_by_tapdisk(const struct vhd_footer *f)
{
	return memcmp(f->creator_app, "tap", 3) == 0;
}

int vhd_footer_decode(const uint8_t b[VHD_FOOTER_SIZE], struct vhd_footer *f, const char **why)
{
	uint32_t sum;

	memcpy(f->cookie, b, 8);
	f->features = get_be32(b + 8);
	f->ff_version = get_be32(b + 12);
	f->data_offset = get_be64(b + 16);
	f->timestamp = get_be32(b + 24);
	memcpy(f->creator_app, b + 28, 4);
	f->creator_version = get_be32(b + 32);
	f->creator_os = get_be32(b + 36);
	f->orig_size = get_be64(b + 40);
	f->curr_size = get_be64(b + 48);
	f->geometry = get_be32(b + 56);
	f->type = get_be32(b + 60);
	f->checksum = get_be32(b + 64);
	memcpy(f->uuid, b + 68, 16);
	f->saved = b[VHD_FOOTER_SAVED_OFFSET];
	f->hidden = b[VHD_FOOTER_HIDDEN_OFFSET];
	memcpy(f->reserved, b + 86, sizeof(f->reserved));

	if (memcmp(f->cookie, footer_cookie, 8) != 0) {
		*why = "bad footer cookie (not \"conectix\")";
		return -EINVAL;
	}
	sum = vhd_checksum(b, VHD_FOOTER_SIZE, VHD_FOOTER_CHECKSUM_OFFSET);
	if (sum == f->checksum)
		return 0;
	/* early tapdisks set `hidden` without updating the checksum (blktap accepts these) */
	if (f->hidden && vhd_footer_by_tapdisk(f) &&
	    (f->creator_version == VHD_VERSION(0, 1) || f->creator_version == VHD_VERSION(1, 1)) &&
	    sum + f->hidden == f->checksum)
		return 0;
	*why = "footer checksum mismatch";
	return -EINVAL;
}

int vhd_footer_validate(const struct vhd_footer *f, const char **why)
{
	if (f->ff_version >> 16 != 1) {
		*why = "unsupported footer file format version";
		return -EINVAL;
	}
	if (f->type != VHD_TYPE_FIXED && f->type != VHD_TYPE_DYNAMIC && f->type != VHD_TYPE_DIFF) {
		*why = "unknown disk type in footer";
		return -EINVAL;
	}
	if (f->curr_size % VHD_SECTOR_SIZE) {
		*why = "virtual size is not a multiple of 512 bytes";
		return -EINVAL;
	}
	if (f->curr_size > VHD_MAX_SIZE) {
		*why = "virtual size exceeds 2 TiB";
		return -EINVAL;
	}
	return 0;
}

const char *vhd_type_name(uint32_t type)
{
	switch (type) {
	case 0:
		return "None";
	case VHD_TYPE_FIXED:
		return "Fixed hard disk";
	case VHD_TYPE_DYNAMIC:
		return "Dynamic hard disk";
	case VHD_TYPE_DIFF:
		return "Differencing hard disk";
	case 1:
	case 5:
	case 6:
		return "Reserved (deprecated)";
	default:
		return "Unknown type!";
	}
}
