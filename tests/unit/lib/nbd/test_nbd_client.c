/* lib/nbd's client against a scripted server on a socket pair: blktap3's old-style greeting
 * (flags 0), the newstyle handshake byte for byte as blktap3's client sends it, writes and
 * flushes answered in any order, error replies, and every way a server can break it (garbage
 * greeting, silence, a bad reply magic, a reply to nothing, a hang-up). */
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(oldstyle_greeting_with_flags_0_is_taken),
		cmocka_unit_test(newstyle_handshake_is_blktap3s),
		cmocka_unit_test(broken_greetings_fail),
		cmocka_unit_test(writes_and_flushes_complete_in_any_order),
		cmocka_unit_test(broken_servers_fail_the_client),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
