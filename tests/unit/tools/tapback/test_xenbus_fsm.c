/* tapback's xenbus state machine: the handshake, skipped states, reconnect, unplugs, teardown. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <xen/io/xenbus.h>

#include "tools/tapback/xenbus_fsm.h"

static struct vbd_view view(int fe, int be)
{
	return (struct vbd_view){ .fe_state = fe, .fe_seen = true, .be_state = be, .online = true,
				  .hotplug_connected = true, .tapdisk_found = true,
				  .domain_alive = true };
}

static void new_device_offers_features(void **state)
{
	struct vbd_view v = view(XenbusStateInitialising, XenbusStateInitialising);

	assert_int_equal(vbd_decide(&v), VBD_ACT_INIT_WAIT);
	v.be_state = XenbusStateInitWait;
	assert_int_equal(vbd_decide(&v), 0);
}

static void initialised_frontend_is_connected(void **state)
{
	struct vbd_view v = view(XenbusStateInitialised, XenbusStateInitWait);

	assert_int_equal(vbd_decide(&v), VBD_ACT_CONNECT);
	v.be_state = XenbusStateConnected;
	v.ring_connected = true;
	assert_int_equal(vbd_decide(&v), 0);
	v.fe_state = XenbusStateConnected;
	assert_int_equal(vbd_decide(&v), 0);
}

static void skipped_states_still_connect(void **state)
{
	/* the frontend went 1 → 4 before we ever looked, and we never wrote InitWait */
	struct vbd_view v = view(XenbusStateConnected, XenbusStateInitialising);

	assert_int_equal(vbd_decide(&v), VBD_ACT_INIT_WAIT | VBD_ACT_CONNECT);
}

static void connect_waits_for_the_hotplug_step(void **state)
{
	struct vbd_view v = view(XenbusStateInitialised, XenbusStateInitWait);

	v.hotplug_connected = false;
	assert_int_equal(vbd_decide(&v), VBD_ACT_WAIT_HOTPLUG);
	v.hotplug_connected = true;
	v.tapdisk_found = false;
	assert_int_equal(vbd_decide(&v), VBD_ACT_WAIT_HOTPLUG);
}

static void ring_lost_while_connected_is_reconnected(void **state)
{
	/* tapback restarted and tapdisk no longer serves the ring (e.g. it was paused away) */
	struct vbd_view v = view(XenbusStateConnected, XenbusStateConnected);

	assert_int_equal(vbd_decide(&v), VBD_ACT_CONNECT);
}

static void closing_and_closed_follow_the_frontend(void **state)
{
	struct vbd_view v = view(XenbusStateClosing, XenbusStateConnected);

	v.ring_connected = true;
	assert_int_equal(vbd_decide(&v), VBD_ACT_CLOSING);
	v.fe_state = XenbusStateClosed;
	assert_int_equal(vbd_decide(&v), VBD_ACT_DISCONNECT | VBD_ACT_CLOSED);
	v.ring_connected = false;
	v.be_state = XenbusStateClosed;
	assert_int_equal(vbd_decide(&v), 0);
}

static void reconnect_after_closed(void **state)
{
	struct vbd_view v = view(XenbusStateInitialising, XenbusStateClosed);

	assert_int_equal(vbd_decide(&v), VBD_ACT_INIT_WAIT);
}

/* libblkfront's close then open: tapback saw the frontend's Closing, wrote Closing, and the next
 * thing it sees is Initialising (its Closed was missed). The frontend waits for InitWait. */
static void reopen_after_a_missed_closed(void **state)
{
	struct vbd_view v = view(XenbusStateInitialising, XenbusStateClosing);

	v.ring_connected = true;
	assert_int_equal(vbd_decide(&v), VBD_ACT_DISCONNECT | VBD_ACT_INIT_WAIT);
	v.ring_connected = false;
	assert_int_equal(vbd_decide(&v), VBD_ACT_INIT_WAIT);
	/* a frontend restarted without closing at all: its old ring is let go of */
	v = view(XenbusStateInitialising, XenbusStateConnected);
	v.ring_connected = true;
	assert_int_equal(vbd_decide(&v), VBD_ACT_DISCONNECT | VBD_ACT_INIT_WAIT);
	/* while the toolstack unplugs (online=0), nothing is offered again */
	v = view(XenbusStateInitialising, XenbusStateClosing);
	v.online = false;
	assert_int_equal(vbd_decide(&v), VBD_ACT_CLOSED);
	v.be_state = XenbusStateClosed;
	assert_int_equal(vbd_decide(&v), 0);
}

/* The frontend went Closed → Initialising → Initialised before tapback looked again. */
static void initialised_after_closed_reconnects(void **state)
{
	struct vbd_view v = view(XenbusStateInitialised, XenbusStateClosed);

	assert_int_equal(vbd_decide(&v), VBD_ACT_INIT_WAIT | VBD_ACT_CONNECT);
	v.online = false;
	assert_int_equal(vbd_decide(&v), 0);
	/* Closing is ours (a refused ring) or an unplug: only the frontend's Closed/Initialising
	 * reopens it, or a refused connect would be retried on every change */
	v = view(XenbusStateInitialised, XenbusStateClosing);
	assert_int_equal(vbd_decide(&v), 0);
}

/* The frontend's Closing keeps the ring: it may wait for answers to requests in flight. */
static void closing_keeps_the_ring_until_closed(void **state)
{
	struct vbd_view v = view(XenbusStateClosing, XenbusStateConnected);

	v.ring_connected = true;
	assert_int_equal(vbd_decide(&v) & VBD_ACT_DISCONNECT, 0);
	v.be_state = XenbusStateClosing;
	assert_int_equal(vbd_decide(&v), 0);
}

static void classic_unplug_leaves_the_trees_to_the_toolstack(void **state)
{
	/* xenopsd: online=0, backend state=5; the frontend closes */
	struct vbd_view v = view(XenbusStateConnected, XenbusStateClosing);

	v.online = false;
	v.ring_connected = true;
	assert_int_equal(vbd_decide(&v), 0);
	v.fe_state = XenbusStateClosed;
	assert_int_equal(vbd_decide(&v), VBD_ACT_DISCONNECT | VBD_ACT_CLOSED);
}

static void hard_unplug_removed_frontend(void **state)
{
	struct vbd_view v = view(XS_STATE_MISSING, XenbusStateConnected);

	v.online = false;
	v.ring_connected = true;
	assert_int_equal(vbd_decide(&v), VBD_ACT_DISCONNECT | VBD_ACT_CLOSED | VBD_ACT_REMOVE);
}

static void frontend_not_written_yet_is_waited_for(void **state)
{
	struct vbd_view v = view(XS_STATE_MISSING, XenbusStateInitialising);

	v.fe_seen = false;
	assert_int_equal(vbd_decide(&v), VBD_ACT_INIT_WAIT);
	v.be_state = XenbusStateInitWait;
	assert_int_equal(vbd_decide(&v), 0);
}

static void dead_domain_is_torn_down(void **state)
{
	struct vbd_view v = view(XenbusStateConnected, XenbusStateConnected);

	v.domain_alive = false;
	v.ring_connected = true;
	assert_int_equal(vbd_decide(&v), VBD_ACT_DISCONNECT | VBD_ACT_REMOVE);
}

static void garbage_states_do_nothing_harmful(void **state)
{
	struct vbd_view v = view(12345, XenbusStateInitWait);

	assert_int_equal(vbd_decide(&v), 0);
	v.fe_state = -77;
	assert_int_equal(vbd_decide(&v), 0);
	v = view(XenbusStateReconfiguring, XenbusStateConnected);
	v.ring_connected = true;
	assert_int_equal(vbd_decide(&v), 0);
}

/* The tapdisk behind physical-device-path is gone (dead, refusing, lost the minor): the error is
 * reported and the backend goes Closing, then Closed, whatever the frontend was doing; nothing
 * reconnects; a removed frontend is still cleaned up; closed on both sides, it is no error. */
static void gone_tapdisk_closes_the_device(void **state)
{
	static const int fe_states[] = { XenbusStateInitialising, XenbusStateInitialised,
					  XenbusStateConnected, XenbusStateClosing };
	struct vbd_view v;

	for (unsigned int i = 0; i < sizeof(fe_states) / sizeof(fe_states[0]); i++) {
		v = view(fe_states[i], XenbusStateConnected);
		v.tapdisk_found = false;
		v.tapdisk_gone = true;
		assert_int_equal(vbd_decide(&v), VBD_ACT_TAPDISK_ERROR | VBD_ACT_CLOSING |
							 VBD_ACT_CLOSED);
		v.be_state = XenbusStateClosing;
		assert_int_equal(vbd_decide(&v), VBD_ACT_TAPDISK_ERROR | VBD_ACT_CLOSED);
		v.be_state = XenbusStateClosed;
		assert_int_equal(vbd_decide(&v), VBD_ACT_TAPDISK_ERROR);
	}
	v = view(XenbusStateInitWait, XenbusStateInitWait);
	v.tapdisk_gone = true;
	assert_int_equal(vbd_decide(&v), VBD_ACT_TAPDISK_ERROR | VBD_ACT_CLOSING | VBD_ACT_CLOSED);
	v = view(XenbusStateClosed, XenbusStateClosing);
	v.tapdisk_gone = true;
	assert_int_equal(vbd_decide(&v), VBD_ACT_TAPDISK_ERROR | VBD_ACT_CLOSED);
	/* closed on both sides: a tapdisk exiting after its last detach is no error */
	v.be_state = XenbusStateClosed;
	assert_int_equal(vbd_decide(&v), 0);
	/* until the frontend comes back */
	v.fe_state = XenbusStateInitialising;
	assert_int_equal(vbd_decide(&v), VBD_ACT_TAPDISK_ERROR);
	v = view(XS_STATE_MISSING, XenbusStateClosing);
	v.tapdisk_gone = true;
	assert_int_equal(vbd_decide(&v), VBD_ACT_CLOSED | VBD_ACT_REMOVE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(new_device_offers_features),
		cmocka_unit_test(initialised_frontend_is_connected),
		cmocka_unit_test(skipped_states_still_connect),
		cmocka_unit_test(connect_waits_for_the_hotplug_step),
		cmocka_unit_test(ring_lost_while_connected_is_reconnected),
		cmocka_unit_test(closing_and_closed_follow_the_frontend),
		cmocka_unit_test(reconnect_after_closed),
		cmocka_unit_test(reopen_after_a_missed_closed),
		cmocka_unit_test(initialised_after_closed_reconnects),
		cmocka_unit_test(closing_keeps_the_ring_until_closed),
		cmocka_unit_test(classic_unplug_leaves_the_trees_to_the_toolstack),
		cmocka_unit_test(hard_unplug_removed_frontend),
		cmocka_unit_test(frontend_not_written_yet_is_waited_for),
		cmocka_unit_test(dead_domain_is_torn_down),
		cmocka_unit_test(garbage_states_do_nothing_harmful),
		cmocka_unit_test(gone_tapdisk_closes_the_device),
	};
	return cmocka_run_group_tests_name("xenbus_fsm", tests, NULL, NULL);
}
