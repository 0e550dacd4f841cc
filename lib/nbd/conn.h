/* The NBD server's internals shared by its three parts: server.c (the NBD layer on the
 * socket-server core, lib/util/sockserver.h: buffered input, reply output, the ready list, idle
 * eviction), handshake.c (option haggling) and transmission.c (requests, callbacks,
 * completions). Not a public interface. */
#ifndef RT_NBD_CONN_H
#define RT_NBD_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/nbd/proto.h"
#include "lib/util/sockserver.h"
#include "ringtap/nbd.h"

/* Input buffer: holds the longest option with its header, and batches small requests. */
#define NBD_IN_BUF_SIZE (16u * 1024)
_Static_assert(NBD_IN_BUF_SIZE >= NBD_OPT_HEADER_SIZE + NBD_OPT_MAX_LEN, "options fit");

enum nbd_conn_state {
	NBD_CONN_CLIENT_FLAGS, /* greeting sent; reading the client's u32 flags */
	NBD_CONN_OPT_HEADER,
	NBD_CONN_OPT_DATA, /* waiting for the whole option payload in the input buffer */
	NBD_CONN_OPT_DISCARD, /* skipping an oversized option, then NBD_REP_ERR_TOO_BIG */
	NBD_CONN_REQ_HEADER,
	NBD_CONN_REQ_BLOCKED, /* a request header waits for room in the client's budget */
	NBD_CONN_REQ_PAYLOAD, /* receiving a WRITE's data into cur->buf */
	NBD_CONN_REQ_DISCARD, /* skipping a refused WRITE's data; cur carries the error */
	NBD_CONN_CLOSING, /* ABORT or DISC: no more input; closes once replies are out */
};

enum nbd_req_phase {
	NBD_REQ_RECEIVING, /* WRITE payload still arriving */
	NBD_REQ_IO, /* handed to the embedder's callback */
	NBD_REQ_FUA_WAIT, /* I/O done; the flush for FUA is to be started by dispatch */
	NBD_REQ_FUA, /* the FUA flush is in flight */
	NBD_REQ_REPLY, /* queued for sending */
};

struct nbd_conn;

struct nbd_request {
	struct nbd_conn *conn; /* NULL once the server is destroyed: completion just frees */
	struct nbd_request *prev, *next; /* in exactly one of the conn's lists, or none */
	struct nbd_req_header h;
	enum nbd_req_phase phase;
	uint32_t error; /* NBD error of the reply */
	uint8_t *buf; /* READ/WRITE data (page-aligned, for O_DIRECT images) */
	uint32_t buf_len;
	uint32_t got; /* WRITE payload bytes received or discarded */
	size_t sent; /* reply bytes (header, then data) written */
	uint8_t reply[NBD_SIMPLE_REPLY_SIZE];
	void *priv; /* the embedder's area, allocated with the request */
};

struct nbd_req_list {
	struct nbd_request *head, *tail;
};

struct nbd_conn {
	/* first: the core owns the socket, the handshake deadline (sc.deadline_ms, 0 in
	 * transmission) and the handshake output (greeting, option replies) buffered in it;
	 * sc.dead: socket closed, freed once no request of it is in flight */
	struct sock_conn sc;
	struct nbd_server *srv;
	struct nbd_conn *ready_next;
	bool on_ready;
	enum nbd_conn_state state;
	bool fixed_newstyle, no_zeroes;
	/* passed with nbd_server_adopt (XAPI's storage migration), old-style or not: NBD_CMD_DISC
	 * with nothing in flight restarts the handshake, as blktap3's server does */
	bool adopted, oldstyle;
	unsigned int nr_options;
	uint64_t active_ms; /* in transmission: when it last had a request in flight */

	uint8_t in[NBD_IN_BUF_SIZE];
	size_t in_start, in_end;
	bool eof;

	struct nbd_opt_header opt; /* the option being read or discarded */
	uint64_t discard_left;

	struct nbd_req_header pending; /* REQ_BLOCKED: the header waiting for budget */
	struct nbd_request *cur; /* REQ_PAYLOAD / REQ_DISCARD */

	struct nbd_req_list inflight; /* handed to callbacks */
	struct nbd_req_list fua; /* waiting for their FUA flush to be started */
	struct nbd_req_list replies; /* to send, in completion order */
	unsigned int nr_reqs; /* requests allocated for this client (all lists, and cur) */
	size_t req_bytes; /* their buffers */
};

struct nbd_server {
	struct sock_server *core;
	struct nbd_export exp; /* name and description point at the copies below */
	char *name, *description;
	struct nbd_limits lim;
	struct nbd_ops ops;
	void *opaque;
	unsigned int idle_timeout_ms;
	size_t max_inflight_bytes, priv_size;
	struct nbd_conn *ready;
	unsigned int inflight;
	/* nbd_server_adopt: the connection being adopted, and whether it is old-style */
	bool adopting, adopting_oldstyle;
};

/* server.c */
static inline uint64_t nbd_now_ms(void)
{
	return sock_now_ms();
}
/* Makes the server's fd readable so that the embedder calls dispatch (work queued outside it). */
static inline void nbd_server_kick(struct nbd_server *srv)
{
	sock_server_kick(srv->core);
}
static inline void nbd_conn_drop(struct nbd_conn *c, const char *why)
{
	sock_conn_drop(&c->sc, why);
}
/* Queues conn for work in the next dispatch (flush, buffered input, FUA flushes). */
void nbd_conn_mark_ready(struct nbd_conn *c);
/* Appends handshake bytes to the output. 0 or -ENOMEM (then the conn is dropped). */
static inline int nbd_conn_queue(struct nbd_conn *c, const void *data, size_t len)
{
	return sock_conn_queue(&c->sc, data, len);
}
/* Bytes buffered; nbd_conn_in_need() reads from the socket until n are, contiguous. */
static inline size_t nbd_conn_in_avail(const struct nbd_conn *c)
{
	return c->in_end - c->in_start;
}
bool nbd_conn_in_need(struct nbd_conn *c, size_t n);
/* Receives into dst, from the input buffer first: bytes stored (0: nothing available). */
size_t nbd_conn_in_read(struct nbd_conn *c, void *dst, size_t len);

void nbd_list_append(struct nbd_req_list *l, struct nbd_request *r);
void nbd_list_remove(struct nbd_req_list *l, struct nbd_request *r);

/* Return value of a state step: progress was made (run again) or it must wait. */
enum nbd_step { NBD_STEP_AGAIN, NBD_STEP_WAIT };

/* handshake.c */
int nbd_handshake_start(struct nbd_conn *c);
/* The old-style greeting, then transmission at once. */
int nbd_handshake_start_oldstyle(struct nbd_conn *c);
/* An adopted connection's NBD_CMD_DISC with nothing in flight: its handshake again. */
int nbd_handshake_restart(struct nbd_conn *c);
enum nbd_step nbd_handshake_step(struct nbd_conn *c);

/* transmission.c */
enum nbd_step nbd_transmission_step(struct nbd_conn *c);
/* Starts the flushes of completed FUA requests. */
void nbd_transmission_start_fua(struct nbd_conn *c);
void nbd_request_free(struct nbd_request *r);

#endif
