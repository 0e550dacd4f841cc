/* The libaio backend of the I/O engine: one kernel AIO context per engine, one preallocated iocb
 * per slot of the depth (no allocation per I/O), batched io_submit, completions read from the
 * kernel's completion ring in user space (aio_ring.c) or with io_getevents. */
#include <errno.h>
#include <libaio.h>
#include <stdlib.h>
#include <time.h>

#include "drivers/aio_ring.h"
#include "drivers/engine.h"
#include "ringtap/log.h"

struct engine_aio {
	io_context_t ctx;
	struct aio_ring_reader events; /* completions, from user space where the ring allows */
	int fd;
	int efd;
	struct iocb *slots; /* depth of them */
	unsigned int *free; /* indexes of the free slots, a stack */
	unsigned int nfree;
};

static void engine_aio_free(struct engine_aio *a)
{
	free(a->slots);
	free(a->free);
	free(a);
}

static int engine_aio_setup(struct td_engine *e, int fd, int efd, unsigned int depth)
{
	struct engine_aio *a = calloc(1, sizeof(*a));
	int rc;

	if (!a)
		return -ENOMEM;
	a->fd = fd;
	a->efd = efd;
	a->slots = calloc(depth, sizeof(*a->slots));
	a->free = calloc(depth, sizeof(*a->free));
	if (!a->slots || !a->free) {
		engine_aio_free(a);
		return -ENOMEM;
	}
	for (unsigned int i = 0; i < depth; i++)
		a->free[i] = depth - 1 - i;
	a->nfree = depth;
	rc = io_setup((int)depth, &a->ctx);
	if (rc < 0) {
		engine_aio_free(a);
		return rc;
	}
	if (!aio_ring_reader_init(&a->events, a->ctx, td_engine_who(e)))
		rt_warn("%s: unknown completion ring layout; completions through io_getevents",
			td_engine_who(e));
	td_engine_set_backend_data(e, a);
	return 0;
}

static void engine_aio_teardown(struct td_engine *e)
{
	struct engine_aio *a = td_engine_backend_data(e);

	io_destroy(a->ctx); /* waits for what is still in flight */
	engine_aio_free(a);
	td_engine_set_backend_data(e, NULL);
}

static void slot_put(struct engine_aio *a, struct iocb *cb)
{
	a->free[a->nfree++] = (unsigned int)(cb - a->slots);
}

static int engine_aio_submit(struct td_engine *e, struct td_engine_req **reqs, int n)
{
	struct engine_aio *a = td_engine_backend_data(e);
	struct iocb *cbs[TD_ENGINE_BATCH];
	int rc;

	/* the engine never has more in flight than the depth: there is a slot for each */
	for (int i = 0; i < n; i++) {
		struct td_engine_req *r = reqs[i];
		struct iocb *cb = &a->slots[a->free[--a->nfree]];

		switch (r->op) {
		case TD_ENGINE_READ:
			io_prep_preadv(cb, a->fd, r->iov, r->iovcnt, (long long)r->off);
			break;
		case TD_ENGINE_WRITE:
			io_prep_pwritev(cb, a->fd, r->iov, r->iovcnt, (long long)r->off);
			break;
		default:
			io_prep_fdsync(cb, a->fd);
			break;
		}
		cb->data = r;
		io_set_eventfd(cb, a->efd);
		cbs[i] = cb;
	}
	rc = io_submit(a->ctx, n, cbs);
	/* the slots of what the kernel did not take are free again */
	for (int i = n - 1; i >= (rc > 0 ? rc : 0); i--)
		slot_put(a, cbs[i]);
	return rc;
}

static int engine_aio_reap(struct td_engine *e, struct td_engine_cqe *out, int max, bool wait)
{
	struct engine_aio *a = td_engine_backend_data(e);
	struct io_event ev[TD_ENGINE_REAP];
	struct timespec second = { 1, 0 };
	int n;

	if (max > TD_ENGINE_REAP)
		max = TD_ENGINE_REAP;
	if (wait)
		n = io_getevents(a->ctx, 1, max, ev, &second);
	else
		n = aio_ring_get_events(&a->events, ev, max);
	for (int i = 0; i < n; i++) {
		slot_put(a, ev[i].obj);
		out[i].req = ev[i].data;
		out[i].res = (long)ev[i].res;
	}
	return n;
}

static bool engine_aio_reap_in_user_space(const struct td_engine *e)
{
	const struct engine_aio *a = td_engine_backend_data(e);

	return aio_ring_reader_user(&a->events);
}

const struct td_engine_ops td_engine_libaio = {
	.name = "libaio",
	.setup = engine_aio_setup,
	.teardown = engine_aio_teardown,
	.submit = engine_aio_submit,
	.reap = engine_aio_reap,
	.reap_in_user_space = engine_aio_reap_in_user_space,
};
