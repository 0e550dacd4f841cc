/* The control server a daemon embeds: a listening Unix socket, its clients and a deadline timer
 * behind one nested epoll fd, handled without blocking by ctl_server_dispatch(). Each client is
 * a small state machine (read header → read payload → handler → write reply); a client that
 * misbehaves is dropped alone. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "lib/ctl/codec.h"
#include "ringtap/ctl.h"
#include "ringtap/log.h"

#define TOKEN_LISTEN 0u
#define TOKEN_TIMER 1u
#define EVENTS_PER_DISPATCH 16

struct ctl_conn {
	struct ctl_server *srv;
	struct ctl_conn *next;
	int fd;
	bool dead; /* closed; freed at the end of the current dispatch */
	bool closing; /* drop once the queued reply is written */
	struct ucred cred;
	uint8_t hdr[CTL_HEADER_SIZE];
	size_t hdr_got;
	struct ctl_header h;
	uint8_t *payload;
	size_t payload_got;
	uint8_t *out;
	size_t out_len, out_off;
	struct ctl_request *pending; /* a deferred request: stop reading until it completes */
	uint64_t deadline_ms; /* 0: none (while a deferred request runs) */
	uint32_t events; /* currently registered epoll events */
};

struct ctl_request {
	struct ctl_conn *conn; /* NULL once the client has gone */
	pid_t peer_pid;
	struct ctl_msg msg;
	struct ctl_reply reply;
};

struct ctl_server {
	int epfd, listen_fd, timer_fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	const struct ctl_handlers *h;
	void *opaque;
	unsigned int max_clients, timeout_ms, nclients;
	struct ctl_conn *conns;
	struct ctl_conn *zombies;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void conn_drop(struct ctl_conn *c, const char *why)
{
	struct ctl_server *srv = c->srv;
	struct ctl_conn **pp;

	if (c->dead)
		return;
	if (why)
		rt_warn("control: dropping client pid %d: %s", (int)c->cred.pid, why);
	epoll_ctl(srv->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	c->dead = true;
	if (c->pending) {
		c->pending->conn = NULL; /* the daemon still owns it and completes it later */
		c->pending = NULL;
	}
	for (pp = &srv->conns; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	c->next = srv->zombies;
	srv->zombies = c;
	srv->nclients--;
}

static void conn_free(struct ctl_conn *c)
{
	free(c->payload);
	free(c->out);
	free(c);
}

static void reap_zombies(struct ctl_server *srv)
{
	while (srv->zombies) {
		struct ctl_conn *c = srv->zombies;

		srv->zombies = c->next;
		conn_free(c);
	}
}

static void rearm_timer(struct ctl_server *srv)
{
	struct itimerspec its = { 0 };
	uint64_t earliest = 0;
	struct ctl_conn *c;

	for (c = srv->conns; c; c = c->next)
		if (c->deadline_ms && (!earliest || c->deadline_ms < earliest))
			earliest = c->deadline_ms;
	if (earliest) {
		its.it_value.tv_sec = (time_t)(earliest / 1000);
		its.it_value.tv_nsec = (long)(earliest % 1000) * 1000000;
	}
	timerfd_settime(srv->timer_fd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* Registers exactly the events the connection's state calls for. */
static void conn_update_events(struct ctl_conn *c)
{
	struct epoll_event ev = { .data.ptr = c };

	if (c->dead)
		return;
	ev.events = 0;
	if (c->out_len > c->out_off)
		ev.events |= EPOLLOUT;
	else if (!c->pending && !c->closing)
		ev.events |= EPOLLIN;
	if (ev.events != c->events) {
		epoll_ctl(c->srv->epfd, EPOLL_CTL_MOD, c->fd, &ev);
		c->events = ev.events;
	}
}

/* Before closing on a refused client: closing a Unix socket with unread input resets the peer,
 * which would lose the error reply just sent; so read (bounded) and discard what is queued. */
static void conn_discard_input(struct ctl_conn *c)
{
	uint8_t buf[4096];
	size_t total = 0;
	ssize_t n;

	shutdown(c->fd, SHUT_WR);
	while (total < 1024 * 1024 && (n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
		total += (size_t)n;
}

/* Writes what it can of the queued reply; drops the client on error or when closing is done. */
static void conn_flush(struct ctl_conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			conn_drop(c, NULL); /* the client went away before reading its reply */
			return;
		}
		c->out_off += (size_t)n;
	}
	if (c->out_off == c->out_len) {
		free(c->out);
		c->out = NULL;
		c->out_len = c->out_off = 0;
		if (c->closing) {
			conn_discard_input(c);
			conn_drop(c, NULL);
			return;
		}
	}
	conn_update_events(c);
}

static void conn_send(struct ctl_conn *c, const struct ctl_reply *r)
{
	uint8_t *buf;
	size_t len;
	int err = ctl_reply_encode(r, &buf, &len);

	if (err) {
		struct ctl_reply fallback = { .type = r->type, .id = r->id, .error = -err };

		rt_err("control: cannot encode the %s reply: %s", ctl_msg_name(r->type),
		       strerror(-err));
		if (ctl_reply_encode(&fallback, &buf, &len)) {
			conn_drop(c, "out of memory");
			return;
		}
	}
	free(c->out);
	c->out = buf;
	c->out_len = len;
	c->out_off = 0;
	c->deadline_ms = now_ms() + c->srv->timeout_ms; /* the client must read it in time */
	conn_flush(c);
}

/* A protocol-level refusal: best effort, then the connection goes. */
static void conn_refuse(struct ctl_conn *c, uint32_t id, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void conn_refuse(struct ctl_conn *c, uint32_t id, int err, const char *fmt, ...)
{
	struct ctl_reply r = { .type = CTL_MSG_ERROR, .id = id, .error = err };
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r.message, sizeof(r.message), fmt, ap);
	va_end(ap);
	rt_warn("control: refusing client pid %d: %s", (int)c->cred.pid, r.message);
	c->closing = true;
	conn_send(c, &r);
}

static void request_finish(struct ctl_request *req, int err)
{
	struct ctl_conn *c = req->conn;

	if (c) {
		c->pending = NULL;
		req->reply.error = err < 0 ? -err : 0;
		conn_send(c, &req->reply);
	}
	ctl_reply_release(&req->reply);
	free(req);
}

static int call_handler(struct ctl_server *srv, struct ctl_request *req)
{
	const struct ctl_handlers *h = srv->h;
	struct ctl_msg *m = &req->msg;
	union ctl_result *out = &req->reply.r;
	void *o = srv->opaque;

	switch (m->type) {
	case CTL_MSG_LIST:
		return h->list ? h->list(o, req, &out->list) : -EOPNOTSUPP;
	case CTL_MSG_ATTACH:
		return h->attach ? h->attach(o, req, &m->u.minor) : -EOPNOTSUPP;
	case CTL_MSG_DETACH:
		return h->detach ? h->detach(o, req, &m->u.minor) : -EOPNOTSUPP;
	case CTL_MSG_OPEN:
		return h->open ? h->open(o, req, &m->u.open) : -EOPNOTSUPP;
	case CTL_MSG_CLOSE:
		return h->close ? h->close(o, req, &m->u.close) : -EOPNOTSUPP;
	case CTL_MSG_PAUSE:
		return h->pause ? h->pause(o, req, &m->u.minor) : -EOPNOTSUPP;
	case CTL_MSG_RESUME:
		return h->resume ? h->resume(o, req, &m->u.resume) : -EOPNOTSUPP;
	case CTL_MSG_CONNECT:
		return h->connect ? h->connect(o, req, &m->u.connect) : -EOPNOTSUPP;
	case CTL_MSG_DISCONNECT:
		return h->disconnect ? h->disconnect(o, req, &m->u.disconnect) : -EOPNOTSUPP;
	case CTL_MSG_INFO:
		return h->info ? h->info(o, req, &m->u.minor, &out->info) : -EOPNOTSUPP;
	case CTL_MSG_STATS:
		return h->stats ? h->stats(o, req, &m->u.minor, &out->stats_json) : -EOPNOTSUPP;
	case CTL_MSG_POLL_GET:
		return h->poll_get ? h->poll_get(o, req, &m->u.minor, &out->poll) : -EOPNOTSUPP;
	case CTL_MSG_POLL_SET:
		return h->poll_set ? h->poll_set(o, req, &m->u.poll_set) : -EOPNOTSUPP;
	default:
		return -EOPNOTSUPP;
	}
}

static void conn_handle_message(struct ctl_conn *c)
{
	struct ctl_request *req = calloc(1, sizeof(*req));
	int err;

	if (!req) {
		conn_drop(c, "out of memory");
		return;
	}
	req->conn = c;
	req->peer_pid = c->cred.pid;
	err = ctl_request_decode(&c->h, c->payload, &req->msg);
	req->reply.type = c->h.type;
	req->reply.id = c->h.id;
	free(c->payload);
	c->payload = NULL;
	c->hdr_got = c->payload_got = 0;
	if (err) {
		/* unknown types keep the connection (a newer client); a broken payload does not */
		if (err != -EOPNOTSUPP) {
			c->closing = true;
			snprintf(req->reply.message, sizeof(req->reply.message),
				 "malformed %s request", ctl_msg_name(c->h.type));
		} else {
			snprintf(req->reply.message, sizeof(req->reply.message),
				 "unknown request type %u", (unsigned int)c->h.type);
			req->reply.type = CTL_MSG_ERROR;
		}
		request_finish(req, err);
		return;
	}
	c->pending = req;
	c->deadline_ms = 0;
	err = call_handler(c->srv, req);
	if (err == CTL_DEFERRED) {
		conn_update_events(c);
		return;
	}
	if (err > 0) {
		rt_err("control: %s handler returned %d", ctl_msg_name(c->h.type), err);
		err = -EIO;
	}
	request_finish(req, err);
}

/* Reads what is available of one message; at most one message is handled per call. */
static void conn_readable(struct ctl_conn *c)
{
	struct ctl_server *srv = c->srv;
	ssize_t n;
	int err;

	if (c->pending || c->closing || c->out_len)
		return;
	if (c->hdr_got < CTL_HEADER_SIZE) {
		n = recv(c->fd, c->hdr + c->hdr_got, CTL_HEADER_SIZE - c->hdr_got, MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			conn_drop(c, c->hdr_got ? "hung up mid-message" : NULL);
			return;
		}
		if (n < 0)
			return;
		c->hdr_got += (size_t)n;
		if (c->hdr_got < CTL_HEADER_SIZE)
			return;
		/* the length is checked here, before the payload buffer exists */
		err = ctl_header_decode(c->hdr, CTL_MAX_REQUEST, &c->h);
		if (err == -EBADMSG) {
			conn_refuse(c, 0, EBADMSG, "not a ringtap control message");
			return;
		}
		if (err == -EPROTONOSUPPORT) {
			conn_refuse(c, c->h.id, EPROTONOSUPPORT,
				    "protocol version %u not supported (this daemon speaks %u)",
				    (unsigned int)c->h.version, CTL_VERSION);
			return;
		}
		if (err == -EMSGSIZE) {
			conn_refuse(c, c->h.id, EMSGSIZE, "message of %u bytes exceeds %u",
				    (unsigned int)c->h.length, CTL_MAX_REQUEST);
			return;
		}
		c->payload = malloc(c->h.length ? c->h.length : 1);
		if (!c->payload) {
			conn_drop(c, "out of memory");
			return;
		}
		c->payload_got = 0;
	}
	if (c->payload_got < c->h.length) {
		n = recv(c->fd, c->payload + c->payload_got, c->h.length - c->payload_got,
			 MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			conn_drop(c, "hung up mid-message");
			return;
		}
		if (n < 0)
			return;
		c->payload_got += (size_t)n;
		if (c->payload_got < c->h.length)
			return;
	}
	conn_handle_message(c);
	(void)srv;
}

static bool peer_allowed(const struct ucred *cred)
{
	return cred->uid == 0 || cred->uid == geteuid();
}

static void accept_clients(struct ctl_server *srv)
{
	for (;;) {
		struct epoll_event ev = { .events = EPOLLIN };
		socklen_t len = sizeof(struct ucred);
		struct ctl_conn *c;
		int fd = accept4(srv->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			    errno != ECONNABORTED)
				rt_warn("control: accept: %s", strerror(errno));
			return;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			return;
		}
		c->srv = srv;
		c->fd = fd;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c->cred, &len) < 0) {
			c->cred.pid = -1;
			c->cred.uid = (uid_t)-1;
		}
		ev.data.ptr = c;
		if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			close(fd);
			free(c);
			continue;
		}
		c->events = EPOLLIN;
		c->next = srv->conns;
		srv->conns = c;
		srv->nclients++;
		c->deadline_ms = now_ms() + srv->timeout_ms;
		if (!peer_allowed(&c->cred))
			conn_refuse(c, 0, EACCES, "uid %u may not control this daemon",
				    (unsigned int)c->cred.uid);
		else if (srv->nclients > srv->max_clients)
			conn_refuse(c, 0, EBUSY, "too many clients (%u)", srv->max_clients);
	}
}

static void expire_clients(struct ctl_server *srv)
{
	uint64_t now = now_ms(), expirations;
	struct ctl_conn *c, *next;

	if (read(srv->timer_fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
		rt_warn("control: timerfd: %s", strerror(errno));
	for (c = srv->conns; c; c = next) {
		next = c->next;
		if (c->deadline_ms && c->deadline_ms <= now)
			conn_drop(c, c->out_len ? "not reading its reply" :
				     c->hdr_got ? "stalled mid-message" :
						  NULL /* idle: a normal end */);
	}
}

int ctl_server_dispatch(struct ctl_server *srv)
{
	struct epoll_event events[EVENTS_PER_DISPATCH];
	int n, i;

	n = epoll_wait(srv->epfd, events, EVENTS_PER_DISPATCH, 0);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (i = 0; i < n; i++) {
		struct ctl_conn *c;

		if (events[i].data.u64 == TOKEN_LISTEN) {
			accept_clients(srv);
			continue;
		}
		if (events[i].data.u64 == TOKEN_TIMER) {
			expire_clients(srv);
			continue;
		}
		c = events[i].data.ptr;
		if (c->dead)
			continue;
		if (events[i].events & EPOLLOUT)
			conn_flush(c);
		else if (events[i].events & EPOLLIN)
			conn_readable(c);
		else if (events[i].events & (EPOLLHUP | EPOLLERR))
			conn_drop(c, NULL); /* gone while its request was deferred */
	}
	reap_zombies(srv);
	rearm_timer(srv);
	return 0;
}

void ctl_request_complete(struct ctl_request *req, int err)
{
	struct ctl_server *srv = req->conn ? req->conn->srv : NULL;

	if (err > 0)
		err = -EIO;
	request_finish(req, err);
	if (srv)
		rearm_timer(srv); /* zombies wait for the next dispatch: we may be inside one */
}

void ctl_request_set_message(struct ctl_request *req, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(req->reply.message, sizeof(req->reply.message), fmt, ap);
	va_end(ap);
}

pid_t ctl_request_peer_pid(const struct ctl_request *req)
{
	return req->peer_pid;
}

int ctl_server_fd(const struct ctl_server *srv)
{
	return srv->epfd;
}

unsigned int ctl_server_clients(const struct ctl_server *srv)
{
	return srv->nclients;
}

static int listen_on(struct ctl_server *srv, const char *path, unsigned int mode)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	strcpy(srv->path, path);
	/* a socket left by a crashed daemon with our pid is stale; anything else is not ours */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return -EEXIST;
		unlink(path);
	}
	srv->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (srv->listen_fd < 0)
		return -errno;
	if (bind(srv->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	/* before listen(): until then a connect is refused, so the default mode is never used */
	if (chmod(path, mode) < 0 || listen(srv->listen_fd, 16) < 0) {
		int err = -errno;

		unlink(path);
		return err;
	}
	return 0;
}

int ctl_server_create(const struct ctl_server_config *cfg, const struct ctl_handlers *h,
		      void *opaque, struct ctl_server **out)
{
	struct epoll_event lev = { .events = EPOLLIN, .data.u64 = TOKEN_LISTEN };
	struct epoll_event tev = { .events = EPOLLIN, .data.u64 = TOKEN_TIMER };
	struct ctl_server *srv;
	int err;

	*out = NULL;
	if (!cfg || !cfg->path || !h)
		return -EINVAL;
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return -ENOMEM;
	srv->epfd = srv->listen_fd = srv->timer_fd = -1;
	srv->h = h;
	srv->opaque = opaque;
	srv->max_clients = cfg->max_clients ? cfg->max_clients : 16;
	srv->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : 10000;
	err = listen_on(srv, cfg->path, cfg->mode ? cfg->mode : 0600);
	if (err) {
		srv->path[0] = '\0'; /* not ours to unlink */
		goto fail;
	}
	srv->epfd = epoll_create1(EPOLL_CLOEXEC);
	srv->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (srv->epfd < 0 || srv->timer_fd < 0 ||
	    epoll_ctl(srv->epfd, EPOLL_CTL_ADD, srv->listen_fd, &lev) < 0 ||
	    epoll_ctl(srv->epfd, EPOLL_CTL_ADD, srv->timer_fd, &tev) < 0) {
		err = -errno;
		goto fail;
	}
	*out = srv;
	return 0;
fail:
	ctl_server_destroy(srv);
	return err;
}

void ctl_server_destroy(struct ctl_server *srv)
{
	if (!srv)
		return;
	while (srv->conns)
		conn_drop(srv->conns, NULL); /* deferred requests become orphans the daemon frees */
	reap_zombies(srv);
	if (srv->listen_fd >= 0) {
		close(srv->listen_fd);
		if (srv->path[0])
			unlink(srv->path);
	}
	if (srv->timer_fd >= 0)
		close(srv->timer_fd);
	if (srv->epfd >= 0)
		close(srv->epfd);
	free(srv);
}
