/* One vbd3 device: gather its view from xenstore and tapdisk, let the state machine decide, and
 * carry the actions out (features, ring connect/disconnect, states, removal). The tapdisk named
 * by physical-device-path is watched through a pidfd: its death closes the device. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <xen/io/xenbus.h>

#include "ringtap/blkif_abi.h"
#include "ringtap/ctl.h"
#include "ringtap/log.h"
#include "tapback.h"

struct vbd *vbd_find(struct tapback *tb, unsigned int domid, unsigned int devid)
{
	for (struct vbd *v = tb->vbds; v; v = v->next)
		if (v->domid == domid && v->devid == devid)
			return v;
	return NULL;
}

struct vbd *vbd_add(struct tapback *tb, unsigned int domid, unsigned int devid)
{
	struct vbd *v = calloc(1, sizeof(*v));

	if (!v)
		return NULL;
	v->tb = tb;
	v->domid = domid;
	v->devid = devid;
	v->minor = -1;
	v->pidfd = -1;
	snprintf(v->backend, sizeof(v->backend), "%s/%u/%u", tb->root, domid, devid);
	snprintf(v->fe_token, sizeof(v->fe_token), "fe:%u:%u", domid, devid);
	v->next = tb->vbds;
	tb->vbds = v;
	return v;
}

void vbd_forget(struct vbd *v)
{
	struct vbd **pp;
	char path[300];

	if (v->fe_watched) {
		snprintf(path, sizeof(path), "%s/state", v->frontend);
		xs_unwatch(v->tb->xs, path, v->fe_token);
	}
	for (pp = &v->tb->vbds; *pp; pp = &(*pp)->next) {
		if (*pp == v) {
			*pp = v->next;
			break;
		}
	}
	if (v->pidfd >= 0)
		close(v->pidfd);
	free(v);
}

/* The toolstack writes `frontend`; still, only accept a plain absolute xenstore path. */
static bool frontend_path_ok(const char *p)
{
	size_t n = strlen(p);

	if (p[0] != '/' || n >= sizeof(((struct vbd *)0)->frontend) - 8)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = p[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '/' || c == '-' || c == '_' || c == '.'))
			return false;
	}
	return true;
}

static int read_state(struct xs_handle *xs, const char *dir)
{
	unsigned long v;
	int err = xs_read_uint(xs, dir, "state", 1000, &v);

	if (err == -ENOENT)
		return XS_STATE_MISSING;
	if (err)
		return 1000; /* garbage: a state no rule acts on */
	return (int)v;
}

static bool node_is(struct xs_handle *xs, const char *dir, const char *node, const char *want)
{
	char *s = xs_readf(xs, XBT_NULL, "%s/%s", dir, node);
	bool eq = s && !strcmp(s, want);

	free(s);
	return eq;
}

static bool domain_alive(struct vbd *v)
{
	char *s = xs_readf(v->tb->xs, XBT_NULL, "/local/domain/%u", v->domid);
	bool alive = s != NULL;

	free(s);
	return alive;
}

static int ctl_open_client(struct vbd *v, struct ctl_client **c)
{
	return ctl_client_connect_pid(v->tapdisk_pid, v->tb->ctl_timeout_ms, c);
}

enum tapdisk_look { TAPDISK_WAIT, TAPDISK_FOUND, TAPDISK_GONE };

static enum tapdisk_look tapdisk_gone(struct vbd *v, const char *why)
{
	v->tapdisk_gone = true;
	snprintf(v->gone_why, sizeof(v->gone_why), "%s", why);
	if (v->pidfd >= 0)
		close(v->pidfd);
	v->pidfd = -1;
	return TAPDISK_GONE;
}

/* A pidfd for the tapdisk, so that its death wakes tapback's loop (opened before the tapdisk is
 * asked anything: if it answers afterwards, the pidfd is that process's). */
static void watch_tapdisk(struct vbd *v)
{
	long fd;

	if (v->pidfd >= 0)
		return;
	fd = syscall(SYS_pidfd_open, v->tapdisk_pid, 0);
	if (fd >= 0) {
		v->pidfd = (int)fd;
		return;
	}
	if (errno != ESRCH && !v->waiting_logged)
		rt_vbd_warn(v->backend, "cannot watch tapdisk %d: %s", (int)v->tapdisk_pid,
			    strerror(errno));
}

/* physical-device-path = <run dir>/nbd<pid>.<minor>, written by the hotplug step: find the
 * tapdisk and check that it has this minor open. GONE when that tapdisk is dead, its control
 * socket refuses or is missing, or it serves no such minor. */
static enum tapdisk_look find_tapdisk(struct vbd *v)
{
	char *pdp = xs_readf(v->tb->xs, XBT_NULL, "%s/physical-device-path", v->backend);
	char prefix[CTL_PATH_MAX], tail[8];
	enum tapdisk_look look = TAPDISK_GONE;
	size_t plen;
	struct ctl_client *c;
	struct ctl_list list;
	long pid;
	int minor, err;

	if (!pdp)
		return TAPDISK_WAIT;
	plen = (size_t)snprintf(prefix, sizeof(prefix), "%s/nbd", ctl_run_dir());
	if (strncmp(pdp, prefix, plen) || sscanf(pdp + plen, "%ld.%d%7s", &pid, &minor, tail) != 2 ||
	    pid <= 0 || pid > INT32_MAX || minor < 0) {
		if (!v->waiting_logged)
			rt_vbd_warn(v->backend, "physical-device-path '%s' names no tapdisk", pdp);
		v->waiting_logged = true;
		free(pdp);
		return TAPDISK_WAIT;
	}
	free(pdp);
	if ((pid_t)pid != v->tapdisk_pid || minor != v->minor) {
		/* another tapdisk (the toolstack plugged it again): start afresh */
		if (v->pidfd >= 0)
			close(v->pidfd);
		v->pidfd = -1;
		v->tapdisk_gone = v->error_reported = v->waiting_logged = false;
		v->tapdisk_pid = (pid_t)pid;
		v->minor = minor;
	}
	if (v->tapdisk_gone)
		return TAPDISK_GONE;
	watch_tapdisk(v);
	err = ctl_open_client(v, &c);
	if (err == -ENOENT || err == -ECONNREFUSED)
		return tapdisk_gone(v, err == -ENOENT ? "its control socket is missing"
						      : "its control socket refuses connections");
	if (err) {
		if (!v->waiting_logged)
			rt_vbd_warn(v->backend, "tapdisk %ld unreachable: %s", pid, strerror(-err));
		v->waiting_logged = true;
		return TAPDISK_WAIT;
	}
	err = ctl_list(c, &list);
	ctl_client_close(c);
	if (err)
		return TAPDISK_WAIT;
	for (unsigned int i = 0; i < list.count; i++)
		if (list.entries[i].minor == minor)
			look = list.entries[i].image.type != CTL_IMAGE_NONE ? TAPDISK_FOUND
									    : TAPDISK_WAIT;
	ctl_list_release(&list);
	if (look == TAPDISK_GONE)
		return tapdisk_gone(v, "it does not serve that minor");
	return look;
}

static void watch_frontend(struct vbd *v)
{
	char *fe, path[300];

	if (v->fe_watched)
		return;
	fe = xs_readf(v->tb->xs, XBT_NULL, "%s/frontend", v->backend);
	if (!fe)
		return;
	if (!frontend_path_ok(fe)) {
		rt_vbd_err(v->backend, "refusing frontend path '%.64s'", fe);
		free(fe);
		return;
	}
	snprintf(v->frontend, sizeof(v->frontend), "%s", fe);
	free(fe);
	snprintf(path, sizeof(path), "%s/state", v->frontend);
	v->fe_watched = xs_watch(v->tb->xs, path, v->fe_token);
}

static void gather(struct vbd *v, struct vbd_view *view)
{
	struct xs_handle *xs = v->tb->xs;
	enum tapdisk_look look = TAPDISK_WAIT;
	bool first_look = v->kthread_pid == 0;

	watch_frontend(v);
	view->fe_state = v->fe_watched ? read_state(xs, v->frontend) : XS_STATE_MISSING;
	if (!v->fe_seen && view->fe_state != XS_STATE_MISSING) {
		v->fe_seen = true;
		rt_vbd_debug(v->backend, "frontend %s appeared in state %d", v->frontend,
			     view->fe_state);
	}
	view->fe_seen = v->fe_seen;
	view->be_state = read_state(xs, v->backend);
	view->online = node_is(xs, v->backend, "online", "1");
	view->hotplug_connected = node_is(xs, v->backend, "hotplug-status", "connected");
	view->domain_alive = domain_alive(v);
	if (view->hotplug_connected)
		look = find_tapdisk(v);
	view->tapdisk_found = look == TAPDISK_FOUND;
	view->tapdisk_gone = look == TAPDISK_GONE;
	if (view->tapdisk_gone)
		v->ring_connected = false; /* nothing left to disconnect */
	if (view->tapdisk_found && v->kthread_pid != v->tapdisk_pid) {
		xs_printf_node(xs, XBT_NULL, v->backend, "kthread-pid", "%d", (int)v->tapdisk_pid);
		v->kthread_pid = v->tapdisk_pid;
	}
	if (view->tapdisk_found && first_look) {
		/* tapback restarted: a device connected on both sides is adopted as it is */
		if (view->be_state == XenbusStateConnected &&
		    (view->fe_state == XenbusStateConnected ||
		     view->fe_state == XenbusStateInitialised)) {
			v->ring_connected = true;
			/* what tapdisk has is unknown: take xenstore's as sent, so that only a
			 * later change is sent (not over a `tap-ctl poll` made meanwhile) */
			vbd_read_polling(v, &v->polling);
			rt_vbd_info(v->backend,
				    "adopted: connected to tapdisk %d minor %d before tapback "
				    "started",
				    (int)v->tapdisk_pid, v->minor);
		}
	}
	view->ring_connected = v->ring_connected;
}

static void switch_state(struct vbd *v, int state)
{
	if (!xs_printf_node(v->tb->xs, XBT_NULL, v->backend, "state", "%d", state))
		rt_vbd_err(v->backend, "cannot write state %d", state);
}

/* Writes a set of nodes and the new state in one transaction, retrying on conflicts. */
typedef bool (*write_fn)(struct vbd *v, xs_transaction_t t, const void *arg);

static bool transact(struct vbd *v, write_fn fn, const void *arg, int state)
{
	for (int tries = 0; tries < 16; tries++) {
		xs_transaction_t t = xs_transaction_start(v->tb->xs);

		if (!t)
			return false;
		if (!fn(v, t, arg) ||
		    !xs_printf_node(v->tb->xs, t, v->backend, "state", "%d", state)) {
			xs_transaction_end(v->tb->xs, t, true);
			return false;
		}
		if (xs_transaction_end(v->tb->xs, t, false))
			return true;
		if (errno != EAGAIN)
			return false;
	}
	return false;
}

static bool write_static_features(struct vbd *v, xs_transaction_t t, const void *arg)
{
	struct xs_handle *xs = v->tb->xs;

	return xs_printf_node(xs, t, v->backend, "max-ring-page-order", "%u",
			      TAPBACK_MAX_RING_ORDER) &&
	       xs_printf_node(xs, t, v->backend, "feature-persistent", "1") &&
	       xs_printf_node(xs, t, v->backend, "feature-max-indirect-segments", "%u",
			      v->tb->max_indirect);
}

static bool write_connected(struct vbd *v, xs_transaction_t t, const void *arg)
{
	const struct ctl_disk_info *info = arg;
	struct xs_handle *xs = v->tb->xs;
	unsigned int vinfo = info->info;

	if (node_is(xs, v->backend, "mode", "r"))
		vinfo |= VDISK_READONLY;
	/* discard only where the image can, and never on a read-only disk */
	bool discard = info->discard_granularity && !(vinfo & VDISK_READONLY);

	if (discard && !(xs_printf_node(xs, t, v->backend, "discard-granularity", "%u",
					info->discard_granularity) &&
			 xs_printf_node(xs, t, v->backend, "discard-alignment", "%u",
					info->discard_alignment)))
		return false;
	return xs_printf_node(xs, t, v->backend, "feature-flush-cache", "1") &&
	       xs_printf_node(xs, t, v->backend, "feature-barrier", "1") &&
	       xs_printf_node(xs, t, v->backend, "feature-discard", "%d", discard) &&
	       xs_printf_node(xs, t, v->backend, "sectors", "%llu",
			      (unsigned long long)info->sectors) &&
	       xs_printf_node(xs, t, v->backend, "sector-size", "%u", info->sector_size) &&
	       xs_printf_node(xs, t, v->backend, "physical-sector-size", "%u",
			      info->physical_sector_size) &&
	       xs_printf_node(xs, t, v->backend, "info", "%u", vinfo);
}

/* A frontend's malformed node: says what is wrong in bad; -EINVAL. */
static int __attribute__((format(printf, 3, 4))) bad_node(char *bad, size_t size, const char *fmt,
							  ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(bad, size, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* Reads what the frontend published for its ring; -EINVAL on anything malformed, with *bad
 * naming the node (the guest's error, for the log). */
static int read_ring_args(struct vbd *v, struct ctl_connect_args *a, char *bad, size_t bad_size)
{
	struct xs_handle *xs = v->tb->xs;
	unsigned long val, order = 0;
	char node[32], *proto;
	int err;

	memset(a, 0, sizeof(*a));
	a->minor = v->minor;
	a->domid = v->domid;
	a->devid = v->devid;
	err = xs_read_uint(xs, v->frontend, "ring-page-order", TAPBACK_MAX_RING_ORDER, &order);
	if (err && err != -ENOENT)
		return bad_node(bad, bad_size, "ring-page-order is not a number up to %u",
				TAPBACK_MAX_RING_ORDER);
	a->order = (uint32_t)order;
	for (unsigned int i = 0; i < (1u << order); i++) {
		if (order == 0)
			snprintf(node, sizeof(node), "ring-ref");
		else
			snprintf(node, sizeof(node), "ring-ref%u", i);
		err = xs_read_uint(xs, v->frontend, node, UINT32_MAX, &val);
		if (err)
			return bad_node(bad, bad_size, "%s is %s", node,
					err == -ENOENT ? "missing" : "not a grant reference");
		a->ring_refs[i] = (uint32_t)val;
	}
	if (xs_read_uint(xs, v->frontend, "event-channel", UINT32_MAX, &val))
		return bad_node(bad, bad_size, "event-channel is missing or not a port number");
	a->port = (uint32_t)val;
	proto = xs_readf(xs, XBT_NULL, "%s/protocol", v->frontend);
	err = proto ? ctl_ring_protocol_parse(proto, &a->protocol) : 0;
	if (err)
		err = bad_node(bad, bad_size, "unknown protocol '%.32s'", proto);
	free(proto);
	if (err)
		return err;
	a->persistent = xs_read_uint(xs, v->frontend, "feature-persistent", 1, &val) == 0 && val;
	a->max_indirect_segments = v->tb->max_indirect;
	vbd_read_polling(v, &a->polling);
	return 0;
}

/* why: tapdisk's message and reason, or "": the log has them, tapdisk-error (read by xenopsd)
 * keeps its format. */
static void report_error(struct vbd *v, const char *what, int err, const char *why)
{
	rt_vbd_err(v->backend, "%s: %s%s%s", what, strerror(-err), why[0] ? ": " : "", why);
	xs_printf_node(v->tb->xs, XBT_NULL, v->backend, "tapdisk-error", "%s: %s", what,
		       strerror(-err));
}

/* tapdisk-error as xenopsd reads it (it fails the plug on it), and the log, once per tapdisk. */
static void report_gone(struct vbd *v)
{
	if (v->error_reported)
		return;
	v->error_reported = true;
	rt_vbd_err(v->backend, "tapdisk %d (minor %d) is gone: %s", (int)v->tapdisk_pid, v->minor,
		   v->gone_why);
	xs_printf_node(v->tb->xs, XBT_NULL, v->backend, "tapdisk-error",
		       "tapdisk %d (minor %d) is gone: %s", (int)v->tapdisk_pid, v->minor,
		       v->gone_why);
}

void vbd_tapdisk_died(struct vbd *v)
{
	tapdisk_gone(v, "it died");
	vbd_update(v);
}

static void do_disconnect(struct vbd *v, const struct vbd_view *view)
{
	struct ctl_disconnect_args a = { .minor = v->minor };
	struct ctl_client *c;
	int err;

	v->ring_connected = false;
	if (!v->tapdisk_pid || ctl_open_client(v, &c)) {
		rt_vbd_info(v->backend, "disconnected (tapdisk %d is gone)", (int)v->tapdisk_pid);
		return; /* nothing left to disconnect */
	}
	err = ctl_disconnect(c, &a);
	if (err && err != -ENOTCONN && err != -ENOENT)
		rt_vbd_warn(v->backend, "disconnect from tapdisk %d minor %d: %s%s%s",
			    (int)v->tapdisk_pid, v->minor, strerror(-err),
			    ctl_client_error_message(c)[0] ? ": " : "",
			    ctl_client_error_message(c));
	else
		rt_vbd_info(v->backend, "disconnected from tapdisk %d minor %d (frontend state %d)",
			    (int)v->tapdisk_pid, v->minor, view->fe_state);
	ctl_client_close(c);
}

static void do_connect(struct vbd *v)
{
	char why[2 * CTL_MESSAGE_MAX + 2];
	struct ctl_connect_args a;
	struct ctl_disk_info info;
	struct ctl_client *c;
	int err;

	err = read_ring_args(v, &a, why, sizeof(why));
	if (err) {
		/* the frontend's nodes are the guest's: bad ones close the device, as blkback */
		rt_vbd_err(v->backend, "frontend %s published a malformed ring: %s", v->frontend,
			   why);
		switch_state(v, XenbusStateClosing);
		return;
	}
	err = ctl_open_client(v, &c);
	if (err) {
		report_error(v, "cannot reach tapdisk", err, "");
		return;
	}
	err = ctl_connect(c, &a);
	if (!err)
		err = ctl_info(c, v->minor, &info);
	snprintf(why, sizeof(why), "%s%s%s", ctl_client_error_message(c),
		 ctl_client_error_reason(c)[0] ? ": " : "", ctl_client_error_reason(c));
	ctl_client_close(c);
	if (err == -EINVAL || err == -EPERM || err == -EFAULT) {
		/* the guest's ring is at fault: its error, closed as blkback does */
		rt_vbd_err(v->backend, "tapdisk refused the ring of frontend %s: %s%s%s",
			   v->frontend, strerror(-err), why[0] ? ": " : "", why);
		switch_state(v, XenbusStateClosing);
		return;
	}
	if (err) {
		report_error(v, "ring connect failed", err, why);
		return;
	}
	v->ring_connected = true;
	v->polling = a.polling;
	if (!transact(v, write_connected, &info, XenbusStateConnected))
		rt_vbd_err(v->backend, "cannot publish the disk geometry");
	else
		rt_vbd_info(v->backend,
			    "connected to tapdisk %d minor %d (order %u, %s, event channel %u, "
			    "indirect %u, persistent grants %s)",
			    (int)v->tapdisk_pid, v->minor, a.order,
			    ctl_ring_protocol_name(a.protocol), a.port, a.max_indirect_segments,
			    a.persistent ? "on" : "off");
}

void vbd_update(struct vbd *v)
{
	struct vbd_view view;
	unsigned int act;

	gather(v, &view);
	act = vbd_decide(&view);
	if (act)
		rt_vbd_debug(v->backend, "frontend %d backend %d online %d ring %d: actions %#x",
			     view.fe_state, view.be_state, view.online, view.ring_connected, act);
	if (act & VBD_ACT_DISCONNECT)
		do_disconnect(v, &view);
	if ((act & VBD_ACT_INIT_WAIT) &&
	    !transact(v, write_static_features, NULL, XenbusStateInitWait))
		rt_vbd_err(v->backend, "cannot write features");
	if (act & VBD_ACT_CONNECT)
		do_connect(v);
	if (act & VBD_ACT_TAPDISK_ERROR)
		report_gone(v);
	if (act & VBD_ACT_CLOSING)
		switch_state(v, XenbusStateClosing);
	if (act & VBD_ACT_CLOSED)
		switch_state(v, XenbusStateClosed);
	if (act & VBD_ACT_REMOVE) {
		xs_rm(v->tb->xs, XBT_NULL, v->backend);
		rt_vbd_info(v->backend, "removed");
		vbd_forget(v);
		return;
	}
	/* a connected ring takes xenstore's polling-* changes (a connect just sent them) */
	if (v->ring_connected && view.tapdisk_found && !(act & VBD_ACT_CONNECT))
		vbd_sync_polling(v);
}
