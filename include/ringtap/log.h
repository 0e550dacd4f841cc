/* Logging for ringtap's daemons and tools: syslog, systemd's journal or a file, with rate
 * limiting so that a hostile guest cannot flood dom0's logs.
 *
 * Where lines go (one logger per process, like syslog(3) itself; single-threaded callers):
 *   RT_LOG_SYSLOG   syslog(3), facility daemon, LOG_PID: the daemons' default.
 *   RT_LOG_PLAIN    stderr, "ident: message": command-line tools and test programs.
 *   RT_LOG_FILE     stderr as a log file (a foreground daemon, TAPDISK_LOG_FILE): every line
 *                   "2026-12-05T14:34:20.123456+00:00 tapdisk[4242] info: minor 3: message",
 *                   the local time with its offset, the pid, the level and the VBD if any.
 *   RT_LOG_JOURNAL  stderr is systemd's journal stream ($JOURNAL_STREAM names it): every line
 *                   "<6>minor 3: message"; journald takes the priority from the "<N>" prefix
 *                   (sd-daemon(3)'s SD_INFO...) and adds time, pid and unit itself, so
 *                   `journalctl -p err` filters. Chosen over syslog(3) under systemd because
 *                   the journal then attributes lines to the service without /dev/log, and
 *                   nothing is lost when syslog is not running.
 * A message about one VBD names it through rt_log_vbd / rt_vbd_*: "minor 3" in tapdisk's
 * control plane, "vbd 1/51712" in its datapath, tapback's backend path; in every mode it comes
 * first, followed by ": ". */
#ifndef RINGTAP_LOG_H
#define RINGTAP_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <syslog.h>
#include <time.h>

enum rt_log_mode {
	RT_LOG_SYSLOG,
	RT_LOG_PLAIN,
	RT_LOG_FILE,
	RT_LOG_JOURNAL,
};

/* ident: program name; to_stderr: RT_LOG_PLAIN, else RT_LOG_SYSLOG (tools, test programs). */
void rt_log_open(const char *ident, int to_stderr);
/* For daemons: to_stderr: RT_LOG_JOURNAL when $JOURNAL_STREAM names stderr, else RT_LOG_FILE;
 * otherwise RT_LOG_SYSLOG. */
void rt_log_open_daemon(const char *ident, bool to_stderr);
enum rt_log_mode rt_log_mode(void);

/* The most verbose priority logged (LOG_ERR .. LOG_DEBUG; default LOG_INFO). */
void rt_log_set_level(int max_priority);
int rt_log_level(void);
/* syslog's names: "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug" (also
 * "error", "warn", and 0..7). 0 and *out, or -EINVAL. */
int rt_log_level_parse(const char *name, int *out);
/* The name of a priority 0..7 ("info"), or "?" */
const char *rt_log_level_name(int priority);

/* Messages beyond `burst` within `interval_ms` are dropped and counted; the count is logged when
 * logging resumes. Defaults: 200 messages per 5000 ms. */
void rt_log_set_ratelimit(unsigned int burst, unsigned int interval_ms);

void rt_log(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* vbd: the VBD the message is about ("minor 3"), or NULL. */
void rt_log_vbd(int priority, const char *vbd, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define rt_err(...) rt_log(LOG_ERR, __VA_ARGS__)
#define rt_warn(...) rt_log(LOG_WARNING, __VA_ARGS__)
#define rt_info(...) rt_log(LOG_INFO, __VA_ARGS__)
#define rt_debug(...) rt_log(LOG_DEBUG, __VA_ARGS__)
#define rt_vbd_err(vbd, ...) rt_log_vbd(LOG_ERR, vbd, __VA_ARGS__)
#define rt_vbd_warn(vbd, ...) rt_log_vbd(LOG_WARNING, vbd, __VA_ARGS__)
#define rt_vbd_info(vbd, ...) rt_log_vbd(LOG_INFO, vbd, __VA_ARGS__)
#define rt_vbd_debug(vbd, ...) rt_log_vbd(LOG_DEBUG, vbd, __VA_ARGS__)

/* The reason of a failed operation: between begin and end, the first message of priority
 * LOG_ERR or more severe is copied into buf ("" if none), whatever the level and the rate
 * limit. The control server brackets each command's handler with it, so that a driver's
 * "bad footer cookie" reaches tap-ctl without being passed up through every layer. Captures do
 * not nest: begin replaces the previous one. */
void rt_log_capture_begin(char *buf, size_t size);
void rt_log_capture_end(void);
/* The text captured so far, or "" outside a capture. */
const char *rt_log_captured(void);

/* Formats one line as `mode` writes it, without the newline (tests): now is the wall-clock time
 * (RT_LOG_FILE only). Returns the length, truncated to size - 1. */
size_t rt_log_format(char *buf, size_t size, enum rt_log_mode mode, const struct timespec *now,
		     const char *ident, long pid, int priority, const char *vbd, const char *msg);

#endif
