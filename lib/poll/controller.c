/* The per-ring polling window: when to poll, for how long, and how the window adapts.
 * Pure logic on a caller-supplied monotonic clock (ns), so it is unit-tested on a fake clock. */
#include <errno.h>
#include <string.h>

#include "ringtap/poll.h"

void poll_params_default(struct poll_params *p)
{
	*p = (struct poll_params){
		.policy = POLL_POLICY_ADAPTIVE,
		.start_ns = POLL_DEFAULT_START_NS,
		.max_ns = POLL_DEFAULT_MAX_NS,
		.grow = POLL_DEFAULT_GROW,
		.shrink = POLL_DEFAULT_SHRINK,
		.fixed_ns = POLL_DEFAULT_FIXED_NS,
		.idle_threshold = POLL_DEFAULT_IDLE_THRESHOLD,
	};
}

int poll_params_validate(const struct poll_params *p)
{
	if (p->policy != POLL_POLICY_ADAPTIVE && p->policy != POLL_POLICY_FIXED &&
	    p->policy != POLL_POLICY_OFF)
		return -EINVAL;
	if (p->start_ns == 0 || p->max_ns < p->start_ns || p->max_ns > POLL_MAX_WINDOW_NS)
		return -EINVAL;
	if (p->grow < 2 || p->grow > 16 || p->shrink < 2 || p->shrink > 16)
		return -EINVAL;
	if (p->fixed_ns > POLL_MAX_WINDOW_NS || p->idle_threshold > 100)
		return -EINVAL;
	if (p->budget > POLL_BUDGET_SLOTS)
		return -EINVAL;
	return 0;
}

static const char *const policy_names[] = {
	[POLL_POLICY_ADAPTIVE] = "adaptive",
	[POLL_POLICY_FIXED] = "fixed",
	[POLL_POLICY_OFF] = "off",
};

const char *poll_policy_name(enum poll_policy policy)
{
	if ((unsigned int)policy >= sizeof(policy_names) / sizeof(policy_names[0]))
		return "unknown";
	return policy_names[policy];
}

int poll_policy_parse(const char *name, enum poll_policy *policy)
{
	for (unsigned int i = 0; i < sizeof(policy_names) / sizeof(policy_names[0]); i++) {
		if (name && !strcmp(name, policy_names[i])) {
			*policy = (enum poll_policy)i;
			return 0;
		}
	}
	return -EINVAL;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

void poll_params_bounds(const struct poll_params *p, uint64_t *min_ns, uint64_t *max_ns)
{
	switch (p->policy) {
	case POLL_POLICY_FIXED:
		*min_ns = *max_ns = p->fixed_ns;
		return;
	case POLL_POLICY_ADAPTIVE:
		*max_ns = min_u64(p->max_ns, p->fixed_ns);
		*min_ns = min_u64(p->start_ns, *max_ns);
		return;
	case POLL_POLICY_OFF:
	default:
		*min_ns = *max_ns = 0;
		return;
	}
}

void poll_ctl_init(struct poll_ctl *c, const struct poll_params *p)
{
	memset(c, 0, sizeof(*c));
	c->params = *p;
	poll_params_bounds(p, &c->min_ns, &c->max_ns);
	/* Start at 0: the first short gap between requests turns polling on. */
	c->window_ns = 0;
	c->judge.on = true; /* until the judge has heard of any progress */
}

void poll_ctl_set_params(struct poll_ctl *c, const struct poll_params *p)
{
	c->params = *p;
	poll_params_bounds(p, &c->min_ns, &c->max_ns);
	if (c->window_ns > c->max_ns)
		c->window_ns = c->max_ns;
	else if (c->window_ns && c->window_ns < c->min_ns)
		c->window_ns = c->min_ns;
}

static void window_grow(struct poll_ctl *c)
{
	uint64_t w = c->window_ns ? c->window_ns * c->params.grow : c->min_ns;

	c->window_ns = min_u64(w, c->max_ns);
}

static void window_shrink(struct poll_ctl *c)
{
	c->window_ns /= c->params.shrink;
	if (c->window_ns < c->min_ns)
		c->window_ns = 0;
}

bool poll_ctl_enter(struct poll_ctl *c, uint64_t now, bool allowed, unsigned int idle_pct)
{
	uint64_t window;

	c->last_req_ns = now;
	if (c->params.policy == POLL_POLICY_OFF)
		return false;
	window = poll_ctl_window(c);
	if (window == 0)
		return false;
	if (c->params.policy == POLL_POLICY_ADAPTIVE && !c->judge.on) {
		c->stats.judged_off++; /* the guard's verdict does not matter: no episode */
		return false;
	}
	if (allowed && idle_pct <= c->params.idle_threshold) {
		c->stats.idle_refused++;
		allowed = false;
	}
	if (!allowed) {
		c->stats.guarded++;
		return false;
	}
	c->polling = true;
	c->started_ns = now;
	c->episode_hits = 0;
	c->deadline_ns = now + window;
	c->stats.entered++;
	return true;
}

void poll_ctl_hit(struct poll_ctl *c, uint64_t now)
{
	c->stats.hits++;
	c->episode_hits++;
	c->last_req_ns = now;
	if (c->params.policy == POLL_POLICY_ADAPTIVE)
		window_grow(c);
	c->deadline_ns = now + (poll_ctl_wants(c) ? poll_ctl_window(c) : 0);
}

void poll_ctl_leave(struct poll_ctl *c, uint64_t now, bool expired)
{
	if (!c->polling)
		return;
	c->polling = false;
	c->stats.polled_ns += now - c->started_ns;
	if (!c->episode_hits)
		c->stats.empty++;
	if (expired)
		c->stats.misses++;
	else
		c->stats.guarded++;
}

void poll_ctl_wakeup(struct poll_ctl *c, uint64_t now)
{
	uint64_t gap = now - c->last_req_ns;

	c->stats.wakeups++;
	c->last_req_ns = now;
	if (c->params.policy != POLL_POLICY_ADAPTIVE)
		return;
	if (c->max_ns == 0)
		return; /* polling-duration 0: never polls */
	if (gap > c->max_ns)
		window_shrink(c); /* not even the longest window would have caught it */
	else if (gap > c->window_ns)
		window_grow(c); /* a longer window would have: poll longer next time */
}

/* ---- the payoff judge (poll.h) ------------------------------------------------------------ */

/* Whether the probe's phase i polls: on, off, off, on (a drift of the disk or of the other
 * tenants' load during the probe then weighs on both modes alike). */
static bool phase_on(unsigned int i)
{
	return ((i + 1) / 2) % 2 == 0;
}

static void judge_probe(struct poll_judge *j, uint64_t now)
{
	j->settle_until_ns = now + POLL_JUDGE_SETTLE_NS;
	j->strikes = 0;
	j->probing = true;
	j->phase = 0;
	j->on = phase_on(0);
	j->win_ns = j->win_done = 0;
	memset(j->ph_ns, 0, sizeof(j->ph_ns));
	memset(j->ph_done, 0, sizeof(j->ph_done));
	j->probes++;
}

static double per_s(uint64_t done, uint64_t ns)
{
	return ns ? (double)done * 1e9 / (double)ns : 0.0;
}

/* How far apart two rates of the same mode are, relative to their mean. */
static double spread(double a, double b)
{
	return a + b > 0 ? 2 * (a > b ? a - b : b - a) / (a + b) : 0.0;
}

/* The probe is over. Its phases ran on, off, off, on: each phase with polling is compared with
 * the phase without it next to it (0 with 1, 3 with 2), so that a drift of the disk or of the
 * other tenants' load over the probe, which moves adjacent phases alike, cancels. Polling starts
 * only if it beat events by the margin in both pairs, and stays while it is ahead in both: a tie
 * (each pair a coin toss) starts it in about one probe of four and keeps it rarely, while a real
 * win starts and keeps it however far apart the two phases of a mode were (a disk whose speed
 * drifts by a third within a probe still shows polling's 20 % in each pair). The noise (how far
 * apart the two phases of a mode were, the larger of the two spreads) is reported. */
static void judge_decide(struct poll_judge *j, uint64_t now)
{
	double r[POLL_JUDGE_PHASES];
	double on = per_s(j->ph_done[0] + j->ph_done[3], j->ph_ns[0] + j->ph_ns[3]);
	double off = per_s(j->ph_done[1] + j->ph_done[2], j->ph_ns[1] + j->ph_ns[2]);
	double n1, n0, noise, need;
	bool first = !(j->kept_on + j->kept_off), keep;

	for (unsigned int i = 0; i < POLL_JUDGE_PHASES; i++)
		r[i] = per_s(j->ph_done[i], j->ph_ns[i]);
	n1 = spread(r[0], r[3]);
	n0 = spread(r[1], r[2]);
	noise = n1 > n0 ? n1 : n0;
	need = j->verdict ? 1.0 : 1 + POLL_JUDGE_MARGIN_PCT / 100.0;
	keep = r[0] > r[1] * need && r[3] > r[2] * need;
	j->noise_pct = (uint64_t)(noise * 100);
	j->rate_on = (uint64_t)on;
	j->rate_off = (uint64_t)off;
	if (first || keep != j->verdict)
		j->hold_ns = POLL_JUDGE_HOLD_NS;
	else
		j->hold_ns = min_u64(j->hold_ns * POLL_JUDGE_HOLD_GROW, POLL_JUDGE_MAX_HOLD_NS);
	j->verdict = keep;
	if (keep)
		j->kept_on++;
	else
		j->kept_off++;
	j->probing = false;
	j->on = keep;
	j->ref_ns = keep ? j->ph_ns[0] + j->ph_ns[3] : j->ph_ns[1] + j->ph_ns[2];
	j->ref_done = keep ? j->ph_done[0] + j->ph_done[3] : j->ph_done[1] + j->ph_done[2];
	j->hold_until_ns = now + j->hold_ns;
}

/* Holding: has the completion rate moved so far from the probe's that the workload changed? */
static bool judge_changed(const struct poll_judge *j)
{
	double now = per_s(j->win_done, j->win_ns), then = per_s(j->ref_done, j->ref_ns);

	return now > then * POLL_JUDGE_CHANGE || now * POLL_JUDGE_CHANGE < then;
}

static void judge_step(struct poll_ctl *c, uint64_t now, uint64_t done, bool busy);

void poll_ctl_progress(struct poll_ctl *c, uint64_t now, uint64_t done, bool busy)
{
	judge_step(c, now, done, busy);
	if (c->polling && !poll_ctl_wants(c) && c->deadline_ns > now)
		c->deadline_ns = now; /* the judge says off: the episode ends at its next look */
}

static void judge_step(struct poll_ctl *c, uint64_t now, uint64_t done, bool busy)
{
	struct poll_judge *j = &c->judge;
	uint64_t dt = now - j->last_ns, n = done - j->last_done;
	bool started = j->probes != 0, was_busy = j->busy;

	j->last_ns = now;
	j->last_done = done;
	j->busy = busy;
	if (c->params.policy != POLL_POLICY_ADAPTIVE || c->max_ns == 0 || c->params.no_judge) {
		j->on = true; /* only the adaptive policy is judged */
		j->probing = false;
		return;
	}
	if (!started) {
		judge_probe(j, now);
		return;
	}
	if (!was_busy && dt > c->max_ns)
		dt = c->max_ns; /* idle: no window could have shortened the rest */
	j->win_ns += dt;
	j->win_done += n;
	if (!j->probing && now >= j->hold_until_ns) {
		judge_probe(j, now);
		return;
	}
	if (j->probing && now < j->settle_until_ns) {
		j->win_ns = j->win_done = 0;
		return;
	}
	if (j->win_ns < POLL_JUDGE_PHASE_NS || j->win_done < POLL_JUDGE_PHASE_DONE)
		return;
	if (j->probing) {
		j->ph_ns[j->phase] = j->win_ns;
		j->ph_done[j->phase] = j->win_done;
		j->win_ns = j->win_done = 0;
		if (++j->phase == POLL_JUDGE_PHASES) {
			judge_decide(j, now);
		} else {
			j->on = phase_on(j->phase);
			j->settle_until_ns = now + POLL_JUDGE_SETTLE_NS;
		}
		return;
	}
	j->strikes = judge_changed(j) ? j->strikes + 1 : 0;
	j->win_ns = j->win_done = 0;
	if (j->strikes == 2) { /* not one noisy window: the workload changed */
		j->changes++;
		judge_probe(j, now);
	}
}

bool poll_ctl_wants(const struct poll_ctl *c)
{
	if (poll_ctl_window(c) == 0)
		return false;
	return c->params.policy != POLL_POLICY_ADAPTIVE || c->judge.on;
}
