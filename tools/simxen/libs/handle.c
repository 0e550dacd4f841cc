/* The part of opening and closing a handle common to xengnttab, xengntshr and xenevtchn. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "handle.h"

void sx_log(struct sx_handle *b, xentoollog_level level, int errnoval, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	xtl_logv(b->logger, level, errnoval, b->context, fmt, ap);
	va_end(ap);
}

int sx_ret(int rc)
{
	if (rc >= 0)
		return rc;
	errno = -rc;
	return -1;
}

int sx_handle_open(struct sx_handle *b, xentoollog_logger *logger, const char *context)
{
	const char *dir = NULL, *why = NULL;
	bool was_live;
	int rc;

	b->context = context;
	b->logger = logger;
	b->logger_tofree = NULL;
	if (!logger) {
		b->logger_tofree =
			(xentoollog_logger *)xtl_createlogger_stdiostream(stderr, XTL_PROGRESS, 0);
		if (!b->logger_tofree)
			return -ENOMEM;
		b->logger = b->logger_tofree;
	}
	rc = sx_env(&dir, &b->domid, &why);
	if (rc < 0) {
		sx_log(b, XTL_ERROR, -1, "simxen: %s", why);
		goto fail;
	}
	rc = sx_host_open(&b->host, dir);
	if (rc < 0) {
		sx_log(b, XTL_ERROR, -rc, "simxen: cannot open the state directory %s (SIMXEN_DIR)",
		       dir);
		goto fail;
	}
	rc = sx_domain_create(&b->host, b->domid, &b->self, &was_live);
	if (rc < 0) {
		sx_log(b, XTL_ERROR, -rc, "simxen: cannot create the state of domain %u in %s",
		       b->domid, dir);
		sx_host_close(&b->host);
		goto fail;
	}
	return 0;
fail:
	xtl_logger_destroy(b->logger_tofree);
	return rc;
}

void sx_handle_close(struct sx_handle *b)
{
	sx_host_close(&b->host);
	xtl_logger_destroy(b->logger_tofree);
}
