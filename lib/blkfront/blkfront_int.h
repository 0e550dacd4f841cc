/* libblkfront's private declarations: its raw requests on the ring (layouts: lib/blkif), request
 * building,
 * the persistent-grant page pool, the xenstore handshake. Pure parts are unit-tested. */
#ifndef BLKFRONT_INT_H
#define BLKFRONT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ringtap/blkfront.h"

#define BF_PAGE_SIZE 4096u
#define BF_SECTOR_SIZE 512u
#define BF_SECTORS_PER_PAGE (BF_PAGE_SIZE / BF_SECTOR_SIZE)
#define BF_SEGS_PER_INDIRECT_PAGE (BF_PAGE_SIZE / sizeof(struct blkif_request_segment))
#define BF_MAX_RING_ORDER BLKIF_MAX_RING_ORDER
/* BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST pages of 512 descriptors */
#define BF_MAX_INDIRECT_SEGS (BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST * BF_SEGS_PER_INDIRECT_PAGE)

/* ---- abi.c: raw requests on the ring ---- */
/* Encodes req with `id` into the slot in the ABI's layout (the whole slot, zero padding); of
 * seg[] / indirect_grefs[] only the nr_grefs first entries are written. */
void bf_abi_write_request(enum blkif_abi abi, void *slot, const struct blkfront_raw_req *req,
			  uint64_t id);
/* BLKIF_RSP_* to 0 / -EIO / -EOPNOTSUPP / -EPROTO */
int bf_status_to_errno(int16_t status);

/* ---- request.c: splitting caller I/O into ring requests ---- */
/* Bytes of the next ring request for `remaining` bytes with at most max_segs pages. */
size_t bf_chunk_len(size_t remaining, unsigned int max_segs);
/* Pages (segments) a chunk of len bytes uses. */
unsigned int bf_chunk_segs(size_t len);
unsigned int bf_indirect_pages(unsigned int nsegs);
/* Fills req for a READ/WRITE/WRITE_BARRIER of len bytes at `sector` whose data sits from offset 0
 * in the granted pages data_refs[]. With more than `direct_max` segments (or `force_indirect`)
 * the request is indirect: descriptors go into ind_pages (granted as ind_refs). */
void bf_build_rw(struct blkfront_raw_req *req, uint8_t op, uint64_t sector, size_t len,
		 const grant_ref_t *data_refs, void *const *ind_pages, const grant_ref_t *ind_refs,
		 bool indirect);
void bf_build_discard(struct blkfront_raw_req *req, uint64_t sector, uint64_t nr_sectors);
void bf_build_flush(struct blkfront_raw_req *req);

/* ---- pool.c: persistent grants, granted once and reused LIFO (blkif.h note 7) ---- */
struct bf_page {
	void *addr;
	grant_ref_t ref;
	struct bf_page *next;
};

/* Shares `count` pages writable; fills addr and refs of pages[0..count) and returns the
 * mapping's base for release, or NULL with errno set. */
typedef void *(*bf_pool_grow_fn)(void *ctx, unsigned int count, struct bf_page *pages);
typedef void (*bf_pool_release_fn)(void *ctx, void *base, unsigned int count);

struct bf_pool_chunk;
struct bf_pool {
	struct bf_page *free;
	unsigned int nfree, total, max, grow_step;
	struct bf_pool_chunk *chunks;
	bf_pool_grow_fn grow;
	bf_pool_release_fn release;
	void *ctx;
};

void bf_pool_init(struct bf_pool *pool, unsigned int max, unsigned int grow_step,
		  bf_pool_grow_fn grow, bf_pool_release_fn release, void *ctx);
/* Takes n pages: 0, -EAGAIN (the pool is at its maximum: wait for pages to come back), or the
 * grow callback's error. n above the maximum is -EINVAL. */
int bf_pool_get(struct bf_pool *pool, unsigned int n, struct bf_page **out);
void bf_pool_put(struct bf_pool *pool, struct bf_page **pages, unsigned int n);
void bf_pool_destroy(struct bf_pool *pool);

/* ---- blkfront.c: the device ---- */
struct xs_handle;
struct xengntdev_handle;
struct xenevtchn_handle;

struct bf_io;

/* One ring request in flight; its index in bf->reqs is the request id. */
struct bf_req {
	struct bf_io *io; /* NULL for a raw request */
	blkfront_done_fn raw_done;
	void *raw_arg;
	/* the response echoes the slot's operation, or for an indirect request its indirect_op
	 * (Linux blkback answers with the latter) */
	uint8_t operation, indirect_op;
	bool in_use;
	size_t io_off, len; /* the part of io's buffer this request carries */
	unsigned int nsegs, nind;
	struct bf_page **ppages; /* persistent: nsegs data pages, then nind indirect pages */
	void *data_map, *ind_map; /* otherwise: per-request grants */
	grant_ref_t *refs;	  /* nsegs data refs, then nind indirect refs */
	struct bf_req *next_free;
};

struct bf_raw_grant {
	struct bf_raw_grant *next;
	void *addr;
	unsigned int count;
};

struct blkfront {
	struct xs_handle *xs;
	struct xengntdev_handle *gs;
	struct xenevtchn_handle *xce;
	char *fe_path, *be_path;
	struct blkfront_opts opts;
	struct blkfront_info info;
	struct blkfront_stats stats;

	void *sring; /* 2^order pages, granted to the backend */
	uint32_t ring_refs[1u << BF_MAX_RING_ORDER];
	size_t entry_size;
	uint32_t req_prod_pvt, rsp_cons, nr_ents;
	bool port_bound, broken, pending_push;
	bool be_watched; /* the backend's state is watched (connected) */

	struct bf_req *reqs, *free_reqs;
	struct bf_io *waitq, *waitq_tail, *io_cache;
	unsigned int nios;
	bool use_pool;
	struct bf_pool pool;
	struct bf_raw_grant *raw_grants;
};

/* ---- xenbus.c: the handshake ---- */
int bf_xenbus_connect(struct blkfront *bf, const char *device);
void bf_xenbus_close(struct blkfront *bf);
/* The xenstore fd that wakes on the backend's state while connected, or -1. */
int bf_xenbus_fd(struct blkfront *bf);
/* Drains the watch events; true (logged) if the backend is Closed or gone. */
bool bf_xenbus_backend_gone(struct blkfront *bf);
/* Parses a decimal xenstore value into [0, max]; -EINVAL when absent-but-required, malformed
 * or out of range. */
int bf_parse_uint(const char *s, uint64_t max, uint64_t *out);

#endif
