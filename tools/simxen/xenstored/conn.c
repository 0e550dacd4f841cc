/* Client connections: non-blocking reads of xs_wire messages into a per-client buffer, a queue
 * of replies and events written as the socket accepts them, and dropping a misbehaving client
 * without disturbing the others. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ringtap/log.h"
#include "tools/simxen/xenstored/xenstored.h"

static void update_events(struct xsd *d, struct conn *c)
{
	struct epoll_event ev = { .data.ptr = &c->src };

	if (c->dead)
		return;
	ev.events = (c->out_bytes <= OUT_LIMIT ? EPOLLIN : 0) | (c->out_head ? EPOLLOUT : 0);
	if (ev.events == c->ep_events)
		return;
	if (epoll_ctl(d->epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0) {
		rt_err("epoll_ctl on client %d: %s", c->fd, strerror(errno));
		conn_close(d, c);
		return;
	}
	c->ep_events = ev.events;
}

int conn_accept(struct xsd *d, struct listener *l)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct conn *c;
	int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	c->src.type = SRC_CONN;
	c->fd = fd;
	c->domid = l->domid;
	c->privileged = l->privileged;
	c->ep_events = EPOLLIN;
	ev.data.ptr = &c->src;
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int rc = -errno;

		close(fd);
		free(c);
		return rc;
	}
	c->next = d->conns;
	d->conns = c;
	rt_debug("client %d connected as domain %u", fd, c->domid);
	return 0;
}

static void flush(struct xsd *d, struct conn *c)
{
	while (c->out_head && !c->dead) {
		struct out_msg *m = c->out_head;
		ssize_t n =
			send(c->fd, m->data + m->off, m->len - m->off, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			rt_debug("client %d: send: %s", c->fd, strerror(errno));
			conn_close(d, c);
			return;
		}
		m->off += (size_t)n;
		c->out_bytes -= (size_t)n;
		if (m->off < m->len)
			break;
		c->out_head = m->next;
		if (!c->out_head)
			c->out_tail = NULL;
		free(m);
	}
	update_events(d, c);
}

void conn_send(struct xsd *d, struct conn *c, uint32_t type, uint32_t req_id, uint32_t tx_id,
	       const void *payload, unsigned int len)
{
	struct xsd_sockmsg hdr = { .type = type, .req_id = req_id, .tx_id = tx_id, .len = len };
	struct out_msg *m;

	if (c->dead)
		return;
	m = malloc(sizeof(*m) + sizeof(hdr) + len);
	if (!m) {
		rt_err("client %d: out of memory for a reply; dropping it", c->fd);
		conn_close(d, c);
		return;
	}
	m->next = NULL;
	m->len = sizeof(hdr) + len;
	m->off = 0;
	memcpy(m->data, &hdr, sizeof(hdr));
	if (len)
		memcpy(m->data + sizeof(hdr), payload, len);
	if (c->out_tail)
		c->out_tail->next = m;
	else
		c->out_head = m;
	c->out_tail = m;
	c->out_bytes += m->len;
	flush(d, c);
}

/* Reads what the socket has towards the current message. 1: message complete, 2: progress,
 * 0: nothing more to read now, <0: drop the client. */
static int read_message(struct conn *c)
{
	const unsigned int hlen = sizeof(c->hdr);
	unsigned int want;
	char *dst;

	if (c->in_got < hlen) {
		dst = (char *)&c->hdr + c->in_got;
		want = hlen - c->in_got;
	} else {
		dst = c->body + (c->in_got - hlen);
		want = hlen + c->hdr.len - c->in_got;
	}
	if (want > 0) {
		ssize_t n = read(c->fd, dst, want);

		if (n == 0)
			return -ECONNRESET;
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		c->in_got += (unsigned int)n;
	}
	if (c->in_got < hlen)
		return 2;
	if (c->hdr.len > XENSTORE_PAYLOAD_MAX) {
		rt_warn("client %d (domain %u): message of %u bytes exceeds %u; dropping client",
			c->fd, c->domid, c->hdr.len, XENSTORE_PAYLOAD_MAX);
		return -E2BIG;
	}
	if (c->in_got < hlen + c->hdr.len)
		return 2;
	c->body[c->hdr.len] = '\0'; /* a guard: handlers still check for their own NULs */
	return 1;
}

void conn_handle(struct xsd *d, struct conn *c, uint32_t events)
{
	unsigned int msgs = 0;

	if (events & EPOLLOUT)
		flush(d, c);
	if (c->dead)
		return;
	if ((events & (EPOLLERR | EPOLLHUP)) && !(events & EPOLLIN)) {
		conn_close(d, c);
		return;
	}
	if (!(events & EPOLLIN))
		return;
	/* Bounded per wakeup so that one busy client cannot starve the others. */
	while (!c->dead && c->out_bytes <= OUT_LIMIT && msgs < MSGS_PER_WAKEUP) {
		int rc = read_message(c);

		if (rc < 0) {
			if (rc != -ECONNRESET && rc != -E2BIG)
				rt_debug("client %d: read: %s", c->fd, strerror(-rc));
			conn_close(d, c);
			return;
		}
		if (rc == 0)
			break;
		if (rc == 2)
			continue;
		ops_process(d, c, &c->hdr, c->body);
		c->in_got = 0;
		msgs++;
	}
}

void conn_close(struct xsd *d, struct conn *c)
{
	if (c->dead)
		return;
	c->dead = true;
	epoll_ctl(d->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	/* Its watches and transactions are freed by conn_reap: a send failing while watches fire
	 * closes a client whose watch list is being walked. Dead clients get no events. */
}

void conn_reap(struct xsd *d)
{
	struct conn **pp = &d->conns;

	while (*pp) {
		struct conn *c = *pp;

		if (!c->dead) {
			pp = &c->next;
			continue;
		}
		*pp = c->next;
		watch_free_all(c);
		tx_free_all(c);
		while (c->out_head) {
			struct out_msg *m = c->out_head;

			c->out_head = m->next;
			free(m);
		}
		free(c);
	}
}
