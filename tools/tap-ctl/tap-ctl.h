/* Private to tap-ctl: the sub-command table and the helpers every sub-command shares (strict
 * argument parsing, errors reported as blktap3 does: positive errno exit code, text on stderr). */
#ifndef RINGTAP_TAP_CTL_H
#define RINGTAP_TAP_CTL_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>
#include <unistd.h> /* optarg, optind */

#include "ringtap/ctl.h"

struct tapctl_cmd {
	const char *name;
	int (*run)(const struct tapctl_cmd *cmd, int argc, char **argv);
	const char *usage; /* the arguments, after "tap-ctl NAME " */
	const char *help; /* one line */
};

/* Prints "tap-ctl CMD: <message>" on stderr. */
void tapctl_msg(const struct tapctl_cmd *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Reports err (negative errno) with context, and the daemon's message and reason if c (the
 * client whose request failed) has them: "tap-ctl CMD: <context>: <message>: <strerror>:
 * <reason>". Returns -err. */
int tapctl_fail(const struct tapctl_cmd *cmd, int err, const struct ctl_client *c,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Usage on stdout (help) or stderr (errors). */
void tapctl_usage(const struct tapctl_cmd *cmd, FILE *out);

/* getopt wrapper with "--help" as -h and blktap3's usage errors: returns the option, or -1 at
 * the end; on an unknown option or a missing argument it prints why and returns '?'. */
int tapctl_getopt(const struct tapctl_cmd *cmd, int argc, char **argv, const char *optstring);
/* Rejects arguments left after the options; returns 0 or EINVAL (message printed). */
int tapctl_no_operands(const struct tapctl_cmd *cmd, int argc, char **argv);

/* Strict integers: the whole string, base 10, within [min, max]. 0 or EINVAL (printed). */
int tapctl_parse_int(const struct tapctl_cmd *cmd, char opt, const char *s, long min, long max,
		     long *out);
int tapctl_parse_pid(const struct tapctl_cmd *cmd, const char *s, pid_t *pid);
int tapctl_parse_minor(const struct tapctl_cmd *cmd, const char *s, int *minor);
/* "type:/path" → image, with a clear message on failure. 0 or EINVAL/ENAMETOOLONG. */
int tapctl_parse_image(const struct tapctl_cmd *cmd, const char *s, struct ctl_image *img);
/* An absolute path that fits CTL_PATH_MAX; copied into buf. 0 or EINVAL. */
int tapctl_parse_path(const struct tapctl_cmd *cmd, char opt, const char *s, char *buf);

/* Milliseconds for one daemon exchange: $TAP_CTL_TIMEOUT seconds, else def_s. */
unsigned int tapctl_timeout_ms(unsigned int def_s);
/* Connects to tapdisk `pid`; on failure reports it and returns the positive errno. */
int tapctl_connect(const struct tapctl_cmd *cmd, pid_t pid, unsigned int timeout_s,
		   struct ctl_client **c);

/* Options shared by open and create (blktap3's open flags: -a -R -r -D -s -e -2 -C -t -E).
 * Returns 1 if handled, 0 if c is not one of them, TAPCTL_BAD_VALUE on a bad value (printed). */
#define TAPCTL_BAD_VALUE 1000
int tapctl_open_option(const struct tapctl_cmd *cmd, int c, struct ctl_open_args *a,
		       bool *have_image);

/* Lifecycle pieces shared by create/destroy and their single sub-commands. Negative errno. */
int tapctl_spawn(const struct tapctl_cmd *cmd, pid_t *pid);

/* Sub-commands. */
int tapctl_cmd_list(const struct tapctl_cmd *cmd, int argc, char **argv);
int tapctl_cmd_allocate(const struct tapctl_cmd *cmd, int argc, char **argv);
int tapctl_cmd_free(const struct tapctl_cmd *cmd, int argc, char **argv);
int tapctl_cmd_spawn(const struct tapctl_cmd *cmd, int argc, char **argv);
int tapctl_cmd_create(const struct tapctl_cmd *cmd, int argc, char **argv);
int tapctl_cmd_destroy(const struct tapctl_cmd *cmd, int argc, char **argv);
int tapctl_cmd_attach(const struct tapctl_cmd *cmd, int argc, char **argv);
int tapctl_cmd_detach(const struct tapctl_cmd *cmd, int argc, char **argv);
int tapctl_cmd_open(const struct tapctl_cmd *cmd, int argc, char **argv);
int tapctl_cmd_close(const struct tapctl_cmd *cmd, int argc, char **argv);
int tapctl_cmd_pause(const struct tapctl_cmd *cmd, int argc, char **argv);
int tapctl_cmd_unpause(const struct tapctl_cmd *cmd, int argc, char **argv);
int tapctl_cmd_stats(const struct tapctl_cmd *cmd, int argc, char **argv);
int tapctl_cmd_poll(const struct tapctl_cmd *cmd, int argc, char **argv);
int tapctl_cmd_log_level(const struct tapctl_cmd *cmd, int argc, char **argv);
/* A log level by syslog name, err..debug. 0 or EINVAL (printed). */
int tapctl_parse_log_level(const struct tapctl_cmd *cmd, const char *s, int *level);

/* Single-VBD operations used by create/destroy as well as by their sub-commands: each reports
 * its own failure and returns 0 or a positive errno. */
int tapctl_do_attach(const struct tapctl_cmd *cmd, pid_t pid, int minor);
int tapctl_do_detach(const struct tapctl_cmd *cmd, pid_t pid, int minor);
int tapctl_do_open(const struct tapctl_cmd *cmd, pid_t pid, const struct ctl_open_args *a);
int tapctl_do_close(const struct tapctl_cmd *cmd, pid_t pid, int minor, bool force,
		    unsigned int timeout_s);
int tapctl_do_free(const struct tapctl_cmd *cmd, int minor);

#define TAPCTL_DEFAULT_TIMEOUT_S 120 /* pause and close wait for in-flight I/O */
#define TAPCTL_LIST_TIMEOUT_S 10 /* as blktap3's list */

#endif
