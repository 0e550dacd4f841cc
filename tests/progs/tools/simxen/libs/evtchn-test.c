/* Event channels across processes on simxen: domain 5 offers ports, domain 0 binds them; events
 * both ways through epoll, masking and coalescing, unbinding, unmap notifications, a closed and a
 * destroyed peer, and the calls simxen refuses. Run with SIMXEN_DIR set. */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xenevtchn.h>
#include <xengnttab.h>

#include "peer.h"
#include "tools/simxen/libs/simxen-state.h"

#define GUEST 5
#define WAIT_MS 20000

enum { MSG_GOT = 100, MSG_DONE, MSG_UNBOUND, MSG_CLOSED };

/* Waits (epoll) for the handle's next event: its port. */
static int wait_event(xenevtchn_handle *xe)
{
	struct epoll_event ev = { .events = EPOLLIN };
	int ep = epoll_create1(EPOLL_CLOEXEC), n;

	REQUIRE(ep >= 0 && epoll_ctl(ep, EPOLL_CTL_ADD, xenevtchn_fd(xe), &ev) == 0, "epoll");
	n = epoll_wait(ep, &ev, 1, WAIT_MS);
	close(ep);
	REQUIRE(n == 1, "an event arrives within %d ms", WAIT_MS);
	return xenevtchn_pending(xe);
}

/* Whether an event is queued right now (every wakeup is sent before notify returns). */
static bool event_queued(xenevtchn_handle *xe)
{
	struct pollfd pfd = { .fd = xenevtchn_fd(xe), .events = POLLIN };

	return poll(&pfd, 1, 0) == 1;
}

static int guest_main(int fd)
{
	xenevtchn_handle *xe = xenevtchn_open(NULL, 0);
	xengntshr_handle *gs = xengntshr_open(NULL, 0);
	uint32_t ports[2], ref;
	uint8_t *page;
	int pa, i;

	REQUIRE(xe && gs, "open in domain 5");
	pa = xenevtchn_bind_unbound_port(xe, 0);
	ports[0] = (uint32_t)pa;
	ports[1] = (uint32_t)xenevtchn_bind_unbound_port(xe, 7);
	CHECK(pa > 0 && (int)ports[1] > 0 && ports[1] != ports[0],
	      "domain 5 offers port %d to domain 0 and port %d to domain 7", pa, ports[1]);
	peer_send(fd, ports, 2);

	CHECK(wait_event(xe) == pa, "domain 5 gets domain 0's event on its own port");
	CHECK(!event_queued(xe), "one event");
	CHECK(xenevtchn_unmask(xe, (evtchn_port_t)pa) == 0, "unmask");
	CHECK(xenevtchn_notify(xe, (evtchn_port_t)pa) == 0, "domain 5 notifies domain 0");
	peer_send1(fd, MSG_DONE);

	/* Masking: the next event stays masked (not unmasked) while domain 0 sends 100 more. */
	CHECK(wait_event(xe) == pa, "an event, left masked");
	peer_send1(fd, MSG_GOT);
	REQUIRE(peer_recv1(fd) == MSG_DONE, "domain 0 sent 100 events");
	CHECK(!event_queued(xe), "100 notifications of a masked port queue nothing");
	CHECK(xenevtchn_unmask(xe, (evtchn_port_t)pa) == 0 && event_queued(xe),
	      "unmasking delivers the pending event");
	CHECK(xenevtchn_pending(xe) == pa && !event_queued(xe), "exactly one event");
	CHECK(xenevtchn_unmask(xe, (evtchn_port_t)pa) == 0 && !event_queued(xe),
	      "nothing more pending after that");
	CHECK(xenevtchn_unmask(xe, 4000) == 0, "unmasking a port not bound is ignored, as Linux");

	/* Unmap notification: domain 0 maps a page with a notify port and unmaps it. */
	page = xengntshr_share_pages(gs, 0, 1, &ref, 1);
	REQUIRE(page, "share a page");
	page[0] = 1;
	peer_send1(fd, ref);
	CHECK(wait_event(xe) == pa && page[0] == 0,
	      "domain 0's unmap cleared the byte and notified the port");
	CHECK(xenevtchn_unmask(xe, (evtchn_port_t)pa) == 0, "unmask");
	CHECK(xengntshr_unshare(gs, page, 1) == 0, "unshare");

	/* Unbind. */
	CHECK(xenevtchn_unbind(xe, (evtchn_port_t)pa) == 0, "unbind");
	CHECK(xenevtchn_notify(xe, (evtchn_port_t)pa) == -1 && errno == ENOTCONN,
	      "notify an unbound port: ENOTCONN");
	CHECK(xenevtchn_unbind(xe, (evtchn_port_t)pa) == -1 && errno == ENOTCONN,
	      "unbind it again: ENOTCONN");
	peer_send1(fd, MSG_UNBOUND);

	/* A closed handle closes its ports. */
	REQUIRE(peer_recv1(fd) == MSG_GOT, "step");
	pa = xenevtchn_bind_unbound_port(xe, 0);
	peer_send1(fd, (uint32_t)pa);
	REQUIRE(peer_recv1(fd) == MSG_GOT, "domain 0 bound it");
	CHECK(xenevtchn_close(xe) == 0, "close the handle with bound ports");
	peer_send1(fd, MSG_CLOSED);

	/* Then a port for the destruction of the domain. */
	REQUIRE(peer_recv1(fd) == MSG_GOT, "step");
	xe = xenevtchn_open(NULL, 0);
	REQUIRE(xe, "reopen");
	pa = xenevtchn_bind_unbound_port(xe, 0);
	peer_send1(fd, (uint32_t)pa);
	i = (int)peer_recv1(fd);
	CHECK(i == MSG_DONE, "domain 0 destroyed domain 5");
	CHECK(xenevtchn_close(xe) == 0 && xengntshr_close(gs) == 0, "close after destruction");
	return 0;
}

static void refused_calls(void)
{
	xenevtchn_handle *xe = xenevtchn_open(NULL, 0);

	REQUIRE(xe, "open");
	CHECK(xenevtchn_bind_virq(xe, 3) == -1 && errno == ENOSYS, "bind_virq: ENOSYS");
	CHECK(xenevtchn_bind_virq(xe, 1000) == -1 && errno == EINVAL, "bind_virq 1000: EINVAL");
	CHECK(!xenevtchn_fdopen(NULL, 0, 0) && errno == ENOSYS, "fdopen: ENOSYS");
	CHECK(xenevtchn_restrict(xe, 0) == -1 && errno == EINVAL, "restrict to domain 0: EINVAL");
	CHECK(xenevtchn_restrict(xe, GUEST) == 0, "restrict to domain 5");
	CHECK(xenevtchn_restrict(xe, GUEST) == -1 && errno == EACCES, "restrict twice: EACCES");
	CHECK(xenevtchn_bind_unbound_port(xe, GUEST) == -1 && errno == EACCES,
	      "a restricted handle binds no unbound port");
	CHECK(xenevtchn_bind_interdomain(xe, 7, 1) == -1 && errno == EACCES,
	      "nor to another domain");
	CHECK(xenevtchn_close(xe) == 0 && xenevtchn_close(NULL) == 0, "close");
}

/* 100 ports of one handle fire at once: every event arrives, once. Loopback within domain 0. */
static void many_ports(xenevtchn_handle *xe)
{
	enum { N = 100 };
	xenevtchn_handle *xe2 = xenevtchn_open(NULL, 0);
	int local[N], remote[N], seen[N] = { 0 }, i, j, bad = 0;

	REQUIRE(xe2, "open");
	for (i = 0; i < N; i++) {
		local[i] = xenevtchn_bind_unbound_port(xe, DOMID_SELF);
		remote[i] = local[i] > 0 ?
				    xenevtchn_bind_interdomain(xe2, 0, (evtchn_port_t)local[i]) :
				    -1;
		REQUIRE(remote[i] > 0, "loopback port %d", i);
	}
	for (int round = 0; round < 2; round++) {
		/* round 0: the events of binding; round 1: a notification on every port */
		for (i = 0; round == 1 && i < N; i++)
			bad |= xenevtchn_notify(xe, (evtchn_port_t)local[i]);
		memset(seen, 0, sizeof(seen));
		for (i = 0; i < N; i++) {
			int p = xenevtchn_pending(xe2);

			for (j = 0; j < N && remote[j] != p; j++)
				;
			bad |= j == N || seen[j]++;
			bad |= xenevtchn_unmask(xe2, (evtchn_port_t)p);
		}
		CHECK(!bad && !event_queued(xe2), "%d ports raised at once: %d events, one each", N,
		      N);
	}
	CHECK(xenevtchn_close(xe2) == 0, "close");
	for (i = 0; i < N; i++)
		bad |= xenevtchn_notify(xe, (evtchn_port_t)local[i]) |
		       xenevtchn_unbind(xe, (evtchn_port_t)local[i]);
	CHECK(!bad, "notify then unbind ports whose peer closed");
}

int main(void)
{
	const char *dir = getenv("SIMXEN_DIR");
	xenevtchn_handle *xe;
	xengnttab_handle *gt;
	struct peer peer;
	uint32_t ports[2], ref;
	uint8_t *page;
	int pa, pb, i, rc = 0;

	REQUIRE(dir, "SIMXEN_DIR is set");
	peer_start(&peer, GUEST, guest_main);
	xe = xenevtchn_open(NULL, 0);
	gt = xengnttab_open(NULL, 0);
	REQUIRE(xe && gt, "open in domain 0");
	peer_recv(peer.fd, ports, 2);
	pa = (int)ports[0];

	CHECK(xenevtchn_bind_interdomain(xe, GUEST, ports[1]) == -1 && errno == EINVAL,
	      "bind a port offered to domain 7: EINVAL");
	CHECK(xenevtchn_bind_interdomain(xe, GUEST, 4000) == -1 && errno == EINVAL,
	      "bind a port never allocated: EINVAL");
	CHECK(xenevtchn_bind_interdomain(xe, GUEST, 1u << 20) == -1 && errno == EINVAL,
	      "bind a port beyond the table: EINVAL");
	CHECK(xenevtchn_bind_interdomain(xe, 9, ports[0]) == -1 && errno == ESRCH,
	      "bind to a domain that does not exist: ESRCH");
	pb = xenevtchn_bind_interdomain(xe, GUEST, (evtchn_port_t)pa);
	CHECK(pb > 0, "domain 0 binds domain 5's port %d as its port %d", pa, pb);
	CHECK(wait_event(xe) == pb && xenevtchn_unmask(xe, (evtchn_port_t)pb) == 0,
	      "binding raises the new port once, as Xen");
	CHECK(xenevtchn_bind_interdomain(xe, GUEST, (evtchn_port_t)pa) == -1 && errno == EINVAL,
	      "bind the same remote port twice: EINVAL");
	CHECK(xenevtchn_notify(xe, 77) == -1 && errno == ENOTCONN,
	      "notify a port never bound: ENOTCONN");
	CHECK(xenevtchn_notify(xe, (evtchn_port_t)pb) == 0, "domain 0 notifies domain 5");
	REQUIRE(peer_recv1(peer.fd) == MSG_DONE, "domain 5 notified back");
	CHECK(wait_event(xe) == pb && xenevtchn_unmask(xe, (evtchn_port_t)pb) == 0,
	      "domain 0 gets domain 5's event (epoll)");

	CHECK(xenevtchn_notify(xe, (evtchn_port_t)pb) == 0, "notify");
	REQUIRE(peer_recv1(peer.fd) == MSG_GOT, "domain 5 got it");
	for (i = 0; i < 100; i++)
		rc |= xenevtchn_notify(xe, (evtchn_port_t)pb);
	CHECK(rc == 0, "100 more notifications while masked");
	peer_send1(peer.fd, MSG_DONE);

	ref = peer_recv1(peer.fd);
	page = xengnttab_map_grant_ref_notify(gt, GUEST, ref, PROT_READ | PROT_WRITE, 0,
					      (evtchn_port_t)pb);
	CHECK(page && page[0] == 1, "map a page with an unmap notification on port %d", pb);
	CHECK(xengnttab_unmap(gt, page, 1) == 0, "unmap it");

	REQUIRE(peer_recv1(peer.fd) == MSG_UNBOUND, "domain 5 unbound its port");
	CHECK(xenevtchn_notify(xe, (evtchn_port_t)pb) == 0,
	      "notify a port whose peer unbound: dropped, as Xen");
	CHECK(xenevtchn_unbind(xe, (evtchn_port_t)pb) == 0, "unbind");
	CHECK(xenevtchn_notify(xe, (evtchn_port_t)pb) == -1 && errno == ENOTCONN,
	      "notify after unbind: ENOTCONN");

	peer_send1(peer.fd, MSG_GOT);
	pa = (int)peer_recv1(peer.fd);
	pb = xenevtchn_bind_interdomain(xe, GUEST, (evtchn_port_t)pa);
	CHECK(pb > 0 && wait_event(xe) == pb, "bind a new port");
	peer_send1(peer.fd, MSG_GOT);
	REQUIRE(peer_recv1(peer.fd) == MSG_CLOSED, "domain 5 closed its handle");
	CHECK(xenevtchn_notify(xe, (evtchn_port_t)pb) == 0, "notify a closed peer: dropped");
	CHECK(xenevtchn_bind_interdomain(xe, GUEST, (evtchn_port_t)pa) == -1 && errno == EINVAL,
	      "the closed handle's port is gone");
	CHECK(xenevtchn_unbind(xe, (evtchn_port_t)pb) == 0, "unbind");

	peer_send1(peer.fd, MSG_GOT);
	pb = xenevtchn_bind_interdomain(xe, GUEST, peer_recv1(peer.fd));
	CHECK(pb > 0 && wait_event(xe) == pb, "bind a port of the reopened handle");
	CHECK(simxen_state_destroy_domain(dir, GUEST) == 0, "destroy domain 5");
	CHECK(xenevtchn_notify(xe, (evtchn_port_t)pb) == -1 && errno == ESRCH,
	      "notify a destroyed domain: ESRCH");
	CHECK(xenevtchn_unmask(xe, (evtchn_port_t)pb) == 0, "unmask still works");
	CHECK(xenevtchn_unbind(xe, (evtchn_port_t)pb) == 0, "unbind it");
	peer_send1(peer.fd, MSG_DONE);
	peer_finish(&peer);

	refused_calls();
	many_ports(xe);
	CHECK(xenevtchn_close(xe) == 0 && xengnttab_close(gt) == 0, "close");
	return 0;
}
