/* The NBD transmission phase: request headers are read and checked, admitted within the client's
 * budget (requests and buffer bytes), WRITE payloads received, valid requests handed to the
 * embedder's callbacks, completions turned into simple replies (with a flush first for FUA). */
#include <errno.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include "lib/nbd/conn.h"
#include "ringtap/log.h"

#define BUF_ALIGN 4096 /* O_DIRECT images need aligned buffers */

static struct nbd_request *request_alloc(struct nbd_conn *c, const struct nbd_req_header *h,
					 uint32_t buf_len)
{
	size_t off = (sizeof(struct nbd_request) + alignof(max_align_t) - 1) &
		     ~(alignof(max_align_t) - 1);
	struct nbd_request *r = calloc(1, off + c->srv->priv_size);
	void *buf = NULL;

	if (!r)
		return NULL;
	if (buf_len && posix_memalign(&buf, BUF_ALIGN, buf_len)) {
		free(r);
		return NULL;
	}
	r->conn = c;
	r->h = *h;
	r->buf = buf;
	r->buf_len = buf_len;
	r->priv = c->srv->priv_size ? (uint8_t *)r + off : NULL;
	c->nr_reqs++;
	c->req_bytes += buf_len;
	return r;
}

void nbd_request_free(struct nbd_request *r)
{
	struct nbd_conn *c = r->conn;

	if (c) {
		c->nr_reqs--;
		c->req_bytes -= r->buf_len;
		if (c->sc.dead) {
			if (!c->nr_reqs && !sock_server_dispatching(c->srv->core))
				nbd_server_kick(c->srv); /* the zombie can be freed */
		} else if (c->state == NBD_CONN_REQ_BLOCKED || c->state == NBD_CONN_CLOSING) {
			nbd_conn_mark_ready(c); /* room for the next request, or the end */
		}
	}
	free(r->buf);
	free(r);
}

static void queue_reply(struct nbd_conn *c, struct nbd_request *r)
{
	r->phase = NBD_REQ_REPLY;
	nbd_simple_reply_encode(r->reply, r->error, r->h.cookie);
	nbd_list_append(&c->replies, r);
}

static void hand_over(struct nbd_conn *c, struct nbd_request *r)
{
	nbd_list_append(&c->inflight, r);
	c->srv->inflight++;
}

/* A callback refused the request (-errno) without completing it. */
static void refused(struct nbd_conn *c, struct nbd_request *r, int err)
{
	nbd_list_remove(&c->inflight, r);
	c->srv->inflight--;
	if (err >= 0) {
		rt_err("nbd %s: a callback returned %d", nbd_server_path(c->srv), err);
		err = -EIO;
	}
	r->error = nbd_errno_to_wire(err);
	queue_reply(c, r);
}

static void submit(struct nbd_conn *c, struct nbd_request *r)
{
	struct nbd_server *srv = c->srv;
	const struct nbd_req_header *h = &r->h;
	void *o = srv->opaque;
	int err;

	r->phase = NBD_REQ_IO;
	hand_over(c, r);
	/* after a callback returns 0, r may already be completed: it is not touched again */
	switch (h->type) {
	case NBD_CMD_READ:
		err = srv->ops.read(o, r, h->offset, h->length, r->buf);
		break;
	case NBD_CMD_WRITE:
		err = srv->ops.write(o, r, h->offset, h->length, r->buf);
		break;
	case NBD_CMD_FLUSH:
		err = srv->ops.flush(o, r);
		break;
	case NBD_CMD_TRIM:
		err = srv->ops.trim(o, r, h->offset, h->length);
		break;
	case NBD_CMD_WRITE_ZEROES:
		err = srv->ops.write_zeroes(o, r, h->offset, h->length,
					    !(h->flags & NBD_CMD_FLAG_NO_HOLE));
		break;
	default: /* nbd_request_check let through only the commands above */
		err = -EINVAL;
		break;
	}
	if (err)
		refused(c, r, err);
}

void nbd_transmission_start_fua(struct nbd_conn *c)
{
	struct nbd_request *r;

	while (!c->sc.dead && (r = c->fua.head)) {
		int err;

		nbd_list_remove(&c->fua, r);
		r->phase = NBD_REQ_FUA;
		hand_over(c, r);
		err = c->srv->ops.flush(c->srv->opaque, r);
		if (err)
			refused(c, r, err);
	}
}

static bool admit(const struct nbd_conn *c, uint32_t buf_len)
{
	if (c->nr_reqs >= NBD_MAX_INFLIGHT)
		return false;
	/* one request of any admissible size always fits, so a big one cannot wait forever */
	return !buf_len || !c->req_bytes || c->req_bytes + buf_len <= c->srv->max_inflight_bytes;
}

/* The request header in c->pending, checked, admitted, and started (or answered). */
static enum nbd_step start_request(struct nbd_conn *c)
{
	const struct nbd_req_header *h = &c->pending;
	uint32_t err = nbd_request_check(h, &c->srv->lim);
	uint32_t payload = nbd_request_has_payload(h) ? h->length : 0;
	uint32_t buf_len = 0;
	struct nbd_request *r;

	if (!err && (h->type == NBD_CMD_READ || h->type == NBD_CMD_WRITE))
		buf_len = h->length;
	if (!admit(c, buf_len)) {
		c->state = NBD_CONN_REQ_BLOCKED;
		return NBD_STEP_WAIT;
	}
	r = request_alloc(c, h, buf_len);
	if (!r) {
		nbd_conn_drop(c, "out of memory");
		return NBD_STEP_WAIT;
	}
	r->error = err;
	if (payload) {
		/* a refused WRITE's data is read and dropped: the client stays in step */
		r->phase = NBD_REQ_RECEIVING;
		c->cur = r;
		c->state = err ? NBD_CONN_REQ_DISCARD : NBD_CONN_REQ_PAYLOAD;
		return NBD_STEP_AGAIN;
	}
	c->state = NBD_CONN_REQ_HEADER;
	if (err)
		queue_reply(c, r);
	else
		submit(c, r);
	return NBD_STEP_AGAIN;
}

static enum nbd_step receive_payload(struct nbd_conn *c)
{
	struct nbd_request *r = c->cur;
	bool keep = c->state == NBD_CONN_REQ_PAYLOAD;

	while (r->got < r->h.length) {
		size_t want = r->h.length - r->got;
		size_t n;

		if (!keep && want > NBD_IN_BUF_SIZE)
			want = NBD_IN_BUF_SIZE;
		n = nbd_conn_in_read(c, keep ? r->buf + r->got : NULL, want);
		if (!n)
			return NBD_STEP_WAIT; /* or the client is gone, and r with it */
		r->got += (uint32_t)n;
	}
	c->cur = NULL;
	c->state = NBD_CONN_REQ_HEADER;
	if (r->error)
		queue_reply(c, r);
	else
		submit(c, r);
	return NBD_STEP_AGAIN;
}

enum nbd_step nbd_transmission_step(struct nbd_conn *c)
{
	switch (c->state) {
	case NBD_CONN_REQ_HEADER:
		if (!nbd_conn_in_need(c, NBD_REQUEST_SIZE))
			return NBD_STEP_WAIT;
		if (nbd_request_decode(c->in + c->in_start, &c->pending)) {
			nbd_conn_drop(c, "bad request magic");
			return NBD_STEP_WAIT;
		}
		nbd_conn_in_read(c, NULL, NBD_REQUEST_SIZE);
		if (c->pending.type == NBD_CMD_DISC && c->adopted && !c->nr_reqs) {
			/* blktap3's client disconnects at a pause and negotiates again on the same
			 * socket at the unpause; one that hangs up instead just closes it */
			if (nbd_handshake_restart(c))
				return NBD_STEP_WAIT;
			return NBD_STEP_AGAIN;
		}
		if (c->pending.type == NBD_CMD_DISC) {
			/* replies of requests in flight are still sent, then the conn closes */
			c->state = NBD_CONN_CLOSING;
			return NBD_STEP_WAIT;
		}
		return start_request(c);
	case NBD_CONN_REQ_BLOCKED:
		return start_request(c);
	case NBD_CONN_REQ_PAYLOAD:
	case NBD_CONN_REQ_DISCARD:
		return receive_payload(c);
	default:
		return NBD_STEP_WAIT;
	}
}

void nbd_request_complete(struct nbd_request *r, int err)
{
	struct nbd_conn *c = r->conn;

	if (!c) { /* its server is gone */
		nbd_request_free(r);
		return;
	}
	if (r->phase != NBD_REQ_IO && r->phase != NBD_REQ_FUA) {
		rt_err("nbd %s: request completed twice", nbd_server_path(c->srv));
		return;
	}
	nbd_list_remove(&c->inflight, r);
	c->srv->inflight--;
	if (c->sc.dead) {
		nbd_request_free(r);
		return;
	}
	if (!err && r->phase == NBD_REQ_IO && (r->h.flags & NBD_CMD_FLAG_FUA)) {
		r->phase = NBD_REQ_FUA_WAIT; /* the flush starts from dispatch, not from here */
		nbd_list_append(&c->fua, r);
		nbd_conn_mark_ready(c);
		return;
	}
	if (err > 0)
		err = -EIO;
	r->error = nbd_errno_to_wire(err);
	queue_reply(c, r);
	nbd_conn_mark_ready(c);
}

void *nbd_request_priv(struct nbd_request *r)
{
	return r->priv;
}
