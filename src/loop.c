/* tapdisk's single-threaded event loop (see loop.h): epoll, a short sorted timer list, and
 * before-sleep hooks where batched work (response pushes, notifications) is flushed. */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "src/loop.h"

uint64_t td_loop_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int td_loop_init(struct td_loop *loop)
{
	memset(loop, 0, sizeof(*loop));
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	return loop->epfd < 0 ? -errno : 0;
}

void td_loop_fini(struct td_loop *loop)
{
	if (loop->epfd >= 0)
		close(loop->epfd);
	loop->epfd = -1;
	loop->timers = NULL;
	loop->hooks = NULL;
}

int td_loop_file_add(struct td_loop *loop, struct td_loop_file *file, int fd, uint32_t events,
		     td_file_fn fn, void *data)
{
	struct epoll_event ev = { .events = events, .data.ptr = file };

	file->fd = fd;
	file->events = events;
	file->fn = fn;
	file->data = data;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	file->registered = true;
	return 0;
}

int td_loop_file_mod(struct td_loop *loop, struct td_loop_file *file, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = file };

	if (!file->registered)
		return -ENOENT;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, file->fd, &ev) < 0)
		return -errno;
	file->events = events;
	return 0;
}

void td_loop_file_del(struct td_loop *loop, struct td_loop_file *file)
{
	int i;

	if (!file->registered)
		return;
	epoll_ctl(loop->epfd, EPOLL_CTL_DEL, file->fd, NULL);
	file->registered = false;
	/* An event for it may still wait in the batch being dispatched: forget it. */
	for (i = loop->cur; i < loop->nevents; i++)
		if (loop->events[i].data.ptr == file)
			loop->events[i].data.ptr = NULL;
}

static void timer_unlink(struct td_loop *loop, struct td_loop_timer *timer)
{
	struct td_loop_timer **p;

	for (p = &loop->timers; *p; p = &(*p)->next)
		if (*p == timer) {
			*p = timer->next;
			break;
		}
	timer->armed = false;
	timer->next = NULL;
}

static void timer_insert(struct td_loop *loop, struct td_loop_timer *timer)
{
	struct td_loop_timer **p = &loop->timers;

	while (*p && (*p)->deadline_ns <= timer->deadline_ns)
		p = &(*p)->next;
	timer->next = *p;
	*p = timer;
	timer->armed = true;
}

void td_loop_timer_arm(struct td_loop *loop, struct td_loop_timer *timer, uint64_t delay_ns,
		       uint64_t period_ns, td_timer_fn fn, void *data)
{
	if (timer->armed)
		timer_unlink(loop, timer);
	timer->deadline_ns = td_loop_now_ns() + delay_ns;
	timer->period_ns = period_ns;
	timer->fn = fn;
	timer->data = data;
	timer_insert(loop, timer);
}

void td_loop_timer_cancel(struct td_loop *loop, struct td_loop_timer *timer)
{
	if (timer->armed)
		timer_unlink(loop, timer);
}

void td_loop_hook_add(struct td_loop *loop, struct td_loop_hook *hook, td_hook_fn fn, void *data)
{
	struct td_loop_hook **p = &loop->hooks;

	while (*p)
		p = &(*p)->next;
	hook->fn = fn;
	hook->data = data;
	hook->next = NULL;
	*p = hook;
	loop->hooks_changed = true;
}

void td_loop_hook_del(struct td_loop *loop, struct td_loop_hook *hook)
{
	struct td_loop_hook **p;

	for (p = &loop->hooks; *p; p = &(*p)->next)
		if (*p == hook) {
			*p = hook->next;
			break;
		}
	hook->next = NULL;
	loop->hooks_changed = true;
}

/* Milliseconds until the first timer, rounded up, capped by timeout_ms (-1: none). */
static int wait_ms(struct td_loop *loop, int timeout_ms)
{
	uint64_t now, left;
	int ms;

	if (!loop->timers)
		return timeout_ms;
	now = td_loop_now_ns();
	if (loop->timers->deadline_ns <= now)
		return 0;
	left = (loop->timers->deadline_ns - now + 999999) / 1000000;
	ms = left > 1000000 ? 1000000 : (int)left;
	return timeout_ms >= 0 && timeout_ms < ms ? timeout_ms : ms;
}

static int run_timers(struct td_loop *loop)
{
	uint64_t now = td_loop_now_ns();
	int ran = 0;

	/* A handler may arm timers for "now"; bound the pass so it cannot spin forever. */
	while (loop->timers && loop->timers->deadline_ns <= now && ran < 1024) {
		struct td_loop_timer *t = loop->timers;

		timer_unlink(loop, t);
		if (t->period_ns) {
			t->deadline_ns += t->period_ns;
			if (t->deadline_ns <= now)
				t->deadline_ns = now + t->period_ns;
			timer_insert(loop, t);
		}
		t->fn(loop, t, t->data);
		ran++;
	}
	return ran;
}

int td_loop_run_once(struct td_loop *loop, int timeout_ms)
{
	struct td_loop_hook *h, *next;
	bool busy = false;
	int n, ran = 0;

	loop->hooks_changed = false;
	for (h = loop->hooks; h; h = next) {
		next = h->next;
		busy |= h->fn(loop, h->data);
		/* The list changed under us (next may be gone): finish the pass next time round. */
		if (loop->hooks_changed) {
			busy = true;
			break;
		}
	}
	n = epoll_wait(loop->epfd, loop->events, TD_LOOP_MAX_EVENTS,
		       busy ? 0 : wait_ms(loop, timeout_ms));
	if (n < 0) {
		if (errno != EINTR)
			return -errno;
		n = 0;
	}
	loop->iterations++;
	loop->nevents = n;
	for (loop->cur = 0; loop->cur < loop->nevents; loop->cur++) {
		struct td_loop_file *f = loop->events[loop->cur].data.ptr;

		if (!f)
			continue;
		f->fn(loop, f->fd, loop->events[loop->cur].events, f->data);
		ran++;
	}
	loop->nevents = 0;
	loop->cur = 0;
	return ran + run_timers(loop);
}

int td_loop_run(struct td_loop *loop)
{
	int rc;

	loop->stop = false;
	while (!loop->stop) {
		rc = td_loop_run_once(loop, -1);
		if (rc < 0)
			return rc;
	}
	/* Let hooks flush what the last handlers produced (responses, notifications). */
	loop->hooks_changed = false;
	for (struct td_loop_hook *h = loop->hooks; h && !loop->hooks_changed; h = h->next)
		h->fn(loop, h->data);
	return 0;
}

void td_loop_stop(struct td_loop *loop)
{
	loop->stop = true;
}
