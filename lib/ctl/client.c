/* The control client (tap-ctl, tapback): one blocking request/reply exchange at a time over a
 * Unix socket, every wait bounded by the client's timeout. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "lib/ctl/codec.h"
#include "ringtap/ctl.h"

struct ctl_client {
	int fd;
	unsigned int timeout_ms;
	uint32_t next_id;
	char message[CTL_MESSAGE_MAX];
	char reason[CTL_MESSAGE_MAX];
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int ctl_client_connect(const char *path, unsigned int timeout_ms, struct ctl_client **out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct ctl_client *c;

	*out = NULL;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->timeout_ms = timeout_ms ? timeout_ms : 10000;
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = -errno;

		if (c->fd >= 0)
			close(c->fd);
		free(c);
		return err;
	}
	*out = c;
	return 0;
}

int ctl_client_connect_pid(pid_t pid, unsigned int timeout_ms, struct ctl_client **out)
{
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int err;

	*out = NULL;
	if (pid <= 0)
		return -EINVAL;
	err = ctl_socket_path(pid, path, sizeof(path));
	if (err)
		return err;
	return ctl_client_connect(path, timeout_ms, out);
}

void ctl_client_close(struct ctl_client *c)
{
	if (!c)
		return;
	close(c->fd);
	free(c);
}

const char *ctl_client_error_message(const struct ctl_client *c)
{
	return c->message;
}

const char *ctl_client_error_reason(const struct ctl_client *c)
{
	return c->reason;
}

/* Waits for `events` until the deadline: 0, -ETIMEDOUT, or -errno. */
static int wait_for(int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		int64_t left = deadline - now_ms();
		int n;

		if (left <= 0)
			return -ETIMEDOUT;
		n = poll(&p, 1, left > 60000 ? 60000 : (int)left);
		if (n > 0)
			return 0; /* readable, writable, or an error the next call reports */
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

static int send_all(int fd, const uint8_t *buf, size_t len, int64_t deadline)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n;
		int err = wait_for(fd, POLLOUT, deadline);

		if (err)
			return err;
		n = send(fd, buf + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
				continue;
			return -errno;
		}
		off += (size_t)n;
	}
	return 0;
}

/* 0, -ETIMEDOUT, -ECONNRESET (end of stream before len bytes), -errno */
static int recv_all(int fd, uint8_t *buf, size_t len, int64_t deadline)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n;
		int err = wait_for(fd, POLLIN, deadline);

		if (err)
			return err;
		n = recv(fd, buf + off, len - off, MSG_DONTWAIT);
		if (n == 0)
			return -ECONNRESET;
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
				continue;
			return -errno;
		}
		off += (size_t)n;
	}
	return 0;
}

/* One exchange. On success the caller owns reply's results (ctl_reply_release). */
static int call(struct ctl_client *c, struct ctl_msg *m, struct ctl_reply *reply)
{
	int64_t deadline = now_ms() + c->timeout_ms;
	uint8_t hdr[CTL_HEADER_SIZE], *buf = NULL, *payload;
	struct ctl_header h;
	size_t len;
	int err, send_err;

	memset(reply, 0, sizeof(*reply));
	c->message[0] = c->reason[0] = '\0';
	m->id = ++c->next_id;
	err = ctl_request_encode(m, &buf, &len);
	if (err)
		return err;
	send_err = send_all(c->fd, buf, len, deadline);
	free(buf);
	if (send_err == -ETIMEDOUT)
		return send_err;
	/* even when the send failed (a refusing daemon closes at once), its reason may be queued */
	err = recv_all(c->fd, hdr, sizeof(hdr), deadline);
	if (err)
		return send_err ? send_err : err;
	if (ctl_header_decode(hdr, CTL_MAX_REPLY, &h))
		return -EPROTO;
	payload = malloc(h.length ? h.length : 1);
	if (!payload)
		return -ENOMEM;
	err = recv_all(c->fd, payload, h.length, deadline);
	if (!err) {
		err = ctl_reply_decode(&h, m->type, payload, reply);
		if (err) {
			ctl_reply_release(reply);
			err = err == -ENOMEM ? err : -EPROTO;
		}
	}
	free(payload);
	if (err)
		return err;
	if (reply->type != CTL_MSG_ERROR && h.id != m->id) {
		ctl_reply_release(reply);
		return -EPROTO;
	}
	if (reply->error) {
		snprintf(c->message, sizeof(c->message), "%s", reply->message);
		snprintf(c->reason, sizeof(c->reason), "%s", reply->reason);
		return -reply->error;
	}
	return 0;
}

static int call_simple(struct ctl_client *c, unsigned int type, int minor)
{
	struct ctl_msg *m = calloc(1, sizeof(*m));
	struct ctl_reply reply;
	int err;

	if (!m)
		return -ENOMEM;
	m->type = type;
	m->u.minor.minor = minor;
	err = call(c, m, &reply);
	ctl_reply_release(&reply);
	free(m);
	return err;
}

/* The argument structs are large (paths): messages live on the heap, not the stack. */
static int call_with(struct ctl_client *c, unsigned int type, const void *args, size_t size,
		     struct ctl_reply *reply)
{
	struct ctl_msg *m = calloc(1, sizeof(*m));
	int err;

	if (!m)
		return -ENOMEM;
	m->type = type;
	if (args)
		memcpy(&m->u, args, size);
	err = call(c, m, reply);
	free(m);
	return err;
}

int ctl_list(struct ctl_client *c, struct ctl_list *out)
{
	struct ctl_reply reply;
	int err = call_with(c, CTL_MSG_LIST, NULL, 0, &reply);

	memset(out, 0, sizeof(*out));
	if (err) {
		ctl_reply_release(&reply);
		return err;
	}
	*out = reply.r.list; /* ownership of the entries moves to the caller */
	return 0;
}

int ctl_attach(struct ctl_client *c, int minor)
{
	return call_simple(c, CTL_MSG_ATTACH, minor);
}

int ctl_detach(struct ctl_client *c, int minor)
{
	return call_simple(c, CTL_MSG_DETACH, minor);
}

int ctl_pause(struct ctl_client *c, int minor)
{
	return call_simple(c, CTL_MSG_PAUSE, minor);
}

static int call_args(struct ctl_client *c, unsigned int type, const void *a, size_t size)
{
	struct ctl_reply reply;
	int err = call_with(c, type, a, size, &reply);

	ctl_reply_release(&reply);
	return err;
}

int ctl_open(struct ctl_client *c, const struct ctl_open_args *a)
{
	return call_args(c, CTL_MSG_OPEN, a, sizeof(*a));
}

int ctl_close(struct ctl_client *c, const struct ctl_close_args *a)
{
	return call_args(c, CTL_MSG_CLOSE, a, sizeof(*a));
}

int ctl_resume(struct ctl_client *c, const struct ctl_resume_args *a)
{
	return call_args(c, CTL_MSG_RESUME, a, sizeof(*a));
}

int ctl_connect(struct ctl_client *c, const struct ctl_connect_args *a)
{
	return call_args(c, CTL_MSG_CONNECT, a, sizeof(*a));
}

int ctl_disconnect(struct ctl_client *c, const struct ctl_disconnect_args *a)
{
	return call_args(c, CTL_MSG_DISCONNECT, a, sizeof(*a));
}

int ctl_poll_set(struct ctl_client *c, const struct ctl_poll_set_args *a)
{
	return call_args(c, CTL_MSG_POLL_SET, a, sizeof(*a));
}

int ctl_log_level(struct ctl_client *c, int level, int *now)
{
	struct ctl_log_level_args a = { level };
	struct ctl_reply reply;
	int err = call_with(c, CTL_MSG_LOG_LEVEL, &a, sizeof(a), &reply);

	if (!err)
		*now = reply.r.log_level;
	ctl_reply_release(&reply);
	return err;
}

int ctl_info(struct ctl_client *c, int minor, struct ctl_disk_info *out)
{
	struct ctl_minor_args a = { minor };
	struct ctl_reply reply;
	int err = call_with(c, CTL_MSG_INFO, &a, sizeof(a), &reply);

	if (!err)
		*out = reply.r.info;
	ctl_reply_release(&reply);
	return err;
}

int ctl_stats(struct ctl_client *c, int minor, char **json_out)
{
	struct ctl_minor_args a = { minor };
	struct ctl_reply reply;
	int err = call_with(c, CTL_MSG_STATS, &a, sizeof(a), &reply);

	*json_out = NULL;
	if (!err) {
		*json_out = reply.r.stats_json;
		reply.r.stats_json = NULL;
	}
	ctl_reply_release(&reply);
	return err;
}

int ctl_poll_get(struct ctl_client *c, int minor, struct ctl_poll_settings *out)
{
	struct ctl_minor_args a = { minor };
	struct ctl_reply reply;
	int err = call_with(c, CTL_MSG_POLL_GET, &a, sizeof(a), &reply);

	if (!err)
		*out = reply.r.poll;
	ctl_reply_release(&reply);
	return err;
}
