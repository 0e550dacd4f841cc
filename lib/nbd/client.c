/* The NBD client (ringtap/nbd.h). The handshake is a state machine fed by the socket without
 * blocking (nbd_client_start; nbd_client_handshake and nbd_client_connect drive it with poll
 * and one deadline): blktap3's (the old-style greeting, or newstyle with NBD_OPT_EXPORT_NAME
 * "tapdisk_client\0") or, for a remote export, the fixed newstyle one with
 * NBD_OPT_STRUCTURED_REPLY and NBD_OPT_GO (falling back to NBD_OPT_EXPORT_NAME). Then the
 * transmission phase: commands queued as header + payload and sent as far as the socket takes
 * them (sendmsg of several at once); replies, simple or structured chunks, parsed from one input
 * buffer and matched by cookie. Everything the server sends is checked before it is used: a
 * length, offset or chunk that does not fit its command fails the connection (-EPROTO). */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "lib/nbd/proto.h"
#include "ringtap/iov.h"
#include "ringtap/nbd.h"

/* blktap3's client sends this name, its NUL included */
static const char blktap3_name[] = "tapdisk_client";
#define SEND_IOV 256
#define IN_BUF_SIZE (64u * 1024)
/* the longest option reply payload taken (an info, or an error with its message) */
#define OPT_REPLY_MAX 4096u
/* the longest error chunk payload: u32 error, u16 length, a message, u64 offset */
#define ERROR_CHUNK_MAX (6u + 4096u + 8u)

enum hs_state {
	HS_CONNECTING, /* waiting for a non-blocking connect(2) */
	HS_GREETING, /* NBDMAGIC + the old-style magic or IHAVEOPT */
	HS_OLDSTYLE, /* the rest of the old-style greeting */
	HS_GFLAGS, /* the newstyle handshake flags */
	HS_OPT_HEADER, /* an option reply's header */
	HS_OPT_DATA, /* its payload */
	HS_EXPORT_REPLY, /* NBD_OPT_EXPORT_NAME's reply */
	HS_DONE,
};

enum rx_state {
	RX_HEADER, /* a reply's header (simple or structured) */
	RX_SIMPLE_DATA, /* a simple reply's read data */
	RX_PREFIX, /* a chunk's fixed fields (offset, error) */
	RX_CHUNK_DATA, /* an OFFSET_DATA chunk's data */
};

struct nbd_cmd {
	struct nbd_cmd *next; /* in `out` (to send) then `wait` (sent), or free */
	uint8_t hdr[NBD_REQUEST_SIZE];
	uint16_t type;
	/* a write's payload or a read's destination: len bytes of iov from byte `skip` */
	const struct iovec *iov;
	int iovcnt;
	size_t skip;
	struct iovec one; /* for a plain buffer */
	uint32_t len; /* the command's length */
	uint32_t plen; /* payload bytes after the header (a write's len, else 0) */
	size_t sent; /* of header + payload */
	uint64_t cookie;
	uint64_t offset;
	uint64_t covered; /* read bytes the chunks answered */
	int err; /* the first error chunk's */
	nbd_client_done_fn done;
	void *data;
};

struct nbd_client {
	int fd;
	bool failed;
	bool modern; /* fixed newstyle with GO and structured replies; else blktap3's */
	bool no_zeroes; /* NBD_FLAG_NO_ZEROES agreed */
	struct nbd_client_info info;
	char name[NBD_MAX_NAME];
	uint32_t name_len;
	/* the handshake */
	enum hs_state hs;
	uint32_t opt; /* the option whose reply is awaited */
	uint32_t rep_type, rep_len;
	bool got_export;
	uint8_t hin[OPT_REPLY_MAX];
	size_t hneed, hhave;
	uint8_t hout[32 + NBD_MAX_NAME];
	size_t hout_len, hout_sent;
	/* transmission */
	struct nbd_cmd *out, *out_tail; /* queued, the head maybe partly sent */
	struct nbd_cmd *wait; /* sent, waiting for their reply (any order) */
	struct nbd_cmd *free;
	unsigned int inflight;
	uint64_t next_cookie;
	uint8_t *in; /* IN_BUF_SIZE bytes received, in[in_pos..in_len) not parsed yet */
	size_t in_pos, in_len;
	struct {
		enum rx_state state;
		uint8_t hdr[NBD_STRUCTURED_REPLY_SIZE];
		size_t have, need;
		struct nbd_cmd *cmd;
		uint16_t flags, type;
		uint32_t left; /* payload bytes of this reply or chunk still to come */
		uint64_t data_off; /* where in the command's buffer the data goes */
		uint8_t prefix[ERROR_CHUNK_MAX];
	} rx;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int fail(struct nbd_client *c, int err, char *why, size_t why_len, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static int fail(struct nbd_client *c, int err, char *why, size_t why_len, const char *fmt, ...)
{
	va_list ap;

	c->failed = true;
	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(why, why_len, fmt, ap);
		va_end(ap);
	}
	return err;
}

/* ---- input ------------------------------------------------------------------------------------ */

/* Bytes received and not parsed yet, receiving more when none are left: > 0, 0 when the
 * socket has nothing now, or -errno (-ECONNRESET at EOF). */
static ssize_t avail(struct nbd_client *c)
{
	ssize_t n;

	if (c->in_pos < c->in_len)
		return (ssize_t)(c->in_len - c->in_pos);
	c->in_pos = c->in_len = 0;
	n = recv(c->fd, c->in, IN_BUF_SIZE, MSG_DONTWAIT);
	if (n == 0)
		return -ECONNRESET;
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	c->in_len = (size_t)n;
	return n;
}

/* Copies up to want received bytes to dst (NULL: drops them); how many. */
static size_t take(struct nbd_client *c, void *dst, size_t want)
{
	size_t n = c->in_len - c->in_pos;

	if (n > want)
		n = want;
	if (dst)
		memcpy(dst, c->in + c->in_pos, n);
	c->in_pos += n;
	return n;
}

/* ---- iovec windows -------------------------------------------------------------------------- */

/* Copies n bytes from src into iov at byte off (off + n within the iovec: checked by callers);
 * src NULL writes zeros. */
static void iov_put(const struct iovec *iov, int cnt, size_t off, const uint8_t *src, size_t n)
{
	int i;

	for (i = 0; i < cnt && n; i++) {
		size_t l;

		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		l = iov[i].iov_len - off;
		if (l > n)
			l = n;
		if (src) {
			memcpy((char *)iov[i].iov_base + off, src, l);
			src += l;
		} else {
			memset((char *)iov[i].iov_base + off, 0, l);
		}
		n -= l;
		off = 0;
	}
}

/* ---- the handshake ------------------------------------------------------------------------ */

static void expect(struct nbd_client *c, enum hs_state st, size_t n)
{
	c->hs = st;
	c->hneed = n;
	c->hhave = 0;
}

static void hs_put_option(struct nbd_client *c, uint32_t opt, const uint8_t *data, uint32_t len)
{
	uint8_t *p = c->hout + c->hout_len;

	nbd_put64(p, NBD_IHAVEOPT);
	nbd_put32(p + 8, opt);
	nbd_put32(p + 12, len);
	if (len)
		memcpy(p + 16, data, len);
	c->hout_len += 16 + len;
	c->opt = opt;
}

static void send_export_name(struct nbd_client *c)
{
	if (c->modern)
		hs_put_option(c, NBD_OPT_EXPORT_NAME, (const uint8_t *)c->name, c->name_len);
	else
		hs_put_option(c, NBD_OPT_EXPORT_NAME, (const uint8_t *)blktap3_name,
			      sizeof(blktap3_name));
	expect(c, HS_EXPORT_REPLY,
	       NBD_EXPORT_NAME_REPLY_SIZE + (c->no_zeroes ? 0 : NBD_EXPORT_NAME_PAD));
}

static void send_go(struct nbd_client *c)
{
	uint8_t b[4 + NBD_MAX_NAME + 4];

	nbd_put32(b, c->name_len);
	memcpy(b + 4, c->name, c->name_len);
	nbd_put16(b + 4 + c->name_len, 1); /* one info request: the block sizes */
	nbd_put16(b + 6 + c->name_len, NBD_INFO_BLOCK_SIZE);
	hs_put_option(c, NBD_OPT_GO, b, 8 + c->name_len);
	expect(c, HS_OPT_HEADER, NBD_REP_HEADER_SIZE);
}

static bool pow2(uint32_t v)
{
	return v && !(v & (v - 1));
}

/* The server's text in an option error, made printable, for `why`. */
static void server_text(const struct nbd_client *c, char *buf, size_t size)
{
	size_t i, n = c->rep_len < size - 1 ? c->rep_len : size - 1;

	for (i = 0; i < n; i++)
		buf[i] = c->hin[i] >= 0x20 && c->hin[i] < 0x7f ? (char)c->hin[i] : '?';
	buf[n] = '\0';
}

static int go_error(struct nbd_client *c, char *why, size_t why_len)
{
	char text[128];

	server_text(c, text, sizeof(text));
	switch (c->rep_type) {
	case NBD_REP_ERR_UNKNOWN:
		return fail(c, -ENOENT, why, why_len, "the server has no export named '%.*s' (%s)",
			    (int)(c->name_len < 200 ? c->name_len : 200), c->name, text);
	case NBD_REP_ERR_TLS_REQD:
		return fail(c, -EPROTO, why, why_len,
			    "the server requires TLS, which ringtap's NBD client does not offer "
			    "(reach it through an ssh-forwarded socket or stunnel) (%s)",
			    text);
	case NBD_REP_ERR_POLICY:
		return fail(c, -EACCES, why, why_len, "the server refuses the export (%s)", text);
	default:
		return fail(c, -EPROTO, why, why_len,
			    "the server refused NBD_OPT_GO (error 0x%x: %s)", c->rep_type, text);
	}
}

/* An option reply's payload is in hin: what it means, what comes next. 0 or -errno. */
static int opt_reply(struct nbd_client *c, char *why, size_t why_len)
{
	if (c->opt == NBD_OPT_STRUCTURED_REPLY) {
		if (c->rep_type == NBD_REP_ACK)
			c->info.structured = true;
		else if (!(c->rep_type & NBD_REP_FLAG_ERROR))
			return fail(c, -EPROTO, why, why_len,
				    "an unexpected reply 0x%x to NBD_OPT_STRUCTURED_REPLY",
				    c->rep_type);
		send_go(c);
		return 0;
	}
	/* NBD_OPT_GO */
	if (c->rep_type == NBD_REP_INFO) {
		uint16_t type;

		if (c->rep_len < 2)
			return fail(c, -EPROTO, why, why_len, "a short NBD_REP_INFO");
		type = nbd_get16(c->hin);
		if (type == NBD_INFO_EXPORT) {
			if (c->rep_len != 12)
				return fail(c, -EPROTO, why, why_len,
					    "an NBD_INFO_EXPORT of %u bytes", c->rep_len);
			c->info.size = nbd_get64(c->hin + 2);
			c->info.eflags = nbd_get16(c->hin + 10);
			c->got_export = true;
		} else if (type == NBD_INFO_BLOCK_SIZE) {
			uint32_t min, pref, max;

			if (c->rep_len != 14)
				return fail(c, -EPROTO, why, why_len,
					    "an NBD_INFO_BLOCK_SIZE of %u bytes", c->rep_len);
			min = nbd_get32(c->hin + 2);
			pref = nbd_get32(c->hin + 6);
			max = nbd_get32(c->hin + 10);
			if (!pow2(min) || min > 65536 || !pow2(pref) || pref < min || max < pref ||
			    (max != UINT32_MAX && max % min))
				return fail(c, -EPROTO, why, why_len,
					    "invalid block sizes (minimum %u, preferred %u, "
					    "maximum %u)",
					    min, pref, max);
			c->info.min_block = min;
			c->info.pref_block = pref;
			c->info.max_block = max;
		} /* other information is not needed */
		expect(c, HS_OPT_HEADER, NBD_REP_HEADER_SIZE);
		return 0;
	}
	if (c->rep_type == NBD_REP_ACK) {
		if (!c->got_export)
			return fail(c, -EPROTO, why, why_len,
				    "NBD_OPT_GO acknowledged without the export's size");
		c->hs = HS_DONE;
		return 0;
	}
	if (c->rep_type == NBD_REP_ERR_UNSUP) { /* a server without NBD_OPT_GO */
		send_export_name(c);
		return 0;
	}
	if (c->rep_type & NBD_REP_FLAG_ERROR)
		return go_error(c, why, why_len);
	return fail(c, -EPROTO, why, why_len, "an unexpected reply 0x%x to NBD_OPT_GO",
		    c->rep_type);
}

/* hin holds the hneed bytes the state waited for. 0 or -errno. */
static int hs_step(struct nbd_client *c, char *why, size_t why_len)
{
	const uint8_t *b = c->hin;
	uint16_t gflags;
	uint32_t cflags;

	switch (c->hs) {
	case HS_GREETING:
		if (nbd_get64(b) != NBD_MAGIC)
			return fail(c, -EPROTO, why, why_len,
				    "the server's greeting is not NBDMAGIC");
		if (nbd_get64(b + 8) == NBD_OLDSTYLE_MAGIC) {
			expect(c, HS_OLDSTYLE, NBD_OLDSTYLE_GREETING_SIZE - 16);
			return 0;
		}
		if (nbd_get64(b + 8) != NBD_IHAVEOPT)
			return fail(c, -EPROTO, why, why_len,
				    "the server speaks neither old-style nor newstyle NBD");
		expect(c, HS_GFLAGS, 2);
		return 0;
	case HS_OLDSTYLE:
		c->info.oldstyle = true;
		c->info.size = nbd_get64(b);
		c->info.eflags = (uint16_t)nbd_get32(b + 8); /* u32 flags: the low 16 bits */
		c->hs = HS_DONE;
		return 0;
	case HS_GFLAGS:
		gflags = nbd_get16(b);
		/* blktap3 asks for both; a server that does not offer one is not asked for it */
		cflags = gflags & (NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
		c->no_zeroes = cflags & NBD_FLAG_NO_ZEROES;
		nbd_put32(c->hout, cflags);
		c->hout_len = 4;
		/* options other than EXPORT_NAME need fixed newstyle */
		if (c->modern && (cflags & NBD_FLAG_FIXED_NEWSTYLE)) {
			hs_put_option(c, NBD_OPT_STRUCTURED_REPLY, NULL, 0);
			expect(c, HS_OPT_HEADER, NBD_REP_HEADER_SIZE);
		} else {
			send_export_name(c);
		}
		return 0;
	case HS_OPT_HEADER:
		if (nbd_get64(b) != NBD_REP_MAGIC || nbd_get32(b + 8) != c->opt)
			return fail(c, -EPROTO, why, why_len, "a malformed reply to option %u",
				    c->opt);
		c->rep_type = nbd_get32(b + 12);
		c->rep_len = nbd_get32(b + 16);
		if (c->rep_len > OPT_REPLY_MAX)
			return fail(c, -EPROTO, why, why_len, "an option reply of %u bytes",
				    c->rep_len);
		expect(c, HS_OPT_DATA, c->rep_len);
		return 0;
	case HS_OPT_DATA:
		return opt_reply(c, why, why_len);
	case HS_EXPORT_REPLY:
		c->info.size = nbd_get64(b);
		c->info.eflags = nbd_get16(b + 8);
		c->hs = HS_DONE;
		return 0;
	default:
		return fail(c, -EPROTO, why, why_len, "handshake state %d", (int)c->hs);
	}
}

static int hs_send(struct nbd_client *c, char *why, size_t why_len)
{
	while (c->hout_sent < c->hout_len) {
		ssize_t n = send(c->fd, c->hout + c->hout_sent, c->hout_len - c->hout_sent,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			return fail(c, -errno, why, why_len, "NBD handshake: %s", strerror(errno));
		}
		c->hout_sent += (size_t)n;
	}
	c->hout_sent = c->hout_len = 0;
	return 0;
}

static int hs_run(struct nbd_client *c, char *why, size_t why_len)
{
	int err;

	if (c->hs == HS_CONNECTING) {
		socklen_t len = sizeof(err);

		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err == EINPROGRESS || err == EALREADY)
			return 0;
		if (err)
			return fail(c, -err, why, why_len, "connect: %s", strerror(err));
		expect(c, HS_GREETING, 16);
	}
	while (c->hs != HS_DONE) {
		err = hs_send(c, why, why_len);
		if (err)
			return err;
		if (c->hhave < c->hneed) {
			ssize_t n = avail(c);

			if (n == -ECONNRESET)
				return fail(c, -ECONNRESET, why, why_len,
					    "the server hung up during the handshake");
			if (n < 0)
				return fail(c, (int)n, why, why_len, "NBD handshake: %s",
					    strerror((int)-n));
			if (n == 0)
				return 0;
			c->hhave += take(c, c->hin + c->hhave, c->hneed - c->hhave);
			continue;
		}
		err = hs_step(c, why, why_len);
		if (err)
			return err;
	}
	return hs_send(c, why, why_len); /* EXPORT_NAME's reply came: hout is empty */
}

int nbd_client_start(int fd, const struct nbd_client_opts *opts, bool connecting,
		     struct nbd_client **out, char *why, size_t why_len)
{
	struct nbd_client *c = calloc(1, sizeof(*c));
	size_t name_len = opts && opts->export_name ? strlen(opts->export_name) : 0;

	*out = NULL;
	if (name_len > NBD_MAX_NAME) {
		free(c);
		close(fd);
		snprintf(why, why_len, "the export name is longer than %u bytes", NBD_MAX_NAME);
		return -ENAMETOOLONG;
	}
	if (!c || !(c->in = malloc(IN_BUF_SIZE))) {
		free(c);
		close(fd);
		snprintf(why, why_len, "out of memory");
		return -ENOMEM;
	}
	c->fd = fd;
	c->next_cookie = 1;
	c->modern = opts && opts->modern;
	if (name_len)
		memcpy(c->name, opts->export_name, name_len);
	c->name_len = (uint32_t)name_len;
	c->info.min_block = 1;
	c->info.pref_block = NBD_PREFERRED_BLOCK;
	c->info.max_block = NBD_DEFAULT_MAX_REQUEST;
	if (connecting)
		c->hs = HS_CONNECTING;
	else
		expect(c, HS_GREETING, 16);
	*out = c;
	return 0;
}

bool nbd_client_ready(const struct nbd_client *c)
{
	return c->hs == HS_DONE && !c->failed;
}

int nbd_client_connect(int fd, const struct nbd_client_opts *opts, unsigned int timeout_ms,
		       struct nbd_client **out, char *why, size_t why_len)
{
	uint64_t deadline = now_ms() + timeout_ms;
	struct nbd_client *c;
	int err = nbd_client_start(fd, opts, true, &c, why, why_len);

	while (!err && c->hs != HS_DONE) {
		struct pollfd p = { .fd = fd, .events = (short)nbd_client_events(c) };
		uint64_t now = now_ms();
		int n;

		if (now >= deadline) {
			snprintf(why, why_len, "no NBD handshake in time");
			err = -ETIMEDOUT;
			break;
		}
		n = poll(&p, 1, (int)(deadline - now));
		if (n < 0 && errno != EINTR) {
			err = -errno;
			snprintf(why, why_len, "NBD handshake: %s", strerror(errno));
		} else if (n > 0) {
			err = nbd_client_dispatch(c, (uint32_t)p.revents, why, why_len);
		}
	}
	if (err && c) {
		nbd_client_close(c, false, 0);
		c = NULL;
	}
	*out = c;
	return err;
}

int nbd_client_handshake(int fd, unsigned int timeout_ms, struct nbd_client **out, char *why,
			 size_t why_len)
{
	return nbd_client_connect(fd, NULL, timeout_ms, out, why, why_len);
}

void nbd_client_info(const struct nbd_client *c, struct nbd_client_info *info)
{
	*info = c->info;
}

int nbd_client_fd(const struct nbd_client *c)
{
	return c->fd;
}

uint32_t nbd_client_events(const struct nbd_client *c)
{
	if (c->failed)
		return 0;
	if (c->hs == HS_CONNECTING)
		return EPOLLOUT;
	if (c->hs != HS_DONE)
		return EPOLLIN | (c->hout_len ? EPOLLOUT : 0);
	return EPOLLIN | (c->out ? EPOLLOUT : 0);
}

unsigned int nbd_client_inflight(const struct nbd_client *c)
{
	return c->inflight;
}

/* ---- commands --------------------------------------------------------------------------------- */

static bool has_flag(const struct nbd_client *c, uint16_t flag)
{
	return (c->info.eflags & NBD_FLAG_HAS_FLAGS) && (c->info.eflags & flag);
}

static int queue(struct nbd_client *c, uint16_t type, uint16_t flags, const struct iovec *iov,
		 int iovcnt, size_t skip, uint32_t len, uint64_t offset, nbd_client_done_fn done,
		 void *data)
{
	struct nbd_req_header h = { .flags = flags, .type = type, .offset = offset, .length = len };
	struct nbd_cmd *cmd = c->free;

	if (c->failed)
		return -ENOTCONN;
	if (c->hs != HS_DONE)
		return -EAGAIN;
	if ((type == NBD_CMD_READ || type == NBD_CMD_WRITE) &&
	    (len > NBD_DEFAULT_MAX_REQUEST || len > c->info.max_block || !len ||
	     rt_iov_bytes(iov, iovcnt) < skip + len))
		return -EINVAL;
	if (cmd)
		c->free = cmd->next;
	else if (!(cmd = malloc(sizeof(*cmd))))
		return -ENOMEM;
	h.cookie = c->next_cookie++;
	*cmd = (struct nbd_cmd){
		.type = type,
		.iov = iov,
		.iovcnt = iovcnt,
		.skip = skip,
		.len = len,
		.plen = type == NBD_CMD_WRITE ? len : 0,
		.cookie = h.cookie,
		.offset = offset,
		.done = done,
		.data = data,
	};
	nbd_request_encode(cmd->hdr, &h);
	if (c->out_tail)
		c->out_tail->next = cmd;
	else
		c->out = cmd;
	c->out_tail = cmd;
	if (done)
		c->inflight++;
	return 0;
}

int nbd_client_write(struct nbd_client *c, const void *buf, uint32_t len, uint64_t offset,
		     nbd_client_done_fn done, void *data)
{
	struct iovec one = { (void *)buf, len };
	int err;

	if (!len || len > NBD_DEFAULT_MAX_REQUEST || len > c->info.max_block)
		return c->failed ? -ENOTCONN : -EINVAL;
	err = queue(c, NBD_CMD_WRITE, 0, &one, 1, 0, len, offset, done, data);
	if (!err) { /* the iovec lives in the command */
		c->out_tail->one = one;
		c->out_tail->iov = &c->out_tail->one;
	}
	return err;
}

int nbd_client_writev(struct nbd_client *c, const struct iovec *iov, int iovcnt, size_t skip,
		      uint32_t len, uint64_t offset, nbd_client_done_fn done, void *data)
{
	return queue(c, NBD_CMD_WRITE, 0, iov, iovcnt, skip, len, offset, done, data);
}

int nbd_client_readv(struct nbd_client *c, const struct iovec *iov, int iovcnt, size_t skip,
		     uint32_t len, uint64_t offset, nbd_client_done_fn done, void *data)
{
	return queue(c, NBD_CMD_READ, 0, iov, iovcnt, skip, len, offset, done, data);
}

int nbd_client_flush(struct nbd_client *c, nbd_client_done_fn done, void *data)
{
	return queue(c, NBD_CMD_FLUSH, 0, NULL, 0, 0, 0, 0, done, data);
}

int nbd_client_trim(struct nbd_client *c, uint32_t len, uint64_t offset, nbd_client_done_fn done,
		    void *data)
{
	if (c->hs == HS_DONE && !has_flag(c, NBD_FLAG_SEND_TRIM))
		return -EOPNOTSUPP;
	return queue(c, NBD_CMD_TRIM, 0, NULL, 0, 0, len, offset, done, data);
}

int nbd_client_write_zeroes(struct nbd_client *c, uint32_t len, uint64_t offset, bool may_trim,
			    nbd_client_done_fn done, void *data)
{
	if (c->hs == HS_DONE && !has_flag(c, NBD_FLAG_SEND_WRITE_ZEROES))
		return -EOPNOTSUPP;
	return queue(c, NBD_CMD_WRITE_ZEROES, may_trim ? 0 : NBD_CMD_FLAG_NO_HOLE, NULL, 0, 0, len,
		     offset, done, data);
}

static void recycle(struct nbd_client *c, struct nbd_cmd *cmd)
{
	cmd->next = c->free;
	c->free = cmd;
}

/* Sends queued commands as far as the socket takes them. 0 or -errno. */
static int send_queued(struct nbd_client *c)
{
	while (c->out) {
		struct iovec iov[SEND_IOV];
		struct msghdr mh = { .msg_iov = iov };
		struct nbd_cmd *cmd;
		int n = 0;
		ssize_t sent;

		for (cmd = c->out; cmd && n < SEND_IOV; cmd = cmd->next) {
			size_t poff = 0;

			if (cmd->sent < NBD_REQUEST_SIZE)
				iov[n++] = (struct iovec){ cmd->hdr + cmd->sent,
							   NBD_REQUEST_SIZE - cmd->sent };
			else
				poff = cmd->sent - NBD_REQUEST_SIZE;
			if (cmd->plen) {
				size_t left = cmd->plen - poff;

				n += rt_iov_window(iov + n, SEND_IOV - n, cmd->iov, cmd->iovcnt,
						   cmd->skip + poff, &left);
				if (left)
					break; /* iov is full: the rest of this command goes next time */
			}
		}
		mh.msg_iovlen = (size_t)n;
		sent = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (sent < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		while ((cmd = c->out) && sent > 0) {
			size_t left = NBD_REQUEST_SIZE + cmd->plen - cmd->sent;

			if ((size_t)sent < left) {
				cmd->sent += (size_t)sent;
				break;
			}
			sent -= (ssize_t)left;
			c->out = cmd->next;
			if (!c->out)
				c->out_tail = NULL;
			if (cmd->done) { /* DISC has no reply */
				cmd->next = c->wait;
				c->wait = cmd;
			} else {
				recycle(c, cmd);
			}
		}
		if (c->out && c->out->sent)
			return 0; /* the socket is full */
	}
	return 0;
}

/* ---- replies ---------------------------------------------------------------------------------- */

/* the spec's error values are Linux's errno values; 0 in an error is the server's bug */
static int wire_err(uint32_t error)
{
	return error && error < 4096 ? -(int)error : -NBD_EIO;
}

static struct nbd_cmd *find(struct nbd_client *c, uint64_t cookie)
{
	struct nbd_cmd *cmd;

	for (cmd = c->wait; cmd && cmd->cookie != cookie; cmd = cmd->next)
		;
	return cmd;
}

/* The command's last reply came: its callback. */
static void finish(struct nbd_client *c, struct nbd_cmd *cmd, int err)
{
	struct nbd_cmd **pp;
	nbd_client_done_fn done = cmd->done;
	void *data = cmd->data;

	for (pp = &c->wait; *pp != cmd; pp = &(*pp)->next)
		;
	*pp = cmd->next;
	c->inflight--;
	recycle(c, cmd);
	done(data, err);
}

static void next_header(struct nbd_client *c)
{
	c->rx.state = RX_HEADER;
	c->rx.have = 0;
	c->rx.need = 4;
}

/* The end of a structured chunk: with the DONE flag, the command's answer. */
static void chunk_end(struct nbd_client *c)
{
	struct nbd_cmd *cmd = c->rx.cmd;
	int err;

	if (c->rx.flags & NBD_REPLY_FLAG_DONE) {
		err = cmd->err;
		/* a read must be covered by its chunks unless an error says why not */
		if (!err && cmd->type == NBD_CMD_READ && cmd->covered != cmd->len)
			err = -EIO;
		finish(c, cmd, err);
	}
	next_header(c);
}

/* A structured reply's header is in rx.hdr. 0 or -EPROTO. */
static int chunk_header(struct nbd_client *c, char *why, size_t why_len)
{
	const uint8_t *h = c->rx.hdr;
	uint64_t cookie = nbd_get64(h + 8);
	uint32_t len = nbd_get32(h + 16);
	struct nbd_cmd *cmd;

	if (!c->info.structured)
		return fail(c, -EPROTO, why, why_len,
			    "a structured reply, which the client did not ask for");
	c->rx.flags = nbd_get16(h + 4);
	c->rx.type = nbd_get16(h + 6);
	c->rx.left = len;
	if (!(cmd = c->rx.cmd = find(c, cookie)))
		return fail(c, -EPROTO, why, why_len, "a reply to no request (cookie %llu)",
			    (unsigned long long)cookie);
	switch (c->rx.type) {
	case NBD_REPLY_TYPE_NONE:
		if (len || !(c->rx.flags & NBD_REPLY_FLAG_DONE))
			return fail(c, -EPROTO, why, why_len,
				    "a NONE chunk with a payload or without DONE");
		chunk_end(c);
		return 0;
	case NBD_REPLY_TYPE_OFFSET_DATA:
		if (cmd->type != NBD_CMD_READ || len <= 8 || len - 8 > cmd->len)
			return fail(c, -EPROTO, why, why_len,
				    "an OFFSET_DATA chunk of %u bytes for a command of %u", len,
				    cmd->len);
		c->rx.need = 8;
		break;
	case NBD_REPLY_TYPE_OFFSET_HOLE:
		if (cmd->type != NBD_CMD_READ || len != 12)
			return fail(c, -EPROTO, why, why_len, "a malformed OFFSET_HOLE chunk");
		c->rx.need = 12;
		break;
	default:
		if (!(c->rx.type & NBD_REPLY_TYPE_ERROR_BIT))
			return fail(c, -EPROTO, why, why_len, "a reply chunk of unknown type %u",
				    c->rx.type);
		if (len < 6 || len > ERROR_CHUNK_MAX)
			return fail(c, -EPROTO, why, why_len, "an error chunk of %u bytes", len);
		c->rx.need = len;
		break;
	}
	c->rx.state = RX_PREFIX;
	c->rx.have = 0;
	return 0;
}

/* A range [off, off + n) of a read's answer, checked against the command. */
static bool in_cmd(const struct nbd_cmd *cmd, uint64_t off, uint64_t n)
{
	return off >= cmd->offset && off - cmd->offset <= cmd->len &&
	       n <= cmd->len - (off - cmd->offset);
}

/* A chunk's fixed fields are in rx.prefix. 0 or -EPROTO. */
static int chunk_prefix(struct nbd_client *c, char *why, size_t why_len)
{
	struct nbd_cmd *cmd = c->rx.cmd;
	const uint8_t *p = c->rx.prefix;
	uint64_t off;
	uint32_t n;

	switch (c->rx.type) {
	case NBD_REPLY_TYPE_OFFSET_DATA:
		off = nbd_get64(p);
		c->rx.left -= 8;
		if (!in_cmd(cmd, off, c->rx.left))
			return fail(c, -EPROTO, why, why_len,
				    "read data at %llu+%u outside the request %llu+%u",
				    (unsigned long long)off, c->rx.left,
				    (unsigned long long)cmd->offset, cmd->len);
		c->rx.data_off = off - cmd->offset;
		cmd->covered += c->rx.left;
		c->rx.state = RX_CHUNK_DATA;
		return 0;
	case NBD_REPLY_TYPE_OFFSET_HOLE:
		off = nbd_get64(p);
		n = nbd_get32(p + 8);
		if (!n || !in_cmd(cmd, off, n))
			return fail(c, -EPROTO, why, why_len,
				    "a hole at %llu+%u outside the request %llu+%u",
				    (unsigned long long)off, n, (unsigned long long)cmd->offset,
				    cmd->len);
		iov_put(cmd->iov, cmd->iovcnt, cmd->skip + (off - cmd->offset), NULL, n);
		cmd->covered += n;
		break;
	default: { /* an error: u32 error, u16 message length, message (, u64 offset) */
		uint32_t mlen = nbd_get16(p + 4), len = c->rx.need;

		if ((c->rx.type == NBD_REPLY_TYPE_ERROR && len != 6 + mlen) ||
		    (c->rx.type == NBD_REPLY_TYPE_ERROR_OFFSET && len != 6 + mlen + 8) ||
		    len < 6 + mlen)
			return fail(c, -EPROTO, why, why_len,
				    "an error chunk of inconsistent length");
		if (c->rx.type == NBD_REPLY_TYPE_ERROR_OFFSET &&
		    (cmd->type != NBD_CMD_READ || !in_cmd(cmd, nbd_get64(p + 6 + mlen), 1)))
			return fail(c, -EPROTO, why, why_len,
				    "an error offset outside the request");
		if (!cmd->err)
			cmd->err = wire_err(nbd_get32(p));
		break;
	}
	}
	chunk_end(c);
	return 0;
}

/* A simple reply's header is in rx.hdr. 0 or -EPROTO. */
static int simple_reply(struct nbd_client *c, char *why, size_t why_len)
{
	uint32_t error;
	uint64_t cookie;
	struct nbd_cmd *cmd;

	nbd_simple_reply_decode(c->rx.hdr, &error, &cookie);
	if (!(cmd = find(c, cookie)))
		return fail(c, -EPROTO, why, why_len, "a reply to no request (cookie %llu)",
			    (unsigned long long)cookie);
	if (cmd->type == NBD_CMD_READ && !error) {
		if (c->info.structured)
			return fail(
				c, -EPROTO, why, why_len,
				"a simple reply to a read after structured replies were agreed");
		c->rx.cmd = cmd;
		c->rx.left = cmd->len;
		c->rx.data_off = 0;
		c->rx.state = RX_SIMPLE_DATA;
		return 0;
	}
	finish(c, cmd, error ? wire_err(error) : 0);
	next_header(c);
	return 0;
}

/* Parses what was received, as far as it goes. 0, or -errno. */
static int parse(struct nbd_client *c, char *why, size_t why_len)
{
	while (c->in_pos < c->in_len) {
		size_t n;

		switch (c->rx.state) {
		case RX_HEADER:
			c->rx.have += take(c, c->rx.hdr + c->rx.have, c->rx.need - c->rx.have);
			if (c->rx.have < c->rx.need)
				break;
			if (c->rx.need == 4) {
				uint32_t magic = nbd_get32(c->rx.hdr);

				if (magic == NBD_SIMPLE_REPLY_MAGIC)
					c->rx.need = NBD_SIMPLE_REPLY_SIZE;
				else if (magic == NBD_STRUCTURED_REPLY_MAGIC)
					c->rx.need = NBD_STRUCTURED_REPLY_SIZE;
				else
					return fail(c, -EPROTO, why, why_len,
						    "a reply with a bad magic");
				break;
			}
			if (c->rx.need == NBD_SIMPLE_REPLY_SIZE) {
				if (simple_reply(c, why, why_len))
					return -EPROTO;
			} else if (chunk_header(c, why, why_len)) {
				return -EPROTO;
			}
			break;
		case RX_PREFIX:
			c->rx.have += take(c, c->rx.prefix + c->rx.have, c->rx.need - c->rx.have);
			if (c->rx.have == c->rx.need && chunk_prefix(c, why, why_len))
				return -EPROTO;
			break;
		case RX_SIMPLE_DATA:
		case RX_CHUNK_DATA:
			n = c->in_len - c->in_pos;
			if (n > c->rx.left)
				n = c->rx.left;
			iov_put(c->rx.cmd->iov, c->rx.cmd->iovcnt, c->rx.cmd->skip + c->rx.data_off,
				c->in + c->in_pos, n);
			c->in_pos += n;
			c->rx.data_off += n;
			c->rx.left -= (uint32_t)n;
			if (c->rx.left)
				break;
			if (c->rx.state == RX_CHUNK_DATA) {
				chunk_end(c);
			} else {
				finish(c, c->rx.cmd, 0);
				next_header(c);
			}
			break;
		}
	}
	return 0;
}

int nbd_client_send(struct nbd_client *c, char *why, size_t why_len)
{
	int err;

	if (c->failed)
		return fail(c, -ENOTCONN, why, why_len, "the connection failed before");
	if (c->hs != HS_DONE)
		return 0;
	err = send_queued(c);
	if (err)
		return fail(c, err, why, why_len, "send: %s", strerror(-err));
	return 0;
}

int nbd_client_dispatch(struct nbd_client *c, uint32_t events, char *why, size_t why_len)
{
	int err;

	if (c->failed)
		return fail(c, -ENOTCONN, why, why_len, "the connection failed before");
	if (c->hs != HS_DONE) {
		err = hs_run(c, why, why_len);
		if (err || c->hs != HS_DONE)
			return err;
		next_header(c);
	}
	err = nbd_client_send(c, why, why_len);
	if (err)
		return err;
	for (;;) {
		ssize_t n = avail(c);

		if (n == -ECONNRESET)
			return fail(c, -ECONNRESET, why, why_len,
				    "the server closed the connection");
		if (n < 0)
			return fail(c, (int)n, why, why_len, "recv: %s", strerror((int)-n));
		if (n == 0)
			break;
		err = parse(c, why, why_len);
		if (err)
			return err;
	}
	if (events & (EPOLLHUP | EPOLLERR))
		return fail(c, -ECONNRESET, why, why_len, "the connection was lost");
	return 0;
}

static void free_list(struct nbd_cmd *cmd)
{
	while (cmd) {
		struct nbd_cmd *next = cmd->next;

		free(cmd);
		cmd = next;
	}
}

void nbd_client_close(struct nbd_client *c, bool disconnect, unsigned int timeout_ms)
{
	if (!c)
		return;
	if (disconnect && !c->failed && c->hs == HS_DONE && !c->inflight && !c->out &&
	    queue(c, NBD_CMD_DISC, 0, NULL, 0, 0, 0, 0, NULL, NULL) == 0) {
		uint64_t deadline = now_ms() + timeout_ms;

		while (c->out && !c->failed && now_ms() < deadline) {
			struct pollfd p = { .fd = c->fd, .events = POLLOUT };

			if (poll(&p, 1, (int)(deadline - now_ms())) > 0 &&
			    nbd_client_send(c, (char[8]){ 0 }, 8) < 0)
				break;
		}
	}
	close(c->fd);
	free_list(c->out);
	free_list(c->wait);
	free_list(c->free);
	free(c->in);
	free(c);
}
