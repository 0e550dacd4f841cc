/* What dead tapdisks leave (lib/ctl/stale.c, the minors in rundir.c): a dead pid's sockets,
 * held minors and statistics are reaped; a live tapdisk's (here: this process, serving its
 * control socket as a tapdisk under a wrapper would) and an allocated, never held minor are not. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "ringtap/ctl.h"

struct fixture {
	char root[64], run[96], shm[96];
	pid_t dead; /* a child that exited and was reaped */
	int listen_fd; /* this process's ctl<pid>, listening */
};

/* Formats a path; the test fails if it does not fit. */
static void path_of(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void path_of(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	assert_true(n > 0 && (size_t)n < size);
}

/* A Unix socket bound at path: listening (a live server) or not (what a dead one leaves). */
static int bind_socket(const char *path, bool listening)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	if (listening)
		assert_int_equal(listen(fd, 4), 0);
	return fd;
}

static void write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char path[256];
	int status;

	assert_non_null(f);
	snprintf(f->root, sizeof(f->root), "/tmp/ringtap-stale.XXXXXX");
	assert_non_null(mkdtemp(f->root));
	snprintf(f->run, sizeof(f->run), "%s/run", f->root);
	snprintf(f->shm, sizeof(f->shm), "%s/shm", f->root);
	assert_int_equal(setenv(CTL_RUN_DIR_ENV, f->run, 1), 0);
	assert_int_equal(setenv(CTL_SHM_DIR_ENV, f->shm, 1), 0);
	assert_int_equal(ctl_prepare_run_dir(), 0);
	assert_int_equal(mkdir(f->shm, 0700), 0);
	f->dead = fork();
	assert_true(f->dead >= 0);
	if (f->dead == 0)
		_exit(0);
	assert_int_equal(waitpid(f->dead, &status, 0), f->dead);
	path_of(path, sizeof(path), "%s/ctl%ld", f->run, (long)getpid());
	f->listen_fd = bind_socket(path, true);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	close(f->listen_fd);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->root);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void liveness(void **state)
{
	struct fixture *f = *state;
	char path[256];

	assert_false(ctl_tapdisk_alive(0));
	assert_false(ctl_tapdisk_alive(f->dead));
	/* not named tapdisk, but serving its socket: a tapdisk under a wrapper */
	assert_true(ctl_tapdisk_alive(getpid()));
	/* not named tapdisk and nothing listens: a pid reused by another program */
	close(f->listen_fd);
	path_of(path, sizeof(path), "%s/ctl%ld", f->run, (long)getpid());
	unlink(path);
	f->listen_fd = bind_socket(path, false);
	assert_false(ctl_tapdisk_alive(getpid()));
}

static void reaps_the_dead_keeps_the_live(void **state)
{
	struct fixture *f = *state;
	char dead_ctl[256], dead_nbd[256], dead_td3[256], dead_page[300], dead_vbd3[256];
	char live_ctl[256], live_td3[256], live_page[300], live_vbd3[256], file[300];
	char pid_text[32], m_dead[256], m_live[256], m_alloc[256];
	int fds[2], held, minor_dead, minor_live, minor_alloc;

	path_of(dead_ctl, sizeof(dead_ctl), "%s/ctl%ld", f->run, (long)f->dead);
	path_of(dead_nbd, sizeof(dead_nbd), "%s/nbd%ld.3", f->run, (long)f->dead);
	fds[0] = bind_socket(dead_ctl, false);
	fds[1] = bind_socket(dead_nbd, false);
	close(fds[0]);
	close(fds[1]);
	path_of(dead_td3, sizeof(dead_td3), "%s/td3-%ld", f->shm, (long)f->dead);
	path_of(dead_page, sizeof(dead_page), "%s/vbd-1-2", dead_td3);
	path_of(dead_vbd3, sizeof(dead_vbd3), "%s/vbd3-1-2", f->shm);
	assert_int_equal(mkdir(dead_td3, 0700), 0);
	write_file(dead_page, "x");
	assert_int_equal(mkdir(dead_vbd3, 0700), 0);
	path_of(file, sizeof(file), "%s/statistics", dead_vbd3);
	write_file(file, "x");

	path_of(live_ctl, sizeof(live_ctl), "%s/ctl%ld", f->run, (long)getpid());
	path_of(live_td3, sizeof(live_td3), "%s/td3-%ld", f->shm, (long)getpid());
	path_of(live_page, sizeof(live_page), "%s/vbd-7-8", live_td3);
	path_of(live_vbd3, sizeof(live_vbd3), "%s/vbd3-7-8", f->shm);
	assert_int_equal(mkdir(live_td3, 0700), 0);
	write_file(live_page, "x");
	assert_int_equal(mkdir(live_vbd3, 0700), 0);

	/* minors: one held by the dead pid, one held by us, one allocated and never held */
	minor_dead = ctl_minor_allocate();
	minor_live = ctl_minor_allocate();
	minor_alloc = ctl_minor_allocate();
	assert_true(minor_dead >= 0 && minor_live >= 0 && minor_alloc >= 0);
	assert_int_equal(ctl_minor_path(minor_dead, m_dead, sizeof(m_dead)), 0);
	assert_int_equal(ctl_minor_path(minor_live, m_live, sizeof(m_live)), 0);
	assert_int_equal(ctl_minor_path(minor_alloc, m_alloc, sizeof(m_alloc)), 0);
	snprintf(pid_text, sizeof(pid_text), "%d\n", (int)f->dead);
	write_file(m_dead, pid_text);
	held = ctl_minor_hold(minor_live);
	assert_true(held >= 0);

	assert_int_equal(ctl_reap_dead(), 1);
	assert_false(exists(dead_ctl));
	assert_false(exists(dead_nbd));
	assert_false(exists(dead_td3));
	assert_false(exists(dead_vbd3));
	assert_false(exists(m_dead));
	assert_true(exists(live_ctl));
	assert_true(exists(live_page));
	assert_true(exists(live_vbd3));
	assert_true(exists(m_live));
	assert_true(exists(m_alloc));
	/* a released minor is empty again: allocated, nobody's, kept */
	ctl_minor_release(held);
	assert_int_equal(ctl_reap_dead(), 0);
	assert_true(exists(m_live));
	assert_int_equal(ctl_minor_free(minor_live), 0);
	assert_int_equal(ctl_minor_free(minor_alloc), 0);
	/* nothing left to reap: a second pass changes nothing */
	assert_int_equal(ctl_reap_dead(), 0);
	assert_true(exists(live_ctl));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(liveness, setup, teardown),
		cmocka_unit_test_setup_teardown(reaps_the_dead_keeps_the_live, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
