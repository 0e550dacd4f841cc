/* tap-ctl spawn, create and destroy: starting a tapdisk (blktap3's contract: the launcher prints
 * "<run dir>/ctl<pid>" once the daemon listens, then exits 0) and the composite commands that
 * roll back what they did when a later step fails. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ringtap/log.h"
#include "tools/tap-ctl/tap-ctl.h"

#define SPAWN_TIMEOUT_S 30

/* $TAPDISK_BIN; else, relative to this tap-ctl's directory, the tapdisk beside it (the build
 * tree) or the one in ../libexec (installed under any prefix: sbin/tap-ctl, libexec/tapdisk);
 * else the default. */
static void tapdisk_binary(char *buf, size_t size)
{
	static const char *const beside[] = { "tapdisk", "../libexec/tapdisk" };
	const char *env = getenv(CTL_TAPDISK_ENV);
	char self[PATH_MAX];
	ssize_t n;
	char *slash;

	if (env && *env) {
		snprintf(buf, size, "%s", env);
		return;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			for (size_t i = 0; i < sizeof(beside) / sizeof(beside[0]); i++)
				if ((size_t)snprintf(buf, size, "%s/%s", self, beside[i]) < size &&
				    access(buf, X_OK) == 0)
					return;
		}
	}
	snprintf(buf, size, "%s", CTL_DEFAULT_TAPDISK);
}

/* Reads the launcher's line (up to '\n' or EOF) within the deadline. 0 or -errno. */
static int read_line(int fd, char *buf, size_t size, unsigned int timeout_ms)
{
	struct timespec start, now;
	size_t got = 0;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		long elapsed;
		ssize_t n;

		clock_gettime(CLOCK_MONOTONIC, &now);
		elapsed = (now.tv_sec - start.tv_sec) * 1000 +
			  (now.tv_nsec - start.tv_nsec) / 1000000;
		if (elapsed >= (long)timeout_ms)
			return -ETIMEDOUT;
		if (poll(&p, 1, (int)(timeout_ms - elapsed)) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (!p.revents)
			continue;
		n = read(fd, buf + got, size - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
		buf[got] = '\0';
		if (memchr(buf, '\n', got) || got == size - 1)
			break;
	}
	buf[got] = '\0';
	return 0;
}

static void __attribute__((noreturn)) exec_tapdisk(const char *bin, int out_fd)
{
	char *const argv[] = { "tapdisk", NULL }; /* XAPI finds tapdisks by this exact name */
	int null = open("/dev/null", O_RDONLY);

	if (null >= 0)
		dup2(null, STDIN_FILENO);
	dup2(out_fd, STDOUT_FILENO);
	execv(bin, argv);
	fprintf(stderr, "tap-ctl spawn: cannot execute %s: %s\n", bin, strerror(errno));
	_exit(errno == ENOENT ? ENOENT : errno == EACCES ? EACCES : 1);
}

int tapctl_spawn(const struct tapctl_cmd *cmd, pid_t *pid_out)
{
	char bin[PATH_MAX], line[PATH_MAX + 32], prefix[PATH_MAX];
	int pipefd[2], status, err, rd_err;
	struct ctl_client *c;
	struct ctl_list l;
	pid_t child;
	char *end;
	long pid;

	*pid_out = -1;
	tapdisk_binary(bin, sizeof(bin));
	err = ctl_prepare_run_dir();
	if (err)
		return -tapctl_fail(cmd, err, NULL, "cannot create %s", ctl_run_dir());
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return -tapctl_fail(cmd, -errno, NULL, "pipe");
	fflush(NULL);
	child = fork();
	if (child < 0) {
		err = -errno;
		close(pipefd[0]);
		close(pipefd[1]);
		return -tapctl_fail(cmd, err, NULL, "fork");
	}
	if (child == 0)
		exec_tapdisk(bin, pipefd[1]);
	close(pipefd[1]);
	rd_err = read_line(pipefd[0], line, sizeof(line), tapctl_timeout_ms(SPAWN_TIMEOUT_S));
	close(pipefd[0]);
	if (rd_err == -ETIMEDOUT)
		kill(child, SIGKILL);
	while (waitpid(child, &status, 0) < 0)
		if (errno != EINTR)
			return -tapctl_fail(cmd, -errno, NULL, "waiting for %s", bin);
	if (rd_err)
		return -tapctl_fail(cmd, rd_err, NULL, "%s did not report its control socket", bin);
	if (WIFSIGNALED(status))
		return -tapctl_fail(cmd, -EINTR, NULL, "%s killed by signal %d", bin,
				    WTERMSIG(status));
	if (WEXITSTATUS(status))
		return -tapctl_fail(cmd, -WEXITSTATUS(status), NULL, "%s failed to start", bin);

	snprintf(prefix, sizeof(prefix), "%s/ctl", ctl_run_dir());
	if (strncmp(line, prefix, strlen(prefix)))
		return -tapctl_fail(cmd, -EPROTO, NULL, "unexpected output from %s: '%.80s'", bin,
				    line);
	errno = 0;
	pid = strtol(line + strlen(prefix), &end, 10);
	if (errno || pid <= 0 || pid > INT_MAX || (*end && *end != '\n'))
		return -tapctl_fail(cmd, -EPROTO, NULL, "unexpected output from %s: '%.80s'", bin,
				    line);
	/* as blktap3 (tap_ctl_get_pid): the daemon must answer on its socket */
	err = tapctl_connect(cmd, (pid_t)pid, TAPCTL_LIST_TIMEOUT_S, &c);
	if (err)
		return -err;
	err = ctl_list(c, &l);
	if (!err && l.pid != (pid_t)pid)
		err = -EPROTO;
	if (err)
		err = -tapctl_fail(cmd, err, c, "new tapdisk %ld", pid);
	else
		ctl_list_release(&l);
	ctl_client_close(c);
	if (!err)
		*pid_out = (pid_t)pid;
	return err;
}

int tapctl_cmd_spawn(const struct tapctl_cmd *cmd, int argc, char **argv)
{
	pid_t pid;
	int c, err, level;

	while ((c = tapctl_getopt(cmd, argc, argv, "c:l:")) != -1) {
		switch (c) {
		case 'c':
			break; /* a cgroup slice: XAPI runs cgclassify itself on v4 */
		case 'l':
			/* through the environment: the argv XAPI finds tapdisks by stays "tapdisk" */
			if (tapctl_parse_log_level(cmd, optarg, &level) ||
			    setenv("TAPDISK_LOG_LEVEL", rt_log_level_name(level), 1))
				return EINVAL;
			break;
		case 'h':
			tapctl_usage(cmd, stdout);
			return 0;
		default:
			return EINVAL;
		}
	}
	if ((err = tapctl_no_operands(cmd, argc, argv)))
		return err;
	ctl_reap_dead(); /* what crashed tapdisks left: their pids may be reused */
	err = tapctl_spawn(cmd, &pid);
	if (err)
		return -err;
	if (isatty(STDOUT_FILENO))
		printf("tapdisk spawned with pid %d\n", (int)pid);
	else
		printf("%d\n", (int)pid);
	return 0;
}

/* Rollback of a tapdisk that serves nothing (it would not exit by itself). */
static void stop_tapdisk(pid_t pid)
{
	kill(pid, SIGTERM);
}

int tapctl_cmd_create(const struct tapctl_cmd *cmd, int argc, char **argv)
{
	struct ctl_open_args *a = calloc(1, sizeof(*a));
	char devname[PATH_MAX];
	bool have_image = false;
	int c, r, err = 0, minor = -1;
	struct stat st;
	pid_t pid;

	if (!a)
		return tapctl_fail(cmd, -ENOMEM, NULL, "create");
	a->parent_minor = -1;
	while (!err && (c = tapctl_getopt(cmd, argc, argv, "a:RrDse:2:C:t:d:c:L:")) != -1) {
		if ((r = tapctl_open_option(cmd, c, a, &have_image)))
			err = r == TAPCTL_BAD_VALUE ? EINVAL : 0;
		else if (c == 'd' || c == 'c')
			; /* device name, cgroup slice: accepted, unused (as blktap3 v4) */
		else if (c == 'h')
			err = -1;
		else
			err = EINVAL;
	}
	if (err == -1) {
		tapctl_usage(cmd, stdout);
		err = 0;
		goto out;
	}
	if (!err)
		err = tapctl_no_operands(cmd, argc, argv);
	if (!err && !have_image) {
		tapctl_msg(cmd, "missing -a type:/path");
		tapctl_usage(cmd, stderr);
		err = EINVAL;
	}
	/* a bad path fails here, before anything is allocated or started (a remote image's
	 * address is tapdisk's to check, at open) */
	if (!err && ctl_image_is_local(a->image.type) && stat(a->image.path, &st) < 0)
		err = tapctl_fail(cmd, -errno, NULL, "image %s", a->image.path);
	if (err)
		goto out;

	ctl_reap_dead(); /* a crashed tapdisk's minors and sockets do not block this attach */
	minor = ctl_minor_allocate();
	if (minor < 0) {
		err = tapctl_fail(cmd, minor, NULL, "cannot allocate a minor");
		goto out;
	}
	err = -tapctl_spawn(cmd, &pid);
	if (err)
		goto free_minor;
	err = tapctl_do_attach(cmd, pid, minor);
	if (err) {
		stop_tapdisk(pid);
		goto free_minor;
	}
	a->minor = minor;
	err = tapctl_do_open(cmd, pid, a);
	if (err) {
		/* the tapdisk exits by itself once its last VBD is detached */
		if (tapctl_do_detach(cmd, pid, minor))
			stop_tapdisk(pid);
		goto free_minor;
	}
	if (ctl_minor_path(minor, devname, sizeof(devname)) == 0)
		printf("%s\n", devname);
	goto out;
free_minor:
	ctl_minor_free(minor);
out:
	free(a);
	return err;
}

int tapctl_cmd_destroy(const struct tapctl_cmd *cmd, int argc, char **argv)
{
	long timeout_s = TAPCTL_DEFAULT_TIMEOUT_S;
	int c, err, minor = -1;
	pid_t pid = -1;

	while ((c = tapctl_getopt(cmd, argc, argv, "p:m:t:")) != -1) {
		switch (c) {
		case 'p':
			if (tapctl_parse_pid(cmd, optarg, &pid))
				return EINVAL;
			break;
		case 'm':
			if (tapctl_parse_minor(cmd, optarg, &minor))
				return EINVAL;
			break;
		case 't':
			if (tapctl_parse_int(cmd, 't', optarg, 1, 86400, &timeout_s))
				return EINVAL;
			break;
		case 'h':
			tapctl_usage(cmd, stdout);
			return 0;
		default:
			return EINVAL;
		}
	}
	if ((err = tapctl_no_operands(cmd, argc, argv)))
		return err;
	if (pid <= 0 || minor < 0) {
		tapctl_msg(cmd, "missing %s", pid <= 0 ? "-p pid" : "-m minor");
		tapctl_usage(cmd, stderr);
		return EINVAL;
	}
	err = tapctl_do_close(cmd, pid, minor, false, (unsigned int)timeout_s);
	if (!err)
		err = tapctl_do_detach(cmd, pid, minor);
	if (!err)
		err = tapctl_do_free(cmd, minor);
	return err;
}
