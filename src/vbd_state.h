/* The one state machine of a VBD (an open image stack and its ring): whether it serves, drains
 * its in-flight requests, or is paused with its image closed. A pure transition function, so that
 * every (state, event) pair is decided here and tested (tests/unit/src/test_vbd_state.c).
 *
 * Whether a ring is connected is not a state of this machine: a connected ring is paused and
 * resumed with its VBD (XAPI snapshots a running guest's disk), and a paused VBD may be
 * connected or disconnected, so "connected" is a fact beside the state (td_vbd_connected). A
 * VBD that does not exist (no image open, or closed) has no state either: td_vbd_close frees
 * it, after the control plane drained it with a quiesce. */
#ifndef TD_VBD_STATE_H
#define TD_VBD_STATE_H

#include <stdbool.h>

enum td_vbd_state {
	TD_VBD_OPEN, /* the image is open and the ring (if any) consumes requests */
	TD_VBD_QUIESCING, /* the ring consumes nothing; in-flight requests drain, the image stays */
	TD_VBD_QUIESCED, /* drained, image open: disconnect or close it now, or resume */
	TD_VBD_PAUSING, /* the ring consumes nothing; in-flight requests drain, then the image
			 * closes */
	TD_VBD_PAUSED, /* drained, the image (every layer of the chain) closed until resume */
};
#define TD_VBD_NR_STATES 5

enum td_vbd_event {
	TD_VBD_EV_QUIESCE, /* drain without closing the image (a disconnect or close with requests
			    * in flight) */
	TD_VBD_EV_PAUSE, /* drain, then close the image (tap-ctl pause) */
	TD_VBD_EV_DRAINED, /* nothing in flight any more (from the VBD's before-sleep hook) */
	TD_VBD_EV_RESUME, /* serve again: after a quiesce, or after a pause (image reopened) */
};
#define TD_VBD_NR_EVENTS 4

/* The state after `ev` in state `s`, or a negative errno when the event is refused there (and
 * nothing changes): -EALREADY (a quiesce of a quiet VBD, a pause of a paused one: nothing to
 * drain), -EBUSY (resume while a drain is in progress), -EINVAL (resume of a VBD neither paused
 * nor quiesced; drained while not draining). A drain asked for while one is in progress joins
 * it (a pause turns a quiesce into a pause). */
int td_vbd_transition(enum td_vbd_state s, enum td_vbd_event ev);

/* A drain is in progress. */
static inline bool td_vbd_state_draining(enum td_vbd_state s)
{
	return s == TD_VBD_QUIESCING || s == TD_VBD_PAUSING;
}

const char *td_vbd_state_name(enum td_vbd_state s);

#endif
