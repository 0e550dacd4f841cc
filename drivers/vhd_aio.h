/* The vhd driver's asynchronous I/O: one libaio context per image file, an eventfd in the loop,
 * completions read from the kernel's completion ring in user space (adaptive polling reaps them
 * without a system call), and a uniform request object that every step of the driver uses. */
#ifndef TD_DRIVERS_VHD_AIO_H
#define TD_DRIVERS_VHD_AIO_H

#include <libaio.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "drivers/aio_ring.h"
#include "src/loop.h"

struct vaio;
struct vreq;

/* res: 0 or -errno (a short transfer is -EIO). Runs from the loop, never from inside a submit. */
typedef void (*vreq_fn)(struct vreq *r, int res);

/* One step of the driver: an aio (read, write, fdsync) or a wait (for a bitmap, a sync, a block
 * allocation). The owner allocates it with vreq_new and frees it with vreq_free. */
struct vreq {
	struct iocb cb;
	vreq_fn fn;
	vreq_fn then; /* where a multi-step request goes when the steps are done */
	size_t len; /* bytes the aio must transfer (0: fdsync) */
	int res;
	struct vreq *next; /* for the queue it waits in */
	/* what the request works for (drivers/vhd*.c's meaning) */
	void *layer; /* the image layer it belongs to */
	void *owner; /* what it waits for or serves (an allocation, a flush) */
	struct td_io *io; /* the guest I/O it is part of, or NULL */
	uint64_t sector; /* first sector (of the image) */
	uint32_t count; /* sectors */
	uint32_t block;
	size_t io_off; /* byte offset of this piece in the guest I/O */
	int iovcnt;
	struct iovec iov[]; /* the slice of the guest I/O's buffers */
};

struct vreq *vreq_new(int iovcnt);
void vreq_free(struct vreq *r);

struct vaio {
	int fd;
	int efd;
	io_context_t ctx;
	struct aio_ring_reader events; /* completions, from user space where the ring allows */
	unsigned int inflight;
	bool no_aio_fsync; /* the kernel refused IOCB_CMD_FDSYNC: fdatasync in the loop */
	struct vreq *head, *tail; /* queued for the next io_submit */
	struct vreq *fail_head,
		*fail_tail; /* completed without the kernel, reported from the loop */
	struct td_loop *loop;
	struct td_loop_file efile;
	void (*after_reap)(void *arg); /* runs after a batch of completions (to submit more) */
	void *arg;
};

/* The context for `fd`; completions wake the loop. 0 or -errno. */
int vaio_init(struct vaio *a, struct td_loop *loop, int fd, void (*after_reap)(void *arg),
	      void *arg);
/* Waits for what is in flight (the owner normally drains first), then releases the context. */
void vaio_fini(struct vaio *a);

/* Queues one aio; submitted by vaio_kick. */
void vaio_read(struct vaio *a, struct vreq *r, uint64_t off, vreq_fn fn);
void vaio_write(struct vaio *a, struct vreq *r, uint64_t off, vreq_fn fn);
/* A write of one buffer (metadata): r->iov[0] must exist (vreq_new(1)). */
void vaio_write_buf(struct vaio *a, struct vreq *r, void *buf, size_t len, uint64_t off,
		    vreq_fn fn);
void vaio_fdsync(struct vaio *a, struct vreq *r, vreq_fn fn);
/* Completes r with res from the loop, later (never from the caller's stack). */
void vaio_complete_later(struct vaio *a, struct vreq *r, int res);
void vaio_kick(struct vaio *a);
/* Completes what has finished without a system call; how many, or -EOPNOTSUPP when the
 * completion ring's layout is unknown. */
int vaio_poll(struct vaio *a);

#endif
