/* tapdisk's event loop: epoll file events, monotonic timers and before-sleep hooks behind one
 * small API (the shape of Redis's ae). Handlers run only from td_loop_run/td_loop_run_once and
 * never run the loop themselves. Every registration is a caller-owned, zero-initialized struct
 * (no allocation). */
#ifndef TD_LOOP_H
#define TD_LOOP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

struct td_loop;

typedef void (*td_file_fn)(struct td_loop *loop, int fd, uint32_t events, void *data);
/* Returns true when it left work that must run before the loop may sleep. */
typedef bool (*td_hook_fn)(struct td_loop *loop, void *data);
struct td_loop_timer;
typedef void (*td_timer_fn)(struct td_loop *loop, struct td_loop_timer *timer, void *data);

struct td_loop_file {
	int fd;
	uint32_t events;
	td_file_fn fn;
	void *data;
	bool registered;
};

struct td_loop_timer {
	uint64_t deadline_ns;
	uint64_t period_ns; /* 0: one-shot */
	td_timer_fn fn;
	void *data;
	struct td_loop_timer *next;
	bool armed;
};

struct td_loop_hook {
	td_hook_fn fn;
	void *data;
	struct td_loop_hook *next;
};

#define TD_LOOP_MAX_EVENTS 64

struct td_loop {
	int epfd;
	bool stop;
	struct td_loop_timer *timers; /* sorted by deadline */
	struct td_loop_hook *hooks;
	struct epoll_event events[TD_LOOP_MAX_EVENTS];
	int nevents; /* events of the batch being dispatched */
	int cur;
	uint64_t iterations;
	bool hooks_changed; /* a hook was added or removed while hooks ran */
};

int td_loop_init(struct td_loop *loop);
void td_loop_fini(struct td_loop *loop);

/* Watches fd for `events` (EPOLLIN, EPOLLOUT, ...). 0 or -errno. */
int td_loop_file_add(struct td_loop *loop, struct td_loop_file *file, int fd, uint32_t events,
		     td_file_fn fn, void *data);
int td_loop_file_mod(struct td_loop *loop, struct td_loop_file *file, uint32_t events);
/* Safe from any handler, including for a file whose event is pending in the current batch. */
void td_loop_file_del(struct td_loop *loop, struct td_loop_file *file);

/* Arms (or re-arms) a timer delay_ns from now; period_ns > 0 repeats it. */
void td_loop_timer_arm(struct td_loop *loop, struct td_loop_timer *timer, uint64_t delay_ns,
		       uint64_t period_ns, td_timer_fn fn, void *data);
void td_loop_timer_cancel(struct td_loop *loop, struct td_loop_timer *timer);

/* Hooks run, in registration order, each time before the loop waits for events. */
void td_loop_hook_add(struct td_loop *loop, struct td_loop_hook *hook, td_hook_fn fn, void *data);
void td_loop_hook_del(struct td_loop *loop, struct td_loop_hook *hook);

/* One iteration: hooks, a wait of at most timeout_ms (-1: until an event or timer), the file
 * events, the expired timers. Returns the number of handlers run, or -errno. */
int td_loop_run_once(struct td_loop *loop, int timeout_ms);
/* Iterates until td_loop_stop. 0 or -errno. */
int td_loop_run(struct td_loop *loop);
void td_loop_stop(struct td_loop *loop);

uint64_t td_loop_now_ns(void);

#endif
