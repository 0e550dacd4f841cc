/* The NBD server over real Unix sockets, driven from the test's own thread (its dispatch pumped
 * while the client waits, as an event loop would): the handshake's options and their refusals,
 * every command with its errors, deferred and out-of-order completions, FUA, back-pressure,
 * and hostile or vanishing clients dropped without disturbing the others. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "lib/nbd/proto.h"
#include "ringtap/log.h"
#include "ringtap/nbd.h"

#define DISK_SIZE (1u << 20)
#define MAX_HELD 256
#define WAIT_MS 5000

struct fixture {
	char dir[64];
	char path[128];
	struct nbd_server *srv;
	struct nbd_server_config cfg;
	struct nbd_export exp;
	uint8_t disk[DISK_SIZE];
	/* hold: requests are kept for the test to complete; else completed inside the callback */
	bool hold;
	struct nbd_request *held[MAX_HELD];
	unsigned int nheld;
	int fail_with; /* a callback returns this (-errno) instead of starting the I/O */
	unsigned int reads, writes, flushes, trims, zeroes;
	bool last_may_trim;
	char log[64]; /* the order of callbacks: r w f t z */
	size_t nlog;
};

static void note(struct fixture *f, char op)
{
	if (f->nlog < sizeof(f->log) - 1)
		f->log[f->nlog++] = op;
}

static int finish(struct fixture *f, struct nbd_request *req)
{
	if (f->fail_with)
		return f->fail_with;
	if (f->hold) {
		assert_true(f->nheld < MAX_HELD);
		f->held[f->nheld++] = req;
	} else {
		nbd_request_complete(req, 0); /* the synchronous path */
	}
	return 0;
}

static int m_read(void *o, struct nbd_request *req, uint64_t off, uint32_t len, void *buf)
{
	struct fixture *f = o;

	f->reads++;
	note(f, 'r');
	memcpy(buf, f->disk + off, len);
	return finish(f, req);
}

static int m_write(void *o, struct nbd_request *req, uint64_t off, uint32_t len, const void *buf)
{
	struct fixture *f = o;

	f->writes++;
	note(f, 'w');
	memcpy(f->disk + off, buf, len);
	return finish(f, req);
}

static int m_flush(void *o, struct nbd_request *req)
{
	struct fixture *f = o;

	f->flushes++;
	note(f, 'f');
	return finish(f, req);
}

static int m_trim(void *o, struct nbd_request *req, uint64_t off, uint32_t len)
{
	struct fixture *f = o;

	f->trims++;
	note(f, 't');
	memset(f->disk + off, 0, len);
	return finish(f, req);
}

static int m_zeroes(void *o, struct nbd_request *req, uint64_t off, uint32_t len, bool may_trim)
{
	struct fixture *f = o;

	f->zeroes++;
	f->last_may_trim = may_trim;
	note(f, 'z');
	memset(f->disk + off, 0, len);
	return finish(f, req);
}

static const struct nbd_ops mem_ops = {
	.read = m_read,
	.write = m_write,
	.flush = m_flush,
	.trim = m_trim,
	.write_zeroes = m_zeroes,
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->dir, "/tmp/nbd-test.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/nbd", f->dir);
	f->cfg.path = f->path;
	f->exp.name = "disk";
	f->exp.description = "a test disk";
	f->exp.size = DISK_SIZE;
	f->exp.flags = NBD_EXPORT_FLUSH | NBD_EXPORT_TRIM | NBD_EXPORT_WRITE_ZEROES;
	for (unsigned int i = 0; i < DISK_SIZE; i++)
		f->disk[i] = (uint8_t)(i * 7 + 3);
	rt_log_set_level(LOG_ERR); /* the dropped clients are expected */
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	nbd_server_destroy(f->srv);
	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void start(struct fixture *f)
{
	assert_int_equal(nbd_server_create(&f->cfg, &f->exp, &mem_ops, f, &f->srv), 0);
}

/* Runs the server while waiting up to ms for the client fd to have something (or hang up). */
static void pump(struct fixture *f, int fd, int ms)
{
	struct pollfd p[2] = { { .fd = nbd_server_fd(f->srv), .events = POLLIN },
			       { .fd = fd, .events = POLLIN } };

	assert_int_equal(nbd_server_dispatch(f->srv), 0);
	poll(p, fd >= 0 ? 2 : 1, ms);
	assert_int_equal(nbd_server_dispatch(f->srv), 0);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int cli_connect(struct fixture *f)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);

	assert_true(fd >= 0);
	strcpy(sa.sun_path, f->path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* Sends everything, running the server whenever the socket is full. */
static void cli_send(struct fixture *f, int fd, const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t end = now_ms() + WAIT_MS;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		assert_true(n < 0 && errno == EAGAIN);
		assert_true(now_ms() < end);
		pump(f, -1, 1);
	}
}

/* Receives exactly len bytes, running the server meanwhile; false on EOF or timeout. */
static bool cli_recv(struct fixture *f, int fd, void *data, size_t len)
{
	uint8_t *p = data;
	uint64_t end = now_ms() + WAIT_MS;

	while (len && now_ms() < end) {
		ssize_t n = recv(fd, p, len, MSG_DONTWAIT);

		if (n > 0) {
			p += n;
			len -= (size_t)n;
		} else if (n == 0 || errno != EAGAIN) {
			return false;
		} else {
			pump(f, fd, 10);
		}
	}
	return !len;
}

/* The server closed the connection (after whatever it sent, which is discarded). */
static bool cli_closed(struct fixture *f, int fd)
{
	uint64_t end = now_ms() + WAIT_MS;
	uint8_t buf[4096];

	while (now_ms() < end) {
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n == 0 || (n < 0 && errno != EAGAIN))
			return true;
		if (n < 0)
			pump(f, fd, 10);
	}
	return false;
}

/* Nothing arrives within ms. */
static bool cli_quiet(struct fixture *f, int fd, int ms)
{
	uint64_t end = now_ms() + (uint64_t)ms;
	uint8_t b;

	while (now_ms() < end) {
		if (recv(fd, &b, 1, MSG_DONTWAIT | MSG_PEEK) >= 0)
			return false;
		pump(f, fd, 5);
	}
	return true;
}

static void send_flags(struct fixture *f, int fd, uint32_t flags)
{
	uint8_t buf[4];

	nbd_put32(buf, flags);
	cli_send(f, fd, buf, 4);
}

static void send_option(struct fixture *f, int fd, uint32_t opt, const void *data, uint32_t len)
{
	uint8_t hdr[NBD_OPT_HEADER_SIZE];

	nbd_put64(hdr, NBD_IHAVEOPT);
	nbd_put32(hdr + 8, opt);
	nbd_put32(hdr + 12, len);
	cli_send(f, fd, hdr, sizeof(hdr));
	if (len && data) /* NULL data: a header announcing what never comes */
		cli_send(f, fd, data, len);
}

struct rep {
	uint32_t option, type, len;
	uint8_t data[8192];
};

static void recv_rep(struct fixture *f, int fd, struct rep *r)
{
	uint8_t hdr[NBD_REP_HEADER_SIZE];

	assert_true(cli_recv(f, fd, hdr, sizeof(hdr)));
	assert_true(nbd_get64(hdr) == NBD_REP_MAGIC);
	r->option = nbd_get32(hdr + 8);
	r->type = nbd_get32(hdr + 12);
	r->len = nbd_get32(hdr + 16);
	assert_true(r->len <= sizeof(r->data));
	assert_true(cli_recv(f, fd, r->data, r->len));
}

static void expect_rep(struct fixture *f, int fd, uint32_t option, uint32_t type)
{
	struct rep r;

	recv_rep(f, fd, &r);
	assert_int_equal(r.option, option);
	assert_int_equal(r.type, type);
}

static void recv_greeting(struct fixture *f, int fd)
{
	uint8_t g[NBD_GREETING_SIZE];

	assert_true(cli_recv(f, fd, g, sizeof(g)));
	assert_true(nbd_get64(g) == NBD_MAGIC);
	assert_true(nbd_get64(g + 8) == NBD_IHAVEOPT);
	assert_int_equal(nbd_get16(g + 16), NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
}

static uint32_t go_data(uint8_t *buf, const char *name, const uint16_t *reqs, uint16_t n)
{
	uint32_t len = (uint32_t)strlen(name);

	nbd_put32(buf, len);
	memcpy(buf + 4, name, len);
	nbd_put16(buf + 4 + len, n);
	for (uint16_t i = 0; i < n; i++)
		nbd_put16(buf + 6 + len + 2 * i, reqs[i]);
	return 6 + len + 2u * n;
}

/* A client through NBD_OPT_GO; returns the fd in transmission and the export's flags. */
static int cli_go(struct fixture *f, uint16_t *flags)
{
	uint8_t buf[64];
	int fd = cli_connect(f);
	struct rep r;

	recv_greeting(f, fd);
	send_flags(f, fd, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
	send_option(f, fd, NBD_OPT_GO, buf, go_data(buf, "", NULL, 0));
	for (;;) {
		recv_rep(f, fd, &r);
		assert_int_equal(r.option, NBD_OPT_GO);
		if (r.type == NBD_REP_ACK)
			break;
		assert_int_equal(r.type, NBD_REP_INFO);
		if (nbd_get16(r.data) == NBD_INFO_EXPORT && flags)
			*flags = nbd_get16(r.data + 10);
	}
	return fd;
}

static void send_request(struct fixture *f, int fd, uint16_t type, uint16_t flags, uint64_t cookie,
			 uint64_t off, uint32_t len, const void *payload)
{
	uint8_t h[NBD_REQUEST_SIZE];

	nbd_put32(h, NBD_REQUEST_MAGIC);
	nbd_put16(h + 4, flags);
	nbd_put16(h + 6, type);
	nbd_put64(h + 8, cookie);
	nbd_put64(h + 16, off);
	nbd_put32(h + 24, len);
	cli_send(f, fd, h, sizeof(h));
	if (payload)
		cli_send(f, fd, payload, len);
}

/* Receives a simple reply; returns its error and checks the cookie. */
static uint32_t recv_reply(struct fixture *f, int fd, uint64_t cookie)
{
	uint8_t r[NBD_SIMPLE_REPLY_SIZE];

	assert_true(cli_recv(f, fd, r, sizeof(r)));
	assert_int_equal(nbd_get32(r), NBD_SIMPLE_REPLY_MAGIC);
	assert_true(nbd_get64(r + 8) == cookie);
	return nbd_get32(r + 4);
}

/* ---- handshake ----------------------------------------------------------------------------- */
static void go_reports_export_block_sizes_and_name(void **state)
{
	static const uint16_t reqs[] = { NBD_INFO_NAME, NBD_INFO_BLOCK_SIZE, NBD_INFO_DESCRIPTION,
					 77 };
	struct fixture *f = *state;
	uint8_t buf[128];
	bool export = false, sizes = false, name = false, desc = false;
	struct rep r;
	int fd;

	f->cfg.min_block = 512;
	f->cfg.max_request = 1u << 20;
	start(f);
	fd = cli_connect(f);
	recv_greeting(f, fd);
	send_flags(f, fd, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
	send_option(f, fd, NBD_OPT_INFO, buf, go_data(buf, "some-vdi-uuid", reqs, 4));
	for (recv_rep(f, fd, &r); r.type == NBD_REP_INFO; recv_rep(f, fd, &r)) {
		assert_int_equal(r.option, NBD_OPT_INFO);
		switch (nbd_get16(r.data)) {
		case NBD_INFO_EXPORT:
			assert_int_equal(r.len, 12);
			assert_true(nbd_get64(r.data + 2) == DISK_SIZE);
			assert_int_equal(nbd_get16(r.data + 10),
					 NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH |
						 NBD_FLAG_SEND_FUA | NBD_FLAG_SEND_TRIM |
						 NBD_FLAG_SEND_WRITE_ZEROES);
			export = true;
			break;
		case NBD_INFO_BLOCK_SIZE:
			assert_int_equal(r.len, 14);
			assert_int_equal(nbd_get32(r.data + 2), 512);
			assert_int_equal(nbd_get32(r.data + 6), 4096);
			assert_int_equal(nbd_get32(r.data + 10), 1u << 20);
			sizes = true;
			break;
		case NBD_INFO_NAME:
			assert_int_equal(r.len, 2 + 13);
			assert_memory_equal(r.data + 2, "some-vdi-uuid", 13);
			name = true;
			break;
		case NBD_INFO_DESCRIPTION:
			assert_memory_equal(r.data + 2, "a test disk", r.len - 2);
			desc = true;
			break;
		default:
			fail_msg("unexpected info %u", nbd_get16(r.data));
		}
	}
	assert_int_equal(r.type, NBD_REP_ACK);
	assert_true(export && sizes && name && desc);
	/* INFO leaves the client in the handshake: GO still follows */
	send_option(f, fd, NBD_OPT_GO, buf, go_data(buf, "", NULL, 0));
	for (recv_rep(f, fd, &r); r.type == NBD_REP_INFO; recv_rep(f, fd, &r))
		;
	assert_int_equal(r.type, NBD_REP_ACK);
	send_request(f, fd, NBD_CMD_READ, 0, 42, 512, 512, NULL);
	assert_int_equal(recv_reply(f, fd, 42), 0);
	assert_true(cli_recv(f, fd, buf, 64));
	assert_memory_equal(buf, f->disk + 512, 64);
	close(fd);
}

static void export_name_with_and_without_zeroes(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[NBD_EXPORT_NAME_REPLY_SIZE + NBD_EXPORT_NAME_PAD];
	int a, b;

	start(f);
	a = cli_connect(f);
	b = cli_connect(f);
	recv_greeting(f, a);
	recv_greeting(f, b);
	send_flags(f, a, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
	send_flags(f, b, NBD_FLAG_C_FIXED_NEWSTYLE);
	send_option(f, a, NBD_OPT_EXPORT_NAME, "anything", 8);
	send_option(f, b, NBD_OPT_EXPORT_NAME, NULL, 0);
	assert_true(cli_recv(f, a, buf, NBD_EXPORT_NAME_REPLY_SIZE));
	assert_true(nbd_get64(buf) == DISK_SIZE);
	assert_true(nbd_get16(buf + 8) & NBD_FLAG_HAS_FLAGS);
	assert_true(cli_recv(f, b, buf, sizeof(buf)));
	assert_true(nbd_get64(buf) == DISK_SIZE);
	for (unsigned int i = NBD_EXPORT_NAME_REPLY_SIZE; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 0);
	/* a's reply was exactly 10 bytes: its next bytes are a reply */
	send_request(f, a, NBD_CMD_READ, 0, 1, 0, 16, NULL);
	send_request(f, b, NBD_CMD_READ, 0, 2, 16, 16, NULL);
	assert_int_equal(recv_reply(f, a, 1), 0);
	assert_int_equal(recv_reply(f, b, 2), 0);
	assert_true(cli_recv(f, a, buf, 16));
	assert_memory_equal(buf, f->disk, 16);
	close(a);
	close(b);
}

static void list_invalid_list_and_abort(void **state)
{
	struct fixture *f = *state;
	struct rep r;
	int fd;

	start(f);
	fd = cli_connect(f);
	recv_greeting(f, fd);
	send_flags(f, fd, NBD_FLAG_C_FIXED_NEWSTYLE);
	send_option(f, fd, NBD_OPT_LIST, NULL, 0);
	recv_rep(f, fd, &r);
	assert_int_equal(r.type, NBD_REP_SERVER);
	assert_int_equal(nbd_get32(r.data), 4);
	assert_memory_equal(r.data + 4, "disk", 4);
	assert_memory_equal(r.data + 8, "a test disk", r.len - 8);
	expect_rep(f, fd, NBD_OPT_LIST, NBD_REP_ACK);
	send_option(f, fd, NBD_OPT_LIST, "x", 1);
	expect_rep(f, fd, NBD_OPT_LIST, NBD_REP_ERR_INVALID);
	send_option(f, fd, NBD_OPT_ABORT, NULL, 0);
	expect_rep(f, fd, NBD_OPT_ABORT, NBD_REP_ACK);
	assert_true(cli_closed(f, fd));
	close(fd);
	pump(f, -1, 0);
	assert_int_equal(nbd_server_clients(f->srv), 0);
}

static void unsupported_and_malformed_options_are_refused(void **state)
{
	static const uint16_t one = NBD_INFO_NAME;
	struct fixture *f = *state;
	uint8_t buf[64], *big = calloc(1, 1u << 20);
	uint16_t flags = 0;
	uint32_t len;
	int fd;

	assert_non_null(big);
	start(f);
	fd = cli_connect(f);
	recv_greeting(f, fd);
	send_flags(f, fd, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
	send_option(f, fd, NBD_OPT_STRUCTURED_REPLY, NULL, 0);
	expect_rep(f, fd, NBD_OPT_STRUCTURED_REPLY, NBD_REP_ERR_UNSUP);
	send_option(f, fd, NBD_OPT_STARTTLS, NULL, 0);
	expect_rep(f, fd, NBD_OPT_STARTTLS, NBD_REP_ERR_UNSUP);
	send_option(f, fd, 0x12345, "abc", 3);
	expect_rep(f, fd, 0x12345, NBD_REP_ERR_UNSUP);
	/* GO whose lengths do not add up, in several ways */
	len = go_data(buf, "uuid", &one, 1);
	send_option(f, fd, NBD_OPT_GO, buf, len - 1);
	expect_rep(f, fd, NBD_OPT_GO, NBD_REP_ERR_INVALID);
	nbd_put32(buf, 0xffffffffu);
	send_option(f, fd, NBD_OPT_GO, buf, len);
	expect_rep(f, fd, NBD_OPT_GO, NBD_REP_ERR_INVALID);
	send_option(f, fd, NBD_OPT_INFO, buf, 3);
	expect_rep(f, fd, NBD_OPT_INFO, NBD_REP_ERR_INVALID);
	/* an option too long to hold is skipped and refused, the client stays */
	send_option(f, fd, NBD_OPT_GO, big, 1u << 20);
	expect_rep(f, fd, NBD_OPT_GO, NBD_REP_ERR_TOO_BIG);
	/* and then it can still use the export */
	send_option(f, fd, NBD_OPT_GO, buf, go_data(buf, "", NULL, 0));
	for (struct rep r; recv_rep(f, fd, &r), r.type != NBD_REP_ACK;)
		if (nbd_get16(r.data) == NBD_INFO_EXPORT)
			flags = nbd_get16(r.data + 10);
	assert_true(flags & NBD_FLAG_SEND_FLUSH);
	send_request(f, fd, NBD_CMD_FLUSH, 0, 9, 0, 0, NULL);
	assert_int_equal(recv_reply(f, fd, 9), 0);
	assert_int_equal(f->flushes, 1);
	close(fd);
	free(big);
}

static void non_fixed_clients_get_export_name_only(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[NBD_EXPORT_NAME_REPLY_SIZE + NBD_EXPORT_NAME_PAD];
	int a, b;

	start(f);
	a = cli_connect(f);
	recv_greeting(f, a);
	send_flags(f, a, 0); /* plain newstyle */
	send_option(f, a, NBD_OPT_EXPORT_NAME, "x", 1);
	assert_true(cli_recv(f, a, buf, sizeof(buf)));
	assert_true(nbd_get64(buf) == DISK_SIZE);
	b = cli_connect(f);
	recv_greeting(f, b);
	send_flags(f, b, 0);
	send_option(f, b, NBD_OPT_STRUCTURED_REPLY, NULL, 0); /* cannot be refused: dropped */
	assert_true(cli_closed(f, b));
	send_request(f, a, NBD_CMD_WRITE, 0, 5, 100, 4, "abcd");
	assert_int_equal(recv_reply(f, a, 5), 0);
	assert_memory_equal(f->disk + 100, "abcd", 4);
	close(a);
	close(b);
}

static void hostile_handshakes_are_dropped_alone(void **state)
{
	static const char http[] = "GET / HTTP/1.0\r\n\r\n";
	struct fixture *f = *state;
	int good, fd;
	uint8_t buf[16];

	start(f);
	good = cli_go(f, NULL);

	fd = cli_connect(f); /* unknown client flags */
	recv_greeting(f, fd);
	send_flags(f, fd, 0x80000001u);
	assert_true(cli_closed(f, fd));
	close(fd);

	fd = cli_connect(f); /* not NBD at all */
	cli_send(f, fd, http, sizeof(http) - 1);
	assert_true(cli_closed(f, fd));
	close(fd);

	fd = cli_connect(f); /* an option without IHAVEOPT */
	recv_greeting(f, fd);
	send_flags(f, fd, NBD_FLAG_C_FIXED_NEWSTYLE);
	cli_send(f, fd, "NBDMAGICxxxxxxxx", 16);
	assert_true(cli_closed(f, fd));
	close(fd);

	fd = cli_connect(f); /* an oversized EXPORT_NAME cannot be refused */
	recv_greeting(f, fd);
	send_flags(f, fd, NBD_FLAG_C_FIXED_NEWSTYLE);
	send_option(f, fd, NBD_OPT_EXPORT_NAME, NULL, 0x7fffffff);
	assert_true(cli_closed(f, fd));
	close(fd);

	fd = cli_connect(f); /* options forever */
	recv_greeting(f, fd);
	send_flags(f, fd, NBD_FLAG_C_FIXED_NEWSTYLE);
	for (int i = 0; i < NBD_MAX_OPTIONS; i++) {
		send_option(f, fd, NBD_OPT_LIST, NULL, 0);
		expect_rep(f, fd, NBD_OPT_LIST, NBD_REP_SERVER);
		expect_rep(f, fd, NBD_OPT_LIST, NBD_REP_ACK);
	}
	send_option(f, fd, NBD_OPT_LIST, NULL, 0);
	assert_true(cli_closed(f, fd));
	close(fd);

	fd = cli_connect(f); /* hangs up in the middle of an option */
	recv_greeting(f, fd);
	send_flags(f, fd, NBD_FLAG_C_FIXED_NEWSTYLE);
	send_option(f, fd, NBD_OPT_GO, NULL, 0);
	cli_send(f, fd, "\0\0", 2);
	close(fd);

	/* the first client never noticed */
	send_request(f, good, NBD_CMD_READ, 0, 77, 0, 16, NULL);
	assert_int_equal(recv_reply(f, good, 77), 0);
	assert_true(cli_recv(f, good, buf, 16));
	assert_memory_equal(buf, f->disk, 16);
	pump(f, -1, 0);
	assert_int_equal(nbd_server_clients(f->srv), 1);
	close(good);
}

static void stalled_handshakes_time_out(void **state)
{
	struct fixture *f = *state;
	uint64_t t0;
	int idle, good;

	f->cfg.handshake_timeout_ms = 200;
	start(f);
	good = cli_go(f, NULL);
	idle = cli_connect(f);
	recv_greeting(f, idle);
	t0 = now_ms();
	assert_true(cli_closed(f, idle));
	assert_true(now_ms() - t0 >= 150);
	close(idle);
	/* a client in transmission has no deadline */
	assert_true(cli_quiet(f, good, 300));
	send_request(f, good, NBD_CMD_FLUSH, 0, 1, 0, 0, NULL);
	assert_int_equal(recv_reply(f, good, 1), 0);
	close(good);
}

static void clients_beyond_the_maximum_are_closed(void **state)
{
	struct fixture *f = *state;
	int a, b, c;

	f->cfg.max_clients = 2;
	start(f);
	a = cli_go(f, NULL);
	b = cli_go(f, NULL);
	c = cli_connect(f);
	assert_true(cli_closed(f, c));
	close(c);
	assert_int_equal(nbd_server_clients(f->srv), 2);
	close(a);
	assert_true(cli_quiet(f, b, 50));
	assert_int_equal(nbd_server_clients(f->srv), 1);
	c = cli_go(f, NULL); /* room again */
	close(b);
	close(c);
}

/* The server decides on a connection once it has accepted it: true if the client got its
 * greeting's first byte, false if the server closed it. */
static bool cli_accepted(struct fixture *f, int fd)
{
	uint64_t end = now_ms() + WAIT_MS;
	uint8_t b;

	while (now_ms() < end) {
		ssize_t n = recv(fd, &b, 1, MSG_DONTWAIT | MSG_PEEK);

		if (n >= 0 || errno != EAGAIN)
			return n > 0;
		pump(f, fd, 10);
	}
	fail_msg("the server neither greeted nor closed a new client");
	return false;
}

#define IDLE_MS 1000
#define IDLE_CLIENTS 16

/* Every slot held by clients in transmission: a new client is refused while none has been idle
 * for the deadline; past it, new clients take the slots of the idle ones, never the slot of a
 * client with a request in flight. */
static void idle_clients_yield_their_slots_after_the_deadline(void **state)
{
	struct fixture *f = *state;
	int busy, idle[IDLE_CLIENTS - 1], fresh[IDLE_CLIENTS - 1], c;
	uint64_t t0, t1;
	uint8_t buf[512];
	bool accepted;
	unsigned int i;

	f->cfg.idle_timeout_ms = IDLE_MS;
	start(f);
	t0 = now_ms(); /* no client is idle for longer than now - t0 */
	busy = cli_go(f, NULL);
	f->hold = true;
	send_request(f, busy, NBD_CMD_READ, 0, 42, 0, 512, NULL);
	for (i = 0; i < IDLE_CLIENTS - 1; i++)
		idle[i] = cli_go(f, NULL);
	assert_true(cli_quiet(f, busy, 10));
	assert_int_equal(f->nheld, 1);
	t1 = now_ms(); /* every client went idle before t1 */
	c = cli_connect(f);
	accepted = cli_accepted(f, c);
	if (now_ms() - t0 < IDLE_MS) /* else a slow host let the deadline pass: nothing to check */
		assert_false(accepted);
	close(c);
	while (now_ms() - t1 <= IDLE_MS) /* the deadline passes */
		pump(f, -1, 10);
	t1 = now_ms();
	for (i = 0; i < IDLE_CLIENTS - 1; i++)
		fresh[i] = cli_go(f, NULL); /* each takes an idle client's slot */
	assert_int_equal(nbd_server_clients(f->srv), IDLE_CLIENTS);
	for (i = 0; i < IDLE_CLIENTS - 1; i++)
		assert_true(cli_closed(f, idle[i]));
	c = cli_connect(f);
	accepted = cli_accepted(f, c);
	if (now_ms() - t1 < IDLE_MS)
		assert_false(accepted); /* the busy client is not idle, the new ones not for long */
	close(c);
	nbd_request_complete(f->held[0], 0);
	assert_int_equal(recv_reply(f, busy, 42), 0);
	assert_true(cli_recv(f, busy, buf, sizeof(buf)));
	assert_memory_equal(buf, f->disk, sizeof(buf));
	close(busy);
	for (i = 0; i < IDLE_CLIENTS - 1; i++) {
		close(idle[i]);
		close(fresh[i]);
	}
}

#define RECONNECTS 64

struct reconnector {
	const char *path;
	_Atomic unsigned int greeted;
};

/* Connects, reads the greeting, sends half of its flags and hangs up, at once again. */
static void *reconnect_loop(void *arg)
{
	struct reconnector *r = arg;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	unsigned int i;

	strcpy(sa.sun_path, r->path);
	for (i = 0; i < RECONNECTS; i++) {
		struct timeval tv = { .tv_sec = WAIT_MS / 1000 };
		uint8_t g[NBD_GREETING_SIZE];
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);

		if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
		    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0) {
			if (fd >= 0)
				close(fd);
			break;
		}
		if (recv(fd, g, sizeof(g), MSG_WAITALL) == (ssize_t)sizeof(g))
			atomic_fetch_add(&r->greeted, 1);
		send(fd, "\0\0", 2, MSG_NOSIGNAL);
		close(fd);
	}
	return NULL;
}

/* A client hanging up and reconnecting at once, faster than the server sees the hang-ups, is
 * greeted every time: a hang-up frees its slot before a new client is refused. */
static void reconnecting_clients_are_not_refused(void **state)
{
	struct fixture *f = *state;
	struct reconnector r = { .path = f->path };
	uint64_t end;
	pthread_t t;
	int keep;

	f->cfg.max_clients = 4;
	start(f);
	keep = cli_go(f, NULL); /* one slot held for good */
	assert_int_equal(pthread_create(&t, NULL, reconnect_loop, &r), 0);
	end = now_ms() + 30000;
	while (pthread_tryjoin_np(t, NULL) != 0) {
		assert_true(now_ms() < end);
		pump(f, -1, 10);
	}
	assert_int_equal(atomic_load(&r.greeted), RECONNECTS);
	close(keep);
}

/* ---- transmission -------------------------------------------------------------------------- */
static void reads_and_writes_reach_the_export(void **state)
{
	struct fixture *f = *state;
	uint8_t *data = malloc(65536), *back = malloc(65536);
	int fd;

	assert_non_null(data);
	assert_non_null(back);
	start(f);
	fd = cli_go(f, NULL);
	for (unsigned int i = 0; i < 65536; i++)
		data[i] = (uint8_t)(i ^ 0x5a);
	/* pipelined: 16 writes then 16 reads, replies matched by cookie */
	for (unsigned int i = 0; i < 16; i++)
		send_request(f, fd, NBD_CMD_WRITE, 0, 100 + i, 65536u * i, 4096, data + 4096 * i);
	for (unsigned int i = 0; i < 16; i++)
		assert_int_equal(recv_reply(f, fd, 100 + i), 0);
	for (unsigned int i = 0; i < 16; i++)
		assert_memory_equal(f->disk + 65536u * i, data + 4096 * i, 4096);
	send_request(f, fd, NBD_CMD_WRITE, NBD_CMD_FLAG_FUA, 1, DISK_SIZE - 65536, 65536, data);
	assert_int_equal(recv_reply(f, fd, 1), 0);
	send_request(f, fd, NBD_CMD_READ, 0, 2, DISK_SIZE - 65536, 65536, NULL);
	assert_int_equal(recv_reply(f, fd, 2), 0);
	assert_true(cli_recv(f, fd, back, 65536));
	assert_memory_equal(back, data, 65536);
	send_request(f, fd, NBD_CMD_TRIM, 0, 3, 0, 4096, NULL);
	assert_int_equal(recv_reply(f, fd, 3), 0);
	send_request(f, fd, NBD_CMD_WRITE_ZEROES, NBD_CMD_FLAG_NO_HOLE, 4, 65536, 4096, NULL);
	assert_int_equal(recv_reply(f, fd, 4), 0);
	assert_false(f->last_may_trim);
	send_request(f, fd, NBD_CMD_WRITE_ZEROES, 0, 5, 65536, 4096, NULL);
	assert_int_equal(recv_reply(f, fd, 5), 0);
	assert_true(f->last_may_trim);
	for (unsigned int i = 0; i < 4096; i++)
		assert_int_equal(f->disk[i] | f->disk[65536 + i], 0);
	assert_int_equal(f->trims, 1);
	assert_int_equal(f->zeroes, 2);
	close(fd);
	free(data);
	free(back);
}

static void invalid_requests_get_the_spec_errors(void **state)
{
	struct fixture *f = *state;
	uint8_t *junk = calloc(1, 2u << 20);
	uint8_t buf[8];
	int fd;

	assert_non_null(junk);
	f->cfg.max_request = 1u << 20;
	f->cfg.min_block = 512;
	start(f);
	fd = cli_go(f, NULL);
	send_request(f, fd, NBD_CMD_READ, 0, 1, DISK_SIZE - 512, 1024, NULL);
	assert_int_equal(recv_reply(f, fd, 1), NBD_EINVAL);
	/* a write past the end: ENOSPC, its payload consumed */
	send_request(f, fd, NBD_CMD_WRITE, 0, 2, DISK_SIZE, 512, junk);
	assert_int_equal(recv_reply(f, fd, 2), NBD_ENOSPC);
	send_request(f, fd, NBD_CMD_WRITE_ZEROES, 0, 3, DISK_SIZE - 512, 1024, NULL);
	assert_int_equal(recv_reply(f, fd, 3), NBD_ENOSPC);
	send_request(f, fd, NBD_CMD_TRIM, 0, 4, UINT64_MAX - 511, 1024, NULL);
	assert_int_equal(recv_reply(f, fd, 4), NBD_EINVAL);
	send_request(f, fd, NBD_CMD_READ, 0, 5, 0, 0, NULL);
	assert_int_equal(recv_reply(f, fd, 5), NBD_EINVAL);
	send_request(f, fd, NBD_CMD_READ, 0, 6, 1, 512, NULL); /* unaligned */
	assert_int_equal(recv_reply(f, fd, 6), NBD_EINVAL);
	send_request(f, fd, NBD_CMD_READ, 0, 7, 0, 2u << 20, NULL); /* beyond max_request */
	assert_int_equal(recv_reply(f, fd, 7), NBD_EINVAL);
	/* an oversized write: its 2 MiB are skipped, the stream stays in step */
	send_request(f, fd, NBD_CMD_WRITE, 0, 8, 0, 2u << 20, junk);
	assert_int_equal(recv_reply(f, fd, 8), NBD_EINVAL);
	send_request(f, fd, NBD_CMD_CACHE, 0, 9, 0, 512, NULL);
	assert_int_equal(recv_reply(f, fd, 9), NBD_EINVAL);
	send_request(f, fd, 0x4242, 0, 10, 0, 512, NULL);
	assert_int_equal(recv_reply(f, fd, 10), NBD_EINVAL);
	send_request(f, fd, NBD_CMD_READ, NBD_CMD_FLAG_DF, 11, 0, 512, NULL);
	assert_int_equal(recv_reply(f, fd, 11), NBD_EINVAL);
	send_request(f, fd, NBD_CMD_FLUSH, 0, 12, 512, 0, NULL);
	assert_int_equal(recv_reply(f, fd, 12), NBD_EINVAL);
	assert_int_equal(f->reads + f->writes + f->trims + f->zeroes + f->flushes, 0);
	/* the connection is still good */
	send_request(f, fd, NBD_CMD_READ, 0, 13, 512, 512, NULL);
	assert_int_equal(recv_reply(f, fd, 13), 0);
	assert_true(cli_recv(f, fd, junk, 512));
	assert_memory_equal(junk, f->disk + 512, 512);
	(void)buf;
	close(fd);
	free(junk);
}

static void read_only_exports_refuse_writes_with_eperm(void **state)
{
	struct fixture *f = *state;
	uint16_t flags = 0;
	uint8_t data[512] = { 1 };
	int fd;

	f->exp.flags |= NBD_EXPORT_READONLY;
	start(f);
	fd = cli_go(f, &flags);
	assert_true(flags & NBD_FLAG_READ_ONLY);
	send_request(f, fd, NBD_CMD_WRITE, 0, 1, 0, 512, data);
	assert_int_equal(recv_reply(f, fd, 1), NBD_EPERM);
	send_request(f, fd, NBD_CMD_TRIM, 0, 2, 0, 512, NULL);
	assert_int_equal(recv_reply(f, fd, 2), NBD_EPERM);
	send_request(f, fd, NBD_CMD_WRITE_ZEROES, 0, 3, 0, 512, NULL);
	assert_int_equal(recv_reply(f, fd, 3), NBD_EPERM);
	send_request(f, fd, NBD_CMD_READ, 0, 4, 0, 512, NULL);
	assert_int_equal(recv_reply(f, fd, 4), 0);
	assert_true(cli_recv(f, fd, data, 512));
	assert_memory_equal(data, f->disk, 512);
	assert_int_equal(f->writes + f->trims + f->zeroes, 0);
	/* an export turned read-only (a reopen) applies to connected clients too */
	f->exp.flags &= ~(uint32_t)NBD_EXPORT_READONLY;
	assert_int_equal(nbd_server_set_export(f->srv, &f->exp), 0);
	send_request(f, fd, NBD_CMD_WRITE, 0, 5, 0, 512, data);
	assert_int_equal(recv_reply(f, fd, 5), 0);
	f->exp.size = 4096;
	assert_int_equal(nbd_server_set_export(f->srv, &f->exp), 0);
	send_request(f, fd, NBD_CMD_READ, 0, 6, 4096, 512, NULL);
	assert_int_equal(recv_reply(f, fd, 6), NBD_EINVAL);
	close(fd);
}

static void callback_errors_and_deferred_completions(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[512];
	int fd;

	start(f);
	fd = cli_go(f, NULL);
	f->fail_with = -EIO;
	send_request(f, fd, NBD_CMD_READ, 0, 1, 0, 512, NULL);
	assert_int_equal(recv_reply(f, fd, 1), NBD_EIO);
	f->fail_with = -ENOSPC;
	send_request(f, fd, NBD_CMD_WRITE, 0, 2, 0, 512, buf);
	assert_int_equal(recv_reply(f, fd, 2), NBD_ENOSPC);
	f->fail_with = 0;
	f->hold = true;
	/* out of order: the second completes first, and is answered first */
	send_request(f, fd, NBD_CMD_READ, 0, 10, 0, 512, NULL);
	send_request(f, fd, NBD_CMD_READ, 0, 11, 512, 512, NULL);
	assert_true(cli_quiet(f, fd, 30));
	assert_int_equal(f->nheld, 2);
	assert_int_equal(nbd_server_inflight(f->srv), 2);
	nbd_request_complete(f->held[1], 0);
	assert_int_equal(recv_reply(f, fd, 11), 0);
	assert_true(cli_recv(f, fd, buf, 512));
	assert_memory_equal(buf, f->disk + 512, 512);
	nbd_request_complete(f->held[0], -EROFS); /* a failed read carries no data */
	assert_int_equal(recv_reply(f, fd, 10), NBD_EPERM);
	assert_int_equal(nbd_server_inflight(f->srv), 0);
	send_request(f, fd, NBD_CMD_FLUSH, 0, 12, 0, 0, NULL);
	assert_true(cli_quiet(f, fd, 20));
	nbd_request_complete(f->held[2], -ENOENT);
	assert_int_equal(recv_reply(f, fd, 12), NBD_EIO);
	close(fd);
}

static void fua_flushes_after_the_write_completes(void **state)
{
	struct fixture *f = *state;
	uint8_t data[512] = { 9 };
	int fd;

	start(f);
	fd = cli_go(f, NULL);
	f->hold = true;
	send_request(f, fd, NBD_CMD_WRITE, NBD_CMD_FLAG_FUA, 1, 0, 512, data);
	assert_true(cli_quiet(f, fd, 20));
	assert_string_equal(f->log, "w");
	nbd_request_complete(f->held[0], 0);
	assert_true(cli_quiet(f, fd, 20)); /* not answered before the flush */
	assert_string_equal(f->log, "wf");
	assert_int_equal(f->nheld, 2);
	assert_ptr_equal(f->held[1], f->held[0]); /* the same request */
	nbd_request_complete(f->held[1], 0);
	assert_int_equal(recv_reply(f, fd, 1), 0);
	/* a failed write is answered at once, without a flush */
	send_request(f, fd, NBD_CMD_TRIM, NBD_CMD_FLAG_FUA, 2, 0, 512, NULL);
	assert_true(cli_quiet(f, fd, 20));
	nbd_request_complete(f->held[2], -EIO);
	assert_int_equal(recv_reply(f, fd, 2), NBD_EIO);
	assert_string_equal(f->log, "wft");
	close(fd);
}

static void a_client_is_held_to_its_budget(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[4096];
	unsigned int i, got[100] = { 0 };
	int fd;

	f->cfg.max_request = 65536;
	f->cfg.max_inflight_bytes = 131072;
	start(f);
	fd = cli_go(f, NULL);
	f->hold = true;
	/* by count: 100 small reads, NBD_MAX_INFLIGHT at a time */
	for (i = 0; i < 100; i++)
		send_request(f, fd, NBD_CMD_READ, 0, i, 512u * i, 512, NULL);
	assert_true(cli_quiet(f, fd, 50));
	assert_int_equal(f->nheld, NBD_MAX_INFLIGHT);
	assert_int_equal(nbd_server_inflight(f->srv), NBD_MAX_INFLIGHT);
	for (i = 0; i < 100; i++) {
		uint8_t r[NBD_SIMPLE_REPLY_SIZE];
		uint64_t cookie;

		while (f->nheld <= i)
			pump(f, fd, 5);
		nbd_request_complete(f->held[i], 0);
		assert_true(cli_recv(f, fd, r, sizeof(r)));
		cookie = nbd_get64(r + 8);
		assert_true(cookie < 100 && !got[cookie]);
		got[cookie] = 1;
		assert_int_equal(nbd_get32(r + 4), 0);
		assert_true(cli_recv(f, fd, buf, 512));
		assert_memory_equal(buf, f->disk + 512 * cookie, 512);
	}
	/* by bytes: 64 KiB reads, two fit in 128 KiB */
	f->nheld = 0;
	for (i = 0; i < 4; i++)
		send_request(f, fd, NBD_CMD_READ, 0, 200 + i, 0, 65536, NULL);
	assert_true(cli_quiet(f, fd, 50));
	assert_int_equal(f->nheld, 2);
	nbd_request_complete(f->held[0], 0);
	assert_int_equal(recv_reply(f, fd, 200), 0);
	for (unsigned int k = 0; k < 16; k++)
		assert_true(cli_recv(f, fd, buf, 4096));
	assert_true(cli_quiet(f, fd, 30));
	assert_int_equal(f->nheld, 3);
	for (i = 1; i < 4; i++) {
		while (f->nheld <= i)
			pump(f, fd, 5);
		nbd_request_complete(f->held[i], 0);
		assert_int_equal(recv_reply(f, fd, 200 + i), 0);
		for (unsigned int k = 0; k < 16; k++)
			assert_true(cli_recv(f, fd, buf, 4096));
	}
	close(fd);
}

static void vanished_clients_leave_requests_to_complete(void **state)
{
	struct fixture *f = *state;
	uint8_t data[4096] = { 0 };
	int a, b, good;

	start(f);
	good = cli_go(f, NULL);
	a = cli_go(f, NULL);
	b = cli_go(f, NULL);
	f->hold = true;
	send_request(f, a, NBD_CMD_READ, 0, 1, 0, 4096, NULL);
	send_request(f, a, NBD_CMD_WRITE, NBD_CMD_FLAG_FUA, 2, 0, 512, data);
	assert_true(cli_quiet(f, a, 20));
	assert_int_equal(f->nheld, 2);
	close(a); /* gone with two requests in flight */
	/* b hangs up in the middle of a write's payload */
	send_request(f, b, NBD_CMD_WRITE, 0, 3, 0, 4096, NULL);
	cli_send(f, b, data, 100);
	close(b);
	assert_true(cli_quiet(f, good, 30));
	assert_int_equal(nbd_server_clients(f->srv), 1);
	assert_int_equal(nbd_server_inflight(f->srv), 2);
	nbd_request_complete(f->held[1], 0); /* no FUA flush for a client that is gone */
	nbd_request_complete(f->held[0], 0);
	assert_int_equal(nbd_server_inflight(f->srv), 0);
	assert_int_equal(f->nheld, 2);
	f->hold = false;
	send_request(f, good, NBD_CMD_READ, 0, 4, 0, 16, NULL);
	assert_int_equal(recv_reply(f, good, 4), 0);
	close(good);
	pump(f, -1, 0); /* the zombies are reaped (ASan checks nothing leaks) */
}

static void disconnect_waits_for_requests_in_flight(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[512];
	int fd;

	start(f);
	fd = cli_go(f, NULL);
	f->hold = true;
	send_request(f, fd, NBD_CMD_READ, 0, 1, 0, 512, NULL);
	send_request(f, fd, NBD_CMD_DISC, 0, 2, 0, 0, NULL);
	send_request(f, fd, NBD_CMD_READ, 0, 3, 0, 512, NULL); /* after DISC: ignored */
	assert_true(cli_quiet(f, fd, 30));
	assert_int_equal(f->nheld, 1);
	nbd_request_complete(f->held[0], 0);
	assert_int_equal(recv_reply(f, fd, 1), 0);
	assert_true(cli_recv(f, fd, buf, 512));
	assert_true(cli_closed(f, fd));
	assert_int_equal(f->nheld, 1);
	close(fd);
}

/* A socket passed as XAPI's storage migration passes it: blktap3's old-style greeting (152
 * bytes, flags 0) and transmission at once; NBD_CMD_DISC with nothing in flight sends the
 * greeting again on the same socket (blktap3's client renegotiates after a pause). A newstyle
 * adopted socket gets the fixed newstyle greeting, and its handshake again after DISC. */
static void adopted_sockets_get_blktap3s_greetings(void **state)
{
	struct fixture *f = *state;
	uint8_t g[NBD_OLDSTYLE_GREETING_SIZE], zero[124] = { 0 }, data[512], back[512];
	int sv[2];

	start(f);
	memset(data, 0xa5, sizeof(data));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	assert_int_equal(nbd_server_adopt(f->srv, sv[1], true), 0);
	for (int round = 0; round < 2; round++) {
		assert_true(cli_recv(f, sv[0], g, sizeof(g)));
		assert_true(nbd_get64(g) == NBD_MAGIC);
		assert_true(nbd_get64(g + 8) == NBD_OLDSTYLE_MAGIC);
		assert_true(nbd_get64(g + 16) == DISK_SIZE);
		assert_int_equal(nbd_get32(g + 24), 0);
		assert_memory_equal(g + 28, zero, sizeof(zero));
		send_request(f, sv[0], NBD_CMD_WRITE, 0, 7, 4096, sizeof(data), data);
		assert_int_equal(recv_reply(f, sv[0], 7), 0);
		send_request(f, sv[0], NBD_CMD_READ, 0, 8, 4096, sizeof(back), NULL);
		assert_int_equal(recv_reply(f, sv[0], 8), 0);
		assert_true(cli_recv(f, sv[0], back, sizeof(back)));
		assert_memory_equal(back, data, sizeof(data));
		send_request(f, sv[0], NBD_CMD_DISC, 0, 9, 0, 0, NULL);
	}
	close(sv[0]);
	pump(f, -1, 0);

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	assert_int_equal(nbd_server_adopt(f->srv, sv[1], false), 0);
	recv_greeting(f, sv[0]);
	send_flags(f, sv[0], NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
	send_option(f, sv[0], NBD_OPT_EXPORT_NAME, "tapdisk_client", 15);
	assert_true(cli_recv(f, sv[0], g, NBD_EXPORT_NAME_REPLY_SIZE));
	assert_true(nbd_get64(g) == DISK_SIZE);
	send_request(f, sv[0], NBD_CMD_DISC, 0, 1, 0, 0, NULL);
	recv_greeting(f, sv[0]);
	close(sv[0]);
	pump(f, -1, 0);
	assert_int_equal(f->writes, 2);
}

static void destroy_orphans_requests_in_flight(void **state)
{
	struct fixture *f = *state;
	struct stat st;
	int fd;

	start(f);
	fd = cli_go(f, NULL);
	f->hold = true;
	send_request(f, fd, NBD_CMD_READ, 0, 1, 0, 512, NULL);
	assert_true(cli_quiet(f, fd, 20));
	assert_int_equal(f->nheld, 1);
	nbd_server_destroy(f->srv);
	f->srv = NULL;
	assert_int_equal(stat(f->path, &st), -1); /* the socket is gone */
	nbd_request_complete(f->held[0], 0); /* still valid: freed here */
	close(fd);
}

static void create_validates_its_arguments(void **state)
{
	struct fixture *f = *state;
	struct nbd_server_config cfg = f->cfg;
	struct nbd_export exp = f->exp;
	struct nbd_ops ops = mem_ops;
	struct nbd_server *srv;
	char longpath[200];
	int fd;

	cfg.min_block = 3;
	assert_int_equal(nbd_server_create(&cfg, &exp, &ops, f, &srv), -EINVAL);
	cfg.min_block = 512;
	cfg.max_request = 1000;
	assert_int_equal(nbd_server_create(&cfg, &exp, &ops, f, &srv), -EINVAL);
	cfg = f->cfg;
	exp.size = 1000;
	cfg.min_block = 512;
	assert_int_equal(nbd_server_create(&cfg, &exp, &ops, f, &srv), -EINVAL);
	cfg = f->cfg;
	exp = f->exp;
	ops.trim = NULL; /* TRIM advertised without a callback */
	assert_int_equal(nbd_server_create(&cfg, &exp, &ops, f, &srv), -EINVAL);
	ops = mem_ops;
	exp.flags = 0x100;
	assert_int_equal(nbd_server_create(&cfg, &exp, &ops, f, &srv), -EINVAL);
	exp = f->exp;
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = '\0';
	cfg.path = longpath;
	assert_int_equal(nbd_server_create(&cfg, &exp, &ops, f, &srv), -ENAMETOOLONG);
	cfg.path = f->path;
	fd = open(f->path, O_CREAT | O_WRONLY, 0600); /* not a socket: not ours to replace */
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(nbd_server_create(&cfg, &exp, &ops, f, &srv), -EEXIST);
	unlink(f->path);
	/* a stale socket is replaced */
	start(f);
	nbd_server_destroy(f->srv);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	{
		struct sockaddr_un sa = { .sun_family = AF_UNIX };

		strcpy(sa.sun_path, f->path);
		assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	}
	close(fd);
	start(f);
	assert_string_equal(nbd_server_path(f->srv), f->path);
	fd = cli_go(f, NULL);
	close(fd);
	{
		char p[32];

		assert_int_equal(nbd_socket_path("/run/blktap-control", 1234, 5, p, sizeof(p)), 0);
		assert_string_equal(p, "/run/blktap-control/nbd1234.5");
		assert_int_equal(nbd_socket_path("/run/blktap-control", 1234, 5, p, 20),
				 -ENAMETOOLONG);
	}
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(go_reports_export_block_sizes_and_name),
		T(export_name_with_and_without_zeroes),
		T(list_invalid_list_and_abort),
		T(unsupported_and_malformed_options_are_refused),
		T(non_fixed_clients_get_export_name_only),
		T(hostile_handshakes_are_dropped_alone),
		T(stalled_handshakes_time_out),
		T(clients_beyond_the_maximum_are_closed),
		T(idle_clients_yield_their_slots_after_the_deadline),
		T(reconnecting_clients_are_not_refused),
		T(reads_and_writes_reach_the_export),
		T(invalid_requests_get_the_spec_errors),
		T(read_only_exports_refuse_writes_with_eperm),
		T(callback_errors_and_deferred_completions),
		T(fua_flushes_after_the_write_completes),
		T(a_client_is_held_to_its_budget),
		T(vanished_clients_leave_requests_to_complete),
		T(disconnect_waits_for_requests_in_flight),
		T(adopted_sockets_get_blktap3s_greetings),
		T(destroy_orphans_requests_in_flight),
		T(create_validates_its_arguments),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
