/* Logging for ringtap's daemons and tools: syslog (or stderr) with rate limiting, so that a
 * hostile guest cannot flood dom0's logs. */
#ifndef RINGTAP_LOG_H
#define RINGTAP_LOG_H

#include <syslog.h>

/* ident: program name; to_stderr: log to stderr instead of syslog (foreground, tests). */
void rt_log_open(const char *ident, int to_stderr);
void rt_log_set_level(int max_priority);
/* Messages beyond `burst` within `interval_ms` are dropped and counted; the count is logged when
 * logging resumes. Defaults: 200 messages per 5000 ms. */
void rt_log_set_ratelimit(unsigned int burst, unsigned int interval_ms);
void rt_log(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define rt_err(...) rt_log(LOG_ERR, __VA_ARGS__)
#define rt_warn(...) rt_log(LOG_WARNING, __VA_ARGS__)
#define rt_info(...) rt_log(LOG_INFO, __VA_ARGS__)
#define rt_debug(...) rt_log(LOG_DEBUG, __VA_ARGS__)

#endif
