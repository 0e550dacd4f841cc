/* The socket-server core (lib/util/sockserver.h): listening, accepting within a limit,
 * deadlines on one timerfd, a wake-up eventfd, buffered output and the reaping of closed
 * connections, for the control and NBD servers. Every syscall's result is checked; a failure is
 * logged here when it is handled here, else returned. close() is the exception: Linux releases the
 * fd whatever it returns, and a socket has no unwritten data it could report lost. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "lib/util/sockserver.h"
#include "ringtap/log.h"

/* epoll tokens other than connection pointers (never 1, 2 or 3) */
#define TOKEN_LISTEN 1u
#define TOKEN_TIMER 2u
#define TOKEN_KICK 3u
#define EVENTS_PER_DISPATCH 32
#define ACCEPTS_PER_DISPATCH 8
#define IOV_PER_FLUSH 64
#define DISCARD_LIMIT (1024 * 1024)

struct sock_server {
	int epfd, listen_fd, timer_fd, kick_fd;
	int waiting_fd; /* accepted while full: refused unless a slot frees by the next dispatch */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char name[sizeof(((struct sockaddr_un *)0)->sun_path) + 32];
	struct sock_server_config cfg;
	struct sock_server_ops ops;
	void *opaque;
	struct sock_conn *conns, *zombies;
	unsigned int nclients;
	uint64_t timer_ms; /* the timerfd's deadline, 0: disarmed */
	bool dispatching, kicked, timer_failed;
};

uint64_t sock_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void sock_server_kick(struct sock_server *srv)
{
	uint64_t one = 1;

	if (srv->kicked)
		return;
	/* a failed write leaves kicked false: the next kick tries again */
	if (write(srv->kick_fd, &one, sizeof(one)) == (ssize_t)sizeof(one))
		srv->kicked = true;
	else
		rt_warn("%s: eventfd: %s", srv->name, strerror(errno));
}

static void discard_input(int fd)
{
	uint8_t buf[4096];
	size_t total = 0;
	ssize_t n;

	/* a peer already gone makes both fail: nothing is left to protect */
	if (shutdown(fd, SHUT_WR) < 0)
		return;
	while (total < DISCARD_LIMIT && (n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
		total += (size_t)n;
}

void sock_conn_drop(struct sock_conn *c, const char *why)
{
	struct sock_server *srv = c->srv;
	struct sock_conn **pp;

	if (c->dead)
		return;
	if (why)
		rt_warn("%s: dropping client%s%s: %s", srv->name, c->peer[0] ? " " : "", c->peer,
			why);
	else
		discard_input(c->fd);
	/* close() alone would leave it registered if a child had inherited the socket */
	if (epoll_ctl(srv->epfd, EPOLL_CTL_DEL, c->fd, NULL) < 0)
		rt_warn("%s: epoll_ctl: %s", srv->name, strerror(errno));
	close(c->fd);
	c->fd = -1;
	c->dead = true;
	free(c->out);
	c->out = NULL;
	c->out_len = c->out_off = c->out_cap = 0;
	for (pp = &srv->conns; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	c->next = srv->zombies;
	srv->zombies = c;
	srv->nclients--;
	srv->ops.dropped(c);
	if (!srv->dispatching)
		sock_server_kick(srv); /* reap it in a dispatch */
}

void sock_conn_watch(struct sock_conn *c, bool in, bool out)
{
	struct epoll_event ev = { .data.ptr = c };

	if (c->dead)
		return;
	ev.events = (in ? EPOLLIN : 0u) | (out ? EPOLLOUT : 0u);
	if (ev.events == c->events)
		return;
	if (epoll_ctl(c->srv->epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0) {
		char why[64];

		snprintf(why, sizeof(why), "epoll_ctl: %s", strerror(errno));
		sock_conn_drop(c, why);
		return;
	}
	c->events = ev.events;
}

void sock_conn_restart_deadline(struct sock_conn *c)
{
	c->deadline_ms = sock_now_ms() + c->srv->cfg.timeout_ms;
}

ssize_t sock_conn_recv(struct sock_conn *c, void *dst, size_t len)
{
	ssize_t n;

	do
		n = recv(c->fd, dst, len, MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n >= 0)
		return n;
	return errno == EWOULDBLOCK ? -EAGAIN : -errno;
}

int sock_conn_queue(struct sock_conn *c, const void *data, size_t len)
{
	if (c->out_len + len > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 256;
		uint8_t *p;

		while (cap < c->out_len + len)
			cap *= 2;
		p = realloc(c->out, cap);
		if (!p) {
			sock_conn_drop(c, "out of memory");
			return -ENOMEM;
		}
		c->out = p;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, data, len);
	c->out_len += len;
	return 0;
}

void sock_conn_flush(struct sock_conn *c)
{
	const struct sock_server_ops *ops = &c->srv->ops;

	while (!c->dead) {
		struct iovec iov[IOV_PER_FLUSH];
		size_t total = 0, buffered = sock_conn_buffered(c);
		ssize_t sent;
		int n = 0, i;

		if (buffered)
			iov[n++] = (struct iovec){ c->out + c->out_off, buffered };
		if (ops->out_iov)
			n += ops->out_iov(c, iov + n, IOV_PER_FLUSH - n);
		if (!n)
			break;
		for (i = 0; i < n; i++)
			total += iov[i].iov_len;
		do
			sent = sendmsg(c->fd,
				       &(struct msghdr){ .msg_iov = iov, .msg_iovlen = (size_t)n },
				       MSG_NOSIGNAL | MSG_DONTWAIT);
		while (sent < 0 && errno == EINTR);
		if (sent < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				sock_conn_drop(c, NULL); /* the peer went away */
			break;
		}
		if ((size_t)sent < buffered) {
			c->out_off += (size_t)sent;
			break;
		}
		c->out_len = c->out_off = 0;
		if ((size_t)sent > buffered)
			ops->out_sent(c, (size_t)sent - buffered);
		if ((size_t)sent < total)
			break; /* the socket is full */
	}
}

static int accept_one(struct sock_server *srv, int fd, bool over_limit)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct sock_conn *c = calloc(1, srv->cfg.conn_size);

	if (!c) {
		rt_warn("%s: refusing a client: out of memory", srv->name);
		close(fd);
		return -ENOMEM;
	}
	c->srv = srv;
	c->fd = fd;
	ev.data.ptr = c;
	if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int err = -errno;

		rt_warn("%s: refusing a client: epoll_ctl: %s", srv->name, strerror(errno));
		close(fd);
		free(c);
		return err;
	}
	c->events = ev.events;
	c->next = srv->conns;
	srv->conns = c;
	srv->nclients++;
	sock_conn_restart_deadline(c);
	srv->ops.accepted(c, over_limit);
	return 0;
}

int sock_server_adopt(struct sock_server *srv, int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return accept_one(srv, fd, false);
}

/* A client that reconnects as soon as it hangs up must not keep the server accepting before it
 * has seen the hang-ups (which free slots): a bounded number of connections per dispatch, and a
 * connection that finds every slot taken waits for the next dispatch (its events first) before
 * it is refused. */
static void accept_clients(struct sock_server *srv)
{
	unsigned int n;

	for (n = 0; n < ACCEPTS_PER_DISPATCH; n++) {
		bool waited = srv->waiting_fd >= 0, full;
		int fd = waited ? srv->waiting_fd :
				  accept4(srv->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		srv->waiting_fd = -1;
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			    errno != ECONNABORTED)
				rt_warn("%s: accept: %s", srv->name, strerror(errno));
			return;
		}
		full = srv->nclients >= srv->cfg.max_clients &&
		       !(srv->ops.make_room && srv->ops.make_room(srv->opaque));
		if (full && !waited) {
			srv->waiting_fd = fd;
			sock_server_kick(srv);
			return;
		}
		if (full && !srv->cfg.admit_over_limit) {
			rt_warn("%s: refusing a client: %u connected already", srv->name,
				srv->nclients);
			close(fd);
			continue;
		}
		accept_one(srv, fd, full);
	}
}

void sock_server_rearm(struct sock_server *srv)
{
	struct itimerspec its = { 0 };
	uint64_t earliest = 0;
	struct sock_conn *c;

	for (c = srv->conns; c; c = c->next)
		if (c->deadline_ms && (!earliest || c->deadline_ms < earliest))
			earliest = c->deadline_ms;
	if (earliest == srv->timer_ms)
		return; /* the common case: no syscall per dispatch */
	if (earliest) {
		its.it_value.tv_sec = (time_t)(earliest / 1000);
		its.it_value.tv_nsec = (long)(earliest % 1000) * 1000000;
	}
	if (timerfd_settime(srv->timer_fd, TFD_TIMER_ABSTIME, &its, NULL) < 0) {
		/* deadlines are then checked at the next dispatch, which tries again; logged once
		 * until it works */
		if (!srv->timer_failed)
			rt_err("%s: timerfd_settime: %s", srv->name, strerror(errno));
		srv->timer_failed = true;
		srv->timer_ms = 0;
		return;
	}
	srv->timer_failed = false;
	srv->timer_ms = earliest;
}

static void expire_clients(struct sock_server *srv)
{
	uint64_t now = sock_now_ms();
	struct sock_conn *c, *next;

	srv->timer_ms = 0; /* fired (or never armed): rearm sets it again */
	for (c = srv->conns; c; c = next) {
		next = c->next;
		if (c->deadline_ms && c->deadline_ms <= now)
			sock_conn_drop(c, srv->ops.expired(c));
	}
}

/* Reads a timerfd or eventfd so that it stops being readable. */
static void drain_counter(struct sock_server *srv, int fd, const char *what)
{
	uint64_t val;

	if (read(fd, &val, sizeof(val)) < 0 && errno != EAGAIN)
		rt_warn("%s: %s: %s", srv->name, what, strerror(errno));
}

static void reap_zombies(struct sock_server *srv)
{
	struct sock_conn **pp = &srv->zombies;

	while (*pp) {
		struct sock_conn *c = *pp;

		if (srv->ops.busy && srv->ops.busy(c)) {
			pp = &c->next;
			continue;
		}
		*pp = c->next;
		free(c);
	}
}

int sock_server_dispatch(struct sock_server *srv)
{
	struct epoll_event events[EVENTS_PER_DISPATCH];
	bool accepting = false, more = false, timer_fired = false;
	int n, i;

	n = epoll_wait(srv->epfd, events, EVENTS_PER_DISPATCH, 0);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	srv->dispatching = true;
	for (i = 0; i < n; i++) {
		struct sock_conn *c;

		switch (events[i].data.u64) {
		case TOKEN_LISTEN: /* after the hang-ups of this batch have freed their slots */
			accepting = true;
			continue;
		case TOKEN_TIMER:
			drain_counter(srv, srv->timer_fd, "timerfd");
			timer_fired = true;
			continue;
		case TOKEN_KICK:
			drain_counter(srv, srv->kick_fd, "eventfd");
			srv->kicked = false;
			continue;
		default:
			break;
		}
		c = events[i].data.ptr;
		if (!c->dead)
			srv->ops.ready(c, events[i].events);
	}
	if (timer_fired || srv->timer_failed)
		expire_clients(srv);
	if (accepting || srv->waiting_fd >= 0)
		accept_clients(srv);
	if (srv->ops.dispatched)
		more = srv->ops.dispatched(srv->opaque);
	reap_zombies(srv);
	sock_server_rearm(srv);
	srv->dispatching = false;
	if (more || srv->zombies)
		sock_server_kick(srv);
	return 0;
}

int sock_server_fd(const struct sock_server *srv)
{
	return srv->epfd;
}

const char *sock_server_path(const struct sock_server *srv)
{
	return srv->path;
}

const char *sock_server_name(const struct sock_server *srv)
{
	return srv->name;
}

unsigned int sock_server_clients(const struct sock_server *srv)
{
	return srv->nclients;
}

bool sock_server_dispatching(const struct sock_server *srv)
{
	return srv->dispatching;
}

void *sock_server_opaque(const struct sock_server *srv)
{
	return srv->opaque;
}

struct sock_conn *sock_server_conns(const struct sock_server *srv)
{
	return srv->conns;
}

static int listen_on(struct sock_server *srv, const char *path, unsigned int mode)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	/* a socket left by a crashed daemon with our pid is stale; anything else is not ours */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return -EEXIST;
		if (unlink(path) < 0)
			return -errno;
	}
	srv->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (srv->listen_fd < 0)
		return -errno;
	if (bind(srv->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	strcpy(srv->path, path); /* bound: ours to unlink from here on */
	/* before listen(): until then a connect is refused, so the default mode is never used */
	if (chmod(path, mode) < 0 || listen(srv->listen_fd, 16) < 0)
		return -errno;
	return 0;
}

static int add_token(struct sock_server *srv, int fd, uint64_t token)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = token };

	return epoll_ctl(srv->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

int sock_server_create(const struct sock_server_config *cfg, const struct sock_server_ops *ops,
		       void *opaque, struct sock_server **out)
{
	struct sock_server *srv;
	int err;

	*out = NULL;
	if (!cfg || !cfg->path || !ops || !ops->accepted || !ops->ready || !ops->expired ||
	    !ops->dropped || !cfg->max_clients || cfg->conn_size < sizeof(struct sock_conn) ||
	    (ops->out_iov && !ops->out_sent))
		return -EINVAL;
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return -ENOMEM;
	srv->epfd = srv->listen_fd = srv->timer_fd = srv->kick_fd = srv->waiting_fd = -1;
	srv->cfg = *cfg;
	srv->cfg.path = srv->path;
	srv->cfg.log_name = srv->name;
	srv->ops = *ops;
	srv->opaque = opaque;
	snprintf(srv->name, sizeof(srv->name), "%s", cfg->log_name ? cfg->log_name : cfg->path);
	err = listen_on(srv, cfg->path, cfg->mode ? cfg->mode : 0600);
	if (err)
		goto fail;
	srv->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (srv->epfd < 0)
		goto fail_errno;
	srv->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (srv->timer_fd < 0)
		goto fail_errno;
	srv->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (srv->kick_fd < 0)
		goto fail_errno;
	err = add_token(srv, srv->listen_fd, TOKEN_LISTEN);
	if (!err)
		err = add_token(srv, srv->timer_fd, TOKEN_TIMER);
	if (!err)
		err = add_token(srv, srv->kick_fd, TOKEN_KICK);
	if (err)
		goto fail;
	*out = srv;
	return 0;
fail_errno:
	err = -errno;
fail:
	sock_server_destroy(srv);
	return err;
}

void sock_server_destroy(struct sock_server *srv)
{
	if (!srv)
		return;
	srv->dispatching = true; /* no kick for the drops below */
	while (srv->conns)
		sock_conn_drop(srv->conns, NULL);
	while (srv->zombies) {
		struct sock_conn *c = srv->zombies;

		srv->zombies = c->next;
		if (srv->ops.abandon && srv->ops.busy && srv->ops.busy(c))
			srv->ops.abandon(c);
		free(c);
	}
	if (srv->listen_fd >= 0)
		close(srv->listen_fd);
	if (srv->waiting_fd >= 0)
		close(srv->waiting_fd);
	if (srv->path[0] && unlink(srv->path) < 0 && errno != ENOENT)
		rt_warn("%s: cannot remove the socket: %s", srv->name, strerror(errno));
	if (srv->timer_fd >= 0)
		close(srv->timer_fd);
	if (srv->kick_fd >= 0)
		close(srv->kick_fd);
	if (srv->epfd >= 0)
		close(srv->epfd);
	free(srv);
}
