/* Xenstore path canonicalization and validation (see path.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tools/simxen/xenstored/path.h"

static const char valid_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				  "0123456789-/_@";

size_t path_domain_home(uint16_t domid, char *out)
{
	return (size_t)snprintf(out, PATH_BUF_SIZE, "/local/domain/%u", domid);
}

/* Length of a leading "/local/domain/<digits>/", as xenstored's relative-length limit counts
 * from there; 0 if path does not start so. */
static size_t domain_prefix_len(const char *path)
{
	static const char pfx[] = "/local/domain/";
	size_t n = sizeof(pfx) - 1, digits;

	if (strncmp(path, pfx, n) != 0)
		return 0;
	digits = strspn(path + n, "0123456789");
	if (digits == 0 || digits > 5 || path[n + digits] != '/')
		return 0;
	return n + digits + 1;
}

int path_canonical(uint16_t domid, const char *in, bool allow_special, char *out, bool *relative)
{
	size_t len = strlen(in);

	*relative = false;
	if (in[0] == '@') {
		if (!allow_special || len > XENSTORE_ABS_PATH_MAX || len < 2 ||
		    strspn(in, valid_chars) != len || strchr(in, '/'))
			return -EINVAL;
		memcpy(out, in, len + 1);
		return 0;
	}
	if (in[0] == '/') {
		if (len > XENSTORE_ABS_PATH_MAX)
			return -EINVAL;
		memcpy(out, in, len + 1);
	} else {
		size_t home = path_domain_home(domid, out);

		if (len == 0 || home + 1 + len > XENSTORE_ABS_PATH_MAX)
			return -EINVAL;
		out[home] = '/';
		memcpy(out + home + 1, in, len + 1);
		len += home + 1;
		*relative = true;
	}
	if (strspn(out, valid_chars) != len || strstr(out, "//") ||
	    (len > 1 && out[len - 1] == '/'))
		return -EINVAL;
	if (len - domain_prefix_len(out) > XENSTORE_REL_PATH_MAX)
		return -EINVAL;
	return 0;
}

bool path_is_special(const char *path)
{
	return path[0] == '@';
}

bool path_is_at_or_below(const char *path, const char *base)
{
	size_t n = strlen(base);

	if (strcmp(base, "/") == 0)
		return path[0] == '/';
	return strncmp(path, base, n) == 0 && (path[n] == '\0' || path[n] == '/');
}
