/* The run directory shared with blktap3's tools: control sockets ctl<pid> and minors as
 * flock'd marker files tapdisk/tapdisk-<N> (allocate, free, and the daemon's hold). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ringtap/ctl.h"

const char *ctl_run_dir(void)
{
	const char *dir = getenv(CTL_RUN_DIR_ENV);

	return dir && dir[0] ? dir : CTL_DEFAULT_RUN_DIR;
}

static int fits(int len, size_t size)
{
	return len < 0 || (size_t)len >= size ? -ENAMETOOLONG : 0;
}

int ctl_socket_path(pid_t pid, char *buf, size_t size)
{
	return fits(snprintf(buf, size, "%s/ctl%d", ctl_run_dir(), (int)pid), size);
}

int ctl_minor_path(int minor, char *buf, size_t size)
{
	if (minor < 0 || minor >= CTL_MINOR_MAX)
		return -EINVAL;
	return fits(snprintf(buf, size, "%s/tapdisk/tapdisk-%d", ctl_run_dir(), minor), size);
}

static int make_dir(const char *path)
{
	if (mkdir(path, 0700) == 0 || errno == EEXIST)
		return 0;
	return -errno;
}

int ctl_prepare_run_dir(void)
{
	char minors[PATH_MAX];
	const char *dir = ctl_run_dir();
	int err;

	if (snprintf(minors, sizeof(minors), "%s/tapdisk", dir) >= (int)sizeof(minors))
		return -ENAMETOOLONG;
	err = make_dir(dir);
	return err ? err : make_dir(minors);
}

/* Opens the minors directory and locks it exclusively: allocate and free serialise on it. */
static int lock_minors_dir(void)
{
	char minors[PATH_MAX];
	int fd;

	if (snprintf(minors, sizeof(minors), "%s/tapdisk", ctl_run_dir()) >= (int)sizeof(minors))
		return -ENAMETOOLONG;
	fd = open(minors, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (flock(fd, LOCK_EX) < 0) {
		int err = -errno;

		if (err != -EINTR) {
			close(fd);
			return err;
		}
	}
	return fd;
}

int ctl_minor_allocate(void)
{
	char path[PATH_MAX];
	int dfd, minor, err;

	err = ctl_prepare_run_dir();
	if (err)
		return err;
	dfd = lock_minors_dir();
	if (dfd < 0)
		return dfd;
	err = -ENOSPC;
	for (minor = 0; minor < CTL_MINOR_MAX; minor++) {
		int fd;

		err = ctl_minor_path(minor, path, sizeof(path));
		if (err)
			break;
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0) {
			close(fd);
			err = minor;
			break;
		}
		err = errno == EEXIST ? -ENOSPC : -errno;
		if (err != -ENOSPC)
			break;
	}
	close(dfd); /* releases the lock */
	return err;
}

int ctl_minor_free(int minor)
{
	char path[PATH_MAX];
	int dfd, fd, err;

	err = ctl_minor_path(minor, path, sizeof(path));
	if (err)
		return err;
	dfd = lock_minors_dir();
	if (dfd < 0)
		return dfd;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
	} else if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		err = -errno; /* EWOULDBLOCK: a daemon holds it */
	} else if (unlink(path) < 0) {
		err = -errno;
	}
	if (fd >= 0)
		close(fd);
	close(dfd);
	return err;
}

int ctl_minor_hold(int minor)
{
	char path[PATH_MAX];
	int fd, err;

	err = ctl_minor_path(minor, path, sizeof(path));
	if (err)
		return err;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_SH | LOCK_NB) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}
