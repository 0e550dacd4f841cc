/* The run directory shared with blktap3's tools: control sockets ctl<pid> and minors as
 * flock'd marker files tapdisk/tapdisk-<N> (allocate, free, and the daemon's hold). A held marker
 * contains its holder's pid: the flock goes with the holder's death, the pid stays and says the
 * minor was held, not merely allocated. */
#include <dirent.h>
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

const char *ctl_shm_dir(void)
{
	const char *dir = getenv(CTL_SHM_DIR_ENV);

	return dir && dir[0] ? dir : CTL_DEFAULT_SHM_DIR;
}

static int fits(int len, size_t size)
{
	return len < 0 || (size_t)len >= size ? -ENAMETOOLONG : 0;
}

int ctl_socket_path(pid_t pid, char *buf, size_t size)
{
	return fits(snprintf(buf, size, "%s/ctl%d", ctl_run_dir(), (int)pid), size);
}

int ctl_nbdclient_path(pid_t pid, char *buf, size_t size)
{
	return fits(snprintf(buf, size, "%s/nbdclient%d", ctl_run_dir(), (int)pid), size);
}

int ctl_nbdserver_path(pid_t pid, int minor, bool newstyle, char *buf, size_t size)
{
	return fits(snprintf(buf, size, "%s/nbdserver%s%d.%d", ctl_run_dir(),
			     newstyle ? "-new" : "", (int)pid, minor),
		    size);
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

/* Writes "<pid>\n" as the marker's whole content, or empties it (pid 0). */
static int write_pid(int fd, pid_t pid)
{
	char buf[24];
	int n = pid > 0 ? snprintf(buf, sizeof(buf), "%d\n", (int)pid) : 0;

	if (ftruncate(fd, 0) < 0 || (n && pwrite(fd, buf, (size_t)n, 0) != n))
		return errno ? -errno : -EIO;
	return 0;
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
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_SH | LOCK_NB) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	err = write_pid(fd, getpid());
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

void ctl_minor_release(int fd)
{
	if (fd < 0)
		return;
	write_pid(fd, 0); /* emptied while still locked: never seen as a dead holder's */
	close(fd);
}

/* The pid a marker names: > 0, 0 when empty (allocated, not held), -errno. */
static pid_t read_pid(int fd)
{
	char buf[24], *end;
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	long pid;

	if (n < 0)
		return -errno;
	if (n == 0)
		return 0;
	buf[n] = '\0';
	errno = 0;
	pid = strtol(buf, &end, 10);
	if (errno || end == buf || (*end && *end != '\n') || pid <= 0 || pid > INT_MAX)
		return -EINVAL;
	return (pid_t)pid;
}

/* Under the minors lock: the marker's holder died if it names a pid, nobody holds its flock
 * (the holder's went with it; a live holder empties it before letting go) and that pid is not
 * a live tapdisk. Returns 1 if it was removed. */
static int reap_minor(int dfd, const char *name)
{
	int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), removed = 0;
	pid_t pid;

	if (fd < 0)
		return 0;
	if (read_pid(fd) <= 0 || flock(fd, LOCK_EX | LOCK_NB) < 0)
		goto out;
	pid = read_pid(fd); /* again, under the flock: a holder may have let go meanwhile */
	if (pid > 0 && !ctl_tapdisk_alive(pid) && unlinkat(dfd, name, 0) == 0)
		removed = 1;
out:
	close(fd);
	return removed;
}

int ctl_minor_reap_dead(void)
{
	int dfd = lock_minors_dir(), fd, err, n = 0;
	struct dirent *de;
	DIR *d;

	if (dfd == -ENOENT)
		return 0;
	if (dfd < 0)
		return dfd;
	fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC); /* its own offset, not dfd's */
	d = fd < 0 ? NULL : fdopendir(fd);
	if (!d) {
		err = -errno;
		if (fd >= 0)
			close(fd);
		close(dfd);
		return err;
	}
	while ((de = readdir(d)))
		if (!strncmp(de->d_name, "tapdisk-", 8))
			n += reap_minor(dfd, de->d_name);
	closedir(d);
	close(dfd); /* releases the lock */
	return n;
}
