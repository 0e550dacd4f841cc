/* ctl-fake-tapdisk: serves the control protocol over an in-memory model of VBDs, daemonizing
 * exactly as tapdisk does, so that tap-ctl's whole command set is tested through real sockets
 * before the datapath is integrated. It is also the reference for embedding the server in an
 * epoll loop (see INTEGRATION in include/ringtap/ctl.h).
 *   ctl-fake-tapdisk               daemon mode (how `tap-ctl spawn` runs it, argv[0] "tapdisk")
 *   ctl-fake-tapdisk --foreground  no fork; prints the socket path, serves until SIGTERM
 * Test knobs (environment): FAKE_TAPDISK_SOCKET_MODE (octal, default 0600),
 * FAKE_TAPDISK_PAUSE_MS (pause completes after this delay, default 50: a deferred reply). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <jansson.h>

#include "ringtap/ctl.h"
#include "ringtap/log.h"

#define MAX_VBDS 8

struct vbd {
	bool used;
	int minor;
	int hold_fd; /* the minor's marker, flock'd while attached */
	uint32_t state;
	struct ctl_open_args open; /* image, flags, secondary, cbt log, timeout as given */
	bool connected;
	struct ctl_connect_args ring;
	struct ctl_poll_settings poll;
	struct ctl_request *pause_req; /* deferred until the pause timer fires */
};

/* The daemon's one context object. */
struct fake {
	struct ctl_server *srv;
	int epfd, timer_fd, signal_fd;
	unsigned int pause_ms;
	bool quit;
	struct vbd vbds[MAX_VBDS];
};

static struct vbd *find(struct fake *f, int minor)
{
	int i;

	for (i = 0; i < MAX_VBDS; i++)
		if (f->vbds[i].used && f->vbds[i].minor == minor)
			return &f->vbds[i];
	return NULL;
}

static struct vbd *find_or_fail(struct fake *f, struct ctl_request *req, int minor)
{
	struct vbd *v = find(f, minor);

	if (!v)
		ctl_request_set_message(req, "minor %d is not attached", minor);
	return v;
}

static int h_list(void *o, struct ctl_request *req, struct ctl_list *out)
{
	struct fake *f = o;
	int i;

	out->pid = getpid();
	out->entries = calloc(MAX_VBDS, sizeof(*out->entries));
	if (!out->entries)
		return -ENOMEM;
	for (i = 0; i < MAX_VBDS; i++) {
		struct vbd *v = &f->vbds[i];
		struct ctl_list_entry *e;

		if (!v->used)
			continue;
		e = &out->entries[out->count++];
		e->minor = v->minor;
		e->state = v->state;
		if (!(v->state & CTL_VBD_CLOSED))
			e->image = v->open.image;
	}
	return 0;
}

static int h_attach(void *o, struct ctl_request *req, const struct ctl_minor_args *a)
{
	struct fake *f = o;
	struct vbd *v = NULL;
	int i, fd;

	if (find(f, a->minor)) {
		ctl_request_set_message(req, "minor %d is already attached", a->minor);
		return -EEXIST;
	}
	for (i = 0; i < MAX_VBDS && !v; i++)
		if (!f->vbds[i].used)
			v = &f->vbds[i];
	if (!v)
		return -ENOSPC;
	fd = ctl_minor_hold(a->minor);
	if (fd < 0) {
		ctl_request_set_message(req, "minor %d is not allocated", a->minor);
		return fd;
	}
	memset(v, 0, sizeof(*v));
	v->used = true;
	v->minor = a->minor;
	v->hold_fd = fd;
	v->state = CTL_VBD_CLOSED;
	v->poll = (struct ctl_poll_settings){
		CTL_POLL_SET_ALL, CTL_POLL_ADAPTIVE, 8000, 50, 200, 2, 2
	};
	return 0;
}

static int h_detach(void *o, struct ctl_request *req, const struct ctl_minor_args *a)
{
	struct fake *f = o;
	struct vbd *v = find_or_fail(f, req, a->minor);
	int i;

	if (!v)
		return -ENODEV;
	if (!(v->state & CTL_VBD_CLOSED)) {
		ctl_request_set_message(req, "minor %d is still open", a->minor);
		return -EBUSY;
	}
	/* released before the reply, so `tap-ctl free` right after succeeds */
	ctl_minor_release(v->hold_fd);
	v->used = false;
	for (i = 0; i < MAX_VBDS; i++)
		if (f->vbds[i].used)
			return 0;
	f->quit = true; /* as tapdisk: exit once the last VBD is detached */
	return 0;
}

static int check_image(struct ctl_request *req, const struct ctl_image *img)
{
	struct stat st;

	if (stat(img->path, &st) < 0) {
		int err = -errno;

		ctl_request_set_message(req, "cannot open %s", img->path);
		return err;
	}
	if (S_ISDIR(st.st_mode)) {
		ctl_request_set_message(req, "%s is a directory", img->path);
		return -EISDIR;
	}
	return 0;
}

static int h_open(void *o, struct ctl_request *req, const struct ctl_open_args *a)
{
	struct fake *f = o;
	struct vbd *v = find_or_fail(f, req, a->minor);
	int err;

	if (!v)
		return -ENODEV;
	if (!(v->state & CTL_VBD_CLOSED)) {
		ctl_request_set_message(req, "minor %d already has %s open", a->minor,
					v->open.image.path);
		return -EBUSY;
	}
	if ((err = check_image(req, &a->image)))
		return err;
	v->open = *a;
	v->state = 0;
	return 0;
}

static int h_close(void *o, struct ctl_request *req, const struct ctl_close_args *a)
{
	struct fake *f = o;
	struct vbd *v = find_or_fail(f, req, a->minor);

	if (!v)
		return -ENODEV;
	if (v->state & CTL_VBD_CLOSED)
		return 0;
	if (v->connected && !a->force) {
		ctl_request_set_message(req, "the ring of minor %d is still connected", a->minor);
		return -EBUSY;
	}
	v->connected = false;
	v->state = CTL_VBD_CLOSED;
	return 0;
}

static void arm_pause_timer(struct fake *f)
{
	struct itimerspec its = { .it_value = { f->pause_ms / 1000,
						(long)(f->pause_ms % 1000) * 1000000 + 1 } };

	timerfd_settime(f->timer_fd, 0, &its, NULL);
}

/* Pause is answered later, from the loop, as tapdisk answers once in-flight I/O drained. */
static int h_pause(void *o, struct ctl_request *req, const struct ctl_minor_args *a)
{
	struct fake *f = o;
	struct vbd *v = find_or_fail(f, req, a->minor);

	if (!v)
		return -ENODEV;
	if (v->state & CTL_VBD_CLOSED) {
		ctl_request_set_message(req, "minor %d has no image open", a->minor);
		return -EINVAL;
	}
	if (v->state & CTL_VBD_PAUSED)
		return 0;
	if (v->pause_req)
		return -EBUSY;
	v->state |= CTL_VBD_PAUSE_REQUESTED;
	v->pause_req = req;
	arm_pause_timer(f);
	return CTL_DEFERRED;
}

static void pause_timer_fired(struct fake *f)
{
	uint64_t n;
	int i;

	if (read(f->timer_fd, &n, sizeof(n)) < 0)
		return;
	for (i = 0; i < MAX_VBDS; i++) {
		struct vbd *v = &f->vbds[i];

		if (v->used && v->pause_req) {
			v->state = (v->state & ~(uint32_t)CTL_VBD_PAUSE_REQUESTED) | CTL_VBD_PAUSED;
			ctl_request_complete(v->pause_req, 0);
			v->pause_req = NULL;
		}
	}
}

static int h_resume(void *o, struct ctl_request *req, const struct ctl_resume_args *a)
{
	struct fake *f = o;
	struct vbd *v = find_or_fail(f, req, a->minor);
	int err;

	if (!v)
		return -ENODEV;
	if (!(v->state & CTL_VBD_PAUSED)) {
		ctl_request_set_message(req, "minor %d is not paused", a->minor);
		return -EINVAL;
	}
	if (a->image.type != CTL_IMAGE_NONE) {
		if ((err = check_image(req, &a->image)))
			return err;
		v->open.image = a->image;
	}
	if (a->flags & CTL_OPEN_SECONDARY)
		strcpy(v->open.secondary, a->secondary);
	if (a->flags & CTL_OPEN_ADD_LOG)
		strcpy(v->open.cbt_log, a->cbt_log);
	v->open.flags |= a->flags;
	v->state &= ~(uint32_t)CTL_VBD_PAUSED;
	return 0;
}

static int h_connect(void *o, struct ctl_request *req, const struct ctl_connect_args *a)
{
	struct fake *f = o;
	struct vbd *v = find_or_fail(f, req, a->minor);

	if (!v)
		return -ENODEV;
	if (v->connected)
		return -EALREADY;
	v->ring = *a;
	v->connected = true;
	return 0;
}

static int h_disconnect(void *o, struct ctl_request *req, const struct ctl_disconnect_args *a)
{
	struct fake *f = o;
	struct vbd *v = find_or_fail(f, req, a->minor);

	if (!v)
		return -ENODEV;
	if (!v->connected)
		return -ENOTCONN;
	v->connected = false;
	return 0;
}

static int h_info(void *o, struct ctl_request *req, const struct ctl_minor_args *a,
		  struct ctl_disk_info *out)
{
	struct fake *f = o;
	struct vbd *v = find_or_fail(f, req, a->minor);
	struct stat st;

	if (!v)
		return -ENODEV;
	if ((v->state & CTL_VBD_CLOSED) || stat(v->open.image.path, &st) < 0)
		return -ENOMEDIUM;
	out->sectors = (uint64_t)st.st_size / 512;
	out->sector_size = 512;
	out->physical_sector_size = 512;
	out->info = (v->open.flags & CTL_OPEN_RDONLY) ? 4 /* VDISK_READONLY */ : 0;
	out->discard_granularity = (v->open.flags & CTL_OPEN_RDONLY) ? 0 : 4096;
	return 0;
}

static json_t *polling_json(const struct ctl_poll_settings *p)
{
	return json_pack("{s:s, s:i, s:i, s:i, s:i, s:i}", "policy",
			 ctl_poll_policy_name(p->policy), "duration_us", (json_int_t)p->duration_us,
			 "idle_threshold", (json_int_t)p->idle_threshold, "max_window_us",
			 (json_int_t)p->max_window_us, "grow", (json_int_t)p->grow, "shrink",
			 (json_int_t)p->shrink);
}

/* blktap3's keys (XAPI reads them) plus what this fake was told, for the tests to check. */
static int h_stats(void *o, struct ctl_request *req, const struct ctl_minor_args *a,
		   char **json_out)
{
	struct fake *f = o;
	struct vbd *v = find_or_fail(f, req, a->minor);
	const char *type;
	char name[CTL_PATH_MAX + 8];
	json_t *s, *fake;

	if (!v)
		return -ENODEV;
	type = ctl_image_type_name(v->open.image.type);
	snprintf(name, sizeof(name), "%s:%s", type ? type : "none", v->open.image.path);
	fake = json_pack("{s:i, s:b, s:i, s:s, s:s, s:i, s:i, s:b, s:o}", "open_flags",
			 (json_int_t)v->open.flags, "read_only",
			 (v->open.flags & CTL_OPEN_RDONLY) != 0, "parent_minor",
			 (json_int_t)v->open.parent_minor, "secondary", v->open.secondary,
			 "cbt_log", v->open.cbt_log, "timeout", (json_int_t)v->open.timeout_s,
			 "key_size", (json_int_t)v->open.key_size, "connected", v->connected,
			 "polling", polling_json(&v->poll));
	if (fake && v->connected)
		json_object_set_new(
			fake, "ring",
			json_pack("{s:i, s:i, s:i, s:i, s:s, s:b, s:i}", "domid",
				  (json_int_t)v->ring.domid, "devid", (json_int_t)v->ring.devid,
				  "order", (json_int_t)v->ring.order, "port",
				  (json_int_t)v->ring.port, "protocol",
				  ctl_ring_protocol_name(v->ring.protocol), "persistent",
				  v->ring.persistent, "max_indirect_segments",
				  (json_int_t)v->ring.max_indirect_segments));
	s = json_pack("{s:s, s:[i,i], s:[{s:s, s:[i,i], s:[i,i], s:{s:i, s:s}}], s:i, s:i, s:i, "
		      "s:o}",
		      "name", name, "secs", 0, 0, "images", "name", v->open.image.path, "hits", 0,
		      0, "fail", 0, 0, "driver", "type",
		      v->open.image.type == CTL_IMAGE_VHD ? 4 : 0, "name", type ? type : "none",
		      "nbd_mirror_failed", 0, "reqs_outstanding", 0, "FIXME_enospc_redirect_count",
		      0, "fake", fake);
	if (!s)
		return -ENOMEM;
	*json_out = json_dumps(s, JSON_COMPACT);
	json_decref(s);
	return *json_out ? 0 : -ENOMEM;
}

static int h_poll_get(void *o, struct ctl_request *req, const struct ctl_minor_args *a,
		      struct ctl_poll_settings *out)
{
	struct fake *f = o;
	struct vbd *v = find_or_fail(f, req, a->minor);

	if (!v)
		return -ENODEV;
	*out = v->poll;
	return 0;
}

static int h_poll_set(void *o, struct ctl_request *req, const struct ctl_poll_set_args *a)
{
	struct fake *f = o;
	struct vbd *v = find_or_fail(f, req, a->minor);
	const struct ctl_poll_settings *p = &a->settings;

	if (!v)
		return -ENODEV;
	if (p->set_mask & CTL_POLL_SET_POLICY)
		v->poll.policy = p->policy;
	if (p->set_mask & CTL_POLL_SET_DURATION)
		v->poll.duration_us = p->duration_us;
	if (p->set_mask & CTL_POLL_SET_IDLE)
		v->poll.idle_threshold = p->idle_threshold;
	if (p->set_mask & CTL_POLL_SET_MAX_WINDOW)
		v->poll.max_window_us = p->max_window_us;
	if (p->set_mask & CTL_POLL_SET_GROW)
		v->poll.grow = p->grow;
	if (p->set_mask & CTL_POLL_SET_SHRINK)
		v->poll.shrink = p->shrink;
	return 0;
}

static const struct ctl_handlers handlers = {
	.list = h_list,
	.attach = h_attach,
	.detach = h_detach,
	.open = h_open,
	.close = h_close,
	.pause = h_pause,
	.resume = h_resume,
	.connect = h_connect,
	.disconnect = h_disconnect,
	.info = h_info,
	.stats = h_stats,
	.poll_get = h_poll_get,
	.poll_set = h_poll_set,
};

static int add_fd(struct fake *f, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

	return epoll_ctl(f->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

/* Everything that can fail before the daemon is ready: socket, loop, signals. */
static int setup(struct fake *f, const char *path)
{
	struct ctl_server_config cfg = { .path = path };
	const char *env;
	sigset_t mask;
	int err;

	env = getenv("FAKE_TAPDISK_SOCKET_MODE");
	if (env)
		cfg.mode = (unsigned int)strtoul(env, NULL, 8);
	env = getenv("FAKE_TAPDISK_PAUSE_MS");
	f->pause_ms = env ? (unsigned int)strtoul(env, NULL, 10) : 50;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	f->signal_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	f->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	f->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (f->signal_fd < 0 || f->timer_fd < 0 || f->epfd < 0)
		return -errno;
	err = ctl_server_create(&cfg, &handlers, f, &f->srv);
	if (err)
		return err;
	if ((err = add_fd(f, ctl_server_fd(f->srv))) || (err = add_fd(f, f->timer_fd)) ||
	    (err = add_fd(f, f->signal_fd)))
		return err;
	return 0;
}

static int serve(struct fake *f)
{
	while (!f->quit) {
		struct epoll_event ev[4];
		int n = epoll_wait(f->epfd, ev, 4, -1), i;

		if (n < 0 && errno != EINTR)
			return -errno;
		for (i = 0; i < n; i++) {
			if (ev[i].data.fd == ctl_server_fd(f->srv))
				ctl_server_dispatch(f->srv);
			else if (ev[i].data.fd == f->timer_fd)
				pause_timer_fired(f);
			else if (ev[i].data.fd == f->signal_fd)
				f->quit = true;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = { { "foreground", no_argument, NULL, 'f' },
					      { "help", no_argument, NULL, 'h' },
					      { NULL, 0, NULL, 0 } };
	struct fake *f = calloc(1, sizeof(*f));
	struct ctl_daemon d = { -1 };
	bool foreground = false;
	char path[4096];
	int c, err, i;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "fh", opts, NULL)) != -1) {
		if (c == 'f') {
			foreground = true;
		} else if (c == 'h') {
			printf("Usage: ctl-fake-tapdisk [--foreground]\n");
			return 0;
		} else {
			fprintf(stderr, "ctl-fake-tapdisk: unknown option '%s'\n",
				argv[optind - 1]);
			return EINVAL;
		}
	}
	if (!f)
		return ENOMEM;
	rt_log_open("ctl-fake-tapdisk", foreground);
	if (!foreground && (err = ctl_daemonize(&d))) {
		fprintf(stderr, "ctl-fake-tapdisk: daemonize: %s\n", strerror(-err));
		return -err;
	}
	err = ctl_socket_path(getpid(), path, sizeof(path));
	if (!err)
		err = setup(f, path);
	if (foreground) {
		if (err) {
			fprintf(stderr, "ctl-fake-tapdisk: %s: %s\n", path, strerror(-err));
			return -err;
		}
		printf("%s\n", path);
		fflush(stdout);
	} else if (ctl_daemonize_ready(&d, err)) {
		return 1;
	}
	err = serve(f);
	for (i = 0; i < MAX_VBDS; i++)
		if (f->vbds[i].used) {
			if (f->vbds[i].pause_req)
				ctl_request_complete(f->vbds[i].pause_req, -ECANCELED);
			ctl_minor_release(f->vbds[i].hold_fd);
		}
	ctl_server_destroy(f->srv);
	free(f);
	return err ? -err : 0;
}
