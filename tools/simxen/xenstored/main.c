/* simxen-xenstored: a xenstore daemon on unix sockets for simxen, the simulated Xen host.
 * Options, daemonizing, the pid file and the single-threaded epoll loop. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ringtap/log.h"
#include "tools/simxen/xenstored/xenstored.h"

struct options {
	char *dir;
	char *socket;
	char *pid_file;
	char *log_file;
	bool foreground;
	bool verbose;
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: simxen-xenstored --dir DIR [options]\n"
		"A xenstore daemon for simxen, speaking xs_wire.h on unix sockets.\n"
		"Clients of DIR/xenstored.sock are dom0; each domain introduced with\n"
		"XS_INTRODUCE gets DIR/xenstored.d<domid>.sock, whose clients are that domain.\n"
		"\n"
		"  -d, --dir DIR        state directory (default socket, pid file and guest sockets)\n"
		"  -s, --socket PATH    dom0's socket (default DIR/xenstored.sock)\n"
		"  -p, --pid-file PATH  pid file (default DIR/xenstored.pid)\n"
		"  -l, --log-file PATH  log there instead of syslog (stderr with --foreground)\n"
		"  -F, --foreground     do not daemonize\n"
		"  -v, --verbose        log every failed request\n"
		"  -h, --help           this help\n"
		"Exit status: 0, or a positive errno value. SIGTERM/SIGINT stop it cleanly.\n");
}

/* An absolute form of path, since the daemon runs from "/". */
static char *absolute(const char *path)
{
	char cwd[PATH_MAX], *out;

	if (path[0] == '/')
		return strdup(path);
	if (!getcwd(cwd, sizeof(cwd)))
		return NULL;
	if (asprintf(&out, "%s/%s", cwd, path) < 0)
		return NULL;
	return out;
}

static int parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "socket", required_argument, NULL, 's' },
		{ "pid-file", required_argument, NULL, 'p' },
		{ "log-file", required_argument, NULL, 'l' },
		{ "foreground", no_argument, NULL, 'F' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char **slot;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":d:s:p:l:Fvh", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			slot = &o->dir;
			break;
		case 's':
			slot = &o->socket;
			break;
		case 'p':
			slot = &o->pid_file;
			break;
		case 'l':
			slot = &o->log_file;
			break;
		case 'F':
			o->foreground = true;
			continue;
		case 'v':
			o->verbose = true;
			continue;
		case 'h':
			usage(stdout);
			exit(0);
		case ':':
			fprintf(stderr, "simxen-xenstored: %s needs an argument\n",
				argv[optind - 1]);
			return -EINVAL;
		default:
			fprintf(stderr, "simxen-xenstored: unknown option '%s' (try --help)\n",
				argv[optind - 1]);
			return -EINVAL;
		}
		free(*slot);
		*slot = absolute(optarg);
		if (!*slot)
			return -ENOMEM;
	}
	if (optind < argc) {
		fprintf(stderr, "simxen-xenstored: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	if (!o->dir) {
		fprintf(stderr, "simxen-xenstored: --dir is required (try --help)\n");
		return -EINVAL;
	}
	if (!o->socket && asprintf(&o->socket, "%s/xenstored.sock", o->dir) < 0)
		return -ENOMEM;
	if (!o->pid_file && asprintf(&o->pid_file, "%s/xenstored.pid", o->dir) < 0)
		return -ENOMEM;
	return 0;
}

/* The tree xenstored starts with, and the special nodes' permissions (dom0 only). */
static int init_store(struct xsd *d)
{
	struct xs_perm owner = { .domid = 0, .mode = XS_PERM_NONE };
	struct xs_perms n0 = { .nr = 1, .p = &owner };
	struct xs_node *n;
	int rc;

	d->live = store_new(&d->gen);
	if (!d->live)
		return -ENOMEM;
	rc = store_create(d->live, "/tool/xenstored", -1, &n);
	if (rc == 0)
		rc = perms_copy(&d->special_perms[0], &n0);
	if (rc == 0)
		rc = perms_copy(&d->special_perms[1], &n0);
	return rc;
}

static int init_signals(struct xsd *d)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &d->sig_src };
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	d->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (d->sigfd < 0)
		return -errno;
	d->sig_src.type = SRC_SIGNAL;
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->sigfd, &ev) < 0)
		return -errno;
	return 0;
}

static int write_pid_file(const char *path)
{
	char buf[32];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int len = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	int rc = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, buf, (size_t)len) != len)
		rc = -EIO;
	close(fd);
	return rc;
}

/* Forks; the parent waits until the child reports readiness (0) or an errno, and exits with it,
 * so that the socket exists when `simxen-xenstored` returns. Returns the pipe's write end in
 * the child. */
static int daemonize(void)
{
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0) {
		unsigned char status = EIO;

		close(p[1]);
		if (read(p[0], &status, 1) != 1)
			status = EIO;
		if (status)
			fprintf(stderr, "simxen-xenstored: could not start: %s (details in its log)\n",
				strerror(status));
		_exit(status);
	}
	close(p[0]);
	setsid();
	return p[1];
}

static void report(int fd, int rc)
{
	unsigned char status = (unsigned char)(rc < 0 ? -rc : 0);

	if (fd < 0)
		return;
	if (write(fd, &status, 1) != 1) {
		/* the parent is gone; nothing to tell */
	}
	close(fd);
}

static int redirect_stdio(const char *log_file, bool foreground)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	int log = -1;

	if (null < 0)
		return -errno;
	if (log_file) {
		log = open(log_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (log < 0) {
			int rc = -errno;

			close(null);
			return rc;
		}
	}
	dup2(null, STDIN_FILENO);
	if (!foreground) {
		dup2(null, STDOUT_FILENO);
		dup2(log >= 0 ? log : null, STDERR_FILENO);
	} else if (log >= 0) {
		dup2(log, STDERR_FILENO);
	}
	close(null);
	if (log >= 0)
		close(log);
	return 0;
}

static void run(struct xsd *d)
{
	struct epoll_event evs[64];

	while (!d->stop) {
		int i, n = epoll_wait(d->epfd, evs, 64, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			rt_err("epoll_wait: %s", strerror(errno));
			break;
		}
		for (i = 0; i < n; i++) {
			struct source *src = evs[i].data.ptr;

			if (src->type == SRC_LISTENER) {
				struct listener *l = (struct listener *)src;
				int rc = l->dead ? 0 : conn_accept(d, l);

				if (rc < 0)
					rt_warn("accept on %s: %s", l->path, strerror(-rc));
			} else if (src->type == SRC_CONN) {
				struct conn *c = (struct conn *)src;

				if (!c->dead)
					conn_handle(d, c, evs[i].events);
			} else {
				struct signalfd_siginfo si;

				if (read(d->sigfd, &si, sizeof(si)) == sizeof(si)) {
					rt_info("signal %u: stopping", si.ssi_signo);
					d->stop = true;
				}
			}
		}
		conn_reap(d);
		listener_reap(d);
	}
}

static void shutdown_daemon(struct xsd *d)
{
	struct conn *c;

	for (c = d->conns; c; c = c->next)
		conn_close(d, c);
	conn_reap(d);
	while (d->listeners)
		listener_close(d, d->listeners);
	listener_reap(d);
	store_free(d->live);
	perms_free(&d->special_perms[0]);
	perms_free(&d->special_perms[1]);
	close(d->sigfd);
	close(d->epfd);
}

int main(int argc, char **argv)
{
	struct options o = { 0 };
	struct xsd d = { .epfd = -1, .sigfd = -1 };
	struct listener *dom0;
	int ready = -1, rc;

	rc = parse_options(argc, argv, &o);
	if (rc < 0)
		return -rc;
	rt_log_open("simxen-xenstored", o.foreground || o.log_file);
	rt_log_set_level(o.verbose ? LOG_DEBUG : LOG_INFO);
	if (mkdir(o.dir, 0755) < 0 && errno != EEXIST) {
		rc = -errno;
		fprintf(stderr, "simxen-xenstored: cannot create %s: %s\n", o.dir, strerror(-rc));
		return -rc;
	}
	if (!o.foreground) {
		ready = daemonize();
		if (ready < 0) {
			fprintf(stderr, "simxen-xenstored: fork: %s\n", strerror(-ready));
			return -ready;
		}
	}
	rc = redirect_stdio(o.log_file, o.foreground);
	if (rc < 0) {
		fprintf(stderr, "simxen-xenstored: %s: %s\n", o.log_file, strerror(-rc));
		report(ready, rc);
		return -rc;
	}
	if (chdir("/") < 0) {
		/* only matters for core dumps */
	}
	d.dir = o.dir;
	d.epfd = epoll_create1(EPOLL_CLOEXEC);
	rc = d.epfd < 0 ? -errno : init_signals(&d);
	if (rc == 0)
		rc = init_store(&d);
	if (rc == 0) {
		rc = listener_open(&d, o.socket, 0, true, &dom0);
		if (rc < 0)
			rt_err("cannot listen on %s: %s", o.socket, strerror(-rc));
	}
	if (rc == 0) {
		rc = write_pid_file(o.pid_file);
		if (rc < 0)
			rt_err("cannot write %s: %s", o.pid_file, strerror(-rc));
	}
	report(ready, rc);
	if (rc == 0) {
		rt_info("serving %s (pid %d)", o.socket, (int)getpid());
		run(&d);
		unlink(o.pid_file);
	} else if (o.foreground) {
		fprintf(stderr, "simxen-xenstored: %s\n", strerror(-rc));
	}
	shutdown_daemon(&d);
	free(o.dir);
	free(o.socket);
	free(o.pid_file);
	free(o.log_file);
	return rc < 0 ? -rc : 0;
}
