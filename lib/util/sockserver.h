/* The socket-server core under the control server (lib/ctl/server.c) and the NBD server
 * (lib/nbd/server.c): a listening Unix socket, its connections, their deadlines, a wake-up
 * eventfd and buffered output behind one nested epoll fd. The protocol layers on top decide
 * what a connection reads and writes; the core owns every socket, timer and epoll call.
 * Not a public interface: only the libraries use it. */
#ifndef RT_UTIL_SOCKSERVER_H
#define RT_UTIL_SOCKSERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

struct sock_server;

/* A connection, the first member of the protocol's own connection (cast back with
 * sock_conn_container). The protocol reads these fields; only deadline_ms it may also write. */
struct sock_conn {
	struct sock_server *srv;
	struct sock_conn *next; /* in the server's connections, or its zombies once dead */
	int fd;
	bool dead; /* closed; freed once reaped (see sock_server_ops.busy) */
	uint64_t deadline_ms; /* CLOCK_MONOTONIC ms at which it expires; 0: none */
	char peer[24]; /* how log lines name the peer ("pid 42"), empty when unknown */
	uint32_t events; /* registered epoll events */
	uint8_t *out; /* buffered output: out[out_off, out_len) is still to send */
	size_t out_len, out_off, out_cap;
};

#define sock_conn_container(c, type, member) ((type *)((char *)(c)-offsetof(type, member)))

struct sock_server_ops {
	/* A new connection, registered for input with a fresh deadline. over_limit: every slot is
	 * taken and sock_server_config.admit_over_limit is set; the protocol refuses it its way. */
	void (*accepted)(struct sock_conn *c, bool over_limit);
	/* The connection's epoll events (EPOLLIN, EPOLLOUT, EPOLLHUP, EPOLLERR). */
	void (*ready)(struct sock_conn *c, uint32_t events);
	/* Its deadline passed: why it is dropped (NULL: quietly). */
	const char *(*expired)(struct sock_conn *c);
	/* It was dropped: release what the protocol holds. */
	void (*dropped)(struct sock_conn *c);
	/* Optional: output beyond the buffer (segments the protocol owns): fills at most max
	 * iovecs, returns how many. out_sent() is told how many of those bytes were sent. */
	int (*out_iov)(struct sock_conn *c, struct iovec *iov, int max);
	void (*out_sent)(struct sock_conn *c, size_t n);
	/* Optional: every slot is taken; free one if the protocol may (whether it did). */
	bool (*make_room)(void *opaque);
	/* Optional: after each dispatch's events and accepts; whether work remains (the
	 * server's fd is then made readable again). */
	bool (*dispatched)(void *opaque);
	/* Optional: a dead connection stays (a zombie) while busy() says so. */
	bool (*busy)(const struct sock_conn *c);
	/* Optional: at destroy, a zombie still busy is freed; cut what points at it. */
	void (*abandon)(struct sock_conn *c);
};

struct sock_server_config {
	const char *path;
	unsigned int mode; /* the socket's permissions */
	const char *log_name; /* prefixes log lines: "control", "nbd /run/..." */
	size_t conn_size; /* the protocol's connection, struct sock_conn first */
	unsigned int max_clients;
	unsigned int timeout_ms; /* each new connection's deadline */
	/* Past the limit, admit a connection for the protocol to refuse (with a reply) rather
	 * than closing it. Either way it first waits one dispatch for a slot to free. */
	bool admit_over_limit;
};

/* 0 or a negative errno (nothing logged: the caller decides). */
int sock_server_create(const struct sock_server_config *cfg, const struct sock_server_ops *ops,
		       void *opaque, struct sock_server **out);
/* Serves fd, a connected socket accepted elsewhere (passed with SCM_RIGHTS), as a new
 * connection, even past max_clients. Consumed: closed on failure. 0 or a negative errno. */
int sock_server_adopt(struct sock_server *srv, int fd);
/* Drops every connection quietly, frees every zombie, unlinks the socket. */
void sock_server_destroy(struct sock_server *srv);
/* Handles what is ready, without blocking. 0 or a negative errno from epoll_wait. */
int sock_server_dispatch(struct sock_server *srv);
/* Arms the timer for the earliest deadline (dispatch does it; for changes made outside it). */
void sock_server_rearm(struct sock_server *srv);
/* Makes the server's fd readable so that the embedder dispatches (work queued outside it). */
void sock_server_kick(struct sock_server *srv);

int sock_server_fd(const struct sock_server *srv);
const char *sock_server_path(const struct sock_server *srv);
const char *sock_server_name(const struct sock_server *srv);
unsigned int sock_server_clients(const struct sock_server *srv);
bool sock_server_dispatching(const struct sock_server *srv);
void *sock_server_opaque(const struct sock_server *srv);
/* The live connections (follow ->next). */
struct sock_conn *sock_server_conns(const struct sock_server *srv);

uint64_t sock_now_ms(void);

/* Closes the connection (why != NULL: logged as the reason). A quiet drop first reads and
 * discards, bounded, what the peer sent: closing a Unix socket with unread input resets the
 * peer, which would lose the replies just sent. */
void sock_conn_drop(struct sock_conn *c, const char *why);
/* Registers for input and/or output (an epoll failure drops the connection). */
void sock_conn_watch(struct sock_conn *c, bool in, bool out);
/* The deadline: now + the server's timeout. */
void sock_conn_restart_deadline(struct sock_conn *c);
/* recv(): bytes read; 0 at end of file; -EAGAIN when nothing is available; another negative
 * errno on error. The caller decides whether to drop. */
ssize_t sock_conn_recv(struct sock_conn *c, void *dst, size_t len);
/* Appends to the buffered output. 0, or -ENOMEM once the connection is dropped. */
int sock_conn_queue(struct sock_conn *c, const void *data, size_t len);
/* Bytes buffered, not yet sent. */
static inline size_t sock_conn_buffered(const struct sock_conn *c)
{
	return c->out_len - c->out_off;
}
/* Sends the buffer then the protocol's segments, as far as the socket takes; a peer gone
 * is dropped quietly. */
void sock_conn_flush(struct sock_conn *c);

#endif
