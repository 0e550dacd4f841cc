/* The daemon's half of `tap-ctl spawn`: detach from the launcher, and let the launcher print
 * the control socket's path (how blktap3's tap-ctl learns the pid) only once it is listening. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ringtap/ctl.h"

struct ready_report {
	int32_t err; /* 0 or positive errno */
	int32_t pid;
};

/* Launcher side: wait for the daemon's report; print the socket path; exit with its status. */
static void __attribute__((noreturn)) launcher_wait(int rfd, pid_t child)
{
	struct ready_report rep;
	char path[4096];
	ssize_t n;

	do
		n = read(rfd, &rep, sizeof(rep));
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(rep)) {
		int status = 0;

		/* the daemon died before reporting */
		waitpid(child, &status, WNOHANG);
		fprintf(stderr, "tapdisk: daemon exited before it was ready\n");
		_exit(EIO);
	}
	if (rep.err) {
		fprintf(stderr, "tapdisk: %s\n", strerror(rep.err));
		_exit(rep.err > 0 && rep.err < 256 ? rep.err : EIO);
	}
	if (ctl_socket_path(rep.pid, path, sizeof(path))) {
		fprintf(stderr, "tapdisk: run directory path too long\n");
		_exit(ENAMETOOLONG);
	}
	printf("%s\n", path);
	fflush(stdout);
	_exit(0);
}

int ctl_daemonize(struct ctl_daemon *d)
{
	int pipefd[2];
	pid_t pid;

	d->ready_fd = -1;
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		int err = -errno;

		close(pipefd[0]);
		close(pipefd[1]);
		return err;
	}
	if (pid > 0) {
		close(pipefd[1]);
		launcher_wait(pipefd[0], pid);
	}
	close(pipefd[0]);
	if (setsid() < 0) {
		close(pipefd[1]);
		return -errno;
	}
	/* a second fork: the daemon is not a session leader, so it never gains a terminal */
	pid = fork();
	if (pid < 0) {
		close(pipefd[1]);
		return -errno;
	}
	if (pid > 0)
		_exit(0);
	if (chdir("/") < 0) {
		/* cannot fail for "/" in practice; keep going */
	}
	umask(022);
	d->ready_fd = pipefd[1];
	return 0;
}

int ctl_daemonize_ready(struct ctl_daemon *d, int err)
{
	struct ready_report rep = { err < 0 ? -err : err, (int32_t)getpid() };
	int fd;

	if (d->ready_fd >= 0) {
		if (write(d->ready_fd, &rep, sizeof(rep)) != (ssize_t)sizeof(rep))
			err = err ? err : -EIO;
		close(d->ready_fd);
		d->ready_fd = -1;
	}
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
	return err;
}
