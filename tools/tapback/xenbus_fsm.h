/* tapback's xenbus state machine for one VBD: what to do given the frontend's and backend's
 * states (blkif.h; Linux blkback's frontend_changed()). Pure: the caller gathers the view from
 * xenstore and tapdisk and carries out the actions in the order of the bits below. */
#ifndef TAPBACK_XENBUS_FSM_H
#define TAPBACK_XENBUS_FSM_H

#include <stdbool.h>

#define XS_STATE_MISSING (-1) /* the state node does not exist */

struct vbd_view {
	int fe_state;		/* frontend's state, XenbusState or XS_STATE_MISSING */
	bool fe_seen;		/* the frontend's state has existed since we know the device */
	int be_state;		/* backend's state, XenbusState or XS_STATE_MISSING */
	bool online;		/* backend `online` = 1 */
	bool hotplug_connected; /* backend `hotplug-status` = connected */
	bool tapdisk_found;	/* physical-device-path names a live tapdisk */
	bool tapdisk_gone;	/* ... names one that died, refuses or lost the minor */
	bool ring_connected;	/* tapdisk serves this VBD's ring now */
	bool domain_alive;	/* the frontend's domain exists */
};

enum vbd_action {
	VBD_ACT_DISCONNECT = 1 << 0,	/* disconnect the ring in tapdisk (idempotent) */
	VBD_ACT_INIT_WAIT = 1 << 1,	/* write the static features, state = InitWait */
	VBD_ACT_CONNECT = 1 << 2,	/* connect the ring, write geometry, state = Connected */
	VBD_ACT_CLOSING = 1 << 3,	/* state = Closing */
	VBD_ACT_CLOSED = 1 << 4,	/* state = Closed */
	VBD_ACT_REMOVE = 1 << 5,	/* remove the backend directory and forget the device */
	VBD_ACT_WAIT_HOTPLUG = 1 << 6,	/* ready to connect but the hotplug step is not done */
	VBD_ACT_TAPDISK_ERROR = 1 << 7, /* write tapdisk-error (once), before CLOSING */
};

/* Returns a set of enum vbd_action bits. */
unsigned int vbd_decide(const struct vbd_view *v);

#endif
