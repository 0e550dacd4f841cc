/* The `nbd` driver: a remote NBD export, through tapdisk's one NBD client (src/nbd_client.h on
 * lib/nbd: the modern handshake with NBD_OPT_GO and structured replies; libnbd is not linked,
 * see that header). Open strings:
 *   nbd:unix:<socket path>[:exportname=<name>]
 *   nbd:tcp:<host>:<port>[:exportname=<name>]      (host: a name, an IPv4 or [IPv6] address)
 * exportname comes last and may contain ':'. No TLS: `tls=` is refused (docs/NBD.md says how to
 * reach a remote server safely). The size and read-only flag come from the export; reads and
 * writes are cut at the server's maximum block size, discards into pieces of at most 1 GiB
 * (TRIM, or WRITE_ZEROES where the server has no TRIM); flush is NBD_CMD_FLUSH (nothing where
 * the server has none: it then has no cache to flush).
 *
 * The connection's socket is on tapdisk's loop; nothing blocks but the first connection, at open
 * (at most TD_NBD_OPEN_TIMEOUT_MS). A lost connection is reconnected without blocking, with
 * exponential backoff (100 ms doubling to 5 s); the requests in flight and those submitted
 * meanwhile wait and are sent again on the new connection, each for at most
 * $TAPDISK_NBD_TIMEOUT seconds (default 60) from its submission, then fail with EIO; once the
 * server has been away that long, new requests fail at once until it is back. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ringtap/driver.h"
#include "ringtap/log.h"
#include "ringtap/nbd.h"
#include "src/loop.h"
#include "src/nbd_client.h"

#define TD_NBD_TIMEOUT_ENV "TAPDISK_NBD_TIMEOUT"
#define TD_NBD_TIMEOUT_DEFAULT 60 /* seconds */
#define TD_NBD_OPEN_TIMEOUT_MS 10000 /* the first connection and each reconnect's handshake */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define EXPIRE_TICK_NS 250000000ull
#define DISCARD_PIECE (1u << 30)
#define MS 1000000ull

/* Each td_io's driver space. */
struct nio {
	struct nbd_img *d;
	struct td_io *prev, *next; /* in the in-flight list */
	uint64_t t0_ns; /* submitted */
	uint32_t pending; /* pieces in flight */
	int32_t err;
};
_Static_assert(sizeof(struct nio) <= sizeof(((struct td_io *)0)->drv), "fits td_io's drv");

struct nbd_img {
	struct td_loop *loop;
	char addr[256]; /* for the log: the open string after "nbd:" without options */
	struct sockaddr_storage sa;
	socklen_t sa_len;
	char *export_name;
	struct td_nbdc *c; /* NULL while reconnecting */
	bool up; /* c's handshake done and c not failed */
	struct td_nbdc_info info;
	uint32_t max_piece; /* read/write bytes per command */
	struct td_io *inflight; /* sent on c */
	struct td_io *wait_head, *wait_tail; /* waiting for a connection */
	struct td_io *done_head, *done_tail; /* to complete from the loop (nio.err) */
	struct td_loop_timer reconnect, expire, attempt, defer;
	uint64_t down_since_ns; /* 0 while up */
	uint64_t timeout_ns;
	unsigned int backoff_ms;
	bool expired_logged;
	uint64_t reconnects, expired, completed;
};

static struct nio *nio(struct td_io *io)
{
	return (struct nio *)io->drv;
}

static void push(struct td_io **head, struct td_io **tail, struct td_io *io)
{
	io->next = NULL;
	if (*tail)
		(*tail)->next = io;
	else
		*head = io;
	*tail = io;
}

static void link_inflight(struct nbd_img *d, struct td_io *io)
{
	struct nio *n = nio(io);

	n->prev = NULL;
	n->next = d->inflight;
	if (d->inflight)
		nio(d->inflight)->prev = io;
	d->inflight = io;
}

static void unlink_inflight(struct nbd_img *d, struct td_io *io)
{
	struct nio *n = nio(io);

	if (n->prev)
		nio(n->prev)->next = n->next;
	else
		d->inflight = n->next;
	if (n->next)
		nio(n->next)->prev = n->prev;
}

static void on_defer(struct td_loop *loop, struct td_loop_timer *t, void *data)
{
	struct nbd_img *d = data;
	struct td_io *io;

	while ((io = d->done_head)) {
		d->done_head = io->next;
		if (!d->done_head)
			d->done_tail = NULL;
		d->completed++;
		io->done(io, nio(io)->err);
	}
}

/* Completes io with err from the loop (never inside submit). */
static void defer(struct nbd_img *d, struct td_io *io, int err)
{
	nio(io)->err = err;
	push(&d->done_head, &d->done_tail, io);
	if (!d->defer.armed)
		td_loop_timer_arm(d->loop, &d->defer, 0, 0, on_defer, d);
}

static void piece_done(void *data, int err)
{
	struct td_io *io = data;
	struct nio *n = nio(io);
	struct nbd_img *d = n->d;

	if (err && !n->err)
		n->err = err;
	if (--n->pending)
		return;
	unlink_inflight(d, io);
	d->completed++;
	io->done(io, n->err);
}

/* Queues io's commands on the connection. */
static void start(struct nbd_img *d, struct td_io *io)
{
	struct nio *n = nio(io);
	uint64_t off = io->sector << TD_SECTOR_SHIFT, left;
	size_t skip = 0;
	int err = 0;

	n->pending = 1; /* held while queueing */
	n->err = 0;
	link_inflight(d, io);
	switch (io->op) {
	case TD_IO_READ:
	case TD_IO_WRITE:
		for (int i = 0; i < io->iovcnt; i++)
			skip += io->iov[i].iov_len;
		left = skip;
		skip = 0;
		while (left && !err) {
			uint32_t len = left < d->max_piece ? (uint32_t)left : d->max_piece;

			n->pending++;
			err = io->op == TD_IO_READ ? td_nbdc_readv(d->c, io->iov, io->iovcnt, skip,
								   len, off, piece_done, io) :
						     td_nbdc_writev(d->c, io->iov, io->iovcnt, skip,
								    len, off, piece_done, io);
			skip += len;
			off += len;
			left -= len;
		}
		break;
	case TD_IO_FLUSH:
		if (d->info.can_flush) {
			n->pending++;
			err = td_nbdc_flush_queued(d->c, piece_done, io);
		}
		break;
	case TD_IO_DISCARD:
		left = io->nr_sectors << TD_SECTOR_SHIFT;
		while (left && !err) {
			uint32_t len = left < DISCARD_PIECE ? (uint32_t)left : DISCARD_PIECE;

			n->pending++;
			err = td_nbdc_discard(d->c, len, off, piece_done, io);
			off += len;
			left -= len;
		}
		break;
	default:
		err = -EOPNOTSUPP;
		n->pending++;
		break;
	}
	if (err == -ENOTCONN)
		return; /* the connection died: the loss requeues io with the others */
	if (err) {
		n->pending--; /* the piece that was refused */
		n->err = err;
	}
	if (--n->pending == 0) { /* nothing was sent (a flush without FLUSH) or all refused */
		unlink_inflight(d, io);
		defer(d, io, n->err);
	}
}

static void schedule_reconnect(struct nbd_img *d);

/* Reads and writes go in pieces of at most the server's maximum block, whole sectors. */
static void set_max_piece(struct nbd_img *d)
{
	d->max_piece = d->info.max_block < NBD_DEFAULT_MAX_REQUEST ? d->info.max_block :
								     NBD_DEFAULT_MAX_REQUEST;
	d->max_piece &= ~511u;
	if (!d->max_piece)
		d->max_piece = 512;
}
static void on_expire(struct td_loop *loop, struct td_loop_timer *t, void *data);

static void lost(struct nbd_img *d, const char *why)
{
	struct td_io *io, *requeue = NULL, *tail = NULL;

	td_nbdc_close(d->c, false);
	d->c = NULL;
	d->up = false;
	td_loop_timer_cancel(d->loop, &d->attempt);
	/* what was in flight goes first, in the order it was sent */
	while ((io = d->inflight)) {
		unlink_inflight(d, io);
		io->next = requeue;
		requeue = io;
		if (!tail)
			tail = io;
	}
	if (requeue) {
		tail->next = d->wait_head;
		d->wait_head = requeue;
		if (!d->wait_tail)
			d->wait_tail = tail;
	}
	if (!d->down_since_ns) {
		d->down_since_ns = td_loop_now_ns();
		d->expired_logged = false;
		rt_warn("nbd:%s: connection lost (%s); reconnecting, requests wait up to %llu s",
			d->addr, why, (unsigned long long)(d->timeout_ns / 1000000000ull));
		td_loop_timer_arm(d->loop, &d->expire, EXPIRE_TICK_NS, EXPIRE_TICK_NS, on_expire,
				  d);
	} else {
		rt_debug("nbd:%s: reconnect failed: %s", d->addr, why);
	}
	schedule_reconnect(d);
}

static void on_lost(struct td_loop *loop, struct td_loop_timer *t, void *data)
{
	lost(data, "the connection failed");
}

/* The client failed: dealt with from the loop, not inside the client's call. */
static void dead(void *data, const char *why)
{
	struct nbd_img *d = data;

	if (d->up)
		rt_warn("nbd:%.120s: %.120s", d->addr, why);
	else
		rt_debug("nbd:%.120s: %.120s", d->addr, why);
	d->up = false;
	td_loop_timer_arm(d->loop, &d->attempt, 0, 0, on_lost, d);
}

static void ready(void *data)
{
	struct nbd_img *d = data;
	struct td_nbdc_info info;
	struct td_io *io;

	td_loop_timer_cancel(d->loop, &d->attempt);
	td_nbdc_info(d->c, &info);
	if (info.size != d->info.size || (info.readonly && !d->info.readonly)) {
		rt_err("nbd:%s: the export changed (%llu bytes%s, was %llu): not using it", d->addr,
		       (unsigned long long)info.size, info.readonly ? ", read-only" : "",
		       (unsigned long long)d->info.size);
		td_loop_timer_arm(d->loop, &d->attempt, 0, 0, on_lost, d);
		return;
	}
	d->info = info;
	set_max_piece(d);
	d->up = true;
	d->reconnects++;
	rt_info("nbd:%s: reconnected after %llu ms", d->addr,
		(unsigned long long)((td_loop_now_ns() - d->down_since_ns) / MS));
	d->down_since_ns = 0;
	d->backoff_ms = 0;
	td_loop_timer_cancel(d->loop, &d->expire);
	while (d->up && (io = d->wait_head)) {
		d->wait_head = io->next;
		if (!d->wait_head)
			d->wait_tail = NULL;
		start(d, io);
	}
	if (d->up)
		td_nbdc_kick(d->c);
}

/* A socket connecting (non-blocking) to the export: the fd, or -errno. */
static int dial(struct nbd_img *d)
{
	int fd = socket(d->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (d->sa.ss_family != AF_UNIX) /* a request goes out at once, not after the last reply */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
	if (connect(fd, (struct sockaddr *)&d->sa, d->sa_len) < 0 && errno != EINPROGRESS) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static void on_attempt_timeout(struct td_loop *loop, struct td_loop_timer *t, void *data)
{
	lost(data, "no handshake in time");
}

static void on_reconnect(struct td_loop *loop, struct td_loop_timer *t, void *data)
{
	struct nbd_img *d = data;
	struct nbd_client_opts o = { .modern = true, .export_name = d->export_name };
	char why[200];
	int fd = dial(d);

	if (fd < 0) {
		rt_debug("nbd:%s: connect: %s", d->addr, strerror(-fd));
		schedule_reconnect(d);
		return;
	}
	if (td_nbdc_start(d->loop, fd, &o, ready, dead, d, &d->c, why, sizeof(why)) < 0) {
		rt_debug("nbd:%.120s: %.120s", d->addr, why);
		schedule_reconnect(d);
		return;
	}
	td_loop_timer_arm(d->loop, &d->attempt, TD_NBD_OPEN_TIMEOUT_MS * MS, 0, on_attempt_timeout,
			  d);
}

static void schedule_reconnect(struct nbd_img *d)
{
	d->backoff_ms = d->backoff_ms ? d->backoff_ms * 2 : BACKOFF_MIN_MS;
	if (d->backoff_ms > BACKOFF_MAX_MS)
		d->backoff_ms = BACKOFF_MAX_MS;
	td_loop_timer_arm(d->loop, &d->reconnect, d->backoff_ms * MS, 0, on_reconnect, d);
}

/* While disconnected: fails the requests that waited longer than the timeout. */
static void on_expire(struct td_loop *loop, struct td_loop_timer *t, void *data)
{
	struct nbd_img *d = data;
	uint64_t now = td_loop_now_ns();
	struct td_io *io, *keep = NULL, *keep_tail = NULL;
	unsigned int n = 0;

	while ((io = d->wait_head)) {
		d->wait_head = io->next;
		if (now - nio(io)->t0_ns >= d->timeout_ns) {
			n++;
			d->expired++;
			defer(d, io, -EIO);
		} else {
			push(&keep, &keep_tail, io);
		}
	}
	d->wait_head = keep;
	d->wait_tail = keep_tail;
	if (n || (!d->expired_logged && now - d->down_since_ns >= d->timeout_ns)) {
		if (!d->expired_logged)
			rt_err("nbd:%s: no connection for %llu s: failing requests with EIO until "
			       "the server is back",
			       d->addr,
			       (unsigned long long)((now - d->down_since_ns) / 1000000000ull));
		d->expired_logged = true;
	}
}

static uint64_t timeout_ns(void)
{
	const char *env = getenv(TD_NBD_TIMEOUT_ENV);
	unsigned long s;
	char *end;

	if (!env || !*env)
		return TD_NBD_TIMEOUT_DEFAULT * 1000000000ull;
	errno = 0;
	s = strtoul(env, &end, 10);
	if (errno || *end || s < 1 || s > 86400) {
		rt_warn("%s=%s is not a number of seconds (1 to 86400): %d s", TD_NBD_TIMEOUT_ENV,
			env, TD_NBD_TIMEOUT_DEFAULT);
		return TD_NBD_TIMEOUT_DEFAULT * 1000000000ull;
	}
	return s * 1000000000ull;
}

/* Parses "unix:PATH[:opts]" or "tcp:HOST:PORT[:opts]" into d (resolving HOST, at open only).
 * 0 or -errno with img->why. */
static int parse(struct nbd_img *d, struct td_image *img, const char *path)
{
	char buf[1024], *opts = NULL, *p;
	size_t len = strlen(path);

	if (len >= sizeof(buf)) {
		snprintf(img->why, sizeof(img->why), "the address is too long");
		return -ENAMETOOLONG;
	}
	memcpy(buf, path, len + 1);
	/* options: from the first ":key=" on */
	for (p = buf; (p = strchr(p, ':')); p++) {
		size_t k = strspn(p + 1, "abcdefghijklmnopqrstuvwxyz");

		if (k && p[1 + k] == '=') {
			*p = '\0';
			opts = p + 1;
			break;
		}
	}
	while (opts) {
		char *next = NULL;

		if (!strncmp(opts, "exportname=", 11)) {
			d->export_name = strdup(opts + 11);
			if (!d->export_name)
				return -ENOMEM;
			if (strlen(d->export_name) > NBD_MAX_NAME) {
				snprintf(img->why, sizeof(img->why), "the export name is too long");
				return -ENAMETOOLONG;
			}
			break;
		}
		if (!strncmp(opts, "tls=", 4)) {
			snprintf(
				img->why, sizeof(img->why),
				"TLS is not supported (tapdisk's NBD client has no TLS): reach "
				"the server over a unix socket forwarded by ssh, or through stunnel");
			return -EPROTONOSUPPORT;
		}
		if ((next = strchr(opts, ':')))
			*next++ = '\0';
		snprintf(img->why, sizeof(img->why), "unknown option '%.64s' (known: exportname)",
			 opts);
		return -EINVAL;
	}
	snprintf(d->addr, sizeof(d->addr), "%s", buf);
	if (!strncmp(buf, "unix:", 5)) {
		struct sockaddr_un *un = (struct sockaddr_un *)&d->sa;
		const char *sock = buf + 5;

		if (!*sock || strlen(sock) >= sizeof(un->sun_path)) {
			snprintf(img->why, sizeof(img->why), "%.120s: %s", buf,
				 *sock ? "the socket path is too long" : "no socket path");
			return -EINVAL;
		}
		un->sun_family = AF_UNIX;
		strcpy(un->sun_path, sock);
		d->sa_len = sizeof(*un);
		return 0;
	}
	if (!strncmp(buf, "tcp:", 4)) {
		struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
		char *host = buf + 4, *port;
		int rc;

		if (*host == '[') {
			port = strchr(++host, ']');
			if (!port || port[1] != ':') {
				snprintf(img->why, sizeof(img->why), "%.120s: expected [IPv6]:port",
					 buf);
				return -EINVAL;
			}
			*port = '\0';
			port += 2;
		} else {
			port = strrchr(host, ':');
			if (!port) {
				snprintf(img->why, sizeof(img->why), "%.120s: expected host:port",
					 buf);
				return -EINVAL;
			}
			*port++ = '\0';
		}
		if (!*host || !*port || strspn(port, "0123456789") != strlen(port) ||
		    atoi(port) < 1 || atoi(port) > 65535) {
			snprintf(img->why, sizeof(img->why), "%.120s: expected host:port (1-65535)",
				 d->addr);
			return -EINVAL;
		}
		rc = getaddrinfo(host, port, &hints, &ai);
		if (rc) {
			snprintf(img->why, sizeof(img->why), "%.120s: %s", d->addr,
				 gai_strerror(rc));
			return -EHOSTUNREACH;
		}
		memcpy(&d->sa, ai->ai_addr, ai->ai_addrlen);
		d->sa_len = ai->ai_addrlen;
		freeaddrinfo(ai);
		return 0;
	}
	snprintf(img->why, sizeof(img->why),
		 "'%.100s': expected unix:<socket>[:exportname=<name>] or "
		 "tcp:<host>:<port>[:exportname=<name>]",
		 buf);
	return -EINVAL;
}

static void nbd_close(struct td_image *img)
{
	struct nbd_img *d = img->priv;
	struct td_io *io;

	if (!d)
		return;
	if (d->inflight || d->wait_head || d->done_head)
		rt_err("nbd:%s: closed with I/O in flight", d->addr);
	while ((io = d->wait_head)) { /* never answered otherwise */
		d->wait_head = io->next;
		io->done(io, -EIO);
	}
	td_loop_timer_cancel(d->loop, &d->reconnect);
	td_loop_timer_cancel(d->loop, &d->expire);
	td_loop_timer_cancel(d->loop, &d->attempt);
	td_loop_timer_cancel(d->loop, &d->defer);
	td_nbdc_close(d->c, d->up && !d->inflight);
	free(d->export_name);
	free(d);
	img->priv = NULL;
}

static int nbd_open(struct td_image *img, const char *path, unsigned int flags)
{
	struct nbd_img *d = calloc(1, sizeof(*d));
	struct nbd_client_opts o = { .modern = true };
	char why[200];
	int fd, rc;

	if (!d)
		return -ENOMEM;
	img->priv = d;
	d->loop = img->loop;
	d->timeout_ns = timeout_ns();
	rc = parse(d, img, path);
	if (rc < 0)
		goto fail;
	o.export_name = d->export_name;
	fd = dial(d);
	if (fd < 0) {
		rc = fd;
		snprintf(img->why, sizeof(img->why), "connect: %s", strerror(-rc));
		goto fail;
	}
	rc = td_nbdc_connect(d->loop, fd, &o, TD_NBD_OPEN_TIMEOUT_MS, dead, d, &d->c, why,
			     sizeof(why));
	if (rc < 0) {
		snprintf(img->why, sizeof(img->why), "%s", why);
		goto fail;
	}
	d->up = true;
	td_nbdc_info(d->c, &d->info);
	if (d->info.size < 512 || d->info.min_block > 512) {
		if (d->info.size < 512)
			snprintf(img->why, sizeof(img->why),
				 "the export is smaller than a sector (%llu bytes)",
				 (unsigned long long)d->info.size);
		else
			snprintf(img->why, sizeof(img->why),
				 "the export's minimum block size (%u bytes) is larger than a "
				 "512-byte sector",
				 d->info.min_block);
		rc = -EINVAL;
		goto fail;
	}
	if (d->info.size % 512)
		rt_warn("nbd:%s: the export's size %llu is not a multiple of 512: the last %llu "
			"bytes are not used",
			d->addr, (unsigned long long)d->info.size,
			(unsigned long long)(d->info.size % 512));
	set_max_piece(d);
	if (d->info.readonly && !(flags & TD_OPEN_RDONLY))
		rt_info("nbd:%s: the export is read-only: opened read-only", d->addr);
	img->info = (struct td_image_info){
		.sectors = d->info.size >> TD_SECTOR_SHIFT,
		.sector_size = 512,
		.physical_sector_size = 512,
		.readonly = (flags & TD_OPEN_RDONLY) || d->info.readonly,
		.discard = d->info.can_trim || d->info.can_write_zeroes,
		.discard_granularity = 4096,
	};
	rt_info("nbd:%s: connected (%s handshake%s, %llu bytes%s%s%s, max block %u)", d->addr,
		d->info.protocol, d->info.structured ? ", structured replies" : "",
		(unsigned long long)d->info.size, d->info.readonly ? ", read-only" : "",
		d->info.can_flush ? ", flush" : "", img->info.discard ? ", discard" : "",
		d->max_piece);
	return 0;
fail:
	nbd_close(img);
	return rc;
}

static void nbd_submit(struct td_image *img, struct td_io *io)
{
	struct nbd_img *d = img->priv;

	nio(io)->t0_ns = td_loop_now_ns();
	nio(io)->d = d;
	if (d->up)
		start(d, io);
	else if (d->expired_logged) /* the server is away for longer than the timeout */
		defer(d, io, -EIO);
	else
		push(&d->wait_head, &d->wait_tail, io);
}

static void nbd_kick(struct td_image *img)
{
	struct nbd_img *d = img->priv;

	if (d->up)
		td_nbdc_kick(d->c);
}

static int nbd_poll(struct td_image *img)
{
	struct nbd_img *d = img->priv;
	uint64_t before = d->completed;

	if (!d->up)
		return 0;
	td_nbdc_poll(d->c);
	return (int)(d->completed - before);
}

static void nbd_info(const struct td_image *img, struct td_image_info *info)
{
	*info = img->info;
}

static int nbd_counters(const struct td_image *img, struct td_counter *out, int max)
{
	const struct nbd_img *d = img->priv;
	unsigned int waiting = 0;
	const struct td_io *io;
	struct td_counter c[] = {
		{ "connected", d->up },
		{ "reconnects", d->reconnects },
		{ "expired", d->expired },
		{ "waiting", 0 },
	};
	int i;

	for (io = d->wait_head; io; io = io->next)
		waiting++;
	c[3].value = waiting;
	for (i = 0; i < max && i < (int)(sizeof(c) / sizeof(c[0])); i++)
		out[i] = c[i];
	return i;
}

const struct td_driver_ops td_driver_nbd = {
	.name = "nbd",
	.open = nbd_open,
	.close = nbd_close,
	.submit = nbd_submit,
	.kick = nbd_kick,
	.info = nbd_info,
	.poll = nbd_poll,
	.counters = nbd_counters,
};
