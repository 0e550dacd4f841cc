/* The `rbd` driver: a Ceph RBD image through librbd's C API. Open string (drivers/rbd_path.h):
 * "pool/image[@snapshot][:conf=/file][:id=user][:keyring=/file]"; a snapshot is read-only.
 *
 * Every I/O is asynchronous (rbd_aio_readv, _writev, _flush, _discard), queued by submit and
 * started by kick. librbd completes them on its own threads and, through
 * rbd_set_image_notification, signals this image's eventfd; the completions themselves are
 * taken from librbd's queue with rbd_poll_io_events, in the loop (woken by the eventfd,
 * edge-triggered and never read, as the I/O engine's) or from adaptive polling's spin (poll:
 * a mutex in user space, no system call). So `done` always runs on the loop's thread.
 *
 * librbd blocks while the cluster does not answer, so the open bounds it: client_mount_timeout,
 * rados_mon_op_timeout and rados_osd_op_timeout get ringtap's values (RBD_*_TIMEOUT_S below)
 * unless the configuration file sets them. An I/O the cluster does not answer in time fails
 * with -ETIMEDOUT: the guest sees an I/O error, the log says once that the cluster is not
 * answering and once when it answers again. Close waits for what is in flight, at most the
 * OSD timeout and a margin. */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <rados/librados.h>
#include <rbd/librbd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "drivers/rbd_path.h"
#include "ringtap/driver.h"
#include "ringtap/log.h"
#include "src/loop.h"

/* Seconds; README.md's Ceph section and tapdisk(8) say them. The open (mount, the image's header) and the
 * control socket waiting for it are bounded by the first two; a guest's I/O by the third. */
#define RBD_MOUNT_TIMEOUT_S "10"
#define RBD_MON_OP_TIMEOUT_S "10"
#define RBD_OSD_OP_TIMEOUT_S "30"
/* close waits for I/O in flight at most the OSD timeout and this */
#define RBD_CLOSE_MARGIN_S 5
#define RBD_REAP 32

struct rbd_img {
	rados_t cluster;
	rados_ioctx_t ioctx;
	rbd_image_t image;
	int efd;
	struct td_loop_file efile;
	struct td_io *head, *tail; /* submitted, started by kick */
	struct td_io *failed; /* refused by librbd at start: completed from the loop */
	unsigned int inflight;
	unsigned int osd_timeout_s;
	bool unanswered; /* the last I/O timed out: said once in the log */
	uint64_t errors;
	uint64_t timeouts;
};

/* Each td_io's driver space: its librbd completion and, when librbd refused it, the error. */
struct rbd_req {
	rbd_completion_t comp;
	int res;
};

_Static_assert(sizeof(struct rbd_req) <= sizeof(((struct td_io *)0)->drv),
	       "an rbd request fits in td_io's driver space");

static struct rbd_req *io_req(struct td_io *io)
{
	return (struct rbd_req *)io->drv;
}

/* key's value unless conf set it to something other than Ceph's default (def). */
static int conf_default(rados_t cluster, const char *key, const char *ceph_default,
			const char *ours)
{
	char buf[64];

	if (rados_conf_get(cluster, key, buf, sizeof(buf)) == 0 && strcmp(buf, ceph_default))
		return 0;
	return rados_conf_set(cluster, key, ours);
}

/* img->why: what failed, for the toolstack (which adds rc's strerror); returns rc. */
__attribute__((format(printf, 3, 4))) static int why_rc(struct td_image *img, int rc,
							const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(img->why, sizeof(img->why), fmt, ap);
	va_end(ap);
	return rc;
}

/* Connects to the cluster and opens the pool's I/O context; 0 or -errno with img->why set. */
static int rbd_connect(struct td_image *img, struct rbd_img *r, const struct rbd_path *p)
{
	char buf[32];
	int rc;

	rc = rados_create(&r->cluster, p->id[0] ? p->id : NULL);
	if (rc < 0)
		return why_rc(img, rc, "cannot create a Ceph client for id '%s'",
			      p->id[0] ? p->id : "admin");
	rc = rados_conf_read_file(r->cluster, p->conf[0] ? p->conf : NULL);
	if (rc < 0)
		return why_rc(img, rc, "cannot read the Ceph configuration %s",
			      p->conf[0] ? p->conf : "(default search path)");
	if (p->keyring[0] && (rc = rados_conf_set(r->cluster, "keyring", p->keyring)) < 0)
		return why_rc(img, rc, "keyring %s", p->keyring);
	/* Ceph's defaults: 300 s to mount, no limit on monitor or OSD operations */
	if ((rc = conf_default(r->cluster, "client_mount_timeout", "300", RBD_MOUNT_TIMEOUT_S)) <
		    0 ||
	    (rc = conf_default(r->cluster, "rados_mon_op_timeout", "0", RBD_MON_OP_TIMEOUT_S)) <
		    0 ||
	    (rc = conf_default(r->cluster, "rados_osd_op_timeout", "0", RBD_OSD_OP_TIMEOUT_S)) < 0)
		return why_rc(img, rc, "cannot set the Ceph client's timeouts");
	if (rados_conf_get(r->cluster, "rados_osd_op_timeout", buf, sizeof(buf)) == 0)
		r->osd_timeout_s = (unsigned int)strtoul(buf, NULL, 10);
	rc = rados_connect(r->cluster);
	if (rc < 0) {
		/* ETIMEDOUT: no monitor answered; EACCES/EPERM: cephx refused the key */
		rc = why_rc(img, rc, "cannot connect to the Ceph cluster as client.%s",
			    p->id[0] ? p->id : "admin");
		rados_shutdown(r->cluster);
		r->cluster = NULL;
		return rc;
	}
	rc = rados_ioctx_create(r->cluster, p->pool, &r->ioctx);
	if (rc < 0)
		return why_rc(img, rc, "pool '%s'", p->pool);
	return 0;
}

static void rbd_release(struct rbd_img *r)
{
	if (r->image)
		rbd_close(r->image);
	if (r->ioctx)
		rados_ioctx_destroy(r->ioctx);
	if (r->cluster)
		rados_shutdown(r->cluster);
	if (r->efd >= 0)
		close(r->efd);
	free(r);
}

static void on_eventfd(struct td_loop *loop, int fd, uint32_t events, void *data);

static int rbd_open_image(struct td_image *img, const char *path, unsigned int flags)
{
	struct rbd_path p;
	struct rbd_img *r;
	uint64_t bytes;
	bool ro;
	int rc;

	rc = rbd_path_parse(path, &p, img->why, sizeof(img->why));
	if (rc < 0)
		return rc;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->efd = -1;
	rc = rbd_connect(img, r, &p);
	if (rc < 0)
		goto fail;
	ro = (flags & TD_OPEN_RDONLY) || p.snap[0];
	rc = ro ? rbd_open_read_only(r->ioctx, p.image, &r->image, p.snap[0] ? p.snap : NULL) :
		  rbd_open(r->ioctx, p.image, &r->image, NULL);
	if (rc < 0) {
		r->image = NULL;
		why_rc(img, rc, "image '%s%s%s' in pool '%s'", p.image, p.snap[0] ? "@" : "",
		       p.snap, p.pool);
		goto fail;
	}
	rc = rbd_get_size(r->image, &bytes);
	if (rc < 0) {
		why_rc(img, rc, "size of '%s'", p.image);
		goto fail;
	}
	r->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (r->efd < 0) {
		rc = -errno;
		goto fail;
	}
	rc = rbd_set_image_notification(r->image, r->efd, EVENT_TYPE_EVENTFD);
	if (rc < 0) {
		why_rc(img, rc, "completion notification of '%s'", p.image);
		goto fail;
	}
	rc = td_loop_file_add(img->loop, &r->efile, r->efd, EPOLLIN | EPOLLET, on_eventfd, img);
	if (rc < 0)
		goto fail;
	img->info = (struct td_image_info){
		.sectors = bytes >> TD_SECTOR_SHIFT,
		.sector_size = 512,
		.physical_sector_size = 512,
		.readonly = ro,
		.discard = !ro,
		.discard_granularity = 4096,
	};
	img->priv = r;
	return 0;
fail:
	rbd_release(r);
	return rc;
}

/* The result of a finished I/O, and the log's word on the cluster answering or not. */
static int io_result(struct td_image *img, struct rbd_img *r, ssize_t res)
{
	if (res >= 0) {
		if (r->unanswered) {
			r->unanswered = false;
			rt_warn("%s: the Ceph cluster answers again", img->name);
		}
		return 0;
	}
	r->errors++;
	if (res == -ETIMEDOUT) {
		r->timeouts++;
		if (!r->unanswered) {
			r->unanswered = true;
			rt_err("%s: the Ceph cluster did not answer within %u s "
			       "(rados_osd_op_timeout): I/O errors until it does",
			       img->name, r->osd_timeout_s);
		}
	} else {
		rt_err("%s: I/O error: %s", img->name, strerror((int)-res));
	}
	return (int)res;
}

/* Completes what librbd finished and what it refused; how many. Runs on the loop's thread. */
static int reap(struct td_image *img)
{
	struct rbd_img *r = img->priv;
	rbd_completion_t comps[RBD_REAP];
	struct td_io *io;
	int n, i, total = 0;

	while ((io = r->failed)) {
		r->failed = io->next;
		io->done(io, io_req(io)->res);
		total++;
	}
	do {
		n = rbd_poll_io_events(r->image, comps, RBD_REAP);
		for (i = 0; i < n; i++) {
			ssize_t res = rbd_aio_get_return_value(comps[i]);

			io = rbd_aio_get_arg(comps[i]);
			rbd_aio_release(comps[i]);
			r->inflight--;
			io->done(io, io_result(img, r, res));
		}
		total += n > 0 ? n : 0;
	} while (n == RBD_REAP);
	return n < 0 ? n : total;
}

static void on_eventfd(struct td_loop *loop, int fd, uint32_t events, void *data)
{
	reap(data);
}

/* Starts io with librbd; -errno when it refuses it at once. */
static int start(struct rbd_img *r, struct td_io *io)
{
	struct rbd_req *req = io_req(io);
	uint64_t off = io->sector << TD_SECTOR_SHIFT;
	int rc;

	rc = rbd_aio_create_completion(io, NULL, &req->comp);
	if (rc < 0)
		return rc;
	switch (io->op) {
	case TD_IO_READ:
	case TD_IO_WRITE:
		rc = io->op == TD_IO_READ ?
			     rbd_aio_readv(r->image, io->iov, io->iovcnt, off, req->comp) :
			     rbd_aio_writev(r->image, io->iov, io->iovcnt, off, req->comp);
		break;
	case TD_IO_FLUSH:
		rc = rbd_aio_flush(r->image, req->comp);
		break;
	case TD_IO_DISCARD:
		rc = rbd_aio_discard(r->image, off, io->nr_sectors << TD_SECTOR_SHIFT, req->comp);
		break;
	default:
		rc = -EOPNOTSUPP;
		break;
	}
	if (rc < 0) {
		rbd_aio_release(req->comp);
		return rc;
	}
	r->inflight++;
	return 0;
}

static void rbd_submit(struct td_image *img, struct td_io *io)
{
	struct rbd_img *r = img->priv;

	io->next = NULL;
	if (r->tail)
		r->tail->next = io;
	else
		r->head = io;
	r->tail = io;
}

static void rbd_kick(struct td_image *img)
{
	struct rbd_img *r = img->priv;
	struct td_io *io;
	bool refused = false;
	int rc;

	while ((io = r->head)) {
		r->head = io->next;
		if (!r->head)
			r->tail = NULL;
		rc = start(r, io);
		if (rc < 0) {
			rt_err("%s: librbd refused an I/O", img->name);
			r->errors++;
			io_req(io)->res = rc;
			io->next = r->failed;
			r->failed = io;
			refused = true;
		}
	}
	/* refused ones complete from the loop, never inside kick's caller */
	if (refused && eventfd_write(r->efd, 1) < 0)
		rt_err("%s: eventfd write: %s", img->name, strerror(errno));
}

/* Adaptive polling: librbd's finished completions, taken under its mutex, no system call. */
static int rbd_poll(struct td_image *img)
{
	return reap(img);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Waits (bounded) until librbd is done with the buffers of what is in flight; those I/Os are
 * not reported (the owner drains before closing, or is going away). */
static void drain(struct td_image *img, struct rbd_img *r)
{
	uint64_t deadline = now_ms() + (r->osd_timeout_s + RBD_CLOSE_MARGIN_S) * 1000ull;
	rbd_completion_t comps[RBD_REAP];
	int n, i;

	while (r->inflight) {
		n = rbd_poll_io_events(r->image, comps, RBD_REAP);
		for (i = 0; i < n; i++) {
			rbd_aio_release(comps[i]);
			r->inflight--;
		}
		if (n > 0)
			continue;
		if (now_ms() >= deadline || (!r->osd_timeout_s && n < 0)) {
			rt_err("%s: closing with %u I/Os still in flight", img->name, r->inflight);
			break;
		}
		eventfd_read(r->efd, &(eventfd_t){ 0 }); /* then wait for the next signal */
		poll(&(struct pollfd){ .fd = r->efd, .events = POLLIN }, 1, 100);
	}
}

static void rbd_close_image(struct td_image *img)
{
	struct rbd_img *r = img->priv;

	if (!r)
		return;
	td_loop_file_del(img->loop, &r->efile);
	drain(img, r);
	rbd_release(r);
	img->priv = NULL;
}

static void rbd_info(const struct td_image *img, struct td_image_info *info)
{
	*info = img->info;
}

static int rbd_counters(const struct td_image *img, struct td_counter *out, int max)
{
	const struct rbd_img *r = img->priv;
	const struct td_counter c[] = {
		{ "rbd_inflight", r->inflight },
		{ "rbd_errors", r->errors },
		{ "rbd_timeouts", r->timeouts },
	};
	int i, n = max < 3 ? max : 3;

	for (i = 0; i < n; i++)
		out[i] = c[i];
	return n;
}

const struct td_driver_ops td_driver_rbd = {
	.name = "rbd",
	.open = rbd_open_image,
	.close = rbd_close_image,
	.submit = rbd_submit,
	.kick = rbd_kick,
	.info = rbd_info,
	.poll = rbd_poll,
	.counters = rbd_counters,
};
