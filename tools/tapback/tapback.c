/* tapback: watches backend/<name> in xenstore and runs the xenbus handshake of every device
 * there, connecting each guest's ring in the tapdisk that serves it. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "ringtap/log.h"
#include "ringtap/version.h"
#include "tapback.h"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: tapback [OPTIONS]\n"
		"Run the xenbus handshake of every Xen virtual block device under\n"
		"/local/domain/0/backend/NAME and connect each guest's ring in its tapdisk.\n\n"
		"  -n, --name NAME          backend type directory (default vbd3)\n"
		"  -i, --max-indirect N     feature-max-indirect-segments offered (default %u, max "
		"4096)\n"
		"  -p, --pidfile FILE       write the pid to FILE\n"
		"  -d, --debug              log debug messages too (--log-level debug)\n"
		"  -l, --log-level LEVEL    err, warning, notice, info (default) or debug\n"
		"  -f, --foreground         log to stderr instead of syslog\n"
		"  -h, --help               show this help and exit\n"
		"  -V, --version            show the version and exit\n",
		TAPBACK_DEFAULT_MAX_INDIRECT);
}

/* "<root>/<domid>/<devid>[/...]" → domid, devid; 1 if the path is at or below a device, 0 if it
 * is above one (the root or a domain directory), -1 if it is elsewhere. */
static int parse_device_path(const char *root, const char *path, unsigned int *domid,
			     unsigned int *devid)
{
	size_t n = strlen(root);
	char tail;

	if (strncmp(path, root, n) || (path[n] && path[n] != '/'))
		return -1;
	if (sscanf(path + n, "/%u/%u%c", domid, devid, &tail) >= 2)
		return 1;
	return 0;
}

static bool backend_exists(struct tapback *tb, unsigned int domid, unsigned int devid)
{
	char *s = xs_readf(tb->xs, XBT_NULL, "%s/%u/%u/frontend", tb->root, domid, devid);
	bool exists = s != NULL;

	free(s);
	return exists;
}

static void device_changed(struct tapback *tb, unsigned int domid, unsigned int devid)
{
	struct vbd *v = vbd_find(tb, domid, devid);

	if (!backend_exists(tb, domid, devid)) {
		if (v) {
			/* the toolstack removed the backend: let go of the ring, forget it */
			rt_vbd_info(v->backend, "backend removed");
			if (v->ring_connected)
				vbd_update(v); /* the view says: no backend state → disconnect */
			if (vbd_find(tb, domid, devid) == v)
				vbd_forget(v);
		}
		return;
	}
	if (!v && !(v = vbd_add(tb, domid, devid))) {
		rt_err("out of memory adding device %u/%u", domid, devid);
		return;
	}
	vbd_update(v);
}

static void scan_all(struct tapback *tb)
{
	unsigned int ndoms, ndevs, domid, devid;
	char **doms = xs_directory(tb->xs, XBT_NULL, tb->root, &ndoms), **devs;
	char path[256], tail;

	for (unsigned int i = 0; doms && i < ndoms; i++) {
		if (sscanf(doms[i], "%u%c", &domid, &tail) != 1)
			continue;
		snprintf(path, sizeof(path), "%s/%u", tb->root, domid);
		devs = xs_directory(tb->xs, XBT_NULL, path, &ndevs);
		for (unsigned int j = 0; devs && j < ndevs; j++)
			if (sscanf(devs[j], "%u%c", &devid, &tail) == 1)
				device_changed(tb, domid, devid);
		free(devs);
	}
	free(doms);
	/* devices whose directories vanished with their domain's */
	for (struct vbd *v = tb->vbds, *next; v; v = next) {
		next = v->next;
		if (!backend_exists(tb, v->domid, v->devid))
			device_changed(tb, v->domid, v->devid);
	}
}

static void handle_watch(struct tapback *tb, const char *path, const char *token)
{
	unsigned int domid, devid;
	int where;

	if (!strcmp(token, "release")) {
		/* a domain died: every device of a dead domain is torn down by its view */
		for (struct vbd *v = tb->vbds, *next; v; v = next) {
			next = v->next;
			device_changed(tb, v->domid, v->devid);
		}
		return;
	}
	if (!strncmp(token, "fe:", 3)) {
		if (sscanf(token, "fe:%u:%u", &domid, &devid) == 2 && vbd_find(tb, domid, devid))
			device_changed(tb, domid, devid);
		return;
	}
	where = parse_device_path(tb->root, path, &domid, &devid);
	if (where == 1)
		device_changed(tb, domid, devid);
	else if (where == 0)
		scan_all(tb);
}

/* The pollfds of one loop turn: xenstore, signals, then every watched tapdisk's pidfd. */
static struct pollfd *poll_set(struct tapback *tb, int xsfd, int sfd, struct pollfd *pfd,
			       nfds_t *cap, nfds_t *n)
{
	nfds_t want = 2;

	for (struct vbd *v = tb->vbds; v; v = v->next)
		want += v->pidfd >= 0;
	if (want > *cap) {
		struct pollfd *p = realloc(pfd, want * sizeof(*p));

		if (!p)
			return NULL;
		pfd = p;
		*cap = want;
	}
	pfd[0] = (struct pollfd){ .fd = xsfd, .events = POLLIN };
	pfd[1] = (struct pollfd){ .fd = sfd, .events = POLLIN };
	*n = 2;
	for (struct vbd *v = tb->vbds; v; v = v->next)
		if (v->pidfd >= 0)
			pfd[(*n)++] = (struct pollfd){ .fd = v->pidfd, .events = POLLIN };
	return pfd;
}

/* A readable pidfd: that tapdisk exited. */
static void tapdisk_exited(struct tapback *tb, int pidfd)
{
	for (struct vbd *v = tb->vbds; v; v = v->next)
		if (v->pidfd == pidfd) {
			vbd_tapdisk_died(v);
			return;
		}
}

static int run(struct tapback *tb)
{
	struct pollfd *pfd = NULL, *p;
	nfds_t cap = 0, n;
	sigset_t mask;
	int sfd, err = 0;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sfd < 0)
		return -errno;
	if (!xs_watch(tb->xs, tb->root, "backend") || !xs_watch(tb->xs, "@releaseDomain", "release")) {
		close(sfd);
		return -errno ? -errno : -EIO;
	}
	for (;;) {
		char **ev;

		p = poll_set(tb, xs_fileno(tb->xs), sfd, pfd, &cap, &n);
		if (!p) {
			rt_err("out of memory");
			err = -ENOMEM;
			break;
		}
		pfd = p;
		if (poll(pfd, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[1].revents)
			break; /* leave every VBD as it is: a restarted tapback adopts them */
		for (nfds_t i = 2; i < n; i++)
			if (pfd[i].revents)
				tapdisk_exited(tb, pfd[i].fd);
		if (!pfd[0].revents)
			continue;
		while ((ev = xs_check_watch(tb->xs))) {
			handle_watch(tb, ev[XS_WATCH_PATH], ev[XS_WATCH_TOKEN]);
			free(ev);
		}
		if (errno != EAGAIN) {
			rt_err("lost the xenstore connection: %s", strerror(errno));
			err = -EPIPE;
			break;
		}
	}
	free(pfd);
	close(sfd);
	return err;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "max-indirect", required_argument, NULL, 'i' },
		{ "pidfile", required_argument, NULL, 'p' },
		{ "debug", no_argument, NULL, 'd' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct tapback tb = { .name = "vbd3", .max_indirect = TAPBACK_DEFAULT_MAX_INDIRECT,
			      .ctl_timeout_ms = 10000 };
	const char *pidfile = NULL;
	bool foreground = false;
	int level = LOG_INFO;
	unsigned long n;
	char *end;
	int c, err;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":n:i:p:dl:fhV", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (!*optarg || strchr(optarg, '/') || strlen(optarg) > 32) {
				fprintf(stderr, "tapback: invalid backend name '%s'\n", optarg);
				return EINVAL;
			}
			tb.name = optarg;
			break;
		case 'i':
			errno = 0;
			n = strtoul(optarg, &end, 10);
			if (errno || *end || !*optarg || n < 12 || n > 4096) {
				fprintf(stderr, "tapback: --max-indirect wants 12..4096, not '%s'\n",
					optarg);
				return EINVAL;
			}
			tb.max_indirect = (unsigned int)n;
			break;
		case 'p':
			pidfile = optarg;
			break;
		case 'd':
			level = LOG_DEBUG;
			break;
		case 'l':
			if (rt_log_level_parse(optarg, &level) || level < LOG_ERR) {
				fprintf(stderr, "tapback: --log-level wants err, warning, notice, "
						"info or debug, not '%s'\n", optarg);
				return EINVAL;
			}
			break;
		case 'f':
			foreground = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			return rt_print_version("tapback");
		case ':':
			fprintf(stderr, "tapback: option '%s' needs an argument\n", argv[optind - 1]);
			return EINVAL;
		default:
			fprintf(stderr, "tapback: unknown option '%s'\n", argv[optind - 1]);
			usage(stderr);
			return EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "tapback: unexpected argument '%s'\n", argv[optind]);
		return EINVAL;
	}
	rt_log_open_daemon("tapback", foreground);
	rt_log_set_level(level);
	snprintf(tb.root, sizeof(tb.root), "/local/domain/0/backend/%s", tb.name);
	tb.xs = xs_open(0);
	if (!tb.xs) {
		err = errno ? errno : EIO;
		rt_err("cannot connect to xenstore: %s", strerror(err));
		return err;
	}
	if (pidfile) {
		FILE *f = fopen(pidfile, "w");

		if (!f || fprintf(f, "%d\n", (int)getpid()) < 0 || fclose(f)) {
			err = errno ? errno : EIO;
			rt_err("cannot write %s: %s", pidfile, strerror(err));
			xs_close(tb.xs);
			return err;
		}
	}
	rt_info("watching %s", tb.root);
	err = run(&tb);
	while (tb.vbds) {
		struct vbd *v = tb.vbds;

		tb.vbds = v->next;
		if (v->pidfd >= 0)
			close(v->pidfd);
		free(v);
	}
	xs_close(tb.xs);
	if (pidfile)
		unlink(pidfile);
	return err ? -err : 0;
}
