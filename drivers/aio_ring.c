/* libaio completions read from the kernel's ring in user space (see aio_ring.h). */
#include <time.h>

#include "drivers/aio_ring.h"
#include "ringtap/log.h"

/* The kernel writes an event, then publishes tail; the consumer reads events up to tail and
 * publishes head, which the kernel reads back to know how many slots it may reuse. */
struct aio_uring {
	unsigned int id;
	unsigned int nr; /* events in the ring */
	unsigned int head; /* consumer: next event to read */
	unsigned int tail; /* producer (kernel): next event to write */
	unsigned int magic;
	unsigned int compat_features;
	unsigned int incompat_features;
	unsigned int header_length; /* sizeof(struct aio_uring) */
	struct io_event io_events[];
};
#define AIO_RING_MAGIC 0xa10a10a1u
#define AIO_RING_INCOMPAT_FEATURES 0u

bool aio_ring_reader_init(struct aio_ring_reader *r, io_context_t ctx, const char *who)
{
	struct aio_uring *u = (struct aio_uring *)ctx;

	r->ctx = ctx;
	r->who = who;
	r->uring = NULL;
	r->nr = 0;
	if (!u || u->magic != AIO_RING_MAGIC || u->incompat_features != AIO_RING_INCOMPAT_FEATURES ||
	    u->header_length != sizeof(*u) || u->nr == 0)
		return false;
	r->uring = u;
	r->nr = u->nr;
	return true;
}

int aio_ring_get_events(struct aio_ring_reader *r, struct io_event *ev, int max)
{
	struct aio_uring *u = r->uring;
	struct timespec zero = { 0, 0 };
	unsigned int head, tail;
	int n = 0;

	if (u) {
		head = u->head;
		tail = __atomic_load_n(&u->tail, __ATOMIC_ACQUIRE); /* events before it are written */
		if (head < r->nr && tail < r->nr) {
			while (head != tail && n < max) {
				ev[n++] = u->io_events[head];
				if (++head == r->nr)
					head = 0;
			}
			if (n) /* the slots are read: the kernel may reuse them */
				__atomic_store_n(&u->head, head, __ATOMIC_RELEASE);
			return n;
		}
		/* Indexes out of range: not the ring we know. Leave it to the kernel from now on. */
		rt_warn("%s: completion ring indexes out of range; using io_getevents", r->who);
		r->uring = NULL;
	}
	/* an error is the caller's to handle, not "nothing completed": the I/Os in flight would
	 * wait for ever without a word */
	return io_getevents(r->ctx, 0, max, ev, &zero);
}
