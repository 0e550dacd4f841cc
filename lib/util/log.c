/* Rate-limited logging to syslog, the journal, a file or stderr (see ringtap/log.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ringtap/log.h"

/* Process-wide like syslog itself: one logger per process. */
static struct {
	enum rt_log_mode mode;
	int max_priority;
	const char *ident;
	unsigned int burst;
	unsigned int interval_ms;
	unsigned long long window_start_ms;
	unsigned int in_window;
	unsigned long suppressed;
	char *capture; /* rt_log_capture_begin's buffer, NULL outside a capture */
	size_t capture_size;
} logger = { .mode = RT_LOG_PLAIN,
	     .max_priority = LOG_INFO,
	     .ident = "ringtap",
	     .burst = 200,
	     .interval_ms = 5000 };

static const char *const level_names[] = { "emerg",   "alert",	"crit", "err",
					   "warning", "notice", "info", "debug" };

static unsigned long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000 + (unsigned long long)ts.tv_nsec / 1000000;
}

void rt_log_open(const char *ident, int to_stderr)
{
	logger.ident = ident;
	logger.mode = to_stderr ? RT_LOG_PLAIN : RT_LOG_SYSLOG;
	if (!to_stderr)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

/* systemd sets JOURNAL_STREAM="<dev>:<inode>" for a service's stdout and stderr connected to
 * the journal; it is inherited, so it counts only while stderr is still that stream. */
static bool stderr_is_journal(void)
{
	const char *env = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	char tail;

	if (!env || sscanf(env, "%llu:%llu%c", &dev, &ino, &tail) != 2)
		return false;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void rt_log_open_daemon(const char *ident, bool to_stderr)
{
	if (!to_stderr) {
		rt_log_open(ident, 0);
		return;
	}
	logger.ident = ident;
	logger.mode = stderr_is_journal() ? RT_LOG_JOURNAL : RT_LOG_FILE;
}

enum rt_log_mode rt_log_mode(void)
{
	return logger.mode;
}

void rt_log_set_level(int max_priority)
{
	logger.max_priority = max_priority;
}

int rt_log_level(void)
{
	return logger.max_priority;
}

int rt_log_level_parse(const char *name, int *out)
{
	if (!name)
		return -EINVAL;
	if (name[0] >= '0' && name[0] <= '7' && !name[1]) {
		*out = name[0] - '0';
		return 0;
	}
	for (int i = 0; i < (int)(sizeof(level_names) / sizeof(level_names[0])); i++)
		if (!strcmp(name, level_names[i])) {
			*out = i;
			return 0;
		}
	if (!strcmp(name, "error")) {
		*out = LOG_ERR;
		return 0;
	}
	if (!strcmp(name, "warn")) {
		*out = LOG_WARNING;
		return 0;
	}
	return -EINVAL;
}

const char *rt_log_level_name(int priority)
{
	return priority >= 0 && priority <= LOG_DEBUG ? level_names[priority] : "?";
}

void rt_log_set_ratelimit(unsigned int burst, unsigned int interval_ms)
{
	logger.burst = burst;
	logger.interval_ms = interval_ms;
}

void rt_log_capture_begin(char *buf, size_t size)
{
	logger.capture = size ? buf : NULL;
	logger.capture_size = size;
	if (logger.capture)
		buf[0] = '\0';
}

void rt_log_capture_end(void)
{
	logger.capture = NULL;
	logger.capture_size = 0;
}

const char *rt_log_captured(void)
{
	return logger.capture ? logger.capture : "";
}

/* "2026-12-05T14:34:20.123456+01:00" */
static void iso_time(char *buf, size_t size, const struct timespec *now)
{
	char date[32], zone[8] = "";
	struct tm tm;

	if (!localtime_r(&now->tv_sec, &tm) ||
	    !strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm)) {
		snprintf(buf, size, "%lld.%06ld", (long long)now->tv_sec, now->tv_nsec / 1000);
		return;
	}
	if (strftime(zone, sizeof(zone), "%z", &tm) == 5) /* +hhmm → +hh:mm */
		snprintf(buf, size, "%s.%06ld%.3s:%s", date, now->tv_nsec / 1000, zone, zone + 3);
	else
		snprintf(buf, size, "%s.%06ld%s", date, now->tv_nsec / 1000, zone);
}

size_t rt_log_format(char *buf, size_t size, enum rt_log_mode mode, const struct timespec *now,
		     const char *ident, long pid, int priority, const char *vbd, const char *msg)
{
	const char *sep = vbd && *vbd ? ": " : "";
	char when[64];
	int n;

	if (!vbd)
		vbd = "";
	switch (mode) {
	case RT_LOG_FILE:
		iso_time(when, sizeof(when), now);
		n = snprintf(buf, size, "%s %s[%ld] %s: %s%s%s", when, ident, pid,
			     rt_log_level_name(priority), vbd, sep, msg);
		break;
	case RT_LOG_JOURNAL:
		n = snprintf(buf, size, "<%d>%s%s%s", priority & LOG_PRIMASK, vbd, sep, msg);
		break;
	case RT_LOG_PLAIN:
		n = snprintf(buf, size, "%s: %s%s%s", ident, vbd, sep, msg);
		break;
	default:
		n = snprintf(buf, size, "%s%s%s", vbd, sep, msg);
		break;
	}
	if (n < 0 || !size)
		return 0;
	return (size_t)n < size ? (size_t)n : size - 1;
}

static void emit(int priority, const char *vbd, const char *msg)
{
	char line[1280];
	struct timespec now = { 0, 0 };

	if (logger.mode == RT_LOG_FILE)
		clock_gettime(CLOCK_REALTIME, &now);
	rt_log_format(line, sizeof(line), logger.mode, &now, logger.ident, (long)getpid(), priority,
		      vbd, msg);
	if (logger.mode == RT_LOG_SYSLOG)
		syslog(priority, "%s", line);
	else
		fprintf(stderr, "%s\n", line);
}

static void __attribute__((format(printf, 3, 0)))
log_va(int priority, const char *vbd, const char *fmt, va_list ap)
{
	char msg[1024] = "";
	unsigned long long now;
	bool capture = logger.capture && !logger.capture[0] && (priority & LOG_PRIMASK) <= LOG_ERR;

	if (capture) {
		vsnprintf(msg, sizeof(msg), fmt, ap);
		rt_log_format(logger.capture, logger.capture_size, RT_LOG_SYSLOG, NULL, NULL, 0,
			      priority, vbd, msg);
	}
	if (priority > logger.max_priority)
		return;

	now = now_ms();
	if (now - logger.window_start_ms >= logger.interval_ms) {
		if (logger.suppressed) {
			char note[80];

			snprintf(note, sizeof(note), "%lu messages suppressed by rate limiting",
				 logger.suppressed);
			emit(LOG_WARNING, NULL, note);
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
	if (!capture)
		vsnprintf(msg, sizeof(msg), fmt, ap);
	emit(priority, vbd, msg);
}

void rt_log(int priority, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_va(priority, NULL, fmt, ap);
	va_end(ap);
}

void rt_log_vbd(int priority, const char *vbd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_va(priority, vbd, fmt, ap);
	va_end(ap);
}
