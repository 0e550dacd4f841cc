/* tapback's per-VBD xenbus state machine (see the table in xenbus_fsm.h). */
#include <xen/io/xenbus.h>

#include "xenbus_fsm.h"

static unsigned int set_state(int current, int wanted, unsigned int action)
{
	return current == wanted ? 0 : action;
}

static unsigned int let_go_of_ring(const struct vbd_view *v)
{
	return v->ring_connected ? VBD_ACT_DISCONNECT : 0;
}

static bool be_is_fresh(int be_state)
{
	return be_state == XS_STATE_MISSING || be_state == XenbusStateUnknown ||
	       be_state == XenbusStateInitialising;
}

/* No tapdisk serves this device any more: say why and close it (blkback's xenbus_dev_fatal()
 * says Closing), then Closed at once: no ring is left to let go of, and a frontend waiting for
 * responses must not take Closing for a classic unplug that still serves them. Nothing
 * reconnects. Closed on both sides, nothing needs the tapdisk (it exits after its last detach):
 * nothing to say until the frontend comes back. */
static unsigned int tapdisk_gone(const struct vbd_view *v)
{
	unsigned int act = VBD_ACT_TAPDISK_ERROR;

	if (v->be_state == XenbusStateClosed && v->fe_state == XenbusStateClosed)
		return 0;
	if (v->be_state != XenbusStateClosing && v->be_state != XenbusStateClosed)
		act |= VBD_ACT_CLOSING;
	return act | set_state(v->be_state, XenbusStateClosed, VBD_ACT_CLOSED);
}

/* The frontend (re)starts its handshake: it waits for our InitWait. */
static unsigned int frontend_initialising(const struct vbd_view *v)
{
	unsigned int act = let_go_of_ring(v);

	if (be_is_fresh(v->be_state))
		return act | VBD_ACT_INIT_WAIT;
	if (v->be_state == XenbusStateInitWait)
		return act;
	if (!v->online)
		return act | set_state(v->be_state, XenbusStateClosed, VBD_ACT_CLOSED);
	return act | VBD_ACT_INIT_WAIT;
}

/* The frontend published its ring: connect it, from any state but Closing. */
static unsigned int frontend_ready(const struct vbd_view *v)
{
	unsigned int act = 0;

	if (v->be_state == XenbusStateConnected && v->ring_connected)
		return 0;
	if (v->be_state == XenbusStateClosing)
		return 0;
	if (v->be_state == XenbusStateClosed && !v->online)
		return 0;
	if (be_is_fresh(v->be_state) || v->be_state == XenbusStateClosed)
		act |= VBD_ACT_INIT_WAIT;
	if (!v->online)
		return act;
	if (!v->hotplug_connected || !v->tapdisk_found)
		return act | VBD_ACT_WAIT_HOTPLUG;
	return act | let_go_of_ring(v) | VBD_ACT_CONNECT;
}

static unsigned int frontend_gone(const struct vbd_view *v)
{
	return let_go_of_ring(v) | set_state(v->be_state, XenbusStateClosed, VBD_ACT_CLOSED) |
	       VBD_ACT_REMOVE;
}

unsigned int vbd_decide(const struct vbd_view *v)
{
	if (!v->domain_alive)
		return let_go_of_ring(v) | VBD_ACT_REMOVE;
	if (v->tapdisk_gone && v->fe_state != XenbusStateUnknown &&
	    !(v->fe_state == XS_STATE_MISSING && v->fe_seen))
		return tapdisk_gone(v);

	switch (v->fe_state) {
	case XenbusStateInitialising:
		return frontend_initialising(v);
	case XenbusStateInitialised:
	case XenbusStateConnected:
		return frontend_ready(v);
	case XenbusStateClosing:
		if (v->be_state == XenbusStateClosing || v->be_state == XenbusStateClosed)
			return 0;
		return VBD_ACT_CLOSING;
	case XenbusStateClosed:
		return let_go_of_ring(v) | set_state(v->be_state, XenbusStateClosed, VBD_ACT_CLOSED);
	case XS_STATE_MISSING:
		if (v->fe_seen)
			return frontend_gone(v);
		/* not written yet (a toolstack writing node by node): wait for it */
		return be_is_fresh(v->be_state) ? VBD_ACT_INIT_WAIT : 0;
	case XenbusStateUnknown:
		return frontend_gone(v);
	default:
		/* InitWait, Reconfiguring, Reconfigured or garbage: nothing a block frontend says */
		return be_is_fresh(v->be_state) ? VBD_ACT_INIT_WAIT : 0;
	}
}
