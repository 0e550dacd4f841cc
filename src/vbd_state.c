/* The VBD's state machine (src/vbd_state.h): the transition table, nothing else. */
#include <errno.h>

#include "src/vbd_state.h"

int td_vbd_transition(enum td_vbd_state s, enum td_vbd_event ev)
{
	switch (ev) {
	case TD_VBD_EV_QUIESCE:
		/* a drain in progress (a pause drains too) serves it; a quiet VBD needs none */
		if (s == TD_VBD_QUIESCED || s == TD_VBD_PAUSED)
			return -EALREADY;
		return s == TD_VBD_OPEN ? TD_VBD_QUIESCING : (int)s;
	case TD_VBD_EV_PAUSE:
		/* a quiesce (in progress or done) becomes a pause: the same drain, then the image
		 * closes */
		return s == TD_VBD_PAUSED ? -EALREADY : TD_VBD_PAUSING;
	case TD_VBD_EV_DRAINED:
		if (s == TD_VBD_QUIESCING)
			return TD_VBD_QUIESCED;
		if (s == TD_VBD_PAUSING)
			return TD_VBD_PAUSED;
		return -EINVAL;
	case TD_VBD_EV_RESUME:
		if (s == TD_VBD_QUIESCED || s == TD_VBD_PAUSED)
			return TD_VBD_OPEN;
		return td_vbd_state_draining(s) ? -EBUSY : -EINVAL;
	}
	return -EINVAL;
}

const char *td_vbd_state_name(enum td_vbd_state s)
{
	switch (s) {
	case TD_VBD_OPEN: return "open";
	case TD_VBD_QUIESCING: return "quiescing";
	case TD_VBD_QUIESCED: return "quiesced";
	case TD_VBD_PAUSING: return "pausing";
	case TD_VBD_PAUSED: return "paused";
	}
	return "?";
}
