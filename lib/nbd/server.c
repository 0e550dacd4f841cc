/* The NBD server an event loop embeds (ringtap/nbd.h): the listening Unix socket, its clients, a
 * handshake deadline timer and a wake-up eventfd behind one nested epoll fd, buffered input and
 * output per client, and the dispatch that drives each client's state machine without blocking.
 * A client that misbehaves is dropped alone; one idle past its deadline yields its slot. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "lib/nbd/conn.h"
#include "ringtap/log.h"

/* epoll tokens other than client pointers (never 1, 2 or 3) */
#define TOKEN_LISTEN 1u
#define TOKEN_TIMER 2u
#define TOKEN_KICK 3u
#define EVENTS_PER_DISPATCH 32
/* Steps one client may take per dispatch before the others get their turn. */
#define STEPS_PER_TURN 64
#define IOV_PER_FLUSH 64
#define ACCEPTS_PER_DISPATCH 8

uint64_t nbd_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void nbd_list_append(struct nbd_req_list *l, struct nbd_request *r)
{
	r->next = NULL;
	r->prev = l->tail;
	if (l->tail)
		l->tail->next = r;
	else
		l->head = r;
	l->tail = r;
}

void nbd_list_remove(struct nbd_req_list *l, struct nbd_request *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		l->head = r->next;
	if (r->next)
		r->next->prev = r->prev;
	else
		l->tail = r->prev;
	r->prev = r->next = NULL;
}

void nbd_server_kick(struct nbd_server *srv)
{
	uint64_t one = 1;

	if (srv->kicked)
		return;
	if (write(srv->kick_fd, &one, sizeof(one)) == (ssize_t)sizeof(one))
		srv->kicked = true;
}

void nbd_conn_mark_ready(struct nbd_conn *c)
{
	struct nbd_server *srv = c->srv;

	if (c->dead)
		return;
	if (!c->on_ready) {
		c->on_ready = true;
		c->ready_next = srv->ready;
		srv->ready = c;
	}
	if (!srv->dispatching)
		nbd_server_kick(
			srv); /* completions from the embedder's loop: come back through dispatch */
}

static void ready_remove(struct nbd_conn *c)
{
	struct nbd_conn **pp;

	if (!c->on_ready)
		return;
	for (pp = &c->srv->ready; *pp; pp = &(*pp)->ready_next)
		if (*pp == c) {
			*pp = c->ready_next;
			break;
		}
	c->on_ready = false;
}

static void free_list(struct nbd_req_list *l)
{
	while (l->head) {
		struct nbd_request *r = l->head;

		nbd_list_remove(l, r);
		nbd_request_free(r);
	}
}

/* Before closing: a Unix socket closed with unread input resets the peer, which would lose the
 * replies just sent (NBD_OPT_ABORT's ACK, DISC's last replies); read and discard, bounded. */
static void discard_input(int fd)
{
	uint8_t buf[4096];
	size_t total = 0;
	ssize_t n;

	shutdown(fd, SHUT_WR);
	while (total < 1024 * 1024 && (n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
		total += (size_t)n;
}

void nbd_conn_drop(struct nbd_conn *c, const char *why)
{
	struct nbd_server *srv = c->srv;
	struct nbd_conn **pp;

	if (c->dead)
		return;
	if (why)
		rt_warn("nbd %s: dropping client: %s", srv->path, why);
	else
		discard_input(c->fd);
	epoll_ctl(srv->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	c->dead = true;
	ready_remove(c);
	/* what is not in the embedder's hands goes now; in-flight requests keep the conn alive */
	if (c->cur) {
		nbd_request_free(c->cur);
		c->cur = NULL;
	}
	free_list(&c->fua);
	free_list(&c->replies);
	free(c->hs_out);
	c->hs_out = NULL;
	c->hs_len = c->hs_off = c->hs_cap = 0;
	for (pp = &srv->conns; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	c->next = srv->zombies;
	srv->zombies = c;
	srv->nclients--;
	nbd_server_kick(srv); /* reap it once its requests are done */
}

int nbd_conn_queue(struct nbd_conn *c, const void *data, size_t len)
{
	if (c->hs_len + len > c->hs_cap) {
		size_t cap = c->hs_cap ? c->hs_cap : 256;
		uint8_t *p;

		while (cap < c->hs_len + len)
			cap *= 2;
		p = realloc(c->hs_out, cap);
		if (!p) {
			nbd_conn_drop(c, "out of memory");
			return -ENOMEM;
		}
		c->hs_out = p;
		c->hs_cap = cap;
	}
	memcpy(c->hs_out + c->hs_len, data, len);
	c->hs_len += len;
	return 0;
}

/* recv() that drops the client on EOF or error: bytes read, or 0 when nothing is available
 * (or the client is gone: check c->dead). */
static size_t conn_recv(struct nbd_conn *c, void *dst, size_t len)
{
	ssize_t n;

	if (c->dead || c->eof || !len)
		return 0;
	do
		n = recv(c->fd, dst, len, MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n > 0)
		return (size_t)n;
	if (n == 0) {
		c->eof = true;
		/* a clean end between messages is normal; in the middle of one it is not */
		nbd_conn_drop(c, nbd_conn_in_avail(c) || c->cur ? "hung up mid-message" : NULL);
	} else if (errno != EAGAIN && errno != EWOULDBLOCK) {
		nbd_conn_drop(c, NULL);
	}
	return 0;
}

bool nbd_conn_in_need(struct nbd_conn *c, size_t n)
{
	size_t avail = nbd_conn_in_avail(c);

	if (avail >= n)
		return true;
	if (c->in_start + n > NBD_IN_BUF_SIZE) {
		memmove(c->in, c->in + c->in_start, avail);
		c->in_start = 0;
		c->in_end = avail;
	}
	c->in_end += conn_recv(c, c->in + c->in_end, NBD_IN_BUF_SIZE - c->in_end);
	return nbd_conn_in_avail(c) >= n;
}

size_t nbd_conn_in_read(struct nbd_conn *c, void *dst, size_t len)
{
	size_t avail = nbd_conn_in_avail(c);

	if (avail) {
		size_t n = avail < len ? avail : len;

		if (dst)
			memcpy(dst, c->in + c->in_start, n);
		c->in_start += n;
		if (c->in_start == c->in_end)
			c->in_start = c->in_end = 0;
		return n;
	}
	if (dst)
		return conn_recv(c, dst, len); /* large payloads skip the input buffer */
	c->in_end = conn_recv(c, c->in, NBD_IN_BUF_SIZE); /* discarding: through the buffer */
	return c->in_end ? nbd_conn_in_read(c, NULL, len) : 0;
}

static bool in_handshake(const struct nbd_conn *c)
{
	return c->state <= NBD_CONN_OPT_DISCARD;
}

/* The client is finished (ABORT, DISC) once nothing is in flight and everything is sent. */
static bool conn_finished(const struct nbd_conn *c)
{
	return c->state == NBD_CONN_CLOSING && !c->nr_reqs && c->hs_off == c->hs_len;
}

static void conn_update_events(struct nbd_conn *c)
{
	struct epoll_event ev = { .data.ptr = c };

	if (c->dead)
		return;
	ev.events = 0;
	if (c->hs_off < c->hs_len || c->replies.head)
		ev.events |= EPOLLOUT;
	/* the handshake is lock-step: no new option is read while a reply is unsent */
	if (c->state != NBD_CONN_CLOSING && c->state != NBD_CONN_REQ_BLOCKED &&
	    !(in_handshake(c) && c->hs_off < c->hs_len))
		ev.events |= EPOLLIN;
	if (ev.events != c->events) {
		epoll_ctl(c->srv->epfd, EPOLL_CTL_MOD, c->fd, &ev);
		c->events = ev.events;
	}
}

/* Writes handshake bytes, then queued replies (header and data), as far as the socket takes. */
static void conn_flush(struct nbd_conn *c)
{
	bool answered = false;

	while (!c->dead && (c->hs_off < c->hs_len || c->replies.head)) {
		struct iovec iov[IOV_PER_FLUSH];
		struct nbd_request *r;
		bool partial = false;
		int n = 0;
		ssize_t sent;

		if (c->hs_off < c->hs_len)
			iov[n++] = (struct iovec){ c->hs_out + c->hs_off, c->hs_len - c->hs_off };
		for (r = c->replies.head; r && n < IOV_PER_FLUSH - 1; r = r->next) {
			size_t data = (r->h.type == NBD_CMD_READ && !r->error) ? r->buf_len : 0;

			if (r->sent < NBD_SIMPLE_REPLY_SIZE) {
				iov[n++] = (struct iovec){ r->reply + r->sent,
							   NBD_SIMPLE_REPLY_SIZE - r->sent };
				if (data)
					iov[n++] = (struct iovec){ r->buf, data };
			} else {
				size_t off = r->sent - NBD_SIMPLE_REPLY_SIZE;

				iov[n++] = (struct iovec){ r->buf + off, data - off };
			}
		}
		do
			sent = sendmsg(c->fd, &(struct msghdr){ .msg_iov = iov, .msg_iovlen = n },
				       MSG_NOSIGNAL | MSG_DONTWAIT);
		while (sent < 0 && errno == EINTR);
		if (sent < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				nbd_conn_drop(c, NULL); /* the client went away */
			break;
		}
		if (c->hs_off < c->hs_len) {
			size_t k = c->hs_len - c->hs_off;

			if ((size_t)sent < k) {
				c->hs_off += (size_t)sent;
				break;
			}
			sent -= (ssize_t)k;
			c->hs_off = c->hs_len = 0;
		}
		while ((r = c->replies.head) && sent > 0) {
			size_t data = (r->h.type == NBD_CMD_READ && !r->error) ? r->buf_len : 0;
			size_t left = NBD_SIMPLE_REPLY_SIZE + data - r->sent;

			if ((size_t)sent < left) {
				r->sent += (size_t)sent;
				partial = true;
				break;
			}
			sent -= (ssize_t)left;
			nbd_list_remove(&c->replies, r);
			nbd_request_free(r);
			answered = true;
		}
		if (partial)
			break; /* the socket is full */
	}
	if (answered)
		c->active_ms = nbd_now_ms();
	if (!c->dead && conn_finished(c))
		nbd_conn_drop(c, NULL);
}

/* Runs the client's state machine over buffered and available input, a bounded number of steps,
 * then sends what it produced. */
static void conn_run(struct nbd_conn *c)
{
	unsigned int steps;

	nbd_transmission_start_fua(c);
	for (steps = 0; steps < STEPS_PER_TURN && !c->dead; steps++) {
		enum nbd_step s;

		if (in_handshake(c)) {
			if (c->hs_off < c->hs_len)
				break; /* lock-step */
			s = nbd_handshake_step(c);
		} else {
			s = nbd_transmission_step(c);
		}
		if (s == NBD_STEP_WAIT)
			break;
	}
	if (c->dead)
		return;
	if (c->nr_reqs && !in_handshake(c))
		c->active_ms = nbd_now_ms();
	if (steps == STEPS_PER_TURN)
		nbd_conn_mark_ready(c); /* more buffered input: after the others */
	conn_flush(c);
	conn_update_events(c);
}

/* In transmission with nothing in flight, nothing to send and no request being received. */
static bool conn_idle(const struct nbd_conn *c)
{
	return c->state == NBD_CONN_REQ_HEADER && !c->nr_reqs && c->hs_off == c->hs_len;
}

/* Drops the client idle the longest if it is idle past the deadline: whether a slot was freed. */
static bool evict_idle_client(struct nbd_server *srv)
{
	uint64_t now = nbd_now_ms();
	struct nbd_conn *c, *oldest = NULL;
	char why[96];

	for (c = srv->conns; c; c = c->next)
		if (conn_idle(c) && now - c->active_ms >= srv->idle_timeout_ms &&
		    (!oldest || c->active_ms < oldest->active_ms))
			oldest = c;
	if (!oldest)
		return false;
	snprintf(why, sizeof(why), "idle for %llu ms, its slot goes to a new client",
		 (unsigned long long)(now - oldest->active_ms));
	nbd_conn_drop(oldest, why);
	return true;
}

/* A client that reconnects as soon as it hangs up must not keep the server accepting before it
 * has seen the hang-ups (which free slots): a bounded number of connections per dispatch, and a
 * connection that finds every slot taken waits for the next dispatch (its events first) before
 * it is refused. */
static void accept_clients(struct nbd_server *srv)
{
	unsigned int n;

	for (n = 0; n < ACCEPTS_PER_DISPATCH; n++) {
		struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT };
		bool waited = srv->waiting_fd >= 0;
		int fd = waited ? srv->waiting_fd :
				  accept4(srv->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct nbd_conn *c;

		srv->waiting_fd = -1;
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			    errno != ECONNABORTED)
				rt_warn("nbd %s: accept: %s", srv->path, strerror(errno));
			return;
		}
		if (srv->nclients >= srv->max_clients && !evict_idle_client(srv)) {
			if (!waited) {
				srv->waiting_fd = fd;
				nbd_server_kick(srv);
				return;
			}
			rt_warn("nbd %s: refusing a client: %u connected already", srv->path,
				srv->nclients);
			close(fd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			return;
		}
		c->srv = srv;
		c->fd = fd;
		ev.data.ptr = c;
		if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			close(fd);
			free(c);
			continue;
		}
		c->events = ev.events;
		c->next = srv->conns;
		srv->conns = c;
		srv->nclients++;
		c->deadline_ms = nbd_now_ms() + srv->handshake_timeout_ms;
		if (nbd_handshake_start(c) == 0)
			conn_flush(c);
		conn_update_events(c);
	}
}

static void rearm_timer(struct nbd_server *srv)
{
	struct itimerspec its = { 0 };
	uint64_t earliest = 0;
	struct nbd_conn *c;

	for (c = srv->conns; c; c = c->next)
		if (c->deadline_ms && (!earliest || c->deadline_ms < earliest))
			earliest = c->deadline_ms;
	if (earliest == srv->timer_ms)
		return; /* the common case in transmission: no syscall per dispatch */
	srv->timer_ms = earliest;
	if (earliest) {
		its.it_value.tv_sec = (time_t)(earliest / 1000);
		its.it_value.tv_nsec = (long)(earliest % 1000) * 1000000;
	}
	timerfd_settime(srv->timer_fd, TFD_TIMER_ABSTIME, &its, NULL);
}

static void expire_clients(struct nbd_server *srv)
{
	uint64_t now = nbd_now_ms(), expirations;
	struct nbd_conn *c, *next;

	if (read(srv->timer_fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
		rt_warn("nbd %s: timerfd: %s", srv->path, strerror(errno));
	srv->timer_ms = 0; /* fired: disarmed */
	for (c = srv->conns; c; c = next) {
		next = c->next;
		if (c->deadline_ms && c->deadline_ms <= now)
			nbd_conn_drop(c, "handshake not finished in time");
	}
}

static void reap_zombies(struct nbd_server *srv)
{
	struct nbd_conn **pp = &srv->zombies;

	while (*pp) {
		struct nbd_conn *c = *pp;

		if (c->nr_reqs) { /* requests still with the embedder */
			pp = &c->next;
			continue;
		}
		*pp = c->next;
		free(c);
	}
}

static void run_ready(struct nbd_server *srv)
{
	struct nbd_conn *list = srv->ready;

	srv->ready = NULL;
	while (list) {
		struct nbd_conn *c = list;

		list = c->ready_next;
		c->on_ready = false;
		conn_run(c);
	}
}

int nbd_server_dispatch(struct nbd_server *srv)
{
	struct epoll_event events[EVENTS_PER_DISPATCH];
	bool accepting = false;
	uint64_t val;
	int n, i;

	n = epoll_wait(srv->epfd, events, EVENTS_PER_DISPATCH, 0);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	srv->dispatching = true;
	for (i = 0; i < n; i++) {
		struct nbd_conn *c;

		switch (events[i].data.u64) {
		case TOKEN_LISTEN: /* after the hang-ups of this batch have freed their slots */
			accepting = true;
			continue;
		case TOKEN_TIMER:
			expire_clients(srv);
			continue;
		case TOKEN_KICK:
			if (read(srv->kick_fd, &val, sizeof(val)) < 0 && errno != EAGAIN)
				rt_warn("nbd %s: eventfd: %s", srv->path, strerror(errno));
			srv->kicked = false;
			continue;
		default:
			break;
		}
		c = events[i].data.ptr;
		if (c->dead)
			continue;
		if (events[i].events & EPOLLOUT)
			conn_flush(c);
		if (!c->dead && (events[i].events & EPOLLIN))
			conn_run(c);
		else if (!c->dead)
			conn_update_events(c);
		/* a peer gone for good: whatever it left unread cannot be answered */
		if (!c->dead && (events[i].events & (EPOLLHUP | EPOLLERR)))
			nbd_conn_drop(c, NULL);
	}
	if (accepting || srv->waiting_fd >= 0)
		accept_clients(srv);
	run_ready(srv);
	reap_zombies(srv);
	rearm_timer(srv);
	srv->dispatching = false;
	if (srv->ready || srv->zombies)
		nbd_server_kick(srv);
	return 0;
}

int nbd_server_fd(const struct nbd_server *srv)
{
	return srv->epfd;
}

unsigned int nbd_server_clients(const struct nbd_server *srv)
{
	return srv->nclients;
}

unsigned int nbd_server_inflight(const struct nbd_server *srv)
{
	return srv->inflight;
}

const char *nbd_server_path(const struct nbd_server *srv)
{
	return srv->path;
}

static int copy_string(char **dst, const char *src)
{
	char *s = strdup(src ? src : "");

	if (!s)
		return -ENOMEM;
	free(*dst);
	*dst = s;
	return 0;
}

int nbd_server_set_export(struct nbd_server *srv, const struct nbd_export *exp)
{
	int err;

	if (!exp || (exp->flags & ~NBD_EXPORT_ALL_FLAGS) || (exp->size & (srv->lim.min_block - 1)))
		return -EINVAL;
	if ((exp->name && strlen(exp->name) > NBD_MAX_NAME) ||
	    (exp->description && strlen(exp->description) > NBD_MAX_NAME))
		return -EINVAL;
	err = copy_string(&srv->name, exp->name);
	if (!err && exp->description)
		err = copy_string(&srv->description, exp->description);
	if (err)
		return err;
	if (!exp->description) {
		free(srv->description);
		srv->description = NULL;
	}
	srv->exp = *exp;
	srv->exp.name = srv->name;
	srv->exp.description = srv->description;
	srv->lim.size = exp->size;
	srv->lim.export_flags = exp->flags;
	return 0;
}

static int listen_on(struct nbd_server *srv, const char *path, unsigned int mode)
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
		unlink(path);
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

static int add_token(struct nbd_server *srv, int fd, uint64_t token)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = token };

	return epoll_ctl(srv->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

static int check_config(const struct nbd_server_config *cfg, const struct nbd_ops *ops)
{
	uint32_t min_block = cfg->min_block ? cfg->min_block : 1;
	uint32_t max_request = cfg->max_request ? cfg->max_request : NBD_DEFAULT_MAX_REQUEST;

	if (!cfg->path || !ops || !ops->read || !ops->write)
		return -EINVAL;
	if ((min_block & (min_block - 1)) || min_block > NBD_PREFERRED_BLOCK ||
	    max_request < min_block || (max_request & (min_block - 1)))
		return -EINVAL;
	if (cfg->priv_size > 64 * 1024)
		return -EINVAL;
	return 0;
}

int nbd_server_create(const struct nbd_server_config *cfg, const struct nbd_export *exp,
		      const struct nbd_ops *ops, void *opaque, struct nbd_server **out)
{
	struct nbd_server *srv;
	int err;

	*out = NULL;
	if (!cfg || !exp)
		return -EINVAL;
	err = check_config(cfg, ops);
	if (err)
		return err;
	if ((exp->flags & NBD_EXPORT_FLUSH && !ops->flush) ||
	    (exp->flags & NBD_EXPORT_TRIM && !ops->trim) ||
	    (exp->flags & NBD_EXPORT_WRITE_ZEROES && !ops->write_zeroes))
		return -EINVAL;
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return -ENOMEM;
	srv->epfd = srv->listen_fd = srv->timer_fd = srv->kick_fd = srv->waiting_fd = -1;
	srv->ops = *ops;
	srv->opaque = opaque;
	srv->max_clients = cfg->max_clients ? cfg->max_clients : 16;
	srv->handshake_timeout_ms = cfg->handshake_timeout_ms ? cfg->handshake_timeout_ms : 10000;
	srv->idle_timeout_ms = cfg->idle_timeout_ms ? cfg->idle_timeout_ms : 60000;
	srv->priv_size = cfg->priv_size;
	srv->lim.min_block = cfg->min_block ? cfg->min_block : 1;
	srv->lim.max_request = cfg->max_request ? cfg->max_request : NBD_DEFAULT_MAX_REQUEST;
	srv->max_inflight_bytes = cfg->max_inflight_bytes ? cfg->max_inflight_bytes :
							    2 * (size_t)srv->lim.max_request;
	if (srv->max_inflight_bytes < srv->lim.max_request)
		srv->max_inflight_bytes = srv->lim.max_request;
	err = nbd_server_set_export(srv, exp);
	if (err)
		goto fail;
	err = listen_on(srv, cfg->path, cfg->mode ? cfg->mode : 0600);
	if (err)
		goto fail;
	srv->epfd = epoll_create1(EPOLL_CLOEXEC);
	srv->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	srv->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (srv->epfd < 0 || srv->timer_fd < 0 || srv->kick_fd < 0) {
		err = -errno;
		goto fail;
	}
	err = add_token(srv, srv->listen_fd, TOKEN_LISTEN);
	if (!err)
		err = add_token(srv, srv->timer_fd, TOKEN_TIMER);
	if (!err)
		err = add_token(srv, srv->kick_fd, TOKEN_KICK);
	if (err)
		goto fail;
	*out = srv;
	return 0;
fail:
	nbd_server_destroy(srv);
	return err;
}

/* Requests still with the embedder outlive their client and the server: orphaned, they are
 * freed by their completion. */
static void orphan_requests(struct nbd_conn *c)
{
	struct nbd_request *r;

	while ((r = c->inflight.head)) {
		nbd_list_remove(&c->inflight, r);
		r->conn = NULL;
	}
}

void nbd_server_destroy(struct nbd_server *srv)
{
	if (!srv)
		return;
	while (srv->conns)
		nbd_conn_drop(srv->conns, NULL);
	while (srv->zombies) {
		struct nbd_conn *c = srv->zombies;

		srv->zombies = c->next;
		orphan_requests(c);
		free(c);
	}
	if (srv->listen_fd >= 0)
		close(srv->listen_fd);
	if (srv->waiting_fd >= 0)
		close(srv->waiting_fd);
	if (srv->path[0])
		unlink(srv->path);
	if (srv->timer_fd >= 0)
		close(srv->timer_fd);
	if (srv->kick_fd >= 0)
		close(srv->kick_fd);
	if (srv->epfd >= 0)
		close(srv->epfd);
	free(srv->name);
	free(srv->description);
	free(srv);
}

int nbd_socket_path(const char *run_dir, pid_t pid, int minor, char *buf, size_t size)
{
	int n = snprintf(buf, size, "%s/nbd%d.%d", run_dir, (int)pid, minor);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}
