/* The `rbd` driver of a tapdisk built without librbd (configure found no librbd-dev): the type
 * is known, so that the refusal says why. */
#include <stdio.h>

#include "ringtap/driver.h"

static int rbd_open_none(struct td_image *img, const char *path, unsigned int flags)
{
	snprintf(img->why, sizeof(img->why),
		 "this tapdisk was built without librbd (install librbd-dev and rebuild)");
	return -EOPNOTSUPP;
}

const struct td_driver_ops td_driver_rbd = {
	.name = "rbd",
	.open = rbd_open_none,
};
