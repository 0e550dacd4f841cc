/* The control server a daemon embeds: the control protocol on the socket-server core
 * (lib/util/sockserver.h), which owns the listening socket, the clients, their deadlines and
 * the buffered replies. Each client is a small state machine (read header → read payload →
 * handler → write reply); a client that misbehaves is dropped alone. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/ctl/codec.h"
#include "lib/util/sockserver.h"
#include "ringtap/ctl.h"
#include "ringtap/log.h"

struct ctl_conn {
	struct sock_conn sc; /* first: the core allocates and frees the connection */
	struct ctl_server *srv;
	bool closing; /* drop once the queued reply is written */
	struct ucred cred;
	uint8_t hdr[CTL_HEADER_SIZE];
	size_t hdr_got;
	struct ctl_header h;
	uint8_t *payload;
	size_t payload_got;
	struct ctl_request *pending; /* a deferred request: stop reading until it completes */
};

struct ctl_request {
	struct ctl_conn *conn; /* NULL once the client has gone */
	pid_t peer_pid;
	struct ctl_msg msg;
	struct ctl_reply reply;
};

struct ctl_server {
	struct sock_server *core;
	const struct ctl_handlers *h;
	void *opaque;
	unsigned int max_clients;
};

static struct ctl_conn *ctl_conn_of(struct sock_conn *sc)
{
	return sock_conn_container(sc, struct ctl_conn, sc);
}

static void conn_drop(struct ctl_conn *c, const char *why)
{
	sock_conn_drop(&c->sc, why);
}

/* The core dropped the client: a deferred request outlives it. */
static void conn_dropped(struct sock_conn *sc)
{
	struct ctl_conn *c = ctl_conn_of(sc);

	if (c->pending) {
		c->pending->conn = NULL; /* the daemon still owns it and completes it later */
		c->pending = NULL;
	}
	free(c->payload);
	c->payload = NULL;
}

/* Watches exactly the events the connection's state calls for: its reply, else a message. */
static void conn_update_events(struct ctl_conn *c)
{
	bool out = sock_conn_buffered(&c->sc) > 0;

	sock_conn_watch(&c->sc, !out && !c->pending && !c->closing, out);
}

/* Writes what it can of the queued reply; drops the client when closing is done. */
static void conn_flush(struct ctl_conn *c)
{
	sock_conn_flush(&c->sc);
	if (c->sc.dead)
		return;
	if (!sock_conn_buffered(&c->sc) && c->closing) {
		conn_drop(c, NULL); /* reads what the client sent, so that it gets the reply */
		return;
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
	err = sock_conn_queue(&c->sc, buf, len);
	free(buf);
	if (err)
		return; /* dropped */
	sock_conn_restart_deadline(&c->sc); /* the client must read it in time */
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

	rt_debug("control: %s from pid %d: %s%s%s", ctl_msg_name(req->reply.type),
		 (int)req->peer_pid, err ? strerror(-err) : "done", req->reply.message[0] ? ": " : "",
		 req->reply.message);
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
	case CTL_MSG_LOG_LEVEL:
		return h->log_level ? h->log_level(o, req, &m->u.log_level, &out->log_level) :
				      -EOPNOTSUPP;
	default:
		return -EOPNOTSUPP;
	}
}

static void conn_handle_message(struct ctl_conn *c)
{
	struct ctl_request *req = calloc(1, sizeof(*req));
	char reason[CTL_MESSAGE_MAX];
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
	c->sc.deadline_ms = 0; /* the handler decides how long it takes */
	/* the first error the handler's callees log is the failure's reason, unless it gave one */
	rt_log_capture_begin(reason, sizeof(reason));
	err = call_handler(c->srv, req);
	rt_log_capture_end();
	if (err < 0 && !strstr(reason, req->reply.message[0] ? req->reply.message : "\n"))
		snprintf(req->reply.reason, sizeof(req->reply.reason), "%s", reason);
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

/* Reads more of buf[*got, want): whether all of it is there (else wait, or the client is gone). */
static bool conn_fill(struct ctl_conn *c, uint8_t *buf, size_t *got, size_t want)
{
	ssize_t n = sock_conn_recv(&c->sc, buf + *got, want - *got);

	if (n == -EAGAIN)
		return false;
	if (n <= 0) {
		conn_drop(c, c->hdr_got ? "hung up mid-message" : NULL);
		return false;
	}
	*got += (size_t)n;
	return *got == want;
}

/* Reads what is available of one message; at most one message is handled per call. */
static void conn_readable(struct ctl_conn *c)
{
	int err;

	if (c->pending || c->closing || sock_conn_buffered(&c->sc))
		return;
	if (c->hdr_got < CTL_HEADER_SIZE) {
		if (!conn_fill(c, c->hdr, &c->hdr_got, CTL_HEADER_SIZE))
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
	if (c->payload_got < c->h.length && !conn_fill(c, c->payload, &c->payload_got, c->h.length))
		return;
	conn_handle_message(c);
}

static bool peer_allowed(const struct ucred *cred)
{
	return cred->uid == 0 || cred->uid == geteuid();
}

static void conn_accepted(struct sock_conn *sc, bool over_limit)
{
	struct ctl_conn *c = ctl_conn_of(sc);
	socklen_t len = sizeof(struct ucred);

	c->srv = sock_server_opaque(sc->srv);
	if (getsockopt(sc->fd, SOL_SOCKET, SO_PEERCRED, &c->cred, &len) < 0) {
		c->cred.pid = -1; /* refused below: an unknown peer is nobody we trust */
		c->cred.uid = (uid_t)-1;
	}
	snprintf(sc->peer, sizeof(sc->peer), "pid %d", (int)c->cred.pid);
	if (!peer_allowed(&c->cred))
		conn_refuse(c, 0, EACCES, "uid %u may not control this daemon",
			    (unsigned int)c->cred.uid);
	else if (over_limit)
		conn_refuse(c, 0, EBUSY, "too many clients (%u)", c->srv->max_clients);
}

static const char *conn_expired(struct sock_conn *sc)
{
	struct ctl_conn *c = ctl_conn_of(sc);

	return sock_conn_buffered(sc) ? "not reading its reply" :
	       c->hdr_got	      ? "stalled mid-message" :
					NULL /* idle: a normal end */;
}

static void conn_ready(struct sock_conn *sc, uint32_t events)
{
	struct ctl_conn *c = ctl_conn_of(sc);

	if (events & EPOLLOUT)
		conn_flush(c);
	else if (events & EPOLLIN)
		conn_readable(c);
	else if (events & (EPOLLHUP | EPOLLERR))
		conn_drop(c, NULL); /* gone while its request was deferred */
}

static const struct sock_server_ops ctl_sock_ops = {
	.accepted = conn_accepted,
	.ready = conn_ready,
	.expired = conn_expired,
	.dropped = conn_dropped,
};

void ctl_request_complete(struct ctl_request *req, int err)
{
	struct ctl_server *srv = req->conn ? req->conn->srv : NULL;

	if (err > 0)
		err = -EIO;
	request_finish(req, err);
	if (srv)
		sock_server_rearm(srv->core); /* its reply has a deadline now */
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
	return sock_server_fd(srv->core);
}

int ctl_server_dispatch(struct ctl_server *srv)
{
	return sock_server_dispatch(srv->core);
}

unsigned int ctl_server_clients(const struct ctl_server *srv)
{
	return sock_server_clients(srv->core);
}

int ctl_server_create(const struct ctl_server_config *cfg, const struct ctl_handlers *h,
		      void *opaque, struct ctl_server **out)
{
	struct sock_server_config sc = { .log_name = "control",
					 .conn_size = sizeof(struct ctl_conn),
					 .admit_over_limit = true };
	struct ctl_server *srv;
	int err;

	*out = NULL;
	if (!cfg || !cfg->path || !h)
		return -EINVAL;
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return -ENOMEM;
	srv->h = h;
	srv->opaque = opaque;
	srv->max_clients = cfg->max_clients ? cfg->max_clients : 16;
	sc.path = cfg->path;
	sc.mode = cfg->mode;
	sc.max_clients = srv->max_clients;
	sc.timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : 10000;
	err = sock_server_create(&sc, &ctl_sock_ops, srv, &srv->core);
	if (!err)
		*out = srv;
	else
		free(srv);
	return err;
}

void ctl_server_destroy(struct ctl_server *srv)
{
	if (srv) /* deferred requests become orphans the daemon frees */
		sock_server_destroy(srv->core);
	free(srv);
}
