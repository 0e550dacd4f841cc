/* Reading libaio completions straight from the ring the kernel maps at the io_context_t
 * address (fs/aio.c's struct aio_ring), without a system call: what adaptive polling spins on.
 * Used by the I/O engine's libaio backend (engine_aio.c). */
#ifndef TD_AIO_RING_H
#define TD_AIO_RING_H

#include <libaio.h>
#include <stdbool.h>

struct aio_uring;

struct aio_ring_reader {
	io_context_t ctx;
	struct aio_uring *uring; /* NULL: a layout we do not know; io_getevents instead */
	unsigned int nr;
	const char *who; /* for the log */
};

/* Looks at the ring of `ctx`; false when its layout is unknown (reads use io_getevents). */
bool aio_ring_reader_init(struct aio_ring_reader *r, io_context_t ctx, const char *who);

/* True while completions can be read without a system call. */
static inline bool aio_ring_reader_user(const struct aio_ring_reader *r)
{
	return r->uring != NULL;
}

/* Up to `max` completed events, from user space when the ring allows it, or -errno when
 * io_getevents fails (a context the kernel does not know: -EINVAL). Only one consumer per
 * context: never mixed with another io_getevents caller. */
int aio_ring_get_events(struct aio_ring_reader *r, struct io_event *ev, int max);

#endif
