/* The SCM_RIGHTS receiver (src/fd_receiver.h) on tapdisk's loop: accept one connection, wait
 * (bounded) for its one message, hand over the descriptor, close the connection. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ringtap/log.h"
#include "src/fd_receiver.h"
#include "src/loop.h"

#define MSG_MAX (16 * 1024) /* blktap3's message buffer */
#define MSG_TIMEOUT_NS (10ull * 1000 * 1000 * 1000)

struct td_fd_receiver {
	struct td_loop *loop;
	int lfd, cfd; /* listening; the connection being read (-1: none) */
	struct td_loop_file lfile, cfile;
	struct td_loop_timer deadline;
	td_fd_received_fn fn;
	void *data;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

static void end_conn(struct td_fd_receiver *r)
{
	td_loop_timer_cancel(r->loop, &r->deadline);
	td_loop_file_del(r->loop, &r->cfile);
	close(r->cfd);
	r->cfd = -1;
	td_loop_file_mod(r->loop, &r->lfile, EPOLLIN); /* the next connection */
}

static void on_timeout(struct td_loop *loop, struct td_loop_timer *t, void *data)
{
	struct td_fd_receiver *r = data;

	rt_warn("%s: no message within 10 s: connection dropped", r->path);
	end_conn(r);
}

/* The message: its data as a string, and the first descriptor (others are closed). */
static void on_message(struct td_loop *loop, int fd, uint32_t events, void *data)
{
	struct td_fd_receiver *r = data;
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(16 * sizeof(int))];
	} ctl;
	char *msg = malloc(MSG_MAX + 1);
	struct iovec iov = { msg, MSG_MAX };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = ctl.buf,
			     .msg_controllen = sizeof(ctl.buf) };
	struct cmsghdr *c;
	int got = -1;
	ssize_t n;

	if (!msg) {
		rt_err("%s: out of memory", r->path);
		end_conn(r);
		return;
	}
	n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
		free(msg);
		return;
	}
	for (c = n >= 0 ? CMSG_FIRSTHDR(&mh) : NULL; c; c = CMSG_NXTHDR(&mh, c)) {
		size_t nfds = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		int fds[16];

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		memcpy(fds, CMSG_DATA(c), nfds * sizeof(int));
		for (size_t i = 0; i < nfds; i++) {
			if (got < 0)
				got = fds[i];
			else
				close(fds[i]);
		}
	}
	if (n < 0)
		rt_warn("%s: recvmsg: %s", r->path, strerror(errno));
	else if (got < 0)
		rt_warn("%s: a message without a file descriptor: ignored", r->path);
	else if (mh.msg_flags & MSG_CTRUNC)
		rt_warn("%s: more descriptors than expected: only the first is kept", r->path);
	end_conn(r);
	if (got >= 0) {
		msg[n] = '\0';
		r->fn(got, msg, r->data);
	}
	free(msg);
}

static void on_accept(struct td_loop *loop, int fd, uint32_t events, void *data)
{
	struct td_fd_receiver *r = data;
	int cfd;

	if (r->cfd >= 0)
		return;
	cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (cfd < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			rt_warn("%s: accept: %s", r->path, strerror(errno));
		return;
	}
	if (td_loop_file_add(loop, &r->cfile, cfd, EPOLLIN, on_message, r) < 0) {
		close(cfd);
		return;
	}
	r->cfd = cfd;
	td_loop_file_mod(loop, &r->lfile, 0); /* one connection at a time */
	td_loop_timer_arm(loop, &r->deadline, MSG_TIMEOUT_NS, 0, on_timeout, r);
}

int td_fd_receiver_create(struct td_loop *loop, const char *path, td_fd_received_fn fn, void *data,
			  struct td_fd_receiver **out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct td_fd_receiver *r;
	struct stat st;
	int err;

	*out = NULL;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->loop = loop;
	r->cfd = -1;
	r->fn = fn;
	r->data = data;
	snprintf(r->path, sizeof(r->path), "%s", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
		free(r);
		return -EEXIST;
	}
	unlink(path); /* a stale socket of ours */
	r->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (r->lfd < 0 || bind(r->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(r->lfd, 8) < 0) {
		err = -errno;
		if (r->lfd >= 0)
			close(r->lfd);
		free(r);
		return err;
	}
	chmod(path, 0600);
	err = td_loop_file_add(loop, &r->lfile, r->lfd, EPOLLIN, on_accept, r);
	if (err) {
		close(r->lfd);
		unlink(path);
		free(r);
		return err;
	}
	*out = r;
	return 0;
}

void td_fd_receiver_destroy(struct td_fd_receiver *r)
{
	if (!r)
		return;
	if (r->cfd >= 0)
		end_conn(r);
	td_loop_file_del(r->loop, &r->lfile);
	close(r->lfd);
	if (unlink(r->path) < 0 && errno != ENOENT)
		rt_warn("%s: unlink: %s", r->path, strerror(errno));
	free(r);
}
