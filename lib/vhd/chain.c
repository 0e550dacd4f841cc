/* Parent chains: opening a leaf and its ancestors with loop and identity checks, and reading
 * through them (the first layer holding a sector wins). */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "private.h"

static int chain_fail(struct vhd_chain *c, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int chain_fail(struct vhd_chain *c, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	return err;
}

int vhd_chain_open(struct vhd_chain *c, const char *path, int leaf_flags)
{
	struct stat seen[VHD_MAX_CHAIN_DEPTH + 1];
	char next[PATH_MAX];
	int err;

	memset(c, 0, sizeof(*c));
	c->raw_fd = -1;
	c->files = calloc(VHD_MAX_CHAIN_DEPTH, sizeof(*c->files));
	if (!c->files)
		return chain_fail(c, -ENOMEM, "out of memory");
	snprintf(next, sizeof(next), "%s", path);
	for (;;) {
		struct vhd_file *f = &c->files[c->depth], *child;
		struct stat st;

		if (c->depth == VHD_MAX_CHAIN_DEPTH) {
			chain_fail(c, 0, "%s: chain deeper than %d", path, VHD_MAX_CHAIN_DEPTH);
			err = -ELOOP;
			goto fail;
		}
		err = vhd_open(f, next, c->depth ? VHD_OPEN_RDONLY : leaf_flags);
		if (err) {
			chain_fail(c, err, "%s", f->err);
			goto fail;
		}
		c->depth++;
		if (fstat(f->fd, &st) < 0) {
			err = chain_fail(c, -errno, "fstat failed");
			goto fail;
		}
		for (int i = 0; i < c->depth - 1; i++) {
			if (seen[i].st_dev == st.st_dev && seen[i].st_ino == st.st_ino) {
				chain_fail(c, 0, "%s: parent loop: %s is its own ancestor", path,
					   f->path);
				err = -ELOOP;
				goto fail;
			}
		}
		seen[c->depth - 1] = st;
		child = c->depth > 1 ? &c->files[c->depth - 2] : NULL;
		/* identity: the parent must be the disk the child was made from */
		if (child && memcmp(f->footer.uuid, child->header.parent_uuid, 16)) {
			chain_fail(c, 0, "%s: parent %s has a different UUID than recorded",
				   child->path, f->path);
			err = -EINVAL;
			goto fail;
		}
		if (f->footer.type != VHD_TYPE_DIFF)
			return 0;
		err = vhd_parent_path(f, next, sizeof(next));
		if (err) {
			chain_fail(c, err, "%s", f->err);
			goto fail;
		}
		if (vhd_parent_is_raw(f)) {
			int blk;

			c->raw_fd = open(next, O_RDONLY | O_CLOEXEC);
			if (c->raw_fd < 0 || vhd_fd_size(c->raw_fd, &c->raw_size, &blk)) {
				chain_fail(c, 0, "raw parent %s: cannot open", next);
				err = -ENOENT;
				goto fail;
			}
			c->raw_path = strdup(next);
			return 0;
		}
	}
fail:
	vhd_chain_close(c);
	return err;
}

void vhd_chain_close(struct vhd_chain *c)
{
	for (int i = 0; i < c->depth; i++)
		vhd_close(&c->files[i]);
	free(c->files);
	free(c->raw_path);
	if (c->raw_fd >= 0)
		close(c->raw_fd);
	c->files = NULL;
	c->raw_path = NULL;
	c->raw_fd = -1;
	c->depth = 0;
}

int vhd_chain_read(struct vhd_chain *c, uint64_t sector, uint32_t count, void *buf)
{
	size_t bytes = vhd_sectors_to_bytes(count), mapb = (count + 7) / 8;
	uint8_t *need = malloc(mapb), *have = malloc(mapb), *tmp = malloc(bytes ? bytes : 1);
	uint8_t *out = buf;
	int err = 0;

	if (!need || !have || !tmp) {
		err = chain_fail(c, -ENOMEM, "out of memory");
		goto out;
	}
	memset(out, 0, bytes);
	memset(need, 0, mapb);
	vhd_bits_set(need, 0, count);
	for (int i = 0; i < c->depth && vhd_bits_count(need, 0, count); i++) {
		memset(have, 0, mapb);
		err = vhd_read_sectors(&c->files[i], sector, count, tmp, have);
		if (err) {
			chain_fail(c, err, "%s", c->files[i].err);
			goto out;
		}
		for (uint32_t s = 0; s < count; s++) {
			if (vhd_bit_test(need, s) && vhd_bit_test(have, s)) {
				memcpy(out + vhd_sectors_to_bytes(s), tmp + vhd_sectors_to_bytes(s),
				       VHD_SECTOR_SIZE);
				vhd_bit_clear(need, s);
			}
		}
		if (!vhd_is_dynamic(&c->files[i]) || c->files[i].footer.type == VHD_TYPE_DYNAMIC)
			goto out; /* the root: what it lacks is zero */
	}
	if (c->raw_fd >= 0 && vhd_bits_count(need, 0, count)) {
		uint64_t start = vhd_sectors_to_bytes(sector), avail;

		/* a raw parent ends where its file ends: zeros after */
		avail = start >= c->raw_size ? 0 : c->raw_size - start;
		avail = avail < bytes ? avail / VHD_SECTOR_SIZE * VHD_SECTOR_SIZE : bytes;
		err = avail ? vhd_pread_full(c->raw_fd, tmp, avail, start) : 0;
		if (err) {
			chain_fail(c, err, "read from the raw parent failed");
			goto out;
		}
		for (uint32_t s = 0; s < count && vhd_sectors_to_bytes(s) < avail; s++)
			if (vhd_bit_test(need, s))
				memcpy(out + vhd_sectors_to_bytes(s), tmp + vhd_sectors_to_bytes(s),
				       VHD_SECTOR_SIZE);
	}
out:
	free(need);
	free(have);
	free(tmp);
	return err;
}
