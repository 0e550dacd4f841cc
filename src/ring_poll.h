/* Adaptive polling of one ring (DESIGN.md §5): the state of a polling episode, kept beside the
 * window controller, the dom0 load guard and the host-wide budget of lib/poll. */
#ifndef TD_RING_POLL_H
#define TD_RING_POLL_H

#include <stdbool.h>
#include <stdint.h>

#include "ringtap/poll.h"

struct td_ring;

/* Environment: the budget's slot table (tests use their own; default POLL_BUDGET_DEFAULT_PATH). */
#define TD_POLL_BUDGET_ENV "RINGTAP_POLL_BUDGET"

/* Back to the event loop at least this often while polling: the control socket, signals and
 * the other rings of the process are served between slices (one epoll_wait(0) per slice). */
#define TD_POLL_SLICE_NS 1000000ULL

struct td_ring_poll {
	struct poll_ctl ctl;
	struct poll_guard guard;
	struct poll_budget budget;
	bool guard_ok; /* the guard's /proc files are open */
	/* In an episode: the port stays masked and req_event is not re-armed, so the frontend does
	 * not notify; requests and completions are picked up by the spin loop. */
	bool active;
	/* Requests consumed or responses produced since the poller last looked (by the loop's
	 * handlers: an arrival by event). */
	bool work;
	uint64_t cpu_start_ns; /* the thread's CPU clock when the episode began */
	/* Counters beyond ctl.stats. */
	uint64_t cpu_ns; /* thread CPU time in episodes */
	uint64_t suppressed; /* request batches found by spinning that the frontend did not notify */
	uint64_t polled_requests; /* requests consumed by the spin loop */
	uint64_t polled_completions; /* I/Os completed by the spin loop */
	uint64_t budget_refused; /* episodes refused because the host-wide budget was exhausted */
	uint64_t slices; /* returns to the event loop in the middle of an episode */
};

/* At ring start: default settings (adaptive), the guard's files, the budget's table. */
void td_ring_poll_init(struct td_ring *r);
/* At ring stop: ends an episode without re-arming (the ring is going away), closes files. */
void td_ring_poll_fini(struct td_ring *r);
/* New settings (validated by the caller); an episode in progress ends and re-arms. */
void td_ring_poll_set_params(struct td_ring *r, const struct poll_params *p);
/* From the ring's before-sleep hook, after the responses were pushed: decides whether to poll
 * and spins (for at most one slice). Returns true when the loop must not sleep (come back). */
bool td_ring_poll_run(struct td_ring *r);
struct td_poll_stats;
void td_ring_poll_stats(const struct td_ring *r, struct td_poll_stats *st);

#endif
