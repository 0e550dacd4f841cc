/* Test helper: write stdin into a VHD at a byte offset through librtvhd (allocating blocks),
 * or read a range through the parent chain to stdout. Offsets and lengths in bytes, multiples
 * of 512.
 *   vhd-io write FILE OFFSET < data
 *   vhd-io read FILE OFFSET LENGTH > data */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ringtap/vhd.h"

static int usage(void)
{
	fprintf(stderr, "usage: vhd-io write FILE OFFSET < data | read FILE OFFSET LENGTH\n");
	return EINVAL;
}

static int do_write(const char *path, uint64_t off)
{
	struct vhd_file f;
	size_t cap = 1 << 20, len = 0;
	char *buf = malloc(cap);
	ssize_t n;
	int err;

	while (buf && (n = read(STDIN_FILENO, buf + len, cap - len)) > 0) {
		len += (size_t)n;
		if (len == cap)
			buf = realloc(buf, cap *= 2);
	}
	if (!buf || len % 512 || off % 512) {
		fprintf(stderr, "vhd-io: data and offset must be multiples of 512\n");
		return EINVAL;
	}
	err = vhd_open(&f, path, VHD_OPEN_RDWR);
	if (!err)
		err = vhd_write_sectors(&f, off / 512, (uint32_t)(len / 512), buf);
	if (err)
		fprintf(stderr, "vhd-io: %s\n", f.err);
	if (!err)
		err = vhd_close(&f);
	free(buf);
	return -err;
}

static int do_read(const char *path, uint64_t off, uint64_t len)
{
	struct vhd_chain c;
	char *buf = malloc(len ? len : 1);
	int err;

	if (!buf || len % 512 || off % 512)
		return usage();
	err = vhd_chain_open(&c, path, VHD_OPEN_RDONLY);
	if (!err) {
		err = vhd_chain_read(&c, off / 512, (uint32_t)(len / 512), buf);
		if (!err && fwrite(buf, 1, len, stdout) != len)
			err = -EIO;
		if (err)
			fprintf(stderr, "vhd-io: %s\n", c.err);
		vhd_chain_close(&c);
	} else {
		fprintf(stderr, "vhd-io: %s\n", c.err);
	}
	free(buf);
	return -err;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "write"))
		return do_write(argv[2], strtoull(argv[3], NULL, 0));
	if (argc == 5 && !strcmp(argv[1], "read"))
		return do_read(argv[2], strtoull(argv[3], NULL, 0), strtoull(argv[4], NULL, 0));
	return usage();
}
