/* Whole-buffer positional I/O, zeroing ranges, sizes of files and devices, error messages. */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "private.h"

int vhd_pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		done += (size_t)n;
	}
	return 0;
}

int vhd_pwrite_full(int fd, const void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pwrite(fd, (const char *)buf + done, len - done, (off_t)(off + done));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		done += (size_t)n;
	}
	return 0;
}

int vhd_zero_range(int fd, uint64_t off, uint64_t len, int is_block)
{
	static const size_t chunk = 1 << 20;
	char *zeros;
	int err = 0;

	if (!len)
		return 0;
	/* a hole in a regular file reads as zeros; devices get real zeros */
	if (!is_block &&
	    fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == 0)
		return 0;
	zeros = calloc(1, chunk);
	if (!zeros)
		return -ENOMEM;
	while (len && !err) {
		size_t n = len < chunk ? (size_t)len : chunk;

		err = vhd_pwrite_full(fd, zeros, n, off);
		off += n;
		len -= n;
	}
	free(zeros);
	return err;
}

int vhd_fd_size(int fd, uint64_t *size, int *is_block)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, size) < 0)
			return -errno;
		*is_block = 1;
		return 0;
	}
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	*size = (uint64_t)st.st_size;
	*is_block = 0;
	return 0;
}

int vhd_fail(struct vhd_file *f, int err, const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(f->err, sizeof(f->err), "%s: ", f->path ? f->path : "(vhd)");
	if (n < 0 || (size_t)n >= sizeof(f->err))
		n = 0;
	va_start(ap, fmt);
	vsnprintf(f->err + n, sizeof(f->err) - (size_t)n, fmt, ap);
	va_end(ap);
	return err;
}
