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
	c->deadline_ns = now + window;
	c->stats.entered++;
	return true;
}

void poll_ctl_hit(struct poll_ctl *c, uint64_t now)
{
	c->stats.hits++;
	c->last_req_ns = now;
	if (c->params.policy == POLL_POLICY_ADAPTIVE)
		window_grow(c);
	c->deadline_ns = now + poll_ctl_window(c);
}

void poll_ctl_leave(struct poll_ctl *c, uint64_t now, bool expired)
{
	if (!c->polling)
		return;
	c->polling = false;
	c->stats.polled_ns += now - c->started_ns;
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
