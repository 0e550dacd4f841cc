/* Event-channel ports: binding as Xen's event-channel hypercalls do, and delivery to the owning
 * xenevtchn handle's wakeup FIFO with Linux's evtchn semantics (a delivered port stays masked
 * until unmasked; events arriving meanwhile coalesce into one pending event). */
#ifndef SIMXEN_PORT_H
#define SIMXEN_PORT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "host.h"

/* The wakeup FIFO of handle id, $SIMXEN_DIR/evtchn-<id>: the uint32_t local ports delivered to
 * the handle, one per event. Creates it and opens it for reading: the fd or -errno. */
int sx_port_fifo_open(struct sx_host *h, uint32_t id, bool cloexec);
void sx_port_fifo_remove(struct sx_host *h, uint32_t id);

/* The wakeup FIFOs a handle has written to lately, kept open. */
#define SX_WAKEUP_SLOTS 8
struct sx_wakeups {
	pthread_mutex_t lock;
	unsigned int next; /* the slot to replace next */
	struct {
		uint32_t owner;
		int fd;
	} slot[SX_WAKEUP_SLOTS];
};
void sx_wakeups_init(struct sx_wakeups *wk);
void sx_wakeups_fini(struct sx_wakeups *wk);

/* Sends an event from dom's local port (bound by handle owner; 0: any handle) to its peer, as
 * EVTCHNOP_send: 0 (also when the port is unbound-but-offered, which drops the event as Xen does),
 * -ENOTCONN if the port is not bound (by owner), -ESRCH if the peer domain was destroyed, or an
 * error of the wakeup (-EAGAIN: the peer's FIFO is full; a later notify retries). */
int sx_port_notify(struct sx_host *h, struct sx_wakeups *wk, struct sx_domain *dom, uint32_t port,
		   uint32_t owner);
/* Raises an event on dom's port whatever its peer (Xen's event on bind_interdomain). */
int sx_port_raise_local(struct sx_host *h, struct sx_wakeups *wk, struct sx_domain *dom,
			uint32_t port);
/* Unmasks a port of owner, delivering the event that arrived while it was masked, if any. Ports
 * not bound by owner are ignored, as by Linux's evtchn device. 0 or -errno of the wakeup. */
int sx_port_unmask(struct sx_host *h, struct sx_wakeups *wk, struct sx_domain *dom, uint32_t port,
		   uint32_t owner);

/* Binding and closing; the caller holds sx_host_evtchn_lock. */

/* A new port of dom offered to domain remote: the port or -ENOSPC. */
int sx_port_bind_unbound(struct sx_domain *dom, uint16_t remote, uint32_t owner);
/* A new port of dom connected to remote's port rport, which must be offered to dom: the port,
 * -ESRCH (remote destroyed), -EINVAL (rport not offered to dom) or -ENOSPC. */
int sx_port_bind_interdomain(struct sx_domain *dom, struct sx_domain *remote, uint32_t rport,
			     uint32_t owner);
/* Closes dom's port as EVTCHNOP_close: an interdomain peer goes back to being offered to dom. */
void sx_port_close(struct sx_host *h, struct sx_domain *dom, uint32_t port);
/* Marks the peer of dom's port dead (dom is being destroyed) and frees the port. */
void sx_port_close_dying(struct sx_host *h, struct sx_domain *dom, uint32_t port);
/* Whether dom's port is bound (by any handle). */
bool sx_port_is_bound(struct sx_domain *dom, uint32_t port);

#endif
