/* A VBD's NBD export: lib/nbd's server registered on tapdisk's loop, each request turned into a
 * td_io on the VBD's current image, counted by the VBD so that a pause drains it like the
 * ring's; while the VBD is paused requests are held (bounded by the server's per-client budget)
 * and go to the reopened image on resume. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ringtap/ctl.h"
#include "ringtap/driver.h"
#include "ringtap/log.h"
#include "ringtap/nbd.h"
#include "src/blkif_req.h"
#include "src/fd_receiver.h"
#include "src/loop.h"
#include "src/nbd_export.h"
#include "src/vbd.h"

/* WRITE_ZEROES is written from one shared zeroed buffer, this much per I/O. */
#define ZERO_CHUNK (1u << 20)
/* Seconds a connected NBD client with nothing in flight keeps its slot from a new client. */
#define TD_NBD_IDLE_TIMEOUT_ENV "TAPDISK_NBD_IDLE_TIMEOUT"

struct td_nbd_export {
	struct td_loop *loop;
	struct td_vbd *vbd;
	struct nbd_server *srv;
	/* nbdserver<pid>.<minor> (old-style) and nbdserver-new<pid>.<minor>: sockets passed to
	 * the export (XAPI's storage migration, this VBD the destination) */
	struct td_fd_receiver *recv_old, *recv_new;
	struct td_loop_file file;
	struct td_loop_hook hook;
	bool readonly;
	bool was_paused; /* the export's size and flags are refreshed on resume */
	bool destroyed; /* freed by the last completion */
	void *zeroes; /* ZERO_CHUNK of zeroes, read-only */
	struct nbd_io *held, *held_tail; /* requests waiting for a resume */
	struct td_nbd_stats stats;
	char image[512]; /* description: "type:path" */
};

/* One request's I/O, in the request's embedder area. */
struct nbd_io {
	struct td_io io;
	struct iovec iov;
	struct td_nbd_export *e;
	struct nbd_request *req;
	uint8_t op;
	uint64_t next, end; /* bytes: the next I/O's offset, the request's end */
	void *buf;
	uint64_t start_ns;
	struct nbd_io *held_next;
};

static void io_done(struct td_io *io, int err);

static void free_export(struct td_nbd_export *e)
{
	if (e->zeroes)
		munmap(e->zeroes, ZERO_CHUNK);
	free(e);
}

/* Starts the next I/O of p (a read, a write, a flush, a discard or a chunk of zeroes). */
static void submit(struct td_nbd_export *e, struct nbd_io *p)
{
	struct td_image *img = td_vbd_io_image(e->vbd);
	uint64_t len = p->end - p->next;

	if (!td_vbd_serving(e->vbd) || !img) {
		p->held_next = NULL;
		if (e->held_tail)
			e->held_tail->held_next = p;
		else
			e->held = p;
		e->held_tail = p;
		e->stats.queued++;
		return;
	}
	memset(&p->io, 0, sizeof(p->io));
	p->io.op = p->op;
	p->io.sector = p->next >> TD_SECTOR_SHIFT;
	p->io.done = io_done;
	p->io.data = p;
	if (p->op == TD_OP_READ || p->op == TD_OP_WRITE) {
		if (p->buf == e->zeroes) /* WRITE_ZEROES: chunk by chunk from the zeroed buffer */
			len = len < ZERO_CHUNK ? len : ZERO_CHUNK;
		p->iov = (struct iovec){ p->buf, len };
		p->io.iov = &p->iov;
		p->io.iovcnt = 1;
	} else if (p->op == TD_OP_DISCARD) {
		p->io.nr_sectors = len >> TD_SECTOR_SHIFT;
	}
	e->stats.inflight++;
	td_vbd_io_begin(e->vbd);
	td_image_submit(img, &p->io);
	td_image_kick(img);
}

static void account(struct td_nbd_export *e, const struct nbd_io *p, int err)
{
	uint64_t us = (td_loop_now_ns() - p->start_ns) / 1000;

	if (err) {
		if (p->op == TD_OP_READ)
			e->stats.read_errors++;
		else if (p->op == TD_OP_WRITE && p->buf != e->zeroes)
			e->stats.write_errors++;
		else
			e->stats.other_errors++;
		return;
	}
	switch (p->op) {
	case TD_OP_READ:
		e->stats.reads++;
		e->stats.bytes_read += p->iov.iov_len;
		e->stats.read_us += us;
		break;
	case TD_OP_WRITE:
		if (p->buf == e->zeroes) {
			e->stats.zeroes++;
		} else {
			e->stats.writes++;
			e->stats.bytes_written += p->iov.iov_len;
			e->stats.write_us += us;
		}
		break;
	case TD_OP_FLUSH:
		e->stats.flushes++;
		break;
	case TD_OP_DISCARD:
		e->stats.trims++;
		break;
	}
}

static void io_done(struct td_io *io, int err)
{
	struct nbd_io *p = io->data;
	struct td_nbd_export *e = p->e;

	e->stats.inflight--;
	td_vbd_io_end(e->vbd);
	if (!err && p->buf == e->zeroes && p->op == TD_OP_WRITE) {
		p->next += p->iov.iov_len;
		if (p->next < p->end && !e->destroyed) {
			submit(e, p);
			return;
		}
	}
	account(e, p, err);
	nbd_request_complete(p->req, err); /* p is gone with it */
	if (e->destroyed && !e->stats.inflight)
		free_export(e);
}

static int start(void *o, struct nbd_request *req, uint8_t op, uint64_t off, uint64_t len,
		 void *buf)
{
	struct td_nbd_export *e = o;
	struct nbd_io *p = nbd_request_priv(req);

	p->e = e;
	p->req = req;
	p->op = op;
	p->next = off;
	p->end = off + len;
	p->buf = buf;
	p->start_ns = td_loop_now_ns();
	submit(e, p);
	return 0;
}

static int x_read(void *o, struct nbd_request *req, uint64_t off, uint32_t len, void *buf)
{
	return start(o, req, TD_OP_READ, off, len, buf);
}

static int x_write(void *o, struct nbd_request *req, uint64_t off, uint32_t len, const void *buf)
{
	/* the buffer is the request's own; the image only reads it */
	return start(o, req, TD_OP_WRITE, off, len, (void *)buf);
}

static int x_flush(void *o, struct nbd_request *req)
{
	return start(o, req, TD_OP_FLUSH, 0, 0, NULL);
}

static int x_trim(void *o, struct nbd_request *req, uint64_t off, uint32_t len)
{
	return start(o, req, TD_OP_DISCARD, off, len, NULL);
}

/* Written, never discarded: an image's discard does not promise zeroes. */
static int x_write_zeroes(void *o, struct nbd_request *req, uint64_t off, uint32_t len,
			  bool may_trim)
{
	struct td_nbd_export *e = o;

	return start(o, req, TD_OP_WRITE, off, len, e->zeroes);
}

static const struct nbd_ops export_ops = {
	.read = x_read,
	.write = x_write,
	.flush = x_flush,
	.trim = x_trim,
	.write_zeroes = x_write_zeroes,
};

/* What NBD clients are told about the VBD's image (as last opened). */
static void describe(struct td_nbd_export *e, struct nbd_export *exp)
{
	struct td_vbd_info info;

	td_vbd_info(e->vbd, &info);
	memcpy(e->image, info.image, sizeof(e->image));
	e->image[sizeof(e->image) - 1] = '\0';
	*exp = (struct nbd_export){
		.name = "",
		.description = e->image,
		.size = info.sectors << TD_SECTOR_SHIFT,
		/* a flush is fdatasync of the image: it covers every connection's writes */
		.flags = NBD_EXPORT_FLUSH | NBD_EXPORT_MULTI_CONN,
	};
	if (e->readonly || (info.info & VDISK_READONLY))
		exp->flags |= NBD_EXPORT_READONLY;
	else
		exp->flags |= NBD_EXPORT_WRITE_ZEROES | (info.discard ? NBD_EXPORT_TRIM : 0);
}

static void on_nbd(struct td_loop *loop, int fd, uint32_t events, void *data)
{
	struct td_nbd_export *e = data;
	int err = nbd_server_dispatch(e->srv);

	if (err < 0)
		rt_err("nbd %s: %s", nbd_server_path(e->srv), strerror(-err));
}

/* Before sleeping: after a resume, the reopened image's size and flags, and the held requests. */
static bool before_sleep(struct td_loop *loop, void *data)
{
	struct td_nbd_export *e = data;
	struct nbd_export exp;
	struct nbd_io *p;

	if (!td_vbd_serving(e->vbd) || !td_vbd_image(e->vbd)) {
		e->was_paused = true;
		return false;
	}
	if (e->was_paused) {
		e->was_paused = false;
		describe(e, &exp);
		if (nbd_server_set_export(e->srv, &exp))
			rt_err("nbd %s: cannot update the export", nbd_server_path(e->srv));
	}
	while ((p = e->held)) {
		e->held = p->held_next;
		if (!e->held)
			e->held_tail = NULL;
		e->stats.queued--;
		submit(e, p);
	}
	return false;
}

/* $TAPDISK_NBD_IDLE_TIMEOUT in ms (seconds, fractions allowed, up to a day); 0 (the server's
 * default) when unset or invalid. */
static unsigned int idle_timeout_ms(void)
{
	const char *env = getenv(TD_NBD_IDLE_TIMEOUT_ENV);
	char *end;
	double s;

	if (!env || !*env)
		return 0;
	errno = 0;
	s = strtod(env, &end);
	if (errno || *end || !(s >= 0.001 && s <= 86400)) {
		rt_warn("%s=%s is not a number of seconds (0.001 to 86400): ignored",
			TD_NBD_IDLE_TIMEOUT_ENV, env);
		return 0;
	}
	return (unsigned int)(s * 1000);
}

/* A connection XAPI passed: served as any client, with the receiver's handshake. */
static void adopt(struct td_nbd_export *e, int fd, bool oldstyle)
{
	int err = nbd_server_adopt(e->srv, fd, oldstyle);

	if (err)
		rt_err("nbd %s: cannot serve a passed connection: %s", nbd_server_path(e->srv),
		       strerror(-err));
	else
		rt_info("nbd %s: serving a passed connection (%s)", nbd_server_path(e->srv),
			oldstyle ? "old-style" : "fixed newstyle");
}

static void received_old(int fd, const char *msg, void *data)
{
	adopt(data, fd, true);
}

static void received_new(int fd, const char *msg, void *data)
{
	adopt(data, fd, false);
}

static int start_receivers(struct td_nbd_export *e, int minor)
{
	char path[CTL_PATH_MAX];
	int err = ctl_nbdserver_path(getpid(), minor, false, path, sizeof(path));

	if (!err)
		err = td_fd_receiver_create(e->loop, path, received_old, e, &e->recv_old);
	if (!err)
		err = ctl_nbdserver_path(getpid(), minor, true, path, sizeof(path));
	if (!err)
		err = td_fd_receiver_create(e->loop, path, received_new, e, &e->recv_new);
	return err;
}

int td_nbd_export_create(struct td_loop *loop, struct td_vbd *vbd, int minor, bool readonly,
			 struct td_nbd_export **out)
{
	struct nbd_server_config cfg = {
		.min_block = 1u << TD_SECTOR_SHIFT, /* the image stack works in sectors */
		.priv_size = sizeof(struct nbd_io),
		.idle_timeout_ms = idle_timeout_ms(),
	};
	struct td_nbd_export *e = calloc(1, sizeof(*e));
	struct nbd_export exp;
	char path[CTL_PATH_MAX];
	int err;

	*out = NULL;
	if (!e)
		return -ENOMEM;
	e->loop = loop;
	e->vbd = vbd;
	e->readonly = readonly;
	e->zeroes = mmap(NULL, ZERO_CHUNK, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (e->zeroes == MAP_FAILED) {
		e->zeroes = NULL;
		free_export(e);
		return -ENOMEM;
	}
	err = nbd_socket_path(ctl_run_dir(), getpid(), minor, path, sizeof(path));
	if (!err) {
		cfg.path = path;
		describe(e, &exp);
		err = nbd_server_create(&cfg, &exp, &export_ops, e, &e->srv);
	}
	if (!err)
		err = td_loop_file_add(loop, &e->file, nbd_server_fd(e->srv), EPOLLIN, on_nbd, e);
	if (!err)
		err = start_receivers(e, minor);
	if (err) {
		td_fd_receiver_destroy(e->recv_old);
		td_fd_receiver_destroy(e->recv_new);
		td_loop_file_del(loop, &e->file);
		nbd_server_destroy(e->srv);
		free_export(e);
		return err;
	}
	td_loop_hook_add(loop, &e->hook, before_sleep, e);
	rt_info("minor %d: NBD export at %s", minor, path);
	*out = e;
	return 0;
}

void td_nbd_export_destroy(struct td_nbd_export *e)
{
	struct nbd_io *p;

	if (!e)
		return;
	td_fd_receiver_destroy(e->recv_old);
	td_fd_receiver_destroy(e->recv_new);
	td_loop_hook_del(e->loop, &e->hook);
	td_loop_file_del(e->loop, &e->file);
	while ((p = e->held)) {
		e->held = p->held_next;
		nbd_request_complete(p->req, -ESHUTDOWN);
	}
	e->held_tail = NULL;
	e->stats.queued = 0;
	nbd_server_destroy(e->srv); /* requests still on the image become orphans */
	e->srv = NULL;
	e->destroyed = true;
	if (!e->stats.inflight)
		free_export(e);
}

const char *td_nbd_export_path(const struct td_nbd_export *e)
{
	return nbd_server_path(e->srv);
}

void td_nbd_export_stats(const struct td_nbd_export *e, struct td_nbd_stats *out)
{
	*out = e->stats;
	out->clients = e->srv ? nbd_server_clients(e->srv) : 0;
}
