/* The 1024-byte dynamic disk header ("cxsparse"): BAT location and size, block size, parent
 * identity and parent locator entries. */
#include <errno.h>
#include <string.h>

#include "private.h"

#define VHD_MAX_BAT_ENTRIES (1u << 22) /* 16 MiB of BAT: 2 TiB of 512 KiB blocks */

static const char header_cookie[8] = { 'c', 'x', 's', 'p', 'a', 'r', 's', 'e' };

void vhd_header_init(struct vhd_header *h, uint64_t table_offset, uint32_t max_bat_entries,
		     uint32_t block_size)
{
	memset(h, 0, sizeof(*h));
	memcpy(h->cookie, header_cookie, 8);
	h->data_offset = UINT64_MAX;
	h->table_offset = table_offset;
	h->version = VHD_HEADER_VERSION;
	h->max_bat_entries = max_bat_entries;
	h->block_size = block_size;
}

static void header_pack(const struct vhd_header *h, uint8_t *b)
{
	memcpy(b, h->cookie, 8);
	put_be64(b + 8, h->data_offset);
	put_be64(b + 16, h->table_offset);
	put_be32(b + 24, h->version);
	put_be32(b + 28, h->max_bat_entries);
	put_be32(b + 32, h->block_size);
	put_be32(b + 36, h->checksum);
	memcpy(b + 40, h->parent_uuid, 16);
	put_be32(b + 56, h->parent_timestamp);
	put_be32(b + 60, h->reserved1);
	memcpy(b + 64, h->parent_name, 512);
	for (int i = 0; i < VHD_LOCATORS; i++) {
		uint8_t *l = b + 576 + 24 * i;

		put_be32(l, h->loc[i].code);
		put_be32(l + 4, h->loc[i].data_space);
		put_be32(l + 8, h->loc[i].data_len);
		put_be32(l + 12, h->loc[i].reserved);
		put_be64(l + 16, h->loc[i].data_offset);
	}
	memcpy(b + 768, h->reserved2, 256);
}

void vhd_header_encode(struct vhd_header *h, uint8_t buf[VHD_HEADER_SIZE])
{
	header_pack(h, buf);
	h->checksum = vhd_checksum(buf, VHD_HEADER_SIZE, VHD_HEADER_CHECKSUM_OFFSET);
	put_be32(buf + VHD_HEADER_CHECKSUM_OFFSET, h->checksum);
}

int vhd_header_decode(const uint8_t b[VHD_HEADER_SIZE], struct vhd_header *h, const char **why)
{
	memcpy(h->cookie, b, 8);
	h->data_offset = get_be64(b + 8);
	h->table_offset = get_be64(b + 16);
	h->version = get_be32(b + 24);
	h->max_bat_entries = get_be32(b + 28);
	h->block_size = get_be32(b + 32);
	h->checksum = get_be32(b + 36);
	memcpy(h->parent_uuid, b + 40, 16);
	h->parent_timestamp = get_be32(b + 56);
	h->reserved1 = get_be32(b + 60);
	memcpy(h->parent_name, b + 64, 512);
	for (int i = 0; i < VHD_LOCATORS; i++) {
		const uint8_t *l = b + 576 + 24 * i;

		h->loc[i].code = get_be32(l);
		h->loc[i].data_space = get_be32(l + 4);
		h->loc[i].data_len = get_be32(l + 8);
		h->loc[i].reserved = get_be32(l + 12);
		h->loc[i].data_offset = get_be64(l + 16);
	}
	memcpy(h->reserved2, b + 768, 256);

	if (memcmp(h->cookie, header_cookie, 8) != 0) {
		*why = "bad dynamic header cookie (not \"cxsparse\")";
		return -EINVAL;
	}
	if (vhd_checksum(b, VHD_HEADER_SIZE, VHD_HEADER_CHECKSUM_OFFSET) != h->checksum) {
		*why = "dynamic header checksum mismatch";
		return -EINVAL;
	}
	return 0;
}

int vhd_header_validate(const struct vhd_header *h, const struct vhd_footer *f, const char **why)
{
	if (h->version != VHD_HEADER_VERSION) {
		*why = "unsupported dynamic header version";
		return -EINVAL;
	}
	if (h->data_offset != UINT64_MAX) {
		*why = "dynamic header data offset is not all ones";
		return -EINVAL;
	}
	if (h->block_size < VHD_MIN_BLOCK_SIZE || h->block_size > VHD_MAX_BLOCK_SIZE ||
	    (h->block_size & (h->block_size - 1))) {
		*why = "block size is not a power of two between 512 B and 256 MiB";
		return -EINVAL;
	}
	if (h->max_bat_entries > VHD_MAX_BAT_ENTRIES) {
		*why = "BAT has more than 4194304 entries";
		return -EINVAL;
	}
	if (h->max_bat_entries < vhd_blocks_for(f->curr_size, h->block_size)) {
		*why = "BAT has fewer entries than the virtual size needs";
		return -EINVAL;
	}
	if (h->table_offset % VHD_SECTOR_SIZE) {
		*why = "BAT offset is not sector-aligned";
		return -EINVAL;
	}
	for (int i = 0; i < VHD_LOCATORS; i++) {
		if (!vhd_locator_code_valid(h->loc[i].code)) {
			*why = "unknown parent locator platform code";
			return -EINVAL;
		}
	}
	return 0;
}

int vhd_header_parent_name(const struct vhd_header *h, char *out, size_t outlen)
{
	size_t len = 0;

	while (len + 1 < sizeof(h->parent_name) && (h->parent_name[len] || h->parent_name[len + 1]))
		len += 2;
	return vhd_utf16_to_utf8(h->parent_name, len, true, out, outlen);
}

int vhd_header_set_parent_name(struct vhd_header *h, const char *name)
{
	size_t written;

	memset(h->parent_name, 0, sizeof(h->parent_name));
	/* keep a terminating UTF-16 NUL */
	return vhd_utf8_to_utf16(name, h->parent_name, sizeof(h->parent_name) - 2, true, &written);
}
