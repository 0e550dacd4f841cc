/* tapdisk's host-wide configuration file, read once at start (man tapdisk(8), docs/POLLING.md):
 * `key = value` lines, `#` starts a comment, blank lines are ignored, a key given twice takes
 * its last value. Today it holds the default polling settings every VBD of this tapdisk starts
 * with (xenstore's polling-* nodes and `tap-ctl poll` change them per VBD afterwards).
 * A bad line (unknown key, malformed or out-of-range value) is logged with its file and line
 * number and ignored: the key keeps its previous value. Settings that are valid one by one but
 * not together (a start window above the maximum) are logged and all polling settings revert to
 * the built-in defaults. A missing file means the built-in defaults; `tapdisk --check-config`
 * reports every bad line and exits non-zero. */
#ifndef TD_HOST_CONFIG_H
#define TD_HOST_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "ringtap/poll.h"

#define TD_CONFIG_DEFAULT_PATH "/etc/ringtap/tapdisk.conf"
/* Environment: another file (tests); set and empty means no file at all. */
#define TD_CONFIG_ENV "TAPDISK_CONF"

/* The I/O engine's keys (uring-*): each the value of an environment variable of the engine
 * (ringtap/driver.h's TD_URING_*_ENV), validated here, set at start by td_config_export. */
enum td_config_env {
	TD_CONFIG_URING_BATCH,
	TD_CONFIG_URING_FIXED_BUFFERS,
	TD_CONFIG_URING_SQPOLL,
	TD_CONFIG_URING_SQPOLL_CPU,
	TD_CONFIG_NENV
};

struct td_config {
	struct poll_params poll; /* the polling settings each VBD starts with */
	char env[TD_CONFIG_NENV][8]; /* "" when the file does not give the key */
};

void td_config_default(struct td_config *c);
/* The file to read: `option` if given, else $TAPDISK_CONF, else the default; NULL for none. */
const char *td_config_path(const char *option);
/* Applies one line (without its newline). Returns 0 (applied, blank or comment) or -EINVAL with
 * a reason in why[len]. */
int td_config_parse_line(struct td_config *c, const char *line, char *why, size_t len);
/* Reads `f` (named `name` in the log lines) line by line, then checks the polling settings as a
 * whole. Returns the number of problems logged (bad lines, inconsistent settings). */
unsigned int td_config_read(struct td_config *c, FILE *f, const char *name);
/* Opens and reads `path` into c (from the defaults). Returns the number of problems, or -errno
 * when the file cannot be read (-ENOENT: no file; c keeps the defaults). */
int td_config_load(struct td_config *c, const char *path);
/* Sets the engine's environment variables the file gives, unless already set (the
 * environment wins); each is logged. */
void td_config_export(const struct td_config *c);
/* Writes the settings as a config file would hold them (tapdisk --check-config). */
void td_config_print(const struct td_config *c, FILE *out);

#endif
