/* What a tapdisk killed without its cleanup (kill -9, a crash) leaves behind, found and removed
 * so that nothing blocks the next attach: its control socket ctl<pid>, its NBD sockets
 * nbd<pid>.<minor>, its storage-migration sockets nbdclient<pid> and nbdserver[-new]<pid>.<minor>,
 * the minors it held (rundir.c), its statistics td3-<pid> and the
 * vbd3-<domid>-<devid> directories no live tapdisk publishes. Nothing of a live tapdisk is
 * touched; a pid reused by another program counts as dead. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ringtap/ctl.h"

#define TAPDISK_NAME "tapdisk"
#define MAX_DEAD 1024 /* dead pids handled per call; the next call takes the rest */

/* Reads a small /proc file into buf (NUL-terminated). Returns the length or -errno. */
static ssize_t read_small(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	if (n < 0)
		n = -errno;
	close(fd);
	if (n >= 0)
		buf[n] = '\0';
	return n;
}

/* 1: a tapdisk by name, 0: another program, -ESRCH: gone or a zombie. */
static int proc_is_tapdisk(pid_t pid)
{
	char path[64], buf[512], *p;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (read_small(path, buf, sizeof(buf)) < 0)
		return -ESRCH;
	p = strrchr(buf, ')'); /* "pid (comm) S ...": comm may hold anything */
	if (!p || p[1] != ' ' || p[2] == 'Z' || p[2] == 'X')
		return -ESRCH;
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	n = read_small(path, buf, sizeof(buf));
	if (n > 0 && buf[n - 1] == '\n')
		buf[n - 1] = '\0';
	if (n > 0 && !strcmp(buf, TAPDISK_NAME))
		return 1;
	/* argv[0], as tap-ctl spawn sets it (comm follows the binary's file name) */
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	if (read_small(path, buf, sizeof(buf)) <= 0)
		return 0;
	p = strrchr(buf, '/');
	return !strcmp(p ? p + 1 : buf, TAPDISK_NAME);
}

/* Whether <run dir>/ctl<pid> accepts a connection. Refused or missing: nobody serves it. */
static bool socket_accepts(pid_t pid)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, rc;

	if (ctl_socket_path(pid, sa.sun_path, sizeof(sa.sun_path)))
		return false;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return true; /* cannot tell: keep */
	rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	rc = rc == 0 ? 0 : errno;
	close(fd);
	/* EAGAIN: a full backlog, someone listens */
	return rc != ECONNREFUSED && rc != ENOENT;
}

bool ctl_tapdisk_alive(pid_t pid)
{
	int is;

	if (pid <= 0 || (kill(pid, 0) < 0 && errno == ESRCH))
		return false;
	is = proc_is_tapdisk(pid);
	if (is < 0)
		return false;
	/* a tapdisk by name is alive even while its socket still refuses (bound, not listening);
	 * another program with this pid only if it serves the socket (a tapdisk under a wrapper) */
	return is || socket_accepts(pid);
}

/* Parses "<prefix><pid>" or "<prefix><pid>.<n>" (dot == true). Returns the pid or 0. */
static pid_t name_pid(const char *name, const char *prefix, bool dot)
{
	size_t plen = strlen(prefix);
	const char *s = name + plen;
	char *end;
	long pid;

	if (strncmp(name, prefix, plen) || *s < '1' || *s > '9')
		return 0;
	errno = 0;
	pid = strtol(s, &end, 10);
	if (errno || pid > INT_MAX)
		return 0;
	if (dot) {
		if (*end != '.' || end[1] < '0' || end[1] > '9')
			return 0;
		strtol(end + 1, &end, 10);
	}
	return *end ? 0 : (pid_t)pid;
}

struct pids {
	pid_t v[MAX_DEAD];
	size_t n;
};

static bool pids_has(const struct pids *p, pid_t pid)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->v[i] == pid)
			return true;
	return false;
}

/* Adds pid to dead if it is not a live tapdisk (each pid is looked at once: alive ones too). */
static void consider(struct pids *seen, struct pids *dead, pid_t pid)
{
	if (!pid || pids_has(seen, pid) || seen->n == MAX_DEAD)
		return;
	seen->v[seen->n++] = pid;
	if (!ctl_tapdisk_alive(pid))
		dead->v[dead->n++] = pid;
}

/* A directory stream of its own for dfd's directory (a dup would share its offset). */
static DIR *open_dir_again(int dfd)
{
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d;

	if (fd < 0)
		return NULL;
	d = fdopendir(fd);
	if (!d)
		close(fd);
	return d;
}

/* Removes dir/name if it is a socket (what else is there is not ours). */
static void unlink_socket(int dfd, const char *name)
{
	struct stat st;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISSOCK(st.st_mode))
		unlinkat(dfd, name, 0);
}

/* Removes the plain files of dir/name, then the directory (one level: what tapdisk makes). */
static void remove_flat_dir(int pfd, const char *name)
{
	int fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct dirent *de;
	DIR *d;

	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			unlinkat(fd, de->d_name, 0);
	closedir(d);
	unlinkat(pfd, name, AT_REMOVEDIR);
}

/* Whether a live tapdisk (a td3-<pid> not in dead) has a page vbd-<domid>-<devid>. */
static bool vbd_published(int sfd, const struct pids *dead, const char *vbd)
{
	DIR *d = open_dir_again(sfd);
	struct dirent *de;
	char page[300];
	bool found = false;
	pid_t pid;

	if (!d)
		return true; /* cannot tell: keep */
	while (!found && (de = readdir(d))) {
		pid = name_pid(de->d_name, "td3-", false);
		if (!pid || pids_has(dead, pid))
			continue;
		snprintf(page, sizeof(page), "%s/vbd-%s", de->d_name, vbd);
		found = faccessat(sfd, page, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
	}
	closedir(d);
	return found;
}

/* Calls fn for every entry of dfd's directory. */
static void for_each_entry(int dfd, void (*fn)(int dfd, const char *name, struct pids *arg),
			   struct pids *arg)
{
	DIR *d = open_dir_again(dfd);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d)))
		fn(dfd, de->d_name, arg);
	closedir(d);
}

static void consider_ctl(int dfd, const char *name, struct pids *p)
{
	consider(p, p + 1, name_pid(name, "ctl", false));
	consider(p, p + 1, name_pid(name, "nbd", true));
}

static void consider_td3(int dfd, const char *name, struct pids *p)
{
	consider(p, p + 1, name_pid(name, "td3-", false));
}

static void reap_nbd(int dfd, const char *name, struct pids *dead)
{
	if (pids_has(dead, name_pid(name, "nbd", true)) ||
	    pids_has(dead, name_pid(name, "nbdserver", true)) ||
	    pids_has(dead, name_pid(name, "nbdserver-new", true)) ||
	    pids_has(dead, name_pid(name, "nbdclient", false)))
		unlink_socket(dfd, name);
}

/* vbd3-<domid>-<devid> that no live tapdisk publishes: a live tapdisk makes its td3 page before
 * the vbd3 directory and removes the directory first. */
static void reap_vbd3(int sfd, const char *name, struct pids *dead)
{
	if (!strncmp(name, "vbd3-", 5) && !vbd_published(sfd, dead, name + 5))
		remove_flat_dir(sfd, name);
}

/* Removes <dir>/<prefix><pid> of every dead pid with unlink_fn(dfd, name). */
static void reap_named(int dfd, const char *prefix, const struct pids *dead,
		       void (*unlink_fn)(int dfd, const char *name))
{
	char name[32];

	for (size_t i = 0; i < dead->n; i++) {
		snprintf(name, sizeof(name), "%s%d", prefix, (int)dead->v[i]);
		unlink_fn(dfd, name);
	}
}

int ctl_reap_dead(void)
{
	/* [0]: the pids looked at, [1]: the dead among them */
	struct pids *p = calloc(2, sizeof(*p));
	int rfd = open(ctl_run_dir(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int sfd = open(ctl_shm_dir(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int n = -ENOMEM;

	if (p) {
		if (rfd >= 0)
			for_each_entry(rfd, consider_ctl, p);
		if (sfd >= 0)
			for_each_entry(sfd, consider_td3, p);
		ctl_minor_reap_dead();
		if (sfd >= 0) {
			for_each_entry(sfd, reap_vbd3, &p[1]);
			reap_named(sfd, "td3-", &p[1], remove_flat_dir);
		}
		if (rfd >= 0) {
			for_each_entry(rfd, reap_nbd, &p[1]);
			/* the control socket last: while it is there, the next call finds the pid */
			reap_named(rfd, "ctl", &p[1], unlink_socket);
		}
		n = (int)p[1].n;
	}
	free(p);
	if (rfd >= 0)
		close(rfd);
	if (sfd >= 0)
		close(sfd);
	return n;
}
