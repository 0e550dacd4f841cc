/* The CBT log's layer (src/cbt_log.h) above a fake disk: writes and discards mark their blocks
 * in the file before they reach the disk, reads and flushes do not, the I/O goes down unchanged;
 * a log shorter than the disk needs, or missing, is refused with the reason. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "ringtap/cbt.h"
#include "src/cbt_log.h"

#define DISK_SECTORS 2048 /* 1 MiB: 16 blocks, a 2-byte bitmap */

struct fixture {
	char dir[64], path[96];
	struct td_image disk, log;
};

/* The fake disk: records what reached it, and what the log held at that moment. */
static struct td_io *last_io;
static uint8_t bitmap_at_submit[2];
static const char *log_path;
static int kicks;

static void read_bitmap(uint8_t out[2])
{
	int fd = open(log_path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, out, 2, CBT_HEADER_SIZE), 2);
	close(fd);
}

static void disk_submit(struct td_image *img, struct td_io *io)
{
	last_io = io;
	read_bitmap(bitmap_at_submit); /* the file, as another process would read it */
}

static void disk_kick(struct td_image *img)
{
	kicks++;
}

static void disk_close(struct td_image *img)
{
}

static const struct td_driver_ops disk_ops = {
	.name = "fake",
	.close = disk_close,
	.submit = disk_submit,
	.kick = disk_kick,
};

static int make_log(struct fixture *f, uint64_t len)
{
	int fd = open(f->path, O_RDWR | O_CREAT | O_TRUNC, 0644);

	if (fd < 0 || ftruncate(fd, (off_t)len) < 0)
		return -1;
	close(fd);
	return 0;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	strcpy(f->dir, "/tmp/test_cbt_log.XXXXXX");
	if (!f || !mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/disk.cbtlog", f->dir);
	f->disk.ops = &disk_ops;
	f->disk.info.sectors = DISK_SECTORS;
	f->disk.info.sector_size = 512;
	strcpy(f->disk.name, "fake:disk");
	log_path = f->path;
	last_io = NULL;
	kicks = 0;
	*state = f;
	return make_log(f, cbt_log_bytes(DISK_SECTORS * 512ull));
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void submit(struct td_image *log, uint8_t op, uint64_t sector, uint64_t nr, size_t len)
{
	static uint8_t buf[2][8192];
	struct iovec iov[2] = { { buf[0], len / 2 }, { buf[1], len - len / 2 } };
	struct td_io io = { .op = op, .sector = sector, .nr_sectors = nr, .iov = iov, .iovcnt = 2 };

	last_io = NULL;
	td_image_submit(log, &io);
	assert_ptr_equal(last_io, &io); /* passed down unchanged, at once */
	assert_true(last_io->sector == sector);
}

static void writes_and_discards_are_marked_before_they_go_down(void **state)
{
	struct fixture *f = *state;
	char why[TD_IMAGE_WHY_MAX] = "";
	uint8_t bm[2];

	assert_int_equal(td_cbt_log_open(&f->log, &f->disk, f->path, why), 0);
	assert_ptr_equal(f->log.parent, &f->disk);
	assert_true(f->log.info.sectors == DISK_SECTORS);
	assert_string_equal(td_cbt_log_path(&f->log), f->path);

	submit(&f->log, TD_IO_READ, 0, 0, 8192);
	submit(&f->log, TD_IO_FLUSH, 0, 0, 0);
	read_bitmap(bm);
	assert_int_equal(bm[0] | bm[1], 0);

	/* 8 KiB at sector 124: bytes 62 KiB..70 KiB, blocks 0 and 1 (two iovecs) */
	submit(&f->log, TD_IO_WRITE, 124, 0, 8192);
	assert_int_equal(bitmap_at_submit[0], 0x03);
	/* the disk's last sector: block 15 */
	submit(&f->log, TD_IO_WRITE, DISK_SECTORS - 1, 0, 512);
	assert_int_equal(bitmap_at_submit[1], 0x80);
	/* a discard of blocks 4..6 (sectors 512..895) */
	submit(&f->log, TD_IO_DISCARD, 512, 384, 0);
	assert_int_equal(bitmap_at_submit[0], 0x73);
	/* past the disk: nothing marked, still passed down (the disk refuses it) */
	submit(&f->log, TD_IO_WRITE, DISK_SECTORS, 0, 512);
	assert_int_equal(bitmap_at_submit[0], 0x73);
	assert_int_equal(bitmap_at_submit[1], 0x80);
	td_image_kick(&f->log);
	assert_int_equal(kicks, 1);
	f->log.ops->close(&f->log); /* td_image_close without the driver table */
	read_bitmap(bm);
	assert_int_equal(bm[0], 0x73);
	assert_int_equal(bm[1], 0x80);
}

static void a_short_log_is_refused_with_the_reason(void **state)
{
	struct fixture *f = *state;
	char why[TD_IMAGE_WHY_MAX] = "";

	assert_int_equal(make_log(f, CBT_HEADER_SIZE + 1), 0);
	assert_int_equal(td_cbt_log_open(&f->log, &f->disk, f->path, why), -EINVAL);
	assert_non_null(strstr(why, "the log is 49 bytes, a 1048576-byte disk needs 50"));
	assert_int_equal(make_log(f, 0), 0);
	assert_int_equal(td_cbt_log_open(&f->log, &f->disk, f->path, why), -EINVAL);
	why[0] = '\0';
	unlink(f->path);
	assert_int_equal(td_cbt_log_open(&f->log, &f->disk, f->path, why), -ENOENT);
	assert_int_equal(td_cbt_log_open(&f->log, &f->disk, "relative.cbtlog", why), -EINVAL);
	/* a longer file is fine: the bitmap the disk needs is mapped */
	assert_int_equal(make_log(f, 4096), 0);
	assert_int_equal(td_cbt_log_open(&f->log, &f->disk, f->path, why), 0);
	f->log.ops->close(&f->log); /* td_image_close without the driver table */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(writes_and_discards_are_marked_before_they_go_down,
						setup, teardown),
		cmocka_unit_test_setup_teardown(a_short_log_is_refused_with_the_reason, setup,
						teardown),
	};
	return cmocka_run_group_tests_name("cbt_log", tests, NULL, NULL);
}
