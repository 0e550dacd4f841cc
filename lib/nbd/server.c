/* The NBD server an event loop embeds (ringtap/nbd.h): the NBD layer on the socket-server core
 * (lib/util/sockserver.h), which owns the listening socket, the clients, the handshake deadline
 * and the wake-up eventfd. Here: buffered input, reply output, the ready list, idle eviction and
 * the dispatch that drives each client's state machine without blocking. A client that
 * misbehaves is dropped alone; one idle past its deadline yields its slot. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/nbd/conn.h"
#include "ringtap/log.h"

/* Steps one client may take per dispatch before the others get their turn. */
#define STEPS_PER_TURN 64

static struct nbd_conn *nbd_conn_of(struct sock_conn *sc)
{
	return sock_conn_container(sc, struct nbd_conn, sc);
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

void nbd_conn_mark_ready(struct nbd_conn *c)
{
	struct nbd_server *srv = c->srv;

	if (c->sc.dead)
		return;
	if (!c->on_ready) {
		c->on_ready = true;
		c->ready_next = srv->ready;
		srv->ready = c;
	}
	/* completions from the embedder's loop: back through dispatch */
	if (!sock_server_dispatching(srv->core))
		nbd_server_kick(srv);
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

/* The core dropped the client: what is not in the embedder's hands goes now; in-flight requests
 * keep the conn alive (a zombie). */
static void conn_dropped(struct sock_conn *sc)
{
	struct nbd_conn *c = nbd_conn_of(sc);

	ready_remove(c);
	if (c->cur) {
		nbd_request_free(c->cur);
		c->cur = NULL;
	}
	free_list(&c->fua);
	free_list(&c->replies);
}

/* recv() that drops the client on EOF or error: bytes read, or 0 when nothing is available
 * (or the client is gone: check c->dead). */
static size_t conn_recv(struct nbd_conn *c, void *dst, size_t len)
{
	ssize_t n;

	if (c->sc.dead || c->eof || !len)
		return 0;
	n = sock_conn_recv(&c->sc, dst, len);
	if (n > 0)
		return (size_t)n;
	if (n == 0) {
		c->eof = true;
		/* a clean end between messages is normal; in the middle of one it is not */
		nbd_conn_drop(c, nbd_conn_in_avail(c) || c->cur ? "hung up mid-message" : NULL);
	} else if (n != -EAGAIN) {
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
	return c->state == NBD_CONN_CLOSING && !c->nr_reqs && !sock_conn_buffered(&c->sc);
}

static void conn_update_events(struct nbd_conn *c)
{
	bool handshake_out = sock_conn_buffered(&c->sc) > 0;

	/* the handshake is lock-step: no new option is read while a reply is unsent */
	sock_conn_watch(&c->sc,
			c->state != NBD_CONN_CLOSING && c->state != NBD_CONN_REQ_BLOCKED &&
				!(in_handshake(c) && handshake_out),
			handshake_out || c->replies.head);
}

static size_t reply_data_len(const struct nbd_request *r)
{
	return (r->h.type == NBD_CMD_READ && !r->error) ? r->buf_len : 0;
}

/* The queued replies (header and data), sent by the core after the handshake output. */
static int conn_reply_iov(struct sock_conn *sc, struct iovec *iov, int max)
{
	struct nbd_conn *c = nbd_conn_of(sc);
	struct nbd_request *r;
	int n = 0;

	for (r = c->replies.head; r && n < max - 1; r = r->next) {
		size_t data = reply_data_len(r);

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
	return n;
}

static void conn_reply_sent(struct sock_conn *sc, size_t sent)
{
	struct nbd_conn *c = nbd_conn_of(sc);
	struct nbd_request *r;
	bool answered = false;

	while ((r = c->replies.head) && sent > 0) {
		size_t left = NBD_SIMPLE_REPLY_SIZE + reply_data_len(r) - r->sent;

		if (sent < left) {
			r->sent += sent;
			break;
		}
		sent -= left;
		nbd_list_remove(&c->replies, r);
		nbd_request_free(r);
		answered = true;
	}
	if (answered)
		c->active_ms = nbd_now_ms();
}

/* Writes handshake bytes, then queued replies, as far as the socket takes. */
static void conn_flush(struct nbd_conn *c)
{
	sock_conn_flush(&c->sc);
	if (!c->sc.dead && conn_finished(c))
		nbd_conn_drop(c, NULL);
}

/* Runs the client's state machine over buffered and available input, a bounded number of steps,
 * then sends what it produced. */
static void conn_run(struct nbd_conn *c)
{
	unsigned int steps;

	nbd_transmission_start_fua(c);
	for (steps = 0; steps < STEPS_PER_TURN && !c->sc.dead; steps++) {
		enum nbd_step s;

		if (in_handshake(c)) {
			if (sock_conn_buffered(&c->sc))
				break; /* lock-step */
			s = nbd_handshake_step(c);
		} else {
			s = nbd_transmission_step(c);
		}
		if (s == NBD_STEP_WAIT)
			break;
	}
	if (c->sc.dead)
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
	return c->state == NBD_CONN_REQ_HEADER && !c->nr_reqs && !sock_conn_buffered(&c->sc);
}

/* Every slot is taken: drops the client idle the longest if it is idle past the deadline.
 * Whether a slot was freed. */
static bool evict_idle_client(void *opaque)
{
	struct nbd_server *srv = opaque;
	uint64_t now = nbd_now_ms();
	struct nbd_conn *oldest = NULL;
	struct sock_conn *sc;
	char why[96];

	for (sc = sock_server_conns(srv->core); sc; sc = sc->next) {
		struct nbd_conn *c = nbd_conn_of(sc);

		if (conn_idle(c) && now - c->active_ms >= srv->idle_timeout_ms &&
		    (!oldest || c->active_ms < oldest->active_ms))
			oldest = c;
	}
	if (!oldest)
		return false;
	snprintf(why, sizeof(why), "idle for %llu ms, its slot goes to a new client",
		 (unsigned long long)(now - oldest->active_ms));
	nbd_conn_drop(oldest, why);
	return true;
}

static void conn_accepted(struct sock_conn *sc, bool over_limit)
{
	struct nbd_conn *c = nbd_conn_of(sc);

	(void)over_limit; /* never: the core refuses beyond the limit */
	c->srv = sock_server_opaque(sc->srv);
	c->adopted = c->srv->adopting;
	c->oldstyle = c->srv->adopting_oldstyle;
	if ((c->oldstyle ? nbd_handshake_start_oldstyle : nbd_handshake_start)(c) == 0)
		conn_flush(c);
	conn_update_events(c);
}

static const char *conn_expired(struct sock_conn *sc)
{
	(void)sc; /* only the handshake has a deadline */
	return "handshake not finished in time";
}

static void conn_ready(struct sock_conn *sc, uint32_t events)
{
	struct nbd_conn *c = nbd_conn_of(sc);

	if (events & EPOLLOUT)
		conn_flush(c);
	if (!sc->dead && (events & EPOLLIN))
		conn_run(c);
	else if (!sc->dead)
		conn_update_events(c);
	/* a peer gone for good: whatever it left unread cannot be answered */
	if (!sc->dead && (events & (EPOLLHUP | EPOLLERR)))
		nbd_conn_drop(c, NULL);
}

static bool conn_busy(const struct sock_conn *sc)
{
	return sock_conn_container(sc, const struct nbd_conn, sc)->nr_reqs != 0;
}

/* Requests still with the embedder outlive their client and the server: orphaned, they are
 * freed by their completion. */
static void conn_abandon(struct sock_conn *sc)
{
	struct nbd_conn *c = nbd_conn_of(sc);
	struct nbd_request *r;

	while ((r = c->inflight.head)) {
		nbd_list_remove(&c->inflight, r);
		r->conn = NULL;
	}
}

/* After the events: the clients with more work (buffered input, completions, FUA flushes). */
static bool run_ready(void *opaque)
{
	struct nbd_server *srv = opaque;
	struct nbd_conn *list = srv->ready;

	srv->ready = NULL;
	while (list) {
		struct nbd_conn *c = list;

		list = c->ready_next;
		c->on_ready = false;
		conn_run(c);
	}
	return srv->ready != NULL;
}

static const struct sock_server_ops nbd_sock_ops = {
	.accepted = conn_accepted,
	.ready = conn_ready,
	.expired = conn_expired,
	.dropped = conn_dropped,
	.out_iov = conn_reply_iov,
	.out_sent = conn_reply_sent,
	.make_room = evict_idle_client,
	.dispatched = run_ready,
	.busy = conn_busy,
	.abandon = conn_abandon,
};

int nbd_server_fd(const struct nbd_server *srv)
{
	return sock_server_fd(srv->core);
}

int nbd_server_dispatch(struct nbd_server *srv)
{
	return sock_server_dispatch(srv->core);
}

int nbd_server_adopt(struct nbd_server *srv, int fd, bool oldstyle)
{
	int err;

	srv->adopting = true;
	srv->adopting_oldstyle = oldstyle;
	err = sock_server_adopt(srv->core, fd);
	srv->adopting = srv->adopting_oldstyle = false;
	if (!err)
		sock_server_rearm(srv->core); /* the handshake's deadline, outside a dispatch */
	return err;
}

unsigned int nbd_server_clients(const struct nbd_server *srv)
{
	return sock_server_clients(srv->core);
}

unsigned int nbd_server_inflight(const struct nbd_server *srv)
{
	return srv->inflight;
}

const char *nbd_server_path(const struct nbd_server *srv)
{
	return sock_server_path(srv->core);
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
	char log_name[sizeof(((struct sockaddr_un *)0)->sun_path) + 8];
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
	srv->ops = *ops;
	srv->opaque = opaque;
	srv->idle_timeout_ms = cfg->idle_timeout_ms ? cfg->idle_timeout_ms : 60000;
	srv->priv_size = cfg->priv_size;
	srv->lim.min_block = cfg->min_block ? cfg->min_block : 1;
	srv->lim.max_request = cfg->max_request ? cfg->max_request : NBD_DEFAULT_MAX_REQUEST;
	srv->max_inflight_bytes = cfg->max_inflight_bytes ? cfg->max_inflight_bytes :
							    2 * (size_t)srv->lim.max_request;
	if (srv->max_inflight_bytes < srv->lim.max_request)
		srv->max_inflight_bytes = srv->lim.max_request;
	err = nbd_server_set_export(srv, exp);
	if (!err) {
		struct sock_server_config sc = {
			.path = cfg->path,
			.mode = cfg->mode,
			.log_name = log_name,
			.conn_size = sizeof(struct nbd_conn),
			.max_clients = cfg->max_clients ? cfg->max_clients : 16,
			.timeout_ms = cfg->handshake_timeout_ms ? cfg->handshake_timeout_ms : 10000,
		};

		snprintf(log_name, sizeof(log_name), "nbd %s", cfg->path);
		err = sock_server_create(&sc, &nbd_sock_ops, srv, &srv->core);
	}
	if (err) {
		nbd_server_destroy(srv);
		return err;
	}
	*out = srv;
	return 0;
}

void nbd_server_destroy(struct nbd_server *srv)
{
	if (!srv)
		return;
	sock_server_destroy(srv->core); /* requests in flight become orphans */
	free(srv->name);
	free(srv->description);
	free(srv);
}

int nbd_socket_path(const char *run_dir, pid_t pid, int minor, char *buf, size_t size)
{
	int n = snprintf(buf, size, "%s/nbd%d.%d", run_dir, (int)pid, minor);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}
