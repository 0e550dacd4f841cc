/* A VBD: one image (stack) and the ring(s) serving it; pause/resume (the image is closed while
 * paused) and the counters the control plane reads. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ringtap/log.h"
#include "src/ring.h"

struct td_vbd {
	struct td_loop *loop;
	struct td_image *image; /* NULL while paused */
	struct td_image_info info; /* of the image last opened: answers while paused */
	char name[sizeof(((struct td_image *)0)->name)]; /* its "type:path", reopened on resume */
	bool readonly;
	unsigned int lock; /* TD_OPEN_LOCK_*: the locking mode, kept across pause/resume */
	bool paused;
	bool pause_pending;
	void (*pause_done)(struct td_vbd *vbd, void *data);
	void *pause_data;
	struct td_ring *ring; /* one ring; multi-queue adds more */
	struct poll_params poll; /* adaptive polling settings, applied to every ring */
	struct td_loop_hook hook;
	unsigned int ext_inflight; /* I/O from outside the ring (the NBD export): pause waits */
};

struct td_image *td_vbd_image(struct td_vbd *vbd)
{
	return vbd->image;
}

bool td_vbd_paused(const struct td_vbd *vbd)
{
	return vbd->paused;
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
	return !vbd->ext_inflight && (!vbd->ring || !vbd->ring->inflight);
}

static void close_image(struct td_image *img);

static bool vbd_before_sleep(struct td_loop *loop, void *data)
{
	struct td_vbd *vbd = data;

	if (vbd->pause_pending && td_vbd_idle(vbd)) {
		vbd->pause_pending = false;
		if (vbd->ring)
			td_ring_push_responses(vbd->ring);
		close_image(vbd->image);
		vbd->image = NULL;
		if (vbd->pause_done)
			vbd->pause_done(vbd, vbd->pause_data);
	}
	return false;
}

static int open_image(struct td_vbd *vbd, const char *type_path, unsigned int lock,
		      struct td_image **out, char *why)
{
	struct td_image *img = calloc(1, sizeof(*img));
	int rc;

	if (!img)
		return -ENOMEM;
	rc = td_image_open(img, vbd->loop, type_path,
			   (vbd->readonly ? TD_OPEN_RDONLY : 0) | (lock & TD_OPEN_LOCK_MASK));
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

int td_vbd_open(struct td_loop *loop, const char *type_path, unsigned int flags,
		struct td_vbd **out, char *why)
{
	struct td_vbd *vbd = calloc(1, sizeof(*vbd));
	int rc;

	if (!vbd)
		return -ENOMEM;
	vbd->loop = loop;
	vbd->readonly = flags & TD_OPEN_RDONLY;
	vbd->lock = flags & TD_OPEN_LOCK_MASK;
	poll_params_default(&vbd->poll);
	rc = open_image(vbd, type_path, vbd->lock, &vbd->image, why);
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
		rt_err("vbd: closing with %u request(s) in flight", vbd->ring->inflight);
	td_loop_hook_del(vbd->loop, &vbd->hook);
	close_image(vbd->image);
	if (vbd->ring) {
		/* Requests still in flight were waited for by the driver's close. */
		td_ring_stop(vbd->ring);
		td_ring_detach(vbd->ring);
		free(vbd->ring);
	}
	free(vbd);
}

static void set_limits(struct td_vbd *vbd, struct td_ring *r)
{
	r->limits.disk_sectors = vbd->info.sectors;
	r->limits.readonly = vbd->readonly || vbd->info.readonly;
	r->limits.discard = vbd->info.discard && !r->limits.readonly;
}

int td_vbd_connect(struct td_vbd *vbd, const struct td_ring_params *params)
{
	struct td_ring *r;
	int rc;

	if (vbd->ring)
		return -EBUSY;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->vbd = vbd;
	r->loop = vbd->loop;
	r->params = *params;
	set_limits(vbd, r);
	rc = td_ring_attach(r);
	r->params.protocol = NULL; /* the caller's string: read once, by attach */
	if (rc < 0) {
		free(r);
		return rc;
	}
	r->paused = vbd->paused;
	rc = td_ring_start(r);
	if (rc < 0) {
		td_ring_detach(r);
		free(r);
		return rc;
	}
	vbd->ring = r;
	td_ring_poll_set_params(r, &vbd->poll);
	rt_info("vbd %u/%u: connected: %u ring page(s), %u slots, %s ABI, %s, indirect %u%s",
		params->domid, params->devid, r->nr_pages, r->back.nr_ents,
		blkif_abi_name(r->abi), vbd->name, params->max_indirect_segs,
		r->persistent ? ", persistent grants" : "");
	return 0;
}

int td_vbd_disconnect(struct td_vbd *vbd)
{
	struct td_ring *r = vbd->ring;

	if (!r)
		return -ENOTCONN;
	if (r->inflight)
		return -EBUSY;
	td_ring_stop(r);
	td_ring_detach(r);
	free(r);
	vbd->ring = NULL;
	return 0;
}

int td_vbd_pause(struct td_vbd *vbd, void (*done)(struct td_vbd *vbd, void *data), void *data)
{
	if (vbd->paused)
		return -EALREADY;
	vbd->paused = true;
	if (vbd->ring)
		vbd->ring->paused = true;
	vbd->pause_done = done;
	vbd->pause_data = data;
	vbd->pause_pending = true;
	return 0;
}

int td_vbd_resume(struct td_vbd *vbd, const char *type_path, int lock, char *why)
{
	unsigned int mode = lock < 0 ? vbd->lock : (unsigned int)lock & TD_OPEN_LOCK_MASK;
	struct td_image *img;
	int rc;

	if (!vbd->paused || vbd->pause_pending)
		return vbd->paused ? -EBUSY : -EINVAL;
	if (type_path || !vbd->image) {
		rc = open_image(vbd, type_path ? type_path : vbd->name, mode, &img, why);
		if (rc < 0)
			return rc;
		close_image(vbd->image);
		vbd->image = img;
	}
	vbd->lock = mode;
	vbd->paused = false;
	if (vbd->ring) {
		set_limits(vbd, vbd->ring);
		vbd->ring->paused = false;
		vbd->ring->retry = true;
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
	info->paused = vbd->paused;
	info->nr_rings = vbd->ring ? 1 : 0;
	_Static_assert(sizeof(info->image) == sizeof(vbd->name), "image names fit");
	memcpy(info->image, vbd->name, sizeof(info->image));
}

int td_vbd_stats(const struct td_vbd *vbd, unsigned int index, struct td_ring_stats *stats)
{
	const struct td_ring *r = vbd->ring;

	if (!r || index != 0)
		return -ENOENT;
	*stats = r->stats;
	stats->inflight = r->inflight;
	stats->idx = (struct td_ring_indexes){
		.nr_ents = r->back.nr_ents,
		.req_prod = __atomic_load_n(&r->back.sring->req_prod, __ATOMIC_RELAXED),
		.req_cons = r->back.req_cons,
		.req_event = __atomic_load_n(&r->back.sring->req_event, __ATOMIC_RELAXED),
		.rsp_prod = __atomic_load_n(&r->back.sring->rsp_prod, __ATOMIC_RELAXED),
		.rsp_prod_pvt = r->back.rsp_prod_pvt,
		.rsp_event = __atomic_load_n(&r->back.sring->rsp_event, __ATOMIC_RELAXED),
	};
	if (r->persistent) {
		stats->pgrant_hits = r->pgrants.stats.hits;
		stats->pgrant_misses = r->pgrants.stats.misses;
		stats->pgrant_evictions = r->pgrants.stats.evictions;
	}
	return 0;
}

int td_vbd_set_polling(struct td_vbd *vbd, const struct poll_params *params)
{
	if (poll_params_validate(params) < 0)
		return -EINVAL;
	vbd->poll = *params;
	if (vbd->ring)
		td_ring_poll_set_params(vbd->ring, params);
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
