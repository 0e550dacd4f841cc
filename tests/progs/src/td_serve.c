/* td-serve: a test entry point that serves one VBD on tapdisk's event loop from command-line
 * parameters (what tapback will pass over the control socket), until SIGTERM. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "ringtap/driver.h"
#include "ringtap/log.h"
#include "ringtap/poll.h"
#include "src/loop.h"
#include "src/vbd.h"

struct serve {
	struct td_loop loop;
	struct td_vbd *vbd;
	struct td_loop_file sigfile;
	int sfd;
	bool stopping;
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: td-serve --image TYPE:PATH --domid N --ring-ref R[,R...] --port P [OPTIONS]\n"
		"Serve one VBD's blkif ring on tapdisk's datapath until SIGTERM (a test entry "
		"point).\n\n"
		"  --image TYPE:PATH    aio:/file, raw:/dev/x, vhd:/file.vhd, null:SIZE,\n"
		"                       nbd:unix:/socket, nbd:tcp:host:port\n"
		"  --readonly           refuse writes and discards\n"
		"  --engine E           the image's I/O engine: auto (default), libaio, io_uring\n"
		"  --domid N            the frontend's domain\n"
		"  --devid N            the device id, for logs (default 0)\n"
		"  --ring-ref R[,R...]  the ring's grant references (2^order of them)\n"
		"  --order O            ring-page-order 0..4 (default: from the number of refs)\n"
		"  --port P             the frontend's event-channel port\n"
		"  --protocol P         x86_32-abi, x86_64-abi (default: native)\n"
		"  --persistent         the frontend offers feature-persistent\n"
		"  --pgrant-cache N     the persistent-grant cache's size in pages, 1..65536\n"
		"                       (default: the ring's, src/ring_attach.c)\n"
		"  --max-indirect N     feature-max-indirect-segments advertised, 0..4096 "
		"(default 256; 0: none)\n"
		"  --ready FILE         once connected, write the disk's xenstore values (sectors,\n"
		"                       sector-size, info, discard...) as key=value lines to FILE\n"
		"Adaptive polling (what `tap-ctl poll` and the xenstore polling-* keys set):\n"
		"  --poll POLICY        adaptive (default), fixed or off\n"
		"  --poll-start-us N    adaptive: first window (default %llu)\n"
		"  --poll-max-us N      adaptive: largest window (default %llu)\n"
		"  --poll-grow N        adaptive: window multiplier, 2..16 (default %u)\n"
		"  --poll-shrink N      adaptive: window divisor, 2..16 (default %u)\n"
		"  --poll-duration-us N fixed: the window; adaptive: its ceiling; 0: no polling\n"
		"                       (polling-duration, default %llu)\n"
		"  --poll-idle-threshold N  poll only when the host is more than N%% idle\n"
		"                       (polling-idle-threshold, default %u)\n"
		"  --poll-budget N      rings polling at once host-wide, at most (default: CPUs - 1;\n"
		"                       the table is $RINGTAP_POLL_BUDGET or %s)\n"
		"  --poll-no-guard      ignore the dom0 load guard (measurements only)\n"
		"  --poll-no-judge      adaptive: poll whenever the window says so, paying or not\n"
		"                       (tests of the spin loop, measurements only)\n"
		"  -h, --help           show this help\n"
		"On exit, prints the ring's counters on stdout as one line of key=value (polling's\n"
		"prefixed poll_); SIGUSR1 prints them at any time.\n",
		POLL_DEFAULT_START_NS / 1000, POLL_DEFAULT_MAX_NS / 1000, POLL_DEFAULT_GROW,
		POLL_DEFAULT_SHRINK, POLL_DEFAULT_FIXED_NS / 1000, POLL_DEFAULT_IDLE_THRESHOLD,
		POLL_BUDGET_DEFAULT_PATH);
}

static int parse_u32(const char *s, uint32_t max, uint32_t *out)
{
	char *end;
	unsigned long v;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || *end || v > max)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

static int parse_refs(char *s, struct td_ring_params *p, unsigned int *n)
{
	char *save = NULL, *tok;

	*n = 0;
	for (tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (*n >= TD_MAX_RING_PAGES || parse_u32(tok, UINT32_MAX, &p->ring_refs[*n]) < 0)
			return -EINVAL;
		(*n)++;
	}
	return *n ? 0 : -EINVAL;
}

static void print_stats(struct td_vbd *vbd)
{
	struct td_ring_stats s;
	struct td_poll_stats ps;
	struct rusage ru;

	if (td_vbd_stats(vbd, 0, &s) < 0 || td_vbd_poll_stats(vbd, 0, &ps) < 0)
		return;
	printf("stats: requests=%" PRIu64 " reads=%" PRIu64 " writes=%" PRIu64 " flushes=%" PRIu64
	       " barriers=%" PRIu64 " discards=%" PRIu64 " indirect=%" PRIu64
	       " bytes_read=%" PRIu64 " bytes_written=%" PRIu64 " sectors_discarded=%" PRIu64
	       " responses=%" PRIu64 " invalid=%" PRIu64 " errors=%" PRIu64 " eopnotsupp=%" PRIu64
	       " io_errors=%" PRIu64 " grant_errors=%" PRIu64 " events=%" PRIu64
	       " spurious_events=%" PRIu64 " notifications=%" PRIu64 " pool_stalls=%" PRIu64
	       " pgrant_hits=%" PRIu64 " pgrant_misses=%" PRIu64 " pgrant_evictions=%" PRIu64
	       " pgrant_map_fallbacks=%" PRIu64
	       " inflight=%u halted=%d poll_policy=%s poll_window_ns=%" PRIu64
	       " poll_entered=%" PRIu64 " poll_hits=%" PRIu64 " poll_misses=%" PRIu64
	       " poll_guarded=%" PRIu64 " poll_budget_refused=%" PRIu64 " poll_wakeups=%" PRIu64
	       " poll_requests=%" PRIu64 " poll_completions=%" PRIu64 " poll_wall_us=%" PRIu64
	       " poll_cpu_us=%" PRIu64 " poll_notifications_received=%" PRIu64
	       " poll_notifications_suppressed=%" PRIu64 " poll_guard_cpus_busy=%" PRIu64
	       " poll_guard_pressure=%" PRIu64 " poll_guard_steal=%" PRIu64
	       " poll_guard_preempted=%" PRIu64 " poll_empty=%" PRIu64 " poll_judged_off=%" PRIu64
	       " poll_disk_wait_us=%" PRIu64 " poll_judge_on=%d poll_judge_probes=%" PRIu64
	       " poll_judge_kept_on=%" PRIu64 " poll_judge_kept_off=%" PRIu64
	       " poll_judge_changes=%" PRIu64 " poll_judge_rate_on=%" PRIu64
	       " poll_judge_rate_off=%" PRIu64 " poll_judge_noise_pct=%" PRIu64,
	       s.requests, s.reads, s.writes, s.flushes, s.barriers, s.discards, s.indirect,
	       s.bytes_read, s.bytes_written, s.sectors_discarded, s.responses, s.invalid, s.errors,
	       s.eopnotsupp, s.io_errors, s.grant_errors, s.events, s.spurious_events,
	       s.notifications, s.pool_stalls, s.pgrant_hits, s.pgrant_misses, s.pgrant_evictions,
	       s.pgrant_map_fallbacks,
	       s.inflight, s.halted, poll_policy_name((enum poll_policy)ps.policy), ps.window_ns,
	       ps.entered, ps.hits, ps.misses, ps.guarded, ps.budget_refused, ps.wakeups,
	       ps.polled_requests, ps.polled_completions, ps.polled_ns / 1000, ps.cpu_ns / 1000,
	       ps.notifications_received, ps.notifications_suppressed, ps.guard_cpus_busy,
	       ps.guard_pressure, ps.guard_steal, ps.guard_preempted, ps.empty, ps.judged_off,
	       ps.disk_wait_ns / 1000, ps.judge_on, ps.judge_probes, ps.judge_kept_on,
	       ps.judge_kept_off, ps.judge_changes, ps.judge_rate_on, ps.judge_rate_off,
	       ps.judge_noise_pct);
	/* then the disk leaf's own counters (its driver's and engine's: fixed_page_ios, ...) */
	{
		const struct td_image *disk = td_vbd_disk(vbd);
		struct td_counter c[16];
		int n = disk ? td_image_counters(disk, c, 16) : 0;

		for (int i = 0; i < n; i++)
			printf(" %s=%" PRIu64, c[i].name, c[i].value);
		printf("\n");
	}
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		printf("cpu: user_ms=%ld sys_ms=%ld voluntary_switches=%ld involuntary_switches=%ld\n",
		       ru.ru_utime.tv_sec * 1000 + ru.ru_utime.tv_usec / 1000,
		       ru.ru_stime.tv_sec * 1000 + ru.ru_stime.tv_usec / 1000, ru.ru_nvcsw,
		       ru.ru_nivcsw);
	fflush(stdout);
}

/* The disk's xenstore values (what tapback writes before Connected), written atomically. */
static int write_ready(const char *path, struct td_vbd *vbd)
{
	struct td_vbd_info in;
	char tmp[4096];
	FILE *f;

	td_vbd_info(vbd, &in);
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return -ENAMETOOLONG;
	f = fopen(tmp, "w");
	if (!f)
		return -errno;
	fprintf(f,
		"sectors=%" PRIu64 "\nsector-size=%u\nphysical-sector-size=%u\ninfo=%u\n"
		"feature-discard=%d\ndiscard-granularity=%u\ndiscard-alignment=%u\n",
		in.sectors, in.sector_size, in.physical_sector_size, in.info, in.discard,
		in.discard_granularity, in.discard_alignment);
	if (fclose(f) != 0 || rename(tmp, path) < 0)
		return -errno;
	return 0;
}

/* Drained, the image still open (its counters printed with the ring's). */
static void quiesced_for_exit(struct td_vbd *vbd, void *data)
{
	struct serve *sv = data;

	print_stats(vbd);
	td_vbd_disconnect(vbd);
	td_loop_stop(&sv->loop);
}

static void on_signal(struct td_loop *loop, int fd, uint32_t events, void *data)
{
	struct serve *sv = data;
	struct signalfd_siginfo si;

	if (read(fd, &si, sizeof(si)) != sizeof(si) || sv->stopping)
		return;
	if (si.ssi_signo == SIGUSR1) {
		print_stats(sv->vbd);
		return;
	}
	sv->stopping = true;
	rt_info("signal %u: draining and exiting", si.ssi_signo);
	if (td_vbd_quiesce(sv->vbd, quiesced_for_exit, sv) < 0)
		td_loop_stop(loop);
}

int main(int argc, char **argv)
{
	enum { O_IMAGE = 256, O_RO, O_DOMID, O_DEVID, O_REFS, O_ORDER, O_PORT, O_PROTO, O_PERS,
	       O_INDIRECT, O_READY, O_POLL, O_POLL_START, O_POLL_MAX, O_POLL_GROW, O_POLL_SHRINK,
	       O_POLL_DURATION, O_POLL_IDLE, O_POLL_BUDGET, O_POLL_NO_GUARD, O_POLL_NO_JUDGE, O_ENGINE,
	       O_PGRANT_CACHE };
	static const struct option opts[] = {
		{ "image", required_argument, NULL, O_IMAGE },
		{ "readonly", no_argument, NULL, O_RO },
		{ "engine", required_argument, NULL, O_ENGINE },
		{ "domid", required_argument, NULL, O_DOMID },
		{ "devid", required_argument, NULL, O_DEVID },
		{ "ring-ref", required_argument, NULL, O_REFS },
		{ "order", required_argument, NULL, O_ORDER },
		{ "port", required_argument, NULL, O_PORT },
		{ "protocol", required_argument, NULL, O_PROTO },
		{ "persistent", no_argument, NULL, O_PERS },
		{ "pgrant-cache", required_argument, NULL, O_PGRANT_CACHE },
		{ "max-indirect", required_argument, NULL, O_INDIRECT },
		{ "ready", required_argument, NULL, O_READY },
		{ "poll", required_argument, NULL, O_POLL },
		{ "poll-start-us", required_argument, NULL, O_POLL_START },
		{ "poll-max-us", required_argument, NULL, O_POLL_MAX },
		{ "poll-grow", required_argument, NULL, O_POLL_GROW },
		{ "poll-shrink", required_argument, NULL, O_POLL_SHRINK },
		{ "poll-duration-us", required_argument, NULL, O_POLL_DURATION },
		{ "poll-idle-threshold", required_argument, NULL, O_POLL_IDLE },
		{ "poll-budget", required_argument, NULL, O_POLL_BUDGET },
		{ "poll-no-guard", no_argument, NULL, O_POLL_NO_GUARD },
		{ "poll-no-judge", no_argument, NULL, O_POLL_NO_JUDGE },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct td_ring_params p = { .max_indirect_segs = 256 };
	const char *image = NULL, *ready = NULL, *why = NULL;
	uint32_t v, order = UINT32_MAX;
	unsigned int nrefs = 0, engine = 0;
	bool readonly = false, have_domid = false, have_port = false;
	struct serve sv = { .sfd = -1 };
	struct poll_params pp;
	sigset_t mask;
	int c, rc;

	poll_params_default(&pp);
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		rc = 0;
		switch (c) {
		case 'h':
			usage(stdout);
			return 0;
		case O_IMAGE: image = optarg; break;
		case O_RO: readonly = true; break;
		case O_ENGINE: rc = td_io_engine_parse(optarg, &engine); break;
		case O_DOMID: rc = parse_u32(optarg, 0x7fef, &p.domid); have_domid = true; break;
		case O_DEVID: rc = parse_u32(optarg, UINT32_MAX, &p.devid); break;
		case O_REFS: rc = parse_refs(optarg, &p, &nrefs); break;
		case O_ORDER: rc = parse_u32(optarg, TD_MAX_RING_ORDER, &order); break;
		case O_PORT: rc = parse_u32(optarg, UINT32_MAX, &p.port); have_port = true; break;
		case O_PROTO: p.protocol = optarg; break;
		case O_PERS: p.persistent = true; break;
		case O_PGRANT_CACHE:
			rc = parse_u32(optarg, 65536, &p.max_persistent_grants);
			if (rc == 0 && !p.max_persistent_grants)
				rc = -EINVAL;
			break;
		case O_INDIRECT:
			rc = parse_u32(optarg, 4096, &v);
			p.max_indirect_segs = (uint16_t)v;
			break;
		case O_READY: ready = optarg; break;
		case O_POLL: rc = poll_policy_parse(optarg, &pp.policy); break;
		case O_POLL_START:
			rc = parse_u32(optarg, POLL_MAX_WINDOW_NS / 1000, &v);
			pp.start_ns = (uint64_t)v * 1000;
			break;
		case O_POLL_MAX:
			rc = parse_u32(optarg, POLL_MAX_WINDOW_NS / 1000, &v);
			pp.max_ns = (uint64_t)v * 1000;
			break;
		case O_POLL_GROW: rc = parse_u32(optarg, 16, &pp.grow); break;
		case O_POLL_SHRINK: rc = parse_u32(optarg, 16, &pp.shrink); break;
		case O_POLL_DURATION:
			rc = parse_u32(optarg, POLL_MAX_WINDOW_NS / 1000, &v);
			pp.fixed_ns = (uint64_t)v * 1000;
			break;
		case O_POLL_IDLE: rc = parse_u32(optarg, 100, &pp.idle_threshold); break;
		case O_POLL_BUDGET: rc = parse_u32(optarg, POLL_BUDGET_SLOTS, &pp.budget); break;
		case O_POLL_NO_GUARD: pp.no_guard = true; break;
		case O_POLL_NO_JUDGE: pp.no_judge = true; break;
		default:
			fprintf(stderr, "td-serve: unknown option '%s'\n", argv[optind - 1]);
			usage(stderr);
			return EINVAL;
		}
		if (rc < 0) {
			fprintf(stderr, "td-serve: bad value for %s: '%s'\n", argv[optind - 1], optarg);
			return EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "td-serve: unexpected argument '%s'\n", argv[optind]);
		return EINVAL;
	}
	if (!image || !have_domid || !nrefs || !have_port) {
		fprintf(stderr, "td-serve: --image, --domid, --ring-ref and --port are required\n");
		return EINVAL;
	}
	if (poll_params_validate(&pp) < 0) {
		fprintf(stderr, "td-serve: inconsistent polling settings (start <= max, grow and "
				"shrink 2..16)\n");
		return EINVAL;
	}
	if (order == UINT32_MAX) {
		for (order = 0; (1u << order) < nrefs; order++)
			;
	}
	if ((1u << order) != nrefs || order > TD_MAX_RING_ORDER) {
		fprintf(stderr, "td-serve: %u ring ref(s) for ring-page-order %u\n", nrefs, order);
		return EINVAL;
	}
	p.order = order;
	rt_log_open("td-serve", 1);

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGUSR1);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	rc = td_loop_init(&sv.loop);
	if (rc < 0)
		goto out;
	sv.sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sv.sfd < 0 ||
	    (rc = td_loop_file_add(&sv.loop, &sv.sigfile, sv.sfd, EPOLLIN, on_signal, &sv)) < 0) {
		rc = sv.sfd < 0 ? -errno : rc;
		goto out;
	}
	rc = td_vbd_open(&sv.loop, image, (readonly ? TD_OPEN_RDONLY : 0) | engine, NULL, &sv.vbd,
			 NULL);
	if (rc < 0) {
		rt_err("cannot open %s: %s", image, strerror(-rc));
		goto out;
	}
	rc = td_vbd_set_polling(sv.vbd, &pp);
	if (rc < 0)
		goto out;
	rc = td_vbd_connect(sv.vbd, &p, &why);
	if (rc < 0) {
		rt_err("cannot connect the ring: %s%s%s", why ? why : "", why ? ": " : "",
		       strerror(-rc));
		goto out;
	}
	if (ready) {
		rc = write_ready(ready, sv.vbd);
		if (rc < 0) {
			rt_err("cannot write %s: %s", ready, strerror(-rc));
			goto out;
		}
	}
	rc = td_loop_run(&sv.loop);
out:
	if (sv.vbd)
		td_vbd_close(sv.vbd);
	if (sv.sfd >= 0)
		close(sv.sfd);
	td_loop_fini(&sv.loop);
	if (rc < 0) {
		fprintf(stderr, "td-serve: %s\n", strerror(-rc));
		return -rc;
	}
	return 0;
}
