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
	VBD_ACT_DISCONNECT = 1 << 0,	/* disconnect the ring in tapdisk (only when connected) */
	VBD_ACT_INIT_WAIT = 1 << 1,	/* write the static features, state = InitWait */
	VBD_ACT_CONNECT = 1 << 2,	/* connect the ring, write geometry, state = Connected */
	VBD_ACT_CLOSING = 1 << 3,	/* state = Closing */
	VBD_ACT_CLOSED = 1 << 4,	/* state = Closed */
	VBD_ACT_REMOVE = 1 << 5,	/* remove the backend directory and forget the device */
	VBD_ACT_WAIT_HOTPLUG = 1 << 6,	/* ready to connect but the hotplug step is not done */
	VBD_ACT_TAPDISK_ERROR = 1 << 7, /* write tapdisk-error (once), before CLOSING */
};

#define VBD_ACT_ALL ((1u << 8) - 1)

/*
 * The table. Checked first, whatever the states: the frontend's domain is gone → DISCONNECT (if
 * the ring is connected) + REMOVE; the tapdisk is gone → TAPDISK_ERROR, Closing, Closed (nothing
 * reconnects; no error once both sides are Closed). Then by the frontend's state, the backend's
 * being one of: fresh (missing, Unknown, Initialising: the toolstack's), InitWait, Connected,
 * Closing, Closed, other (Initialised, Reconfiguring, Reconfigured, garbage: states tapback
 * never writes). "ring" below means: DISCONNECT first when the ring is still connected.
 *
 * frontend            backend                   action (and why; blkback = Linux xen-blkback)
 * ------------------  ------------------------  -------------------------------------------------
 * Initialising        fresh                     ring, INIT_WAIT: offer the features (blkback's
 *                                               probe writes InitWait at once)
 *                     InitWait                  ring, nothing: the offer stands
 *                     Closed, online            ring, INIT_WAIT: blkback's "prepare for
 *                                               reconnect"
 *                     Closing/Connected/other,  ring, INIT_WAIT: the frontend closed and came
 *                     online                    back and we missed its Closed (libblkfront's
 *                                               close then open; a restarted guest driver). It
 *                                               waits for InitWait, so doing nothing wedges it;
 *                                               the old ring is the old frontend's: let it go
 *                     not fresh/InitWait,       ring, CLOSED: the toolstack unplugs (online=0):
 *                     offline                   no new connection, xenopsd waits for Closed
 * Initialised,        Connected, ring connected nothing (blkback: already connected; two
 * Connected                                     watches can fire before we look)
 *                     Closing                   nothing: we closed it (bad ring, refused by
 *                                               tapdisk) or the frontend or the toolstack is
 *                                               closing it; a frontend that wants it back goes
 *                                               through Closed or Initialising. tapback looks
 *                                               again on every change of either side, so
 *                                               retrying here would repeat a refused connect
 *                     Closed, offline           nothing: unplugged, no new connection
 *                     fresh, or Closed online   INIT_WAIT, then as below (blkback connects from
 *                                               any state but Connected: skipped states)
 *                     any other, offline        nothing more: no connect while unplugging
 *                     any other, no hotplug     WAIT_HOTPLUG: connect once the block script
 *                     or tapdisk not found      wrote hotplug-status and the tapdisk answers
 *                     any other                 ring, CONNECT (blkback: disconnect, idempotent,
 *                                               then connect_ring; a Connected backend whose
 *                                               ring tapdisk lost is connected again)
 * Closing             not Closing/Closed        CLOSING. The ring stays: the frontend may still
 *                                               wait for answers to what is in flight (current
 *                                               blkback, too, disconnects only at Closed)
 *                     Closing/Closed            nothing
 * Closed              any                       ring, CLOSED (unless Closed). Online: ready for
 *                                               Initialising again; offline: xenopsd removes
 *                                               both trees itself (blkback unregisters)
 * Unknown, or the     any                       ring, CLOSED (unless Closed), REMOVE: the
 * state node removed                            frontend is gone (hard unplug; blkback
 * after it existed                              unregisters the device)
 * state node never    fresh                     INIT_WAIT: the toolstack writes node by node
 * existed             any other                 nothing: wait for it
 * InitWait,           fresh                     INIT_WAIT
 * Reconfiguring,      any other                 nothing: no frontend of a block device says
 * Reconfigured,                                 these; blkback calls it fatal and closes, we let
 * garbage                                       a guest that writes nonsense keep its ring until
 *                                               it says something meaningful (its own loss only)
 */

/* Returns a set of enum vbd_action bits; every input has one (possibly empty). */
unsigned int vbd_decide(const struct vbd_view *v);

#endif
