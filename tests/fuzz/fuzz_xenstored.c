/* Fuzzes simxen-xenstored's wire parser (tools/simxen/xenstored: conn.c's framing of xs_wire.h
 * messages and ops.c's parsing of every request's payload): a client's byte stream read from a
 * socket by conn_handle, as the daemon's loop does, while a second dom0 client watches "/".
 *
 * Input: [client][byte stream]. client bit 0 clear: a dom0 (privileged) client; set: an
 * unprivileged guest, domain 1 + (client >> 1) % 8. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ringtap/log.h"
#include "tools/simxen/xenstored/xenstored.h"

#define MAX_ROUNDS 1024

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct client {
	struct conn *c;
	int peer; /* the client's end */
};

static void check(bool ok)
{
	if (!ok)
		abort();
}

/* main.c's init_store: the tree xenstored starts with, the special nodes dom0's only. */
static void init_store(struct xsd *d)
{
	struct xs_perm owner = { .domid = 0, .mode = XS_PERM_NONE };
	struct xs_perms n0 = { .nr = 1, .p = &owner };
	struct xs_node *n;

	d->live = store_new(&d->gen);
	check(d->live != NULL);
	check(store_create(d->live, "/tool/xenstored", -1, &n) == 0);
	check(perms_copy(&d->special_perms[0], &n0) == 0);
	check(perms_copy(&d->special_perms[1], &n0) == 0);
}

/* conn_accept's work, on one end of a socket pair. */
static void client_open(struct xsd *d, struct client *cl, uint16_t domid, bool privileged)
{
	struct epoll_event ev = { .events = EPOLLIN };
	int sv[2];

	check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
	cl->c = calloc(1, sizeof(*cl->c));
	check(cl->c != NULL);
	cl->c->src.type = SRC_CONN;
	cl->c->fd = sv[0];
	cl->c->domid = domid;
	cl->c->privileged = privileged;
	cl->c->ep_events = EPOLLIN;
	ev.data.ptr = &cl->c->src;
	check(epoll_ctl(d->epfd, EPOLL_CTL_ADD, sv[0], &ev) == 0);
	cl->c->next = d->conns;
	d->conns = cl->c;
	cl->peer = sv[1];
}

static void drain(int fd)
{
	char buf[8192];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

/* One wakeup of the daemon's loop for a client that is still connected. */
static bool still_connected(const struct xsd *d, const struct conn *c)
{
	for (const struct conn *p = d->conns; p; p = p->next)
		if (p == c)
			return !c->dead;
	return false;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	rt_log_set_level(LOG_EMERG); /* refused requests are logged: keep the output readable */
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char watch_all[] = "/\0all";
	struct xsd d = { .sigfd = -1 };
	struct xsd_sockmsg hdr = { .type = XS_WATCH, .req_id = 1, .len = sizeof(watch_all) };
	struct client watcher, cl;
	char dir[64];
	size_t sent = 0;

	if (size < 1)
		return 0;
	snprintf(dir, sizeof(dir), "/tmp/ringtap-fuzz-xs.%d", (int)getpid());
	check(mkdir(dir, 0700) == 0 || errno == EEXIST);
	d.dir = dir;
	d.epfd = epoll_create1(EPOLL_CLOEXEC);
	check(d.epfd >= 0);
	init_store(&d);

	client_open(&d, &watcher, 0, true);
	check(write(watcher.peer, &hdr, sizeof(hdr)) == sizeof(hdr));
	check(write(watcher.peer, watch_all, sizeof(watch_all)) == sizeof(watch_all));
	conn_handle(&d, watcher.c, EPOLLIN);
	if (data[0] & 1)
		client_open(&d, &cl, (uint16_t)(1 + (data[0] >> 1) % 8), false);
	else
		client_open(&d, &cl, 0, true);
	data++;
	size--;

	for (int round = 0; round < MAX_ROUNDS && still_connected(&d, cl.c); round++) {
		if (sent < size) {
			ssize_t n = write(cl.peer, data + sent, size - sent);

			if (n > 0)
				sent += (size_t)n;
		}
		/* all written: the daemon then reads the end of the stream */
		if (sent == size)
			shutdown(cl.peer, SHUT_WR);
		conn_handle(&d, cl.c, EPOLLIN | EPOLLOUT);
		drain(cl.peer);
		if (still_connected(&d, watcher.c)) {
			conn_handle(&d, watcher.c, EPOLLOUT);
			drain(watcher.peer);
		}
		conn_reap(&d);
		listener_reap(&d);
	}

	/* main.c's shutdown_daemon */
	for (struct conn *c = d.conns; c; c = c->next)
		conn_close(&d, c);
	conn_reap(&d);
	while (d.listeners)
		listener_close(&d, d.listeners);
	listener_reap(&d);
	store_free(d.live);
	perms_free(&d.special_perms[0]);
	perms_free(&d.special_perms[1]);
	close(d.epfd);
	close(watcher.peer);
	close(cl.peer);
	rmdir(dir);
	return 0;
}
