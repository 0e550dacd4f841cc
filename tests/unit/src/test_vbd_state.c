/* The VBD's state machine (src/vbd_state.h): every (state, event) pair against a table written
 * out here, and the flows the control plane relies on (a quiesce keeps the image, a pause turns
 * a quiesce into a pause, nothing resumes in the middle of a drain). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <cmocka.h>

#include "src/vbd_state.h"

enum { OPEN = TD_VBD_OPEN, QUIESCING = TD_VBD_QUIESCING, QUIESCED = TD_VBD_QUIESCED,
       PAUSING = TD_VBD_PAUSING, PAUSED = TD_VBD_PAUSED };

/* expected[state][event]: the next state, or -errno (refused). */
static const int expected[TD_VBD_NR_STATES][TD_VBD_NR_EVENTS] = {
	/*               QUIESCE    PAUSE      DRAINED   RESUME */
	[TD_VBD_OPEN] = { QUIESCING, PAUSING, -EINVAL, -EINVAL },
	[TD_VBD_QUIESCING] = { QUIESCING, PAUSING, QUIESCED, -EBUSY },
	[TD_VBD_QUIESCED] = { -EALREADY, PAUSING, -EINVAL, OPEN },
	[TD_VBD_PAUSING] = { PAUSING, PAUSING, PAUSED, -EBUSY },
	[TD_VBD_PAUSED] = { -EALREADY, -EALREADY, -EINVAL, OPEN },
};

static void every_state_and_event_has_its_outcome(void **state)
{
	for (int s = 0; s < TD_VBD_NR_STATES; s++)
		for (int ev = 0; ev < TD_VBD_NR_EVENTS; ev++) {
			int got = td_vbd_transition((enum td_vbd_state)s, (enum td_vbd_event)ev);

			if (got != expected[s][ev])
				fail_msg("%s + event %d: got %d, expected %d",
					 td_vbd_state_name((enum td_vbd_state)s), ev, got,
					 expected[s][ev]);
		}
}

static void transitions_stay_inside_the_states(void **state)
{
	for (int s = 0; s < TD_VBD_NR_STATES; s++)
		for (int ev = 0; ev < TD_VBD_NR_EVENTS; ev++) {
			int got = td_vbd_transition((enum td_vbd_state)s, (enum td_vbd_event)ev);

			assert_true(got < TD_VBD_NR_STATES);
			assert_true(got >= 0 || got == -EINVAL || got == -EBUSY ||
				    got == -EALREADY);
		}
}

static void only_drains_are_draining(void **state)
{
	for (int s = 0; s < TD_VBD_NR_STATES; s++)
		assert_int_equal(td_vbd_state_draining((enum td_vbd_state)s),
				 s == QUIESCING || s == PAUSING);
}

/* Every refused event leaves nothing to undo, and DRAINED is accepted exactly where a drain is in
 * progress: the hook that sends it checks td_vbd_state_draining. */
static void drained_is_accepted_only_while_draining(void **state)
{
	for (int s = 0; s < TD_VBD_NR_STATES; s++)
		assert_int_equal(td_vbd_transition((enum td_vbd_state)s, TD_VBD_EV_DRAINED) >= 0,
				 td_vbd_state_draining((enum td_vbd_state)s));
}

static int run(int s, const enum td_vbd_event *evs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		s = td_vbd_transition((enum td_vbd_state)s, evs[i]);
		if (s < 0)
			return s;
	}
	return s;
}

static void disconnect_in_flight_quiesces_and_serves_again(void **state)
{
	const enum td_vbd_event evs[] = { TD_VBD_EV_QUIESCE, TD_VBD_EV_DRAINED,
					  TD_VBD_EV_RESUME };

	assert_int_equal(run(OPEN, evs, 2), QUIESCED); /* the image was never closed */
	assert_int_equal(run(OPEN, evs, 3), OPEN);
}

static void pause_during_a_quiesce_takes_it_over(void **state)
{
	const enum td_vbd_event during[] = { TD_VBD_EV_QUIESCE, TD_VBD_EV_PAUSE,
					     TD_VBD_EV_DRAINED };
	const enum td_vbd_event after[] = { TD_VBD_EV_QUIESCE, TD_VBD_EV_DRAINED, TD_VBD_EV_PAUSE,
					    TD_VBD_EV_DRAINED };

	assert_int_equal(run(OPEN, during, 3), PAUSED);
	assert_int_equal(run(OPEN, after, 4), PAUSED);
}

static void nothing_resumes_mid_drain(void **state)
{
	assert_int_equal(td_vbd_transition(TD_VBD_QUIESCING, TD_VBD_EV_RESUME), -EBUSY);
	assert_int_equal(td_vbd_transition(TD_VBD_PAUSING, TD_VBD_EV_RESUME), -EBUSY);
	assert_int_equal(td_vbd_transition(TD_VBD_OPEN, TD_VBD_EV_RESUME), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_state_and_event_has_its_outcome),
		cmocka_unit_test(transitions_stay_inside_the_states),
		cmocka_unit_test(only_drains_are_draining),
		cmocka_unit_test(drained_is_accepted_only_while_draining),
		cmocka_unit_test(disconnect_in_flight_quiesces_and_serves_again),
		cmocka_unit_test(pause_during_a_quiesce_takes_it_over),
		cmocka_unit_test(nothing_resumes_mid_drain),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
