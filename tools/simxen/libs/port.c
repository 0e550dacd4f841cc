/* Event-channel ports (port.h). Delivery is lock-free: the pending and masked bits of a port
 * change by compare-and-swap, and only a port's first event after an unmask costs a write to its
 * owner's FIFO; notifying an already-notified port is one atomic operation. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "port.h"

/* A FIFO holds 64 KiB, room for every port of a domain: as a port stays masked from its delivery
 * to its unmask, a FIFO never fills up but with events nobody reads (a dead handle). */
#define SX_FIFO_NAME_FMT "evtchn-%08x"

static void fifo_name(char *name, size_t size, uint32_t id)
{
	snprintf(name, size, SX_FIFO_NAME_FMT, id);
}

int sx_port_fifo_open(struct sx_host *h, uint32_t id, bool cloexec)
{
	char name[32];
	int fd;

	fifo_name(name, sizeof(name), id);
	if (mkfifoat(h->dir_fd, name, 0600) < 0)
		return -errno;
	/* Read-write: never an end-of-file when no writer has it open. */
	fd = openat(h->dir_fd, name, O_RDWR | (cloexec ? O_CLOEXEC : 0));
	if (fd < 0) {
		fd = -errno;
		unlinkat(h->dir_fd, name, 0);
	}
	return fd;
}

void sx_port_fifo_remove(struct sx_host *h, uint32_t id)
{
	char name[32];

	fifo_name(name, sizeof(name), id);
	unlinkat(h->dir_fd, name, 0);
}

void sx_wakeups_init(struct sx_wakeups *wk)
{
	unsigned int i;

	pthread_mutex_init(&wk->lock, NULL);
	wk->next = 0;
	for (i = 0; i < SX_WAKEUP_SLOTS; i++) {
		wk->slot[i].owner = 0;
		wk->slot[i].fd = -1;
	}
}

void sx_wakeups_fini(struct sx_wakeups *wk)
{
	unsigned int i;

	for (i = 0; i < SX_WAKEUP_SLOTS; i++)
		if (wk->slot[i].fd >= 0)
			close(wk->slot[i].fd);
	pthread_mutex_destroy(&wk->lock);
}

/* The open FIFO of owner, or -errno. Lock held. Handle ids are never reused, so an open FIFO
 * stays the right one; the least recently opened is closed to make room. */
static int wakeup_fd(struct sx_host *h, struct sx_wakeups *wk, uint32_t owner)
{
	char name[32];
	unsigned int i;
	int fd;

	for (i = 0; i < SX_WAKEUP_SLOTS; i++)
		if (wk->slot[i].owner == owner && wk->slot[i].fd >= 0)
			return wk->slot[i].fd;
	fifo_name(name, sizeof(name), owner);
	/* Read-write, so that a write never fails for want of a reader (nor raises SIGPIPE). */
	fd = openat(h->dir_fd, name, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	i = wk->next;
	wk->next = (i + 1) % SX_WAKEUP_SLOTS;
	if (wk->slot[i].fd >= 0)
		close(wk->slot[i].fd);
	wk->slot[i].owner = owner;
	wk->slot[i].fd = fd;
	return fd;
}

static bool port_bound(uint64_t w)
{
	return sx_port_state(w) != SX_PORT_FREE;
}

/* Wakes owner: its FIFO receives the port. */
static int port_kick(struct sx_host *h, struct sx_wakeups *wk, uint32_t owner, uint32_t port)
{
	int rc, fd;

	pthread_mutex_lock(&wk->lock);
	fd = wakeup_fd(h, wk, owner);
	rc = fd < 0 ? fd : write(fd, &port, sizeof(port)) == sizeof(port) ? 0 : -errno;
	pthread_mutex_unlock(&wk->lock);
	/* The owner is closing its handle: dropped, as for a closed peer. (A crashed owner's FIFO
	 * just keeps the event; its port stays masked, so further events cost nothing.) */
	return rc == -ENOENT ? 0 : rc;
}

/* Delivers the event that a successful compare-and-swap from w just decided to deliver; on
 * failure the port is unmasked again so that the next event tries again. */
static int port_deliver(struct sx_host *h, struct sx_wakeups *wk, _Atomic uint64_t *e, uint64_t w,
			uint32_t port)
{
	int rc = port_kick(h, wk, sx_port_owner(w), port);

	if (rc < 0)
		atomic_fetch_and(e, ~SX_PORT_MASKED);
	return rc;
}

/* Raises an event on dom's port if it is bound, and (peer_domid < DOMID_FIRST_RESERVED) still
 * connected to peer_domid's peer_port. */
static int port_raise(struct sx_host *h, struct sx_wakeups *wk, struct sx_domain *dom,
		      uint32_t port, uint32_t peer_domid, uint32_t peer_port)
{
	_Atomic uint64_t *e = &dom->shared->ports[port];
	uint64_t w = atomic_load_explicit(e, memory_order_acquire), nw;

	do {
		if (!port_bound(w))
			return 0;
		if (sx_domid_valid(peer_domid) &&
		    (sx_port_state(w) != SX_PORT_INTERDOMAIN ||
		     sx_port_remote_domid(w) != peer_domid || sx_port_remote_port(w) != peer_port))
			return 0; /* the peer closed meanwhile: dropped, as Xen does */
		if (w & SX_PORT_MASKED) {
			if (w & SX_PORT_PENDING)
				return 0; /* coalesced with the event already pending */
			nw = w | SX_PORT_PENDING;
		} else {
			nw = (w | SX_PORT_MASKED) & ~SX_PORT_PENDING;
		}
	} while (!atomic_compare_exchange_weak(e, &w, nw));
	if (w & SX_PORT_MASKED)
		return 0;
	return port_deliver(h, wk, e, nw, port);
}

int sx_port_raise_local(struct sx_host *h, struct sx_wakeups *wk, struct sx_domain *dom,
			uint32_t port)
{
	return port_raise(h, wk, dom, port, DOMID_FIRST_RESERVED, 0);
}

int sx_port_notify(struct sx_host *h, struct sx_wakeups *wk, struct sx_domain *dom, uint32_t port,
		   uint32_t owner)
{
	struct sx_domain *peer;
	uint64_t w;

	if (port == 0 || port >= SX_NR_PORTS)
		return -ENOTCONN;
	w = atomic_load_explicit(&dom->shared->ports[port], memory_order_acquire);
	if (!port_bound(w) || (owner && sx_port_owner(w) != owner))
		return -ENOTCONN;
	switch (sx_port_state(w)) {
	case SX_PORT_UNBOUND:
		return 0;
	case SX_PORT_PEER_DEAD:
		return -ESRCH;
	default:
		break;
	}
	if (sx_domain_get(h, sx_port_remote_domid(w), &peer) < 0)
		return -ESRCH;
	return port_raise(h, wk, peer, sx_port_remote_port(w), dom->domid, port);
}

int sx_port_unmask(struct sx_host *h, struct sx_wakeups *wk, struct sx_domain *dom, uint32_t port,
		   uint32_t owner)
{
	_Atomic uint64_t *e;
	uint64_t w, nw;

	if (port == 0 || port >= SX_NR_PORTS)
		return 0;
	e = &dom->shared->ports[port];
	w = atomic_load_explicit(e, memory_order_acquire);
	do {
		if (!port_bound(w) || sx_port_owner(w) != owner || !(w & SX_PORT_MASKED))
			return 0;
		/* A pending event is delivered at once, the port staying masked for it. */
		nw = (w & SX_PORT_PENDING) ? w & ~SX_PORT_PENDING : w & ~SX_PORT_MASKED;
	} while (!atomic_compare_exchange_weak(e, &w, nw));
	if (!(w & SX_PORT_PENDING))
		return 0;
	return port_deliver(h, wk, e, nw, port);
}

/* The lowest free port, as Xen allocates them. */
static int port_alloc(struct sx_domain *dom, uint64_t word)
{
	uint32_t port;

	for (port = 1; port < SX_NR_PORTS; port++) {
		uint64_t free_port = 0;

		if (atomic_compare_exchange_strong(&dom->shared->ports[port], &free_port, word))
			return (int)port;
	}
	return -ENOSPC;
}

int sx_port_bind_unbound(struct sx_domain *dom, uint16_t remote, uint32_t owner)
{
	return port_alloc(dom, sx_port_word(SX_PORT_UNBOUND, remote, 0, owner));
}

/* Replaces state and peer of a port, keeping its owner, pending and masked bits. */
static void port_rebind(_Atomic uint64_t *e, uint64_t w, enum sx_port_state state,
			uint16_t remote_domid, uint32_t remote_port)
{
	uint64_t keep = SX_PORT_PENDING | SX_PORT_MASKED;
	uint64_t nw;

	do
		nw = (w & keep) | sx_port_word(state, remote_domid, remote_port, sx_port_owner(w));
	while (!atomic_compare_exchange_weak(e, &w, nw));
}

int sx_port_bind_interdomain(struct sx_domain *dom, struct sx_domain *remote, uint32_t rport,
			     uint32_t owner)
{
	_Atomic uint64_t *re;
	uint64_t rw;
	int port;

	if (!atomic_load(&remote->shared->live))
		return -ESRCH;
	if (rport == 0 || rport >= SX_NR_PORTS)
		return -EINVAL;
	re = &remote->shared->ports[rport];
	rw = atomic_load(re);
	if (sx_port_state(rw) != SX_PORT_UNBOUND || sx_port_remote_domid(rw) != dom->domid)
		return -EINVAL;
	port = port_alloc(dom, sx_port_word(SX_PORT_INTERDOMAIN, remote->domid, rport, owner));
	if (port < 0)
		return port;
	port_rebind(re, rw, SX_PORT_INTERDOMAIN, dom->domid, (uint32_t)port);
	return port;
}

/* The peer of an interdomain port w of dom, if it still points back at (dom, port). */
static _Atomic uint64_t *port_peer(struct sx_host *h, struct sx_domain *dom, uint32_t port,
				   uint64_t w, uint64_t *peer_word)
{
	struct sx_domain *peer;
	_Atomic uint64_t *pe;

	if (sx_port_state(w) != SX_PORT_INTERDOMAIN ||
	    sx_domain_get(h, sx_port_remote_domid(w), &peer) < 0)
		return NULL;
	pe = &peer->shared->ports[sx_port_remote_port(w)];
	*peer_word = atomic_load(pe);
	if (sx_port_state(*peer_word) != SX_PORT_INTERDOMAIN ||
	    sx_port_remote_domid(*peer_word) != dom->domid ||
	    sx_port_remote_port(*peer_word) != port)
		return NULL;
	return pe;
}

static void port_free(struct sx_host *h, struct sx_domain *dom, uint32_t port, bool dying)
{
	_Atomic uint64_t *e = &dom->shared->ports[port];
	uint64_t pw;
	_Atomic uint64_t *pe = port_peer(h, dom, port, atomic_load(e), &pw);

	if (pe && dying)
		port_rebind(pe, pw, SX_PORT_PEER_DEAD, dom->domid, port);
	else if (pe)
		port_rebind(pe, pw, SX_PORT_UNBOUND, dom->domid, 0);
	atomic_store(e, 0);
}

void sx_port_close(struct sx_host *h, struct sx_domain *dom, uint32_t port)
{
	port_free(h, dom, port, false);
}

void sx_port_close_dying(struct sx_host *h, struct sx_domain *dom, uint32_t port)
{
	port_free(h, dom, port, true);
}

bool sx_port_is_bound(struct sx_domain *dom, uint32_t port)
{
	return port > 0 && port < SX_NR_PORTS && port_bound(atomic_load(&dom->shared->ports[port]));
}
