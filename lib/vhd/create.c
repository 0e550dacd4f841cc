/* Creating fixed, dynamic and differencing disks in blktap's layout. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "private.h"

struct creation {
	const struct vhd_create_params *p;
	char *err;
	size_t errlen;
	int fd;
	bool is_block;
	uint64_t dev_size;
};

static int fail(struct creation *c, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(struct creation *c, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, c->errlen, fmt, ap);
	va_end(ap);
	return err;
}

static int write_footer_at(struct creation *c, struct vhd_footer *f, uint64_t off)
{
	uint8_t buf[VHD_FOOTER_SIZE];
	int err;

	vhd_footer_encode(f, buf);
	err = vhd_pwrite_full(c->fd, buf, sizeof(buf), off);
	return err ? fail(c, err, "cannot write the footer: %s", strerror(-err)) : 0;
}

/* Preallocate a fixed disk's data: real extents (or zeros) so that writes cannot fail later. */
static int preallocate(struct creation *c, uint64_t size)
{
	static const uint64_t chunk = 64ULL << 20;
	char *zeros = NULL;
	int err = 0;

	for (uint64_t done = 0; done < size && !err;) {
		uint64_t n = size - done < chunk ? size - done : chunk;

		if (!c->is_block) {
			err = posix_fallocate(c->fd, (off_t)done, (off_t)n);
			err = -err;
		}
		if (c->is_block || err == -EOPNOTSUPP || err == -EINVAL) {
			if (!zeros)
				zeros = calloc(1, (size_t)chunk);
			err = zeros ? vhd_pwrite_full(c->fd, zeros, (size_t)n, done) : -ENOMEM;
		}
		done += n;
		if (c->p->progress)
			c->p->progress(done, size, c->p->progress_arg);
	}
	free(zeros);
	return err ? fail(c, err, "cannot preallocate: %s", strerror(-err)) : 0;
}

static int create_fixed(struct creation *c, uint64_t size)
{
	struct vhd_footer f;
	int err;

	if (c->is_block && c->dev_size < size + VHD_FOOTER_SIZE)
		return fail(c, -ENOSPC, "device too small for %" PRIu64 " bytes", size);
	err = vhd_footer_init(&f, VHD_TYPE_FIXED, size, time(NULL));
	if (err)
		return fail(c, err, "cannot generate a UUID");
	err = preallocate(c, size);
	if (err)
		return err;
	return write_footer_at(c, &f, c->is_block ? c->dev_size - VHD_FOOTER_SIZE : size);
}

/* The parent's UUID and size, and the header's parent fields. */
static int parent_info(struct creation *c, struct vhd_header *h, uint64_t *psize)
{
	const struct vhd_create_params *p = c->p;
	char base[PATH_MAX], real[PATH_MAX];
	struct stat st;
	int err;

	err = vhd_canonical_path(p->parent, real, sizeof(real));
	if (err || stat(real, &st) < 0) {
		err = err ? err : -errno;
		return fail(c, err, "parent %s: %s", p->parent, strerror(-err));
	}
	if (p->parent_raw) {
		int fd = open(real, O_RDONLY | O_CLOEXEC), blk;

		if (fd < 0)
			return fail(c, -errno, "parent %s: %s", p->parent, strerror(errno));
		err = vhd_fd_size(fd, psize, &blk);
		close(fd);
		if (err)
			return fail(c, err, "parent %s is not a file or block device", p->parent);
		memset(h->parent_uuid, 0, 16);
	} else {
		struct vhd_file pf;

		err = vhd_open(&pf, real, VHD_OPEN_RDONLY);
		if (err)
			return fail(c, err, "parent: %s", pf.err);
		memcpy(h->parent_uuid, pf.footer.uuid, 16);
		*psize = pf.footer.curr_size;
		vhd_close(&pf);
	}
	h->parent_timestamp = vhd_time(st.st_mtime);
	strcpy(base, real);
	err = vhd_header_set_parent_name(h, strrchr(base, '/') + 1);
	return err ? fail(c, err, "parent name does not fit the header") : 0;
}

static int create_dynamic(struct creation *c, const char *path, uint64_t size)
{
	const struct vhd_create_params *p = c->p;
	uint8_t *meta = NULL, *locs = NULL;
	struct vhd_footer f;
	struct vhd_header h;
	struct vhd_batmap_header bm;
	uint64_t psize = 0, bat_off = VHD_FOOTER_SIZE + VHD_HEADER_SIZE, bm_off, map_off, end;
	uint32_t entries;
	size_t locs_len = 0;
	char child[PATH_MAX], parent[PATH_MAX];
	int err;

	vhd_header_init(&h, bat_off, 0, VHD_BLOCK_SIZE);
	if (p->type == VHD_TYPE_DIFF) {
		err = parent_info(c, &h, &psize);
		if (err)
			return err;
		if (!size)
			size = psize;
		if (size < psize)
			return fail(c, -EINVAL,
				    "size %" PRIu64 " is smaller than the parent's (%" PRIu64 ")",
				    size, psize);
		if (size > VHD_MAX_SIZE)
			return fail(c, -EINVAL, "parent too large for a VHD child");
	}
	if (p->meta_size && p->meta_size < size)
		return fail(c, -EINVAL, "metadata size is smaller than the virtual size");
	entries = vhd_blocks_for(p->meta_size ? p->meta_size : size, VHD_BLOCK_SIZE);
	h.max_bat_entries = entries;
	bm_off = bat_off + vhd_bat_bytes(entries);
	map_off = bm_off + VHD_SECTOR_SIZE;
	vhd_batmap_header_init(&bm, map_off, vhd_batmap_sectors(entries));
	end = map_off + vhd_sectors_to_bytes(bm.size);

	err = vhd_footer_init(&f, p->type, size, time(NULL));
	if (err)
		return fail(c, err, "cannot generate a UUID");
	if (p->type == VHD_TYPE_DIFF) {
		err = vhd_abs_path(path, child, sizeof(child));
		if (!err)
			err = vhd_canonical_path(p->parent, parent, sizeof(parent));
		if (!err)
			err = vhd_make_locators(child, parent, &h, end, &locs, &locs_len);
		if (err)
			return fail(c, err, "cannot encode the parent locators: %s",
				    strerror(-err));
		end += locs_len;
	}
	if (c->is_block && c->dev_size < end + VHD_FOOTER_SIZE) {
		free(locs);
		return fail(c, -ENOSPC, "device too small for the metadata");
	}

	/* everything up to the first block in one buffer: a device gets no stale bytes there */
	meta = calloc(1, end);
	if (!meta) {
		free(locs);
		return fail(c, -ENOMEM, "out of memory");
	}
	vhd_footer_encode(&f, meta);
	vhd_header_encode(&h, meta + f.data_offset);
	memset(meta + bat_off, 0xff, vhd_bat_bytes(entries));
	bm.checksum =
		vhd_batmap_checksum(meta + map_off, vhd_batmap_checksum_bytes(size), bm.version);
	vhd_batmap_header_encode(&bm, meta + bm_off);
	if (locs)
		memcpy(meta + end - locs_len, locs, locs_len);
	free(locs);
	err = vhd_pwrite_full(c->fd, meta, end, 0);
	free(meta);
	if (err)
		return fail(c, err, "cannot write the metadata: %s", strerror(-err));
	return write_footer_at(c, &f, c->is_block ? c->dev_size - VHD_FOOTER_SIZE : end);
}

int vhd_create(const char *path, const struct vhd_create_params *p, char *err, size_t errlen)
{
	struct creation c = { .p = p, .err = err, .errlen = errlen, .fd = -1 };
	uint64_t size = vhd_round_up(p->size, VHD_BLOCK_SIZE);
	bool created = false;
	struct stat st;
	int e, blk = 0;

	err[0] = '\0';
	if (p->type != VHD_TYPE_FIXED && p->type != VHD_TYPE_DYNAMIC && p->type != VHD_TYPE_DIFF)
		return fail(&c, -EINVAL, "unknown disk type");
	if (p->type == VHD_TYPE_DIFF && !p->parent)
		return fail(&c, -EINVAL, "a differencing disk needs a parent");
	if (p->type != VHD_TYPE_DIFF && !p->size)
		return fail(&c, -EINVAL, "the size must be at least 1 byte");
	if (p->size > VHD_MAX_CREATE_SIZE || p->meta_size > VHD_MAX_CREATE_SIZE)
		return fail(&c, -EINVAL, "size exceeds the limit of 2 TiB");

	if (stat(path, &st) == 0) {
		if (!S_ISBLK(st.st_mode))
			return fail(&c, -EEXIST, "%s already exists", path);
		c.fd = open(path, O_RDWR | O_CLOEXEC);
	} else {
		c.fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		created = c.fd >= 0;
	}
	if (c.fd < 0)
		return fail(&c, -errno, "%s: %s", path, strerror(errno));
	e = vhd_fd_size(c.fd, &c.dev_size, &blk);
	c.is_block = blk;
	if (!e) {
		if (p->type == VHD_TYPE_FIXED)
			e = create_fixed(&c, size);
		else
			e = create_dynamic(&c, path, p->type == VHD_TYPE_DIFF ? p->size : size);
	}
	if (!e && fsync(c.fd) < 0)
		e = fail(&c, -errno, "fsync: %s", strerror(errno));
	close(c.fd);
	if (e && created)
		unlink(path);
	return e;
}
