/* tapback's per-VBD xenbus state machine (see xenbus_fsm.h). */
#include <xen/io/xenbus.h>

#include "xenbus_fsm.h"

static unsigned int set_state(int current, int wanted, unsigned int action)
{
	return current == wanted ? 0 : action;
}

unsigned int vbd_decide(const struct vbd_view *v)
{
	unsigned int act = 0;
	bool be_fresh = v->be_state == XS_STATE_MISSING || v->be_state == XenbusStateUnknown ||
			v->be_state == XenbusStateInitialising;

	if (!v->domain_alive)
		return VBD_ACT_DISCONNECT | VBD_ACT_REMOVE;
	if (v->tapdisk_gone && v->fe_state != XenbusStateUnknown &&
	    !(v->fe_state == XS_STATE_MISSING && v->fe_seen)) {
		/* no tapdisk serves this device any more: say why and close it (blkback's
		 * xenbus_dev_fatal() says Closing), then Closed at once: no ring is left to let go
		 * of, and a frontend waiting for responses must not take Closing for a classic
		 * unplug that still serves them. Nothing reconnects. Closed on both sides, nothing
		 * needs the tapdisk (it exits after its last detach): nothing to say until the
		 * frontend comes back. */
		if (v->be_state == XenbusStateClosed && v->fe_state == XenbusStateClosed)
			return 0;
		act = VBD_ACT_TAPDISK_ERROR;
		if (v->be_state != XenbusStateClosing && v->be_state != XenbusStateClosed)
			act |= VBD_ACT_CLOSING;
		return act | set_state(v->be_state, XenbusStateClosed, VBD_ACT_CLOSED);
	}

	switch (v->fe_state) {
	case XenbusStateInitialising:
		/* a new device, or a frontend coming back after Closed: offer our features */
		if (be_fresh || v->be_state == XenbusStateClosed)
			act |= (v->ring_connected ? VBD_ACT_DISCONNECT : 0) | VBD_ACT_INIT_WAIT;
		break;
	case XenbusStateInitialised:
	case XenbusStateConnected:
		/* both watches may fire before we look: connect from any earlier state */
		if (v->be_state == XenbusStateConnected && v->ring_connected)
			break;
		if (v->be_state == XenbusStateClosing || v->be_state == XenbusStateClosed)
			break; /* the toolstack is unplugging: wait for the frontend to close */
		if (be_fresh)
			act |= VBD_ACT_INIT_WAIT;
		if (!v->online)
			break;
		if (!v->hotplug_connected || !v->tapdisk_found) {
			act |= VBD_ACT_WAIT_HOTPLUG;
			break;
		}
		act |= (v->ring_connected ? VBD_ACT_DISCONNECT : 0) | VBD_ACT_CONNECT;
		break;
	case XenbusStateClosing:
		act |= set_state(v->be_state, XenbusStateClosing, VBD_ACT_CLOSING);
		if (v->be_state == XenbusStateClosed)
			act = 0;
		break;
	case XenbusStateClosed:
		act |= (v->ring_connected ? VBD_ACT_DISCONNECT : 0) |
		       set_state(v->be_state, XenbusStateClosed, VBD_ACT_CLOSED);
		/* offline too (classic unplug): xenopsd waits for our Closed, then removes both
		 * trees itself; the backend directory's removal then makes tapback forget it */
		break;
	case XS_STATE_MISSING:
		if (!v->fe_seen) {
			/* not written yet (a toolstack writing node by node): wait for it */
			act |= be_fresh ? VBD_ACT_INIT_WAIT : 0;
			break;
		}
		/* fall through */
	case XenbusStateUnknown:
		/* the frontend is gone (hard unplug, or its tree was removed) */
		act |= (v->ring_connected ? VBD_ACT_DISCONNECT : 0) |
		       set_state(v->be_state, XenbusStateClosed, VBD_ACT_CLOSED) | VBD_ACT_REMOVE;
		break;
	default:
		/* Reconfiguring/Reconfigured or garbage: nothing a block backend does */
		if (be_fresh && v->fe_state >= XenbusStateInitialising &&
		    v->fe_state <= XenbusStateReconfigured)
			act |= VBD_ACT_INIT_WAIT;
		break;
	}
	return act;
}
