/* The dom0 load guard: polling must never take a CPU another task is waiting for. Samples the
 * runnable count and the poller's own preemptions (every millisecond of polling) and CPU
 * pressure, steal and idle time (every 100 ms) from /proc with one pread each on files kept
 * open (and a getrusage or two). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "ringtap/poll.h"

void poll_guard_params_default(struct poll_guard_params *p)
{
	*p = (struct poll_guard_params){
		.max_psi_pct = POLL_GUARD_DEFAULT_PSI_PCT,
		.max_steal_pct = POLL_GUARD_DEFAULT_STEAL_PCT,
		.sample_ns = POLL_GUARD_DEFAULT_SAMPLE_NS,
		.slow_sample_ns = POLL_GUARD_DEFAULT_SLOW_SAMPLE_NS,
		.tripped_sample_ns = POLL_GUARD_DEFAULT_TRIPPED_SAMPLE_NS,
		.preempt_check = true,
	};
}

enum poll_guard_verdict poll_guard_judge(const struct poll_guard_params *p,
					 const struct poll_load_sample *s, unsigned int online_cpus)
{
	/* `runnable` counts the poller itself: every other CPU busy plus one more task means
	 * someone is waiting for a CPU. */
	unsigned int others = s->runnable ? s->runnable - 1 : 0;

	if (online_cpus && others >= online_cpus)
		return POLL_GUARD_CPUS_BUSY;
	if (p->preempt_check && s->preemptions)
		return POLL_GUARD_PREEMPTED;
	if (p->max_psi_pct && s->psi_some_avg10_pct > p->max_psi_pct)
		return POLL_GUARD_PRESSURE;
	if (p->max_steal_pct && s->steal_pct > p->max_steal_pct)
		return POLL_GUARD_STEAL;
	return POLL_GUARD_OK;
}

const char *poll_guard_verdict_name(enum poll_guard_verdict v)
{
	switch (v) {
	case POLL_GUARD_OK:
		return "ok";
	case POLL_GUARD_CPUS_BUSY:
		return "cpus-busy";
	case POLL_GUARD_PRESSURE:
		return "cpu-pressure";
	case POLL_GUARD_STEAL:
		return "steal";
	case POLL_GUARD_PREEMPTED:
		return "preempted";
	}
	return "unknown";
}

static ssize_t reread(int fd, char *buf, size_t len)
{
	ssize_t n;

	if (fd < 0)
		return -1;
	n = pread(fd, buf, len - 1, 0);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return n;
}

/* /proc/loadavg: "0.02 0.05 0.02 RUNNABLE/TOTAL LASTPID". The count is a snapshot: a task that
 * runs for a few microseconds (a kworker, a fork) would trip the guard for a whole sampling
 * period, so the sample is the smaller of the last two readings (busy for at least a period). */
static void sample_runnable(struct poll_guard *g)
{
	char buf[128];
	unsigned int runnable;

	if (reread(g->loadavg_fd, buf, sizeof(buf)) > 0 &&
	    sscanf(buf, "%*s %*s %*s %u/", &runnable) == 1) {
		g->last.runnable = runnable < g->prev_runnable ? runnable : g->prev_runnable;
		g->prev_runnable = runnable;
	}
}

/* The calling (polling) thread's involuntary context switches since the last sample: the
 * scheduler took its CPU for a task that was waiting for it. One getrusage per period. */
static void sample_preemptions(struct poll_guard *g)
{
	struct rusage ru;

	if (getrusage(RUSAGE_THREAD, &ru) < 0)
		return;
	g->last.preemptions = (uint64_t)ru.ru_nivcsw > g->prev_nivcsw
				      ? (unsigned int)((uint64_t)ru.ru_nivcsw - g->prev_nivcsw)
				      : 0;
	g->prev_nivcsw = (uint64_t)ru.ru_nivcsw;
}

/* /proc/pressure/cpu: "some avg10=1.23 avg60=..." */
static void sample_pressure(struct poll_guard *g)
{
	char buf[256];
	double avg10;

	if (reread(g->pressure_fd, buf, sizeof(buf)) > 0 &&
	    sscanf(buf, "some avg10=%lf", &avg10) == 1)
		g->last.psi_some_avg10_pct = (unsigned int)(avg10 + 0.5);
}

/* This process's CPU time in clock ticks (the unit of /proc/stat). */
static uint64_t self_ticks(void)
{
	struct rusage ru;
	long hz = sysconf(_SC_CLK_TCK);
	uint64_t us;

	if (getrusage(RUSAGE_SELF, &ru) < 0 || hz <= 0)
		return 0;
	us = (uint64_t)ru.ru_utime.tv_sec * 1000000 + (uint64_t)ru.ru_utime.tv_usec +
	     (uint64_t)ru.ru_stime.tv_sec * 1000000 + (uint64_t)ru.ru_stime.tv_usec;
	return us * (uint64_t)hz / 1000000;
}

/* /proc/stat first line: "cpu user nice system idle iowait irq softirq steal ...". The idle
 * share counts this process's own CPU time as idle: what the rest of the host leaves, so that a
 * poller's own spinning never makes it look busy (blktap3's polling turned itself off so). */
static void sample_stat(struct poll_guard *g)
{
	char buf[512];
	unsigned long long v[8] = { 0 }, total = 0, idle, steal, dt, free_ticks;
	uint64_t self = self_ticks();

	if (reread(g->stat_fd, buf, sizeof(buf)) <= 0 ||
	    sscanf(buf, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
		   &v[4], &v[5], &v[6], &v[7]) < 4)
		return;
	for (int i = 0; i < 8; i++)
		total += v[i];
	idle = v[3] + v[4];
	steal = v[7];
	dt = total - g->prev_total_ticks;
	if (g->prev_total_ticks && dt) {
		free_ticks = idle - g->prev_idle_ticks;
		if (self > g->prev_self_ticks)
			free_ticks += self - g->prev_self_ticks;
		g->last.idle_pct = free_ticks >= dt ? 100 : (unsigned int)(free_ticks * 100 / dt);
		g->last.steal_pct = (unsigned int)((steal - g->prev_steal_ticks) * 100 / dt);
	}
	g->prev_total_ticks = total;
	g->prev_idle_ticks = idle;
	g->prev_steal_ticks = steal;
	g->prev_self_ticks = self;
}

int poll_guard_open(struct poll_guard *g, const struct poll_guard_params *p)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	memset(g, 0, sizeof(*g));
	g->params = *p;
	g->online_cpus = cpus > 0 ? (unsigned int)cpus : 1;
	g->loadavg_fd = open("/proc/loadavg", O_RDONLY | O_CLOEXEC);
	g->pressure_fd = open("/proc/pressure/cpu", O_RDONLY | O_CLOEXEC);
	g->stat_fd = open("/proc/stat", O_RDONLY | O_CLOEXEC);
	g->last.idle_pct = 100;
	if (g->loadavg_fd < 0)
		return -errno;
	sample_runnable(g); /* primes the previous readings */
	sample_preemptions(g);
	g->last.preemptions = 0;
	sample_stat(g);
	return 0;
}

void poll_guard_close(struct poll_guard *g)
{
	if (g->loadavg_fd >= 0)
		close(g->loadavg_fd);
	if (g->pressure_fd >= 0)
		close(g->pressure_fd);
	if (g->stat_fd >= 0)
		close(g->stat_fd);
	g->loadavg_fd = g->pressure_fd = g->stat_fd = -1;
}

enum poll_guard_verdict poll_guard_check(struct poll_guard *g, uint64_t now)
{
	if (now < g->next_sample_ns)
		return g->verdict;
	g->next_sample_ns = now + g->params.sample_ns;
	sample_runnable(g);
	if (g->params.preempt_check)
		sample_preemptions(g);
	if (now >= g->next_slow_sample_ns) {
		g->next_slow_sample_ns = now + g->params.slow_sample_ns;
		sample_pressure(g);
		sample_stat(g);
	}
	g->verdict = poll_guard_judge(&g->params, &g->last, g->online_cpus);
	if (g->verdict != POLL_GUARD_OK) {
		g->trips[g->verdict]++;
		/* Refused: nobody polls until the next sample, so a busy host (a hundred tapdisks
		 * trying to enter) is not re-read every millisecond by each of them. */
		if (g->params.tripped_sample_ns > g->params.sample_ns)
			g->next_sample_ns = now + g->params.tripped_sample_ns;
	}
	return g->verdict;
}
