/* The control protocol's handlers (include/ringtap/ctl.h): each minor's lifecycle as tap-ctl and
 * tapback drive it. A handler answers at once or defers; what waits for in-flight requests to
 * drain (a pause, which then closes the image; a disconnect or forced close of a busy ring,
 * which quiesce it and keep the image open) finishes from the loop: the VBD's drain callback
 * arms a zero-delay timer, whose handler completes the requests. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ringtap/driver.h"
#include "ringtap/log.h"
#include "src/blkif_req.h"
#include "src/daemon.h"
#include "src/mirror.h"

static struct td_minor *find(struct td_daemon *d, struct ctl_request *req, int minor)
{
	for (struct td_minor *v = d->minors; v; v = v->next)
		if (v->minor == minor)
			return v;
	ctl_request_set_message(req, "minor %d is not attached to tapdisk %d", minor,
				(int)getpid());
	return NULL;
}

uint32_t td_minor_state(const struct td_minor *v)
{
	uint32_t s = 0;

	if (!v->vbd)
		s |= CTL_VBD_CLOSED;
	if (td_minor_paused(v))
		s |= CTL_VBD_PAUSED;
	if (v->pause_req)
		s |= CTL_VBD_PAUSE_REQUESTED;
	return s;
}

static void complete(struct ctl_request **req, int err)
{
	if (*req) {
		ctl_request_complete(*req, err);
		*req = NULL;
	}
}

/* "aio:/path" for td_vbd_open. */
static int image_arg(struct ctl_request *req, const struct ctl_image *img, char *buf, size_t size)
{
	const char *type = ctl_image_type_name(img->type);

	if (!type) {
		ctl_request_set_message(req, "no image type given");
		return -EINVAL;
	}
	if ((size_t)snprintf(buf, size, "%s:%s", type, img->path) >= size) {
		ctl_request_set_message(req, "image path too long");
		return -ENAMETOOLONG;
	}
	return 0;
}

/* An image that cannot be opened: say which and why (why: the driver's reason, or ""); a type
 * without a driver is EOPNOTSUPP. */
static int open_failed(struct td_minor *v, struct ctl_request *req, const char *what,
		       const char *type_path, int err, const char *why)
{
	if (why[0]) {
		/* "aio:/x is in use by tapdisk pid 12 minor 0 (...)": says it all, EBUSY stays */
		ctl_request_set_message(req, "%s %s", type_path, why);
	} else if (err == -EPROTONOSUPPORT) {
		ctl_request_set_message(req,
					"%s %s: this tapdisk has no driver for that image type",
					what, type_path);
		err = -EOPNOTSUPP;
	} else {
		ctl_request_set_message(req, "%s %s", what, type_path); /* tap-ctl adds strerror */
	}
	rt_vbd_err(v->log_id, "%s %s: %s%s%s", what, type_path, strerror(-err), why[0] ? ": " : "",
		   why);
	return err;
}

/* Debug: every layer of the image chain just opened, leaf first. */
static void log_chain(const struct td_minor *v)
{
	struct td_vbd_layer l;

	if (rt_log_level() < LOG_DEBUG)
		return;
	for (unsigned int i = 0; td_vbd_layer(v->vbd, i, &l) == 0; i++)
		rt_vbd_debug(v->log_id, "image chain %u: %s (%s, %llu sectors%s)", i, l.name,
			     l.readonly ? "read-only" : "read-write", (unsigned long long)l.sectors,
			     l.discard ? ", discard" : "");
}

/* The TD_OPEN_LOCK_* flags of a locking mode; CTL_LOCK_DEFAULT: $TAPDISK_IMAGE_LOCKING, else
 * auto. 0 or -EINVAL (a bad environment value refuses the open rather than guess). */
static int lock_flags(struct ctl_request *req, enum ctl_lock_mode mode, unsigned int *flags)
{
	const char *env = getenv(TD_IMAGE_LOCKING_ENV);

	if (mode == CTL_LOCK_DEFAULT && env && *env && ctl_lock_mode_parse(env, &mode)) {
		ctl_request_set_message(req, "%s=%s: expected on, off or auto",
					TD_IMAGE_LOCKING_ENV, env);
		return -EINVAL;
	}
	*flags = mode == CTL_LOCK_ON  ? TD_OPEN_LOCK_ON :
		 mode == CTL_LOCK_OFF ? TD_OPEN_LOCK_OFF :
					0;
	return 0;
}

/* The TD_OPEN_ENGINE_* flags of $TAPDISK_IO_ENGINE (auto when unset or empty). 0 or -EINVAL (a
 * bad value refuses the open rather than guess). */
static int engine_flags(struct ctl_request *req, unsigned int *flags)
{
	const char *env = getenv(TD_IO_ENGINE_ENV);

	*flags = 0;
	if (env && *env && td_io_engine_parse(env, flags)) {
		ctl_request_set_message(req, "%s=%s: expected auto, libaio or io_uring",
					TD_IO_ENGINE_ENV, env);
		return -EINVAL;
	}
	return 0;
}

/* ---- polling settings: the control protocol's units to the datapath's ---------------------- */

static void poll_to_ctl(const struct poll_params *p, struct ctl_poll_settings *out)
{
	*out = (struct ctl_poll_settings){
		.set_mask = CTL_POLL_SET_ALL,
		.policy = p->policy == POLL_POLICY_FIXED ? CTL_POLL_FIXED :
			  p->policy == POLL_POLICY_OFF	 ? CTL_POLL_OFF :
							   CTL_POLL_ADAPTIVE,
		.duration_us = (uint32_t)(p->fixed_ns / 1000),
		.idle_threshold = p->idle_threshold,
		.max_window_us = (uint32_t)(p->max_ns / 1000),
		.grow = p->grow,
		.shrink = p->shrink,
	};
}

/* Applies the fields in set_mask; nothing changes when the result is invalid. 0 or -EINVAL. */
static int poll_apply(struct poll_params *p, const struct ctl_poll_settings *s)
{
	struct poll_params n = *p;

	if (s->set_mask & CTL_POLL_SET_POLICY)
		n.policy = s->policy == CTL_POLL_FIXED ? POLL_POLICY_FIXED :
			   s->policy == CTL_POLL_OFF   ? POLL_POLICY_OFF :
							 POLL_POLICY_ADAPTIVE;
	if (s->set_mask & CTL_POLL_SET_DURATION)
		n.fixed_ns = (uint64_t)s->duration_us * 1000;
	if (s->set_mask & CTL_POLL_SET_IDLE)
		n.idle_threshold = s->idle_threshold;
	if (s->set_mask & CTL_POLL_SET_MAX_WINDOW)
		n.max_ns = (uint64_t)s->max_window_us * 1000;
	if (s->set_mask & CTL_POLL_SET_GROW)
		n.grow = s->grow;
	if (s->set_mask & CTL_POLL_SET_SHRINK)
		n.shrink = s->shrink;
	if (poll_params_validate(&n))
		return -EINVAL;
	*p = n;
	return 0;
}

/* ---- rings and drains ------------------------------------------------------------------------ */

static void retire(struct td_retired *t, const struct td_ring_stats *s)
{
	t->rd_sectors += s->bytes_read >> 9;
	t->wr_sectors += s->bytes_written >> 9;
	t->rd_done += s->ops[TD_OP_READ].completed;
	t->rd_failed += s->ops[TD_OP_READ].failed;
	t->wr_done += s->ops[TD_OP_WRITE].completed;
	t->wr_failed += s->ops[TD_OP_WRITE].failed;
}

/* -EBUSY while requests are in flight (quiesce first). */
static int ring_disconnect(struct td_minor *v)
{
	struct td_ring_stats s;
	bool have = td_vbd_stats(v->vbd, 0, &s) == 0;
	int err = td_vbd_disconnect(v->vbd);

	if (err)
		return err;
	if (have)
		retire(&v->retired, &s);
	td_shm_stats_destroy(v);
	rt_vbd_info(v->log_id, "ring of domain %u device %u disconnected", v->ring.domid,
		    v->ring.devid);
	return 0;
}

static void after_drain(struct td_loop *loop, struct td_loop_timer *t, void *data);

static void vbd_drained(struct td_vbd *vbd, void *data)
{
	struct td_minor *v = data;

	/* from the VBD's before-sleep hook: finish outside it, where the VBD may be closed */
	td_loop_timer_arm(&v->d->loop, &v->drained, 0, 0, after_drain, v);
}

/* Drains in-flight requests, keeping the image open (a disconnect, a close, an exit). 0 when
 * the drain runs (after_drain follows), -EALREADY when nothing is in flight (quiesced or paused:
 * go on now). */
static int start_quiesce(struct td_minor *v)
{
	return td_vbd_quiesce(v->vbd, vbd_drained, v);
}

/* No request in flight any more: the image is closed (PAUSED) or open (QUIESCED). */
static void after_drain(struct td_loop *loop, struct td_loop_timer *t, void *data)
{
	struct td_minor *v = data;
	struct td_daemon *d = v->d;
	bool closing = v->close_req || d->stopping;
	int err;

	if (!v->vbd || td_vbd_state_draining(td_vbd_state(v->vbd)))
		return; /* closed meanwhile, or a pause took the drain over (its callback comes) */
	if (td_minor_connected(v) && (v->disconnect_req || closing)) {
		err = ring_disconnect(v);
		complete(&v->disconnect_req, err);
	}
	if (closing) {
		td_nbd_export_destroy(v->nbd); /* NBD: drained with the ring */
		v->nbd = NULL;
		td_vbd_close(v->vbd);
		v->vbd = NULL;
		if (v->pause_req)
			ctl_request_set_message(v->pause_req, "minor %d was closed", v->minor);
		complete(&v->pause_req, -ECANCELED);
		complete(&v->close_req, 0);
		rt_vbd_info(v->log_id, "closed");
	} else if (v->pause_req) {
		complete(&v->pause_req, 0);
		rt_vbd_info(v->log_id, "paused, image closed (drained in %llu ms)",
			    (unsigned long long)((td_loop_now_ns() - v->pause_start_ns) / 1000000));
	} else if (td_vbd_state(v->vbd) == TD_VBD_QUIESCED) {
		/* a drain of our own, for a disconnect: serve again, on the image still open */
		err = td_vbd_resume(v->vbd, NULL, -1, NULL, NULL);
		if (err) /* nothing to reopen: only a broken state machine gets here */
			rt_vbd_err(v->log_id, "cannot serve again after draining: %s",
				   strerror(-err));
	}
	if (d->stopping)
		td_daemon_check_exit(d);
}

void td_minor_stop(struct td_minor *v)
{
	int err;

	complete(&v->pause_req, -ECANCELED);
	complete(&v->disconnect_req, -ECANCELED);
	complete(&v->close_req, -ECANCELED);
	if (!v->vbd)
		return;
	err = start_quiesce(v);
	if (err && err != -EALREADY) /* -EALREADY: quiet, td_daemon_check_exit frees it */
		rt_vbd_err(v->log_id, "cannot drain before exiting: %s", strerror(-err));
}

void td_minor_free(struct td_minor *v)
{
	struct td_minor **pp;

	complete(&v->pause_req, -ECANCELED);
	complete(&v->disconnect_req, -ECANCELED);
	complete(&v->close_req, -ECANCELED);
	td_loop_timer_cancel(&v->d->loop, &v->drained);
	td_shm_stats_destroy(v);
	td_nbd_export_destroy(v->nbd);
	v->nbd = NULL;
	if (v->vbd)
		td_vbd_close(v->vbd);
	ctl_minor_release(v->hold_fd);
	for (pp = &v->d->minors; *pp; pp = &(*pp)->next)
		if (*pp == v) {
			*pp = v->next;
			break;
		}
	free(v);
}

/* ---- handlers ---------------------------------------------------------------------------------- */

static int h_list(void *o, struct ctl_request *req, struct ctl_list *out)
{
	struct td_daemon *d = o;
	struct td_vbd_info info;
	unsigned int n = 0;

	for (struct td_minor *v = d->minors; v; v = v->next)
		n++;
	out->pid = getpid();
	out->entries = calloc(n ? n : 1, sizeof(*out->entries));
	if (!out->entries)
		return -ENOMEM;
	for (struct td_minor *v = d->minors; v; v = v->next) {
		struct ctl_list_entry *e = &out->entries[out->count++];

		e->minor = v->minor;
		e->state = td_minor_state(v);
		if (v->vbd) {
			td_vbd_info(v->vbd, &info);
			if (ctl_image_parse(info.image, &e->image))
				e->image.type = CTL_IMAGE_NONE;
		}
	}
	return 0;
}

static int h_attach(void *o, struct ctl_request *req, const struct ctl_minor_args *a)
{
	struct td_daemon *d = o;
	struct td_minor *v;
	unsigned int n = 0;
	int fd;

	for (v = d->minors; v; v = v->next, n++)
		if (v->minor == a->minor) {
			ctl_request_set_message(req, "minor %d is already attached", a->minor);
			return -EEXIST;
		}
	if (d->stopping)
		return -ESHUTDOWN;
	if (n >= CTL_LIST_MAX)
		return -ENOSPC;
	fd = ctl_minor_hold(a->minor);
	if (fd < 0) {
		ctl_request_set_message(req, "minor %d: %s", a->minor,
					fd == -ENOENT ? "not allocated" : strerror(-fd));
		return fd;
	}
	v = calloc(1, sizeof(*v));
	if (!v) {
		close(fd);
		return -ENOMEM;
	}
	v->d = d;
	v->minor = a->minor;
	snprintf(v->log_id, sizeof(v->log_id), "minor %d", a->minor);
	v->hold_fd = fd;
	v->shm.io_ring_fd = -1;
	v->poll = d->config.poll; /* the host-wide defaults; xenstore and tap-ctl poll refine */
	v->next = d->minors;
	d->minors = v;
	rt_vbd_info(v->log_id, "attached");
	return 0;
}

static int h_detach(void *o, struct ctl_request *req, const struct ctl_minor_args *a)
{
	struct td_daemon *d = o;
	struct td_minor *v = find(d, req, a->minor);
	char v_id[sizeof(v->log_id)];

	if (!v)
		return -ENODEV;
	memcpy(v_id, v->log_id, sizeof(v_id));
	if (v->vbd) {
		ctl_request_set_message(req, "minor %d still has an image open: close it first",
					a->minor);
		return -EBUSY;
	}
	/* the minor's hold goes before the reply: `tap-ctl free` may follow at once */
	td_minor_free(v);
	rt_vbd_info(v_id, "detached");
	td_daemon_check_exit(d);
	return 0;
}

/* What blktap3 offers and this tapdisk does not: refused, never silently dropped. -r (read
 * caching of shared parents), -e (sharing another minor's parents) and -D (no O_DIRECT) are
 * hints that change no data and are accepted. */
#define UNSUPPORTED_OPEN_FLAGS (CTL_OPEN_STANDBY | CTL_OPEN_ENCRYPTED)

/* -C / -c: the CBT log's path, or NULL. */
static const char *cbt_log_arg(uint32_t flags, const char *path)
{
	return flags & CTL_OPEN_ADD_LOG ? path : NULL;
}

/* -2's mirror, as blktap3 makes it: a bad argument is refused (-EINVAL); a secondary that
 * cannot be reached or handshaken is a failed mirror (nbd_mirror_failed 1), the request going
 * on. *m is NULL for "-2 null". */
static int make_mirror(struct td_minor *v, struct ctl_request *req, const char *arg,
		       struct td_mirror **m)
{
	char why[256] = "";
	int fd, err = td_secondary_socket(&v->d->stash, arg, &fd, why, sizeof(why));

	*m = NULL;
	if (err == -EINVAL) {
		ctl_request_set_message(req, "%s", why);
		return err;
	}
	if (!err && fd < 0)
		return 0; /* null */
	if (err)
		rt_vbd_err(v->log_id, "secondary %s: %s", arg, why);
	*m = td_mirror_create(&v->d->loop, arg, fd, why);
	return *m ? 0 : -ENOMEM;
}

/* Installs m (NULL: none) as the VBD's secondary; the size check's failure is the request's. */
static int set_mirror(struct td_minor *v, struct ctl_request *req, struct td_mirror *m)
{
	char why[TD_IMAGE_WHY_MAX] = "";
	int err = td_vbd_set_mirror(v->vbd, m, why);

	if (err) {
		ctl_request_set_message(req, "minor %d: cannot mirror: %s", v->minor,
					why[0] ? why : strerror(-err));
		rt_vbd_err(v->log_id, "cannot mirror: %s", why[0] ? why : strerror(-err));
	}
	return err;
}

static int h_open(void *o, struct ctl_request *req, const struct ctl_open_args *a)
{
	struct td_daemon *d = o;
	struct td_minor *v = find(d, req, a->minor);
	bool ro = a->flags & CTL_OPEN_RDONLY;
	char tp[CTL_PATH_MAX + 8], why[TD_IMAGE_WHY_MAX] = "";
	struct td_vbd_info info;
	unsigned int lock, engine;
	int err;

	if (!v)
		return -ENODEV;
	if (v->vbd) {
		td_vbd_info(v->vbd, &info);
		ctl_request_set_message(req, "minor %d already has %s open", a->minor, info.image);
		return -EBUSY;
	}
	if (a->flags & UNSUPPORTED_OPEN_FLAGS) {
		ctl_request_set_message(req, "standby mirroring (-s) and encryption (-E) are not "
					     "supported by this tapdisk");
		return -EOPNOTSUPP;
	}
	err = image_arg(req, &a->image, tp, sizeof(tp));
	if (!err)
		err = lock_flags(req, a->lock, &lock);
	if (!err)
		err = engine_flags(req, &engine);
	if (!err && (a->flags & CTL_OPEN_SECONDARY) && ro) {
		ctl_request_set_message(req, "a read-only VBD (-R) has no writes to mirror (-2)");
		err = -EINVAL;
	}
	if (err)
		return err;
	err = td_vbd_open(&d->loop, tp, (ro ? TD_OPEN_RDONLY : 0) | lock | engine,
			  cbt_log_arg(a->flags, a->cbt_log), &v->vbd, why);
	if (err) {
		v->vbd = NULL;
		return open_failed(v, req, "cannot open", tp, err, why);
	}
	if (a->flags & CTL_OPEN_SECONDARY) {
		struct td_mirror *m;

		err = make_mirror(v, req, a->secondary, &m);
		if (!err && m)
			err = set_mirror(v, req, m);
		if (err) {
			td_vbd_close(v->vbd);
			v->vbd = NULL;
			return err;
		}
	}
	/* NBD: XAPI's hotplug resolves the export's socket right after `tap-ctl open` */
	err = td_nbd_export_create(&d->loop, v->vbd, v->minor, ro, &v->nbd);
	if (err) {
		td_vbd_close(v->vbd);
		v->vbd = NULL;
		ctl_request_set_message(req, "minor %d: cannot create its NBD export: %s", a->minor,
					strerror(-err));
		rt_vbd_err(v->log_id, "cannot create its NBD export: %s", strerror(-err));
		return err;
	}
	v->readonly = ro;
	td_vbd_set_polling(v->vbd, &v->poll); /* validated when they were set */
	rt_vbd_info(v->log_id, "opened %s%s%s%s%s", tp, ro ? " read-only" : "",
		    lock & TD_OPEN_LOCK_OFF ? ", not locked (-L off)" : "",
		    td_vbd_cbt_log(v->vbd) ? ", CBT log " : "",
		    td_vbd_cbt_log(v->vbd) ? td_vbd_cbt_log(v->vbd) : "");
	log_chain(v);
	return 0;
}

static int h_close(void *o, struct ctl_request *req, const struct ctl_close_args *a)
{
	struct td_daemon *d = o;
	struct td_minor *v = find(d, req, a->minor);
	int err;

	if (!v)
		return -ENODEV;
	if (!v->vbd)
		return 0;
	if (v->close_req) {
		ctl_request_set_message(req, "minor %d is already being closed", a->minor);
		return -EBUSY;
	}
	if (td_minor_connected(v) && !a->force) {
		ctl_request_set_message(req,
					"the ring of domain %u device %u is connected to minor %d: "
					"disconnect it first, or close -f",
					v->ring.domid, v->ring.devid, a->minor);
		return -EBUSY;
	}
	if (td_minor_draining(v)) {
		v->close_req = req;
		return CTL_DEFERRED;
	}
	if (td_minor_connected(v)) {
		err = ring_disconnect(v);
		if (err == -EBUSY && !(err = start_quiesce(v))) {
			v->close_req = req;
			return CTL_DEFERRED;
		}
		if (err)
			return err;
	}
	/* NBD: no new request; those on the image are drained before it is closed */
	td_nbd_export_destroy(v->nbd);
	v->nbd = NULL;
	if (!td_vbd_idle(v->vbd)) {
		err = start_quiesce(v);
		if (err)
			return err;
		v->close_req = req;
		return CTL_DEFERRED;
	}
	td_vbd_close(v->vbd);
	v->vbd = NULL;
	rt_vbd_info(v->log_id, "closed");
	return 0;
}

static int h_pause(void *o, struct ctl_request *req, const struct ctl_minor_args *a)
{
	struct td_daemon *d = o;
	struct td_minor *v = find(d, req, a->minor);
	struct td_ring_stats s;
	int err;

	if (!v)
		return -ENODEV;
	if (!v->vbd) {
		ctl_request_set_message(req, "minor %d has no image open", a->minor);
		return -EINVAL;
	}
	if (td_minor_paused(v))
		return 0;
	if (v->pause_req || v->close_req) {
		ctl_request_set_message(req, "minor %d: a pause or close is already in progress",
					a->minor);
		return -EBUSY;
	}
	err = td_vbd_pause(v->vbd, vbd_drained, v);
	if (err)
		return err;
	v->pause_req = req;
	v->pause_start_ns = td_loop_now_ns();
	if (td_vbd_stats(v->vbd, 0, &s) == 0)
		rt_vbd_info(v->log_id, "pausing, %u request(s) in flight", s.inflight);
	else
		rt_vbd_info(v->log_id, "pausing, no ring connected");
	rt_vbd_debug(v->log_id, "pause requested by pid %d", (int)ctl_request_peer_pid(req));
	return CTL_DEFERRED;
}

static int h_resume(void *o, struct ctl_request *req, const struct ctl_resume_args *a)
{
	struct td_daemon *d = o;
	struct td_minor *v = find(d, req, a->minor);
	char tp[CTL_PATH_MAX + 8], why[TD_IMAGE_WHY_MAX] = "";
	struct td_vbd_info info;
	unsigned int lock = 0;
	int err;

	if (!v)
		return -ENODEV;
	if (v->pause_req) {
		ctl_request_set_message(req, "minor %d: its pause has not completed", a->minor);
		return -EBUSY;
	}
	if (!td_minor_paused(v)) {
		ctl_request_set_message(req, "minor %d is not paused", a->minor);
		return -EINVAL;
	}
	if (a->image.type != CTL_IMAGE_NONE) {
		err = image_arg(req, &a->image, tp, sizeof(tp));
		if (err)
			return err;
	} else {
		td_vbd_info(v->vbd, &info);
		snprintf(tp, sizeof(tp), "%s", info.image);
	}
	/* -L: the new mode sticks; none: the VBD's own (the environment is read at open only) */
	if (a->lock != CTL_LOCK_DEFAULT && (err = lock_flags(req, a->lock, &lock)))
		return err;
	/* -2: the new secondary (or none: null) from now on; without -2 the one before holds */
	if (a->flags & CTL_OPEN_SECONDARY) {
		struct td_mirror *m;

		err = make_mirror(v, req, a->secondary, &m);
		if (!err)
			err = set_mirror(v, req, m);
		if (err)
			return err;
	}
	err = td_vbd_resume(v->vbd, a->image.type != CTL_IMAGE_NONE ? tp : NULL,
			    a->lock != CTL_LOCK_DEFAULT ? (int)lock : -1,
			    cbt_log_arg(a->flags, a->cbt_log), why);
	if (err && (a->flags & CTL_OPEN_SECONDARY))
		td_vbd_set_mirror(v->vbd, NULL, NULL); /* the new secondary goes with the unpause */
	if (err) /* still paused, image closed: SM may retry the unpause */
		return open_failed(v, req, "cannot reopen", tp, err, why);
	rt_vbd_info(v->log_id, "resumed on %s%s%s%s", tp,
		    a->image.type != CTL_IMAGE_NONE ? " (a new image)" : "",
		    td_vbd_cbt_log(v->vbd) ? ", CBT log " : "",
		    td_vbd_cbt_log(v->vbd) ? td_vbd_cbt_log(v->vbd) : "");
	log_chain(v);
	return 0;
}

static int h_connect(void *o, struct ctl_request *req, const struct ctl_connect_args *a)
{
	struct td_daemon *d = o;
	struct td_minor *v = find(d, req, a->minor);
	struct td_ring_params p = {
		.domid = a->domid,
		.devid = a->devid,
		.order = a->order,
		.port = a->port,
		.persistent = a->persistent,
	};
	const char *why = NULL;
	int err;

	if (!v)
		return -ENODEV;
	if (!v->vbd) {
		ctl_request_set_message(req, "minor %d has no image open", a->minor);
		return -ENOMEDIUM;
	}
	if (td_minor_connected(v)) {
		ctl_request_set_message(req,
					"minor %d already serves the ring of domain %u device %u",
					a->minor, v->ring.domid, v->ring.devid);
		return -EALREADY;
	}
	if (a->order > TD_MAX_RING_ORDER || a->max_indirect_segments > UINT16_MAX) {
		ctl_request_set_message(req, "ring order or indirect segments out of range");
		return -EINVAL;
	}
	/* xenstore's polling-* as tapback read them; the ring starts with them */
	if (a->polling.set_mask && poll_apply(&v->poll, &a->polling))
		rt_vbd_warn(v->log_id, "ignoring invalid polling settings from the toolstack");
	td_vbd_set_polling(v->vbd, &v->poll);
	memcpy(p.ring_refs, a->ring_refs, sizeof(uint32_t) << a->order);
	p.max_indirect_segs = (uint16_t)a->max_indirect_segments;
	/* td_ring_params: NULL is native (the ctl name "native" is not a xenstore protocol) */
	p.protocol = a->protocol == CTL_RING_NATIVE ? NULL : ctl_ring_protocol_name(a->protocol);
	err = td_vbd_connect(v->vbd, &p, &why);
	if (err) {
		/* the one log of a failed connect: the datapath only says which step failed */
		ctl_request_set_message(req, "cannot connect the ring of domain %u device %u: %s",
					a->domid, a->devid, strerror(-err));
		rt_vbd_err(v->log_id, "cannot connect the ring of domain %u device %u: %s%s%s",
			   a->domid, a->devid, why ? why : "", why ? ": " : "", strerror(-err));
		return err;
	}
	v->ring = p; /* its protocol: a static name, or NULL */
	err = td_shm_stats_create(v);
	if (err)
		rt_vbd_warn(v->log_id, "no /dev/shm statistics: %s", strerror(-err));
	return 0;
}

static int h_disconnect(void *o, struct ctl_request *req, const struct ctl_disconnect_args *a)
{
	struct td_daemon *d = o;
	struct td_minor *v = find(d, req, a->minor);
	int err;

	if (!v)
		return -ENODEV;
	if (!td_minor_connected(v))
		return -ENOTCONN;
	if (v->disconnect_req) {
		ctl_request_set_message(req, "minor %d: a disconnect is already in progress",
					a->minor);
		return -EBUSY;
	}
	if (td_minor_draining(v)) {
		v->disconnect_req = req;
		return CTL_DEFERRED;
	}
	/* requests in flight: quiesce (the image stays open), disconnect once they are done */
	err = ring_disconnect(v);
	if (err == -EBUSY && !(err = start_quiesce(v))) {
		v->disconnect_req = req;
		rt_vbd_info(v->log_id, "requests in flight: quiescing before the disconnect");
		return CTL_DEFERRED;
	}
	return err;
}

static int h_info(void *o, struct ctl_request *req, const struct ctl_minor_args *a,
		  struct ctl_disk_info *out)
{
	struct td_daemon *d = o;
	struct td_minor *v = find(d, req, a->minor);
	struct td_vbd_info info;

	if (!v)
		return -ENODEV;
	if (!v->vbd) {
		ctl_request_set_message(req, "minor %d has no image open", a->minor);
		return -ENOMEDIUM;
	}
	td_vbd_info(v->vbd, &info);
	out->sectors = info.sectors;
	out->sector_size = info.sector_size;
	out->physical_sector_size = info.physical_sector_size;
	out->info = info.info;
	if (info.discard) {
		out->discard_granularity = info.discard_granularity;
		out->discard_alignment = info.discard_alignment;
	}
	return 0;
}

static int h_stats(void *o, struct ctl_request *req, const struct ctl_minor_args *a,
		   char **json_out)
{
	struct td_minor *v = find(o, req, a->minor);

	return v ? td_stats_json(v, json_out) : -ENODEV;
}

static int h_poll_get(void *o, struct ctl_request *req, const struct ctl_minor_args *a,
		      struct ctl_poll_settings *out)
{
	struct td_minor *v = find(o, req, a->minor);

	if (!v)
		return -ENODEV;
	poll_to_ctl(&v->poll, out);
	return 0;
}

static int h_poll_set(void *o, struct ctl_request *req, const struct ctl_poll_set_args *a)
{
	struct td_minor *v = find(o, req, a->minor);

	if (!v)
		return -ENODEV;
	if (poll_apply(&v->poll, &a->settings)) {
		ctl_request_set_message(req, "invalid polling settings (grow and shrink 2..16, "
					     "max window 4..1000000 us, idle threshold 0..100)");
		return -EINVAL;
	}
	if (v->vbd)
		td_vbd_set_polling(v->vbd, &v->poll);
	rt_info("minor %d: polling %s, duration %llu us, idle threshold %u%%, max window %llu us "
		"(from pid %d)",
		v->minor, poll_policy_name(v->poll.policy),
		(unsigned long long)(v->poll.fixed_ns / 1000), v->poll.idle_threshold,
		(unsigned long long)(v->poll.max_ns / 1000), (int)ctl_request_peer_pid(req));
	return 0;
}

static int h_log_level(void *o, struct ctl_request *req, const struct ctl_log_level_args *a,
		       int *level_out)
{
	if (a->level >= 0 && a->level != rt_log_level()) {
		/* logged at the more verbose of the two levels, so that it shows at both */
		int was = rt_log_level();

		rt_log_set_level(a->level > was ? a->level : was);
		rt_log(LOG_NOTICE, "log level %s -> %s (tap-ctl, pid %d)", rt_log_level_name(was),
		       rt_log_level_name(a->level), (int)ctl_request_peer_pid(req));
		rt_log_set_level(a->level);
	}
	*level_out = rt_log_level();
	return 0;
}

const struct ctl_handlers td_ctl_handlers = {
	.list = h_list,
	.attach = h_attach,
	.detach = h_detach,
	.open = h_open,
	.close = h_close,
	.pause = h_pause,
	.resume = h_resume,
	.connect = h_connect,
	.disconnect = h_disconnect,
	.info = h_info,
	.stats = h_stats,
	.poll_get = h_poll_get,
	.poll_set = h_poll_set,
	.log_level = h_log_level,
};
