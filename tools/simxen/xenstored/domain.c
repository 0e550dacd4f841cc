/* Domains and the sockets they connect through: dom0's main socket, and for each introduced
 * guest a socket of its own (<dir>/xenstored.d<domid>.sock) whose clients are that unprivileged
 * domain, as a guest's xenbus ring would be on real Xen. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ringtap/log.h"
#include "tools/simxen/xenstored/xenstored.h"

/* Refuses to take over a socket a live daemon still answers on; removes a stale one. */
static int claim_path(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, rc = 0;

	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		rc = -EADDRINUSE;
	else if (unlink(path) < 0 && errno != ENOENT)
		rc = -errno;
	close(fd);
	return rc;
}

int listener_open(struct xsd *d, const char *path, uint16_t domid, bool privileged,
		  struct listener **out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct epoll_event ev = { .events = EPOLLIN };
	struct listener *l;
	int rc;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	rc = claim_path(path);
	if (rc < 0)
		return rc;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->src.type = SRC_LISTENER;
	l->domid = domid;
	l->privileged = privileged;
	l->path = strdup(path);
	l->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (!l->path || l->fd < 0) {
		rc = l->path ? -errno : -ENOMEM;
		goto fail;
	}
	if (bind(l->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(l->fd, 64) < 0) {
		rc = -errno;
		goto fail;
	}
	ev.data.ptr = &l->src;
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, l->fd, &ev) < 0) {
		rc = -errno;
		unlink(path);
		goto fail;
	}
	/* dom0's socket is the host's; the list keeps it first. */
	if (d->listeners && !privileged) {
		l->next = d->listeners->next;
		d->listeners->next = l;
	} else {
		l->next = d->listeners;
		d->listeners = l;
	}
	*out = l;
	return 0;
fail:
	if (l->fd >= 0)
		close(l->fd);
	free(l->path);
	free(l);
	return rc;
}

void listener_close(struct xsd *d, struct listener *l)
{
	struct listener **pp;

	for (pp = &d->listeners; *pp; pp = &(*pp)->next) {
		if (*pp == l) {
			*pp = l->next;
			break;
		}
	}
	epoll_ctl(d->epfd, EPOLL_CTL_DEL, l->fd, NULL);
	close(l->fd);
	l->fd = -1;
	unlink(l->path);
	/* An event for it may still be pending in the current epoll batch. */
	l->dead = true;
	l->next = d->closed_listeners;
	d->closed_listeners = l;
}

void listener_reap(struct xsd *d)
{
	while (d->closed_listeners) {
		struct listener *l = d->closed_listeners;

		d->closed_listeners = l->next;
		free(l->path);
		free(l);
	}
}

static struct listener *find_guest(struct xsd *d, uint16_t domid)
{
	struct listener *l;

	for (l = d->listeners; l; l = l->next)
		if (!l->privileged && l->domid == domid)
			return l;
	return NULL;
}

bool domain_is_introduced(struct xsd *d, uint16_t domid)
{
	return domid == 0 || find_guest(d, domid) != NULL;
}

int domain_introduce(struct xsd *d, uint16_t domid)
{
	char path[PATH_MAX_SOCK];
	struct listener *l;
	int rc;

	if (find_guest(d, domid))
		return 0; /* re-introducing a known domain is not an error, nor a new domain */
	if ((size_t)snprintf(path, sizeof(path), "%s/xenstored.d%u.sock", d->dir, domid) >=
	    sizeof(path))
		return -ENAMETOOLONG;
	rc = listener_open(d, path, domid, false, &l);
	if (rc < 0) {
		rt_err("domain %u: cannot listen on %s: %s", domid, path, strerror(-rc));
		return rc;
	}
	rt_info("domain %u introduced; its socket is %s", domid, path);
	watch_fire(d, "@introduceDomain", NULL);
	return 0;
}

int domain_release(struct xsd *d, uint16_t domid)
{
	struct listener *l = find_guest(d, domid);
	struct conn *c;

	if (!l)
		return -ENOENT;
	listener_close(d, l);
	/* The domain is gone: so are its connections, their watches and transactions. */
	for (c = d->conns; c; c = c->next)
		if (!c->privileged && c->domid == domid)
			conn_close(d, c);
	rt_info("domain %u released", domid);
	watch_fire(d, "@releaseDomain", NULL);
	return 0;
}
