/* The NBD client on tapdisk's loop (src/nbd_client.h): lib/nbd's client, its socket watched
 * for what the client needs (input always, output while commands wait to be sent, or the
 * connect and handshake of a non-blocking start). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ringtap/nbd.h"
#include "src/loop.h"
#include "src/nbd_client.h"

#define DISCONNECT_TIMEOUT_MS 2000

struct td_nbdc {
	struct td_loop *loop;
	struct nbd_client *nc;
	struct td_loop_file file;
	td_nbdc_dead_fn dead;
	td_nbdc_ready_fn ready; /* a non-blocking start's: the handshake is done */
	void *data;
	bool failed;
};

static void failed(struct td_nbdc *c, const char *why)
{
	if (c->failed)
		return;
	c->failed = true;
	td_loop_file_del(c->loop, &c->file);
	c->dead(c->data, why);
}

static void watch(struct td_nbdc *c)
{
	uint32_t ev = nbd_client_events(c->nc);

	if (!c->failed && ev != c->file.events && td_loop_file_mod(c->loop, &c->file, ev) < 0)
		failed(c, "cannot watch the socket");
}

static void on_event(struct td_loop *loop, int fd, uint32_t events, void *data)
{
	struct td_nbdc *c = data;
	bool was_ready = nbd_client_ready(c->nc);
	char why[200];

	if (nbd_client_dispatch(c->nc, events, why, sizeof(why)) < 0) {
		failed(c, why);
		return;
	}
	watch(c);
	if (!was_ready && nbd_client_ready(c->nc) && c->ready)
		c->ready(c->data);
}

/* Watches a client lib/nbd created (consumed: closed on failure). */
static int adopt(struct td_loop *loop, struct nbd_client *nc, td_nbdc_ready_fn ready,
		 td_nbdc_dead_fn dead, void *data, struct td_nbdc **out, char *why, size_t why_len)
{
	struct td_nbdc *c = calloc(1, sizeof(*c));
	int err = c ? 0 : -ENOMEM;

	*out = NULL;
	if (c)
		err = td_loop_file_add(loop, &c->file, nbd_client_fd(nc), nbd_client_events(nc),
				       on_event, c);
	if (err) {
		snprintf(why, why_len, "cannot watch the socket: %s", strerror(-err));
		nbd_client_close(nc, false, 0);
		free(c);
		return err;
	}
	c->loop = loop;
	c->nc = nc;
	c->ready = ready;
	c->dead = dead;
	c->data = data;
	*out = c;
	return 0;
}

int td_nbdc_connect(struct td_loop *loop, int fd, const struct nbd_client_opts *opts,
		    unsigned int timeout_ms, td_nbdc_dead_fn dead, void *data, struct td_nbdc **out,
		    char *why, size_t why_len)
{
	struct nbd_client *nc;
	int err = nbd_client_connect(fd, opts, timeout_ms, &nc, why, why_len);

	*out = NULL;
	return err ? err : adopt(loop, nc, NULL, dead, data, out, why, why_len);
}

int td_nbdc_start(struct td_loop *loop, int fd, const struct nbd_client_opts *opts,
		  td_nbdc_ready_fn ready, td_nbdc_dead_fn dead, void *data, struct td_nbdc **out,
		  char *why, size_t why_len)
{
	struct nbd_client *nc;
	int err = nbd_client_start(fd, opts, true, &nc, why, why_len);

	*out = NULL;
	return err ? err : adopt(loop, nc, ready, dead, data, out, why, why_len);
}

void td_nbdc_info(const struct td_nbdc *c, struct td_nbdc_info *info)
{
	struct nbd_client_info ni;

	nbd_client_info(c->nc, &ni);
	info->size = ni.size;
	/* NBD_FLAG_HAS_FLAGS and each flag */
	info->can_flush = (ni.eflags & 0x1) && (ni.eflags & 0x4); /* SEND_FLUSH */
	info->readonly = (ni.eflags & 0x1) && (ni.eflags & 0x2); /* READ_ONLY */
	info->can_trim = (ni.eflags & 0x1) && (ni.eflags & 0x20); /* SEND_TRIM */
	info->can_write_zeroes = (ni.eflags & 0x1) && (ni.eflags & 0x40); /* SEND_WRITE_ZEROES */
	info->structured = ni.structured;
	info->min_block = ni.min_block;
	info->max_block = ni.max_block;
	info->protocol = ni.oldstyle ? "oldstyle" : "newstyle";
}

void td_nbdc_kick(struct td_nbdc *c)
{
	char why[200];

	if (c->failed)
		return;
	if (nbd_client_send(c->nc, why, sizeof(why)) < 0)
		failed(c, why); /* the commands are in flight: written off with the others */
	else
		watch(c);
}

static int queued(struct td_nbdc *c, int err)
{
	if (err)
		return err;
	td_nbdc_kick(c);
	return 0;
}

int td_nbdc_readv(struct td_nbdc *c, const struct iovec *iov, int iovcnt, size_t skip, uint32_t len,
		  uint64_t offset, td_nbdc_done_fn done, void *data)
{
	if (c->failed)
		return -ENOTCONN;
	return nbd_client_readv(c->nc, iov, iovcnt, skip, len, offset, done, data);
}

int td_nbdc_writev(struct td_nbdc *c, const struct iovec *iov, int iovcnt, size_t skip,
		   uint32_t len, uint64_t offset, td_nbdc_done_fn done, void *data)
{
	if (c->failed)
		return -ENOTCONN;
	return nbd_client_writev(c->nc, iov, iovcnt, skip, len, offset, done, data);
}

int td_nbdc_discard(struct td_nbdc *c, uint32_t len, uint64_t offset, td_nbdc_done_fn done,
		    void *data)
{
	int err;

	if (c->failed)
		return -ENOTCONN;
	err = nbd_client_trim(c->nc, len, offset, done, data);
	if (err == -EOPNOTSUPP) /* zeroes where the server has no trim, a hole allowed */
		err = nbd_client_write_zeroes(c->nc, len, offset, true, done, data);
	return err;
}

int td_nbdc_poll(struct td_nbdc *c)
{
	if (c->failed || !nbd_client_ready(c->nc))
		return -ENOTCONN;
	on_event(c->loop, nbd_client_fd(c->nc), EPOLLIN, c);
	return 0;
}

int td_nbdc_pwrite(struct td_nbdc *c, const void *buf, size_t len, uint64_t offset,
		   td_nbdc_done_fn done, void *data)
{
	if (c->failed)
		return -ENOTCONN;
	if (len > UINT32_MAX)
		return -EINVAL;
	return queued(c, nbd_client_write(c->nc, buf, (uint32_t)len, offset, done, data));
}

int td_nbdc_flush(struct td_nbdc *c, td_nbdc_done_fn done, void *data)
{
	if (c->failed)
		return -ENOTCONN;
	return queued(c, nbd_client_flush(c->nc, done, data));
}

int td_nbdc_flush_queued(struct td_nbdc *c, td_nbdc_done_fn done, void *data)
{
	if (c->failed)
		return -ENOTCONN;
	return nbd_client_flush(c->nc, done, data);
}

unsigned int td_nbdc_inflight(const struct td_nbdc *c)
{
	return nbd_client_inflight(c->nc);
}

void td_nbdc_close(struct td_nbdc *c, bool disconnect)
{
	if (!c)
		return;
	td_loop_file_del(c->loop, &c->file);
	nbd_client_close(c->nc, disconnect && !c->failed, DISCONNECT_TIMEOUT_MS);
	free(c);
}
