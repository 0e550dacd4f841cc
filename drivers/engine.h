/* The I/O engine under the file-backed drivers (aio, vhd): it owns the submission queue and its
 * batching, completion reaping (from user space while adaptive polling spins, or woken by an
 * eventfd in the loop), completions made later from the loop, and the drain at close. Drivers
 * describe each I/O in a td_engine_req they embed in their own per-I/O objects and never call
 * io_submit (or io_uring_enter) themselves; the kernel interface is a td_engine_ops backend
 * chosen by name (engine_aio.c is libaio), so another one plugs in without touching a driver.
 * Internal to drivers/. */
#ifndef TD_DRIVERS_ENGINE_H
#define TD_DRIVERS_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "ringtap/driver.h"

struct td_engine;
struct td_engine_req;
struct td_loop;

/* res: 0 or -errno. A short read or write is resubmitted for the rest (a transfer that makes no
 * progress, a read at the end of the file, is -EIO); -EAGAIN from the kernel is retried
 * (TD_ENGINE_EAGAIN_TRIES times) before it reaches done. Runs from the loop or from td_engine_poll, never
 * from inside td_engine_submit or td_engine_kick's caller's stack. */
typedef void (*td_engine_done_fn)(struct td_engine_req *req, int res);

enum td_engine_op {
	TD_ENGINE_READ,
	TD_ENGINE_WRITE,
	TD_ENGINE_FSYNC, /* fdatasync: every write completed before it is durable */
	TD_ENGINE_DISCARD, /* a punched hole (files) or BLKDISCARD (block devices): off, len */
};

/* One I/O as a driver describes it. The driver owns it (embedded in its own per-I/O object: a
 * td_io's drv space, a vhd piece) until `done` runs. The iovec array is read at submission. */
struct td_engine_req {
	td_engine_done_fn done;
	struct td_engine_req *next; /* the engine's queues */
	const struct iovec *iov;
	uint64_t off; /* bytes, in the engine's file */
	size_t len; /* bytes the transfer must move (0: fsync; a discard's length) */
	int iovcnt;
	int res;
	uint32_t moved; /* the engine's: bytes earlier (short) completions moved */
	uint8_t op; /* enum td_engine_op */
	uint8_t tries; /* the engine's: -EAGAIN completions so far */
};

/* How many times a request the kernel completes with -EAGAIN is resubmitted. */
#define TD_ENGINE_EAGAIN_TRIES 16

/*
 * One depth for every engine: 512 requests in flight per image file. A ring holds at most 512
 * requests (16 pages of 32 slots, ring-page-order 4), so a guest rarely has more outstanding
 * than the kernel takes at once; what exceeds it waits in the queue (never fails) and goes out
 * as completions free slots. It also bounds the kernel's share: io_setup reserves about twice
 * the depth against fs.aio-max-nr (65536 by default) for each context, and every file of a VHD
 * chain has its own engine, so 1024 per file would let few chained disks exhaust the host.
 * Drivers size their own per-I/O pools by it.
 */
#define TD_ENGINE_DEPTH 512

/* The most requests the engine hands a backend in one submit, and completions it asks for in
 * one reap: the sizes of their on-stack arrays. */
#define TD_ENGINE_BATCH 128
#define TD_ENGINE_REAP 64

/* A completion as a backend reports it: the request and the kernel's result (bytes or -errno). */
struct td_engine_cqe {
	struct td_engine_req *req;
	long res;
};

/* A kernel interface. The engine (engine.c) keeps the queues and never gives a backend more
 * than `depth` requests at once, so a backend's per-slot state is sized once, at setup. */
struct td_engine_ops {
	const char *name;
	/* Sets up for e's file and depth; completions signal efd. 0 or -errno. */
	int (*setup)(struct td_engine *e, int fd, int efd, unsigned int depth);
	/* Waits for nothing: the engine has drained. Releases what setup made. */
	void (*teardown)(struct td_engine *e);
	/* Starts reqs[0..n), n <= TD_ENGINE_BATCH: how many it took (the first ones), 0 when the kernel has no room
	 * (retried at the next completion), or -errno when it refuses reqs[0]. */
	int (*submit)(struct td_engine *e, struct td_engine_req **reqs, int n);
	/* Up to max (<= TD_ENGINE_REAP) completions; without a system call when reap_in_user_space says so. With
	 * `wait`, blocks (up to a second) for at least one. How many, or -errno. */
	int (*reap)(struct td_engine *e, struct td_engine_cqe *out, int max, bool wait);
	/* True while reap(…, false) makes no system call: adaptive polling may spin on it. */
	bool (*reap_in_user_space)(const struct td_engine *e);
	/* Optional: registers [base, base + len) with the kernel as the backend's fixed buffer (len
	 * 0: unregisters it), replacing any before. 0 or -errno. */
	int (*register_buffer)(struct td_engine *e, void *base, size_t len);
	/* Optional: registers the page at addr as fixed page `slot` (NULL: unregisters it),
	 * replacing the slot's page. 0 or -errno. */
	int (*register_page)(struct td_engine *e, uint32_t slot, void *addr);
	/* Optional: the backend's counters for `tap-ctl stats` (at most max); how many. */
	int (*counters)(const struct td_engine *e, struct td_counter *out, int max);
	/* Optional: true when submit takes TD_ENGINE_DISCARD (otherwise the engine discards
	 * synchronously in the loop, as it does on block devices: engine.c). */
	bool (*discards)(const struct td_engine *e);
};

/*
 * The io_uring backend's settings, read from the environment at each td_engine_open (tapdisk
 * sets these variables from tapdisk.conf's uring-* keys at start, unless already set: the
 * environment wins). A bad value is logged once and the default used.
 *   TAPDISK_URING_BATCH          requests per io_uring_submit, 1..TD_ENGINE_BATCH (default 4,
 *                                docs/PERFORMANCE.md; N > 1: full batches, the rest at the
 *                                end of the loop iteration or at the next poll; 1: each as
 *                                soon as it is queued)
 *   TAPDISK_URING_FIXED_BUFFERS  on/off: register the ring's bounce pool as a fixed buffer
 *                                (td_engine_register_buffer) and its persistent-grant pages
 *                                as fixed pages where the kernel pins them
 *                                (td_engine_register_page), and use READ_FIXED/WRITE_FIXED
 *   TAPDISK_URING_SQPOLL         on/off: a kernel thread polls the submission queue
 *                                (IORING_SETUP_SQPOLL); refused by the kernel: logged, without
 *   TAPDISK_URING_SQPOLL_CPU     the CPU that thread is bound to (IORING_SETUP_SQ_AFF)
 */
/* the variables' names: ringtap/driver.h (TD_URING_*_ENV) */
#define TD_URING_BATCH_DEFAULT 4
#define TD_URING_FIXED_BUFFERS_DEFAULT false

struct td_engine_tuning {
	unsigned int batch;
	bool fixed_buffers;
	bool sqpoll;
	int sqpoll_cpu; /* -1: none given */
};

/* The settings from the environment (td_engine_open does it for each engine). */
void td_engine_tuning_read(struct td_engine_tuning *t);
/* For backends: the engine's settings, and the batch size to use (0: all that is queued, at
 * once; the default until a backend's setup sets one). */
const struct td_engine_tuning *td_engine_tuning(const struct td_engine *e);
void td_engine_set_batch(struct td_engine *e, unsigned int batch);

/* The backends, NULL-terminated, in the order `auto` tries them: io_uring (when built with
 * liburing), then libaio. */
extern const struct td_engine_ops *const td_engine_backends[];

/* The backend of the first that sets up for the file (the kernel may refuse io_uring: a sysctl,
 * a seccomp filter, an old kernel); passing one over is logged once per process and reason. */
#define TD_ENGINE_AUTO "auto"

struct td_engine_conf {
	struct td_loop *loop;
	int fd; /* every request of the engine goes to this file */
	const char *who; /* for the log ("aio", "vhd") */
	const char *backend; /* a td_engine_backends name or TD_ENGINE_AUTO (NULL: auto) */
	const struct td_engine_ops *ops; /* a backend of the caller's own (tests); overrides */
	/* Optional: runs after each batch of completions (e.g. to kick a parent image). */
	void (*after_reap)(void *arg);
	void *arg;
};

/* A new engine for c->fd, registered with c->loop. 0 or -errno (-ENOENT: no such backend in
 * this build; a named backend's own error when it cannot set up: no fallback but auto's). */
int td_engine_open(struct td_engine **out, const struct td_engine_conf *c);
/* Waits until the kernel is done with every request in flight (their buffers may be freed
 * after this), then releases the engine. Requests queued, in flight or to be completed later
 * are not reported: the owner drains before closing, or is going away. */
void td_engine_close(struct td_engine *e);

/* Queue one request; td_engine_kick starts the queue (one system call per batch). When the
 * engine has `depth` requests in flight, the rest wait in the queue: never failed for it. */
void td_engine_read(struct td_engine *e, struct td_engine_req *r, const struct iovec *iov,
		    int iovcnt, uint64_t off, td_engine_done_fn done);
void td_engine_write(struct td_engine *e, struct td_engine_req *r, const struct iovec *iov,
		     int iovcnt, uint64_t off, td_engine_done_fn done);
void td_engine_fsync(struct td_engine *e, struct td_engine_req *r, td_engine_done_fn done);
/* Deallocates [off, off + len): the range reads zeros afterwards. A hole punched through the
 * backend when it can (io_uring: IORING_OP_FALLOCATE), otherwise fallocate(2) or, on a block
 * device, the BLKDISCARD ioctl, synchronously in the caller's loop iteration; done runs later
 * either way. -EOPNOTSUPP when the file system cannot punch holes. */
void td_engine_discard(struct td_engine *e, struct td_engine_req *r, uint64_t off, uint64_t len,
		       td_engine_done_fn done);
void td_engine_kick(struct td_engine *e);

/*
 * Fixed buffers: registers [base, base + len) (len 0: unregisters) with the backend, which then
 * moves the reads and writes whose buffers lie inside it without pinning pages per request
 * (io_uring: IORING_OP_READ_FIXED/WRITE_FIXED, when TAPDISK_URING_FIXED_BUFFERS is on).
 * The caller owns the memory and must unregister it before it unmaps it (a later mapping at
 * the same address would otherwise be taken for it); requests in flight keep the pages they
 * use. 0, or -errno when the backend cannot (then requests go as before: nothing changes).
 */
int td_engine_register_buffer(struct td_engine *e, void *base, size_t len);

/*
 * Fixed pages: registers the page at addr (4096 bytes, aligned) as page `slot` (0, 1, ...: the
 * caller's numbering, a persistent-grant cache's entries), replacing the slot's page; NULL
 * unregisters it. A read or write of one iovec inside a registered page then goes as
 * READ_FIXED/WRITE_FIXED on it (io_uring, TAPDISK_URING_FIXED_BUFFERS on), found by its
 * address: whichever layer split or forwarded the I/O. The same ownership rules as the region's.
 * A kernel that refuses to pin a page (a file on a disk file system: EFAULT; RLIMIT_MEMLOCK)
 * is said once per engine (info), and no page is registered on that engine any more: their I/Os
 * go as before. 0, or -errno when the backend cannot or will not.
 */
int td_engine_register_page(struct td_engine *e, uint32_t slot, void *addr);

/* The backend's counters for `tap-ctl stats` (images[].driver_stats; io_uring: fixed_ios,
 * fixed_page_ios, fixed_pages, engine_uring.c): how many, at most max. */
int td_engine_counters(const struct td_engine *e, struct td_counter *out, int max);

/* Completes r (r->done set) with res from the loop, later: for work done without the kernel's
 * queue (a discard, a refused operation) so that done never runs inside a submit. */
void td_engine_complete_later(struct td_engine *e, struct td_engine_req *r, int res);

/* Adaptive polling: completes what has finished without a system call and starts what was
 * waiting. How many completed, or -errno (-EOPNOTSUPP when completions can only be read
 * with a system call; another error when reaping failed). */
int td_engine_poll(struct td_engine *e);

/* Requests given to the kernel and not completed yet. */
unsigned int td_engine_inflight(const struct td_engine *e);

/* For backends: their private state and the engine's identity. */
void *td_engine_backend_data(const struct td_engine *e);
void td_engine_set_backend_data(struct td_engine *e, void *data);
const char *td_engine_who(const struct td_engine *e);

/* The backend in use ("libaio", "io_uring"): what `tap-ctl stats` shows per image. */
const char *td_engine_name(const struct td_engine *e);
/* The backend an image's open flags ask for (TD_OPEN_ENGINE_*): a name or TD_ENGINE_AUTO. */
const char *td_engine_backend_of(unsigned int td_open_flags);

#endif
