/* The simxen command's use of libxenstore: connecting to a simxen host, transactions retried on
 * EAGAIN, writes with permissions. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/simxen/cmd/simxen.h"

int sx_xs_open(const char *dir, struct xs_handle **out)
{
	char path[PATH_MAX];

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, SX_SOCKET) >= sizeof(path))
		return -ENAMETOOLONG;
	/* libxenstore takes its socket from the environment only. */
	if (setenv("XENSTORED_PATH", path, 1) < 0)
		return -errno;
	*out = xs_open(0);
	return *out ? 0 : -(errno ? errno : ECONNREFUSED);
}

int sx_xs_transaction(struct xs_handle *h,
		      int (*fn)(struct xs_handle *h, xs_transaction_t t, void *arg), void *arg)
{
	for (;;) {
		xs_transaction_t t = xs_transaction_start(h);
		int rc;

		if (t == XBT_NULL)
			return -(errno ? errno : EIO);
		rc = fn(h, t, arg);
		if (xs_transaction_end(h, t, rc != 0))
			return rc;
		if (rc != 0)
			return rc;
		if (errno != EAGAIN)
			return -errno;
	}
}

int sx_xs_put(struct xs_handle *h, xs_transaction_t t, const char *path, const char *value,
	      struct xs_permissions *perms, unsigned int nr_perms)
{
	if (!xs_write(h, t, path, value, (unsigned int)strlen(value)))
		return -errno;
	if (nr_perms && !xs_set_permissions(h, t, path, perms, nr_perms))
		return -errno;
	return 0;
}

int sx_xs_putf(struct xs_handle *h, xs_transaction_t t, const char *path, const char *fmt, ...)
{
	char value[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(value, sizeof(value), fmt, ap);
	va_end(ap);
	return sx_xs_put(h, t, path, value, NULL, 0);
}

int sx_parse_domid(const char *s, uint16_t *out)
{
	char *end;
	unsigned long v;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v == 0 || v >= 0x7FF0) /* DOMID_FIRST_RESERVED */
		return -EINVAL;
	*out = (uint16_t)v;
	return 0;
}

int sx_error(int err, const char *fmt, ...)
{
	va_list ap;

	fputs("simxen: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, ": %s\n", strerror(err < 0 ? -err : err));
	return err;
}
