/* The control server and client over real Unix sockets: every request reaches its handler,
 * deferred replies, and hostile clients (garbage, oversized, stalled, too many, wrong uid) are
 * dropped without disturbing the others. The server runs in its own thread, as in a daemon's
 * event loop. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "lib/ctl/codec.h"
#include "ringtap/ctl.h"
#include "ringtap/log.h"

struct fixture {
	char dir[64];
	char path[128];
	struct ctl_server *srv;
	pthread_t thread;
	int stop_fd;
	/* what the handlers saw / hold (touched by the server thread while it runs) */
	struct ctl_open_args open;
	struct ctl_connect_args connect;
	struct ctl_poll_set_args poll_set;
	struct ctl_request *pending;
	int attached;
	bool resume_had_image;
};

/* ---- handlers ------------------------------------------------------------------------------ */
static int h_list(void *o, struct ctl_request *req, struct ctl_list *out)
{
	struct fixture *f = o;

	out->pid = getpid();
	out->count = 1;
	out->entries = calloc(1, sizeof(*out->entries));
	if (!out->entries)
		return -ENOMEM;
	out->entries[0].minor = f->attached;
	out->entries[0].state = CTL_VBD_PAUSED;
	out->entries[0].image.type = CTL_IMAGE_VHD;
	strcpy(out->entries[0].image.path, "/img.vhd");
	return 0;
}

static int h_attach(void *o, struct ctl_request *req, const struct ctl_minor_args *a)
{
	struct fixture *f = o;

	if (a->minor == 99) {
		ctl_request_set_message(req, "no minor %d here", a->minor);
		return -ENODEV;
	}
	f->attached = a->minor;
	return 0;
}

static int h_detach(void *o, struct ctl_request *req, const struct ctl_minor_args *a)
{
	return 7; /* a buggy positive return becomes EIO */
}

static int h_open(void *o, struct ctl_request *req, const struct ctl_open_args *a)
{
	struct fixture *f = o;

	f->open = *a;
	return 0;
}

static int h_close(void *o, struct ctl_request *req, const struct ctl_close_args *a)
{
	return a->force ? 0 : -EBUSY;
}

/* pause is deferred until a resume arrives (from another client) */
static int h_pause(void *o, struct ctl_request *req, const struct ctl_minor_args *a)
{
	struct fixture *f = o;

	f->pending = req;
	return CTL_DEFERRED;
}

static int h_resume(void *o, struct ctl_request *req, const struct ctl_resume_args *a)
{
	struct fixture *f = o;

	f->resume_had_image = a->image.type != CTL_IMAGE_NONE;
	if (f->pending) {
		ctl_request_complete(f->pending, 0);
		f->pending = NULL;
	}
	return 0;
}

static int h_connect(void *o, struct ctl_request *req, const struct ctl_connect_args *a)
{
	struct fixture *f = o;

	f->connect = *a;
	return 0;
}

static int h_info(void *o, struct ctl_request *req, const struct ctl_minor_args *a,
		  struct ctl_disk_info *out)
{
	struct fixture *f = o;

	if (a->minor == 5) { /* never answered: the client's timeout */
		f->pending = req;
		return CTL_DEFERRED;
	}
	*out = (struct ctl_disk_info){ 2048, 512, 4096, 0, 4096, 0 };
	return 0;
}

static int h_stats(void *o, struct ctl_request *req, const struct ctl_minor_args *a, char **json)
{
	*json = strdup(a->minor == 1 ? "{broken" : "{\"name\": \"x\", \"n\": [1, 2]}");
	return *json ? 0 : -ENOMEM;
}

static int h_poll_set(void *o, struct ctl_request *req, const struct ctl_poll_set_args *a)
{
	struct fixture *f = o;

	f->poll_set = *a;
	return 0;
}

static const struct ctl_handlers handlers = {
	.list = h_list,
	.attach = h_attach,
	.detach = h_detach,
	.open = h_open,
	.close = h_close,
	.pause = h_pause,
	.resume = h_resume,
	.connect = h_connect,
	.info = h_info,
	.stats = h_stats,
	.poll_set = h_poll_set,
	/* disconnect, poll_get: not implemented → EOPNOTSUPP */
};

/* ---- fixture -------------------------------------------------------------------------------- */
static void *server_thread(void *arg)
{
	struct fixture *f = arg;

	for (;;) {
		struct pollfd p[2] = { { ctl_server_fd(f->srv), POLLIN, 0 },
				       { f->stop_fd, POLLIN, 0 } };

		if (poll(p, 2, -1) < 0)
			continue;
		if (p[1].revents)
			return NULL;
		assert_int_equal(ctl_server_dispatch(f->srv), 0);
	}
}

static int start(void **state, unsigned int max_clients, unsigned int mode)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct ctl_server_config cfg = { 0 };

	strcpy(f->dir, "/tmp/ctl-test.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/ctl%d", f->dir, (int)getpid());
	cfg.path = f->path;
	cfg.max_clients = max_clients;
	cfg.timeout_ms = 1000;
	cfg.mode = mode;
	assert_int_equal(ctl_server_create(&cfg, &handlers, f, &f->srv), 0);
	f->stop_fd = eventfd(0, EFD_CLOEXEC);
	assert_true(f->stop_fd >= 0);
	assert_int_equal(pthread_create(&f->thread, NULL, server_thread, f), 0);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return start(state, 0, 0);
}

static int setup_two_clients(void **state)
{
	return start(state, 2, 0);
}

static int setup_world_writable(void **state)
{
	return start(state, 0, 0666);
}

static void stop_thread(struct fixture *f)
{
	uint64_t one = 1;

	if (f->stop_fd < 0)
		return;
	assert_int_equal(write(f->stop_fd, &one, sizeof(one)), sizeof(one));
	pthread_join(f->thread, NULL);
	close(f->stop_fd);
	f->stop_fd = -1;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	struct stat st;

	stop_thread(f);
	ctl_server_destroy(f->srv);
	if (f->pending)
		ctl_request_complete(f->pending, -ECANCELED); /* orphaned: just freed */
	assert_int_equal(stat(f->path, &st), -1); /* destroy unlinks the socket */
	rmdir(f->dir);
	free(f);
	return 0;
}

/* ---- raw socket helpers ------------------------------------------------------------------ */
static int raw_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	strcpy(sa.sun_path, path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static void raw_send(int fd, const void *buf, size_t len)
{
	assert_int_equal(send(fd, buf, len, MSG_NOSIGNAL), (ssize_t)len);
}

static void raw_header(int fd, uint16_t version, uint16_t type, uint32_t len)
{
	struct ctl_header h = { CTL_MAGIC, version, type, 77, len };
	uint8_t buf[CTL_HEADER_SIZE];

	ctl_header_encode(&h, buf);
	raw_send(fd, buf, sizeof(buf));
}

/* Reads n bytes within 8 s; returns how many arrived before EOF. */
static size_t raw_read(int fd, uint8_t *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		struct pollfd p = { fd, POLLIN, 0 };
		ssize_t r;

		assert_int_equal(poll(&p, 1, 8000), 1);
		r = recv(fd, buf + got, n - got, 0);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	return got;
}

/* Reads one reply frame and returns its error (positive errno; 0 success). */
static int raw_reply(int fd, unsigned int req_type)
{
	uint8_t hdr[CTL_HEADER_SIZE], payload[4096];
	struct ctl_reply r;
	struct ctl_header h;
	int err;

	assert_int_equal(raw_read(fd, hdr, sizeof(hdr)), sizeof(hdr));
	assert_int_equal(ctl_header_decode(hdr, sizeof(payload), &h), 0);
	assert_int_equal(raw_read(fd, payload, h.length), h.length);
	assert_int_equal(ctl_reply_decode(&h, req_type, payload, &r), 0);
	err = r.error;
	ctl_reply_release(&r);
	return err;
}

static void expect_eof(int fd)
{
	uint8_t b;

	assert_int_equal(raw_read(fd, &b, 1), 0);
}

static void list_still_works(struct fixture *f)
{
	struct ctl_client *c;
	struct ctl_list l;

	assert_int_equal(ctl_client_connect(f->path, 2000, &c), 0);
	assert_int_equal(ctl_list(c, &l), 0);
	assert_int_equal(l.pid, getpid());
	assert_int_equal(l.count, 1);
	ctl_list_release(&l);
	ctl_client_close(c);
}

/* ---- tests -------------------------------------------------------------------------------- */
static void every_request_reaches_its_handler(void **state)
{
	struct fixture *f = *state;
	struct ctl_open_args *oa = calloc(1, sizeof(*oa));
	struct ctl_connect_args *ca = calloc(1, sizeof(*ca));
	struct ctl_resume_args *ra = calloc(1, sizeof(*ra));
	struct ctl_close_args cl = { 3, false };
	struct ctl_disconnect_args da = { 3 };
	struct ctl_poll_set_args ps = {
		3, { CTL_POLL_SET_POLICY | CTL_POLL_SET_GROW, CTL_POLL_OFF, 0, 0, 0, 4, 0 }
	};
	struct ctl_poll_settings pg;
	struct ctl_disk_info di;
	struct ctl_client *c;
	struct ctl_list l;
	char *json;

	assert_int_equal(ctl_client_connect(f->path, 2000, &c), 0);
	assert_int_equal(ctl_attach(c, 3), 0);
	assert_int_equal(ctl_list(c, &l), 0);
	assert_int_equal(l.count, 1);
	assert_int_equal(l.entries[0].minor, 3);
	assert_int_equal(l.entries[0].state, CTL_VBD_PAUSED);
	assert_string_equal(l.entries[0].image.path, "/img.vhd");
	ctl_list_release(&l);

	assert_int_equal(ctl_attach(c, 99), -ENODEV);
	assert_string_equal(ctl_client_error_message(c), "no minor 99 here");
	assert_int_equal(ctl_detach(c, 3), -EIO);
	assert_string_equal(ctl_client_error_message(c), "");

	oa->minor = 3;
	assert_int_equal(ctl_image_parse("raw:/dev/xvda", &oa->image), 0);
	oa->flags = CTL_OPEN_RDONLY | CTL_OPEN_NO_O_DIRECT | CTL_OPEN_ADD_LOG;
	strcpy(oa->cbt_log, "/cbt");
	oa->timeout_s = 30;
	assert_int_equal(ctl_open(c, oa), 0);
	assert_int_equal(f->open.flags, oa->flags);
	assert_string_equal(f->open.image.path, "/dev/xvda");
	assert_string_equal(f->open.cbt_log, "/cbt");
	assert_int_equal(f->open.timeout_s, 30);

	assert_int_equal(ctl_close(c, &cl), -EBUSY);
	cl.force = true;
	assert_int_equal(ctl_close(c, &cl), 0);

	ca->minor = 3;
	ca->domid = 7;
	ca->devid = 768;
	ca->order = 1;
	ca->ring_refs[0] = 11;
	ca->ring_refs[1] = 12;
	ca->port = 5;
	ca->protocol = CTL_RING_X86_64;
	assert_int_equal(ctl_connect(c, ca), 0);
	assert_int_equal(f->connect.ring_refs[1], 12);
	assert_int_equal(f->connect.protocol, CTL_RING_X86_64);
	assert_int_equal(ctl_disconnect(c, &da), -EOPNOTSUPP);

	ra->minor = 3;
	assert_int_equal(ctl_resume(c, ra), 0);
	assert_false(f->resume_had_image);

	assert_int_equal(ctl_info(c, 3, &di), 0);
	assert_int_equal(di.sectors, 2048);
	assert_int_equal(di.physical_sector_size, 4096);
	assert_int_equal(ctl_stats(c, 3, &json), 0);
	assert_string_equal(json, "{\"name\":\"x\",\"n\":[1,2]}");
	free(json);
	assert_int_equal(ctl_stats(c, 1, &json), -EIO); /* the daemon produced invalid JSON */
	assert_null(json);

	assert_int_equal(ctl_poll_set(c, &ps), 0);
	assert_int_equal(f->poll_set.settings.set_mask, CTL_POLL_SET_POLICY | CTL_POLL_SET_GROW);
	assert_int_equal(f->poll_set.settings.policy, CTL_POLL_OFF);
	assert_int_equal(f->poll_set.settings.grow, 4);
	assert_int_equal(ctl_poll_get(c, 3, &pg), -EOPNOTSUPP);
	ctl_client_close(c);
	free(oa);
	free(ca);
	free(ra);
}

static void garbage_is_dropped_without_disturbing_others(void **state)
{
	struct fixture *f = *state;
	static const char garbage[] = "GET / HTTP/1.0\r\nHost: x\r\n\r\n";
	struct ctl_client *other;
	int fd;

	assert_int_equal(ctl_client_connect(f->path, 2000, &other), 0);
	fd = raw_connect(f->path);
	raw_send(fd, garbage, sizeof(garbage) - 1);
	assert_int_equal(raw_reply(fd, CTL_MSG_LIST), EBADMSG);
	expect_eof(fd);
	close(fd);
	assert_int_equal(ctl_attach(other, 1), 0); /* connected before, still served */
	ctl_client_close(other);
	list_still_works(f);
}

static void oversized_and_wrong_version_are_refused(void **state)
{
	struct fixture *f = *state;
	int fd;

	fd = raw_connect(f->path);
	raw_header(fd, CTL_VERSION, CTL_MSG_LIST, 0xfffffff0u);
	assert_int_equal(raw_reply(fd, CTL_MSG_LIST), EMSGSIZE);
	expect_eof(fd);
	close(fd);

	fd = raw_connect(f->path);
	raw_header(fd, CTL_VERSION, CTL_MSG_LIST, CTL_MAX_REQUEST + 1);
	assert_int_equal(raw_reply(fd, CTL_MSG_LIST), EMSGSIZE);
	expect_eof(fd);
	close(fd);

	fd = raw_connect(f->path);
	raw_header(fd, CTL_VERSION + 1, CTL_MSG_LIST, 2);
	/* the server may refuse the header and hang up before the payload arrives (EPIPE): the
	 * reply is what is tested, and it is already queued for us */
	if (send(fd, "{}", 2, MSG_NOSIGNAL) < 0)
		assert_true(errno == EPIPE || errno == ECONNRESET);
	assert_int_equal(raw_reply(fd, CTL_MSG_LIST), EPROTONOSUPPORT);
	expect_eof(fd);
	close(fd);
	list_still_works(f);
}

static void malformed_payload_is_refused_unknown_type_is_not_fatal(void **state)
{
	struct fixture *f = *state;
	int fd;

	fd = raw_connect(f->path);
	raw_header(fd, CTL_VERSION, CTL_MSG_ATTACH, 1);
	raw_send(fd, "{", 1);
	assert_int_equal(raw_reply(fd, CTL_MSG_ATTACH), EBADMSG);
	expect_eof(fd);
	close(fd);

	fd = raw_connect(f->path);
	raw_header(fd, CTL_VERSION, CTL_MSG_ATTACH, 0);
	assert_int_equal(raw_reply(fd, CTL_MSG_ATTACH), EBADMSG);
	close(fd);

	fd = raw_connect(f->path);
	raw_header(fd, CTL_VERSION, CTL_MSG_ATTACH, 13);
	raw_send(fd, "{\"minor\":-4}", 12);
	raw_send(fd, " ", 1);
	assert_int_equal(raw_reply(fd, CTL_MSG_ATTACH), EINVAL);
	close(fd);

	/* a newer client's unknown request: an error, and the connection stays usable */
	fd = raw_connect(f->path);
	raw_header(fd, CTL_VERSION, 200, 2);
	raw_send(fd, "{}", 2);
	assert_int_equal(raw_reply(fd, CTL_MSG_LIST), EOPNOTSUPP);
	raw_header(fd, CTL_VERSION, CTL_MSG_LIST, 2);
	raw_send(fd, "{}", 2);
	assert_int_equal(raw_reply(fd, CTL_MSG_LIST), 0);
	close(fd);
}

static void stalled_client_is_dropped_others_served(void **state)
{
	struct fixture *f = *state;
	int stalled, gone, i;

	stalled = raw_connect(f->path);
	raw_send(stalled, "RTCL\0", 5); /* a third of a header, then nothing */
	gone = raw_connect(f->path);
	raw_header(gone, CTL_VERSION, CTL_MSG_ATTACH, 100);
	raw_send(gone, "{\"mi", 4);
	close(gone); /* hangs up mid-message */
	list_still_works(f);
	expect_eof(stalled); /* the 1 s deadline, well within raw_read's 8 s */
	close(stalled);
	list_still_works(f);
	for (i = 0; i < 500 && ctl_server_clients(f->srv); i++)
		usleep(10000); /* the last client's hang-up is handled asynchronously */
	assert_int_equal(ctl_server_clients(f->srv), 0);
}

struct pause_call {
	const char *path;
	int err;
};

static void *pause_thread(void *arg)
{
	struct pause_call *pc = arg;
	struct ctl_client *c;
	int err = ctl_client_connect(pc->path, 5000, &c);

	if (!err) {
		err = ctl_pause(c, 1);
		ctl_client_close(c);
	}
	pc->err = err; /* only once the pause has returned */
	return NULL;
}

static void deferred_reply_arrives_when_completed(void **state)
{
	struct fixture *f = *state;
	struct pause_call pc = { f->path, -1 };
	struct ctl_resume_args *ra = calloc(1, sizeof(*ra));
	struct ctl_client *c;
	pthread_t t;
	int i;

	assert_int_equal(pthread_create(&t, NULL, pause_thread, &pc), 0);
	for (i = 0; i < 300 && !f->pending; i++)
		usleep(10000);
	assert_non_null(f->pending);
	/* meanwhile the server keeps serving others */
	list_still_works(f);
	assert_int_equal(pc.err, -1);
	assert_int_equal(ctl_client_connect(f->path, 2000, &c), 0);
	ra->minor = 1;
	assert_int_equal(ctl_image_parse("vhd:/new.vhd", &ra->image), 0);
	assert_int_equal(ctl_resume(c, ra), 0); /* completes the pause */
	assert_true(f->resume_had_image);
	pthread_join(t, NULL);
	assert_int_equal(pc.err, 0);
	ctl_client_close(c);
	free(ra);
}

static void deferred_request_of_a_vanished_client_is_safe(void **state)
{
	struct fixture *f = *state;
	struct ctl_resume_args *ra = calloc(1, sizeof(*ra));
	struct ctl_client *c;
	int fd, i;

	fd = raw_connect(f->path);
	raw_header(fd, CTL_VERSION, CTL_MSG_PAUSE, 11);
	raw_send(fd, "{\"minor\":1}", 11);
	for (i = 0; i < 300 && !f->pending; i++)
		usleep(10000);
	assert_non_null(f->pending);
	close(fd);
	for (i = 0; i < 300 && ctl_server_clients(f->srv); i++)
		usleep(10000);
	assert_int_equal(ctl_server_clients(f->srv), 0);
	assert_int_equal(ctl_client_connect(f->path, 2000, &c), 0);
	ra->minor = 1;
	assert_int_equal(ctl_resume(c, ra), 0); /* completes the orphan: no reply, no crash */
	ctl_client_close(c);
	free(ra);
}

static void client_times_out_on_a_silent_daemon(void **state)
{
	struct fixture *f = *state;
	struct ctl_disk_info di;
	struct ctl_client *c;

	assert_int_equal(ctl_client_connect(f->path, 300, &c), 0);
	assert_int_equal(ctl_info(c, 5, &di), -ETIMEDOUT);
	ctl_client_close(c);
}

static void clients_beyond_the_limit_are_refused(void **state)
{
	struct fixture *f = *state;
	int a, b, c;

	a = raw_connect(f->path);
	b = raw_connect(f->path);
	c = raw_connect(f->path);
	assert_int_equal(raw_reply(c, CTL_MSG_LIST), EBUSY);
	expect_eof(c);
	close(c);
	raw_header(a, CTL_VERSION, CTL_MSG_LIST, 2);
	raw_send(a, "{}", 2);
	assert_int_equal(raw_reply(a, CTL_MSG_LIST), 0);
	close(a);
	close(b);
}

static void other_users_are_refused(void **state)
{
	struct fixture *f = *state;
	int status;
	pid_t pid;

	if (geteuid() != 0)
		skip(); /* needs root to become another user */
	assert_int_equal(chmod(f->dir, 0755), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct ctl_client *c;
		struct ctl_list l;
		int err;

		if (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
			_exit(100);
		err = ctl_client_connect(f->path, 2000, &c);
		if (err)
			_exit(101);
		err = ctl_list(c, &l);
		_exit(err == -EACCES && strstr(ctl_client_error_message(c), "uid 65534") ? 0 : 102);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	list_still_works(f);
}

static void socket_mode_and_stale_socket(void **state)
{
	struct fixture *f = *state;
	struct ctl_server_config cfg = { 0 };
	struct ctl_server *srv2;
	char path[160];
	struct stat st;
	int fd;

	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* a stale socket is replaced; a regular file is not ours to remove */
	snprintf(path, sizeof(path), "%s/ctl1", f->dir);
	cfg.path = path;
	assert_int_equal(ctl_server_create(&cfg, &handlers, f, &srv2), 0);
	ctl_server_destroy(srv2);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	{
		struct sockaddr_un sa = { .sun_family = AF_UNIX };

		strcpy(sa.sun_path, path);
		assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	}
	close(fd);
	assert_int_equal(ctl_server_create(&cfg, &handlers, f, &srv2), 0);
	ctl_server_destroy(srv2);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	close(fd);
	assert_int_equal(ctl_server_create(&cfg, &handlers, f, &srv2), -EEXIST);
	assert_int_equal(stat(path, &st), 0);
	unlink(path);
	cfg.path = "/nonexistent-dir/ctl1";
	assert_int_equal(ctl_server_create(&cfg, &handlers, f, &srv2), -ENOENT);
}

static void missing_daemon_errors_as_blktap3(void **state)
{
	struct fixture *f = *state;
	struct ctl_client *c;
	char path[160];
	int fd;

	snprintf(path, sizeof(path), "%s/ctl424242", f->dir);
	assert_int_equal(ctl_client_connect(path, 1000, &c), -ENOENT);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	{
		struct sockaddr_un sa = { .sun_family = AF_UNIX };

		strcpy(sa.sun_path, path);
		assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	}
	close(fd); /* a socket nobody listens on: a dead daemon's */
	assert_int_equal(ctl_client_connect(path, 1000, &c), -ECONNREFUSED);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(every_request_reaches_its_handler, setup, teardown),
		cmocka_unit_test_setup_teardown(garbage_is_dropped_without_disturbing_others, setup,
						teardown),
		cmocka_unit_test_setup_teardown(oversized_and_wrong_version_are_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			malformed_payload_is_refused_unknown_type_is_not_fatal, setup, teardown),
		cmocka_unit_test_setup_teardown(stalled_client_is_dropped_others_served, setup,
						teardown),
		cmocka_unit_test_setup_teardown(deferred_reply_arrives_when_completed, setup,
						teardown),
		cmocka_unit_test_setup_teardown(deferred_request_of_a_vanished_client_is_safe,
						setup, teardown),
		cmocka_unit_test_setup_teardown(client_times_out_on_a_silent_daemon, setup,
						teardown),
		cmocka_unit_test_setup_teardown(clients_beyond_the_limit_are_refused,
						setup_two_clients, teardown),
		cmocka_unit_test_setup_teardown(other_users_are_refused, setup_world_writable,
						teardown),
		cmocka_unit_test_setup_teardown(socket_mode_and_stale_socket, setup, teardown),
		cmocka_unit_test_setup_teardown(missing_daemon_errors_as_blktap3, setup, teardown),
	};

	rt_log_open("test_ctl_server", 1);
	rt_log_set_level(LOG_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
