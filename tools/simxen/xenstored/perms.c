/* Xenstore node permissions: parsing, formatting and the access rule (see perms.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/simxen/xenstored/perms.h"

static int perm_parse_one(const char *s, struct xs_perm *out)
{
	unsigned long id = 0;
	const char *d;

	switch (s[0]) {
	case 'n':
		out->mode = XS_PERM_NONE;
		break;
	case 'r':
		out->mode = XS_PERM_READ;
		break;
	case 'w':
		out->mode = XS_PERM_WRITE;
		break;
	case 'b':
		out->mode = XS_PERM_READ | XS_PERM_WRITE;
		break;
	default:
		return -EINVAL;
	}
	/* Plain decimal only: strtoul would accept signs, spaces and overflow quietly. */
	if (s[1] == '\0' || strlen(s + 1) > 5)
		return -EINVAL;
	for (d = s + 1; *d; d++) {
		if (*d < '0' || *d > '9')
			return -EINVAL;
		id = id * 10 + (unsigned long)(*d - '0');
	}
	if (id > UINT16_MAX)
		return -EINVAL;
	out->domid = (uint16_t)id;
	return 0;
}

int perms_parse(const char *strings, unsigned int len, unsigned int count, struct xs_perms *out)
{
	struct xs_perm *p;
	unsigned int i, off = 0;

	if (count == 0)
		return -EINVAL;
	p = calloc(count, sizeof(*p));
	if (!p)
		return -ENOMEM;
	for (i = 0; i < count; i++) {
		const char *nul = off < len ? memchr(strings + off, '\0', len - off) : NULL;

		if (!nul || perm_parse_one(strings + off, &p[i]) < 0) {
			free(p);
			return -EINVAL;
		}
		off = (unsigned int)(nul - strings) + 1;
	}
	out->nr = count;
	out->p = p;
	return 0;
}

int perms_format(const struct xs_perms *perms, char *buf, unsigned int size)
{
	static const char letter[] = { 'n', 'r', 'w', 'b' };
	unsigned int i, len = 0;

	for (i = 0; i < perms->nr; i++) {
		int n = snprintf(buf + len, size - len, "%c%u", letter[perms->p[i].mode & 3],
				 perms->p[i].domid);

		if (n < 0 || (unsigned int)n + 1 > size - len)
			return -E2BIG;
		len += (unsigned int)n + 1; /* keep the NUL snprintf wrote */
	}
	return (int)len;
}

unsigned int perms_for(const struct xs_perms *perms, uint16_t domid, bool privileged)
{
	unsigned int i;

	if (privileged || (perms->nr > 0 && perms->p[0].domid == domid))
		return XS_PERM_READ | XS_PERM_WRITE | XS_PERM_OWNER;
	if (perms->nr == 0)
		return XS_PERM_NONE;
	for (i = 1; i < perms->nr; i++)
		if (perms->p[i].domid == domid)
			return perms->p[i].mode;
	return perms->p[0].mode;
}

int perms_copy(struct xs_perms *dst, const struct xs_perms *src)
{
	dst->p = malloc(src->nr * sizeof(*src->p));
	if (!dst->p)
		return -ENOMEM;
	memcpy(dst->p, src->p, src->nr * sizeof(*src->p));
	dst->nr = src->nr;
	return 0;
}

void perms_free(struct xs_perms *perms)
{
	free(perms->p);
	perms->p = NULL;
	perms->nr = 0;
}
