/* libxenevtchn.so.1 for simxen: Xen's event-channel library API over the shared port tables and
 * a wakeup FIFO per handle (port.c), with the errors of Linux's /dev/xen/evtchn. */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include <xenevtchn.h>

#include "handle.h"
#include "port.h"

#define SX_UNRESTRICTED UINT32_MAX

struct xenevtchn_handle {
	struct sx_handle base;
	uint32_t id;
	int fifo; /* the ports delivered to this handle: xenevtchn_fd */
	struct sx_wakeups wakeups;
	uint32_t restrict_domid;
};

xenevtchn_handle *xenevtchn_open(struct xentoollog_logger *logger, unsigned int flags)
{
	xenevtchn_handle *xce = calloc(1, sizeof(*xce));
	int rc;

	if (!xce)
		return NULL;
	rc = sx_handle_open(&xce->base, logger, "xenevtchn");
	if (rc < 0)
		goto fail;
	xce->restrict_domid = SX_UNRESTRICTED;
	xce->id = sx_host_new_handle_id(&xce->base.host);
	xce->fifo = sx_port_fifo_open(&xce->base.host, xce->id, !(flags & XENEVTCHN_NO_CLOEXEC));
	if (xce->fifo < 0) {
		rc = xce->fifo;
		sx_log(&xce->base, XTL_ERROR, -rc, "simxen: cannot create the wakeup FIFO");
		sx_handle_close(&xce->base);
		goto fail;
	}
	sx_wakeups_init(&xce->wakeups);
	return xce;
fail:
	free(xce);
	errno = -rc;
	return NULL;
}

/* There is no device to adopt an fd of: the state lives in $SIMXEN_DIR. */
xenevtchn_handle *xenevtchn_fdopen(struct xentoollog_logger *logger, int fd, unsigned open_flags)
{
	errno = ENOSYS;
	return NULL;
}

int xenevtchn_close(xenevtchn_handle *xce)
{
	uint32_t port;

	if (!xce)
		return 0;
	/* Like closing /dev/xen/evtchn: every port of the handle is closed. */
	sx_host_evtchn_lock(&xce->base.host);
	for (port = 1; port < SX_NR_PORTS; port++) {
		uint64_t w = atomic_load(&xce->base.self->shared->ports[port]);

		if (sx_port_state(w) != SX_PORT_FREE && sx_port_owner(w) == xce->id)
			sx_port_close(&xce->base.host, xce->base.self, port);
	}
	sx_host_evtchn_unlock(&xce->base.host);
	sx_wakeups_fini(&xce->wakeups);
	sx_port_fifo_remove(&xce->base.host, xce->id);
	close(xce->fifo);
	sx_handle_close(&xce->base);
	free(xce);
	return 0;
}

int xenevtchn_fd(xenevtchn_handle *xce)
{
	return xce->fifo;
}

int xenevtchn_notify(xenevtchn_handle *xce, evtchn_port_t port)
{
	return sx_ret(
		sx_port_notify(&xce->base.host, &xce->wakeups, xce->base.self, port, xce->id));
}

static uint32_t resolve_domid(xenevtchn_handle *xce, uint32_t domid)
{
	return domid == DOMID_SELF ? xce->base.domid : domid;
}

static int bind_check(xenevtchn_handle *xce, uint32_t domid, bool interdomain)
{
	/* Linux refuses everything but binding to the restricted-to domain with EACCES. */
	if (xce->restrict_domid != SX_UNRESTRICTED &&
	    (!interdomain || domid != xce->restrict_domid))
		return -EACCES;
	if (!sx_domid_valid(domid))
		return -EINVAL;
	return 0;
}

xenevtchn_port_or_error_t xenevtchn_bind_unbound_port(xenevtchn_handle *xce, uint32_t domid)
{
	int rc;

	domid = resolve_domid(xce, domid);
	sx_host_evtchn_lock(&xce->base.host);
	rc = bind_check(xce, domid, false);
	if (rc == 0)
		rc = sx_port_bind_unbound(xce->base.self, (uint16_t)domid, xce->id);
	sx_host_evtchn_unlock(&xce->base.host);
	return sx_ret(rc);
}

xenevtchn_port_or_error_t xenevtchn_bind_interdomain(xenevtchn_handle *xce, uint32_t domid,
						     evtchn_port_t remote_port)
{
	struct sx_domain *remote;
	int rc;

	domid = resolve_domid(xce, domid);
	sx_host_evtchn_lock(&xce->base.host);
	rc = bind_check(xce, domid, true);
	if (rc == 0)
		rc = sx_domain_get(&xce->base.host, (uint16_t)domid, &remote);
	if (rc == 0)
		rc = sx_port_bind_interdomain(xce->base.self, remote, remote_port, xce->id);
	sx_host_evtchn_unlock(&xce->base.host);
	if (rc < 0)
		return sx_ret(rc);
	/* Xen raises the new port conservatively, for events sent to the unbound remote port. A
	 * failed wakeup leaves the event pending for the next notification. */
	sx_port_raise_local(&xce->base.host, &xce->wakeups, xce->base.self, (uint32_t)rc);
	return rc;
}

/* simxen has no virtual IRQ sources. */
xenevtchn_port_or_error_t xenevtchn_bind_virq(xenevtchn_handle *xce, unsigned int virq)
{
	if (xce->restrict_domid != SX_UNRESTRICTED)
		errno = EACCES;
	else
		errno = virq < NR_VIRQS ? ENOSYS : EINVAL;
	return -1;
}

int xenevtchn_unbind(xenevtchn_handle *xce, evtchn_port_t port)
{
	int rc = -ENOTCONN;

	sx_host_evtchn_lock(&xce->base.host);
	if (port > 0 && port < SX_NR_PORTS) {
		uint64_t w = atomic_load(&xce->base.self->shared->ports[port]);

		if (sx_port_state(w) != SX_PORT_FREE && sx_port_owner(w) == xce->id) {
			sx_port_close(&xce->base.host, xce->base.self, port);
			rc = 0;
		}
	}
	sx_host_evtchn_unlock(&xce->base.host);
	return sx_ret(rc);
}

xenevtchn_port_or_error_t xenevtchn_pending(xenevtchn_handle *xce)
{
	uint32_t port;
	ssize_t n;

	/* Blocks, as a read of /dev/xen/evtchn does, unless the caller made the fd non-blocking
	 * (then -1 and EAGAIN; a signal gives EINTR, as there). What is not a port (a stray write
	 * into the FIFO) is skipped. */
	do
		n = read(xce->fifo, &port, sizeof(port));
	while (n >= 0 && (n != sizeof(port) || port == 0 || port >= SX_NR_PORTS));
	return n < 0 ? -1 : (int)port;
}

int xenevtchn_unmask(xenevtchn_handle *xce, evtchn_port_t port)
{
	return sx_ret(
		sx_port_unmask(&xce->base.host, &xce->wakeups, xce->base.self, port, xce->id));
}

int xenevtchn_restrict(xenevtchn_handle *xce, domid_t domid)
{
	if (xce->restrict_domid != SX_UNRESTRICTED)
		return sx_ret(-EACCES);
	if (domid == 0 || !sx_domid_valid(domid))
		return sx_ret(-EINVAL);
	xce->restrict_domid = domid;
	return 0;
}
