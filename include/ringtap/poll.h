/* Adaptive ring polling: the per-ring window controller (pure logic on a caller-supplied clock),
 * the dom0 load guard, and the host-wide polling budget shared by every tapdisk.
 *
 * The datapath's spin loop asks poll_ctl_enter() after handling requests, reports each request
 * found while spinning with poll_ctl_hit(), and gives up at poll_ctl_deadline() (or when the
 * guard trips) with poll_ctl_leave(); when a request later arrives by event it calls
 * poll_ctl_wakeup() so the window learns the real gap (QEMU's adjust_polling_time, KVM halt
 * polling). */
#ifndef RINGTAP_POLL_H
#define RINGTAP_POLL_H

#include <stdbool.h>
#include <stdint.h>

enum poll_policy {
	POLL_POLICY_ADAPTIVE = 0, /* the decaying window (default) */
	POLL_POLICY_FIXED,	  /* blktap3: fixed window re-armed per request, if idle% allows */
	POLL_POLICY_OFF,	  /* event channels only */
};

/* XAPI's two settings (xenstore polling-duration, polling-idle-threshold) under every policy:
 *   fixed_ns (polling-duration) is the longest any window may be: the fixed policy's window,
 *     and the ceiling of the adaptive window (it grows from min(start, D) to min(max, D));
 *     0 means no polling under either policy, as XAPI means it.
 *   idle_threshold (polling-idle-threshold) gates every episode's start under both policies:
 *     polling starts only while the host's idle share is above it (the load guard's sample,
 *     with this tapdisk's own CPU time counted as idle, so polling never turns itself off).
 *   off: nothing polls; the settings are kept for a later change of policy.
 * poll_params_bounds() gives the window's bounds these settings make. */

struct poll_params {
	enum poll_policy policy;
	uint64_t start_ns;	      /* adaptive: first non-zero window */
	uint64_t max_ns;	      /* adaptive: ceiling of the window */
	unsigned int grow;	      /* adaptive: window multiplier on a hit or short gap (>= 2) */
	unsigned int shrink;	      /* adaptive: window divisor when a gap exceeds max (>= 2) */
	uint64_t fixed_ns;	      /* polling-duration: fixed: the window; adaptive: its ceiling */
	unsigned int idle_threshold;  /* polling-idle-threshold: poll when host idle% > this */
	unsigned int budget;	      /* rings of all tapdisks polling at once, at most (0: online
				       * CPUs - 1, at least 1; at most POLL_BUDGET_SLOTS) */
	bool no_guard;		      /* benchmarks only: ignore the dom0 load guard */
	bool no_judge;		      /* tests and benchmarks only: adaptive without the payoff
				       * judge (polls whenever the window says so) */
};

/* Defaults (see docs/PERFORMANCE.md for the measurements behind them). */
#define POLL_DEFAULT_START_NS 4000ULL
#define POLL_DEFAULT_MAX_NS 256000ULL
#define POLL_DEFAULT_GROW 2U
#define POLL_DEFAULT_SHRINK 2U
#define POLL_DEFAULT_FIXED_NS 8000000ULL /* XCP-ng's polling-duration 8000 µs */
#define POLL_DEFAULT_IDLE_THRESHOLD 50U
#define POLL_MAX_WINDOW_NS 1000000000ULL /* settings are capped at 1 s */

void poll_params_default(struct poll_params *p);
/* 0, or -EINVAL naming nothing: callers validate user input with this. */
int poll_params_validate(const struct poll_params *p);
const char *poll_policy_name(enum poll_policy policy);
int poll_policy_parse(const char *name, enum poll_policy *policy);
/* The window's bounds under p's policy: off [0, 0]; fixed [D, D]; adaptive
 * [min(start, max, D), min(max, D)] with D = fixed_ns. A zero ceiling: this policy never polls. */
void poll_params_bounds(const struct poll_params *p, uint64_t *min_ns, uint64_t *max_ns);

/* The payoff judge (adaptive only; docs/POLLING.md). Polling is kept only while it measurably
 * pays: the judge alternates short phases with polling allowed and refused (on, off, off, on: a
 * drift hits both alike) and compares the requests completed per counted ns of each phase with
 * polling to those of the phase without it next to it: polling starts only if it beat events
 * by POLL_JUDGE_MARGIN_PCT in both pairs, and stays only while it is ahead in both (a tie starts
 * it rarely and keeps it rarely). The verdict is held for a while (longer while it repeats) and probes again when the
 * hold ends or the completion rate moves by POLL_JUDGE_CHANGE× twice running (the workload
 * changed; the hold goes on growing unless the verdict flips). A phase counts from
 * POLL_JUDGE_SETTLE_NS after its start. Counted time is wall time, except that a gap with
 * nothing in flight counts for at most the longest window: no window could have shortened the
 * rest, and an idle guest then weighs nothing. */
#define POLL_JUDGE_PHASE_NS 20000000ULL  /* a phase lasts at least 20 ms of counted time */
#define POLL_JUDGE_PHASE_DONE 64U	 /* ... and 64 completed requests */
#define POLL_JUDGE_PHASES 4U		 /* per probe: on, off, off, on */
#define POLL_JUDGE_MARGIN_PCT 3U	 /* polling must win each pair by this to start */
#define POLL_JUDGE_HOLD_NS 250000000ULL	 /* the first hold after a probe */
#define POLL_JUDGE_HOLD_GROW 4U		 /* holds grow by this while the verdict repeats */
#define POLL_JUDGE_MAX_HOLD_NS 4000000000ULL /* ... up to this */
#define POLL_JUDGE_CHANGE 2U		 /* two hold windows in a row at this factor from the probe
					  * re-probe */
#define POLL_JUDGE_SETTLE_NS 5000000ULL	 /* not counted at a phase's start: the scheduler's memory of
					  * the previous phase's spinning (EEVDF lag) fades first */

struct poll_judge {
	bool on;	  /* polling allowed now (the phase's mode, or the verdict) */
	bool probing;	  /* in a probe, else holding the verdict */
	bool verdict;	  /* the last probe's verdict (false before the first) */
	unsigned int phase; /* probing: which of the POLL_JUDGE_PHASES */
	uint64_t last_ns;   /* the last poll_ctl_progress() */
	uint64_t last_done; /* the completion count it gave */
	bool busy;	    /* ... and whether requests were in flight then */
	uint64_t win_ns, win_done; /* the current phase (or hold window) so far */
	uint64_t ph_ns[POLL_JUDGE_PHASES], ph_done[POLL_JUDGE_PHASES]; /* this probe, by phase */
	uint64_t ref_ns, ref_done;	 /* holding: the verdict's mode in the probe */
	uint64_t hold_ns, hold_until_ns;
	uint64_t settle_until_ns; /* probing: the phase counts from then */
	unsigned int strikes;	  /* holding: windows in a row that moved by POLL_JUDGE_CHANGE */
	uint64_t rate_on, rate_off; /* the last probe's completions per second, by mode */
	uint64_t noise_pct;	    /* ... and how far apart its two phases of a mode were, in % */
	uint64_t probes, kept_on, kept_off, changes;
};

struct poll_stats {
	uint64_t entered;   /* polling episodes started */
	uint64_t hits;	    /* requests found while polling */
	uint64_t misses;    /* episodes that ended with the window expiring */
	uint64_t guarded;   /* episodes refused or cut short by the load guard or the budget */
	uint64_t idle_refused; /* of those, refused because host idle% <= idle_threshold */
	uint64_t polled_ns; /* wall time spent polling */
	uint64_t wakeups;   /* requests that arrived by event instead */
	uint64_t empty;	    /* episodes that ended without finding anything */
	uint64_t judged_off; /* episodes the payoff judge refused (a probe's off phase, or polling
			      * did not pay) */
};

struct poll_ctl {
	struct poll_params params;
	uint64_t min_ns, max_ns; /* the window's bounds (poll_params_bounds) */
	uint64_t window_ns; /* adaptive: current window; 0 = not polling until a short gap */
	bool polling;
	uint64_t started_ns;  /* start of the current episode */
	uint64_t episode_hits; /* found in the current episode */
	uint64_t last_req_ns; /* last request seen (by poll or by event) */
	uint64_t deadline_ns;
	struct poll_stats stats;
	struct poll_judge judge;
};

void poll_ctl_init(struct poll_ctl *c, const struct poll_params *p);
/* Changes the settings at run time (between episodes); the adaptive window is clamped into the
 * new bounds. */
void poll_ctl_set_params(struct poll_ctl *c, const struct poll_params *p);
/* After requests were handled at `now`: true to start polling until poll_ctl_deadline().
 * `allowed` is the load guard's and budget's verdict; `idle_pct` the host's idle share (fixed). */
bool poll_ctl_enter(struct poll_ctl *c, uint64_t now, bool allowed, unsigned int idle_pct);
/* A request was found while polling: re-arm (and, adaptive, grow) the window. */
void poll_ctl_hit(struct poll_ctl *c, uint64_t now);
/* Polling ends: `expired` when the window ran out (a miss), false when the guard cut it. */
void poll_ctl_leave(struct poll_ctl *c, uint64_t now, bool expired);
/* A request arrived by event at `now` (not while polling): learn from the gap since the last
 * request — grow when polling a little longer would have caught it, shrink when not even the
 * maximum window would have. */
void poll_ctl_wakeup(struct poll_ctl *c, uint64_t now);

/* Progress for the payoff judge, after work at `now`: `done` is the ring's running count of
 * completed requests, `busy` whether requests are in flight (at the image or on the ring). Calls
 * may come as often as the caller likes; the adaptive policy may then allow or refuse polling. */
void poll_ctl_progress(struct poll_ctl *c, uint64_t now, uint64_t done, bool busy);
/* Would an episode be allowed by the policy, the window and the judge (guard aside)? */
bool poll_ctl_wants(const struct poll_ctl *c);

static inline uint64_t poll_ctl_deadline(const struct poll_ctl *c)
{
	return c->deadline_ns;
}

static inline uint64_t poll_ctl_window(const struct poll_ctl *c)
{
	return c->params.policy == POLL_POLICY_FIXED ? c->max_ns : c->window_ns;
}

/* ---- the dom0 load guard ------------------------------------------------------------------ */

struct poll_guard_params {
	unsigned int max_psi_pct;   /* /proc/pressure/cpu "some avg10" above this trips (0 = off) */
	unsigned int max_steal_pct; /* steal share of CPU time above this trips (0 = off) */
	uint64_t sample_ns;	    /* re-sample the runnable count at least this often */
	uint64_t slow_sample_ns;    /* re-sample PSI, steal and idle% this often */
	uint64_t tripped_sample_ns; /* after a trip (nobody polls): re-sample this often */
	/* Trip when the polling thread was preempted during the last period: another task was
	 * waiting for this very CPU (e.g. the guest's vCPU sharing it). */
	bool preempt_check;
};

#define POLL_GUARD_DEFAULT_PSI_PCT 20U
#define POLL_GUARD_DEFAULT_STEAL_PCT 10U
#define POLL_GUARD_DEFAULT_SAMPLE_NS 1000000ULL	     /* 1 ms */
#define POLL_GUARD_DEFAULT_SLOW_SAMPLE_NS 100000000ULL /* 100 ms */
#define POLL_GUARD_DEFAULT_TRIPPED_SAMPLE_NS 10000000ULL /* 10 ms */

/* What the guard reads; fields are filled by the sampler (or by a test). */
struct poll_load_sample {
	unsigned int runnable; /* tasks runnable now, this one included (/proc/loadavg) */
	unsigned int psi_some_avg10_pct;
	unsigned int steal_pct;
	unsigned int idle_pct;	  /* this process's own CPU time counted as idle */
	unsigned int preemptions; /* involuntary switches of the polling thread in the period */
};

enum poll_guard_verdict {
	POLL_GUARD_OK = 0,
	POLL_GUARD_CPUS_BUSY,
	POLL_GUARD_PRESSURE,
	POLL_GUARD_STEAL,
	POLL_GUARD_PREEMPTED,
};

/* Pure decision: may a poller spin on a host with `online_cpus` given this sample? */
enum poll_guard_verdict poll_guard_judge(const struct poll_guard_params *p,
					 const struct poll_load_sample *s, unsigned int online_cpus);
const char *poll_guard_verdict_name(enum poll_guard_verdict v);

struct poll_guard {
	struct poll_guard_params params;
	unsigned int online_cpus;
	int loadavg_fd, pressure_fd, stat_fd; /* kept open, re-read with pread */
	uint64_t next_sample_ns, next_slow_sample_ns;
	uint64_t prev_total_ticks, prev_steal_ticks, prev_idle_ticks, prev_self_ticks;
	struct poll_load_sample last;
	unsigned int prev_runnable; /* the previous /proc/loadavg reading */
	uint64_t prev_nivcsw;	    /* the thread's involuntary switches at the last sample */
	enum poll_guard_verdict verdict;
	uint64_t trips[5]; /* by verdict */
};

void poll_guard_params_default(struct poll_guard_params *p);
/* Opens the /proc files (missing ones disable their check). 0 or -errno. */
int poll_guard_open(struct poll_guard *g, const struct poll_guard_params *p);
void poll_guard_close(struct poll_guard *g);
/* Cheap: re-reads /proc only when a sampling period has passed, else returns the last verdict. */
enum poll_guard_verdict poll_guard_check(struct poll_guard *g, uint64_t now);

/* ---- the host-wide budget ----------------------------------------------------------------- */

#define POLL_BUDGET_SLOTS 64
#define POLL_BUDGET_DEFAULT_PATH "/dev/shm/ringtap-poll-budget"

struct poll_budget {
	void *table; /* shared mapping of the slot table */
	unsigned int limit;
	int slot; /* held slot or -1 */
	int pid;  /* ours, as written in the slots (getpid is a system call: read once) */
	uint64_t next_reclaim_ns;
};

/* Maps (creating if needed) the table at `path`; limit 0 means online CPUs - 1, at least 1. */
int poll_budget_open(struct poll_budget *b, const char *path, unsigned int limit);
void poll_budget_close(struct poll_budget *b);
/* Takes one of the first `limit` slots for this process; false when all are held by live
 * processes. Idempotent while held. */
bool poll_budget_acquire(struct poll_budget *b, uint64_t now);
void poll_budget_release(struct poll_budget *b);
/* How many slots are held (for stats and tests). */
unsigned int poll_budget_in_use(const struct poll_budget *b);

#endif
