/* The `null` driver: no storage. Every I/O completes at the next kick, reads return zeros. It
 * measures the datapath itself. Open string: null:SIZE (bytes, K/M/G/T suffixes; default 1G). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ringtap/driver.h"

struct null_img {
	struct td_io *head, *tail;
	bool in_kick;
};

static int null_open(struct td_image *img, const char *path, unsigned int flags)
{
	struct null_img *n;
	uint64_t bytes = 1ull << 30;

	if (*path && td_parse_size(path, &bytes) < 0)
		return -EINVAL;
	if (!bytes || bytes % 512)
		return -EINVAL;
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	img->priv = n;
	img->info = (struct td_image_info){
		.sectors = bytes >> TD_SECTOR_SHIFT,
		.sector_size = 512,
		.physical_sector_size = 512,
		.readonly = flags & TD_OPEN_RDONLY,
		.discard = true,
		.discard_granularity = 512,
	};
	return 0;
}

static void null_close(struct td_image *img)
{
	free(img->priv);
}

static void null_submit(struct td_image *img, struct td_io *io)
{
	struct null_img *n = img->priv;

	io->next = NULL;
	if (n->tail)
		n->tail->next = io;
	else
		n->head = io;
	n->tail = io;
}

static void null_kick(struct td_image *img)
{
	struct null_img *n = img->priv;
	struct td_io *io;
	int i;

	/* A completion may submit and kick again: the outer pass picks that up. */
	if (n->in_kick)
		return;
	n->in_kick = true;
	while ((io = n->head)) {
		n->head = io->next;
		if (!n->head)
			n->tail = NULL;
		if (io->op == TD_IO_READ)
			for (i = 0; i < io->iovcnt; i++)
				memset(io->iov[i].iov_base, 0, io->iov[i].iov_len);
		io->done(io, 0);
	}
	n->in_kick = false;
}

/* Nothing is ever pending between kicks. */
static int null_poll(struct td_image *img)
{
	return 0;
}

static void null_info(const struct td_image *img, struct td_image_info *info)
{
	*info = img->info;
}

const struct td_driver_ops td_driver_null = {
	.name = "null",
	.open = null_open,
	.close = null_close,
	.submit = null_submit,
	.kick = null_kick,
	.info = null_info,
	.poll = null_poll,
};
