/* tapdisk's internal API, what the control plane (and the td-serve test entry point) calls: a
 * VBD (one image stack) with its rings. All calls run on the loop's thread. */
#ifndef TD_TAPDISK_H
#define TD_TAPDISK_H

#include <stdbool.h>
#include <stdint.h>

struct td_loop;
struct td_vbd;

#define TD_MAX_RING_PAGES 16 /* ring-page-order 0..4 */
#define TD_MAX_RING_ORDER 4

/* What the frontend wrote in xenstore, as tapback reads it. */
struct td_ring_params {
	uint32_t domid;
	uint32_t devid;
	uint32_t ring_refs[TD_MAX_RING_PAGES];
	unsigned int order; /* ring-page-order: 1 << order refs */
	uint32_t port; /* the frontend's event-channel port */
	const char *protocol; /* NULL or "": native; "x86_32-abi", "x86_64-abi" */
	bool persistent; /* the frontend's feature-persistent */
	/* The feature-max-indirect-segments advertised; 0: no indirect requests. */
	uint16_t max_indirect_segs;
	/* Persistent-grant cache size in pages; 0: default (max(1056, ring size x 11)). */
	uint32_t max_persistent_grants;
};

struct td_ring_stats {
	uint64_t requests; /* consumed from the ring */
	uint64_t reads, writes, flushes, barriers, discards, indirect;
	uint64_t bytes_read, bytes_written, sectors_discarded;
	uint64_t responses;
	uint64_t invalid; /* refused by validation (answered ERROR or EOPNOTSUPP) */
	uint64_t errors; /* answered BLKIF_RSP_ERROR, any cause */
	uint64_t eopnotsupp; /* answered BLKIF_RSP_EOPNOTSUPP */
	uint64_t io_errors; /* the image failed an I/O */
	uint64_t grant_errors; /* a grant copy or map failed */
	uint64_t events; /* event-channel deliveries */
	uint64_t spurious_events; /* ... that found no request */
	uint64_t notifications; /* sent to the frontend */
	uint64_t pool_stalls; /* requests that waited for bounce pages */
	uint64_t pgrant_hits, pgrant_misses, pgrant_evictions;
	uint32_t inflight;
	bool halted; /* the frontend broke the ring protocol; nothing more is consumed */
};

struct td_vbd_info {
	uint64_t sectors; /* 512-byte units, as xenstore's `sectors` */
	uint32_t sector_size;
	uint32_t physical_sector_size;
	uint32_t info; /* xenstore `info`: VDISK_READONLY, ... */
	bool discard;
	uint32_t discard_granularity, discard_alignment;
	bool paused;
	unsigned int nr_rings;
	char image[512]; /* "type:path" with the canonical type */
};

/* Opens type:path ("aio:/path", "raw:/path", "null:1G"). 0 or -errno. */
int td_vbd_open(struct td_loop *loop, const char *type_path, bool readonly, struct td_vbd **out);
/* Disconnects (must be idle: see td_vbd_disconnect) and closes. */
void td_vbd_close(struct td_vbd *vbd);

/* Maps the ring, binds the port and starts serving. 0 or -errno (-EINVAL for bad parameters,
 * -EBUSY when a ring is connected, the grant/event-channel error otherwise). */
int td_vbd_connect(struct td_vbd *vbd, const struct td_ring_params *params);
/* Unmaps and unbinds. -EBUSY while requests are in flight: pause first. */
int td_vbd_disconnect(struct td_vbd *vbd);

/* Stops consuming the ring and drains in-flight requests; `done` runs from the loop once they
 * are all answered (never from inside this call). -EALREADY when already paused. */
int td_vbd_pause(struct td_vbd *vbd, void (*done)(struct td_vbd *vbd, void *data), void *data);
/* Resumes after a pause, with a new image (type_path) or the same one (NULL). On failure the
 * VBD stays paused on its old image. 0 or -errno. */
int td_vbd_resume(struct td_vbd *vbd, const char *type_path);

void td_vbd_info(const struct td_vbd *vbd, struct td_vbd_info *info);
/* The counters of ring `index`. 0 or -ENOENT. */
int td_vbd_stats(const struct td_vbd *vbd, unsigned int index, struct td_ring_stats *stats);

#endif
