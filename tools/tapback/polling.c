/* XAPI's polling settings of a vbd3 device: the backend's polling-duration (µs) and
 * polling-idle-threshold (%), which xenopsd writes from the VBD's other-config. tapback passes
 * them with the ring's connect, then watches them: a change while the ring is connected is sent
 * to tapdisk at once (`tap-ctl poll`'s message), which applies it between polling episodes.
 * Only the toolstack can write the backend's nodes, but it can write junk: a bad value is
 * refused with a log line and tapdisk keeps what it has; a removed node changes nothing. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringtap/log.h"
#include "tapback.h"

static const struct poll_node {
	const char *name;
	unsigned long max;
	uint32_t bit;
} nodes[2] = {
	{ "polling-duration", CTL_POLL_MAX_US, CTL_POLL_SET_DURATION },
	{ "polling-idle-threshold", 100, CTL_POLL_SET_IDLE },
};

static uint32_t *field(struct ctl_poll_settings *s, unsigned int i)
{
	return i == 0 ? &s->duration_us : &s->idle_threshold;
}

void vbd_read_polling(struct vbd *v, struct ctl_poll_settings *s)
{
	memset(s, 0, sizeof(*s));
	for (unsigned int i = 0; i < 2; i++) {
		const struct poll_node *n = &nodes[i];
		char *raw = xs_readf(v->tb->xs, XBT_NULL, "%s/%s", v->backend, n->name);
		char *seen = v->poll_rejected[i];
		unsigned long val;

		if (!raw)
			continue;
		if (!parse_uint(raw, n->max, &val)) {
			*field(s, i) = (uint32_t)val;
			s->set_mask |= n->bit;
			seen[0] = '\0';
		} else if (strncmp(seen, raw, sizeof(v->poll_rejected[i]) - 1)) {
			rt_warn("%s: %s '%.24s' is not a whole number from 0 to %lu: ignored, tapdisk "
				"keeps its setting",
				v->backend, n->name, raw, n->max);
			snprintf(seen, sizeof(v->poll_rejected[i]), "%s", raw);
		}
		free(raw);
	}
}

void vbd_sync_polling(struct vbd *v)
{
	struct ctl_poll_set_args a = { .minor = v->minor };
	struct ctl_poll_settings now;
	struct ctl_client *c;
	int err;

	vbd_read_polling(v, &now);
	for (unsigned int i = 0; i < 2; i++) {
		uint32_t bit = nodes[i].bit;

		if ((now.set_mask & bit) &&
		    (!(v->polling.set_mask & bit) || *field(&now, i) != *field(&v->polling, i))) {
			a.settings.set_mask |= bit;
			*field(&a.settings, i) = *field(&now, i);
		}
	}
	if (!a.settings.set_mask)
		return;
	err = ctl_client_connect_pid(v->tapdisk_pid, v->tb->ctl_timeout_ms, &c);
	if (!err) {
		err = ctl_poll_set(c, &a);
		if (err)
			rt_warn("%s: tapdisk %d refused the new polling settings: %s%s%s",
				v->backend, (int)v->tapdisk_pid, strerror(-err),
				*ctl_client_error_message(c) ? ": " : "",
				ctl_client_error_message(c));
		ctl_client_close(c);
	} else {
		rt_warn("%s: cannot reach tapdisk %d for the new polling settings: %s", v->backend,
			(int)v->tapdisk_pid, strerror(-err));
	}
	/* sent or not, these are the values tapdisk was asked for: no retry storm on every
	 * event; the next change is sent again */
	for (unsigned int i = 0; i < 2; i++) {
		if (a.settings.set_mask & nodes[i].bit) {
			v->polling.set_mask |= nodes[i].bit;
			*field(&v->polling, i) = *field(&a.settings, i);
		}
	}
	if (!err)
		rt_info("%s: polling-duration %u us, polling-idle-threshold %u%% sent to tapdisk %d",
			v->backend, v->polling.duration_us, v->polling.idle_threshold,
			(int)v->tapdisk_pid);
}
