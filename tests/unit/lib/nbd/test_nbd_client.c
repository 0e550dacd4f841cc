/* lib/nbd's client against a scripted server on a socket pair: blktap3's old-style greeting
 * (flags 0), the newstyle handshake byte for byte as blktap3's client sends it, writes and
 * flushes answered in any order, error replies, and every way a server can break it (garbage
 * greeting, silence, a bad reply magic, a reply to nothing, a hang-up). The modern handshake
 * (structured replies, NBD_OPT_GO, its fallback and refusals) and structured reads: data and
 * hole chunks into an iovec window, error chunks, chunks outside their read. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "lib/nbd/proto.h"
#include "ringtap/nbd.h"

#define SIZE (64ull << 20)

struct result {
	int calls;
	int err;
};

static void done(void *data, int err)
{
	struct result *r = data;

	r->calls++;
	r->err = err;
}

static void put_all(int fd, const void *buf, size_t len)
{
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
}

static void get_all(int fd, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, (char *)buf + got, len - got);

		assert_true(n > 0);
		got += (size_t)n;
	}
}

/* A client handshaken over blktap3's old-style greeting; *peer is the server's end. */
static struct nbd_client *oldstyle_client(int *peer)
{
	uint8_t g[NBD_OLDSTYLE_GREETING_SIZE];
	struct nbd_client *c;
	char why[128];
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	nbd_oldstyle_greeting_encode(g, SIZE);
	put_all(sv[1], g, sizeof(g));
	assert_int_equal(nbd_client_handshake(sv[0], 1000, &c, why, sizeof(why)), 0);
	*peer = sv[1];
	return c;
}

static void oldstyle_greeting_with_flags_0_is_taken(void **state)
{
	struct nbd_client_info info;
	struct nbd_client *c;
	int peer;

	c = oldstyle_client(&peer);
	nbd_client_info(c, &info);
	assert_true(info.oldstyle);
	assert_int_equal(info.size, SIZE);
	assert_int_equal(info.eflags, 0);
	nbd_client_close(c, false, 0);
	close(peer);
}

static void newstyle_handshake_is_blktap3s(void **state)
{
	static const uint8_t name[] = "tapdisk_client"; /* 15 bytes, its NUL included */
	uint8_t g[NBD_GREETING_SIZE], reply[NBD_EXPORT_NAME_REPLY_SIZE], sent[20 + 15];
	struct nbd_client_info info;
	struct nbd_client *c;
	char why[128];
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	nbd_greeting_encode(g); /* FIXED_NEWSTYLE | NO_ZEROES */
	put_all(sv[1], g, sizeof(g));
	nbd_put64(reply, SIZE);
	nbd_put16(reply + 8, NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH);
	put_all(sv[1], reply, sizeof(reply)); /* NO_ZEROES: 10 bytes */
	assert_int_equal(nbd_client_handshake(sv[0], 1000, &c, why, sizeof(why)), 0);
	get_all(sv[1], sent, sizeof(sent));
	assert_int_equal(nbd_get32(sent), NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
	assert_true(nbd_get64(sent + 4) == NBD_IHAVEOPT);
	assert_int_equal(nbd_get32(sent + 12), NBD_OPT_EXPORT_NAME);
	assert_int_equal(nbd_get32(sent + 16), sizeof(name));
	assert_memory_equal(sent + 20, name, sizeof(name));
	nbd_client_info(c, &info);
	assert_false(info.oldstyle);
	assert_int_equal(info.size, SIZE);
	assert_int_equal(info.eflags, NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH);
	nbd_client_close(c, false, 0);
	close(sv[1]);
}

static void broken_greetings_fail(void **state)
{
	struct nbd_client *c;
	char why[128];
	int sv[2];

	/* not NBD */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	put_all(sv[1], "HTTP/1.1 200 OK\r\n\r\n", 19);
	assert_int_equal(nbd_client_handshake(sv[0], 1000, &c, why, sizeof(why)), -EPROTO);
	assert_null(c);
	close(sv[1]);
	/* silence */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(nbd_client_handshake(sv[0], 50, &c, why, sizeof(why)), -ETIMEDOUT);
	close(sv[1]);
	/* a hang-up halfway through the old-style greeting */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	{
		uint8_t g[NBD_OLDSTYLE_GREETING_SIZE];

		nbd_oldstyle_greeting_encode(g, SIZE);
		put_all(sv[1], g, 100);
	}
	close(sv[1]);
	assert_int_equal(nbd_client_handshake(sv[0], 1000, &c, why, sizeof(why)), -ECONNRESET);
}

static void reply(int peer, uint32_t error, uint64_t cookie)
{
	uint8_t r[NBD_SIMPLE_REPLY_SIZE];

	nbd_simple_reply_encode(r, error, cookie);
	put_all(peer, r, sizeof(r));
}

static void writes_and_flushes_complete_in_any_order(void **state)
{
	uint8_t data[8192], req[NBD_REQUEST_SIZE], got[8192];
	struct nbd_req_header h1, h2;
	struct result w = { 0 }, f = { 0 };
	struct nbd_client *c;
	char why[128];
	int peer;

	memset(data, 0x5a, sizeof(data));
	c = oldstyle_client(&peer);
	assert_int_equal(nbd_client_write(c, data, sizeof(data), 4096, done, &w), 0);
	assert_int_equal(nbd_client_flush(c, done, &f), 0);
	assert_int_equal(nbd_client_inflight(c), 2);
	assert_true(nbd_client_events(c) & EPOLLOUT);
	assert_int_equal(nbd_client_send(c, why, sizeof(why)), 0);
	assert_false(nbd_client_events(c) & EPOLLOUT);
	get_all(peer, req, sizeof(req));
	assert_int_equal(nbd_request_decode(req, &h1), 0);
	assert_int_equal(h1.type, NBD_CMD_WRITE);
	assert_true(h1.offset == 4096);
	assert_int_equal(h1.length, sizeof(data));
	get_all(peer, got, sizeof(got));
	assert_memory_equal(got, data, sizeof(data));
	get_all(peer, req, sizeof(req));
	assert_int_equal(nbd_request_decode(req, &h2), 0);
	assert_int_equal(h2.type, NBD_CMD_FLUSH);
	assert_int_equal(w.calls + f.calls, 0); /* nothing completes inside a queue or a send */
	reply(peer, 0, h2.cookie); /* the flush first */
	reply(peer, NBD_EIO, h1.cookie);
	assert_int_equal(nbd_client_dispatch(c, EPOLLIN, why, sizeof(why)), 0);
	assert_int_equal(f.calls, 1);
	assert_int_equal(f.err, 0);
	assert_int_equal(w.calls, 1);
	assert_int_equal(w.err, -EIO);
	assert_int_equal(nbd_client_inflight(c), 0);
	nbd_client_close(c, true, 1000);
	get_all(peer, req, sizeof(req));
	assert_int_equal(nbd_request_decode(req, &h1), 0);
	assert_int_equal(h1.type, NBD_CMD_DISC);
	close(peer);
}

/* A server that answers what was not asked, or with garbage, or hangs up, fails the client:
 * -errno with a reason, no callback, nothing more accepted. */
static void broken_servers_fail_the_client(void **state)
{
	static const uint8_t garbage[NBD_SIMPLE_REPLY_SIZE] = "not a reply....";
	uint8_t data[512] = { 0 }, req[NBD_REQUEST_SIZE + 512];
	struct result w = { 0 };
	struct nbd_client *c;
	char why[128];
	int peer;

	c = oldstyle_client(&peer);
	reply(peer, 0, 12345);
	assert_int_equal(nbd_client_dispatch(c, EPOLLIN, why, sizeof(why)), -EPROTO);
	assert_non_null(strstr(why, "no request"));
	assert_int_equal(nbd_client_write(c, data, sizeof(data), 0, done, &w), -ENOTCONN);
	nbd_client_close(c, true, 0);
	close(peer);

	c = oldstyle_client(&peer);
	assert_int_equal(nbd_client_write(c, data, sizeof(data), 0, done, &w), 0);
	assert_int_equal(nbd_client_send(c, why, sizeof(why)), 0);
	get_all(peer, req, sizeof(req));
	put_all(peer, garbage, sizeof(garbage));
	assert_int_equal(nbd_client_dispatch(c, EPOLLIN, why, sizeof(why)), -EPROTO);
	assert_int_equal(w.calls, 0);
	nbd_client_close(c, true, 0);
	close(peer);

	c = oldstyle_client(&peer);
	assert_int_equal(nbd_client_write(c, data, sizeof(data), 0, done, &w), 0);
	close(peer);
	assert_true(nbd_client_dispatch(c, EPOLLIN | EPOLLHUP, why, sizeof(why)) < 0);
	assert_int_equal(w.calls, 0);
	assert_int_equal(nbd_client_events(c), 0);
	nbd_client_close(c, true, 0);

	c = oldstyle_client(&peer);
	assert_int_equal(nbd_client_write(c, data, NBD_DEFAULT_MAX_REQUEST + 1, 0, done, &w),
			 -EINVAL);
	nbd_client_close(c, false, 0);
	close(peer);
}

/* ---- the modern handshake and structured replies ---- */

static void put_rep(int fd, uint32_t opt, uint32_t type, const void *payload, uint32_t len)
{
	uint8_t h[NBD_REP_HEADER_SIZE];

	nbd_put64(h, NBD_REP_MAGIC);
	nbd_put32(h + 8, opt);
	nbd_put32(h + 12, type);
	nbd_put32(h + 16, len);
	put_all(fd, h, sizeof(h));
	if (len)
		put_all(fd, payload, len);
}

/* The server's side of a modern handshake up to NBD_OPT_GO's answer (go_type: NBD_REP_ACK
 * after the infos, or an error). */
static void modern_server(int fd, uint32_t go_type, uint16_t eflags)
{
	uint8_t g[NBD_GREETING_SIZE], info[14];

	nbd_greeting_encode(g);
	put_all(fd, g, sizeof(g));
	put_rep(fd, NBD_OPT_STRUCTURED_REPLY, NBD_REP_ACK, NULL, 0);
	if (go_type == NBD_REP_ACK) {
		nbd_put16(info, NBD_INFO_EXPORT);
		nbd_put64(info + 2, SIZE);
		nbd_put16(info + 10, eflags);
		put_rep(fd, NBD_OPT_GO, NBD_REP_INFO, info, 12);
		nbd_put16(info, NBD_INFO_BLOCK_SIZE);
		nbd_put32(info + 2, 1);
		nbd_put32(info + 6, 4096);
		nbd_put32(info + 10, 1 << 20);
		put_rep(fd, NBD_OPT_GO, NBD_REP_INFO, info, 14);
	}
	put_rep(fd, NBD_OPT_GO, go_type, "no", go_type == NBD_REP_ACK ? 0 : 2);
}

static struct nbd_client *modern_client(int *peer, uint16_t eflags)
{
	struct nbd_client_opts o = { .modern = true, .export_name = "disk" };
	uint8_t sent[4 + 16 + 16 + 4 + 4 + 4];
	struct nbd_client *c;
	char why[128];
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	modern_server(sv[1], NBD_REP_ACK, eflags);
	assert_int_equal(nbd_client_connect(sv[0], &o, 1000, &c, why, sizeof(why)), 0);
	get_all(sv[1], sent, sizeof(sent));
	assert_int_equal(nbd_get32(sent), NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
	assert_int_equal(nbd_get32(sent + 12), NBD_OPT_STRUCTURED_REPLY);
	assert_int_equal(nbd_get32(sent + 16), 0);
	assert_int_equal(nbd_get32(sent + 28), NBD_OPT_GO);
	assert_int_equal(nbd_get32(sent + 32), 4 + 4 + 2 + 2);
	assert_int_equal(nbd_get32(sent + 36), 4);
	assert_memory_equal(sent + 40, "disk", 4);
	assert_int_equal(nbd_get16(sent + 44), 1);
	assert_int_equal(nbd_get16(sent + 46), NBD_INFO_BLOCK_SIZE);
	*peer = sv[1];
	return c;
}

static void modern_handshake_goes_with_structured_replies(void **state)
{
	struct nbd_client_info info;
	struct nbd_client *c;
	int peer;

	c = modern_client(&peer, NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH);
	nbd_client_info(c, &info);
	assert_true(info.structured);
	assert_false(info.oldstyle);
	assert_int_equal(info.size, SIZE);
	assert_int_equal(info.min_block, 1);
	assert_int_equal(info.max_block, 1 << 20);
	/* not advertised: refused here, never sent */
	assert_int_equal(nbd_client_trim(c, 4096, 0, done, NULL), -EOPNOTSUPP);
	assert_int_equal(nbd_client_write_zeroes(c, 4096, 0, true, done, NULL), -EOPNOTSUPP);
	assert_int_equal(nbd_client_write(c, "x", (1 << 20) + 1, 0, done, NULL), -EINVAL);
	nbd_client_close(c, false, 0);
	close(peer);
}

static void go_refusals_say_why(void **state)
{
	struct nbd_client_opts o = { .modern = true, .export_name = "disk" };
	struct nbd_client *c;
	char why[256];
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	modern_server(sv[1], NBD_REP_ERR_UNKNOWN, 0);
	assert_int_equal(nbd_client_connect(sv[0], &o, 1000, &c, why, sizeof(why)), -ENOENT);
	assert_non_null(strstr(why, "no export named 'disk'"));
	close(sv[1]);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	modern_server(sv[1], NBD_REP_ERR_TLS_REQD, 0);
	assert_int_equal(nbd_client_connect(sv[0], &o, 1000, &c, why, sizeof(why)), -EPROTO);
	assert_non_null(strstr(why, "requires TLS"));
	close(sv[1]);
	/* a server without GO: NBD_OPT_EXPORT_NAME with the name */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	modern_server(sv[1], NBD_REP_ERR_UNSUP, 0);
	{
		uint8_t r[NBD_EXPORT_NAME_REPLY_SIZE];
		struct nbd_client_info info;

		nbd_put64(r, SIZE / 2);
		nbd_put16(r + 8, NBD_FLAG_HAS_FLAGS);
		put_all(sv[1], r, sizeof(r));
		assert_int_equal(nbd_client_connect(sv[0], &o, 1000, &c, why, sizeof(why)), 0);
		nbd_client_info(c, &info);
		assert_int_equal(info.size, SIZE / 2);
		nbd_client_close(c, false, 0);
	}
	close(sv[1]);
}

static void put_chunk(int fd, uint16_t flags, uint16_t type, uint64_t cookie, const void *p,
		      uint32_t len)
{
	uint8_t h[NBD_STRUCTURED_REPLY_SIZE];

	nbd_put32(h, NBD_STRUCTURED_REPLY_MAGIC);
	nbd_put16(h + 4, flags);
	nbd_put16(h + 6, type);
	nbd_put64(h + 8, cookie);
	nbd_put32(h + 16, len);
	put_all(fd, h, sizeof(h));
	if (len)
		put_all(fd, p, len);
}

/* Queues a read of 4096 bytes at 8192 into a window of two buffers; the request's cookie. */
static uint64_t read_sent(struct nbd_client *c, int peer, const struct iovec *iov, struct result *r)
{
	uint8_t req[NBD_REQUEST_SIZE];
	struct nbd_req_header h;
	char why[128];

	assert_int_equal(nbd_client_readv(c, iov, 2, 1000, 4096, 8192, done, r), 0);
	assert_int_equal(nbd_client_send(c, why, sizeof(why)), 0);
	get_all(peer, req, sizeof(req));
	assert_int_equal(nbd_request_decode(req, &h), 0);
	assert_int_equal(h.type, NBD_CMD_READ);
	assert_int_equal(h.length, 4096);
	return h.cookie;
}

static void structured_reads(void **state)
{
	static uint8_t a[3000], b[3000];
	struct iovec iov[2] = { { a, sizeof(a) }, { b, sizeof(b) } };
	uint8_t p[8 + 3000], want[4096];
	struct result r = { 0 };
	struct nbd_client *c;
	uint64_t cookie;
	char why[128];
	int peer;

	c = modern_client(&peer, NBD_FLAG_HAS_FLAGS);
	memset(a, 0xee, sizeof(a));
	memset(b, 0xee, sizeof(b));
	cookie = read_sent(c, peer, iov, &r);
	/* the second half as data first, then the first half a hole, then DONE */
	nbd_put64(p, 8192 + 2048);
	memset(p + 8, 0x42, 2048);
	put_chunk(peer, 0, NBD_REPLY_TYPE_OFFSET_DATA, cookie, p, 8 + 2048);
	nbd_put64(p, 8192);
	nbd_put32(p + 8, 2048);
	put_chunk(peer, 0, NBD_REPLY_TYPE_OFFSET_HOLE, cookie, p, 12);
	assert_int_equal(nbd_client_dispatch(c, EPOLLIN, why, sizeof(why)), 0);
	assert_int_equal(r.calls, 0);
	put_chunk(peer, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_NONE, cookie, NULL, 0);
	assert_int_equal(nbd_client_dispatch(c, EPOLLIN, why, sizeof(why)), 0);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.err, 0);
	memset(want, 0, 2048);
	memset(want + 2048, 0x42, 2048);
	assert_memory_equal(a + 1000, want, 2000); /* the window starts 1000 bytes in */
	assert_memory_equal(b, want + 2000, 2096);
	assert_int_equal(a[999], 0xee);
	assert_int_equal(b[2096], 0xee);

	/* an error chunk: the read fails with its error */
	r.calls = 0;
	cookie = read_sent(c, peer, iov, &r);
	nbd_put32(p, NBD_EIO);
	nbd_put16(p + 4, 3);
	memcpy(p + 6, "bad", 3);
	put_chunk(peer, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_ERROR, cookie, p, 9);
	assert_int_equal(nbd_client_dispatch(c, EPOLLIN, why, sizeof(why)), 0);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.err, -EIO);

	/* DONE before the read was covered: EIO */
	r.calls = 0;
	cookie = read_sent(c, peer, iov, &r);
	put_chunk(peer, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_NONE, cookie, NULL, 0);
	assert_int_equal(nbd_client_dispatch(c, EPOLLIN, why, sizeof(why)), 0);
	assert_int_equal(r.err, -EIO);

	/* data outside the read: the connection fails, nothing is written */
	r.calls = 0;
	cookie = read_sent(c, peer, iov, &r);
	memset(a, 0xee, sizeof(a));
	nbd_put64(p, 8192 + 4000);
	memset(p + 8, 0x42, 200);
	put_chunk(peer, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_OFFSET_DATA, cookie, p, 8 + 200);
	assert_int_equal(nbd_client_dispatch(c, EPOLLIN, why, sizeof(why)), -EPROTO);
	assert_non_null(strstr(why, "outside the request"));
	assert_int_equal(r.calls, 0);
	assert_int_equal(a[1000], 0xee);
	nbd_client_close(c, false, 0);
	close(peer);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(oldstyle_greeting_with_flags_0_is_taken),
		cmocka_unit_test(newstyle_handshake_is_blktap3s),
		cmocka_unit_test(broken_greetings_fail),
		cmocka_unit_test(writes_and_flushes_complete_in_any_order),
		cmocka_unit_test(broken_servers_fail_the_client),
		cmocka_unit_test(modern_handshake_goes_with_structured_replies),
		cmocka_unit_test(go_refusals_say_why),
		cmocka_unit_test(structured_reads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
