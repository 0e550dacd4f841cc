/* simxen start / stop / env: the host's state directory, its xenstored, dom0's nodes, and the
 * environment that points Xen's libraries (and simxen's replacements) at them. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tools/simxen/cmd/simxen.h"

static int mkdir_p(const char *dir)
{
	char buf[PATH_MAX];
	char *p;

	if (strlen(dir) >= sizeof(buf))
		return -ENAMETOOLONG;
	strcpy(buf, dir);
	for (p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* The directory simxen itself was run from: <build>/bin. */
static int self_dir(char *out, size_t size)
{
	ssize_t n = readlink("/proc/self/exe", out, size - 1);
	char *slash;

	if (n < 0)
		return -errno;
	out[n] = '\0';
	slash = strrchr(out, '/');
	if (!slash)
		return -ENOENT;
	*slash = '\0';
	return 0;
}

static void print_quoted(const char *s)
{
	putchar('\'');
	for (; *s; s++) {
		if (*s == '\'')
			fputs("'\\''", stdout);
		else
			putchar(*s);
	}
	putchar('\'');
}

static bool path_list_has(const char *list, const char *dir)
{
	size_t n = strlen(dir);
	const char *p = list;

	while (p && *p) {
		if (strncmp(p, dir, n) == 0 && (p[n] == ':' || p[n] == '\0'))
			return true;
		p = strchr(p, ':');
		if (p)
			p++;
	}
	return false;
}

static int print_env(const char *dir)
{
	char bin[PATH_MAX], lib[PATH_MAX + 8], sock[PATH_MAX + 32];
	const char *old = getenv("LD_LIBRARY_PATH");
	char *slash;
	int rc = self_dir(bin, sizeof(bin));

	if (rc < 0)
		return sx_error(rc, "cannot find where simxen runs from");
	slash = strrchr(bin, '/');
	snprintf(lib, sizeof(lib), "%.*s/lib", slash ? (int)(slash - bin) : 0, bin);
	snprintf(sock, sizeof(sock), "%s/%s", dir, SX_SOCKET);
	fputs("export SIMXEN_DIR=", stdout);
	print_quoted(dir);
	fputs("\nexport XENSTORED_PATH=", stdout);
	print_quoted(sock);
	fputs("\nexport LD_LIBRARY_PATH=", stdout);
	if (old && *old && path_list_has(old, lib)) {
		print_quoted(old);
	} else {
		print_quoted(lib);
		if (old && *old) {
			putchar(':');
			print_quoted(old);
		}
	}
	putchar('\n');
	return fflush(stdout) == 0 ? 0 : -EIO;
}

/* The pid in DIR/xenstored.pid if that process is still a simxen-xenstored, else 0. */
static pid_t daemon_pid(const char *dir)
{
	char path[PATH_MAX + 32], comm[32] = "";
	FILE *f;
	int pid = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, SX_PID_FILE);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fscanf(f, "%d", &pid) != 1 || pid <= 1)
		pid = 0;
	fclose(f);
	if (!pid)
		return 0;
	/* The pid may have been reused since: check the process is ours (comm is 15 chars). */
	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (!fgets(comm, sizeof(comm), f))
		comm[0] = '\0';
	fclose(f);
	return strncmp(comm, "simxen-xenstore", 15) == 0 ? pid : 0;
}

static int spawn_xenstored(const char *dir)
{
	char bin[PATH_MAX], exe[PATH_MAX + 32], log[PATH_MAX + 32];
	int status, rc = self_dir(bin, sizeof(bin));
	pid_t pid;

	if (rc < 0)
		return rc;
	snprintf(exe, sizeof(exe), "%s/simxen-xenstored", bin);
	snprintf(log, sizeof(log), "%s/%s", dir, SX_LOG_FILE);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		/* `eval "$(simxen start)"` must not wait for the daemon to close its stdout. */
		if (null >= 0)
			dup2(null, STDOUT_FILENO);
		execl(exe, "simxen-xenstored", "--dir", dir, "--log-file", log, (char *)NULL);
		fprintf(stderr, "simxen: cannot run %s: %s\n", exe, strerror(errno));
		_exit(ENOENT);
	}
	/* simxen-xenstored exits once its daemon is ready, with the daemon's errno otherwise. */
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	if (!WIFEXITED(status))
		return -EIO;
	return -WEXITSTATUS(status);
}

static int write_dom0(struct xs_handle *h, xs_transaction_t t, void *arg)
{
	int rc = 0;

	(void)arg;
	if (!xs_mkdir(h, t, "/local/domain"))
		return -errno;
	rc = sx_xs_putf(h, t, "/local/domain/0/name", "Domain-0");
	if (rc == 0)
		rc = sx_xs_putf(h, t, "/local/domain/0/domid", "0");
	if (rc == 0 && !xs_mkdir(h, t, "/local/domain/0/backend"))
		rc = -errno;
	return rc;
}

int cmd_start(const struct cmd_opts *o, int argc, char **argv)
{
	char dir[PATH_MAX], marker[PATH_MAX + 16];
	struct xs_handle *h;
	int fd, rc;

	if (argc > 0)
		return sx_error(-EINVAL, "start: unexpected argument '%s'", argv[0]);
	rc = mkdir_p(o->dir);
	if (rc < 0)
		return sx_error(rc, "cannot create %s", o->dir);
	if (!realpath(o->dir, dir))
		return sx_error(-errno, "%s", o->dir);
	if (daemon_pid(dir))
		return sx_error(-EBUSY, "a simxen host already runs in %s", dir);
	snprintf(marker, sizeof(marker), "%s/%s", dir, SX_MARKER);
	fd = open(marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return sx_error(-errno, "cannot write %s", marker);
	close(fd);
	rc = spawn_xenstored(dir);
	if (rc < 0)
		return sx_error(rc, "simxen-xenstored did not start (see %s/%s)", dir, SX_LOG_FILE);
	rc = sx_xs_open(dir, &h);
	if (rc == 0) {
		rc = sx_xs_transaction(h, write_dom0, NULL);
		xs_close(h);
	}
	if (rc < 0)
		return sx_error(rc, "cannot write dom0's nodes");
	return print_env(dir);
}

int cmd_env(const struct cmd_opts *o, int argc, char **argv)
{
	char dir[PATH_MAX];

	if (argc > 0)
		return sx_error(-EINVAL, "env: unexpected argument '%s'", argv[0]);
	if (!realpath(o->dir, dir))
		return sx_error(-errno, "%s", o->dir);
	return print_env(dir);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	if (remove(path) < 0 && errno != ENOENT)
		fprintf(stderr, "simxen: cannot remove %s: %s\n", path, strerror(errno));
	return 0;
}

static int wait_gone(pid_t pid, int ms)
{
	struct timespec ts = { .tv_nsec = 10 * 1000 * 1000 };

	for (; ms > 0; ms -= 10) {
		if (kill(pid, 0) < 0 && errno == ESRCH)
			return 0;
		nanosleep(&ts, NULL);
	}
	return -ETIMEDOUT;
}

/* A sanitized xenstored reports leaks and errors in its log as it exits: pass them on. */
static int check_log(const char *dir)
{
	char path[PATH_MAX + 32], line[512];
	bool bad = false;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, SX_LOG_FILE);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (strstr(line, "Sanitizer") || strstr(line, "runtime error:"))
			bad = true;
		if (bad)
			fputs(line, stderr);
	}
	fclose(f);
	return bad ? -EIO : 0;
}

int cmd_stop(const struct cmd_opts *o, int argc, char **argv)
{
	char marker[PATH_MAX + 16];
	struct stat st;
	pid_t pid;
	int rc;

	if (argc > 0)
		return sx_error(-EINVAL, "stop: unexpected argument '%s'", argv[0]);
	if (stat(o->dir, &st) < 0)
		return errno == ENOENT ? 0 : sx_error(-errno, "%s", o->dir);
	pid = daemon_pid(o->dir);
	if (pid) {
		kill(pid, SIGTERM);
		if (wait_gone(pid, 10000) < 0) {
			fprintf(stderr, "simxen: xenstored (pid %d) ignored SIGTERM; killing it\n",
				(int)pid);
			kill(pid, SIGKILL);
			if (wait_gone(pid, 5000) < 0)
				return sx_error(-ETIMEDOUT, "xenstored (pid %d) is still there",
						(int)pid);
		}
	}
	rc = check_log(o->dir);
	if (rc < 0)
		sx_error(rc, "simxen-xenstored reported errors (above)");
	/* Only a directory `simxen start` made is removed, with all the host's state in it. */
	snprintf(marker, sizeof(marker), "%s/%s", o->dir, SX_MARKER);
	if (access(marker, F_OK) == 0 && nftw(o->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) < 0)
		return sx_error(-errno, "cannot remove %s", o->dir);
	return rc;
}
