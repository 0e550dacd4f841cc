/* Scatter lists (struct iovec arrays): their size and the pieces covering a byte range, for the
 * drivers and lib/nbd. Header-only: pure arithmetic on the caller's arrays. */
#ifndef RINGTAP_IOV_H
#define RINGTAP_IOV_H

#include <stddef.h>
#include <sys/uio.h>

/* The bytes iov[0..cnt) covers. */
static inline size_t rt_iov_bytes(const struct iovec *iov, int cnt)
{
	size_t n = 0;

	for (int i = 0; i < cnt; i++)
		n += iov[i].iov_len;
	return n;
}

/* Writes into out (at most max entries) the pieces of iov[0..cnt) that cover *len bytes from
 * byte off, and takes from *len what they cover: 0 left when the range fitted in max entries
 * (or iov ended first, which callers rule out). Returns how many entries it wrote. */
static inline int rt_iov_window(struct iovec *out, int max, const struct iovec *iov, int cnt,
				size_t off, size_t *len)
{
	int n = 0;

	for (int i = 0; i < cnt && *len && n < max; i++) {
		size_t l = iov[i].iov_len;

		if (off >= l) {
			off -= l;
			continue;
		}
		l -= off;
		if (l > *len)
			l = *len;
		out[n++] = (struct iovec){ (char *)iov[i].iov_base + off, l };
		*len -= l;
		off = 0;
	}
	return n;
}

#endif
