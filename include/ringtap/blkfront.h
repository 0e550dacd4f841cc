/* libblkfront: a userspace Xen PV block frontend (the guest side of the blkif protocol) built only
 * on xengntshr, xenevtchn and libxenstore, so it runs on simxen and in a real Xen domain alike. */
#ifndef RINGTAP_BLKFRONT_H
#define RINGTAP_BLKFRONT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ringtap/blkif_abi.h"

struct blkfront;

/* What the caller asks for; the backend's advertised limits clip each value. */
struct blkfront_opts {
	unsigned int ring_order;	 /* ring-page-order wanted (0..4); default 0 */
	enum blkif_abi abi;		 /* `protocol` to write; default native */
	bool persistent;		 /* offer feature-persistent (pool of granted pages) */
	unsigned int max_indirect_segs;	 /* 0: direct requests only; default 256 */
	unsigned int queue_depth;	 /* ring requests in flight; 0: the ring's size */
	unsigned int timeout_ms;	 /* each handshake step; default 10000 */
};

/* What was negotiated with the backend (valid after blkfront_open). */
struct blkfront_info {
	uint64_t sectors;		/* device size in `sector_size` units */
	unsigned int sector_size;	/* bytes */
	unsigned int vdisk_info;	/* the backend's `info` bitmap (VDISK_*) */
	bool readonly;			/* VDISK_READONLY or `mode` r */
	bool flush, barrier, discard, persistent;
	unsigned int discard_granularity, discard_alignment;
	unsigned int ring_order, ring_size, queue_depth;
	unsigned int max_segs;		/* segments per ring request (11 or the indirect maximum) */
	enum blkif_abi abi;
	unsigned int backend_id;
	unsigned int port;		/* our event channel port */
};

/* Counters, for benchmarks and the polling work. */
struct blkfront_stats {
	uint64_t notifications_sent;	 /* xenevtchn_notify calls */
	uint64_t events_received;	 /* event-channel deliveries read from the fd */
	uint64_t requests;		 /* ring requests pushed */
	uint64_t responses;		 /* ring responses consumed */
	uint64_t ios;			 /* caller I/Os completed */
	uint64_t errors;		 /* caller I/Os completed with an error */
	uint64_t grants_shared;		 /* pages granted (per request, or into the persistent pool) */
};

enum blkfront_op {
	BLKFRONT_READ,
	BLKFRONT_WRITE,
	BLKFRONT_FLUSH,	  /* BLKIF_OP_FLUSH_DISKCACHE, no data */
	BLKFRONT_BARRIER, /* BLKIF_OP_WRITE_BARRIER: a write of at most one ring request */
	BLKFRONT_DISCARD, /* BLKIF_OP_DISCARD of `len` bytes, no data */
};

/* error: 0, -EIO (BLKIF_RSP_ERROR), -EOPNOTSUPP (BLKIF_RSP_EOPNOTSUPP), -EPROTO (a status the
 * protocol does not define), -ESHUTDOWN (the ring broke or closed before the answer). */
typedef void (*blkfront_done_fn)(void *arg, int error);

void blkfront_opts_init(struct blkfront_opts *opts);

/* device: the frontend's xenstore directory: an absolute path ("/local/domain/5/device/vbd/768"),
 * a path relative to the domain's home ("device/vbd/768") or just the device id ("768").
 * Runs the handshake of blkif.h up to Connected. Returns 0 or a negative errno. */
int blkfront_open(const char *device, const struct blkfront_opts *opts, struct blkfront **out);
/* Fails what is still queued or in flight (-ESHUTDOWN), closes the device (Closing, then Closed
 * once the backend has let go or the timeout passed), revokes the grants, unbinds the port. */
void blkfront_close(struct blkfront *bf);

const struct blkfront_info *blkfront_info(const struct blkfront *bf);
void blkfront_stats(const struct blkfront *bf, struct blkfront_stats *stats);

/* Queues one I/O: offset and len are bytes, multiples of 512; any length up to the device size
 * (split into ring requests as needed); buf need not be aligned (data is copied into granted
 * pages). Nothing reaches the backend before blkfront_commit(). `done` runs from
 * blkfront_process/blkfront_wait. Returns 0, -EINVAL, -EROFS, -EOPNOTSUPP (feature not
 * negotiated), -ENOMEM or -ESHUTDOWN (ring broken). */
int blkfront_submit(struct blkfront *bf, enum blkfront_op op, uint64_t offset, void *buf,
		    size_t len, blkfront_done_fn done, void *arg);
/* Publishes queued requests and notifies the backend if it asked to be. */
void blkfront_commit(struct blkfront *bf);
/* Caller I/Os queued or in flight. */
unsigned int blkfront_inflight(const struct blkfront *bf);

/* Consumes responses without any system call (polling): completes I/Os, moves queued ones onto
 * the ring. With `arm`, re-arms rsp_event so the backend notifies the next response.
 * Returns the number of caller I/Os completed, or -ESHUTDOWN once the ring is broken. */
int blkfront_process(struct blkfront *bf, bool arm);
/* Event mode: waits up to timeout_ms (-1: forever) for the event channel, then processes.
 * Returns I/Os completed (0 on timeout) or a negative errno: -ESHUTDOWN once the backend is
 * Closed or removed while connected (its tapdisk died), every I/O failed with it. */
int blkfront_wait(struct blkfront *bf, int timeout_ms);
/* The event-channel fd, for the caller's own epoll; call blkfront_wait(bf, 0) when readable. */
int blkfront_event_fd(const struct blkfront *bf);

/* ---- raw access, for test programs that play a hostile frontend ------------------------- */

/* A request written as given into the next ring slot, whatever it says. Up to 11 segments are
 * written into the slot (the `nr_segments` field may say more); indirect_op/indirect_grefs
 * are used when operation is BLKIF_OP_INDIRECT, nr_sectors when it is BLKIF_OP_DISCARD. */
struct blkfront_raw_req {
	uint8_t operation;
	uint8_t flag; /* discard: BLKIF_DISCARD_SECURE */
	uint16_t nr_segments;
	uint16_t handle;
	uint64_t sector_number;
	uint64_t nr_sectors;
	uint8_t indirect_op;
	unsigned int nr_grefs; /* valid entries of seg[] / indirect_grefs[] */
	struct blkif_request_segment seg[BLKIF_MAX_SEGMENTS_PER_REQUEST];
	grant_ref_t indirect_grefs[BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST];
};

/* Writes, pushes and notifies. done() gets the response's status as an errno (see above). */
int blkfront_raw_submit(struct blkfront *bf, const struct blkfront_raw_req *req,
			blkfront_done_fn done, void *arg);
/* Grants `count` fresh pages to `domid` (not necessarily the backend); *addr maps them.
 * The grants live until blkfront_close. */
int blkfront_raw_grant(struct blkfront *bf, unsigned int domid, unsigned int count, bool writable,
		       uint32_t *refs, void **addr);
/* Writes req_prod directly (e.g. far beyond the ring) and notifies; the ring is unusable after. */
void blkfront_raw_set_req_prod(struct blkfront *bf, uint32_t req_prod);

#endif
