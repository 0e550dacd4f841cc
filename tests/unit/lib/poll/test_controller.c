/* The polling window's decisions on a fake clock: grow, shrink, cap, fallback, guard, policies. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <cmocka.h>

#include "ringtap/poll.h"

#define US 1000ULL

static struct poll_ctl ctl_with(enum poll_policy policy)
{
	struct poll_params p;
	struct poll_ctl c;

	poll_params_default(&p);
	p.policy = policy;
	poll_ctl_init(&c, &p);
	return c;
}

/* Drives the controller as the datapath does: requests every `gap` ns, `n` times. */
static uint64_t requests_every(struct poll_ctl *c, uint64_t now, uint64_t gap, int n)
{
	for (int i = 0; i < n; i++) {
		if (c->polling && now + gap <= poll_ctl_deadline(c)) {
			now += gap;
			poll_ctl_hit(c, now);
			continue;
		}
		if (c->polling)
			poll_ctl_leave(c, poll_ctl_deadline(c), true);
		now += gap;
		poll_ctl_wakeup(c, now);
		poll_ctl_enter(c, now, true, 100);
	}
	return now;
}

static void starts_in_event_mode(void **state)
{
	struct poll_ctl c = ctl_with(POLL_POLICY_ADAPTIVE);

	assert_false(poll_ctl_enter(&c, 1000, true, 100));
	assert_int_equal(c.window_ns, 0);
	assert_int_equal(c.stats.entered, 0);
}

static void short_gaps_turn_polling_on_and_grow_to_cover_them(void **state)
{
	struct poll_ctl c = ctl_with(POLL_POLICY_ADAPTIVE);
	uint64_t hits_before, now;

	poll_ctl_enter(&c, 0, true, 100);
	now = requests_every(&c, 0, 30 * US, 20);
	/* the window grew ×2 from 4 µs until it covers the 30 µs gap: 4, 8, 16, 32 */
	assert_int_equal(c.window_ns >= 30 * US, 1);
	assert_true(c.polling);
	hits_before = c.stats.hits;
	requests_every(&c, now, 30 * US, 10);
	assert_int_equal(c.stats.hits, hits_before + 10);
}

static void hits_grow_the_window_up_to_the_cap(void **state)
{
	struct poll_ctl c = ctl_with(POLL_POLICY_ADAPTIVE);
	uint64_t now = 0;

	c.window_ns = POLL_DEFAULT_START_NS;
	assert_true(poll_ctl_enter(&c, now, true, 100));
	for (int i = 0; i < 40; i++) {
		now += 1 * US;
		poll_ctl_hit(&c, now);
		assert_true(c.window_ns <= POLL_DEFAULT_MAX_NS);
	}
	assert_int_equal(c.window_ns, POLL_DEFAULT_MAX_NS);
	assert_int_equal(poll_ctl_deadline(&c), now + POLL_DEFAULT_MAX_NS);
	assert_int_equal(c.stats.hits, 40);
}

static void expiry_is_a_miss_and_falls_back(void **state)
{
	struct poll_ctl c = ctl_with(POLL_POLICY_ADAPTIVE);

	c.window_ns = 64 * US;
	assert_true(poll_ctl_enter(&c, 0, true, 100));
	poll_ctl_leave(&c, poll_ctl_deadline(&c), true);
	assert_false(c.polling);
	assert_int_equal(c.stats.misses, 1);
	assert_int_equal(c.stats.polled_ns, 64 * US);
	/* the window is judged by the next gap, not by the expiry itself */
	assert_int_equal(c.window_ns, 64 * US);
}

static void gaps_beyond_the_max_shrink_to_zero(void **state)
{
	struct poll_ctl c = ctl_with(POLL_POLICY_ADAPTIVE);
	uint64_t now = 0;

	c.window_ns = POLL_DEFAULT_MAX_NS;
	for (int i = 0; i < 20; i++) {
		if (poll_ctl_enter(&c, now, true, 100))
			poll_ctl_leave(&c, poll_ctl_deadline(&c), true);
		now += 10000 * US; /* an idle disk: 10 ms between requests */
		poll_ctl_wakeup(&c, now);
	}
	assert_int_equal(c.window_ns, 0);
	assert_false(poll_ctl_enter(&c, now, true, 100));
	/* decays by halving: 256 → 128 → … → 4 → 0 µs, i.e. 7 idle gaps */
	assert_int_equal(c.stats.entered, 7);
}

static void guard_refuses_and_counts(void **state)
{
	struct poll_ctl c = ctl_with(POLL_POLICY_ADAPTIVE);

	c.window_ns = 32 * US;
	assert_false(poll_ctl_enter(&c, 0, false, 100));
	assert_int_equal(c.stats.guarded, 1);
	assert_true(poll_ctl_enter(&c, 10, true, 100));
	poll_ctl_leave(&c, 20, false); /* cut short by the guard */
	assert_int_equal(c.stats.guarded, 2);
	assert_int_equal(c.stats.misses, 0);
}

static void off_never_polls(void **state)
{
	struct poll_ctl c = ctl_with(POLL_POLICY_OFF);

	requests_every(&c, 0, 1 * US, 100);
	assert_int_equal(c.stats.entered, 0);
	assert_int_equal(c.stats.wakeups, 100);
}

static void fixed_rearms_the_same_window_when_idle_enough(void **state)
{
	struct poll_ctl c = ctl_with(POLL_POLICY_FIXED);

	assert_false(poll_ctl_enter(&c, 0, true, 50)); /* idle 50% is not > 50% */
	assert_int_equal(c.stats.guarded, 1);
	assert_true(poll_ctl_enter(&c, 0, true, 51));
	assert_int_equal(poll_ctl_deadline(&c), POLL_DEFAULT_FIXED_NS);
	poll_ctl_hit(&c, 1000 * US);
	assert_int_equal(poll_ctl_deadline(&c), 1000 * US + POLL_DEFAULT_FIXED_NS);
	poll_ctl_wakeup(&c, 100000 * US);
	assert_int_equal(poll_ctl_window(&c), POLL_DEFAULT_FIXED_NS);
}

static void params_are_validated(void **state)
{
	struct poll_params p;
	enum poll_policy pol;

	poll_params_default(&p);
	assert_int_equal(poll_params_validate(&p), 0);
	p.max_ns = p.start_ns - 1;
	assert_int_equal(poll_params_validate(&p), -EINVAL);
	poll_params_default(&p);
	p.grow = 1;
	assert_int_equal(poll_params_validate(&p), -EINVAL);
	poll_params_default(&p);
	p.idle_threshold = 101;
	assert_int_equal(poll_params_validate(&p), -EINVAL);
	poll_params_default(&p);
	p.fixed_ns = POLL_MAX_WINDOW_NS + 1;
	assert_int_equal(poll_params_validate(&p), -EINVAL);
	assert_int_equal(poll_policy_parse("fixed", &pol), 0);
	assert_int_equal(pol, POLL_POLICY_FIXED);
	assert_int_equal(poll_policy_parse("spin", &pol), -EINVAL);
	assert_int_equal(poll_policy_parse(NULL, &pol), -EINVAL);
	assert_string_equal(poll_policy_name(POLL_POLICY_ADAPTIVE), "adaptive");
}

static void new_params_clamp_the_window(void **state)
{
	struct poll_ctl c = ctl_with(POLL_POLICY_ADAPTIVE);
	struct poll_params p = c.params;

	c.window_ns = POLL_DEFAULT_MAX_NS;
	p.max_ns = 50 * US;
	poll_ctl_set_params(&c, &p);
	assert_int_equal(c.window_ns, 50 * US);
}

/* XAPI's settings under every policy: polling-duration bounds the window, 0 stops polling. */
static void duration_bounds_the_window_under_every_policy(void **state)
{
	struct poll_params p;
	uint64_t lo, hi;

	poll_params_default(&p);
	p.fixed_ns = 8000 * US; /* XAPI's default: above the adaptive ceiling, which stays */
	poll_params_bounds(&p, &lo, &hi);
	assert_int_equal(lo, POLL_DEFAULT_START_NS);
	assert_int_equal(hi, POLL_DEFAULT_MAX_NS);
	p.fixed_ns = 100 * US; /* below it: the ceiling */
	poll_params_bounds(&p, &lo, &hi);
	assert_int_equal(lo, POLL_DEFAULT_START_NS);
	assert_int_equal(hi, 100 * US);
	p.fixed_ns = 2 * US; /* below the start: both bounds */
	poll_params_bounds(&p, &lo, &hi);
	assert_int_equal(lo, 2 * US);
	assert_int_equal(hi, 2 * US);
	p.policy = POLL_POLICY_FIXED;
	p.fixed_ns = 300 * US;
	poll_params_bounds(&p, &lo, &hi);
	assert_int_equal(lo, 300 * US);
	assert_int_equal(hi, 300 * US);
	p.policy = POLL_POLICY_OFF;
	poll_params_bounds(&p, &lo, &hi);
	assert_int_equal(lo, 0);
	assert_int_equal(hi, 0);
}

static void adaptive_grows_only_to_the_duration(void **state)
{
	struct poll_ctl c = ctl_with(POLL_POLICY_ADAPTIVE);
	struct poll_params p = c.params;
	uint64_t now = 0;

	p.fixed_ns = 20 * US;
	poll_ctl_set_params(&c, &p);
	poll_ctl_enter(&c, now, true, 100);
	now = requests_every(&c, now, 10 * US, 50);
	assert_int_equal(c.window_ns, 20 * US); /* 4, 8, 16, then capped at 20 */
	/* a 30 µs gap is beyond the ceiling: the window shrinks instead of growing */
	if (c.polling)
		poll_ctl_leave(&c, poll_ctl_deadline(&c), true);
	poll_ctl_wakeup(&c, now + 30 * US);
	assert_int_equal(c.window_ns, 10 * US);
}

static void duration_zero_never_polls(void **state)
{
	for (int pol = POLL_POLICY_ADAPTIVE; pol <= POLL_POLICY_FIXED; pol++) {
		struct poll_ctl c = ctl_with((enum poll_policy)pol);
		struct poll_params p = c.params;

		p.fixed_ns = 0;
		poll_ctl_set_params(&c, &p);
		requests_every(&c, 0, 1 * US, 100);
		assert_int_equal(c.stats.entered, 0);
		assert_int_equal(poll_ctl_window(&c), 0);
		assert_int_equal(c.stats.guarded, 0); /* not polling is not a refusal */
	}
}

/* polling-idle-threshold gates the start of an episode under adaptive as under fixed. */
static void idle_threshold_gates_adaptive_too(void **state)
{
	struct poll_ctl c = ctl_with(POLL_POLICY_ADAPTIVE);
	struct poll_params p = c.params;

	p.idle_threshold = 60;
	poll_ctl_set_params(&c, &p);
	c.window_ns = 32 * US;
	assert_false(poll_ctl_enter(&c, 0, true, 60));
	assert_int_equal(c.stats.idle_refused, 1);
	assert_int_equal(c.stats.guarded, 1);
	assert_true(poll_ctl_enter(&c, 1000, true, 61));
	assert_int_equal(c.stats.idle_refused, 1);
	poll_ctl_leave(&c, 2000, true);
	/* a guard refusal is not an idle refusal */
	assert_false(poll_ctl_enter(&c, 3000, false, 100));
	assert_int_equal(c.stats.idle_refused, 1);
	assert_int_equal(c.stats.guarded, 2);
}

/* ---- the payoff judge, on synthetic workloads --------------------------------------------- */

/* A closed loop as the datapath reports it: every request completes and the next one is handled
 * `fast` ns later when the backend polls and its window reaches that far, `slow` ns later when
 * it sleeps (the wake-ups, the disk, the scheduler: whatever polling changes end to end). Requests are always in flight.
 * Runs until `until`; the judge hears of every completion. */
struct loop_model {
	uint64_t fast, slow;
};

static uint64_t closed_loop(struct poll_ctl *c, uint64_t now, uint64_t until,
			    const struct loop_model *m, uint64_t *done)
{
	while (now < until) {
		if (c->polling && now + m->fast <= poll_ctl_deadline(c)) {
			now += m->fast;
			poll_ctl_hit(c, now);
		} else {
			if (c->polling)
				poll_ctl_leave(c, poll_ctl_deadline(c), true);
			now += m->slow;
			poll_ctl_wakeup(c, now);
			poll_ctl_enter(c, now, true, 100);
		}
		poll_ctl_progress(c, now, ++*done, true);
	}
	return now;
}

#define MS (1000 * US)

static void judge_keeps_polling_where_it_pays(void **state)
{
	/* the guest's next request follows the response at once: polling finds it in 20 µs, an
	 * event takes 40 µs */
	const struct loop_model pays = { .fast = 20 * US, .slow = 40 * US };
	struct poll_ctl c = ctl_with(POLL_POLICY_ADAPTIVE);
	uint64_t done = 0, now, polled;

	now = closed_loop(&c, 0, 2000 * MS, &pays, &done);
	assert_true(c.judge.kept_on >= 1);
	assert_int_equal(c.judge.kept_off, 0);
	assert_true(c.judge.verdict);
	assert_true(c.judge.rate_on > c.judge.rate_off);
	/* and it polls: the window covers the gap, most of the time is spent in episodes */
	assert_true(c.window_ns >= 20 * US);
	polled = c.stats.polled_ns;
	closed_loop(&c, now, now + 1000 * MS, &pays, &done);
	if (c.polling)
		poll_ctl_leave(&c, now + 1000 * MS, true);
	assert_true(c.stats.polled_ns - polled > 500 * MS);
}

/* Polling time in [from, to) of a run, in ns. */
static uint64_t polled_between(struct poll_ctl *c, uint64_t from, uint64_t to,
			       const struct loop_model *m, uint64_t *done)
{
	uint64_t before = c->stats.polled_ns;

	closed_loop(c, from, to, m, done);
	return c->stats.polled_ns - before;
}

static void judge_stops_spinning_when_the_disk_is_the_wait(void **state)
{
	/* requests 100 µs apart, found by polling well inside the window: the old controller
	 * spun all the time. Polling gains nothing (the disk is the wait), or loses (the spinner
	 * is the CPU the completions need): either way the judge turns it off. */
	const struct loop_model same = { .fast = 100 * US, .slow = 100 * US };
	const struct loop_model loses = { .fast = 130 * US, .slow = 100 * US };
	const struct loop_model *models[] = { &same, &loses };

	for (unsigned int i = 0; i < 2; i++) {
		struct poll_ctl c = ctl_with(POLL_POLICY_ADAPTIVE);
		uint64_t done = 0, spun;

		closed_loop(&c, 0, 1000 * MS, models[i], &done);
		assert_false(c.judge.verdict);
		assert_true(c.judge.kept_off >= 1);
		assert_int_equal(c.judge.kept_on, 0);
		/* over the next 20 s it spins only in the probes' on phases: a bounded cost */
		spun = polled_between(&c, 1000 * MS, 21000 * MS, models[i], &done);
		assert_true(spun < 21000 * MS / 50); /* under 2 % of the time */
		assert_true(c.judge.probes >= 3);    /* but it kept asking */
		assert_true(c.stats.judged_off > 0);
	}
}

static void judge_reprobes_when_the_workload_changes(void **state)
{
	const struct loop_model disk = { .fast = 130 * US, .slow = 100 * US };
	const struct loop_model ring = { .fast = 10 * US, .slow = 30 * US };
	struct poll_ctl c = ctl_with(POLL_POLICY_ADAPTIVE);
	uint64_t done = 0, now, switched;

	/* long enough for the hold to have grown well past the test's horizon */
	now = closed_loop(&c, 0, 6000 * MS, &disk, &done);
	assert_false(c.judge.verdict);
	assert_true(c.judge.hold_ns > POLL_JUDGE_HOLD_NS);
	switched = now;
	/* the completion rate triples: the judge probes at once, not when the hold ends */
	while (!c.judge.verdict && now < switched + 1000 * MS)
		now = closed_loop(&c, now, now + 1 * MS, &ring, &done);
	assert_true(c.judge.verdict);
	assert_true(c.judge.changes >= 1);
	assert_true(now - switched < 300 * MS);
	/* and back: a disk-bound stream again ends polling */
	switched = now;
	while (c.judge.verdict && now < switched + 5000 * MS)
		now = closed_loop(&c, now, now + 1 * MS, &disk, &done);
	assert_false(c.judge.verdict);
}

static void judge_holds_longer_while_the_verdict_repeats(void **state)
{
	const struct loop_model same = { .fast = 50 * US, .slow = 50 * US };
	struct poll_ctl c = ctl_with(POLL_POLICY_ADAPTIVE);
	uint64_t done = 0;

	closed_loop(&c, 0, 60000 * MS, &same, &done);
	assert_int_equal(c.judge.kept_on, 0);
	assert_int_equal(c.judge.hold_ns, POLL_JUDGE_MAX_HOLD_NS);
	/* 60 s: 250 ms, 1 s, then 4 s holds, each after a probe of 4 × 25 ms */
	assert_true(c.judge.probes <= 2 + 60000 / 4000 + 1);
	assert_int_equal(c.judge.changes, 0);
}

static void judge_counts_idle_gaps_up_to_the_window(void **state)
{
	/* one request every 100 ms, each completed 30 µs after it arrived: the long idle gaps
	 * count for at most the longest window, so phases end and the judge still decides */
	struct poll_ctl c = ctl_with(POLL_POLICY_ADAPTIVE);
	uint64_t now = 0, done = 0;

	for (int i = 0; i < 2000; i++) {
		now += 100 * MS;
		poll_ctl_wakeup(&c, now);
		poll_ctl_progress(&c, now, done, true);
		poll_ctl_enter(&c, now, true, 100);
		if (c.polling)
			poll_ctl_leave(&c, now + 30 * US, true);
		now += 30 * US;
		poll_ctl_progress(&c, now, ++done, false);
	}
	assert_true(c.judge.kept_on + c.judge.kept_off >= 1);
}

static void judge_leaves_fixed_and_off_alone(void **state)
{
	struct poll_ctl c = ctl_with(POLL_POLICY_FIXED);
	uint64_t now = 0;

	for (int i = 0; i < 100000; i++) {
		now += 10 * US;
		poll_ctl_progress(&c, now, (uint64_t)i, true);
	}
	assert_int_equal(c.judge.probes, 0);
	assert_true(poll_ctl_wants(&c));
	assert_true(poll_ctl_enter(&c, now, true, 100));
	c = ctl_with(POLL_POLICY_OFF);
	poll_ctl_progress(&c, now, 1, true);
	assert_false(poll_ctl_wants(&c));
}

/* One probe phase seen by the judge: `per_ms` completions a millisecond until the phase ends. */
static void phase_at(struct poll_ctl *c, uint64_t *now, uint64_t *done, uint64_t per_ms)
{
	unsigned int phase = c->judge.phase;

	for (int i = 0; i < 100 && c->judge.probing && c->judge.phase == phase; i++) {
		*now += 1 * MS;
		*done += per_ms;
		poll_ctl_progress(c, *now, *done, true);
	}
	assert_true(!c->judge.probing || c->judge.phase != phase);
}

/* A fresh adaptive controller through its first probe, phase i at rates[i] completions a ms. */
static struct poll_ctl first_probe(const uint64_t rates[4])
{
	struct poll_ctl c = ctl_with(POLL_POLICY_ADAPTIVE);
	uint64_t now = 0, done = 0;

	poll_ctl_progress(&c, now, done, true); /* the first probe starts */
	for (int i = 0; i < 4; i++)
		phase_at(&c, &now, &done, rates[i]);
	return c;
}

static void judge_wants_a_win_beyond_the_noise(void **state)
{
	/* polling 10 % faster, measured twice alike: a win */
	const uint64_t clean[] = { 110, 100, 100, 110 }, noisy[] = { 150, 100, 100, 70 };
	struct poll_ctl c = first_probe(clean);

	assert_int_equal(c.judge.kept_on, 1);
	assert_int_equal(c.judge.noise_pct, 0);
	/* the same 10 % from phases of polling 70 % apart: noise, not a win */
	c = first_probe(noisy);
	assert_int_equal(c.judge.kept_off, 1);
	assert_true(c.judge.noise_pct >= 50);
}

static void judge_sees_a_win_through_a_drift(void **state)
{
	/* the disk slows by a quarter during the probe; polling is 30 % faster next to each phase
	 * without it: a win (the two polling phases are 28 % apart, a noise the mean of the modes
	 * would not have beaten) */
	const uint64_t win[] = { 130, 100, 75, 98 }, tie[] = { 130, 100, 75, 58 };
	struct poll_ctl c = first_probe(win);

	assert_int_equal(c.judge.kept_on, 1);
	assert_true(c.judge.noise_pct >= 25);
	/* the same drift with polling ahead in one pair and behind in the other: no verdict on */
	c = first_probe(tie);
	assert_int_equal(c.judge.kept_off, 1);
}

static void no_judge_polls_whenever_the_window_says_so(void **state)
{
	const struct loop_model loses = { .fast = 130 * US, .slow = 100 * US };
	struct poll_ctl c = ctl_with(POLL_POLICY_ADAPTIVE);
	uint64_t done = 0;

	c.params.no_judge = true;
	closed_loop(&c, 0, 1000 * MS, &loses, &done);
	assert_int_equal(c.judge.probes, 0);
	assert_int_equal(c.stats.judged_off, 0);
	assert_true(c.stats.polled_ns > 900 * MS); /* what the judge is there to stop */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(starts_in_event_mode),
		cmocka_unit_test(short_gaps_turn_polling_on_and_grow_to_cover_them),
		cmocka_unit_test(hits_grow_the_window_up_to_the_cap),
		cmocka_unit_test(expiry_is_a_miss_and_falls_back),
		cmocka_unit_test(gaps_beyond_the_max_shrink_to_zero),
		cmocka_unit_test(guard_refuses_and_counts),
		cmocka_unit_test(off_never_polls),
		cmocka_unit_test(fixed_rearms_the_same_window_when_idle_enough),
		cmocka_unit_test(params_are_validated),
		cmocka_unit_test(new_params_clamp_the_window),
		cmocka_unit_test(duration_bounds_the_window_under_every_policy),
		cmocka_unit_test(adaptive_grows_only_to_the_duration),
		cmocka_unit_test(duration_zero_never_polls),
		cmocka_unit_test(idle_threshold_gates_adaptive_too),
		cmocka_unit_test(judge_keeps_polling_where_it_pays),
		cmocka_unit_test(judge_stops_spinning_when_the_disk_is_the_wait),
		cmocka_unit_test(judge_reprobes_when_the_workload_changes),
		cmocka_unit_test(judge_holds_longer_while_the_verdict_repeats),
		cmocka_unit_test(judge_counts_idle_gaps_up_to_the_window),
		cmocka_unit_test(judge_leaves_fixed_and_off_alone),
		cmocka_unit_test(judge_wants_a_win_beyond_the_noise),
		cmocka_unit_test(judge_sees_a_win_through_a_drift),
		cmocka_unit_test(no_judge_polls_whenever_the_window_says_so),
	};
	return cmocka_run_group_tests_name("poll_controller", tests, NULL, NULL);
}
