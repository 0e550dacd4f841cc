/* tapdisk's host-wide configuration file: every key, every kind of bad line, the whole-file
 * check, the path's precedence. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ringtap/driver.h"
#include "src/host_config.h"

#define US 1000ULL

/* Field by field: the structs have padding. */
static void assert_same(const struct td_config *a, const struct td_config *b)
{
	assert_int_equal(a->poll.policy, b->poll.policy);
	assert_int_equal(a->poll.start_ns, b->poll.start_ns);
	assert_int_equal(a->poll.max_ns, b->poll.max_ns);
	assert_int_equal(a->poll.grow, b->poll.grow);
	assert_int_equal(a->poll.shrink, b->poll.shrink);
	assert_int_equal(a->poll.fixed_ns, b->poll.fixed_ns);
	assert_int_equal(a->poll.idle_threshold, b->poll.idle_threshold);
	assert_int_equal(a->poll.budget, b->poll.budget);
	assert_int_equal(a->poll.no_guard, b->poll.no_guard);
	assert_int_equal(a->poll.no_judge, b->poll.no_judge);
	assert_memory_equal(a->env, b->env, sizeof(a->env));
}

static int line(struct td_config *c, const char *l)
{
	char why[128] = "";
	int rc = td_config_parse_line(c, l, why, sizeof(why));

	if (rc)
		assert_true(why[0] != '\0'); /* every refusal says why */
	return rc;
}

static void every_key_is_applied(void **state)
{
	struct td_config c;

	td_config_default(&c);
	assert_int_equal(line(&c, "polling-policy = fixed"), 0);
	assert_int_equal(c.poll.policy, POLL_POLICY_FIXED);
	assert_int_equal(line(&c, "polling-duration=120"), 0);
	assert_int_equal(c.poll.fixed_ns, 120 * US);
	assert_int_equal(line(&c, "\tpolling-idle-threshold =\t30  "), 0);
	assert_int_equal(c.poll.idle_threshold, 30);
	assert_int_equal(line(&c, "polling-start-window = 8"), 0);
	assert_int_equal(c.poll.start_ns, 8 * US);
	assert_int_equal(line(&c, "polling-max-window = 500 # µs"), 0);
	assert_int_equal(c.poll.max_ns, 500 * US);
	assert_int_equal(line(&c, "polling-grow = 4"), 0);
	assert_int_equal(c.poll.grow, 4);
	assert_int_equal(line(&c, "polling-shrink = 16"), 0);
	assert_int_equal(c.poll.shrink, 16);
	assert_int_equal(line(&c, "polling-budget = 3"), 0);
	assert_int_equal(c.poll.budget, 3);
	assert_int_equal(line(&c, "polling-policy = off"), 0);
	assert_int_equal(c.poll.policy, POLL_POLICY_OFF);
	assert_int_equal(line(&c, "polling-duration = 0"), 0); /* XAPI's "no polling" */
	assert_int_equal(c.poll.fixed_ns, 0);
	assert_int_equal(line(&c, "polling-duration = 1000000"), 0); /* the 1 s cap */
	assert_int_equal(c.poll.fixed_ns, 1000000 * US);
	assert_int_equal(line(&c, "uring-batch = 32"), 0);
	assert_string_equal(c.env[TD_CONFIG_URING_BATCH], "32");
	assert_int_equal(line(&c, "uring-fixed-buffers = on"), 0);
	assert_string_equal(c.env[TD_CONFIG_URING_FIXED_BUFFERS], "on");
	assert_int_equal(line(&c, "uring-sqpoll = off"), 0);
	assert_string_equal(c.env[TD_CONFIG_URING_SQPOLL], "off");
	assert_int_equal(line(&c, "uring-sqpoll-cpu = 4095"), 0);
	assert_string_equal(c.env[TD_CONFIG_URING_SQPOLL_CPU], "4095");
}

/* The engine's keys become its environment variables, unless the environment has them. */
static void engine_keys_are_exported_unless_set(void **state)
{
	struct td_config c;

	unsetenv(TD_URING_BATCH_ENV);
	setenv(TD_URING_SQPOLL_ENV, "off", 1);
	td_config_default(&c);
	assert_int_equal(line(&c, "uring-batch = 4"), 0);
	assert_int_equal(line(&c, "uring-sqpoll = on"), 0);
	td_config_export(&c);
	assert_string_equal(getenv(TD_URING_BATCH_ENV), "4");
	assert_string_equal(getenv(TD_URING_SQPOLL_ENV), "off");
	assert_null(getenv(TD_URING_FIXED_BUFFERS_ENV));
	unsetenv(TD_URING_BATCH_ENV);
	unsetenv(TD_URING_SQPOLL_ENV);
}

static void blanks_and_comments_change_nothing(void **state)
{
	struct td_config c, d;

	td_config_default(&c);
	d = c;
	assert_int_equal(line(&c, ""), 0);
	assert_int_equal(line(&c, "   \t \r"), 0);
	assert_int_equal(line(&c, "# polling-policy = off"), 0);
	assert_int_equal(line(&c, "   # comment"), 0);
	assert_same(&c, &d);
}

static void bad_lines_are_refused_and_change_nothing(void **state)
{
	static const char *const bad[] = {
		"polling-policy", /* no '=' */
		"polling-policy =", /* no value */
		"= adaptive", /* no key */
		"polling-policy = spin", /* unknown policy */
		"polling-policy = adaptive!", /* trailing junk */
		"polling-policy = ADAPTIVE", /* names are lower case */
		"polling-duration = 1000001", /* above 1 s */
		"polling-duration = -1", /* sign */
		"polling-duration = +5", /* sign */
		"polling-duration = 0x10", /* hex */
		"polling-duration = 12 34", /* two values */
		"polling-duration = 99999999999999999999", /* overflow */
		"polling-duration = 1e3", /* not an integer */
		"polling-idle-threshold = 101", /* a percentage */
		"polling-start-window = 0", /* windows start above 0 */
		"polling-max-window = 0",
		"polling-grow = 1", /* 2..16 */
		"polling-shrink = 17",
		"polling-budget = 65", /* POLL_BUDGET_SLOTS */
		"polling_duration = 100", /* unknown key */
		"Polling-duration = 100",
		"polling-duration-us = 100",
		"polling = on",
		"uring-batch = 0", /* 1..128 */
		"uring-batch = 129",
		"uring-sqpoll = yes", /* on or off */
		"uring-fixed-buffers = On",
		"uring-fixed-buffers = onn",
		"uring-sqpoll-cpu = 4096",
		"uring-sqpoll-cpu = -1",
	};
	struct td_config c, d;

	td_config_default(&c);
	d = c;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (line(&c, bad[i]) != -EINVAL)
			fail_msg("accepted: %s", bad[i]);
		assert_same(&c, &d);
	}
}

static unsigned int read_text(struct td_config *c, const char *text, size_t len)
{
	FILE *f = fmemopen((void *)text, len, "r");
	unsigned int bad;

	assert_non_null(f);
	td_config_default(c);
	bad = td_config_read(c, f, "test.conf");
	fclose(f);
	return bad;
}

static void a_file_skips_bad_lines_and_keeps_the_rest(void **state)
{
	static const char text[] = "# host defaults\n"
				   "polling-policy = fixed\n"
				   "polling-duration = banana\n"
				   "polling-idle-threshold = 20\n"
				   "nonsense\n"
				   "polling-idle-threshold = 25\n" /* the last one wins */
				   "polling-duration = 300"; /* no final newline */
	struct td_config c;

	assert_int_equal(read_text(&c, text, strlen(text)), 2);
	assert_int_equal(c.poll.policy, POLL_POLICY_FIXED);
	assert_int_equal(c.poll.fixed_ns, 300 * US);
	assert_int_equal(c.poll.idle_threshold, 25);
}

static void a_nul_byte_spoils_its_line_only(void **state)
{
	static const char text[] = "polling-policy = off\0fixed\npolling-grow = 4\n";
	struct td_config c;

	assert_int_equal(read_text(&c, text, sizeof(text) - 1), 1);
	assert_int_equal(c.poll.policy, POLL_POLICY_ADAPTIVE);
	assert_int_equal(c.poll.grow, 4);
}

static void settings_that_do_not_hold_together_revert_to_the_defaults(void **state)
{
	static const char text[] = "polling-policy = fixed\n"
				   "polling-start-window = 500\n" /* above the default max */
				   "polling-max-window = 100\n";
	static const char ordered[] = "polling-start-window = 500\n" /* fine once max follows */
				      "polling-max-window = 1000\n";
	struct td_config c, d;

	td_config_default(&d);
	assert_int_equal(read_text(&c, text, strlen(text)), 1);
	assert_same(&c, &d);
	assert_int_equal(read_text(&c, ordered, strlen(ordered)), 0);
	assert_int_equal(c.poll.start_ns, 500 * US);
	assert_int_equal(c.poll.max_ns, 1000 * US);
}

static void the_path_comes_from_the_option_the_environment_or_the_default(void **state)
{
	unsetenv(TD_CONFIG_ENV);
	assert_string_equal(td_config_path(NULL), TD_CONFIG_DEFAULT_PATH);
	assert_string_equal(td_config_path("/x.conf"), "/x.conf");
	setenv(TD_CONFIG_ENV, "/y.conf", 1);
	assert_string_equal(td_config_path(NULL), "/y.conf");
	assert_string_equal(td_config_path("/x.conf"), "/x.conf");
	setenv(TD_CONFIG_ENV, "", 1);
	assert_null(td_config_path(NULL));
	unsetenv(TD_CONFIG_ENV);
}

static void a_missing_file_gives_the_defaults(void **state)
{
	struct td_config c, d;

	td_config_default(&d);
	memset(&c, 0xa5, sizeof(c));
	assert_int_equal(td_config_load(&c, "/nonexistent/ringtap/tapdisk.conf"), -ENOENT);
	assert_same(&c, &d);
	memset(&c, 0xa5, sizeof(c));
	assert_int_equal(td_config_load(&c, NULL), 0);
	assert_same(&c, &d);
}

static void print_reads_back_the_same(void **state)
{
	struct td_config c, d;
	char buf[1024];
	FILE *f;

	td_config_default(&c);
	c.poll.policy = POLL_POLICY_FIXED;
	c.poll.fixed_ns = 77 * US;
	c.poll.idle_threshold = 9;
	c.poll.budget = 5;
	assert_int_equal(line(&c, "uring-batch = 8"), 0);
	assert_int_equal(line(&c, "uring-sqpoll = on"), 0);
	f = fmemopen(buf, sizeof(buf), "w");
	assert_non_null(f);
	td_config_print(&c, f);
	fclose(f);
	assert_int_equal(read_text(&d, buf, strlen(buf)), 0);
	assert_same(&c, &d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_key_is_applied),
		cmocka_unit_test(engine_keys_are_exported_unless_set),
		cmocka_unit_test(blanks_and_comments_change_nothing),
		cmocka_unit_test(bad_lines_are_refused_and_change_nothing),
		cmocka_unit_test(a_file_skips_bad_lines_and_keeps_the_rest),
		cmocka_unit_test(a_nul_byte_spoils_its_line_only),
		cmocka_unit_test(settings_that_do_not_hold_together_revert_to_the_defaults),
		cmocka_unit_test(the_path_comes_from_the_option_the_environment_or_the_default),
		cmocka_unit_test(a_missing_file_gives_the_defaults),
		cmocka_unit_test(print_reads_back_the_same),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
