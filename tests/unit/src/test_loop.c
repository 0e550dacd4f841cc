/* The event loop: timers in deadline order, periodic and cancelled timers, file events,
 * deleting a file whose event is pending, before-sleep hooks. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "src/loop.h"


static int fired[8];
static void mark(struct td_loop *loop, struct td_loop_timer *t, void *data)
{
	fired[(intptr_t)data]++;
}

static void timers_fire_in_deadline_order(void **state)
{
	struct td_loop loop;
	struct td_loop_timer t[3] = { { 0 } };
	uint64_t start = td_loop_now_ns();

	assert_int_equal(td_loop_init(&loop), 0);
	memset(fired, 0, sizeof(fired));
	td_loop_timer_arm(&loop, &t[0], 30000000, 0, mark, (void *)0);
	td_loop_timer_arm(&loop, &t[1], 10000000, 0, mark, (void *)1);
	td_loop_timer_arm(&loop, &t[2], 20000000, 0, mark, (void *)2);
	assert_ptr_equal(loop.timers, &t[1]);
	assert_ptr_equal(loop.timers->next, &t[2]);
	while (!fired[1])
		assert_true(td_loop_run_once(&loop, -1) >= 0);
	assert_int_equal(fired[0], 0);
	assert_true(td_loop_now_ns() - start >= 10000000);
	while (!fired[0])
		assert_true(td_loop_run_once(&loop, -1) >= 0);
	assert_int_equal(fired[2], 1);
	assert_true(td_loop_now_ns() - start >= 30000000);
	assert_null(loop.timers);
	td_loop_fini(&loop);
}

static void periodic_and_cancelled_timers(void **state)
{
	struct td_loop loop;
	struct td_loop_timer per = { 0 }, gone = { 0 };
	uint64_t start;

	assert_int_equal(td_loop_init(&loop), 0);
	memset(fired, 0, sizeof(fired));
	td_loop_timer_arm(&loop, &per, 2000000, 2000000, mark, (void *)3);
	td_loop_timer_arm(&loop, &gone, 1000000, 0, mark, (void *)4);
	td_loop_timer_cancel(&loop, &gone);
	start = td_loop_now_ns();
	while (fired[3] < 3)
		assert_true(td_loop_run_once(&loop, -1) >= 0);
	assert_int_equal(fired[4], 0);
	assert_true(td_loop_now_ns() - start >= 6000000);
	assert_true(per.armed);
	td_loop_timer_cancel(&loop, &per);
	assert_null(loop.timers);
	td_loop_fini(&loop);
}

struct files {
	struct td_loop_file a, b;
	int pa[2], pb[2];
	int a_runs, b_runs;
};

static void on_a(struct td_loop *loop, int fd, uint32_t ev, void *data)
{
	struct files *f = data;
	char c;

	f->a_runs++;
	assert_int_equal(read(fd, &c, 1), 1);
	td_loop_file_del(loop, &f->b); /* b's event may be pending in this very batch */
}

static void on_b(struct td_loop *loop, int fd, uint32_t ev, void *data)
{
	struct files *f = data;
	char c;

	f->b_runs++;
	assert_int_equal(read(fd, &c, 1), 1);
	td_loop_file_del(loop, &f->a);
}

static void file_events_and_deletion_during_dispatch(void **state)
{
	struct td_loop loop;
	struct files f = { 0 };

	assert_int_equal(td_loop_init(&loop), 0);
	assert_int_equal(pipe(f.pa), 0);
	assert_int_equal(pipe(f.pb), 0);
	assert_int_equal(td_loop_file_add(&loop, &f.a, f.pa[0], EPOLLIN, on_a, &f), 0);
	assert_int_equal(td_loop_file_add(&loop, &f.b, f.pb[0], EPOLLIN, on_b, &f), 0);
	assert_int_equal(td_loop_run_once(&loop, 0), 0); /* nothing readable */
	assert_int_equal(write(f.pa[1], "x", 1), 1);
	assert_int_equal(write(f.pb[1], "y", 1), 1);
	assert_int_equal(td_loop_run_once(&loop, 1000), 1); /* the first deletes the second */
	assert_int_equal(f.a_runs + f.b_runs, 1);
	assert_false(f.a.registered && f.b.registered);
	td_loop_file_del(&loop, &f.a);
	td_loop_file_del(&loop, &f.b);
	for (int i = 0; i < 2; i++) {
		close(f.pa[i]);
		close(f.pb[i]);
	}
	td_loop_fini(&loop);
}

static int hook_runs;
static bool busy_twice(struct td_loop *loop, void *data)
{
	return ++hook_runs < 3;
}

static void hooks_run_before_sleep_and_keep_it_awake(void **state)
{
	struct td_loop loop;
	struct td_loop_hook h = { 0 };
	uint64_t start;

	assert_int_equal(td_loop_init(&loop), 0);
	hook_runs = 0;
	td_loop_hook_add(&loop, &h, busy_twice, NULL);
	start = td_loop_now_ns();
	/* busy: no wait even with a long timeout, until the hook says it is done */
	td_loop_run_once(&loop, 5000);
	td_loop_run_once(&loop, 5000);
	assert_int_equal(hook_runs, 2);
	assert_true(td_loop_now_ns() - start < 1000000000ull);
	td_loop_run_once(&loop, 10);
	assert_int_equal(hook_runs, 3);
	td_loop_hook_del(&loop, &h);
	td_loop_run_once(&loop, 0);
	assert_int_equal(hook_runs, 3);
	td_loop_fini(&loop);
}

static void stop_ends_run(struct td_loop *loop, struct td_loop_timer *t, void *data)
{
	td_loop_stop(loop);
}

static void run_until_stopped(void **state)
{
	struct td_loop loop;
	struct td_loop_timer t = { 0 };

	assert_int_equal(td_loop_init(&loop), 0);
	td_loop_timer_arm(&loop, &t, 1000000, 0, stop_ends_run, NULL);
	assert_int_equal(td_loop_run(&loop), 0);
	assert_false(t.armed);
	td_loop_fini(&loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(timers_fire_in_deadline_order),
		cmocka_unit_test(periodic_and_cancelled_timers),
		cmocka_unit_test(file_events_and_deletion_during_dispatch),
		cmocka_unit_test(hooks_run_before_sleep_and_keep_it_awake),
		cmocka_unit_test(run_until_stopped),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
