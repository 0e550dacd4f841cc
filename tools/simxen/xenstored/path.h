/* Xenstore path rules: relative paths are under the connection's /local/domain/<domid>, names
 * use [A-Za-z0-9_@/-], no "//" or trailing "/", length limits of xs_wire.h; "@..." names the
 * special watch nodes. */
#ifndef SIMXEN_XENSTORED_PATH_H
#define SIMXEN_XENSTORED_PATH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <xen/io/xs_wire.h>

/* Room for any valid absolute path and its NUL. */
#define PATH_BUF_SIZE (XENSTORE_ABS_PATH_MAX + 1)

/* Writes the absolute form of `in`, as the connection of `domid` means it, into out
 * (PATH_BUF_SIZE bytes). *relative tells whether `in` was relative. 0 or -EINVAL. */
int path_canonical(uint16_t domid, const char *in, bool allow_special, char *out, bool *relative);

bool path_is_special(const char *path);
/* true when path is base or lies below it ("/a/b" is below "/a", "/ab" is not). */
bool path_is_at_or_below(const char *path, const char *base);
/* Writes "/local/domain/<domid>" into out (PATH_BUF_SIZE bytes); its length. */
size_t path_domain_home(uint16_t domid, char *out);

#endif
