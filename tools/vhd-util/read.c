/* vhd-util read: blktap's human-readable dumps of a VHD's metadata (-p, parsed by XAPI for
 * "Disk type" and "decoded name"), the BAT as a bitmap (-B) and raw structures or data. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ringtap/vhd.h"
#include "cli.h"

#define NONE UINT64_MAX

struct read_opts {
	const char *name;
	bool headers, bat_bitmap, batmap, hex;
	uint64_t bat, bitmap, data, read, translate, count;
};

static const char *conv(char *buf, bool hex, uint64_t v)
{
	snprintf(buf, 24, hex ? "%#" PRIx64 : "%" PRIu64, v);
	return buf;
}

static const char *when(uint32_t vhd_time, char *buf)
{
	time_t t = vhd_time_to_unix(vhd_time);
	struct tm tm;

	if (!localtime_r(&t, &tm) || !strftime(buf, 32, "%a %b %e %H:%M:%S %Y", &tm))
		snprintf(buf, 32, "%" PRIu32, vhd_time);
	return buf;
}

static void print_footer(const struct vhd_footer *f, bool hex)
{
	uint8_t raw[VHD_FOOTER_SIZE];
	struct vhd_footer copy = *f;
	uint32_t c = f->geometry >> 16, h = (f->geometry >> 8) & 0xff, s = f->geometry & 0xff;
	uint32_t sum;
	char b1[24], b2[24], t[32], uuid[37];

	vhd_footer_encode(&copy, raw);
	sum = copy.checksum;
	printf("VHD Footer Summary:\n-------------------\n");
	printf("Cookie              : %.8s\n", f->cookie);
	printf("Features            : (0x%08" PRIx32 ") %s%s\n", f->features,
	       f->features & VHD_FEATURES_TEMPORARY ? "<TEMP>" : "",
	       f->features & VHD_FEATURES_RESERVED ? "<RESV>" : "");
	printf("File format version : Major: %" PRIu32 ", Minor: %" PRIu32 "\n",
	       f->ff_version >> 16, f->ff_version & 0xffff);
	printf("Data offset         : %s\n", conv(b1, hex, f->data_offset));
	printf("Timestamp           : %s\n", when(f->timestamp, t));
	printf("Creator Application : '%.4s'\n", f->creator_app);
	printf("Creator version     : Major: %" PRIu32 ", Minor: %" PRIu32 "\n",
	       f->creator_version >> 16, f->creator_version & 0xffff);
	printf("Creator OS          : %s\n", f->creator_os == VHD_CREATOR_OS_WINDOWS ? "Windows" :
					     f->creator_os == VHD_CREATOR_OS_MAC     ? "Macintosh" :
										       "Unknown!");
	printf("Original disk size  : %s MB (%s Bytes)\n", conv(b1, hex, f->orig_size >> 20),
	       conv(b2, hex, f->orig_size));
	printf("Current disk size   : %s MB (%s Bytes)\n", conv(b1, hex, f->curr_size >> 20),
	       conv(b2, hex, f->curr_size));
	printf("Geometry            : Cyl: %s, ", conv(b1, hex, c));
	printf("Hds: %s, ", conv(b1, hex, h));
	printf("Sctrs: %s\n", conv(b1, hex, s));
	printf("                    : = %s MB (%s Bytes)\n",
	       conv(b1, hex, vhd_chs_size(f->geometry) >> 20),
	       conv(b2, hex, vhd_chs_size(f->geometry)));
	printf("Disk type           : %s\n", vhd_type_name(f->type));
	printf("Checksum            : 0x%" PRIx32 "|0x%" PRIx32 " (%s)\n", f->checksum, sum,
	       f->checksum == sum ? "Good!" : "Bad!");
	vhd_uuid_format(f->uuid, uuid);
	printf("UUID                : %s\n", uuid);
	printf("Saved state         : %s\n", f->saved ? "Yes" : "No");
	printf("Hidden              : %d\n", f->hidden);
	printf("\n");
}

static void print_header(const struct vhd_header *h, bool hex)
{
	uint8_t raw[VHD_HEADER_SIZE];
	struct vhd_header copy = *h;
	char b1[24], b2[24], name[1024], t[32], uuid[37];

	vhd_header_encode(&copy, raw);
	printf("VHD Header Summary:\n-------------------\n");
	printf("Cookie              : %.8s\n", h->cookie);
	printf("Data offset (unusd) : %s\n", conv(b1, hex, h->data_offset));
	printf("Table offset        : %s\n", conv(b1, hex, h->table_offset));
	printf("Header version      : 0x%08" PRIx32 "\n", h->version);
	printf("Max BAT size        : %s\n", conv(b1, hex, h->max_bat_entries));
	printf("Block size          : %s (%s MB)\n", conv(b1, hex, h->block_size),
	       conv(b2, hex, h->block_size >> 20));
	printf("Parent name         : %s\n",
	       vhd_header_parent_name(h, name, sizeof(name)) ? "failed to read name" : name);
	vhd_uuid_format(h->parent_uuid, uuid);
	printf("Parent UUID         : %s\n", uuid);
	printf("Parent timestamp    : %s\n", when(h->parent_timestamp, t));
	printf("Checksum            : 0x%" PRIx32 "|0x%" PRIx32 " (%s)\n", h->checksum,
	       copy.checksum, h->checksum == copy.checksum ? "Good!" : "Bad!");
	printf("\n");
}

static void print_locators(struct vhd_file *f, bool hex)
{
	char b[24], name[PATH_MAX];

	printf("VHD Parent Locators:\n--------------------\n");
	for (int i = 0; i < VHD_LOCATORS; i++) {
		const struct vhd_locator *l = &f->header.loc[i];

		if (l->code == VHD_PLAT_NONE)
			continue;
		printf("locator:            : %d\n", i);
		printf("       code         : %s\n", vhd_locator_code_name(l->code));
		printf("       data_space   : %s\n", conv(b, hex, l->data_space));
		printf("       data_length  : %s\n", conv(b, hex, l->data_len));
		printf("       data_offset  : %s\n", conv(b, hex, l->data_offset));
		if (vhd_read_locator(f, i, name, sizeof(name)))
			printf("failed to read parent name\n");
		else
			printf("       decoded name : %s\n", name);
		printf("\n");
	}
}

static void print_batmap(struct vhd_file *f, bool hex)
{
	char b[24];
	uint32_t sum = vhd_batmap_checksum(
		f->batmap_map, vhd_batmap_checksum_bytes(f->footer.curr_size), f->batmap.version);

	printf("VHD Batmap Summary:\n-------------------\n");
	printf("Batmap offset       : %s\n", conv(b, hex, f->batmap.offset));
	printf("Batmap size (secs)  : %s\n", conv(b, hex, f->batmap.size));
	printf("Batmap version      : 0x%08" PRIx32 "\n", f->batmap.version);
	printf("Checksum            : 0x%" PRIx32 "|0x%" PRIx32 " (%s)\n", f->batmap.checksum, sum,
	       f->batmap.checksum == sum ? "Good!" : "Bad!");
	printf("\n");
}

static int write_out(const void *buf, size_t len)
{
	fflush(stdout);
	for (size_t done = 0; done < len;) {
		ssize_t n = write(STDOUT_FILENO, (const char *)buf + done, len - done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		done += (size_t)n;
	}
	return 0;
}

/* One bit per block of the virtual size, set when allocated, MSB first (XAPI's CBT input). */
static int print_bat_bitmap(struct vhd_file *f)
{
	uint32_t blocks =
		vhd_is_dynamic(f) ? f->blocks : vhd_blocks_for(f->footer.curr_size, VHD_BLOCK_SIZE);
	size_t len = (blocks + 7) / 8;
	uint8_t *map = calloc(1, len ? len : 1);
	int err;

	if (!map)
		return -ENOMEM;
	for (uint32_t b = 0; b < blocks; b++)
		if (!vhd_is_dynamic(f) || f->bat[b] != VHD_BAT_UNUSED)
			vhd_bit_set(map, b);
	err = write_out(map, len);
	free(map);
	return err;
}

static int block_range(struct vhd_file *f, struct read_opts *o, uint64_t first)
{
	if (!vhd_is_dynamic(f))
		return vu_error(&vu_read, -EINVAL, "%s is not a dynamic disk", o->name);
	if (first >= f->blocks || o->count > f->blocks - first)
		return vu_error(&vu_read, -ERANGE, "block %" PRIu64 " past the end of the disk",
				first + o->count);
	return 0;
}

static int dump_blocks(struct vhd_file *f, struct read_opts *o, uint64_t first, bool data)
{
	size_t len = data ? f->header.block_size : f->bitmap_bytes;
	uint8_t *buf;
	char b[24];
	int err = block_range(f, o, first);

	if (err)
		return err;
	uint8_t *present = malloc(f->spb / 8 + 1);

	buf = malloc(len);
	if (!buf || !present) {
		free(buf);
		free(present);
		return -ENOMEM;
	}
	for (uint64_t i = first; i < first + o->count && !err; i++) {
		if (f->bat[i] == VHD_BAT_UNUSED) {
			printf("block %s not allocated\n", conv(b, o->hex, i));
			continue;
		}
		if (data)
			err = vhd_read_sectors(f, i * f->spb, f->spb, buf, present);
		else
			err = vhd_read_bitmap(f, (uint32_t)i, buf);
		if (!err)
			err = write_out(buf, len);
		else
			vu_error(&vu_read, err, "%s", f->err);
	}
	free(buf);
	free(present);
	return err;
}

static int read_data(const char *name, uint64_t sector, uint64_t count)
{
	struct vhd_chain c;
	uint8_t *buf;
	int err = vhd_chain_open(&c, name, VHD_OPEN_RDONLY);

	if (err)
		return vu_error(&vu_read, err, "%s", c.err);
	if (sector > c.files[0].footer.curr_size / 512 ||
	    count > c.files[0].footer.curr_size / 512 - sector) {
		vhd_chain_close(&c);
		return vu_error(&vu_read, -ERANGE, "sectors past the end of the disk");
	}
	buf = malloc(VHD_BLOCK_SIZE);
	if (!buf)
		err = -ENOMEM;
	while (!err && count) {
		uint32_t n = count < VHD_BLOCK_SIZE / 512 ? (uint32_t)count : VHD_BLOCK_SIZE / 512;

		err = vhd_chain_read(&c, sector, n, buf);
		if (err)
			vu_error(&vu_read, err, "%s", c.err);
		else
			err = write_out(buf, (size_t)n * 512);
		sector += n;
		count -= n;
	}
	free(buf);
	vhd_chain_close(&c);
	return err;
}

static int read_opt(int c, const char *arg, void *ctx)
{
	struct read_opts *o = ctx;
	uint64_t *dst = NULL;

	switch (c) {
	case 'n':
		o->name = arg;
		return 0;
	case 'p':
		o->headers = true;
		return 0;
	case 'B':
		o->bat_bitmap = true;
		return 0;
	case 'a':
		o->batmap = true;
		return 0;
	case 'x':
		o->hex = true;
		return 0;
	case 'b':
		dst = &o->bat;
		break;
	case 'm':
		dst = &o->bitmap;
		break;
	case 'd':
		dst = &o->data;
		break;
	case 'r':
		dst = &o->read;
		break;
	case 't':
		dst = &o->translate;
		break;
	case 'c':
		dst = &o->count;
		break;
	}
	if (!dst || vu_parse_u64(arg, UINT32_MAX, dst))
		return vu_usage_error(&vu_read, "bad number '%s' for -%c", arg, c);
	return 0;
}

static int run_read(int argc, char **argv)
{
	struct read_opts o = { .bat = NONE,
			       .bitmap = NONE,
			       .data = NONE,
			       .read = NONE,
			       .translate = NONE,
			       .count = 1 };
	struct vhd_file f;
	char b1[24], b2[24], b3[24];
	int rc;

	rc = vu_getopt(&vu_read, argc, argv, "n:pBaxb:m:d:r:t:c:", read_opt, &o);
	if (rc)
		return rc;
	if (!o.name)
		return vu_usage_error(&vu_read, "-n NAME is required");
	rc = vhd_open(&f, o.name, VHD_OPEN_RDONLY);
	if (rc)
		return vu_error(&vu_read, rc, "Failed to open %s", f.err);
	if (o.headers) {
		print_footer(&f.footer, o.hex);
		if (vhd_is_dynamic(&f)) {
			print_header(&f.header, o.hex);
			if (f.footer.type == VHD_TYPE_DIFF)
				print_locators(&f, o.hex);
			if (f.has_batmap)
				print_batmap(&f, o.hex);
		}
	}
	if (!rc && o.translate != NONE) {
		if (!vhd_is_dynamic(&f) || o.translate + o.count > f.footer.curr_size / 512) {
			rc = vu_error(&vu_read, -ERANGE, "sector past the end of the disk");
		} else {
			for (uint64_t s = o.translate; s < o.translate + o.count; s++) {
				uint32_t blk = (uint32_t)(s / f.spb), e = f.bat[blk];

				printf("logical sector %s: block number: %s, sector offset: %s, "
				       "file offset: %s\n",
				       conv(b1, o.hex, s), conv(b2, o.hex, blk),
				       conv(b3, o.hex, s % f.spb),
				       e == VHD_BAT_UNUSED ?
					       "not allocated" :
					       conv(b1, o.hex,
						    vhd_block_data_offset(e, f.bitmap_bytes) +
							    (s % f.spb) * 512));
			}
		}
	}
	if (!rc && o.bat != NONE && !(rc = block_range(&f, &o, o.bat))) {
		for (uint64_t i = o.bat; i < o.bat + o.count; i++)
			printf("block: %s: offset: %s\n", conv(b1, o.hex, i),
			       f.bat[i] == VHD_BAT_UNUSED ?
				       "not allocated" :
				       conv(b2, o.hex, vhd_sectors_to_bytes(f.bat[i])));
	}
	if (!rc && o.bitmap != NONE)
		rc = dump_blocks(&f, &o, o.bitmap, false);
	if (!rc && o.batmap) {
		if (!f.has_batmap)
			rc = vu_error(&vu_read, -EINVAL, "%s has no batmap", o.name);
		else
			rc = write_out(f.batmap_map, vhd_sectors_to_bytes(f.batmap.size));
	}
	if (!rc && o.data != NONE)
		rc = dump_blocks(&f, &o, o.data, true);
	if (!rc && o.bat_bitmap)
		rc = print_bat_bitmap(&f);
	vhd_close(&f);
	if (!rc && o.read != NONE)
		rc = read_data(o.name, o.read, o.count);
	return rc;
}

const struct vu_cmd vu_read = {
	.name = "read",
	.run = run_read,
	.usage = "-n NAME [-p] [-B] [-t SEC] [-b BLK] [-m BLK] [-a] [-d BLK] [-r SEC] "
		 "[-c NUM] [-x]",
	.help = "Dump a VHD's metadata or data.\n"
		"  -p       print the footer, header, parent locators and batmap summaries\n"
		"  -B       write the BAT as a bitmap (1 bit per block, set if allocated) to stdout\n"
		"  -t SEC   translate logical sectors to file offsets\n"
		"  -b BLK   print BAT entries\n"
		"  -m BLK   write raw sector bitmaps\n"
		"  -a       write the raw batmap\n"
		"  -d BLK   write raw block data (this file only)\n"
		"  -r SEC   write the disk's contents (through its parents) from sector SEC\n"
		"  -c NUM   how many sectors or blocks (default 1)\n"
		"  -x       numbers in hexadecimal\n"
};
