/* For the driver and engine tests that run once per I/O engine backend: whether a backend can
 * run here, and a clock for waits bounded in time rather than in loop iterations. */
#ifndef TD_TEST_BACKENDS_H
#define TD_TEST_BACKENDS_H

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "drivers/engine.h"
#include "src/loop.h"

/* "" in why when the backend `name` sets up here; otherwise why not, also printed as a SKIP. */
static inline void test_backend_probe(const char *name, char *why, size_t len)
{
	struct td_loop loop;
	struct td_engine *e;
	int rc;

	why[0] = '\0';
	if (td_loop_init(&loop) < 0) {
		snprintf(why, len, "no loop");
		return;
	}
	rc = td_engine_open(&e,
			    &(struct td_engine_conf){ .loop = &loop, .fd = 0, .backend = name });
	if (rc == 0)
		td_engine_close(e);
	else if (rc == -ENOENT)
		snprintf(why, len, "this build has no %s backend (no liburing)", name);
	else
		snprintf(why, len, "the kernel refuses %s: %s", name, strerror(-rc));
	td_loop_fini(&loop);
	if (why[0])
		printf("SKIP: the %s tests: %s\n", name, why);
}

static inline double test_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif
