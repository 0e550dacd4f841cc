/* `tap-ctl stats`: one line of JSON with the keys XAPI's storage manager reads (blktap3's name,
 * secs, images, reqs_outstanding, ...) and ringtap's own: per ring counters, latency histograms
 * per operation, the polling settings. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ringtap/driver.h"
#include "src/blkif_req.h"
#include "src/daemon.h"
#include "src/mirror.h"

/* blktap3's disk type numbers (DISK_TYPE_AIO, DISK_TYPE_VHD), which the stats carry. */
#define BLKTAP3_DISK_TYPE_AIO 0
#define BLKTAP3_DISK_TYPE_VHD 4

static const char *const op_names[TD_STATS_OPS] = {
	[TD_OP_READ] = "read",	     [TD_OP_WRITE] = "write",	  [TD_OP_FLUSH] = "flush",
	[TD_OP_BARRIER] = "barrier", [TD_OP_DISCARD] = "discard",
};

static json_t *pair(uint64_t a, uint64_t b)
{
	return json_pack("[I,I]", (json_int_t)a, (json_int_t)b);
}

/* The VBD's settings, and what the ring's polling did with them. */
static json_t *polling_json(const struct td_minor *v)
{
	const struct poll_params *p = &v->poll;
	struct td_poll_stats ps;
	uint64_t lo, hi;
	json_t *o;

	poll_params_bounds(p, &lo, &hi);
	o = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:[I,I]}", "policy",
		      poll_policy_name(p->policy), "duration_us", (json_int_t)(p->fixed_ns / 1000),
		      "idle_threshold", (json_int_t)p->idle_threshold, "max_window_us",
		      (json_int_t)(p->max_ns / 1000), "start_window_us",
		      (json_int_t)(p->start_ns / 1000), "grow", (json_int_t)p->grow, "shrink",
		      (json_int_t)p->shrink, "budget", (json_int_t)p->budget, "window_bounds_ns",
		      (json_int_t)lo, (json_int_t)hi);
	if (o && v->vbd && td_vbd_poll_stats(v->vbd, 0, &ps) == 0)
		json_object_set_new(
			o, "stats",
			json_pack(
				"{s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
				"s:I, s:I, s:{s:I, s:I, s:I, s:I}, s:I, s:I, s:[I,I], "
				"s:{s:b, s:s, s:I}, s:I, s:I, s:I, "
				"s:{s:b, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I}}",
				"polling", ps.polling, "window_ns", (json_int_t)ps.window_ns,
				"entered", (json_int_t)ps.entered, "hits", (json_int_t)ps.hits,
				"misses", (json_int_t)ps.misses, "guarded", (json_int_t)ps.guarded,
				"budget_refused", (json_int_t)ps.budget_refused, "wakeups",
				(json_int_t)ps.wakeups, "polled_requests",
				(json_int_t)ps.polled_requests, "polled_completions",
				(json_int_t)ps.polled_completions, "polled_ns",
				(json_int_t)ps.polled_ns, "cpu_ns", (json_int_t)ps.cpu_ns,
				"notifications_received", (json_int_t)ps.notifications_received,
				"notifications_suppressed", (json_int_t)ps.notifications_suppressed,
				"guard_trips", "cpus_busy", (json_int_t)ps.guard_cpus_busy,
				"pressure", (json_int_t)ps.guard_pressure, "steal",
				(json_int_t)ps.guard_steal, "preempted",
				(json_int_t)ps.guard_preempted, "budget_in_use",
				(json_int_t)ps.budget_in_use, "idle_refused",
				(json_int_t)ps.idle_refused, "window_bounds_ns",
				(json_int_t)ps.window_min_ns, (json_int_t)ps.window_max_ns, "guard",
				"on", ps.guard_on, "verdict",
				poll_guard_verdict_name((enum poll_guard_verdict)ps.guard_verdict),
				"idle_pct", (json_int_t)ps.idle_pct, "empty", (json_int_t)ps.empty,
				"judged_off", (json_int_t)ps.judged_off, "disk_wait_ns",
				(json_int_t)ps.disk_wait_ns, "judge", "on", ps.judge_on, "probing",
				ps.judge_probing, "probes", (json_int_t)ps.judge_probes, "kept_on",
				(json_int_t)ps.judge_kept_on, "kept_off",
				(json_int_t)ps.judge_kept_off, "changes",
				(json_int_t)ps.judge_changes, "rate_on",
				(json_int_t)ps.judge_rate_on, "rate_off",
				(json_int_t)ps.judge_rate_off, "noise_pct",
				(json_int_t)ps.judge_noise_pct));
	return o;
}

/* {"upper_us": [1, 2, 4, ...], "read": {count, failed, total_us, max_us, histogram}, ...} */
static json_t *latency_json(const struct td_ring_stats *s)
{
	json_t *o = json_object(), *bounds = json_array();

	for (unsigned int b = 0; b + 1 < TD_LAT_BUCKETS; b++)
		json_array_append_new(bounds, json_integer((json_int_t)1 << b));
	json_object_set_new(o, "upper_us", bounds);
	for (unsigned int op = 0; op < TD_STATS_OPS; op++) {
		const struct td_op_stats *os = &s->ops[op];
		json_t *h = json_array();

		for (unsigned int b = 0; b < TD_LAT_BUCKETS; b++)
			json_array_append_new(h, json_integer((json_int_t)os->latency[b]));
		json_object_set_new(o, op_names[op],
				    json_pack("{s:I, s:I, s:I, s:I, s:o}", "count",
					      (json_int_t)os->completed, "failed",
					      (json_int_t)os->failed, "total_us",
					      (json_int_t)os->total_us, "max_us",
					      (json_int_t)os->max_us, "histogram", h));
	}
	return o;
}

static json_t *ring_json(const struct td_minor *v, const struct td_ring_stats *s)
{
	json_t *r = json_pack(
		"{s:I, s:I, s:I, s:s, s:b, s:I, s:I, s:b, s:I, s:I, s:I, s:I}", "domid",
		(json_int_t)v->ring.domid, "devid", (json_int_t)v->ring.devid, "order",
		(json_int_t)v->ring.order, "protocol",
		v->ring.protocol ? v->ring.protocol : "native", /* td_ring_params: NULL is native */
		"persistent", v->ring.persistent, "max_indirect_segments",
		(json_int_t)v->ring.max_indirect_segs, "inflight", (json_int_t)s->inflight,
		"halted", s->halted, "events", (json_int_t)s->events, "spurious_events",
		(json_int_t)s->spurious_events, "notifications", (json_int_t)s->notifications,
		"pool_stalls", (json_int_t)s->pool_stalls);

	if (!r)
		return NULL;
	json_object_set_new(
		r, "requests",
		json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "total",
			  (json_int_t)s->requests, "read", (json_int_t)s->reads, "write",
			  (json_int_t)s->writes, "flush", (json_int_t)s->flushes, "barrier",
			  (json_int_t)s->barriers, "discard", (json_int_t)s->discards, "indirect",
			  (json_int_t)s->indirect, "responses", (json_int_t)s->responses));
	json_object_set_new(r, "bytes",
			    json_pack("{s:I, s:I, s:I}", "read", (json_int_t)s->bytes_read,
				      "written", (json_int_t)s->bytes_written, "discarded",
				      (json_int_t)(s->sectors_discarded << TD_SECTOR_SHIFT)));
	json_object_set_new(
		r, "errors",
		json_pack("{s:I, s:I, s:I, s:I, s:I}", "invalid", (json_int_t)s->invalid, "error",
			  (json_int_t)s->errors, "eopnotsupp", (json_int_t)s->eopnotsupp, "io",
			  (json_int_t)s->io_errors, "grant", (json_int_t)s->grant_errors));
	json_object_set_new(r, "persistent_grants",
			    json_pack("{s:I, s:I, s:I, s:I}", "hits", (json_int_t)s->pgrant_hits,
				      "misses", (json_int_t)s->pgrant_misses, "evictions",
				      (json_int_t)s->pgrant_evictions, "map_fallbacks",
				      (json_int_t)s->pgrant_map_fallbacks));
	json_object_set_new(r, "latency", latency_json(s));
	return r;
}

/* blktap3's "xenbus" object for the connected ring. */
static json_t *xenbus_json(const struct td_minor *v, const struct td_ring_stats *s)
{
	return json_pack("{s:s, s:I, s:I, s:I, s:I, s:o, s:o, s:{s:I, s:I, s:I, s:I}}", "pool",
			 "td-xenio-default", "domid", (json_int_t)v->ring.domid, "devid",
			 (json_int_t)v->ring.devid, "reqs_outstanding", (json_int_t)s->inflight,
			 "reqs_free", (json_int_t)(s->idx.nr_ents - s->inflight), "reqs",
			 pair(s->requests, s->responses), "kicks",
			 pair(s->events, s->notifications), "errors", "msg", (json_int_t)s->invalid,
			 "map", (json_int_t)s->grant_errors, "vbd", (json_int_t)0, "img",
			 (json_int_t)s->io_errors);
}

/* The NBD export: its socket and counters (ringtap's own). */
static json_t *nbd_json(const struct td_nbd_export *e, const struct td_nbd_stats *n)
{
	return json_pack("{s:s, s:I, s:I, s:I, s:{s:I, s:I, s:I, s:I, s:I}, s:o, s:o, s:o}",
			 "socket", td_nbd_export_path(e), "clients", (json_int_t)n->clients,
			 "inflight", (json_int_t)n->inflight, "held", (json_int_t)n->queued,
			 "requests", "read", (json_int_t)n->reads, "write", (json_int_t)n->writes,
			 "flush", (json_int_t)n->flushes, "trim", (json_int_t)n->trims,
			 "write_zeroes", (json_int_t)n->zeroes, "bytes",
			 pair(n->bytes_read, n->bytes_written), "total_us",
			 pair(n->read_us, n->write_us), "errors",
			 json_pack("[I, I, I]", (json_int_t)n->read_errors,
				   (json_int_t)n->write_errors, (json_int_t)n->other_errors));
}

/* blktap3's image object for "type:path": name (the path), hits and fail [reads, writes],
 * driver {type (blktap3's number), name}. */
static json_t *image_json(const char *type_path, json_t *hits, json_t *fail)
{
	const char *colon = strchr(type_path, ':');
	const char *path = colon ? colon + 1 : type_path;
	char type[16] = "";

	if (colon && (size_t)(colon - type_path) < sizeof(type))
		memcpy(type, type_path, (size_t)(colon - type_path));
	return json_pack("{s:s, s:o, s:o, s:{s:i, s:s}}", "name", path, "hits", hits, "fail", fail,
			 "driver", "type",
			 !strcmp(type, "vhd") ? BLKTAP3_DISK_TYPE_VHD : BLKTAP3_DISK_TYPE_AIO,
			 "name", type);
}

/* One image of the stack: the leaf counts every request; a parent counts the reads its child
 * forwarded to it (*below: the child's `parent_reads` counter). The driver's own counters go in
 * driver_stats (next to blktap3's keys, which XAPI reads as they are). */
static json_t *chain_image_json(const struct td_image *img, bool leaf, const struct td_retired *t,
				uint64_t *below)
{
	struct td_counter c[16];
	int n = td_image_counters(img, c, 16);
	json_t *o, *st = json_object();

	if (leaf)
		o = image_json(img->name, pair(t->rd_done, t->wr_done),
			       pair(t->rd_failed, t->wr_failed));
	else
		o = image_json(img->name, pair(*below, 0), pair(0, 0));
	*below = 0;
	for (int i = 0; i < n; i++) {
		json_object_set_new(st, c[i].name, json_integer((json_int_t)c[i].value));
		if (!strcmp(c[i].name, "parent_reads"))
			*below = c[i].value;
	}
	if (o && img->info.engine) /* ringtap's own: the I/O engine serving the file */
		json_object_set_new(o, "engine", json_string(img->info.engine));
	if (o && n > 0)
		json_object_set_new(o, "driver_stats", st);
	else
		json_decref(st);
	return o;
}

/* The storage-migration mirror (tap-ctl -2): its state, as XAPI only reads nbd_mirror_failed. */
static json_t *mirror_json(const struct td_mirror_stats *m)
{
	return json_pack("{s:s, s:b, s:b, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "name", m->name,
			 "connected", m->connected, "failed", m->failed, "why", m->why, "protocol",
			 m->protocol, "size", (json_int_t)m->size, "writes", (json_int_t)m->writes,
			 "bytes_written", (json_int_t)m->bytes_written, "flushes",
			 (json_int_t)m->flushes, "failures", (json_int_t)m->failures, "inflight",
			 (json_int_t)m->inflight);
}

int td_stats_json(const struct td_minor *v, char **out)
{
	const struct td_mirror *mirror = v->vbd ? td_vbd_mirror(v->vbd) : NULL;
	struct td_mirror_stats ms = { 0 };
	struct td_ring_stats s;
	struct td_vbd_info info;
	struct td_retired t = v->retired;
	struct td_nbd_stats nbd = { 0 };
	bool ring = td_minor_connected(v) && td_vbd_stats(v->vbd, 0, &s) == 0;
	json_t *o, *images = json_array();

	memset(&info, 0, sizeof(info));
	if (v->vbd)
		td_vbd_info(v->vbd, &info);
	if (mirror)
		td_mirror_stats(mirror, &ms);
	if (ring) {
		t.rd_sectors += s.bytes_read >> TD_SECTOR_SHIFT;
		t.wr_sectors += s.bytes_written >> TD_SECTOR_SHIFT;
		t.rd_done += s.ops[TD_OP_READ].completed;
		t.rd_failed += s.ops[TD_OP_READ].failed;
		t.wr_done += s.ops[TD_OP_WRITE].completed;
		t.wr_failed += s.ops[TD_OP_WRITE].failed;
	}
	/* the NBD export's requests count with the ring's, as blktap3 counts every request */
	if (v->nbd) {
		td_nbd_export_stats(v->nbd, &nbd);
		t.rd_sectors += nbd.bytes_read >> TD_SECTOR_SHIFT;
		t.wr_sectors += nbd.bytes_written >> TD_SECTOR_SHIFT;
		t.rd_done += nbd.reads + nbd.read_errors;
		t.rd_failed += nbd.read_errors;
		t.wr_done += nbd.writes + nbd.write_errors;
		t.wr_failed += nbd.write_errors;
	}
	if (v->vbd && td_vbd_disk(v->vbd)) {
		/* the disk's stack, leaf first: a VHD chain lists every file, a raw root too */
		const struct td_image *leaf = td_vbd_disk(v->vbd);
		uint64_t below = 0;

		for (const struct td_image *img = leaf; img; img = img->parent)
			json_array_append_new(images, chain_image_json(img, img == leaf, &t, &below));
	} else if (v->vbd) { /* paused: the image is closed; what it was */
		json_array_append_new(images, image_json(info.image, pair(t.rd_done, t.wr_done),
							 pair(t.rd_failed, t.wr_failed)));
	}
	o = json_pack("{s:s, s:o, s:o, s:I, s:I, s:I, s:b, s:I, s:I, s:b, s:b, s:o}", "name",
		      info.image, "secs", pair(t.rd_sectors, t.wr_sectors), "images", images,
		      "nbd_mirror_failed", (json_int_t)(ms.failed ? 1 : 0), "reqs_outstanding",
		      (json_int_t)((ring ? s.inflight : 0) + nbd.inflight + nbd.queued),
		      "FIXME_enospc_redirect_count", (json_int_t)0, "read_caching", false, "minor",
		      (json_int_t)v->minor, "state", (json_int_t)td_minor_state(v), "paused",
		      td_minor_paused(v), "readonly", v->vbd && (info.info & VDISK_READONLY),
		      "polling", polling_json(v));
	if (!o)
		return -ENOMEM;
	/* the changed-block-tracking log in use (ringtap's key), null when none */
	if (v->vbd && td_vbd_cbt_log(v->vbd))
		json_object_set_new(o, "cbt_log", json_string(td_vbd_cbt_log(v->vbd)));
	else
		json_object_set_new(o, "cbt_log", json_null());
	if (v->nbd)
		json_object_set_new(o, "nbd", nbd_json(v->nbd, &nbd));
	if (mirror)
		json_object_set_new(o, "mirror", mirror_json(&ms));
	if (ring) {
		json_object_set_new(o, "xenbus", xenbus_json(v, &s));
		json_object_set_new(o, "rings", json_pack("[o]", ring_json(v, &s)));
	} else {
		json_object_set_new(o, "rings", json_array());
	}
	*out = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return *out ? 0 : -ENOMEM;
}
