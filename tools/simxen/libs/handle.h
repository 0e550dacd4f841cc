/* What every handle of simxen's Xen libraries holds: its logger (Xen's convention: the caller's,
 * or one to stderr), its connection to the state directory and its own domain. */
#ifndef SIMXEN_HANDLE_H
#define SIMXEN_HANDLE_H

#include <xentoollog.h>

#include "host.h"

struct sx_handle {
	const char *context; /* "xengnttab", "xengntshr", "xenevtchn": the prefix of messages */
	xentoollog_logger *logger;
	xentoollog_logger *logger_tofree;
	struct sx_host host;
	struct sx_domain *self;
	uint16_t domid;
};

/* Connects to $SIMXEN_DIR as domain $SIMXEN_DOMID, creating (or reviving) that domain. 0, or
 * -errno after logging why. */
int sx_handle_open(struct sx_handle *b, xentoollog_logger *logger, const char *context);
void sx_handle_close(struct sx_handle *b);

void sx_log(struct sx_handle *b, xentoollog_level level, int errnoval, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Xen's libraries return -1 and set errno; rc is 0 or -errno. */
int sx_ret(int rc);

#endif
