/* nbd-file-server: serves a plain file through ringtap's NBD library on tapdisk's event loop, as
 * tapdisk embeds it, with completions always delivered later from the loop (a hook, or a timer
 * with --delay-ms) to exercise the asynchronous path. A test program. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ringtap/log.h"
#include "ringtap/nbd.h"
#include "src/loop.h"

/* A request whose I/O is done, waiting for its completion to be delivered. */
struct pending {
	struct nbd_request *req;
	int err;
	uint64_t due_ns;
	struct pending *next;
};

struct fileserver {
	struct td_loop loop;
	struct nbd_server *srv;
	int fd;
	uint64_t delay_ns;
	struct pending *head, *tail;
	struct td_loop_file nbd_file, sig_file;
	struct td_loop_hook hook;
	struct td_loop_timer timer;
	uint64_t reads, writes, flushes, trims, zeroes, bytes_read, bytes_written;
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: nbd-file-server --socket PATH [OPTIONS] FILE\n"
		"Serve FILE as an NBD export on a Unix socket until SIGTERM (a test program).\n\n"
		"  --socket PATH        where to listen\n"
		"  --name NAME          the export name listed (default: empty)\n"
		"  --description TEXT   the export description\n"
		"  --readonly           a read-only export\n"
		"  --no-flush           do not offer FLUSH/FUA\n"
		"  --no-trim            do not offer TRIM\n"
		"  --no-zeroes          do not offer WRITE_ZEROES\n"
		"  --min-block N        alignment of requests (default 1)\n"
		"  --max-request N      largest READ/WRITE (default 32 MiB)\n"
		"  --max-clients N      clients at once (default 16)\n"
		"  --handshake-ms N     handshake deadline (default 10000)\n"
		"  --idle-ms N          idle deadline in transmission (default 60000)\n"
		"  --delay-ms N         complete each request N ms after it arrives\n"
		"  -h, --help           show this help\n"
		"Prints \"listening PATH\" once clients may connect, and on exit the counters\n"
		"as one line of key=value.\n");
}

static void enqueue(struct fileserver *fs, struct nbd_request *req, int err)
{
	struct pending *p = nbd_request_priv(req);

	p->req = req;
	p->err = err;
	p->due_ns = td_loop_now_ns() + fs->delay_ns;
	p->next = NULL;
	if (fs->tail)
		fs->tail->next = p;
	else
		fs->head = p;
	fs->tail = p;
}

static int f_read(void *o, struct nbd_request *req, uint64_t off, uint32_t len, void *buf)
{
	struct fileserver *fs = o;
	ssize_t n = pread(fs->fd, buf, len, (off_t)off);

	fs->reads++;
	if (n == (ssize_t)len)
		fs->bytes_read += len;
	enqueue(fs, req, n == (ssize_t)len ? 0 : n < 0 ? -errno : -EIO);
	return 0;
}

static int f_write(void *o, struct nbd_request *req, uint64_t off, uint32_t len, const void *buf)
{
	struct fileserver *fs = o;
	ssize_t n = pwrite(fs->fd, buf, len, (off_t)off);

	fs->writes++;
	if (n == (ssize_t)len)
		fs->bytes_written += len;
	enqueue(fs, req, n == (ssize_t)len ? 0 : n < 0 ? -errno : -EIO);
	return 0;
}

static int f_flush(void *o, struct nbd_request *req)
{
	struct fileserver *fs = o;

	fs->flushes++;
	enqueue(fs, req, fdatasync(fs->fd) < 0 ? -errno : 0);
	return 0;
}

static int f_trim(void *o, struct nbd_request *req, uint64_t off, uint32_t len)
{
	struct fileserver *fs = o;
	int err = 0;

	fs->trims++;
	if (fallocate(fs->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, len) < 0 &&
	    errno != EOPNOTSUPP)
		err = -errno; /* a trim is advisory: a filesystem without holes ignores it */
	enqueue(fs, req, err);
	return 0;
}

static int write_zero_bytes(int fd, uint64_t off, uint32_t len)
{
	static const uint8_t zeroes[65536];

	while (len) {
		uint32_t n = len < sizeof(zeroes) ? len : sizeof(zeroes);
		ssize_t w = pwrite(fd, zeroes, n, (off_t)off);

		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		off += (uint64_t)w;
		len -= (uint32_t)w;
	}
	return 0;
}

static int f_write_zeroes(void *o, struct nbd_request *req, uint64_t off, uint32_t len,
			  bool may_trim)
{
	struct fileserver *fs = o;
	int mode = may_trim ? FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE : FALLOC_FL_ZERO_RANGE;
	int err = 0;

	fs->zeroes++;
	if (fallocate(fs->fd, mode, (off_t)off, len) < 0)
		err = write_zero_bytes(fs->fd, off, len);
	enqueue(fs, req, err);
	return 0;
}

static void on_timer(struct td_loop *loop, struct td_loop_timer *timer, void *data);

/* Delivers the completions that are due: outside the callbacks, as an image's would be. */
static void deliver(struct fileserver *fs)
{
	uint64_t now = td_loop_now_ns();

	while (fs->head && fs->head->due_ns <= now) {
		struct pending *p = fs->head;

		fs->head = p->next;
		if (!fs->head)
			fs->tail = NULL;
		nbd_request_complete(p->req, p->err); /* frees p, part of the request */
	}
	if (fs->head && fs->delay_ns && !fs->timer.armed)
		td_loop_timer_arm(&fs->loop, &fs->timer, fs->head->due_ns - now, 0, on_timer, fs);
}

static void on_timer(struct td_loop *loop, struct td_loop_timer *timer, void *data)
{
	deliver(data);
}

static bool before_sleep(struct td_loop *loop, void *data)
{
	struct fileserver *fs = data;

	if (!fs->delay_ns)
		deliver(fs);
	else if (fs->head && !fs->timer.armed)
		td_loop_timer_arm(loop, &fs->timer, fs->delay_ns, 0, on_timer, fs);
	return false;
}

static void on_nbd(struct td_loop *loop, int fd, uint32_t events, void *data)
{
	struct fileserver *fs = data;
	int err = nbd_server_dispatch(fs->srv);

	if (err < 0) {
		rt_err("nbd-file-server: dispatch: %s", strerror(-err));
		td_loop_stop(loop);
	}
}

static void on_signal(struct td_loop *loop, int fd, uint32_t events, void *data)
{
	struct signalfd_siginfo si;

	if (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		td_loop_stop(loop);
}

static int parse_u32(const char *s, const char *what, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || end == s || *end || v > UINT32_MAX) {
		fprintf(stderr, "nbd-file-server: bad %s '%s'\n", what, s);
		return -EINVAL;
	}
	*out = (uint32_t)v;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "name", required_argument, NULL, 'n' },
		{ "description", required_argument, NULL, 'd' },
		{ "readonly", no_argument, NULL, 'r' },
		{ "no-flush", no_argument, NULL, 'F' },
		{ "no-trim", no_argument, NULL, 'T' },
		{ "no-zeroes", no_argument, NULL, 'Z' },
		{ "min-block", required_argument, NULL, 'b' },
		{ "max-request", required_argument, NULL, 'm' },
		{ "max-clients", required_argument, NULL, 'c' },
		{ "handshake-ms", required_argument, NULL, 'H' },
		{ "idle-ms", required_argument, NULL, 'I' },
		{ "delay-ms", required_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const struct nbd_ops ops = {
		.read = f_read,
		.write = f_write,
		.flush = f_flush,
		.trim = f_trim,
		.write_zeroes = f_write_zeroes,
	};
	struct nbd_export exp = { .flags = NBD_EXPORT_FLUSH | NBD_EXPORT_TRIM |
					   NBD_EXPORT_WRITE_ZEROES | NBD_EXPORT_MULTI_CONN };
	struct nbd_server_config cfg = { .priv_size = sizeof(struct pending) };
	struct fileserver fs = { .fd = -1 };
	uint32_t delay_ms = 0;
	struct stat st;
	sigset_t mask;
	int c, err, sfd;

	rt_log_open("nbd-file-server", 1);
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			cfg.path = optarg;
			break;
		case 'n':
			exp.name = optarg;
			break;
		case 'd':
			exp.description = optarg;
			break;
		case 'r':
			exp.flags |= NBD_EXPORT_READONLY;
			break;
		case 'F':
			exp.flags &= ~(uint32_t)(NBD_EXPORT_FLUSH | NBD_EXPORT_MULTI_CONN);
			break;
		case 'T':
			exp.flags &= ~(uint32_t)NBD_EXPORT_TRIM;
			break;
		case 'Z':
			exp.flags &= ~(uint32_t)NBD_EXPORT_WRITE_ZEROES;
			break;
		case 'b':
			if (parse_u32(optarg, "block size", &cfg.min_block))
				return EINVAL;
			break;
		case 'm':
			if (parse_u32(optarg, "request size", &cfg.max_request))
				return EINVAL;
			break;
		case 'c':
			if (parse_u32(optarg, "client count", &cfg.max_clients))
				return EINVAL;
			break;
		case 'H':
			if (parse_u32(optarg, "timeout", &cfg.handshake_timeout_ms))
				return EINVAL;
			break;
		case 'I':
			if (parse_u32(optarg, "idle deadline", &cfg.idle_timeout_ms))
				return EINVAL;
			break;
		case 'D':
			if (parse_u32(optarg, "delay", &delay_ms))
				return EINVAL;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default: /* getopt named the unknown option */
			return EINVAL;
		}
	}
	if (!cfg.path || optind != argc - 1) {
		usage(stderr);
		return EINVAL;
	}
	fs.delay_ns = (uint64_t)delay_ms * 1000000;
	fs.fd = open(argv[optind],
		     (exp.flags & NBD_EXPORT_READONLY ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (fs.fd < 0 || fstat(fs.fd, &st) < 0) {
		err = errno;
		fprintf(stderr, "nbd-file-server: %s: %s\n", argv[optind], strerror(err));
		return err;
	}
	exp.size = (uint64_t)st.st_size & ~(uint64_t)((cfg.min_block ? cfg.min_block : 1) - 1);

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	err = td_loop_init(&fs.loop);
	if (sfd < 0 || err < 0) {
		fprintf(stderr, "nbd-file-server: loop: %s\n", strerror(sfd < 0 ? errno : -err));
		return EIO;
	}
	err = nbd_server_create(&cfg, &exp, &ops, &fs, &fs.srv);
	if (err < 0) {
		fprintf(stderr, "nbd-file-server: %s: %s\n", cfg.path, strerror(-err));
		return -err;
	}
	td_loop_file_add(&fs.loop, &fs.nbd_file, nbd_server_fd(fs.srv), EPOLLIN, on_nbd, &fs);
	td_loop_file_add(&fs.loop, &fs.sig_file, sfd, EPOLLIN, on_signal, &fs);
	td_loop_hook_add(&fs.loop, &fs.hook, before_sleep, &fs);
	fs.timer.fn = on_timer;
	printf("listening %s\n", cfg.path);
	fflush(stdout);

	err = td_loop_run(&fs.loop);
	nbd_server_destroy(fs.srv);
	/* requests of clients that went away still complete: their memory is freed here */
	fs.delay_ns = 0;
	while (fs.head) {
		fs.head->due_ns = 0;
		deliver(&fs);
	}
	printf("reads=%" PRIu64 " writes=%" PRIu64 " flushes=%" PRIu64 " trims=%" PRIu64
	       " zeroes=%" PRIu64 " bytes_read=%" PRIu64 " bytes_written=%" PRIu64 "\n",
	       fs.reads, fs.writes, fs.flushes, fs.trims, fs.zeroes, fs.bytes_read,
	       fs.bytes_written);
	td_loop_hook_del(&fs.loop, &fs.hook);
	td_loop_fini(&fs.loop);
	close(sfd);
	close(fs.fd);
	return err < 0 ? -err : 0;
}
