/* vhd-util coalesce: copy a differencing disk's data into its parent (VHD or raw), printing
 * "Coalesced N sectors" as XAPI expects. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ringtap/vhd.h"
#include "cli.h"

struct coalesce_opts {
	const char *name;
};

struct target {
	struct vhd_file vhd; /* a VHD parent */
	int raw_fd; /* or a raw one */
	uint64_t raw_size;
};

static int raw_size(int fd, uint64_t *size)
{
	off_t end = lseek(fd, 0, SEEK_END);

	if (end < 0)
		return -errno;
	*size = (uint64_t)end;
	return 0;
}

static int coalesce_opt(int c, const char *arg, void *ctx)
{
	struct coalesce_opts *o = ctx;

	if (c == 'n')
		o->name = arg;
	return 0; /* -p (progress) and -s (sparse) are accepted: progress shows on a tty */
}

static int put(struct target *t, uint64_t sector, uint32_t count, const uint8_t *buf)
{
	uint64_t off = sector * VHD_SECTOR_SIZE, len = (uint64_t)count * VHD_SECTOR_SIZE;

	if (t->raw_fd < 0) {
		int err = vhd_write_sectors(&t->vhd, sector, count, buf);

		return err ? vu_error(&vu_coalesce, err, "%s", t->vhd.err) : 0;
	}
	if (off + len > t->raw_size)
		return vu_error(&vu_coalesce, -ERANGE, "data past the end of the raw parent");
	for (uint64_t done = 0; done < len;) {
		ssize_t n = pwrite(t->raw_fd, buf + done, len - done, (off_t)(off + done));

		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			return vu_error(&vu_coalesce, n < 0 ? -errno : -EIO, "raw parent: %s",
					strerror(n < 0 ? errno : EIO));
		}
		done += (uint64_t)n;
	}
	return 0;
}

static int coalesce_block(struct vhd_file *c, struct target *t, uint32_t b, uint8_t *data,
			  uint8_t *present, uint64_t *sectors)
{
	uint64_t first = (uint64_t)b * c->spb;
	uint32_t count = c->spb;
	int err;

	if (first + count > c->footer.curr_size / VHD_SECTOR_SIZE)
		count = (uint32_t)(c->footer.curr_size / VHD_SECTOR_SIZE - first);
	memset(present, 0, c->spb / 8 + 1);
	err = vhd_read_sectors(c, first, count, data, present);
	if (err)
		return vu_error(&vu_coalesce, err, "%s", c->err);
	for (uint32_t s = 0; s < count;) {
		uint32_t run = vhd_bits_run(present, s, count - s);

		if (vhd_bit_test(present, s)) {
			err = put(t, first + s, run, data + (uint64_t)s * VHD_SECTOR_SIZE);
			if (err)
				return err;
			*sectors += run;
		}
		s += run;
	}
	return 0;
}

static int run_coalesce(int argc, char **argv)
{
	struct coalesce_opts o = { 0 };
	struct target t = { .raw_fd = -1 };
	struct vhd_file c;
	struct vu_progress prog;
	char parent[PATH_MAX];
	uint8_t *data = NULL, *present = NULL;
	uint64_t sectors = 0;
	int rc;

	rc = vu_getopt(&vu_coalesce, argc, argv, "n:ps", coalesce_opt, &o);
	if (rc)
		return rc;
	if (!o.name)
		return vu_usage_error(&vu_coalesce, "-n NAME is required");
	rc = vhd_open(&c, o.name, VHD_OPEN_RDONLY);
	if (rc)
		return vu_error(&vu_coalesce, rc, "%s", c.err);
	if (c.footer.type != VHD_TYPE_DIFF) {
		vhd_close(&c);
		return vu_error(&vu_coalesce, -EINVAL,
				"%s: coalescing of non-differencing disks is not supported",
				o.name);
	}
	rc = vhd_parent_path(&c, parent, sizeof(parent));
	if (rc) {
		vu_error(&vu_coalesce, rc, "%s", c.err);
		goto out;
	}
	if (vhd_parent_is_raw(&c)) {
		t.raw_fd = open(parent, O_RDWR | O_CLOEXEC);
		if (t.raw_fd < 0 || raw_size(t.raw_fd, &t.raw_size)) {
			rc = vu_error(&vu_coalesce, -errno, "raw parent %s: %s", parent,
				      strerror(errno));
			goto out;
		}
	} else {
		rc = vhd_open(&t.vhd, parent, VHD_OPEN_RDWR);
		if (rc) {
			vu_error(&vu_coalesce, rc, "%s", t.vhd.err);
			goto out;
		}
		if (memcmp(t.vhd.footer.uuid, c.header.parent_uuid, 16)) {
			rc = vu_error(&vu_coalesce, -EINVAL,
				      "%s is not the parent %s was made from", parent, o.name);
			goto out;
		}
	}
	data = malloc(c.header.block_size);
	present = malloc(c.spb / 8 + 1);
	if (!data || !present) {
		rc = vu_error(&vu_coalesce, -ENOMEM, "out of memory");
		goto out;
	}
	vu_progress_start(&prog, "coalescing");
	for (uint32_t b = 0; b < c.blocks && !rc; b++) {
		if (c.bat[b] != VHD_BAT_UNUSED)
			rc = coalesce_block(&c, &t, b, data, present, &sectors);
		vu_progress_update(&prog, b + 1, c.blocks);
	}
	vu_progress_end(&prog);
	if (!rc && t.raw_fd >= 0 && fsync(t.raw_fd) < 0)
		rc = vu_error(&vu_coalesce, -errno, "raw parent: fsync: %s", strerror(errno));
out:
	if (t.raw_fd >= 0)
		close(t.raw_fd);
	else if (t.vhd.path) {
		int err = vhd_close(&t.vhd);

		if (err && !rc)
			rc = vu_error(&vu_coalesce, err, "%s: cannot write its metadata", parent);
	}
	vhd_close(&c);
	free(data);
	free(present);
	if (!rc)
		printf("Coalesced %" PRIu64 " sectors\n", sectors);
	return rc;
}

const struct vu_cmd vu_coalesce = {
	.name = "coalesce",
	.run = run_coalesce,
	.usage = "-n NAME [-p] [-s]",
	.help = "Write every sector NAME (a differencing disk) holds into its parent, then print\n"
		"\"Coalesced N sectors\". A progress bar shows on a terminal.\n"
};
