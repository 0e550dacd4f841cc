/* A VBD: one image (stack) and the ring(s) serving it, driven by its state machine
 * (src/vbd_state.h): quiesce (drain, the image stays open), pause (drain, then close the image),
 * resume; and the counters the control plane reads, as snapshots of the ring's. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringtap/driver.h"
#include "ringtap/log.h"
#include "ringtap/poll.h"
#include "src/blkif_req.h"
#include "src/cbt_log.h"
#include "src/loop.h"
#include "src/mirror.h"
#include "src/ring.h"
#include "src/vbd.h"
#include "src/vbd_state.h"

struct td_vbd {
	struct td_loop *loop;
	enum td_vbd_state state;
	struct td_image *image; /* the disk (its chain through ->parent); NULL while paused */
	struct td_image *log; /* the CBT log's layer above the disk, or NULL (src/cbt_log.h) */
	struct td_image_info info; /* of the image last opened: answers while paused */
	char name[sizeof(((struct td_image *)0)->name)]; /* its "type:path", reopened on resume */
	bool readonly;
	/* TD_OPEN_LOCK_* and TD_OPEN_ENGINE_*: the locking mode and the I/O engine, kept across
	 * pause/resume */
	unsigned int lock;
	/* Runs once a drain (quiesce or pause) is done, from the before-sleep hook. */
	void (*drained)(struct td_vbd *vbd, void *data);
	void *drained_data;
	struct td_ring *ring; /* one ring; multi-queue adds more */
	struct poll_params poll; /* adaptive polling settings, applied to every ring */
	struct td_loop_hook hook;
	unsigned int ext_inflight; /* I/O from outside the ring (the NBD export): drains wait */
	struct td_mirror *mirror; /* the secondary (tap-ctl -2), in front of the image; or NULL */
};

struct td_image *td_vbd_image(struct td_vbd *vbd)
{
	return vbd->log ? vbd->log : vbd->image;
}

const struct td_image *td_vbd_disk(const struct td_vbd *vbd)
{
	return vbd->image;
}

const char *td_vbd_cbt_log(const struct td_vbd *vbd)
{
	return vbd->log ? td_cbt_log_path(vbd->log) : NULL;
}

/* Where I/O goes: the mirror in front of the stack (the CBT log's layer, then the disk), or the
 * stack. */
struct td_image *td_vbd_io_image(struct td_vbd *vbd)
{
	struct td_image *top = td_vbd_image(vbd);

	if (!top)
		return NULL;
	return vbd->mirror ? td_mirror_image(vbd->mirror, top) : top;
}

const struct td_mirror *td_vbd_mirror(const struct td_vbd *vbd)
{
	return vbd->mirror;
}

static bool mirror_fits(const struct td_vbd *vbd, uint64_t sectors, char *why)
{
	if (!vbd->mirror || !td_mirror_size_differs(vbd->mirror, sectors << 9))
		return true;
	if (why) {
		struct td_mirror_stats st;

		td_mirror_stats(vbd->mirror, &st);
		snprintf(why, TD_IMAGE_WHY_MAX, "the secondary %s is %llu bytes, the image %llu",
			 st.name, (unsigned long long)st.size, (unsigned long long)(sectors << 9));
	}
	return false;
}

int td_vbd_set_mirror(struct td_vbd *vbd, struct td_mirror *m, char *why)
{
	struct td_mirror *old = vbd->mirror;

	if (!td_vbd_idle(vbd) || (vbd->ring && vbd->state == TD_VBD_OPEN)) {
		td_mirror_destroy(m);
		return -EBUSY;
	}
	vbd->mirror = m;
	if (vbd->image && !mirror_fits(vbd, vbd->info.sectors, why)) {
		vbd->mirror = old;
		td_mirror_destroy(m);
		return -EINVAL;
	}
	td_mirror_destroy(old);
	return 0;
}

enum td_vbd_state td_vbd_state(const struct td_vbd *vbd)
{
	return vbd->state;
}

bool td_vbd_serving(const struct td_vbd *vbd)
{
	return vbd->state == TD_VBD_OPEN;
}

bool td_vbd_connected(const struct td_vbd *vbd)
{
	return vbd->ring != NULL;
}

void td_vbd_io_begin(struct td_vbd *vbd)
{
	vbd->ext_inflight++;
}

void td_vbd_io_end(struct td_vbd *vbd)
{
	vbd->ext_inflight--;
}

bool td_vbd_idle(const struct td_vbd *vbd)
{
	return !vbd->ext_inflight && (!vbd->ring || !td_ring_inflight(vbd->ring));
}

/* Applies a transition the table allows: 0, or its -errno (nothing changed). */
static int vbd_step(struct td_vbd *vbd, enum td_vbd_event ev)
{
	int next = td_vbd_transition(vbd->state, ev);

	if (next >= 0)
		vbd->state = (enum td_vbd_state)next;
	return next < 0 ? next : 0;
}

static void close_stack(struct td_vbd *vbd);

static bool vbd_before_sleep(struct td_loop *loop, void *data)
{
	struct td_vbd *vbd = data;

	if (td_vbd_state_draining(vbd->state) && td_vbd_idle(vbd)) {
		vbd_step(vbd, TD_VBD_EV_DRAINED);
		if (vbd->ring)
			td_ring_push_responses(vbd->ring);
		if (vbd->state == TD_VBD_PAUSED) {
			if (vbd->ring)
				td_ring_drop_image(vbd->ring);
			close_stack(vbd); /* the CBT log too: unpause names it again, or drops it */
		}
		if (vbd->drained)
			vbd->drained(vbd, vbd->drained_data);
	}
	return false;
}

/* The open flags every reopen of the VBD's image keeps. */
#define KEPT_FLAGS (TD_OPEN_LOCK_MASK | TD_OPEN_ENGINE_MASK)

static int open_image(struct td_vbd *vbd, const char *type_path, unsigned int lock,
		      struct td_image **out, char *why)
{
	struct td_image *img = calloc(1, sizeof(*img));
	int rc;

	if (!img)
		return -ENOMEM;
	rc = td_image_open(img, vbd->loop, type_path,
			   (vbd->readonly ? TD_OPEN_RDONLY : 0) | (lock & KEPT_FLAGS));
	if (rc < 0) {
		if (why)
			memcpy(why, img->why, TD_IMAGE_WHY_MAX);
		free(img);
		return rc;
	}
	*out = img;
	vbd->info = img->info;
	memcpy(vbd->name, img->name, sizeof(vbd->name));
	return 0;
}

static void close_image(struct td_image *img)
{
	if (img) {
		td_image_close(img);
		free(img);
	}
}

/* The CBT log's layer above `disk`, or NULL for no log (*out = NULL). */
static int open_log(struct td_image *disk, const char *cbt_log, struct td_image **out, char *why)
{
	char reason[TD_IMAGE_WHY_MAX] = "";
	struct td_image *img;
	int rc;

	*out = NULL;
	if (!cbt_log)
		return 0;
	img = calloc(1, sizeof(*img));
	if (!img)
		return -ENOMEM;
	rc = td_cbt_log_open(img, disk, cbt_log, reason);
	if (rc < 0) {
		if (!reason[0])
			snprintf(reason, sizeof(reason), "with CBT log %.160s: %s", cbt_log,
				 strerror(-rc));
		if (why)
			memcpy(why, reason, TD_IMAGE_WHY_MAX);
		free(img);
		return rc;
	}
	*out = img;
	return 0;
}

/* Opens the disk and, above it, the CBT log (NULL: none); nothing on failure (-EINVAL too when
 * the disk's size is not a connected secondary's). */
static int open_stack(struct td_vbd *vbd, const char *type_path, unsigned int lock,
		      const char *cbt_log, struct td_image **disk, struct td_image **log, char *why)
{
	struct td_image_info info = vbd->info;
	char name[sizeof(vbd->name)];
	int rc;

	memcpy(name, vbd->name, sizeof(name));
	rc = open_image(vbd, type_path, lock, disk, why);
	if (rc < 0)
		return rc;
	if (!mirror_fits(vbd, (*disk)->info.sectors, why))
		rc = -EINVAL; /* a connected secondary of another size */
	else
		rc = open_log(*disk, cbt_log, log, why);
	if (rc < 0) {
		close_image(*disk);
		*disk = NULL;
		vbd->info = info; /* still naming the image it had */
		memcpy(vbd->name, name, sizeof(name));
	}
	return rc;
}

static void close_stack(struct td_vbd *vbd)
{
	close_image(vbd->log); /* unmaps the log; the disk below stays */
	vbd->log = NULL;
	close_image(vbd->image);
	vbd->image = NULL;
}

int td_vbd_open(struct td_loop *loop, const char *type_path, unsigned int flags,
		const char *cbt_log, struct td_vbd **out, char *why)
{
	struct td_vbd *vbd = calloc(1, sizeof(*vbd));
	int rc;

	if (!vbd)
		return -ENOMEM;
	vbd->loop = loop;
	vbd->state = TD_VBD_OPEN;
	vbd->readonly = flags & TD_OPEN_RDONLY;
	vbd->lock = flags & KEPT_FLAGS;
	poll_params_default(&vbd->poll);
	rc = open_stack(vbd, type_path, vbd->lock, cbt_log, &vbd->image, &vbd->log, why);
	if (rc < 0) {
		free(vbd);
		return rc;
	}
	td_loop_hook_add(loop, &vbd->hook, vbd_before_sleep, vbd);
	*out = vbd;
	return 0;
}

void td_vbd_close(struct td_vbd *vbd)
{
	if (!vbd)
		return;
	if (vbd->ring && td_vbd_disconnect(vbd) < 0)
		rt_err("vbd: closing with %u request(s) in flight", td_ring_inflight(vbd->ring));
	td_loop_hook_del(vbd->loop, &vbd->hook);
	if (vbd->ring) /* the ring lets go of the image (its bounce pool registered there) first */
		td_ring_drop_image(vbd->ring);
	close_stack(vbd);
	if (vbd->ring) /* requests still in flight were waited for by the driver's close */
		td_ring_disconnect(vbd->ring);
	td_mirror_destroy(vbd->mirror);
	free(vbd);
}

/* The image and limits the ring serves. */
static struct td_ring_target ring_target(struct td_vbd *vbd)
{
	bool ro = vbd->readonly || vbd->info.readonly;

	return (struct td_ring_target){
		.image = td_vbd_io_image(vbd),
		.disk_sectors = vbd->info.sectors,
		.readonly = ro,
		.discard = vbd->info.discard && !ro,
	};
}

int td_vbd_connect(struct td_vbd *vbd, const struct td_ring_params *params, const char **why)
{
	struct td_ring_target t = ring_target(vbd);
	struct td_ring_info ri;
	char id[32];
	int rc;

	if (vbd->ring)
		return -EBUSY;
	rc = td_ring_connect(vbd->loop, params, &t, vbd->state != TD_VBD_OPEN, &vbd->ring, why);
	if (rc < 0) {
		vbd->ring = NULL;
		return rc;
	}
	td_ring_set_polling(vbd->ring, &vbd->poll);
	td_ring_info(vbd->ring, &ri);
	snprintf(id, sizeof(id), "vbd %u/%u", params->domid, params->devid);
	rt_vbd_info(id, "connected: %u ring page(s), %u slots, %s ABI, %s, indirect %u%s",
		    ri.nr_pages, ri.nr_slots, ri.abi, vbd->name, params->max_indirect_segs,
		    ri.persistent ? ", persistent grants" : "");
	return 0;
}

int td_vbd_disconnect(struct td_vbd *vbd)
{
	if (!vbd->ring)
		return -ENOTCONN;
	if (td_ring_inflight(vbd->ring))
		return -EBUSY;
	td_ring_disconnect(vbd->ring);
	vbd->ring = NULL;
	return 0;
}

/* Starts a drain (quiesce or pause) or joins the one in progress: the ring stops consuming;
 * `done` (replacing an earlier one) runs once nothing is in flight. */
static int start_drain(struct td_vbd *vbd, enum td_vbd_event ev,
		       void (*done)(struct td_vbd *vbd, void *data), void *data)
{
	int rc = vbd_step(vbd, ev);

	if (rc < 0)
		return rc;
	if (vbd->ring)
		td_ring_pause(vbd->ring);
	vbd->drained = done;
	vbd->drained_data = data;
	return 0;
}

int td_vbd_quiesce(struct td_vbd *vbd, void (*done)(struct td_vbd *vbd, void *data), void *data)
{
	return start_drain(vbd, TD_VBD_EV_QUIESCE, done, data);
}

int td_vbd_pause(struct td_vbd *vbd, void (*done)(struct td_vbd *vbd, void *data), void *data)
{
	/* from QUIESCED too: nothing is in flight, so the hook closes the image at once */
	return start_drain(vbd, TD_VBD_EV_PAUSE, done, data);
}

int td_vbd_resume(struct td_vbd *vbd, const char *type_path, int lock, const char *cbt_log,
		  char *why)
{
	unsigned int mode = lock < 0 ? vbd->lock :
				       ((unsigned int)lock & TD_OPEN_LOCK_MASK) |
					       (vbd->lock & TD_OPEN_ENGINE_MASK);
	struct td_image *img, *log;
	int rc = td_vbd_transition(vbd->state, TD_VBD_EV_RESUME);

	if (rc < 0)
		return rc;
	if (type_path || !vbd->image) {
		rc = open_stack(vbd, type_path ? type_path : vbd->name, mode, cbt_log, &img, &log,
				why);
		if (rc < 0)
			return rc; /* still paused */
		close_stack(vbd);
		vbd->image = img;
		vbd->log = log;
	}
	vbd->lock = mode;
	vbd_step(vbd, TD_VBD_EV_RESUME);
	if (vbd->ring) {
		struct td_ring_target t = ring_target(vbd);

		td_ring_resume(vbd->ring, &t);
	}
	return 0;
}

void td_vbd_info(const struct td_vbd *vbd, struct td_vbd_info *info)
{
	const struct td_image_info *ii = &vbd->info;

	memset(info, 0, sizeof(*info));
	info->sectors = ii->sectors;
	info->sector_size = ii->sector_size;
	info->physical_sector_size = ii->physical_sector_size;
	info->info = (vbd->readonly || ii->readonly) ? VDISK_READONLY : 0;
	info->discard = ii->discard && !info->info;
	info->discard_granularity = ii->discard_granularity;
	info->discard_alignment = ii->discard_alignment;
	info->paused = vbd->state == TD_VBD_PAUSING || vbd->state == TD_VBD_PAUSED;
	info->nr_rings = vbd->ring ? 1 : 0;
	_Static_assert(sizeof(info->image) == sizeof(vbd->name), "image names fit");
	memcpy(info->image, vbd->name, sizeof(info->image));
}

int td_vbd_layer(const struct td_vbd *vbd, unsigned int index, struct td_vbd_layer *out)
{
	const struct td_image *img = vbd->image;

	while (img && index--)
		img = img->parent;
	if (!img)
		return -ENOENT;
	*out = (struct td_vbd_layer){
		.name = img->name,
		.readonly = img->info.readonly,
		.discard = img->info.discard,
		.sectors = img->info.sectors,
	};
	return 0;
}

int td_vbd_stats(const struct td_vbd *vbd, unsigned int index, struct td_ring_stats *stats)
{
	if (!vbd->ring || index != 0)
		return -ENOENT;
	td_ring_stats(vbd->ring, stats);
	return 0;
}

int td_vbd_set_polling(struct td_vbd *vbd, const struct poll_params *params)
{
	if (poll_params_validate(params) < 0)
		return -EINVAL;
	vbd->poll = *params;
	if (vbd->ring)
		td_ring_set_polling(vbd->ring, params);
	return 0;
}

void td_vbd_get_polling(const struct td_vbd *vbd, struct poll_params *params)
{
	*params = vbd->poll;
}

int td_vbd_poll_stats(const struct td_vbd *vbd, unsigned int index, struct td_poll_stats *stats)
{
	if (!vbd->ring || index != 0)
		return -ENOENT;
	td_ring_poll_stats(vbd->ring, stats);
	return 0;
}
