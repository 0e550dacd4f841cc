/* tapback's xenbus state machine: the handshake, skipped states, reconnect, unplugs, teardown. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
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

/* ---- property test: random sequences of frontend, toolstack and tapdisk events -------------
 * A model of what device.c does with each action drives vbd_decide() through random sequences;
 * tapback may miss intermediate frontend states (watches fire, it reads the latest value). The
 * invariants hold after every step; the seed is printed on failure (RINGTAP_FSM_SEED=N repeats
 * it). */

#define PROP_SEQUENCES 10000
#define PROP_STEPS 50
#define PROP_TRACE 24

struct model {
	struct vbd_view v;
	bool removed;
	unsigned int refuse_pct; /* chance that tapdisk refuses a connect (a malformed ring) */
};

struct prop {
	uint64_t rng, seed;
	unsigned int seq, step;
	char trace[PROP_TRACE][96];
	unsigned int ntrace;
};

static uint64_t prop_next(struct prop *p)
{
	/* xorshift64*: small, seedable, the same everywhere */
	p->rng ^= p->rng >> 12;
	p->rng ^= p->rng << 25;
	p->rng ^= p->rng >> 27;
	return p->rng * 2685821657736338717ull;
}

static unsigned int prop_below(struct prop *p, unsigned int n)
{
	return (unsigned int)(prop_next(p) >> 33) % n;
}

static void prop_note(struct prop *p, const struct model *m, const char *what, unsigned int act)
{
	snprintf(p->trace[p->ntrace++ % PROP_TRACE], sizeof(p->trace[0]),
		 "%-14s fe=%d be=%d online=%d hp=%d td=%d gone=%d ring=%d -> %#x", what,
		 m->v.fe_state, m->v.be_state, m->v.online, m->v.hotplug_connected,
		 m->v.tapdisk_found, m->v.tapdisk_gone, m->v.ring_connected, act);
}

static void prop_check(struct prop *p, bool ok, const char *what)
{
	unsigned int i, first;

	if (ok)
		return;
	print_error("property violated: %s\nseed %llu (RINGTAP_FSM_SEED=%llu repeats it), "
		    "sequence %u, step %u; last events:\n",
		    what, (unsigned long long)p->seed, (unsigned long long)p->seed, p->seq, p->step);
	first = p->ntrace > PROP_TRACE ? p->ntrace - PROP_TRACE : 0;
	for (i = first; i < p->ntrace; i++)
		print_error("  %s\n", p->trace[i % PROP_TRACE]);
	fail();
}

static bool fe_ready(int fe)
{
	return fe == XenbusStateInitialised || fe == XenbusStateConnected;
}

/* What device.c does with one decision, checking that each action makes sense where it is. */
static void prop_apply(struct prop *p, struct model *m, unsigned int act)
{
	struct vbd_view *v = &m->v;
	int before = v->be_state;

	prop_check(p, !(act & ~VBD_ACT_ALL), "an undefined action bit");
	prop_check(p, !((act & VBD_ACT_CONNECT) &&
			(act & (VBD_ACT_CLOSING | VBD_ACT_CLOSED | VBD_ACT_REMOVE |
				VBD_ACT_WAIT_HOTPLUG | VBD_ACT_TAPDISK_ERROR))),
		   "connect together with closing, removal or waiting");
	prop_check(p, !((act & VBD_ACT_INIT_WAIT) && (act & (VBD_ACT_CLOSING | VBD_ACT_CLOSED))),
		   "InitWait together with Closing/Closed");
	if (act & VBD_ACT_DISCONNECT) {
		prop_check(p, v->ring_connected, "ring disconnected when not connected");
		v->ring_connected = false;
	}
	if (act & VBD_ACT_INIT_WAIT)
		v->be_state = XenbusStateInitWait;
	if (act & VBD_ACT_CONNECT) {
		prop_check(p, !v->ring_connected, "ring connected twice");
		prop_check(p, fe_ready(v->fe_state), "connect while the frontend is not ready");
		prop_check(p, v->online && v->hotplug_connected && v->tapdisk_found && !v->tapdisk_gone,
			   "connect while offline, before hotplug or without a tapdisk");
		if (prop_below(p, 100) < m->refuse_pct) {
			v->be_state = XenbusStateClosing; /* device.c: tapdisk refused the ring */
		} else {
			v->ring_connected = true;
			v->be_state = XenbusStateConnected;
		}
	}
	if (act & VBD_ACT_CLOSING)
		v->be_state = XenbusStateClosing;
	if (act & VBD_ACT_CLOSED)
		v->be_state = XenbusStateClosed;
	if (act & VBD_ACT_REMOVE) {
		prop_check(p, !v->ring_connected, "removed with the ring connected");
		m->removed = true;
	}
	if (v->be_state == XenbusStateConnected && before != XenbusStateConnected)
		prop_check(p, v->ring_connected && fe_ready(v->fe_state),
			   "backend went Connected without a ring or a ready frontend");
}

/* tapback looks (again) until nothing changes; a decision that keeps changing things is a
 * livelock (e.g. a refused connect retried for ever). */
static void prop_settle(struct prop *p, struct model *m)
{
	for (int round = 0; !m->removed; round++) {
		unsigned int act = vbd_decide(&m->v);

		prop_note(p, m, "  tapback", act);
		prop_check(p, round < 6, "no fixed point after 6 decisions (livelock)");
		if (!(act & ~(VBD_ACT_WAIT_HOTPLUG | VBD_ACT_TAPDISK_ERROR)))
			break;
		prop_apply(p, m, act);
	}
}

static void prop_invariants(struct prop *p, const struct model *m)
{
	const struct vbd_view *v = &m->v;

	if (m->removed)
		return;
	if (v->ring_connected)
		prop_check(p, v->be_state == XenbusStateConnected || v->be_state == XenbusStateClosing,
			   "ring connected while the backend is neither Connected nor Closing");
	if (!v->online && v->fe_state == XenbusStateClosed)
		prop_check(p, v->be_state == XenbusStateClosed,
			   "offline and frontend Closed, yet the backend is not Closed");
	if (v->fe_state == XenbusStateClosed)
		prop_check(p, !v->ring_connected, "frontend Closed, ring still connected");
}

static bool serviceable(const struct model *m)
{
	const struct vbd_view *v = &m->v;

	return !m->removed && v->online && v->hotplug_connected && v->tapdisk_found &&
	       !v->tapdisk_gone && v->domain_alive;
}

static void prop_frontend(struct prop *p, struct model *m, int state, const char *what)
{
	m->v.fe_state = state;
	m->v.fe_seen |= state != XS_STATE_MISSING;
	prop_note(p, m, what, 0);
}

/* libblkfront's open: Initialising, wait for InitWait, publish, Initialised, wait Connected. */
static void prop_open(struct prop *p, struct model *m)
{
	m->refuse_pct = 0;
	prop_frontend(p, m, XenbusStateInitialising, "fe open");
	prop_settle(p, m);
	prop_check(p, m->v.be_state == XenbusStateInitWait, "a frontend opening never sees InitWait");
	prop_frontend(p, m, XenbusStateInitialised, "fe published");
	prop_settle(p, m);
	prop_check(p, m->v.be_state == XenbusStateConnected && m->v.ring_connected,
		   "a frontend that published its ring is never Connected");
}

/* From a copy of the current state: a frontend Closed while online can connect again. */
static void check_reopen_after_closed(struct prop *p, const struct model *now)
{
	struct model m = *now;

	if (!serviceable(&m) || m.v.fe_state != XenbusStateClosed)
		return;
	prop_note(p, &m, "check: reopen", 0);
	prop_open(p, &m);
}

/* From a copy: close then reopen at once, tapback missing the frontend's Closed or not. */
static void check_quick_reopen(struct prop *p, const struct model *now)
{
	struct model m = *now;

	if (!serviceable(&m) || m.v.be_state != XenbusStateConnected || !fe_ready(m.v.fe_state))
		return;
	prop_note(p, &m, "check: close", 0);
	prop_frontend(p, &m, XenbusStateClosing, "fe closing");
	prop_settle(p, &m); /* the frontend waits for the backend's Closing */
	prop_check(p, m.v.be_state == XenbusStateClosing, "frontend Closing, backend not Closing");
	prop_frontend(p, &m, XenbusStateClosed, "fe closed");
	if (prop_below(p, 2))
		prop_settle(p, &m);
	prop_open(p, &m);
}

static const int prop_fe_states[] = {
	XenbusStateInitialising, XenbusStateInitialised, XenbusStateConnected, XenbusStateClosing,
	XenbusStateClosed, XenbusStateInitialising, XenbusStateInitialised, XenbusStateConnected,
	XenbusStateClosing, XenbusStateClosed, XenbusStateUnknown, XenbusStateInitWait,
	XenbusStateReconfiguring, XenbusStateReconfigured, XS_STATE_MISSING, 1000,
};

static void prop_event(struct prop *p, struct model *m)
{
	struct vbd_view *v = &m->v;
	unsigned int e = prop_below(p, 100);

	if (e < 60) {
		unsigned int n = sizeof(prop_fe_states) / sizeof(prop_fe_states[0]);
		/* mostly the handshake's own states; sometimes removal, garbage, nonsense */
		prop_frontend(p, m, prop_fe_states[prop_below(p, e < 50 ? 10 : n)], "fe writes");
	} else if (e < 66) {
		v->online = !v->online;
		prop_note(p, m, "online", 0);
	} else if (e < 70) {
		/* xenopsd's classic unplug */
		v->online = false;
		v->be_state = XenbusStateClosing;
		prop_note(p, m, "unplug", 0);
	} else if (e < 76) {
		v->hotplug_connected = !v->hotplug_connected;
		prop_note(p, m, "hotplug", 0);
	} else if (e < 80) {
		v->tapdisk_found = !v->tapdisk_found && !v->tapdisk_gone;
		prop_note(p, m, "tapdisk", 0);
	} else if (e < 82) {
		/* the tapdisk died: device.c forgets the ring, nothing is left to disconnect */
		v->tapdisk_gone = true;
		v->tapdisk_found = false;
		v->ring_connected = false;
		prop_note(p, m, "tapdisk died", 0);
	} else if (e < 84) {
		/* the toolstack plugged a new tapdisk */
		v->tapdisk_gone = false;
		v->tapdisk_found = true;
		prop_note(p, m, "new tapdisk", 0);
	} else if (e < 85) {
		v->domain_alive = false;
		prop_note(p, m, "domain died", 0);
	} else if (e < 88) {
		m->refuse_pct = m->refuse_pct ? 0 : 30;
		prop_note(p, m, "refusals", m->refuse_pct);
	} else {
		prop_note(p, m, "nothing", 0);
	}
}

static uint64_t prop_seed(void)
{
	const char *env = getenv("RINGTAP_FSM_SEED");
	struct timespec ts;

	if (env && *env)
		return strtoull(env, NULL, 0);
	clock_gettime(CLOCK_REALTIME, &ts);
	return ((uint64_t)ts.tv_sec * 1000000007ull) ^ (uint64_t)ts.tv_nsec ^ (uint64_t)getpid();
}

static void random_sequences_keep_the_invariants(void **state)
{
	struct prop *p = calloc(1, sizeof(*p));

	assert_non_null(p);
	p->seed = prop_seed();
	p->rng = p->seed ? p->seed : 1;
	for (p->seq = 0; p->seq < PROP_SEQUENCES; p->seq++) {
		struct model m = { .v = { .fe_state = XS_STATE_MISSING,
					  .be_state = prop_below(p, 2) ? XenbusStateInitialising
								       : XS_STATE_MISSING,
					  .online = true, .domain_alive = true,
					  .hotplug_connected = prop_below(p, 2),
					  .tapdisk_found = true } };

		p->ntrace = 0;
		for (p->step = 0; p->step < PROP_STEPS && !m.removed; p->step++) {
			prop_event(p, &m);
			/* tapback looks now, or the watch events coalesce with the next ones */
			if (prop_below(p, 10) < 7 || !m.v.domain_alive)
				prop_settle(p, &m);
			else
				continue;
			if (!m.v.domain_alive)
				prop_check(p, m.removed, "the domain died, the device is not removed");
			prop_invariants(p, &m);
			check_reopen_after_closed(p, &m);
			check_quick_reopen(p, &m);
		}
	}
	free(p);
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
		cmocka_unit_test(random_sequences_keep_the_invariants),
	};
	return cmocka_run_group_tests_name("xenbus_fsm", tests, NULL, NULL);
}
