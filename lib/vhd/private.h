/* Helpers private to librtvhd: big-endian field access, whole-buffer pread/pwrite, error
 * messages into struct vhd_file. */
#ifndef RTVHD_PRIVATE_H
#define RTVHD_PRIVATE_H

#include <stdint.h>
#include <stddef.h>

#include "ringtap/vhd.h"

static inline uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t get_be64(const uint8_t *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

static inline void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32(p + 4, (uint32_t)v);
}

/* Whole transfers or an error: a short read (end of file) is -EIO. */
int vhd_pread_full(int fd, void *buf, size_t len, uint64_t off);
int vhd_pwrite_full(int fd, const void *buf, size_t len, uint64_t off);
/* Make [off, off+len) read as zeros. */
int vhd_zero_range(int fd, uint64_t off, uint64_t len, int is_block);
/* Size of a regular file or block device. */
int vhd_fd_size(int fd, uint64_t *size, int *is_block);

/* Metadata validation and end-of-data computation over loaded structures (validate.c). */
int vhd_validate_layout(struct vhd_file *f);

/* Canonical absolute path of `path`, whose last component need not exist (parent.c). */
int vhd_abs_path(const char *path, char *out, size_t outlen);
/* Fill h->loc[0..2] (MacX, W2ku, W2ru) for `parent`, seen from `child` (both canonical),
 * their data laid out from `off`; *data (malloc'd, *len bytes) is what to write there. */
int vhd_make_locators(const char *child, const char *parent, struct vhd_header *h, uint64_t off,
		      uint8_t **data, size_t *len);

#endif
