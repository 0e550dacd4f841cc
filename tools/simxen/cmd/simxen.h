/* The simxen command: shared option values and the helpers its sub-commands use. */
#ifndef SIMXEN_CMD_H
#define SIMXEN_CMD_H

#include <stdbool.h>
#include <stdint.h>

#include <xenstore.h>

struct cmd_opts {
	/* the state directory: --dir, else $SIMXEN_DIR, else a per-user default */
	const char *dir;
	const char *mode; /* vbd add */
	const char *params;
	const char *dev;
	const char *phys_path;
	long devid; /* -1: default */
};

/* Sub-commands: args are the words after the sub-command's name. 0 or -errno (message printed). */
int cmd_start(const struct cmd_opts *o, int argc, char **argv);
int cmd_stop(const struct cmd_opts *o, int argc, char **argv);
int cmd_env(const struct cmd_opts *o, int argc, char **argv);
int cmd_domain(const struct cmd_opts *o, int argc, char **argv);
int cmd_vbd(const struct cmd_opts *o, int argc, char **argv);

/* xs.c: libxenstore on the simxen host of dir. */
int sx_xs_open(const char *dir, struct xs_handle **out);
/* Runs fn in a transaction, again while the commit fails with EAGAIN. 0 or -errno. */
int sx_xs_transaction(struct xs_handle *h,
		      int (*fn)(struct xs_handle *h, xs_transaction_t t, void *arg), void *arg);
/* Writes path=value and, if nr_perms, sets its permissions. 0 or -errno. */
int sx_xs_put(struct xs_handle *h, xs_transaction_t t, const char *path, const char *value,
	      struct xs_permissions *perms, unsigned int nr_perms);
int sx_xs_putf(struct xs_handle *h, xs_transaction_t t, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Paths of the state directory's files. */
#define SX_SOCKET "xenstored.sock"
#define SX_PID_FILE "xenstored.pid"
#define SX_LOG_FILE "xenstored.log"
#define SX_MARKER ".simxen" /* marks a directory `simxen stop` may remove */
#define SX_DOMID_FILE "next-domid"

/* Parses a decimal domain id for a guest (1..32751). 0 or -EINVAL. */
int sx_parse_domid(const char *s, uint16_t *out);
/* Prints "simxen: <msg>: <strerror(-err)>" to stderr and returns err. */
int sx_error(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
