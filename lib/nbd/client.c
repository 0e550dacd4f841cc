/* The NBD client (ringtap/nbd.h): blktap3's client handshake, done blocking with one deadline,
 * then a non-blocking transmission phase: commands queued as header + payload and sent as far as
 * the socket takes them (sendmsg of several at once), simple replies matched by cookie. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "lib/nbd/proto.h"
#include "ringtap/nbd.h"

/* blktap3's client sends this name, its NUL included */
static const char export_name[] = "tapdisk_client";
#define SEND_IOV 64

struct nbd_cmd {
	struct nbd_cmd *next; /* in `out` (to send) then `wait` (sent), or free */
	uint8_t hdr[NBD_REQUEST_SIZE];
	const void *buf;
	uint32_t len; /* payload */
	size_t sent; /* of header + payload */
	uint64_t cookie;
	nbd_client_done_fn done;
	void *data;
};

struct nbd_client {
	int fd;
	bool failed;
	struct nbd_client_info info;
	struct nbd_cmd *out, *out_tail; /* queued, the head maybe partly sent */
	struct nbd_cmd *wait; /* sent, waiting for their reply (any order) */
	struct nbd_cmd *free;
	unsigned int inflight;
	uint64_t next_cookie;
	uint8_t in[NBD_SIMPLE_REPLY_SIZE];
	size_t in_len;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Blocking I/O of exactly len bytes before the deadline: 0, -ETIMEDOUT, -ECONNRESET (EOF) or
 * the socket's error. */
static int xfer(int fd, void *buf, size_t len, bool out, uint64_t deadline)
{
	size_t done = 0;

	while (done < len) {
		struct pollfd p = { .fd = fd, .events = out ? POLLOUT : POLLIN };
		uint64_t now = now_ms();
		ssize_t n;

		if (now >= deadline)
			return -ETIMEDOUT;
		n = poll(&p, 1, (int)(deadline - now));
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n <= 0)
			continue;
		n = out ? send(fd, (char *)buf + done, len - done, MSG_NOSIGNAL | MSG_DONTWAIT) :
			  recv(fd, (char *)buf + done, len - done, MSG_DONTWAIT);
		if (n == 0 && !out)
			return -ECONNRESET;
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			return -errno;
		}
		done += (size_t)n;
	}
	return 0;
}

static int handshake(struct nbd_client *c, uint64_t deadline, char *why, size_t why_len)
{
	uint8_t b[NBD_OLDSTYLE_GREETING_SIZE];
	uint16_t gflags;
	uint32_t cflags = 0;
	int err;

	err = xfer(c->fd, b, 16, false, deadline);
	if (err)
		goto io;
	if (nbd_get64(b) != NBD_MAGIC) {
		snprintf(why, why_len, "the server's greeting is not NBDMAGIC");
		return -EPROTO;
	}
	if (nbd_get64(b + 8) == NBD_OLDSTYLE_MAGIC) {
		err = xfer(c->fd, b + 16, NBD_OLDSTYLE_GREETING_SIZE - 16, false, deadline);
		if (err)
			goto io;
		c->info.oldstyle = true;
		c->info.size = nbd_get64(b + 16);
		c->info.eflags = (uint16_t)nbd_get32(b + 24); /* u32 flags: the low 16 bits */
		return 0;
	}
	if (nbd_get64(b + 8) != NBD_IHAVEOPT) {
		snprintf(why, why_len, "the server speaks neither old-style nor newstyle NBD");
		return -EPROTO;
	}
	err = xfer(c->fd, b, 2, false, deadline);
	if (err)
		goto io;
	gflags = nbd_get16(b);
	/* blktap3 asks for both; a server that does not offer one is not asked for it */
	cflags = gflags & (NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
	nbd_put32(b, cflags);
	nbd_put64(b + 4, NBD_IHAVEOPT);
	nbd_put32(b + 12, NBD_OPT_EXPORT_NAME);
	nbd_put32(b + 16, sizeof(export_name));
	memcpy(b + 20, export_name, sizeof(export_name));
	err = xfer(c->fd, b, 20 + sizeof(export_name), true, deadline);
	if (!err)
		err = xfer(c->fd, b,
			   NBD_EXPORT_NAME_REPLY_SIZE +
				   ((cflags & NBD_FLAG_NO_ZEROES) ? 0 : NBD_EXPORT_NAME_PAD),
			   false, deadline);
	if (err)
		goto io;
	c->info.size = nbd_get64(b);
	c->info.eflags = nbd_get16(b + 8);
	return 0;
io:
	if (err == -ECONNRESET)
		snprintf(why, why_len, "the server hung up during the handshake");
	else if (err == -ETIMEDOUT)
		snprintf(why, why_len, "no NBD handshake in time");
	else
		snprintf(why, why_len, "NBD handshake: %s", strerror(-err));
	return err;
}

int nbd_client_handshake(int fd, unsigned int timeout_ms, struct nbd_client **out, char *why,
			 size_t why_len)
{
	struct nbd_client *c = calloc(1, sizeof(*c));
	int err;

	*out = NULL;
	if (!c) {
		close(fd);
		snprintf(why, why_len, "out of memory");
		return -ENOMEM;
	}
	c->fd = fd;
	c->next_cookie = 1;
	err = handshake(c, now_ms() + timeout_ms, why, why_len);
	if (err) {
		close(fd);
		free(c);
		return err;
	}
	*out = c;
	return 0;
}

void nbd_client_info(const struct nbd_client *c, struct nbd_client_info *info)
{
	*info = c->info;
}

int nbd_client_fd(const struct nbd_client *c)
{
	return c->fd;
}

uint32_t nbd_client_events(const struct nbd_client *c)
{
	if (c->failed)
		return 0;
	return EPOLLIN | (c->out ? EPOLLOUT : 0);
}

unsigned int nbd_client_inflight(const struct nbd_client *c)
{
	return c->inflight;
}

static int queue(struct nbd_client *c, uint16_t type, const void *buf, uint32_t len,
		 uint64_t offset, nbd_client_done_fn done, void *data)
{
	struct nbd_req_header h = { .type = type, .offset = offset, .length = len };
	struct nbd_cmd *cmd = c->free;

	if (c->failed)
		return -ENOTCONN;
	if (len > NBD_DEFAULT_MAX_REQUEST)
		return -EINVAL;
	if (cmd)
		c->free = cmd->next;
	else if (!(cmd = malloc(sizeof(*cmd))))
		return -ENOMEM;
	h.cookie = c->next_cookie++;
	nbd_request_encode(cmd->hdr, &h);
	cmd->next = NULL;
	cmd->buf = buf;
	cmd->len = type == NBD_CMD_WRITE ? len : 0;
	cmd->sent = 0;
	cmd->cookie = h.cookie;
	cmd->done = done;
	cmd->data = data;
	if (c->out_tail)
		c->out_tail->next = cmd;
	else
		c->out = cmd;
	c->out_tail = cmd;
	if (done)
		c->inflight++;
	return 0;
}

int nbd_client_write(struct nbd_client *c, const void *buf, uint32_t len, uint64_t offset,
		     nbd_client_done_fn done, void *data)
{
	return queue(c, NBD_CMD_WRITE, buf, len, offset, done, data);
}

int nbd_client_flush(struct nbd_client *c, nbd_client_done_fn done, void *data)
{
	return queue(c, NBD_CMD_FLUSH, NULL, 0, 0, done, data);
}

static void recycle(struct nbd_client *c, struct nbd_cmd *cmd)
{
	cmd->next = c->free;
	c->free = cmd;
}

/* Sends queued commands as far as the socket takes them. 0 or -errno. */
static int send_queued(struct nbd_client *c)
{
	while (c->out) {
		struct iovec iov[SEND_IOV];
		struct msghdr mh = { .msg_iov = iov };
		struct nbd_cmd *cmd;
		int n = 0;
		ssize_t sent;

		for (cmd = c->out; cmd && n < SEND_IOV - 1; cmd = cmd->next) {
			if (cmd->sent < NBD_REQUEST_SIZE) {
				iov[n++] = (struct iovec){ cmd->hdr + cmd->sent,
							   NBD_REQUEST_SIZE - cmd->sent };
				if (cmd->len)
					iov[n++] = (struct iovec){ (void *)cmd->buf, cmd->len };
			} else {
				size_t off = cmd->sent - NBD_REQUEST_SIZE;

				iov[n++] = (struct iovec){ (char *)cmd->buf + off, cmd->len - off };
			}
		}
		mh.msg_iovlen = (size_t)n;
		sent = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (sent < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		while ((cmd = c->out) && sent > 0) {
			size_t left = NBD_REQUEST_SIZE + cmd->len - cmd->sent;

			if ((size_t)sent < left) {
				cmd->sent += (size_t)sent;
				break;
			}
			sent -= (ssize_t)left;
			c->out = cmd->next;
			if (!c->out)
				c->out_tail = NULL;
			if (cmd->done) { /* DISC has no reply */
				cmd->next = c->wait;
				c->wait = cmd;
			} else {
				recycle(c, cmd);
			}
		}
		if (c->out && c->out->sent)
			return 0; /* the socket is full */
	}
	return 0;
}

/* One reply: its command's callback. 0, or -EPROTO for a reply to nothing. */
static int reply(struct nbd_client *c, char *why, size_t why_len)
{
	struct nbd_cmd **pp, *cmd;
	nbd_client_done_fn done;
	void *data;
	uint32_t error;
	uint64_t cookie;

	if (nbd_simple_reply_decode(c->in, &error, &cookie)) {
		snprintf(why, why_len, "a reply with a bad magic");
		return -EPROTO;
	}
	for (pp = &c->wait; *pp && (*pp)->cookie != cookie; pp = &(*pp)->next)
		;
	if (!(cmd = *pp)) {
		snprintf(why, why_len, "a reply to no request (cookie %llu)",
			 (unsigned long long)cookie);
		return -EPROTO;
	}
	*pp = cmd->next;
	c->inflight--;
	done = cmd->done;
	data = cmd->data;
	recycle(c, cmd);
	/* the spec's error values are Linux's errno values */
	done(data, error ? -(int)(error < 4096 ? error : NBD_EIO) : 0);
	return 0;
}

static int fail(struct nbd_client *c, int err, char *why, size_t why_len, const char *what)
{
	c->failed = true;
	if (what)
		snprintf(why, why_len, "%s", what);
	return err;
}

int nbd_client_send(struct nbd_client *c, char *why, size_t why_len)
{
	int err;

	if (c->failed)
		return fail(c, -ENOTCONN, why, why_len, "the connection failed before");
	err = send_queued(c);
	if (err) {
		snprintf(why, why_len, "send: %s", strerror(-err));
		return fail(c, err, why, why_len, NULL);
	}
	return 0;
}

int nbd_client_dispatch(struct nbd_client *c, uint32_t events, char *why, size_t why_len)
{
	int err = nbd_client_send(c, why, why_len);

	if (err)
		return err;
	for (;;) {
		ssize_t n = recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, MSG_DONTWAIT);

		if (n == 0)
			return fail(c, -ECONNRESET, why, why_len,
				    "the server closed the connection");
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			snprintf(why, why_len, "recv: %s", strerror(errno));
			return fail(c, -errno, why, why_len, NULL);
		}
		c->in_len += (size_t)n;
		if (c->in_len < sizeof(c->in))
			continue;
		c->in_len = 0;
		err = reply(c, why, why_len);
		if (err)
			return fail(c, err, why, why_len, NULL);
	}
	if (events & (EPOLLHUP | EPOLLERR))
		return fail(c, -ECONNRESET, why, why_len, "the connection was lost");
	return 0;
}

static void free_list(struct nbd_cmd *cmd)
{
	while (cmd) {
		struct nbd_cmd *next = cmd->next;

		free(cmd);
		cmd = next;
	}
}

void nbd_client_close(struct nbd_client *c, bool disconnect, unsigned int timeout_ms)
{
	if (!c)
		return;
	if (disconnect && !c->failed && !c->inflight && !c->out &&
	    queue(c, NBD_CMD_DISC, NULL, 0, 0, NULL, NULL) == 0)
		xfer(c->fd, c->out->hdr, NBD_REQUEST_SIZE, true, now_ms() + timeout_ms);
	close(c->fd);
	free_list(c->out);
	free_list(c->wait);
	free_list(c->free);
	free(c);
}
