/* tapdisk's daemon mode: detach as `tap-ctl spawn` expects, serve the control socket on the
 * event loop, leave once the last VBD is detached; SIGTERM drains every VBD first. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "ringtap/log.h"
#include "src/daemon.h"

#define TD_LOG_FILE_ENV "TAPDISK_LOG_FILE"

void td_daemon_check_exit(struct td_daemon *d)
{
	if (d->stopping) {
		for (struct td_minor *v = d->minors; v; v = v->next)
			if (td_minor_draining(v))
				return;
		while (d->minors)
			td_minor_free(d->minors);
	}
	if (!d->minors)
		td_loop_stop(&d->loop);
}

static void stop(struct td_daemon *d, const char *why)
{
	struct td_minor *v, *next;

	if (d->stopping)
		return;
	rt_info("%s: draining %s", why, d->minors ? "every VBD and exiting" : "nothing; exiting");
	d->stopping = true;
	for (v = d->minors; v; v = next) {
		next = v->next;
		td_minor_stop(v);
	}
	td_daemon_check_exit(d);
}

static void on_ctl(struct td_loop *loop, int fd, uint32_t events, void *data)
{
	struct td_daemon *d = data;
	int err = ctl_server_dispatch(d->srv);

	if (err < 0) {
		rt_err("control socket failed: %s", strerror(-err));
		stop(d, "control socket lost");
	}
}

static void on_signal(struct td_loop *loop, int fd, uint32_t events, void *data)
{
	struct td_daemon *d = data;
	struct signalfd_siginfo si;

	if (read(fd, &si, sizeof(si)) != (ssize_t)sizeof(si))
		return;
	stop(d, si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
}

/* Everything that can fail before the launcher is told we are ready. */
static int setup(struct td_daemon *d, const char *path)
{
	struct ctl_server_config cfg = { .path = path };
	const char *shm = getenv(TD_SHM_DIR_ENV);
	sigset_t mask;
	int err;

	snprintf(d->shm_root, sizeof(d->shm_root), "%s", shm && *shm ? shm : TD_DEFAULT_SHM_DIR);
	err = td_loop_init(&d->loop);
	if (err)
		return err;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	d->sig_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (d->sig_fd < 0)
		return -errno;
	err = td_loop_file_add(&d->loop, &d->sig_file, d->sig_fd, EPOLLIN, on_signal, d);
	if (!err)
		err = ctl_prepare_run_dir();
	if (!err)
		err = td_stash_start(&d->stash, &d->loop);
	if (!err)
		err = ctl_server_create(&cfg, &td_ctl_handlers, d, &d->srv);
	if (!err)
		err = td_loop_file_add(&d->loop, &d->srv_file, ctl_server_fd(d->srv), EPOLLIN,
				       on_ctl, d);
	return err;
}

static void teardown(struct td_daemon *d)
{
	while (d->minors)
		td_minor_free(d->minors);
	if (d->srv) {
		td_loop_file_del(&d->loop, &d->srv_file);
		ctl_server_destroy(d->srv);
	}
	td_stash_stop(&d->stash);
	td_shm_stats_cleanup(d);
	if (d->sig_fd >= 0) {
		td_loop_file_del(&d->loop, &d->sig_file);
		close(d->sig_fd);
	}
	td_loop_fini(&d->loop);
}

/* A daemon's stderr is /dev/null; TAPDISK_LOG_FILE keeps its log in a file instead of syslog. */
static void open_log(bool foreground)
{
	const char *file = getenv(TD_LOG_FILE_ENV);
	int fd;

	if (!foreground && file && *file) {
		fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
		if (fd >= 0) {
			dup2(fd, STDERR_FILENO);
			close(fd);
			setvbuf(stderr, NULL, _IOLBF, 0);
			foreground = true;
		}
	}
	rt_log_open_daemon("tapdisk", foreground);
}

/* The host-wide settings, logged: what every VBD of this tapdisk starts with. */
static void load_config(struct td_daemon *d, const char *path)
{
	int n = td_config_load(&d->config, path);
	const struct poll_params *p = &d->config.poll;

	if (n == -ENOENT) {
		rt_debug("no %s: built-in polling defaults", path);
		return;
	}
	if (n < 0) {
		rt_warn("cannot read %s: %s; built-in polling defaults", path, strerror(-n));
		return;
	}
	if (path)
		rt_info("%s%s: polling %s, duration %llu us, idle threshold %u%%, window %llu..%llu us",
			path, n ? " (bad lines ignored)" : "", poll_policy_name(p->policy),
			(unsigned long long)(p->fixed_ns / 1000), p->idle_threshold,
			(unsigned long long)(p->start_ns / 1000),
			(unsigned long long)(p->max_ns / 1000));
}

int td_daemon_main(bool foreground, const char *config_path)
{
	struct ctl_daemon cd = { -1 };
	struct td_daemon *d;
	char path[CTL_PATH_MAX];
	int err;

	if (!foreground) {
		err = ctl_daemonize(&cd);
		if (err) {
			fprintf(stderr, "tapdisk: cannot daemonize: %s\n", strerror(-err));
			return -err;
		}
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		if (!foreground)
			ctl_daemonize_ready(&cd, -ENOMEM);
		fprintf(stderr, "tapdisk: %s\n", strerror(ENOMEM));
		return ENOMEM;
	}
	d->sig_fd = -1;
	d->loop.epfd = -1;
	err = ctl_socket_path(getpid(), path, sizeof(path));
	if (!err)
		err = setup(d, path);
	if (err)
		fprintf(stderr, "tapdisk: cannot serve %s: %s\n", path, strerror(-err));
	if (foreground && !err) {
		/* what the launcher prints in daemon mode: tests read the pid from it */
		printf("%s\n", path);
		fflush(stdout);
	} else if (!foreground && ctl_daemonize_ready(&cd, err)) {
		err = err ? err : -EIO;
	}
	if (!err) {
		open_log(foreground);
		load_config(d, config_path);
		td_config_export(&d->config); /* the I/O engine reads it at each open */
		rt_info("serving %s", path);
		err = td_loop_run(&d->loop);
		if (err)
			rt_err("event loop failed: %s", strerror(-err));
		else
			rt_info("exiting: %s", d->stopping ? "stopped" : "last VBD detached");
	}
	teardown(d);
	free(d);
	return err ? -err : 0;
}
