/* Xenstore node permissions: the owner-first list ("n0", "r5", ...) every node carries, its wire
 * form, and the access check xenstored applies to unprivileged connections. */
#ifndef SIMXEN_XENSTORED_PERMS_H
#define SIMXEN_XENSTORED_PERMS_H

#include <stdbool.h>
#include <stdint.h>

#define XS_PERM_NONE 0u
#define XS_PERM_READ 1u
#define XS_PERM_WRITE 2u
#define XS_PERM_OWNER 4u /* never stored: granted to the owner and to dom0 */

struct xs_perm {
	uint16_t domid;
	uint8_t mode; /* XS_PERM_READ | XS_PERM_WRITE */
};

/* p[0] is the owner, whose mode is what every domain not listed after it gets. */
struct xs_perms {
	unsigned int nr;
	struct xs_perm *p;
};

/* Parses `count` NUL-terminated perm strings ("n0", "r5", "w3", "b7") starting at `strings`,
 * which holds `len` bytes. 0, -EINVAL or -ENOMEM; on success *out owns a new array. */
int perms_parse(const char *strings, unsigned int len, unsigned int count, struct xs_perms *out);

/* Writes the wire form (each perm NUL-terminated) into buf. Length, or -E2BIG. */
int perms_format(const struct xs_perms *perms, char *buf, unsigned int size);

/* What a domain may do with a node: everything for dom0 and the owner, else its own entry or
 * the owner entry's default. */
unsigned int perms_for(const struct xs_perms *perms, uint16_t domid, bool privileged);

int perms_copy(struct xs_perms *dst, const struct xs_perms *src);
void perms_free(struct xs_perms *perms);

#endif
