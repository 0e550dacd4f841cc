/* Finding a differencing disk's parent through its locators, and pointing it at a new one. */
#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "private.h"

static const uint32_t written_codes[3] = { VHD_PLAT_MACX, VHD_PLAT_W2KU, VHD_PLAT_W2RU };

int vhd_abs_path(const char *path, char *out, size_t outlen)
{
	char dir[PATH_MAX], base[PATH_MAX], real[PATH_MAX];
	int n;

	if (strlen(path) >= PATH_MAX)
		return -ENAMETOOLONG;
	if (!vhd_canonical_path(path, real, sizeof(real))) {
		n = snprintf(out, outlen, "%s", real);
		return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
	}
	strcpy(dir, path);
	strcpy(base, path);
	if (!realpath(dirname(dir), real))
		return -errno;
	n = snprintf(out, outlen, "%s/%s", strcmp(real, "/") ? real : "", basename(base));
	return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
}

int vhd_make_locators(const char *child, const char *parent, struct vhd_header *h, uint64_t off,
		      uint8_t **data, size_t *len)
{
	char rel[PATH_MAX];
	uint8_t enc[3][2 * PATH_MAX + 16];
	size_t elen[3], total = 0, pos = 0;
	int err;

	err = vhd_relative_path(child, parent, rel, sizeof(rel));
	if (err)
		return err;
	for (int i = 0; i < 3; i++) {
		err = vhd_locator_encode(written_codes[i], rel, enc[i], sizeof(enc[i]), &elen[i]);
		if (err)
			return err;
		total += vhd_round_up(elen[i], VHD_SECTOR_SIZE);
	}
	*data = calloc(1, total);
	if (!*data)
		return -ENOMEM;
	for (int i = 0; i < 3; i++) {
		uint32_t space = (uint32_t)vhd_round_up(elen[i], VHD_SECTOR_SIZE);

		memcpy(*data + pos, enc[i], elen[i]);
		/* data_space in bytes, as Microsoft and blktap write it */
		h->loc[i] = (struct vhd_locator){ .code = written_codes[i],
						  .data_space = space,
						  .data_len = (uint32_t)elen[i],
						  .data_offset = off + pos };
		pos += space;
	}
	*len = total;
	return 0;
}

int vhd_read_locator(struct vhd_file *f, int i, char *out, size_t outlen)
{
	const struct vhd_locator *l = &f->header.loc[i];
	uint8_t *data;
	int err;

	if (l->code != VHD_PLAT_MACX && l->code != VHD_PLAT_W2KU && l->code != VHD_PLAT_W2RU)
		return 1;
	if (!l->data_len)
		return -EINVAL;
	data = malloc(l->data_len); /* bounded by the space validated at open */
	if (!data)
		return -ENOMEM;
	err = vhd_pread_full(f->fd, data, l->data_len, l->data_offset);
	if (!err)
		err = vhd_locator_decode(l->code, data, l->data_len, out, outlen);
	free(data);
	return err;
}

int vhd_parent_path(struct vhd_file *f, char *out, size_t outlen)
{
	char name[PATH_MAX], child[PATH_MAX], cand[2 * PATH_MAX], first[PATH_MAX] = "";
	char real[PATH_MAX];
	int err;

	if (f->footer.type != VHD_TYPE_DIFF)
		return vhd_fail(f, -EINVAL, "not a differencing disk");
	err = vhd_abs_path(f->path, child, sizeof(child));
	if (err)
		return vhd_fail(f, err, "cannot resolve its own path: %s", strerror(-err));
	*strrchr(child, '/') = '\0';
	for (int i = 0; i < VHD_LOCATORS; i++) {
		err = vhd_read_locator(f, i, name, sizeof(name));
		if (err)
			continue;
		if (!first[0])
			snprintf(first, sizeof(first), "%s", name);
		if (name[0] == '/')
			snprintf(cand, sizeof(cand), "%s", name);
		else
			snprintf(cand, sizeof(cand), "%s/%s", child, name);
		if (access(cand, R_OK) == 0 && !vhd_canonical_path(cand, real, sizeof(real))) {
			if (strlen(real) >= outlen)
				return vhd_fail(f, -ENAMETOOLONG, "parent path too long");
			strcpy(out, real);
			return 0;
		}
	}
	if (!first[0])
		return vhd_fail(f, -EINVAL, "no usable parent locator");
	snprintf(out, outlen, "%s", first);
	return vhd_fail(f, -ENOENT, "parent %s not found", first);
}

/* The new parent's ancestry must not lead back to f. */
static int refuse_loop(struct vhd_file *f, const char *parent)
{
	struct stat self;
	struct vhd_chain c;
	int err;

	if (fstat(f->fd, &self) < 0)
		return vhd_fail(f, -errno, "fstat: %s", strerror(errno));
	err = vhd_chain_open(&c, parent, VHD_OPEN_RDONLY);
	if (err == -ELOOP)
		return vhd_fail(f, err, "the new parent's chain is broken: %s", c.err);
	for (int i = 0; !err && i < c.depth; i++) {
		struct stat st;

		if (fstat(c.files[i].fd, &st) == 0 && st.st_dev == self.st_dev &&
		    st.st_ino == self.st_ino)
			err = vhd_fail(f, -ELOOP,
				       "%s descends from this disk: that would be a loop", parent);
	}
	if (c.files)
		vhd_chain_close(&c);
	/* an incomplete ancestry (a parent not present) is not this operation's business */
	return err == -ELOOP ? err : 0;
}

int vhd_set_parent(struct vhd_file *f, const char *parent, bool parent_raw)
{
	char ppath[PATH_MAX], child[PATH_MAX], rel[PATH_MAX], base[PATH_MAX];
	struct vhd_header h = f->header;
	struct stat st;
	int err, used = 0;

	if (!f->writable)
		return vhd_fail(f, -EROFS, "opened read-only");
	if (f->footer.type != VHD_TYPE_DIFF)
		return vhd_fail(f, -EINVAL, "not a differencing disk");
	err = vhd_canonical_path(parent, ppath, sizeof(ppath));
	if (err || stat(ppath, &st) < 0) {
		err = err ? err : -errno;
		return vhd_fail(f, err, "parent %s: %s", parent, strerror(-err));
	}
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		return vhd_fail(f, -EINVAL, "parent %s is not a file or block device", parent);
	err = vhd_abs_path(f->path, child, sizeof(child));
	if (!err)
		err = vhd_relative_path(child, ppath, rel, sizeof(rel));
	if (err)
		return vhd_fail(f, err, "cannot compute the parent's relative path: %s",
				strerror(-err));
	if (parent_raw) {
		memset(h.parent_uuid, 0, 16);
	} else {
		struct vhd_file p;

		err = vhd_open(&p, ppath, VHD_OPEN_RDONLY);
		if (err)
			return vhd_fail(f, err, "parent: %s", p.err);
		memcpy(h.parent_uuid, p.footer.uuid, 16);
		vhd_close(&p);
		err = refuse_loop(f, ppath);
		if (err)
			return err;
	}
	strcpy(base, ppath);
	err = vhd_header_set_parent_name(&h, basename(base));
	if (err)
		return vhd_fail(f, err, "parent name does not fit the header");
	h.parent_timestamp = vhd_time(st.st_mtime);

	/* every locator must take the new path before any is rewritten */
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < VHD_LOCATORS; i++) {
			struct vhd_locator *l = &h.loc[i];
			uint8_t enc[2 * PATH_MAX + 16];
			uint32_t space = vhd_locator_space(l);
			uint8_t *buf;
			size_t len;

			if (l->code != VHD_PLAT_MACX && l->code != VHD_PLAT_W2KU &&
			    l->code != VHD_PLAT_W2RU)
				continue;
			err = vhd_locator_encode(l->code, rel, enc, sizeof(enc), &len);
			if (!err && len > space)
				err = -ENAMETOOLONG;
			if (err)
				return vhd_fail(
					f, err,
					"parent locator %d cannot hold the new parent path (%zu bytes "
					"in %" PRIu32 ")",
					i, len, space);
			if (pass == 0)
				continue;
			buf = calloc(1, space);
			if (!buf)
				return vhd_fail(f, -ENOMEM, "out of memory");
			memcpy(buf, enc, len);
			err = vhd_pwrite_full(f->fd, buf, space, l->data_offset);
			free(buf);
			if (err)
				return vhd_fail(f, err, "cannot write parent locator %d: %s", i,
						strerror(-err));
			l->data_len = (uint32_t)len;
			used++;
		}
	}
	if (!used)
		return vhd_fail(f, -EINVAL, "no parent locator to update");
	f->header = h;
	return vhd_write_header(f);
}
