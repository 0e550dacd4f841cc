/* Changed block tracking: the CBT log's layer above a VBD's disk (blktap's "log" image). Every
 * write and discard going down to the disk first sets the bits of its 64 KiB blocks in the log's
 * bitmap (include/ringtap/cbt.h), so that a block a guest changed is marked before its request
 * can be acknowledged. The header (consistent flag, parent, child, size) is the toolstack's:
 * this layer never writes it. */
#ifndef TD_CBT_LOG_H
#define TD_CBT_LOG_H

#include "ringtap/driver.h"

/* Maps the log at `path` (absolute) for `disk`, an open image (not owned: the caller closes it
 * after this layer), and fills `img` as the layer requests go through: its info is the disk's,
 * its parent the disk. 0 or -errno; -EINVAL when the file is shorter than the header and
 * bitmap the disk's size needs, with `why` (TD_IMAGE_WHY_MAX bytes) saying so. */
int td_cbt_log_open(struct td_image *img, struct td_image *disk, const char *path, char *why);

/* The log file's path. */
const char *td_cbt_log_path(const struct td_image *img);

#endif
