/* Helpers of the two-process simxen library tests (peer.h). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "peer.h"

void check_report(int ok, int quiet, const char *file, int line, const char *fmt, ...)
{
	int err = errno;
	va_list ap;

	if (ok && quiet)
		return;
	va_start(ap, fmt);
	fprintf(ok ? stdout : stderr, ok ? "ok: " : "FAIL: %s:%d: ", file, line);
	vfprintf(ok ? stdout : stderr, fmt, ap);
	va_end(ap);
	if (ok) {
		fputc('\n', stdout);
		fflush(stdout);
		errno = err;
		return;
	}
	fprintf(stderr, " (errno %d: %s)\n", err, strerror(err));
	exit(1);
}

void peer_start(struct peer *p, unsigned int domid, int (*peer_main)(int fd))
{
	int sv[2];
	char id[16];

	REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
	fflush(NULL);
	p->pid = fork();
	REQUIRE(p->pid >= 0, "fork");
	if (p->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(sv[0]);
		snprintf(id, sizeof(id), "%u", domid);
		setenv("SIMXEN_DOMID", id, 1);
		exit(peer_main(sv[1]));
	}
	close(sv[1]);
	p->fd = sv[0];
}

void peer_finish(struct peer *p)
{
	int status;

	close(p->fd);
	REQUIRE(waitpid(p->pid, &status, 0) == p->pid, "wait for the peer");
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "the peer process succeeded (status %#x)", status);
}

void peer_send(int fd, const uint32_t *v, size_t n)
{
	REQUIRE(write(fd, v, n * sizeof(*v)) == (ssize_t)(n * sizeof(*v)), "send to the peer");
}

void peer_recv(int fd, uint32_t *v, size_t n)
{
	size_t want = n * sizeof(*v), got = 0;

	while (got < want) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t r;

		/* a bound for a hung peer, not a speed: under valgrind beside a load average of 15
		 * a peer took more than 30 s to answer */
		REQUIRE(poll(&pfd, 1, 300000) == 1, "the peer answers within 300 s");
		r = read(fd, (char *)v + got, want - got);
		REQUIRE(r > 0, "the peer is still there");
		got += (size_t)r;
	}
}

void peer_send1(int fd, uint32_t v)
{
	peer_send(fd, &v, 1);
}

uint32_t peer_recv1(int fd)
{
	uint32_t v;

	peer_recv(fd, &v, 1);
	return v;
}

bool memory_page_held(const char *dir, unsigned int domid, uint32_t ref)
{
	const off_t off = (off_t)ref * 4096;
	char path[4096];
	off_t data;
	int fd;

	snprintf(path, sizeof(path), "%s/dom%u.mem", dir, domid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	REQUIRE(fd >= 0, "open %s", path);
	data = lseek(fd, off, SEEK_DATA);
	REQUIRE(data >= 0 || errno == ENXIO, "lseek SEEK_DATA in %s", path);
	close(fd);
	return data >= 0 && data < off + 4096;
}
