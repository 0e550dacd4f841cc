/* The socket-server core (lib/util/sockserver.c) under a small echo protocol, over real Unix
 * sockets, its dispatch pumped by the test's own thread as an event loop would: the connection
 * limit, deadlines, buffered output to a slow reader and to a peer that leaves mid-write, and
 * failing syscalls (timerfd_settime, epoll_ctl) injected with the linker's --wrap. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "lib/util/sockserver.h"
#include "ringtap/log.h"

#define WAIT_MS 10000
#define BIG_REPLY (4u << 20)
#define SEGMENT (1u << 20)

/* --- injected failures and captured log lines (the core's calls, through --wrap) --- */

int __real_timerfd_settime(int fd, int flags, const struct itimerspec *new_value,
			   struct itimerspec *old_value);
int __wrap_timerfd_settime(int fd, int flags, const struct itimerspec *new_value,
			   struct itimerspec *old_value);
int __real_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev);
int __wrap_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev);
void __wrap_rt_log(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static bool fail_settime, fail_mod, fail_add;
static char logged[64][160];
static unsigned int nlogged;

int __wrap_timerfd_settime(int fd, int flags, const struct itimerspec *new_value,
			   struct itimerspec *old_value)
{
	if (fail_settime) {
		errno = ENOMEM;
		return -1;
	}
	return __real_timerfd_settime(fd, flags, new_value, old_value);
}

int __wrap_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	if ((op == EPOLL_CTL_MOD && fail_mod) || (op == EPOLL_CTL_ADD && fail_add)) {
		errno = ENOMEM;
		return -1;
	}
	return __real_epoll_ctl(epfd, op, fd, ev);
}

void __wrap_rt_log(int priority, const char *fmt, ...)
{
	va_list ap;

	(void)priority;
	if (nlogged == sizeof(logged) / sizeof(logged[0]))
		return;
	va_start(ap, fmt);
	vsnprintf(logged[nlogged++], sizeof(logged[0]), fmt, ap);
	va_end(ap);
}

static unsigned int logged_with(const char *a, const char *b)
{
	unsigned int i, n = 0;

	for (i = 0; i < nlogged; i++)
		if (strstr(logged[i], a) && (!b || strstr(logged[i], b)))
			n++;
	return n;
}

/* --- the echo protocol on the core --- */

struct echo_conn {
	struct sock_conn sc;
	bool closing; /* drop once the output is sent */
};

struct fixture {
	char dir[64];
	char path[128];
	struct sock_server *srv;
	struct sock_server_config cfg;
	size_t reply_len; /* bytes queued for each new connection */
	uint8_t *segment; /* a protocol-owned segment sent after them (one connection only) */
	size_t segment_sent;
	unsigned int accepted, over_limit, dropped, expired, out_events;
};

static uint8_t pattern(size_t i)
{
	return (uint8_t)(i * 7 + i / 4093);
}

static uint8_t segment_byte(size_t i)
{
	return (uint8_t)(255u - pattern(i));
}

static struct fixture *fixture_of(struct sock_conn *sc)
{
	return sock_server_opaque(sc->srv);
}

static bool segment_pending(struct fixture *f)
{
	return f->segment && f->segment_sent < SEGMENT;
}

static void echo_flush(struct sock_conn *sc)
{
	struct echo_conn *c = sock_conn_container(sc, struct echo_conn, sc);
	bool out;

	sock_conn_flush(sc);
	if (sc->dead)
		return;
	out = sock_conn_buffered(sc) || segment_pending(fixture_of(sc));
	if (!out && c->closing) {
		sock_conn_drop(sc, NULL);
		return;
	}
	sock_conn_watch(sc, !out && !c->closing, out);
}

static void echo_accepted(struct sock_conn *sc, bool over_limit)
{
	struct echo_conn *c = sock_conn_container(sc, struct echo_conn, sc);
	struct fixture *f = fixture_of(sc);
	uint8_t chunk[4096];
	size_t off, i;

	f->accepted++;
	if (over_limit) {
		f->over_limit++;
		c->closing = true;
		if (sock_conn_queue(sc, "busy", 4) == 0)
			echo_flush(sc);
		return;
	}
	for (off = 0; off < f->reply_len; off += sizeof(chunk)) {
		size_t n = f->reply_len - off < sizeof(chunk) ? f->reply_len - off : sizeof(chunk);

		for (i = 0; i < n; i++)
			chunk[i] = pattern(off + i);
		if (sock_conn_queue(sc, chunk, n))
			return;
	}
	echo_flush(sc);
}

static void echo_ready(struct sock_conn *sc, uint32_t events)
{
	struct fixture *f = fixture_of(sc);
	uint8_t buf[256];
	ssize_t n;

	if (events & EPOLLOUT) {
		f->out_events++;
		echo_flush(sc);
		return;
	}
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	n = sock_conn_recv(sc, buf, sizeof(buf));
	if (n == -EAGAIN)
		return;
	if (n <= 0) {
		sock_conn_drop(sc, NULL);
		return;
	}
	if (sock_conn_queue(sc, buf, (size_t)n) == 0)
		echo_flush(sc);
}

static const char *echo_expired(struct sock_conn *sc)
{
	fixture_of(sc)->expired++;
	return "silent past its deadline";
}

static void echo_dropped(struct sock_conn *sc)
{
	fixture_of(sc)->dropped++;
}

static int echo_out_iov(struct sock_conn *sc, struct iovec *iov, int max)
{
	struct fixture *f = fixture_of(sc);

	if (!segment_pending(f) || max < 1)
		return 0;
	iov[0] = (struct iovec){ f->segment + f->segment_sent, SEGMENT - f->segment_sent };
	return 1;
}

static void echo_out_sent(struct sock_conn *sc, size_t n)
{
	fixture_of(sc)->segment_sent += n;
}

static const struct sock_server_ops echo_ops = {
	.accepted = echo_accepted,
	.ready = echo_ready,
	.expired = echo_expired,
	.dropped = echo_dropped,
	.out_iov = echo_out_iov,
	.out_sent = echo_out_sent,
};

/* --- helpers --- */

static uint64_t elapsed_since(uint64_t t0)
{
	return sock_now_ms() - t0;
}

static void start(struct fixture *f)
{
	f->cfg.path = f->path;
	f->cfg.log_name = "echo";
	f->cfg.conn_size = sizeof(struct echo_conn);
	if (!f->cfg.max_clients)
		f->cfg.max_clients = 4;
	if (!f->cfg.timeout_ms)
		f->cfg.timeout_ms = 60000;
	assert_int_equal(sock_server_create(&f->cfg, &echo_ops, f, &f->srv), 0);
}

/* One turn of the embedder's loop: wait up to ms for the server's fd, then dispatch. */
static void pump(struct fixture *f, int ms)
{
	struct pollfd p = { .fd = sock_server_fd(f->srv), .events = POLLIN };

	assert_true(poll(&p, 1, ms) >= 0);
	assert_int_equal(sock_server_dispatch(f->srv), 0);
}

#define PUMP_UNTIL(f, cond)                                                                        \
	do {                                                                                       \
		uint64_t t0_ = sock_now_ms();                                                      \
		while (!(cond)) {                                                                  \
			assert_true(elapsed_since(t0_) < WAIT_MS);                                 \
			pump(f, 10);                                                               \
		}                                                                                  \
	} while (0)

static int cli_connect(struct fixture *f)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	strcpy(sa.sun_path, f->path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* Whether the server closed the client's connection (EOF or reset), without blocking. */
static bool cli_closed(int fd)
{
	char b[64];
	ssize_t n;

	while ((n = recv(fd, b, sizeof(b), MSG_DONTWAIT)) > 0)
		;
	return n == 0 || (n < 0 && errno != EAGAIN);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->dir, "/tmp/rt-sockserver-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/sock", f->dir);
	fail_settime = fail_mod = fail_add = false;
	nlogged = 0;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	sock_server_destroy(f->srv);
	assert_int_equal(access(f->path, F_OK), -1); /* the socket is unlinked */
	rmdir(f->dir);
	free(f->segment);
	free(f);
	return 0;
}

/* --- tests --- */

static void connections_beyond_the_limit_are_closed(void **state)
{
	struct fixture *f = *state;
	int a, b, c, d;

	f->cfg.max_clients = 2;
	start(f);
	a = cli_connect(f);
	b = cli_connect(f);
	c = cli_connect(f);
	PUMP_UNTIL(f, f->accepted == 2 && cli_closed(c));
	assert_int_equal(sock_server_clients(f->srv), 2);
	assert_int_equal(logged_with("refusing a client", "2 connected already"), 1);
	close(c);
	/* a slot freed is a slot taken */
	close(a);
	PUMP_UNTIL(f, sock_server_clients(f->srv) == 1);
	d = cli_connect(f);
	PUMP_UNTIL(f, f->accepted == 3);
	assert_int_equal(sock_server_clients(f->srv), 2);
	assert_false(cli_closed(d));
	close(b);
	close(d);
}

static void connections_beyond_the_limit_can_be_refused_with_a_reply(void **state)
{
	struct fixture *f = *state;
	char buf[8] = { 0 };
	int a, b;

	f->cfg.max_clients = 1;
	f->cfg.admit_over_limit = true;
	start(f);
	a = cli_connect(f);
	b = cli_connect(f);
	PUMP_UNTIL(f, f->over_limit == 1 && f->dropped == 1);
	assert_int_equal(recv(b, buf, sizeof(buf), 0), 4);
	assert_string_equal(buf, "busy");
	assert_true(cli_closed(b));
	assert_int_equal(f->accepted, 2);
	assert_int_equal(sock_server_clients(f->srv), 1);
	close(a);
	close(b);
}

static void a_silent_client_is_dropped_at_its_deadline(void **state)
{
	struct fixture *f = *state;
	uint64_t t0;
	int a;

	f->cfg.timeout_ms = 100;
	start(f);
	t0 = sock_now_ms();
	a = cli_connect(f);
	PUMP_UNTIL(f, f->dropped == 1);
	assert_true(elapsed_since(t0) >= 100);
	assert_int_equal(f->expired, 1);
	assert_int_equal(logged_with("echo: dropping client", "silent past its deadline"), 1);
	assert_true(cli_closed(a));
	assert_int_equal(sock_server_clients(f->srv), 0);
	close(a);
}

static void a_large_reply_reaches_a_slow_reader(void **state)
{
	struct fixture *f = *state;
	size_t got = 0, total = BIG_REPLY + SEGMENT, i;
	uint8_t *buf = malloc(total);
	char echo = 0;
	int a, rcv = 4096;

	assert_non_null(buf);
	f->reply_len = BIG_REPLY;
	f->segment = malloc(SEGMENT);
	assert_non_null(f->segment);
	for (i = 0; i < SEGMENT; i++)
		f->segment[i] = segment_byte(i);
	start(f);
	a = cli_connect(f);
	assert_int_equal(setsockopt(a, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv)), 0);
	/* the reader takes a little at a time, between the server's turns */
	while (got < total) {
		struct pollfd p[2] = { { .fd = sock_server_fd(f->srv), .events = POLLIN },
				       { .fd = a, .events = POLLIN } };
		ssize_t n;

		assert_true(poll(p, 2, WAIT_MS) > 0);
		assert_int_equal(sock_server_dispatch(f->srv), 0);
		n = recv(a, buf + got, total - got < 4096 ? total - got : 4096, MSG_DONTWAIT);
		if (n < 0)
			assert_int_equal(errno, EAGAIN);
		else
			got += (size_t)n;
		assert_true(n != 0);
	}
	for (i = 0; i < BIG_REPLY; i++)
		if (buf[i] != pattern(i))
			fail_msg("byte %zu of the buffered reply is wrong", i);
	for (i = 0; i < SEGMENT; i++)
		if (buf[BIG_REPLY + i] != segment_byte(i))
			fail_msg("byte %zu of the segment is wrong", i);
	assert_true(f->out_events > 0); /* finished on writability, not in one go */
	assert_int_equal(f->segment_sent, SEGMENT);
	/* drained: the connection reads again */
	assert_int_equal(send(a, "x", 1, 0), 1);
	PUMP_UNTIL(f, recv(a, &echo, 1, MSG_DONTWAIT) == 1);
	assert_int_equal(echo, 'x');
	assert_int_equal(f->dropped, 0);
	close(a);
	free(buf);
}

static void a_peer_leaving_mid_write_is_dropped_quietly(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[4096];
	int a, b;

	f->reply_len = 2 * BIG_REPLY;
	start(f);
	a = cli_connect(f);
	b = cli_connect(f);
	PUMP_UNTIL(f, f->accepted == 2 && recv(a, buf, sizeof(buf), MSG_DONTWAIT) > 0);
	close(a);
	PUMP_UNTIL(f, f->dropped == 1);
	assert_int_equal(sock_server_clients(f->srv), 1);
	assert_int_equal(logged_with("dropping client", NULL), 0);
	/* the other one is served still */
	PUMP_UNTIL(f, recv(b, buf, sizeof(buf), MSG_DONTWAIT) > 0);
	close(b);
}

static void a_failing_timer_is_logged_once_and_deadlines_still_hold(void **state)
{
	struct fixture *f = *state;
	struct pollfd p;
	uint64_t t0;
	int a, b;

	f->cfg.timeout_ms = 100;
	start(f);
	fail_settime = true;
	a = cli_connect(f);
	/* checked at every dispatch while the timer cannot be armed */
	PUMP_UNTIL(f, f->dropped == 1);
	assert_true(cli_closed(a));
	assert_int_equal(logged_with("echo: timerfd_settime", "Cannot allocate memory"), 1);
	fail_settime = false;
	b = cli_connect(f);
	PUMP_UNTIL(f, f->accepted == 2);
	/* armed again: the timer alone wakes the loop */
	t0 = sock_now_ms();
	p = (struct pollfd){ .fd = sock_server_fd(f->srv), .events = POLLIN };
	while (f->dropped < 2 && elapsed_since(t0) < WAIT_MS) {
		assert_int_equal(poll(&p, 1, WAIT_MS), 1);
		assert_int_equal(sock_server_dispatch(f->srv), 0);
	}
	assert_int_equal(f->dropped, 2);
	assert_int_equal(logged_with("timerfd_settime", NULL), 1);
	close(a);
	close(b);
}

static void failing_epoll_registrations_drop_or_refuse(void **state)
{
	struct fixture *f = *state;
	int a, b;

	f->reply_len = 2 * BIG_REPLY; /* fills the socket: the connection must watch EPOLLOUT */
	start(f);
	fail_mod = true;
	a = cli_connect(f);
	PUMP_UNTIL(f, f->dropped == 1);
	assert_true(cli_closed(a));
	assert_int_equal(logged_with("echo: dropping client", "epoll_ctl: Cannot allocate"), 1);
	fail_mod = false;
	fail_add = true;
	b = cli_connect(f);
	PUMP_UNTIL(f, cli_closed(b));
	assert_int_equal(f->accepted, 1);
	assert_int_equal(logged_with("echo: refusing a client", "epoll_ctl"), 1);
	assert_int_equal(sock_server_clients(f->srv), 0);
	fail_add = false;
	close(a);
	close(b);
}

static void a_stale_socket_is_replaced_and_anything_else_kept(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct sock_server *other = NULL;
	FILE *file;
	int s;

	/* a socket left behind (a crashed daemon) is replaced */
	strcpy(sa.sun_path, f->path);
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(s >= 0);
	assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(s);
	start(f);
	s = cli_connect(f);
	PUMP_UNTIL(f, f->accepted == 1);
	close(s);
	sock_server_destroy(f->srv);
	f->srv = NULL;
	assert_int_equal(access(f->path, F_OK), -1);
	/* anything else is not ours */
	file = fopen(f->path, "w");
	assert_non_null(file);
	fclose(file);
	assert_int_equal(sock_server_create(&f->cfg, &echo_ops, f, &other), -EEXIST);
	assert_null(other);
	assert_int_equal(access(f->path, F_OK), 0);
	unlink(f->path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
		T(connections_beyond_the_limit_are_closed),
		T(connections_beyond_the_limit_can_be_refused_with_a_reply),
		T(a_silent_client_is_dropped_at_its_deadline),
		T(a_large_reply_reaches_a_slow_reader),
		T(a_peer_leaving_mid_write_is_dropped_quietly),
		T(a_failing_timer_is_logged_once_and_deadlines_still_hold),
		T(failing_epoll_registrations_drop_or_refuse),
		T(a_stale_socket_is_replaced_and_anything_else_kept),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
