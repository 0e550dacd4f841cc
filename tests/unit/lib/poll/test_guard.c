/* The load guard's verdicts and the host-wide budget's slot table. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "ringtap/poll.h"

static void busy_cpus_trip_the_guard(void **state)
{
	struct poll_guard_params p;
	struct poll_load_sample s = { .runnable = 2 };

	poll_guard_params_default(&p);
	/* the poller plus one other task on two CPUs: nobody waits */
	assert_int_equal(poll_guard_judge(&p, &s, 2), POLL_GUARD_OK);
	/* the poller plus two others: one of them waits for a CPU */
	s.runnable = 3;
	assert_int_equal(poll_guard_judge(&p, &s, 2), POLL_GUARD_CPUS_BUSY);
	s.runnable = 2;
	assert_int_equal(poll_guard_judge(&p, &s, 1), POLL_GUARD_CPUS_BUSY);
	s.runnable = 0; /* unreadable sample */
	assert_int_equal(poll_guard_judge(&p, &s, 1), POLL_GUARD_OK);
}

static void pressure_and_steal_trip_the_guard(void **state)
{
	struct poll_guard_params p;
	struct poll_load_sample s = { .runnable = 1 };

	poll_guard_params_default(&p);
	s.psi_some_avg10_pct = POLL_GUARD_DEFAULT_PSI_PCT + 1;
	assert_int_equal(poll_guard_judge(&p, &s, 4), POLL_GUARD_PRESSURE);
	s.psi_some_avg10_pct = 0;
	s.steal_pct = POLL_GUARD_DEFAULT_STEAL_PCT + 1;
	assert_int_equal(poll_guard_judge(&p, &s, 4), POLL_GUARD_STEAL);
	p.max_steal_pct = 0; /* check disabled */
	assert_int_equal(poll_guard_judge(&p, &s, 4), POLL_GUARD_OK);
	assert_string_equal(poll_guard_verdict_name(POLL_GUARD_STEAL), "steal");
}

static void preemption_of_the_poller_trips_the_guard(void **state)
{
	struct poll_guard_params p;
	struct poll_load_sample s = { .runnable = 1, .preemptions = 1 };

	poll_guard_params_default(&p);
	/* the scheduler took the poller's CPU for another task: it was waiting for it */
	assert_int_equal(poll_guard_judge(&p, &s, 4), POLL_GUARD_PREEMPTED);
	assert_string_equal(poll_guard_verdict_name(POLL_GUARD_PREEMPTED), "preempted");
	s.preemptions = 0;
	assert_int_equal(poll_guard_judge(&p, &s, 4), POLL_GUARD_OK);
	s.preemptions = 3;
	p.preempt_check = false;
	assert_int_equal(poll_guard_judge(&p, &s, 4), POLL_GUARD_OK);
	/* a busy host is reported as such first */
	p.preempt_check = true;
	s.runnable = 9;
	assert_int_equal(poll_guard_judge(&p, &s, 4), POLL_GUARD_CPUS_BUSY);
}

static void guard_samples_at_most_once_per_period(void **state)
{
	struct poll_guard_params p;
	struct poll_guard g;

	poll_guard_params_default(&p);
	p.tripped_sample_ns = 0; /* a loaded test machine may trip it: keep the 1 ms period */
	assert_int_equal(poll_guard_open(&g, &p), 0);
	poll_guard_check(&g, 1);
	assert_true(g.last.runnable >= 1); /* this test itself is running */
	g.last.runnable = 999;
	/* within the period: the last verdict, no re-read */
	poll_guard_check(&g, 1 + p.sample_ns - 1);
	assert_int_equal(g.last.runnable, 999);
	poll_guard_check(&g, 1 + p.sample_ns);
	assert_true(g.last.runnable < 999);
	/* a snapshot is debounced: the sample is the smaller of the last two readings, so one
	 * reading of a crowded run queue (a short-lived task) does not trip the guard */
	g.prev_runnable = 1;
	assert_int_not_equal(poll_guard_check(&g, 1 + 2 * p.sample_ns), POLL_GUARD_CPUS_BUSY);
	assert_int_equal(g.last.runnable, 1);
	assert_true(g.prev_runnable >= 1);
	poll_guard_close(&g);
}

/* /proc/loadavg as the guard reads it, from a file the test writes */
static void fake_loadavg(struct poll_guard *g, const char *text)
{
	char path[] = "/tmp/ringtap-loadavg.XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	if (g->loadavg_fd >= 0)
		close(g->loadavg_fd);
	g->loadavg_fd = fd;
}

static void a_tripped_guard_resamples_less_often(void **state)
{
	struct poll_guard_params p;
	struct poll_guard g;
	uint64_t t0 = 5000000000ULL;

	poll_guard_params_default(&p);
	p.max_psi_pct = p.max_steal_pct = 0;
	p.preempt_check = false;
	assert_int_equal(poll_guard_open(&g, &p), 0);
	g.online_cpus = 2;
	fake_loadavg(&g, "0.00 0.00 0.00 9/100 1\n");
	g.prev_runnable = 9;
	g.next_slow_sample_ns = UINT64_MAX;
	assert_int_equal(poll_guard_check(&g, t0), POLL_GUARD_CPUS_BUSY);
	assert_int_equal(g.trips[POLL_GUARD_CPUS_BUSY], 1);
	/* the host calms down, but nobody polls: the refusal holds for tripped_sample_ns */
	fake_loadavg(&g, "0.00 0.00 0.00 1/100 1\n");
	assert_int_equal(poll_guard_check(&g, t0 + 2 * p.sample_ns), POLL_GUARD_CPUS_BUSY);
	assert_int_equal(g.trips[POLL_GUARD_CPUS_BUSY], 1); /* not re-read */
	/* then it is re-read (debounced: the smaller of 9 and 1) */
	assert_int_equal(poll_guard_check(&g, t0 + p.tripped_sample_ns), POLL_GUARD_OK);
	assert_int_equal(g.last.runnable, 1);
	/* while polling (verdict OK) it is re-read every sample_ns again */
	fake_loadavg(&g, "0.00 0.00 0.00 7/100 1\n");
	poll_guard_check(&g, t0 + p.tripped_sample_ns + p.sample_ns);
	assert_int_equal(g.prev_runnable, 7);
	poll_guard_close(&g);
}

static char budget_path[64];

static int make_path(void **state)
{
	snprintf(budget_path, sizeof(budget_path), "/tmp/ringtap-budget-test.%d", (int)getpid());
	unlink(budget_path);
	return 0;
}

static int remove_path(void **state)
{
	unlink(budget_path);
	return 0;
}

static void budget_caps_concurrent_pollers(void **state)
{
	struct poll_budget a, b;
	pid_t child;
	int status;

	assert_int_equal(poll_budget_open(&a, budget_path, 1), 0);
	assert_int_equal(poll_budget_open(&b, budget_path, 1), 0);
	assert_true(poll_budget_acquire(&a, 0));
	assert_true(poll_budget_acquire(&a, 0)); /* idempotent */
	assert_int_equal(poll_budget_in_use(&a), 1);

	/* another process cannot take the only slot while we hold it */
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		struct poll_budget c;

		if (poll_budget_open(&c, budget_path, 1) < 0)
			_exit(2);
		_exit(poll_budget_acquire(&c, 0) ? 1 : 0);
	}
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_int_equal(WEXITSTATUS(status), 0);

	poll_budget_release(&a);
	assert_int_equal(poll_budget_in_use(&a), 0);
	assert_true(poll_budget_acquire(&b, 0));
	poll_budget_close(&a);
	poll_budget_close(&b);
}

static void budget_reclaims_slots_of_dead_processes(void **state)
{
	struct poll_budget a;
	pid_t child;
	int status;

	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		struct poll_budget c;

		if (poll_budget_open(&c, budget_path, 1) < 0 || !poll_budget_acquire(&c, 0))
			_exit(1);
		_exit(0); /* dies holding the slot */
	}
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_int_equal(WEXITSTATUS(status), 0);

	assert_int_equal(poll_budget_open(&a, budget_path, 1), 0);
	assert_int_equal(poll_budget_in_use(&a), 1);
	assert_true(poll_budget_acquire(&a, 1000));
	assert_int_equal(poll_budget_in_use(&a), 1);
	poll_budget_close(&a);
	assert_int_equal(poll_budget_open(&a, budget_path, 0), 0);
	assert_true(a.limit >= 1);
	poll_budget_close(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(busy_cpus_trip_the_guard),
		cmocka_unit_test(pressure_and_steal_trip_the_guard),
		cmocka_unit_test(preemption_of_the_poller_trips_the_guard),
		cmocka_unit_test(guard_samples_at_most_once_per_period),
		cmocka_unit_test(a_tripped_guard_resamples_less_often),
		cmocka_unit_test_setup_teardown(budget_caps_concurrent_pollers, make_path, remove_path),
		cmocka_unit_test_setup_teardown(budget_reclaims_slots_of_dead_processes, make_path,
						remove_path),
	};
	return cmocka_run_group_tests_name("poll_guard", tests, NULL, NULL);
}
