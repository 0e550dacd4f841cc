/* Opening an image by "type:path" through the driver table (include/ringtap/driver.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringtap/driver.h"
#include "src/blkif_req.h"

/* The core hands its own operation codes to the drivers as they are. */
_Static_assert(TD_IO_READ == (int)TD_OP_READ && TD_IO_WRITE == (int)TD_OP_WRITE &&
		       TD_IO_FLUSH == (int)TD_OP_FLUSH && TD_IO_DISCARD == (int)TD_OP_DISCARD,
	       "driver and core operation codes agree");

const struct td_driver_ops *td_driver_find(const char *type)
{
	const struct td_driver_ops *const *d;
	const char *const *a;

	for (d = td_drivers; *d; d++) {
		if (!strcmp((*d)->name, type))
			return *d;
		for (a = (*d)->aliases; a && *a; a++)
			if (!strcmp(*a, type))
				return *d;
	}
	return NULL;
}

int td_image_open(struct td_image *img, struct td_loop *loop, const char *type_path,
		  unsigned int flags)
{
	const struct td_driver_ops *ops;
	const char *colon = strchr(type_path, ':');
	char type[32];
	int rc;

	memset(img, 0, sizeof(*img));
	if (!colon || colon == type_path || (size_t)(colon - type_path) >= sizeof(type))
		return -EINVAL;
	memcpy(type, type_path, colon - type_path);
	type[colon - type_path] = '\0';
	ops = td_driver_find(type);
	if (!ops)
		return -EPROTONOSUPPORT;
	if (strlen(ops->name) + strlen(colon) >= sizeof(img->name))
		return -ENAMETOOLONG;
	img->ops = ops;
	img->loop = loop;
	img->flags = flags;
	snprintf(img->name, sizeof(img->name), "%s%s", ops->name, colon);
	rc = ops->open(img, colon + 1, flags);
	if (rc < 0) {
		img->ops = NULL;
		return rc;
	}
	if (flags & TD_OPEN_RDONLY)
		img->info.readonly = true;
	return 0;
}

void td_image_close(struct td_image *img)
{
	if (img->ops)
		img->ops->close(img);
	img->ops = NULL;
	img->priv = NULL;
}

int td_io_engine_parse(const char *name, unsigned int *flags)
{
	if (!strcmp(name, "auto"))
		*flags = 0;
	else if (!strcmp(name, "libaio"))
		*flags = TD_OPEN_ENGINE_LIBAIO;
	else if (!strcmp(name, "io_uring"))
		*flags = TD_OPEN_ENGINE_IO_URING;
	else
		return -EINVAL;
	return 0;
}

int td_parse_size(const char *s, uint64_t *bytes)
{
	unsigned long long v;
	char *end;
	int shift = 0;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	switch (*end) {
	case '\0':
		break;
	case 'k': case 'K': shift = 10; break;
	case 'm': case 'M': shift = 20; break;
	case 'g': case 'G': shift = 30; break;
	case 't': case 'T': shift = 40; break;
	default:
		return -EINVAL;
	}
	if (*end && end[1] && strcmp(end + 1, "iB") && strcmp(end + 1, "B"))
		return -EINVAL;
	if (v > (UINT64_MAX >> shift))
		return -EINVAL;
	*bytes = (uint64_t)v << shift;
	return 0;
}
