/* The storage-migration mirror (src/mirror.h): an image in front of the VBD's image that sends
 * each write (and each flush, when the secondary takes them) to the NBD client as well, and
 * answers once both are done. blktap3's order: the secondary's command first, then the image's.
 * Completions of the secondary are delivered from a before-sleep hook, never from inside a
 * submit. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ringtap/driver.h"
#include "ringtap/log.h"
#include "src/loop.h"
#include "src/mirror.h"
#include "src/nbd_client.h"

#define WATCHDOG_NS (1000ull * 1000 * 1000)

struct td_mirror;

/* One mirrored I/O: the caller's td_io, with its done/data saved while the image has it. */
struct mirror_io {
	struct td_mirror *m;
	struct mirror_io *prev, *next; /* waiting for the secondary (oldest first), or free */
	struct td_io *io;
	void (*done)(struct td_io *io, int err);
	void *data;
	int err; /* the image's result: the caller's */
	bool on_image, on_secondary;
	bool ready; /* both done; in the ready list */
	struct mirror_io *ready_next;
	uint64_t start_ns;
	void *buf; /* the write's data, contiguous */
	size_t len, cap;
};

struct td_mirror {
	struct td_loop *loop;
	struct td_image img; /* what the ring and the NBD export submit to */
	struct td_image *lower;
	struct td_nbdc *nbd; /* NULL once retired */
	bool failed;
	uint64_t size;
	bool can_flush;
	uint64_t timeout_ns;
	struct mirror_io *head, *tail; /* on the secondary */
	struct mirror_io *ready; /* both done, to complete from the hook */
	struct mirror_io *free;
	struct td_loop_hook hook;
	struct td_loop_timer watchdog;
	struct td_mirror_stats st;
	char name[256];
	char why[256];
	char protocol[32];
};

static void list_remove(struct td_mirror *m, struct mirror_io *x)
{
	if (x->prev)
		x->prev->next = x->next;
	else
		m->head = x->next;
	if (x->next)
		x->next->prev = x->prev;
	else
		m->tail = x->prev;
	x->prev = x->next = NULL;
}

static void list_append(struct td_mirror *m, struct mirror_io *x)
{
	x->next = NULL;
	x->prev = m->tail;
	if (m->tail)
		m->tail->next = x;
	else
		m->head = x;
	m->tail = x;
}

/* Retires the secondary (once): writes go on to the image alone. The connection is closed and
 * the writes it still had are written off from the hook, outside any libnbd callback. */
static void mirror_fail(struct td_mirror *m, const char *why)
{
	if (m->failed)
		return;
	m->failed = true;
	m->st.failures++;
	snprintf(m->why, sizeof(m->why), "%s", why);
	rt_err("mirror %s: secondary failed: %s; the VBD goes on without it (nbd_mirror_failed)",
	       m->name, why);
}

/* The secondary's half is done: with the image's done too, the hook answers. */
static void maybe_ready(struct td_mirror *m, struct mirror_io *x)
{
	if (x->on_image || x->ready)
		return;
	x->ready = true;
	x->ready_next = m->ready;
	m->ready = x;
}

static void secondary_done(void *data, int err)
{
	struct mirror_io *x = data;
	struct td_mirror *m = x->m;

	if (!x->on_secondary)
		return; /* written off already */
	if (err) {
		char why[128];

		snprintf(why, sizeof(why), "%s at byte %llu failed: %s",
			 x->io->op == TD_IO_FLUSH ? "flush" : "write",
			 (unsigned long long)(x->io->sector << 9), strerror(-err));
		mirror_fail(m, why);
	} else if (x->io->op == TD_IO_FLUSH) {
		m->st.flushes++;
	} else {
		m->st.writes++;
		m->st.bytes_written += x->len;
	}
	x->on_secondary = false;
	list_remove(m, x);
	maybe_ready(m, x);
}

static void put_io(struct td_mirror *m, struct mirror_io *x)
{
	x->next = m->free;
	m->free = x;
}

/* The image's half, from the loop (a driver's completion): with the secondary's done, answer. */
static void image_done(struct td_io *io, int err)
{
	struct mirror_io *x = io->data;

	io->done = x->done;
	io->data = x->data;
	x->err = err;
	x->on_image = false;
	if (!x->on_secondary) {
		put_io(x->m, x);
		io->done(io, err);
	}
}

static void dead(void *data, const char *why)
{
	mirror_fail(data, why);
}

static bool mirror_hook(struct td_loop *loop, void *data)
{
	struct td_mirror *m = data;
	bool done_some = m->ready != NULL;
	struct mirror_io *x;

	if (m->failed && m->nbd) {
		while ((x = m->head)) {
			x->on_secondary = false;
			list_remove(m, x);
			maybe_ready(m, x);
		}
		td_nbdc_close(m->nbd, false);
		m->nbd = NULL;
		td_loop_timer_cancel(loop, &m->watchdog);
		done_some = m->ready != NULL;
	}
	while ((x = m->ready)) {
		struct td_io *io = x->io;
		int err = x->err;

		m->ready = x->ready_next;
		x->ready = false;
		put_io(m, x);
		io->done(io, err);
	}
	/* answers given here are pushed by the ring's hook on the next pass */
	return done_some;
}

static void watchdog(struct td_loop *loop, struct td_loop_timer *t, void *data)
{
	struct td_mirror *m = data;
	char why[96];

	if (m->head && td_loop_now_ns() - m->head->start_ns > m->timeout_ns) {
		snprintf(why, sizeof(why), "no reply for %llu s",
			 (unsigned long long)(m->timeout_ns / 1000000000));
		mirror_fail(m, why);
	}
}

static struct mirror_io *get_io(struct td_mirror *m, size_t len)
{
	struct mirror_io *x = m->free;

	if (x)
		m->free = x->next;
	else if (!(x = calloc(1, sizeof(*x))))
		return NULL;
	x->m = m;
	x->next = x->prev = NULL;
	if (len > x->cap) {
		void *b = realloc(x->buf, len);

		if (!b) {
			put_io(m, x);
			return NULL;
		}
		x->buf = b;
		x->cap = len;
	}
	return x;
}

static size_t io_bytes(const struct td_io *io)
{
	size_t n = 0;

	for (int i = 0; i < io->iovcnt; i++)
		n += io->iov[i].iov_len;
	return n;
}

static void m_submit(struct td_image *img, struct td_io *io)
{
	struct td_mirror *m = img->priv;
	bool mirrored = m->nbd && !m->failed &&
			(io->op == TD_IO_WRITE || (io->op == TD_IO_FLUSH && m->can_flush));
	struct mirror_io *x;
	size_t len = 0;
	int rc;

	if (!mirrored) { /* reads, discards (a discard promises no content), or no secondary */
		td_image_submit(m->lower, io);
		return;
	}
	if (io->op == TD_IO_WRITE)
		len = io_bytes(io);
	x = get_io(m, len);
	if (!x) {
		mirror_fail(m, "out of memory");
		td_image_submit(m->lower, io);
		return;
	}
	if (io->op == TD_IO_WRITE) {
		size_t off = 0;

		for (int i = 0; i < io->iovcnt; i++) {
			memcpy((char *)x->buf + off, io->iov[i].iov_base, io->iov[i].iov_len);
			off += io->iov[i].iov_len;
		}
		rc = td_nbdc_pwrite(m->nbd, x->buf, len, io->sector << 9, secondary_done, x);
	} else {
		rc = td_nbdc_flush(m->nbd, secondary_done, x);
	}
	if (rc < 0) {
		char why[64];

		snprintf(why, sizeof(why), "cannot queue a command: %s", strerror(-rc));
		mirror_fail(m, why);
		put_io(m, x);
		td_image_submit(m->lower, io);
		return;
	}
	x->io = io;
	x->len = len;
	x->done = io->done;
	x->data = io->data;
	x->err = 0;
	x->on_image = x->on_secondary = true;
	x->ready = false;
	x->start_ns = td_loop_now_ns();
	list_append(m, x);
	io->done = image_done;
	io->data = x;
	td_image_submit(m->lower, io);
}

static void m_kick(struct td_image *img)
{
	struct td_mirror *m = img->priv;

	td_image_kick(m->lower);
}

static int m_poll(struct td_image *img)
{
	struct td_mirror *m = img->priv;

	return td_image_poll(m->lower);
}

static void m_info(const struct td_image *img, struct td_image_info *info)
{
	const struct td_mirror *m = img->priv;

	*info = m->lower->info;
}

static int m_open(struct td_image *img, const char *path, unsigned int flags)
{
	return -EINVAL; /* never opened by name */
}

static void m_close(struct td_image *img)
{
}

static void m_register_buffer(struct td_image *img, void *base, size_t len)
{
	struct td_mirror *m = img->priv;

	td_image_register_buffer(m->lower, base, len);
}

static void m_register_page(struct td_image *img, uint32_t slot, void *addr)
{
	struct td_mirror *m = img->priv;

	td_image_register_page(m->lower, slot, addr);
}

static const struct td_driver_ops mirror_ops = {
	.name = "mirror",
	.open = m_open,
	.close = m_close,
	.submit = m_submit,
	.kick = m_kick,
	.info = m_info,
	.poll = m_poll,
	.register_buffer = m_register_buffer,
	.register_page = m_register_page,
};

static uint64_t timeout_ns(void)
{
	const char *env = getenv(TD_MIRROR_TIMEOUT_ENV);
	char *end;
	unsigned long s;

	if (!env || !*env)
		return TD_MIRROR_TIMEOUT_DEFAULT * 1000000000ull;
	errno = 0;
	s = strtoul(env, &end, 10);
	if (errno || *end || s < 1 || s > 86400) {
		rt_warn("%s=%s is not a number of seconds (1 to 86400): %d s",
			TD_MIRROR_TIMEOUT_ENV, env, TD_MIRROR_TIMEOUT_DEFAULT);
		return TD_MIRROR_TIMEOUT_DEFAULT * 1000000000ull;
	}
	return s * 1000000000ull;
}

struct td_mirror *td_mirror_create(struct td_loop *loop, const char *name, int fd, const char *why)
{
	struct td_mirror *m = calloc(1, sizeof(*m));
	struct td_nbdc_info info;
	char err[200];

	if (!m) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	m->loop = loop;
	m->timeout_ns = timeout_ns();
	snprintf(m->name, sizeof(m->name), "%s", name);
	m->img.ops = &mirror_ops;
	m->img.loop = loop;
	m->img.priv = m;
	snprintf(m->img.name, sizeof(m->img.name), "mirror:%s", name);
	td_loop_hook_add(loop, &m->hook, mirror_hook, m);
	if (fd < 0) {
		mirror_fail(m, why);
		return m;
	}
	if (td_nbdc_connect(loop, fd, NULL, TD_MIRROR_HANDSHAKE_MS, dead, m, &m->nbd, err,
			    sizeof(err)) < 0) {
		m->nbd = NULL;
		mirror_fail(m, err);
		return m;
	}
	td_nbdc_info(m->nbd, &info);
	m->size = info.size;
	m->can_flush = info.can_flush;
	snprintf(m->protocol, sizeof(m->protocol), "%s", info.protocol);
	td_loop_timer_arm(loop, &m->watchdog, WATCHDOG_NS, WATCHDOG_NS, watchdog, m);
	rt_info("mirror %s: connected (%s handshake, %llu bytes%s)", m->name, m->protocol,
		(unsigned long long)m->size, m->can_flush ? ", flushes" : "");
	return m;
}

void td_mirror_destroy(struct td_mirror *m)
{
	struct mirror_io *x;

	if (!m)
		return;
	if (m->head || m->ready)
		rt_err("mirror %s: destroyed with I/O in flight", m->name);
	td_loop_timer_cancel(m->loop, &m->watchdog);
	td_loop_hook_del(m->loop, &m->hook);
	if (m->nbd) {
		td_nbdc_close(m->nbd, true);
		rt_info("mirror %s: disconnected", m->name);
	}
	while ((x = m->free)) {
		m->free = x->next;
		free(x->buf);
		free(x);
	}
	free(m);
}

struct td_image *td_mirror_image(struct td_mirror *m, struct td_image *lower)
{
	m->lower = lower;
	if (lower)
		m->img.info = lower->info;
	return &m->img;
}

bool td_mirror_size_differs(const struct td_mirror *m, uint64_t bytes)
{
	return m->nbd && !m->failed && m->size != bytes;
}

void td_mirror_stats(const struct td_mirror *m, struct td_mirror_stats *st)
{
	*st = m->st;
	st->name = m->name;
	st->connected = m->nbd && !m->failed;
	st->failed = m->failed;
	st->why = m->failed ? m->why : "";
	st->protocol = m->nbd ? m->protocol : "";
	st->size = m->nbd ? m->size : 0;
	st->inflight = m->nbd ? td_nbdc_inflight(m->nbd) : 0;
}
