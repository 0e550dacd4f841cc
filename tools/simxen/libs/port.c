/* Event-channel ports (port.h). Delivery is lock-free: the pending and masked bits of a port
 * change by compare-and-swap, and only a port's first event after an unmask costs a datagram to
 * its owner; notifying an already-notified port is one atomic operation. */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "port.h"

/* A wakeup socket may hold one datagram per port of its handle (a port stays masked until read
 * and unmasked); a handle binds at most SX_PORTS_PER_HANDLE ports (evtchn.c), so that the
 * senders' buffers hold every datagram in flight. */
#define SX_SOCKET_BUFFER (1 << 20)

static socklen_t port_addr(const struct sx_host *h, uint32_t id, struct sockaddr_un *sa)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = h->sock_prefix_len;
	int shift;

	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, h->sock_prefix, n);
	for (shift = 28; shift >= 0; shift -= 4)
		sa->sun_path[n++] = hex[(id >> shift) & 0xf];
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
}

int sx_port_socket(struct sx_host *h, uint32_t id, bool cloexec)
{
	int buf = SX_SOCKET_BUFFER;
	int fd = socket(AF_UNIX, SOCK_DGRAM | (cloexec ? SOCK_CLOEXEC : 0), 0);
	struct sockaddr_un sa;

	if (fd < 0)
		return -errno;
	/* Best effort: the kernel caps it at net.core.wmem_max. */
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	if (id && bind(fd, (struct sockaddr *)&sa, port_addr(h, id, &sa)) < 0) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	return fd;
}

static bool port_bound(uint64_t w)
{
	return sx_port_state(w) != SX_PORT_FREE;
}

/* Wakes owner: its socket receives the port. */
static int port_kick(struct sx_host *h, int sock, uint32_t owner, uint32_t port)
{
	struct sockaddr_un sa;
	socklen_t len = port_addr(h, owner, &sa);

	if (sendto(sock, &port, sizeof(port), MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&sa,
		   len) == sizeof(port))
		return 0;
	/* The owner died without unbinding: like a closed peer, the event is dropped (the port
	 * stays masked, so further events cost nothing). */
	if (errno == ECONNREFUSED)
		return 0;
	return -errno;
}

/* Delivers the event that a successful compare-and-swap from w just decided to deliver; on
 * failure the port is unmasked again so that the next event tries again. */
static int port_deliver(struct sx_host *h, int sock, _Atomic uint64_t *e, uint64_t w, uint32_t port)
{
	int rc = port_kick(h, sock, sx_port_owner(w), port);

	if (rc < 0)
		atomic_fetch_and(e, ~SX_PORT_MASKED);
	return rc;
}

/* Raises an event on dom's port if it is bound, and (peer_domid < DOMID_FIRST_RESERVED) still
 * connected to peer_domid's peer_port. */
static int port_raise(struct sx_host *h, int sock, struct sx_domain *dom, uint32_t port,
		      uint32_t peer_domid, uint32_t peer_port)
{
	_Atomic uint64_t *e = &dom->shared->ports[port];
	uint64_t w = atomic_load_explicit(e, memory_order_acquire), nw;

	do {
		if (!port_bound(w))
			return 0;
		if (sx_domid_valid(peer_domid) &&
		    (sx_port_state(w) != SX_PORT_INTERDOMAIN || sx_port_remote_domid(w) != peer_domid ||
		     sx_port_remote_port(w) != peer_port))
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
	return port_deliver(h, sock, e, nw, port);
}

int sx_port_raise_local(struct sx_host *h, int sock, struct sx_domain *dom, uint32_t port)
{
	return port_raise(h, sock, dom, port, DOMID_FIRST_RESERVED, 0);
}

int sx_port_notify(struct sx_host *h, int sock, struct sx_domain *dom, uint32_t port,
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
	return port_raise(h, sock, peer, sx_port_remote_port(w), dom->domid, port);
}

int sx_port_unmask(struct sx_host *h, int sock, struct sx_domain *dom, uint32_t port,
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
	return port_deliver(h, sock, e, nw, port);
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

unsigned int sx_port_count_owned(struct sx_domain *dom, uint32_t owner)
{
	unsigned int n = 0;
	uint32_t port;

	for (port = 1; port < SX_NR_PORTS; port++) {
		uint64_t w = atomic_load_explicit(&dom->shared->ports[port], memory_order_relaxed);

		n += port_bound(w) && sx_port_owner(w) == owner;
	}
	return n;
}
