/* The frontend's half of the blkif xenstore handshake (blkif.h, Linux xen-blkfront): wait for the
 * backend's InitWait, grant the ring and bind a port, publish them, wait for Connected, read the
 * disk's properties; and the Closing/Closed teardown. Every backend value is validated. */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <xenevtchn.h>
#include <xengnttab.h>
#include <xenstore.h>
#include <xen/io/xenbus.h>

#include "blkfront_int.h"
#include "ringtap/log.h"

#define BF_PATH_MAX 256
#define BF_WATCH_TOKEN "blkfront"
#define BF_BE_WATCH_TOKEN "blkfront-backend" /* while connected */
#define BF_CLOSE_TIMEOUT_MS 5000

int bf_parse_uint(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (!s || !*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -EINVAL;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static char *xs_get(struct blkfront *bf, const char *dir, const char *node)
{
	char path[BF_PATH_MAX];
	unsigned int len;

	if (snprintf(path, sizeof(path), "%s/%s", dir, node) >= (int)sizeof(path))
		return NULL;
	return xs_read(bf->xs, XBT_NULL, path, &len);
}

/* A numeric node: absent → `def` (or -ENOENT when def is NULL), malformed → -EINVAL. */
static int xs_get_uint(struct blkfront *bf, const char *dir, const char *node, uint64_t max,
		       const uint64_t *def, uint64_t *out)
{
	char *v = xs_get(bf, dir, node);
	int err;

	if (!v) {
		if (!def)
			return -ENOENT;
		*out = *def;
		return 0;
	}
	err = bf_parse_uint(v, max, out);
	if (err)
		rt_err("blkfront: %s/%s: bad value '%.32s'", dir, node, v);
	free(v);
	return err;
}

/* Optional boolean feature: absent or malformed is "no" (a backend that writes garbage does not
 * get the feature). */
static bool xs_get_bool(struct blkfront *bf, const char *dir, const char *node)
{
	static const uint64_t zero;
	uint64_t v = 0;

	return !xs_get_uint(bf, dir, node, 1, &zero, &v) && v == 1;
}

static int xs_put(struct blkfront *bf, xs_transaction_t t, const char *node, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int xs_put(struct blkfront *bf, xs_transaction_t t, const char *node, const char *fmt, ...)
{
	char path[BF_PATH_MAX], val[64];
	va_list ap;

	if (snprintf(path, sizeof(path), "%s/%s", bf->fe_path, node) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	va_start(ap, fmt);
	vsnprintf(val, sizeof(val), fmt, ap);
	va_end(ap);
	if (!xs_write(bf->xs, t, path, val, strlen(val)))
		return errno ? -errno : -EIO;
	return 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int backend_state(struct blkfront *bf)
{
	static const uint64_t unknown = XenbusStateUnknown;
	uint64_t v;

	if (xs_get_uint(bf, bf->be_path, "state", XenbusStateReconfigured, &unknown, &v))
		return XenbusStateUnknown;
	return (int)v;
}

/* Waits until the backend's state satisfies `done`; fails early when it satisfies `fail`.
 * The watch on the backend's state node wakes us; the node is re-read on every wake-up. */
static int wait_backend(struct blkfront *bf, bool (*done)(int), bool (*fail)(int), int timeout_ms,
			int *state)
{
	char path[BF_PATH_MAX];
	int64_t deadline = now_ms() + timeout_ms;
	int err = 0;

	snprintf(path, sizeof(path), "%s/state", bf->be_path);
	if (!xs_watch(bf->xs, path, BF_WATCH_TOKEN))
		return errno ? -errno : -EIO;
	for (;;) {
		struct pollfd pfd = { .fd = xs_fileno(bf->xs), .events = POLLIN };
		int64_t left;
		char **ev;

		*state = backend_state(bf);
		if (done(*state))
			break;
		if (fail && fail(*state)) {
			err = -ENXIO;
			break;
		}
		left = deadline - now_ms();
		if (left <= 0) {
			err = -ETIMEDOUT;
			break;
		}
		if (pfd.fd < 0) {
			err = -EIO;
			break;
		}
		if (poll(&pfd, 1, (int)(left > 200 ? 200 : left)) < 0 && errno != EINTR) {
			err = -errno;
			break;
		}
		while ((ev = xs_check_watch(bf->xs)))
			free(ev);
	}
	xs_unwatch(bf->xs, path, BF_WATCH_TOKEN);
	return err;
}

static bool is_initwait(int s)
{
	return s == XenbusStateInitWait;
}

static bool is_connected(int s)
{
	return s == XenbusStateConnected;
}

static bool is_gone(int s)
{
	return s == XenbusStateClosing || s == XenbusStateClosed || s == XenbusStateUnknown;
}

static int resolve_paths(struct blkfront *bf, const char *device)
{
	static const uint64_t none = UINT64_MAX;
	char path[BF_PATH_MAX];
	uint64_t devid, domid;
	int err;

	if (!device || !*device || strlen(device) >= BF_PATH_MAX - 32)
		return -EINVAL;
	if (!bf_parse_uint(device, UINT32_MAX, &devid))
		snprintf(path, sizeof(path), "device/vbd/%" PRIu64, devid);
	else
		snprintf(path, sizeof(path), "%s", device);
	bf->fe_path = strdup(path);
	if (!bf->fe_path)
		return -ENOMEM;
	bf->be_path = xs_get(bf, bf->fe_path, "backend");
	if (!bf->be_path) {
		rt_err("blkfront: %s/backend: %s", bf->fe_path, strerror(errno ? errno : ENOENT));
		return -ENODEV;
	}
	if (bf->be_path[0] != '/' || strlen(bf->be_path) >= BF_PATH_MAX - 32) {
		rt_err("blkfront: %s/backend: bad path", bf->fe_path);
		return -EINVAL;
	}
	/* DOMID_FIRST_RESERVED and above are not domains a page can be granted to */
	err = xs_get_uint(bf, bf->fe_path, "backend-id", DOMID_FIRST_RESERVED - 1, &none, &domid);
	if (err || domid == UINT64_MAX) {
		rt_err("blkfront: %s/backend-id: missing or invalid", bf->fe_path);
		return -EINVAL;
	}
	bf->info.backend_id = (unsigned int)domid;
	return 0;
}

static int grant_ring(struct blkfront *bf, unsigned int order)
{
	unsigned int pages = 1u << order;

	bf->sring = xengntshr_share_pages(bf->gs, bf->info.backend_id, (int)pages, bf->ring_refs, 1);
	if (!bf->sring) {
		int err = errno ? -errno : -ENOMEM;

		rt_err("blkfront: granting %u ring pages: %s", pages, strerror(-err));
		return err;
	}
	bf->stats.grants_shared += pages;
	memset(bf->sring, 0, (size_t)BF_PAGE_SIZE << order);
	/* SHARED_RING_INIT: both sides want the first notification */
	((volatile uint32_t *)bf->sring)[1] = 1; /* req_event */
	((volatile uint32_t *)bf->sring)[3] = 1; /* rsp_event */
	bf->info.ring_order = order;
	bf->entry_size = blkif_abi_entry_size(bf->info.abi);
	bf->nr_ents = blkif_ring_entries(bf->info.abi, 1u << order);
	bf->info.ring_size = bf->nr_ents;
	return 0;
}

static int publish(struct blkfront *bf)
{
	unsigned int i, pages = 1u << bf->info.ring_order;
	int tries, err = 0;

	for (tries = 0; tries < 20; tries++) {
		xs_transaction_t t = xs_transaction_start(bf->xs);
		char node[32], path[BF_PATH_MAX];

		if (t == XBT_NULL)
			return errno ? -errno : -EIO;
		/* Leftovers of an earlier connection with another ring size would mislead the backend */
		for (i = 0; i < (1u << BF_MAX_RING_ORDER); i++) {
			snprintf(path, sizeof(path), "%s/ring-ref%u", bf->fe_path, i);
			xs_rm(bf->xs, t, path);
		}
		snprintf(path, sizeof(path), "%s/ring-ref", bf->fe_path);
		xs_rm(bf->xs, t, path);
		snprintf(path, sizeof(path), "%s/ring-page-order", bf->fe_path);
		xs_rm(bf->xs, t, path);
		snprintf(path, sizeof(path), "%s/num-ring-pages", bf->fe_path);
		xs_rm(bf->xs, t, path);

		if (pages == 1) {
			err = xs_put(bf, t, "ring-ref", "%u", bf->ring_refs[0]);
		} else {
			err = xs_put(bf, t, "ring-page-order", "%u", bf->info.ring_order);
			for (i = 0; !err && i < pages; i++) {
				snprintf(node, sizeof(node), "ring-ref%u", i);
				err = xs_put(bf, t, node, "%u", bf->ring_refs[i]);
			}
		}
		if (!err)
			err = xs_put(bf, t, "event-channel", "%u", bf->info.port);
		if (!err)
			err = xs_put(bf, t, "protocol", "%s", blkif_abi_name(bf->info.abi));
		if (!err)
			err = xs_put(bf, t, "feature-persistent", "%u", bf->opts.persistent ? 1 : 0);
		if (err) {
			xs_transaction_end(bf->xs, t, true);
			return err;
		}
		if (xs_transaction_end(bf->xs, t, false))
			return xs_put(bf, XBT_NULL, "state", "%d", XenbusStateInitialised);
		if (errno != EAGAIN)
			return errno ? -errno : -EIO;
	}
	return -EAGAIN;
}

/* Properties the backend publishes by Connected (Linux blkfront_connect). */
static int read_disk(struct blkfront *bf)
{
	static const uint64_t zero, s512 = 512;
	struct blkfront_info *in = &bf->info;
	uint64_t sectors, ssize, info, gran, align, maxind;
	int err;

	err = xs_get_uint(bf, bf->be_path, "sectors", UINT64_MAX, NULL, &sectors);
	if (!err)
		err = xs_get_uint(bf, bf->be_path, "sector-size", 1u << 16, &s512, &ssize);
	if (!err && (ssize < 512 || (ssize & (ssize - 1))))
		err = -EINVAL;
	if (!err && sectors > UINT64_MAX / ssize)
		err = -EINVAL;
	if (!err)
		err = xs_get_uint(bf, bf->be_path, "info", UINT32_MAX, &zero, &info);
	if (err) {
		rt_err("blkfront: %s: missing or invalid sectors/sector-size/info", bf->be_path);
		return err;
	}
	in->sectors = sectors;
	in->sector_size = (unsigned int)ssize;
	in->vdisk_info = (unsigned int)info;
	in->readonly = info & VDISK_READONLY;
	in->flush = xs_get_bool(bf, bf->be_path, "feature-flush-cache");
	in->barrier = xs_get_bool(bf, bf->be_path, "feature-barrier");
	in->discard = xs_get_bool(bf, bf->be_path, "feature-discard");
	if (in->discard) {
		/* blkif.h note 4: missing means sector-size / 0; bad values turn discard off */
		if (xs_get_uint(bf, bf->be_path, "discard-granularity", UINT32_MAX, &ssize, &gran) ||
		    xs_get_uint(bf, bf->be_path, "discard-alignment", UINT32_MAX, &zero, &align))
			in->discard = false;
		else if (!gran)
			gran = ssize;
		in->discard_granularity = in->discard ? (unsigned int)gran : 0;
		in->discard_alignment = in->discard ? (unsigned int)align : 0;
	}
	if (xs_get_uint(bf, bf->be_path, "feature-max-indirect-segments", UINT32_MAX, &zero,
			&maxind))
		maxind = 0;
	if (maxind > bf->opts.max_indirect_segs)
		maxind = bf->opts.max_indirect_segs;
	if (maxind > BF_MAX_INDIRECT_SEGS)
		maxind = BF_MAX_INDIRECT_SEGS;
	in->max_segs = maxind > BLKIF_MAX_SEGMENTS_PER_REQUEST ? (unsigned int)maxind
							      : BLKIF_MAX_SEGMENTS_PER_REQUEST;
	return 0;
}

int bf_xenbus_connect(struct blkfront *bf, const char *device)
{
	static const uint64_t zero;
	uint64_t max_order, max_pages;
	char path[BF_PATH_MAX];
	unsigned int order;
	int err, state;
	xenevtchn_port_or_error_t port;

	bf->xs = xs_open(0);
	if (!bf->xs) {
		rt_err("blkfront: cannot connect to xenstore: %s", strerror(errno));
		return errno ? -errno : -EIO;
	}
	err = resolve_paths(bf, device);
	if (err)
		return err;
	/* Initialising lets a backend left in Closed prepare for a reconnect (Linux blkback) */
	err = xs_put(bf, XBT_NULL, "state", "%d", XenbusStateInitialising);
	if (err)
		return err;
	err = wait_backend(bf, is_initwait, NULL, (int)bf->opts.timeout_ms, &state);
	if (err) {
		rt_err("blkfront: %s: backend state %d, never InitWait (%s)", bf->be_path, state,
		       strerror(-err));
		return err;
	}

	/* ring size: max-ring-page-order, or the deprecated max-ring-pages (a power of 2) */
	if (xs_get_uint(bf, bf->be_path, "max-ring-page-order", 64, &zero, &max_order))
		max_order = 0;
	if (!max_order &&
	    !xs_get_uint(bf, bf->be_path, "max-ring-pages", 1u << 16, &zero, &max_pages) &&
	    max_pages && !(max_pages & (max_pages - 1)))
		while ((1ull << (max_order + 1)) <= max_pages)
			max_order++;
	order = bf->opts.ring_order;
	if (order > max_order)
		order = (unsigned int)max_order;
	if (order > BF_MAX_RING_ORDER)
		order = BF_MAX_RING_ORDER;
	bf->info.persistent =
		bf->opts.persistent && xs_get_bool(bf, bf->be_path, "feature-persistent");

	err = grant_ring(bf, order);
	if (err)
		return err;
	port = xenevtchn_bind_unbound_port(bf->xce, bf->info.backend_id);
	if (port < 0) {
		err = errno ? -errno : -EIO;
		rt_err("blkfront: binding an unbound port for domain %u: %s", bf->info.backend_id,
		       strerror(-err));
		return err;
	}
	bf->info.port = (unsigned int)port;
	bf->port_bound = true;
	err = publish(bf);
	if (err) {
		rt_err("blkfront: %s: publishing the ring: %s", bf->fe_path, strerror(-err));
		return err;
	}
	err = wait_backend(bf, is_connected, is_gone, (int)bf->opts.timeout_ms, &state);
	if (err) {
		rt_err("blkfront: %s: backend state %d, never Connected (%s)", bf->be_path, state,
		       strerror(-err));
		return err;
	}
	err = read_disk(bf);
	if (err)
		return err;
	err = xs_put(bf, XBT_NULL, "state", "%d", XenbusStateConnected);
	if (err)
		return err;
	/* I/O waits then notice a backend that goes away (its tapdisk died) rather than wait for
	 * responses that will never come, as Linux blkfront's blkback_changed() */
	snprintf(path, sizeof(path), "%s/state", bf->be_path);
	bf->be_watched = xs_watch(bf->xs, path, BF_BE_WATCH_TOKEN);
	return 0;
}

int bf_xenbus_fd(struct blkfront *bf)
{
	return bf->be_watched ? xs_fileno(bf->xs) : -1;
}

bool bf_xenbus_backend_gone(struct blkfront *bf)
{
	char **ev;
	int state;

	while ((ev = xs_check_watch(bf->xs)))
		free(ev);
	/* Closing alone is an unplug that still answers what is in flight (xenopsd's classic
	 * unplug); Closed or removed, nothing will */
	state = backend_state(bf);
	if (state != XenbusStateClosed && state != XenbusStateUnknown)
		return false;
	rt_err("blkfront: %s: backend state %d while connected: the backend is gone", bf->be_path,
	       state);
	return true;
}

/* Closing, wait for the backend to let go of the ring, then Closed (Linux blkfront_closing). */
void bf_xenbus_close(struct blkfront *bf)
{
	int state, timeout = (int)bf->opts.timeout_ms;

	if (!bf->xs || !bf->be_path)
		return;
	if (bf->be_watched) {
		char path[BF_PATH_MAX];

		snprintf(path, sizeof(path), "%s/state", bf->be_path);
		xs_unwatch(bf->xs, path, BF_BE_WATCH_TOKEN);
		bf->be_watched = false;
	}
	if (timeout > BF_CLOSE_TIMEOUT_MS)
		timeout = BF_CLOSE_TIMEOUT_MS;
	if (xs_put(bf, XBT_NULL, "state", "%d", XenbusStateClosing))
		return;
	if (wait_backend(bf, is_gone, NULL, timeout, &state))
		rt_warn("blkfront: %s: backend state %d, not closing; closing anyway", bf->be_path,
			state);
	xs_put(bf, XBT_NULL, "state", "%d", XenbusStateClosed);
}
