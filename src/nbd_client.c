/* The NBD client on tapdisk's loop (src/nbd_client.h): lib/nbd's client, its socket watched
 * for what the client needs (input always, output while commands wait to be sent). */
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
	char why[160];

	if (nbd_client_dispatch(c->nc, events, why, sizeof(why)) < 0)
		failed(c, why);
	else
		watch(c);
}

int td_nbdc_connect(struct td_loop *loop, int fd, unsigned int timeout_ms, td_nbdc_dead_fn dead,
		    void *data, struct td_nbdc **out, char *why, size_t why_len)
{
	struct td_nbdc *c = calloc(1, sizeof(*c));
	int err;

	*out = NULL;
	if (!c) {
		snprintf(why, why_len, "out of memory");
		close(fd);
		return -ENOMEM;
	}
	c->loop = loop;
	c->dead = dead;
	c->data = data;
	err = nbd_client_handshake(fd, timeout_ms, &c->nc, why, why_len);
	if (!err) {
		err = td_loop_file_add(loop, &c->file, nbd_client_fd(c->nc),
				       nbd_client_events(c->nc), on_event, c);
		if (err) {
			snprintf(why, why_len, "cannot watch the socket: %s", strerror(-err));
			nbd_client_close(c->nc, false, 0);
		}
	}
	if (err) {
		free(c);
		return err;
	}
	*out = c;
	return 0;
}

void td_nbdc_info(const struct td_nbdc *c, struct td_nbdc_info *info)
{
	struct nbd_client_info ni;

	nbd_client_info(c->nc, &ni);
	info->size = ni.size;
	info->can_flush = (ni.eflags & 0x1) && (ni.eflags & 0x4); /* HAS_FLAGS, SEND_FLUSH */
	info->protocol = ni.oldstyle ? "oldstyle" : "newstyle";
}

static int queued(struct td_nbdc *c, int err)
{
	char why[160];

	if (err)
		return err;
	if (nbd_client_send(c->nc, why, sizeof(why)) < 0)
		failed(c, why); /* the command is in flight: written off with the others */
	else
		watch(c);
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
