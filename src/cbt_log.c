/* The CBT log's layer (src/cbt_log.h): a td_driver_ops table above the disk, not in the driver
 * registry (it is stacked by the VBD, never opened by "type:path"). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ringtap/cbt.h"
#include "ringtap/log.h"
#include "src/cbt_log.h"

struct cbt_log {
	uint8_t *map; /* header and bitmap, MAP_SHARED */
	size_t map_len;
	uint8_t *bitmap;
	uint64_t bitmap_bytes;
	char path[];
};

static struct cbt_log *log_of(const struct td_image *img)
{
	return img->priv;
}

/* The blocks a write or discard changes are marked before it goes down: in a MAP_SHARED
 * mapping the store is in the file's page cache at once, so a tapdisk killed (even with
 * SIGKILL) after the request was submitted leaves its bits in the file: no msync is needed
 * for a process crash. */
static void log_submit(struct td_image *img, struct td_io *io)
{
	struct cbt_log *l = log_of(img);
	uint64_t sectors = 0, bytes = 0;

	if (io->op == TD_IO_WRITE) {
		for (int i = 0; i < io->iovcnt; i++)
			bytes += io->iov[i].iov_len;
		sectors = (bytes + (1u << TD_SECTOR_SHIFT) - 1) >> TD_SECTOR_SHIFT;
	} else if (io->op == TD_IO_DISCARD) {
		sectors = io->nr_sectors;
	}
	/* a range past the disk's end cannot be marked, and the disk below refuses it */
	if (sectors && cbt_mark_sectors(l->bitmap, l->bitmap_bytes, io->sector, sectors) < 0)
		rt_warn("cbt log %s: cannot mark sectors %llu+%llu past the disk's end", l->path,
			(unsigned long long)io->sector, (unsigned long long)sectors);
	td_image_submit(img->parent, io);
}

static void log_kick(struct td_image *img)
{
	td_image_kick(img->parent);
}

static int log_poll(struct td_image *img)
{
	return td_image_poll(img->parent);
}

static void log_info(const struct td_image *img, struct td_image_info *info)
{
	*info = img->parent->info;
}

/* Unmapped when the VBD pauses or closes. The msync is for a host crash, not a process one:
 * the bitmap reaches the disk before the toolstack marks the log consistent again. */
static void log_close(struct td_image *img)
{
	struct cbt_log *l = log_of(img);

	if (!l)
		return;
	if (msync(l->map, l->map_len, MS_SYNC) < 0)
		rt_err("cbt log %s: msync: %s", l->path, strerror(errno));
	munmap(l->map, l->map_len);
	rt_info("cbt log %s: closed", l->path);
	free(l);
	img->priv = NULL;
}

static void log_register_buffer(struct td_image *img, void *base, size_t len)
{
	td_image_register_buffer(img->parent, base, len);
}

static void log_register_page(struct td_image *img, uint32_t slot, void *addr)
{
	td_image_register_page(img->parent, slot, addr);
}

static const struct td_driver_ops cbt_log_ops = {
	.name = "log",
	.close = log_close,
	.submit = log_submit,
	.kick = log_kick,
	.info = log_info,
	.poll = log_poll,
	.register_buffer = log_register_buffer,
	.register_page = log_register_page,
};

int td_cbt_log_open(struct td_image *img, struct td_image *disk, const char *path, char *why)
{
	uint64_t disk_bytes = disk->info.sectors << TD_SECTOR_SHIFT;
	uint64_t need = cbt_log_bytes(disk_bytes), len = 0;
	struct cbt_log *l;
	int fd, rc;

	memset(img, 0, sizeof(*img));
	if (path[0] != '/' || strlen(path) + 4 >= sizeof(img->name))
		return -EINVAL;
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	rc = cbt_file_length(fd, &len);
	if (!rc && len < need) {
		/* blktap3's tapdisk maps it anyway and dies of SIGBUS on the first write past it */
		snprintf(why, TD_IMAGE_WHY_MAX,
			 "with CBT log %.128s: the log is %llu bytes, a %llu-byte disk needs %llu "
			 "(header and bitmap)",
			 path, (unsigned long long)len, (unsigned long long)disk_bytes,
			 (unsigned long long)need);
		rc = -EINVAL;
	}
	l = rc ? NULL : calloc(1, sizeof(*l) + strlen(path) + 1);
	if (!rc && !l)
		rc = -ENOMEM;
	if (rc) {
		close(fd);
		return rc;
	}
	strcpy(l->path, path);
	l->map_len = (size_t)need;
	l->map = mmap(NULL, l->map_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (l->map == MAP_FAILED) {
		rc = -errno;
		free(l);
		return rc;
	}
	l->bitmap = l->map + CBT_HEADER_SIZE;
	l->bitmap_bytes = cbt_bitmap_bytes(disk_bytes);
	img->ops = &cbt_log_ops;
	img->loop = disk->loop;
	img->parent = disk;
	img->info = disk->info;
	img->flags = disk->flags;
	img->priv = l;
	snprintf(img->name, sizeof(img->name), "log:%s", path);
	rt_info("cbt log %s: tracking %llu blocks of %s", path,
		(unsigned long long)cbt_blocks(disk_bytes), disk->name);
	return 0;
}

const char *td_cbt_log_path(const struct td_image *img)
{
	return log_of(img)->path;
}
