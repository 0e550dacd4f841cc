/* Small xenstore helpers for tapback: formatted reads and writes, strict integer parsing. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tapback.h"

char *xs_readf(struct xs_handle *xs, xs_transaction_t t, const char *fmt, ...)
{
	char path[512];
	unsigned int len;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(path))
		return NULL;
	return xs_read(xs, t, path, &len);
}

int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (s[0] < '0' || s[0] > '9' || *end || errno || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

int xs_read_uint(struct xs_handle *xs, const char *dir, const char *node, unsigned long max,
		 unsigned long *out)
{
	char *s = xs_readf(xs, XBT_NULL, "%s/%s", dir, node);
	int err;

	if (!s)
		return -ENOENT;
	err = parse_uint(s, max, out);
	free(s);
	return err;
}

bool xs_printf_node(struct xs_handle *xs, xs_transaction_t t, const char *dir, const char *node,
		    const char *fmt, ...)
{
	char path[512], value[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(value, sizeof(value), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(value))
		return false;
	n = snprintf(path, sizeof(path), "%s/%s", dir, node);
	if (n < 0 || (size_t)n >= sizeof(path))
		return false;
	return xs_write(xs, t, path, value, strlen(value));
}
