/* Adaptive polling of a ring (docs/ARCHITECTURE.md): after requests were handled, spin on the
 * ring's req_prod and on the image's completions for a window the controller adapts, with no
 * system call per iteration; then re-arm req_event, unmask, look once more and sleep in epoll. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ringtap/log.h"
#include "src/ring_private.h"

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

/* CPU time of this thread (a system call: read at the ends of an episode, not in the loop). */
static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) < 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The budget's limit for a setting: 0 means online CPUs - 1, at least 1 (as poll_budget_open). */
static unsigned int budget_limit(unsigned int wanted)
{
	long cpus;

	if (wanted)
		return wanted;
	cpus = sysconf(_SC_NPROCESSORS_ONLN);
	return cpus > 1 ? (unsigned int)cpus - 1 : 1;
}

void td_ring_poll_init(struct td_ring *r)
{
	struct td_ring_poll *p = &r->poll;
	struct poll_guard_params gp;
	struct poll_params pp;
	const char *path = getenv(TD_POLL_BUDGET_ENV);
	int rc;

	memset(p, 0, sizeof(*p));
	poll_params_default(&pp);
	poll_ctl_init(&p->ctl, &pp);
	poll_guard_params_default(&gp);
	rc = poll_guard_open(&p->guard, &gp);
	p->guard_ok = rc == 0;
	if (rc < 0)
		rt_vbd_warn(r->log_id,
			    "polling load guard: /proc/loadavg: %s; polling only by budget",
			    strerror(-rc));
	if (!path || !*path)
		path = POLL_BUDGET_DEFAULT_PATH;
	rc = poll_budget_open(&p->budget, path, budget_limit(pp.budget));
	if (rc < 0)
		rt_vbd_warn(r->log_id, "polling budget %s: %s; no host-wide cap on polling", path,
			    strerror(-rc));
}

/* Debug: what polling did since the last summary (episodes, and the requests that came by event
 * when the window, the guard or the budget allowed none), at most once per TD_POLL_SUMMARY_NS:
 * there may be thousands of episodes a second. */
static void summarise(struct td_ring *r, uint64_t now)
{
	struct td_ring_poll *p = &r->poll;
	const struct poll_stats *s = &p->ctl.stats, *b = &p->summary_base;

	if (now - p->summary_ns < TD_POLL_SUMMARY_NS)
		return;
	if (p->summary_ns && rt_log_level() >= LOG_DEBUG)
		rt_vbd_debug(r->log_id,
			     "polling over %llu ms: %llu episodes, %llu requests found by polling "
			     "(%llu consumed), %llu windows expired, %llu guarded, %llu arrived by "
			     "event, %llu refused by the payoff judge (%s now, %llu probes: %llu kept "
			     "on, %llu off); %llu us polled, %llu us CPU, %llu us of it waiting for "
			     "the image; window now %llu ns",
			     (unsigned long long)((now - p->summary_ns) / 1000000),
			     (unsigned long long)(s->entered - b->entered),
			     (unsigned long long)(s->hits - b->hits),
			     (unsigned long long)(p->polled_requests - p->summary_polled_requests),
			     (unsigned long long)(s->misses - b->misses),
			     (unsigned long long)(s->guarded - b->guarded),
			     (unsigned long long)(s->wakeups - b->wakeups),
			     (unsigned long long)(s->judged_off - b->judged_off),
			     p->ctl.judge.on ? "on" : "off", (unsigned long long)p->ctl.judge.probes,
			     (unsigned long long)p->ctl.judge.kept_on,
			     (unsigned long long)p->ctl.judge.kept_off,
			     (unsigned long long)((s->polled_ns - b->polled_ns) / 1000),
			     (unsigned long long)((p->cpu_ns - p->summary_cpu_ns) / 1000),
			     (unsigned long long)((p->disk_wait_ns - p->summary_disk_wait_ns) / 1000),
			     (unsigned long long)poll_ctl_window(&p->ctl));
	p->summary_ns = now;
	p->summary_base = *s;
	p->summary_cpu_ns = p->cpu_ns;
	p->summary_disk_wait_ns = p->disk_wait_ns;
	p->summary_polled_requests = p->polled_requests;
}

/* Ends the episode. With `rearm`, falls back to events: re-arms req_event, unmasks the port and
 * looks once more, so a request published meanwhile is consumed now or notified (no lost
 * wake-up); whatever that finds leaves `work` set for the next pass. */
static void leave(struct td_ring *r, uint64_t now, bool expired, bool rearm)
{
	struct td_ring_poll *p = &r->poll;

	poll_ctl_leave(&p->ctl, now, expired);
	p->active = false;
	p->cpu_ns += thread_cpu_ns() - p->cpu_start_ns;
	poll_budget_release(&p->budget);
	if (!rearm)
		return;
	p->work = false;
	if (!td_ring_blocked(r))
		td_ring_drain(r);
	td_ring_push_responses(r);
}

void td_ring_poll_fini(struct td_ring *r)
{
	struct td_ring_poll *p = &r->poll;

	if (p->active)
		leave(r, td_loop_now_ns(), false, false);
	if (p->guard_ok)
		poll_guard_close(&p->guard);
	p->guard_ok = false;
	poll_budget_close(&p->budget);
}

void td_ring_set_polling(struct td_ring *r, const struct poll_params *pp)
{
	struct td_ring_poll *p = &r->poll;

	if (p->active)
		leave(r, td_loop_now_ns(), false, true);
	poll_ctl_set_params(&p->ctl, pp);
	if (p->budget.table)
		p->budget.limit = budget_limit(pp->budget);
}

/* Starts an episode if the policy, the window, the load guard and the budget all allow it. */
static bool enter(struct td_ring *r, uint64_t now)
{
	struct td_ring_poll *p = &r->poll;
	unsigned int idle = 100;
	bool allowed = true;

	if (!poll_ctl_wants(&p->ctl))
		return poll_ctl_enter(&p->ctl, now, false, idle); /* not polling: learns the time */
	if (p->guard_ok) {
		allowed = poll_guard_check(&p->guard, now) == POLL_GUARD_OK ||
			  p->ctl.params.no_guard;
		if (!p->ctl.params.no_guard) /* no_guard ignores every load check, idle% too */
			idle = p->guard.last.idle_pct;
	}
	if (allowed && !poll_budget_acquire(&p->budget, now)) {
		allowed = false;
		p->budget_refused++;
	}
	if (!poll_ctl_enter(&p->ctl, now, allowed, idle)) {
		poll_budget_release(&p->budget);
		return false;
	}
	p->active = true;
	p->cpu_start_ns = thread_cpu_ns();
	return true;
}

/* Would the frontend have notified for the requests in (cons, prod]? The check of blkif's
 * RING_PUSH_REQUESTS_AND_CHECK_NOTIFY against the req_event we left in place. */
static bool frontend_notified(const struct td_ring *r, RING_IDX cons, RING_IDX prod)
{
	RING_IDX ev = __atomic_load_n(&r->back.sring->req_event, __ATOMIC_RELAXED);

	return (RING_IDX)(prod - ev) < (RING_IDX)(prod - cons);
}

/* Requests in flight at the image, or published on the ring and not consumed yet. */
static bool ring_busy(const struct td_ring *r)
{
	return r->inflight ||
	       __atomic_load_n(&r->back.sring->req_prod, __ATOMIC_RELAXED) != r->back.req_cons;
}

/* The payoff judge's input: the responses so far, and whether more are owed. */
static void progress(struct td_ring *r, uint64_t now)
{
	poll_ctl_progress(&r->poll.ctl, now, r->stats.responses, ring_busy(r));
}

/* The spin loop: no system call per iteration (a volatile read of req_prod, the image's
 * completion ring, the vDSO monotonic clock, a pause), work served in place. Returns true to
 * come back after one epoll_wait(0) (the slice ended, or the image cannot be polled), false when
 * the episode ended and nothing is left to do before sleeping. */
static bool spin(struct td_ring *r, uint64_t now)
{
	struct td_ring_poll *p = &r->poll;
	uint64_t slice_end = now + TD_POLL_SLICE_NS;

	for (;;) {
		struct td_image *img = r->image;
		bool found = false, unpollable = false;
		RING_IDX rp, cons;
		uint64_t prev;

		if (r->halted || r->paused || !img) {
			leave(r, now, false, true);
			return r->retry;
		}
		rp = __atomic_load_n(&r->back.sring->req_prod, __ATOMIC_ACQUIRE);
		cons = r->back.req_cons;
		if (rp != cons && !td_ring_blocked(r)) {
			bool notified = frontend_notified(r, cons, rp);

			td_ring_drain(r);
			if (r->back.req_cons != cons) {
				found = true;
				p->polled_requests += (RING_IDX)(r->back.req_cons - cons);
				if (!notified)
					p->suppressed++;
			}
		}
		if (r->inflight) {
			int n = td_image_poll(img);

			if (n > 0) {
				found = true;
				p->polled_completions += (uint64_t)n;
			} else if (n < 0) {
				unpollable = true;
			}
		}
		prev = now;
		now = td_loop_now_ns();
		if (!found && rp == cons && r->inflight)
			p->disk_wait_ns += now - prev;
		if (found) {
			td_ring_retry(r);
			td_ring_push_responses(r);
			p->work = false;
			poll_ctl_hit(&p->ctl, now);
			progress(r, now);
		} else if (now >= poll_ctl_deadline(&p->ctl)) {
			leave(r, now, true, true);
			return p->work;
		}
		if (p->guard_ok && poll_guard_check(&p->guard, now) != POLL_GUARD_OK &&
		    !p->ctl.params.no_guard) {
			leave(r, now, false, true);
			return p->work;
		}
		if (now >= slice_end || unpollable) {
			p->slices++;
			return true;
		}
		if (!found)
			cpu_relax();
	}
}

bool td_ring_poll_run(struct td_ring *r)
{
	struct td_ring_poll *p = &r->poll;
	uint64_t now = td_loop_now_ns();

	progress(r, now);
	if (!p->active) {
		if (!p->work)
			return false; /* nothing happened: sleep */
		p->work = false;
		if (p->ctl.params.policy == POLL_POLICY_OFF || td_ring_blocked(r) ||
		    !r->image)
			return false;
		summarise(r, now); /* between episodes: also says when none could start */
		/* The work came by event: teach the window the gap, then maybe poll. */
		poll_ctl_wakeup(&p->ctl, now);
		if (!enter(r, now))
			return false;
	} else {
		if (p->work) { /* found by the loop's handlers between two slices */
			p->work = false;
			poll_ctl_hit(&p->ctl, now);
		}
	}
	return spin(r, now);
}

void td_ring_poll_stats(const struct td_ring *r, struct td_poll_stats *st)
{
	const struct td_ring_poll *p = &r->poll;
	const struct poll_stats *c = &p->ctl.stats;

	memset(st, 0, sizeof(*st));
	st->policy = p->ctl.params.policy;
	st->polling = p->active;
	st->window_ns = poll_ctl_window(&p->ctl);
	st->entered = c->entered;
	st->hits = c->hits;
	st->misses = c->misses;
	st->guarded = c->guarded;
	st->budget_refused = p->budget_refused;
	st->idle_refused = c->idle_refused;
	st->window_min_ns = p->ctl.min_ns;
	st->window_max_ns = p->ctl.max_ns;
	st->wakeups = c->wakeups;
	st->empty = c->empty;
	st->judged_off = c->judged_off;
	st->disk_wait_ns = p->disk_wait_ns;
	st->judge_on = p->ctl.judge.on;
	st->judge_probing = p->ctl.judge.probing;
	st->judge_probes = p->ctl.judge.probes;
	st->judge_kept_on = p->ctl.judge.kept_on;
	st->judge_kept_off = p->ctl.judge.kept_off;
	st->judge_changes = p->ctl.judge.changes;
	st->judge_rate_on = p->ctl.judge.rate_on;
	st->judge_rate_off = p->ctl.judge.rate_off;
	st->judge_noise_pct = p->ctl.judge.noise_pct;
	st->polled_requests = p->polled_requests;
	st->polled_completions = p->polled_completions;
	st->polled_ns = c->polled_ns;
	st->cpu_ns = p->cpu_ns + (p->active ? thread_cpu_ns() - p->cpu_start_ns : 0);
	st->notifications_received = r->stats.events;
	st->notifications_suppressed = p->suppressed;
	if (p->guard_ok) {
		st->guard_cpus_busy = p->guard.trips[POLL_GUARD_CPUS_BUSY];
		st->guard_pressure = p->guard.trips[POLL_GUARD_PRESSURE];
		st->guard_steal = p->guard.trips[POLL_GUARD_STEAL];
		st->guard_preempted = p->guard.trips[POLL_GUARD_PREEMPTED];
		st->guard_on = !p->ctl.params.no_guard;
		st->guard_verdict = p->guard.verdict;
		st->idle_pct = p->guard.last.idle_pct;
	}
	st->budget_in_use = poll_budget_in_use(&p->budget);
}
