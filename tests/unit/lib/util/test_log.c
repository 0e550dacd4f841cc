/* The logger (lib/util/log.c): each mode's line format, level names, the capture of a failed
 * operation's first error, and rate limiting, with stderr redirected to a temporary file. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "ringtap/log.h"

static const struct timespec when = { 1764945260, 123456789 }; /* 2025-12-05T14:34:20.123456Z */

static void test_format_modes(void **state)
{
	char line[256];
	size_t n;

	setenv("TZ", "UTC", 1);
	tzset();
	n = rt_log_format(line, sizeof(line), RT_LOG_FILE, &when, "tapdisk", 4242, LOG_INFO,
			  "minor 3", "opened aio:/x");
	assert_string_equal(line, "2025-12-05T14:34:20.123456+00:00 tapdisk[4242] info: minor 3: "
				  "opened aio:/x");
	assert_int_equal(n, strlen(line));
	rt_log_format(line, sizeof(line), RT_LOG_FILE, &when, "tapback", 7, LOG_ERR, NULL, "x");
	assert_string_equal(line, "2025-12-05T14:34:20.123456+00:00 tapback[7] err: x");
	rt_log_format(line, sizeof(line), RT_LOG_JOURNAL, &when, "tapdisk", 1, LOG_ERR, "vbd 1/2",
		      "halted");
	assert_string_equal(line, "<3>vbd 1/2: halted");
	rt_log_format(line, sizeof(line), RT_LOG_JOURNAL, NULL, "tapdisk", 1, LOG_DEBUG, NULL, "d");
	assert_string_equal(line, "<7>d");
	rt_log_format(line, sizeof(line), RT_LOG_PLAIN, NULL, "vhd-util", 1, LOG_ERR, NULL, "bad");
	assert_string_equal(line, "vhd-util: bad");
	rt_log_format(line, sizeof(line), RT_LOG_SYSLOG, NULL, "tapdisk", 1, LOG_ERR, "minor 0", "m");
	assert_string_equal(line, "minor 0: m");
	/* truncated, terminated */
	n = rt_log_format(line, 8, RT_LOG_PLAIN, NULL, "tapdisk", 1, LOG_ERR, NULL, "long line");
	assert_int_equal(n, 7);
	assert_string_equal(line, "tapdisk");
}

static void test_format_time_offset(void **state)
{
	char line[256];

	setenv("TZ", "XYZ-5:30", 1); /* local time 5 h 30 ahead of UTC */
	tzset();
	rt_log_format(line, sizeof(line), RT_LOG_FILE, &when, "t", 1, LOG_INFO, NULL, "m");
	assert_string_equal(line, "2025-12-05T20:04:20.123456+05:30 t[1] info: m");
	setenv("TZ", "UTC", 1);
	tzset();
}

static void test_level_names(void **state)
{
	int l = -1;

	assert_int_equal(rt_log_level_parse("debug", &l), 0);
	assert_int_equal(l, LOG_DEBUG);
	assert_int_equal(rt_log_level_parse("err", &l), 0);
	assert_int_equal(l, LOG_ERR);
	assert_int_equal(rt_log_level_parse("error", &l), 0);
	assert_int_equal(l, LOG_ERR);
	assert_int_equal(rt_log_level_parse("warn", &l), 0);
	assert_int_equal(l, LOG_WARNING);
	assert_int_equal(rt_log_level_parse("6", &l), 0);
	assert_int_equal(l, LOG_INFO);
	assert_int_equal(rt_log_level_parse("8", &l), -EINVAL);
	assert_int_equal(rt_log_level_parse("Debug", &l), -EINVAL);
	assert_int_equal(rt_log_level_parse("", &l), -EINVAL);
	assert_int_equal(rt_log_level_parse(NULL, &l), -EINVAL);
	assert_string_equal(rt_log_level_name(LOG_NOTICE), "notice");
	assert_string_equal(rt_log_level_name(8), "?");
	assert_string_equal(rt_log_level_name(-1), "?");
}

/* stderr into a temporary file for the duration of a test; returns what was written. */
static FILE *tmp;
static int saved_stderr = -1;

static void stderr_capture(void)
{
	fflush(stderr);
	tmp = tmpfile();
	assert_non_null(tmp);
	saved_stderr = dup(STDERR_FILENO);
	dup2(fileno(tmp), STDERR_FILENO);
}

static char *stderr_release(void)
{
	static char buf[65536];
	size_t n;

	fflush(stderr);
	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	rewind(tmp);
	n = fread(buf, 1, sizeof(buf) - 1, tmp);
	buf[n] = '\0';
	fclose(tmp);
	return buf;
}

static unsigned int count(const char *text, const char *what)
{
	unsigned int n = 0;

	for (const char *p = text; (p = strstr(p, what)); p += strlen(what))
		n++;
	return n;
}

static void test_capture_first_error(void **state)
{
	char reason[64] = "stale";

	rt_log_open("t", 1);
	rt_log_set_level(LOG_EMERG); /* captured whatever the level */
	assert_string_equal(rt_log_captured(), "");
	stderr_capture();
	rt_log_capture_begin(reason, sizeof(reason));
	assert_string_equal(reason, "");
	rt_warn("a warning is no reason");
	assert_string_equal(rt_log_captured(), "");
	rt_log_vbd(LOG_ERR, "minor 1", "bad footer cookie (%s)", "not \"conectix\"");
	rt_err("a later error: context only");
	rt_log_capture_end();
	rt_err("after the capture");
	assert_string_equal(stderr_release(), "");
	assert_string_equal(reason, "minor 1: bad footer cookie (not \"conectix\")");
	assert_string_equal(rt_log_captured(), "");
	rt_log_set_level(LOG_INFO);
}

static void test_level_filters(void **state)
{
	char *out;

	rt_log_open("t", 1);
	rt_log_set_ratelimit(1000, 100000);
	rt_log_set_level(LOG_INFO);
	stderr_capture();
	rt_debug("hidden");
	rt_info("shown");
	rt_log_set_level(LOG_DEBUG);
	rt_log_vbd(LOG_DEBUG, "minor 2", "now shown");
	rt_log_set_level(LOG_INFO);
	out = stderr_release();
	assert_string_equal(out, "t: shown\nt: minor 2: now shown\n");
	assert_int_equal(rt_log_level(), LOG_INFO);
}

static void test_ratelimit(void **state)
{
	char *out;

	rt_log_open("t", 1);
	rt_log_set_level(LOG_INFO);
	rt_log_set_ratelimit(5, 1000);
	usleep(1100 * 1000); /* a fresh window */
	stderr_capture();
	for (int i = 0; i < 50; i++)
		rt_log_vbd(LOG_WARNING, "vbd 1/2", "refused %d", i);
	usleep(1100 * 1000); /* the window passes: the next message reports the suppressed ones */
	rt_info("resumed");
	out = stderr_release();
	assert_int_equal(count(out, "refused"), 5);
	assert_non_null(strstr(out, "t: 45 messages suppressed by rate limiting\nt: resumed\n"));
	rt_log_set_ratelimit(200, 5000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_modes),
		cmocka_unit_test(test_format_time_offset),
		cmocka_unit_test(test_level_names),
		cmocka_unit_test(test_capture_first_error),
		cmocka_unit_test(test_level_filters),
		cmocka_unit_test(test_ratelimit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
