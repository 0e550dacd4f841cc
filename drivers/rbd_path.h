/* The rbd driver's open string: "pool/image[@snapshot][:option=value]..." (options conf, id,
 * keyring), parsed strictly: it comes from the command line. Kept apart from drivers/rbd.c so
 * that it builds, and is tested, without librbd. Internal to drivers/. */
#ifndef TD_DRIVERS_RBD_PATH_H
#define TD_DRIVERS_RBD_PATH_H

#include <stddef.h>

/* Ceph's limits: RBD_MAX_IMAGE_NAME_SIZE is 96 with the NUL; a Ceph user id; a path. */
#define RBD_PATH_NAME_MAX 96
#define RBD_PATH_ID_MAX 64
#define RBD_PATH_FILE_MAX 256

struct rbd_path {
	char pool[RBD_PATH_NAME_MAX];
	char image[RBD_PATH_NAME_MAX];
	char snap[RBD_PATH_NAME_MAX]; /* "" when none: a snapshot is opened read-only */
	char conf[RBD_PATH_FILE_MAX]; /* "" when none: librados's default search */
	char id[RBD_PATH_ID_MAX]; /* "" when none: "admin" */
	char keyring[RBD_PATH_FILE_MAX]; /* "" when none: the configuration's */
};

/* 0, or -EINVAL (-ENAMETOOLONG for a part over its limit) with the reason in why. Names are
 * [A-Za-z0-9_.+-], not "." or ".."; files are absolute paths of [A-Za-z0-9_.+/-]; each option
 * at most once. */
int rbd_path_parse(const char *s, struct rbd_path *p, char *why, size_t why_size);

#endif
