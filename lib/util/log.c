/* Rate-limited logging to syslog or stderr (see ringtap/log.h). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ringtap/log.h"

/* Process-wide like syslog itself: one logger per process. */
static struct {
	int to_stderr;
	int max_priority;
	const char *ident;
	unsigned int burst;
	unsigned int interval_ms;
	unsigned long long window_start_ms;
	unsigned int in_window;
	unsigned long suppressed;
} logger = { .to_stderr = 1, .max_priority = LOG_INFO, .ident = "ringtap", .burst = 200,
	     .interval_ms = 5000 };

static unsigned long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000 + (unsigned long long)ts.tv_nsec / 1000000;
}

void rt_log_open(const char *ident, int to_stderr)
{
	logger.ident = ident;
	logger.to_stderr = to_stderr;
	if (!to_stderr)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void rt_log_set_level(int max_priority)
{
	logger.max_priority = max_priority;
}

void rt_log_set_ratelimit(unsigned int burst, unsigned int interval_ms)
{
	logger.burst = burst;
	logger.interval_ms = interval_ms;
}

static void emit(int priority, const char *msg)
{
	if (logger.to_stderr)
		fprintf(stderr, "%s: %s\n", logger.ident, msg);
	else
		syslog(priority, "%s", msg);
}

void rt_log(int priority, const char *fmt, ...)
{
	char msg[1024];
	unsigned long long now;
	va_list ap;

	if (priority > logger.max_priority)
		return;

	now = now_ms();
	if (now - logger.window_start_ms >= logger.interval_ms) {
		if (logger.suppressed) {
			snprintf(msg, sizeof(msg), "%lu messages suppressed by rate limiting",
				 logger.suppressed);
			emit(LOG_WARNING, msg);
			logger.suppressed = 0;
		}
		logger.window_start_ms = now;
		logger.in_window = 0;
	}
	if (logger.in_window >= logger.burst) {
		logger.suppressed++;
		return;
	}
	logger.in_window++;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	emit(priority, msg);
}
