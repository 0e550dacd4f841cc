/* The NBD client on tapdisk's loop (src/nbd_client.h): a libnbd handle whose socket the loop
 * watches in the direction libnbd asks for (refreshed before each sleep), completions delivered
 * through libnbd's callbacks. */
#include <errno.h>
#include <libnbd.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ringtap/log.h"
#include "src/loop.h"
#include "src/nbd_client.h"

/* blktap3's client's export name (its server ignores names; so does ringtap's) */
#define TD_NBDC_EXPORT_NAME "tapdisk_client"
#define DISCONNECT_TIMEOUT_MS 2000

struct td_nbdc {
	struct td_loop *loop;
	struct nbd_handle *h;
	struct td_loop_file file;
	struct td_loop_hook hook;
	td_nbdc_dead_fn dead;
	void *data;
	bool dead_told;
	bool closing; /* completions are no longer delivered */
	unsigned int inflight;
};

struct cmd {
	struct td_nbdc *c;
	td_nbdc_done_fn done;
	void *data;
};

static uint32_t wanted_events(struct nbd_handle *h)
{
	unsigned int dir = nbd_aio_get_direction(h);

	return ((dir & LIBNBD_AIO_DIRECTION_READ) ? EPOLLIN : 0) |
	       ((dir & LIBNBD_AIO_DIRECTION_WRITE) ? EPOLLOUT : 0);
}

static void tell_dead(struct td_nbdc *c, const char *why)
{
	if (c->dead_told)
		return;
	c->dead_told = true;
	td_loop_file_del(c->loop, &c->file);
	if (c->dead)
		c->dead(c->data, why);
}

static void on_event(struct td_loop *loop, int fd, uint32_t events, void *data)
{
	struct td_nbdc *c = data;
	int rc = 0;

	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		rc = nbd_aio_notify_read(c->h);
	if (rc == 0 && (events & EPOLLOUT) && (nbd_aio_get_direction(c->h) &
					       LIBNBD_AIO_DIRECTION_WRITE))
		rc = nbd_aio_notify_write(c->h);
	if (rc < 0 || nbd_aio_is_dead(c->h) || nbd_aio_is_closed(c->h)) {
		const char *err = nbd_get_error();

		tell_dead(c, err && *err ? err : "the server closed the connection");
	}
}

/* Before sleeping: watch the socket in the direction libnbd now needs. */
static bool refresh_events(struct td_loop *loop, void *data)
{
	struct td_nbdc *c = data;
	uint32_t ev;

	if (c->dead_told || !c->file.registered)
		return false;
	ev = wanted_events(c->h);
	if (ev != c->file.events && td_loop_file_mod(loop, &c->file, ev) < 0)
		tell_dead(c, "cannot watch the socket");
	return false;
}

/* Runs libnbd's state machine on the socket until cond(h) stops holding, within timeout_ms. */
static int drive(struct nbd_handle *h, int (*cond)(struct nbd_handle *h), unsigned int timeout_ms)
{
	uint64_t end = td_loop_now_ns() + (uint64_t)timeout_ms * 1000000;
	int fd = nbd_aio_get_fd(h);

	while (cond(h) == 1) {
		uint64_t now = td_loop_now_ns();
		unsigned int dir = nbd_aio_get_direction(h);
		struct pollfd p = { .fd = fd };
		int n;

		if (now >= end)
			return -ETIMEDOUT;
		p.events = (short)(((dir & LIBNBD_AIO_DIRECTION_READ) ? POLLIN : 0) |
				   ((dir & LIBNBD_AIO_DIRECTION_WRITE) ? POLLOUT : 0));
		n = poll(&p, 1, (int)((end - now) / 1000000) + 1);
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n <= 0)
			continue;
		if ((p.revents & (POLLIN | POLLHUP | POLLERR)) && nbd_aio_notify_read(h) < 0)
			return -EPROTO;
		if ((p.revents & POLLOUT) && nbd_aio_notify_write(h) < 0)
			return -EPROTO;
	}
	return 0;
}

static int still_connecting(struct nbd_handle *h)
{
	return nbd_aio_is_connecting(h);
}

static int not_closed(struct nbd_handle *h)
{
	return !nbd_aio_is_closed(h) && !nbd_aio_is_dead(h);
}

int td_nbdc_connect(struct td_loop *loop, int fd, unsigned int timeout_ms, td_nbdc_dead_fn dead,
		    void *data, struct td_nbdc **out, char *why, size_t why_len)
{
	struct td_nbdc *c = calloc(1, sizeof(*c));
	int err = -ENOMEM;

	*out = NULL;
	if (!c || !(c->h = nbd_create())) {
		snprintf(why, why_len, "out of memory");
		close(fd);
		free(c);
		return -ENOMEM;
	}
	c->loop = loop;
	c->dead = dead;
	c->data = data;
	/* blktap3's client: FIXED_NEWSTYLE is left out so that libnbd sends NBD_OPT_EXPORT_NAME
	 * alone; old-style servers need nothing */
	if (nbd_set_handshake_flags(c->h, LIBNBD_HANDSHAKE_FLAG_NO_ZEROES) < 0 ||
	    nbd_set_request_structured_replies(c->h, false) < 0 ||
	    nbd_set_export_name(c->h, TD_NBDC_EXPORT_NAME) < 0 ||
	    nbd_aio_connect_socket(c->h, fd) < 0) {
		snprintf(why, why_len, "%s", nbd_get_error());
		err = -EINVAL;
		goto fail; /* the socket is the handle's once connect_socket was called */
	}
	err = drive(c->h, still_connecting, timeout_ms);
	if (err == -ETIMEDOUT) {
		snprintf(why, why_len, "no NBD handshake within %u ms", timeout_ms);
		goto fail;
	}
	if (err || nbd_aio_is_ready(c->h) != 1) {
		const char *e = nbd_get_error();

		snprintf(why, why_len, "NBD handshake failed: %s",
			 e && *e ? e : "the server closed the connection");
		err = -EPROTO;
		goto fail;
	}
	err = td_loop_file_add(loop, &c->file, nbd_aio_get_fd(c->h), wanted_events(c->h),
			       on_event, c);
	if (err) {
		snprintf(why, why_len, "cannot watch the socket: %s", strerror(-err));
		goto fail;
	}
	td_loop_hook_add(loop, &c->hook, refresh_events, c);
	*out = c;
	return 0;
fail:
	nbd_close(c->h); /* closes fd once given to it */
	free(c);
	return err;
}

void td_nbdc_info(const struct td_nbdc *c, struct td_nbdc_info *info)
{
	int64_t size = nbd_get_size(c->h);
	const char *p = nbd_get_protocol(c->h);

	info->size = size > 0 ? (uint64_t)size : 0;
	info->can_flush = nbd_can_flush(c->h) == 1;
	info->protocol = p ? p : "unknown";
}

/* libnbd's completion: the command's own callback, then it is retired (return 1). */
static int completed(void *user_data, int *error)
{
	struct cmd *cmd = user_data;

	cmd->c->inflight--;
	if (!cmd->c->closing)
		cmd->done(cmd->data, *error ? -*error : 0);
	return 1;
}

static nbd_completion_callback completion(struct td_nbdc *c, td_nbdc_done_fn done, void *data)
{
	struct cmd *cmd = malloc(sizeof(*cmd));

	if (!cmd)
		return NBD_NULL_COMPLETION;
	*cmd = (struct cmd){ c, done, data };
	return (nbd_completion_callback){ .callback = completed, .user_data = cmd, .free = free };
}

static int queued(struct td_nbdc *c, int64_t cookie)
{
	if (cookie < 0) {
		if (!c->dead_told)
			rt_warn("nbd client: %s", nbd_get_error());
		return nbd_get_errno() == ENOMEM ? -ENOMEM : -ENOTCONN;
	}
	c->inflight++;
	/* a socket too full to take the whole command now needs EPOLLOUT before the next sleep,
	 * which may come before the hook's next pass */
	refresh_events(c->loop, c);
	return 0;
}

int td_nbdc_pwrite(struct td_nbdc *c, const void *buf, size_t len, uint64_t offset,
		   td_nbdc_done_fn done, void *data)
{
	nbd_completion_callback cb;

	if (c->dead_told)
		return -ENOTCONN;
	cb = completion(c, done, data);
	if (!cb.callback)
		return -ENOMEM;
	return queued(c, nbd_aio_pwrite(c->h, buf, len, offset, cb, 0));
}

int td_nbdc_flush(struct td_nbdc *c, td_nbdc_done_fn done, void *data)
{
	nbd_completion_callback cb;

	if (c->dead_told)
		return -ENOTCONN;
	cb = completion(c, done, data);
	if (!cb.callback)
		return -ENOMEM;
	return queued(c, nbd_aio_flush(c->h, cb, 0));
}

unsigned int td_nbdc_inflight(const struct td_nbdc *c)
{
	return c->inflight;
}

void td_nbdc_close(struct td_nbdc *c, bool disconnect)
{
	if (!c)
		return;
	td_loop_hook_del(c->loop, &c->hook);
	td_loop_file_del(c->loop, &c->file);
	c->dead_told = true;
	if (disconnect && !c->inflight && nbd_aio_is_ready(c->h) == 1 &&
	    nbd_aio_disconnect(c->h, 0) == 0)
		drive(c->h, not_closed, DISCONNECT_TIMEOUT_MS);
	/* callbacks still pending are freed, not called: the caller has written them off */
	c->dead = NULL;
	c->closing = true;
	nbd_close(c->h);
	free(c);
}
