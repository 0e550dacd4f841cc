/* cbt-util: blktap's changed-block-tracking log utility as XAPI's storage manager runs it
 * (sm cbtutil.py): create, get, set and coalesce on the log files tapdisk marks (lib/cbt).
 * Sub-commands, options, output and exit codes (positive errno) are blktap's; errors go to
 * stderr, and a bad command line exits EINVAL with nothing on stdout. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uuid/uuid.h>

#include "ringtap/cbt.h"
#include "ringtap/version.h"

/* The largest disk a log is created or grown for: 1 PiB (a 2 GiB bitmap). */
#define CBT_MAX_DISK_BYTES (1ull << 50)
#define CHUNK (3u << 14) /* 48 KiB: whole base64 quanta */

struct cmd {
	const char *name;
	const char *opts; /* getopt letters */
	const char *usage;
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: cbt-util COMMAND [OPTIONS]\n"
		"COMMAND := { create | set | get | coalesce }\n"
		"  create -n LOG -s SIZE            a log for a disk of SIZE bytes: no parent or\n"
		"                                   child, not consistent, no block changed\n"
		"  get -n LOG -p|-c|-f|-s|-b [-E]   print the parent or child uuid, the consistent\n"
		"                                   flag, the disk size in bytes, or the bitmap (raw;\n"
		"                                   base64 with -E)\n"
		"  set -n LOG [-p UUID] [-c UUID] [-f FLAG] [-s SIZE]\n"
		"                                   set header fields; -s grows the bitmap\n"
		"  coalesce -p PARENT_LOG -c CHILD_LOG\n"
		"                                   mark in the child every block the parent marks\n"
		"  COMMAND -h                       that command's usage\n"
		"  -h, --help                       this help\n"
		"  --version                        the version\n"
		"Exit status: 0, or a positive errno. See cbt-util(8).\n");
}

static int fail(const struct cmd *c, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prints "cbt-util CMD: message" on stderr; returns err (a negative errno). */
static int fail(const struct cmd *c, int err, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "cbt-util %s: ", c->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return err;
}

static int bad_usage(const struct cmd *c, const char *what)
{
	fprintf(stderr, "cbt-util %s: %s\nUsage: cbt-util %s %s\n", c->name, what, c->name,
		c->usage);
	return -EINVAL;
}

/* A decimal number: digits only, no sign, within max. */
static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -EINVAL;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_i32(const char *s, int32_t *out)
{
	uint64_t v;
	bool neg = *s == '-';

	if (parse_u64(s + neg, neg ? (uint64_t)INT32_MAX + 1 : INT32_MAX, &v))
		return -EINVAL;
	*out = neg ? (int32_t)(-(int64_t)v) : (int32_t)v;
	return 0;
}

static int open_log(const struct cmd *c, const char *name, int flags, int *fd)
{
	*fd = open(name, flags | O_CLOEXEC, 0644);
	if (*fd < 0)
		return fail(c, -errno, "Failed to open log file %s. %s", name, strerror(errno));
	return 0;
}

/* Whole reads and writes at an offset: 0, -EIO at a short read, or -errno. */
static int pread_all(int fd, void *buf, size_t len, uint64_t off)
{
	for (size_t done = 0; done < len;) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		done += (size_t)n;
	}
	return 0;
}

static int pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
	for (size_t done = 0; done < len;) {
		ssize_t n = pwrite(fd, (const char *)buf + done, len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		done += (size_t)n;
	}
	return 0;
}

static int read_header(const struct cmd *c, int fd, const char *name, struct cbt_header *h)
{
	uint8_t b[CBT_HEADER_SIZE];
	int err = pread_all(fd, b, sizeof(b), 0);

	if (err)
		return fail(c, err, "Failed to read CBT metadata from file %s", name);
	cbt_header_decode(b, h);
	return 0;
}

/* The header, synced; after a bitmap change (bitmap_written), last, once the bitmap is durable:
 * a crash never leaves a header that promises a bitmap the file does not hold. */
static int write_header(const struct cmd *c, int fd, const char *name, const struct cbt_header *h,
			bool bitmap_written)
{
	uint8_t b[CBT_HEADER_SIZE];
	int err;

	cbt_header_encode(h, b);
	if (bitmap_written && fsync(fd) < 0 && errno != EINVAL)
		return fail(c, -errno, "Failed to sync log file %s. %s", name, strerror(errno));
	err = pwrite_all(fd, b, sizeof(b), 0);
	if (!err && fsync(fd) < 0 && errno != EINVAL)
		err = -errno;
	if (err)
		return fail(c, err, "Failed to write CBT metadata to file %s. %s", name,
			    strerror(-err));
	return 0;
}

/* Zeroes [from, to) of the file (a block device has no ftruncate). */
static int write_zeroes(int fd, uint64_t from, uint64_t to)
{
	static const uint8_t zero[CHUNK];
	int err = 0;

	while (!err && from < to) {
		size_t n = to - from < CHUNK ? (size_t)(to - from) : CHUNK;

		err = pwrite_all(fd, zero, n, from);
		from += n;
	}
	return err;
}

/* Checks that the file holds the bitmap its header describes. */
static int check_bitmap_length(const struct cmd *c, int fd, const char *name, uint64_t size)
{
	uint64_t len;
	int err = cbt_file_length(fd, &len);

	if (err)
		return fail(c, err, "Failed to read bitmap from file %s. %s", name, strerror(-err));
	if (len < cbt_log_bytes(size))
		return fail(c, -EIO,
			    "Failed to read bitmap from file %s: %" PRIu64 " bytes, its %" PRIu64
			    "-byte disk needs %" PRIu64,
			    name, len, size, cbt_log_bytes(size));
	return 0;
}

static int cmd_create(const struct cmd *c, const char *name, uint64_t size)
{
	struct cbt_header h = { .consistent = 0, .size = size };
	uint64_t need = cbt_log_bytes(size), len;
	struct stat st;
	int fd, err;

	if ((err = open_log(c, name, O_RDWR | O_CREAT, &fd)))
		return err;
	if (fstat(fd, &st) < 0) {
		err = -errno;
	} else if (S_ISREG(st.st_mode)) {
		/* a new file of zeroes: no block changed yet */
		if (ftruncate(fd, 0) < 0 || ftruncate(fd, (off_t)need) < 0)
			err = -errno;
	} else if (!(err = cbt_file_length(fd, &len))) {
		if (len < need)
			err = -ENOSPC;
		else
			err = write_zeroes(fd, CBT_HEADER_SIZE, need);
	}
	if (err)
		err = fail(c, err, "Failed to write bitmap to log file %s. %s", name,
			   strerror(-err));
	else
		err = write_header(c, fd, name, &h, true);
	close(fd);
	return err;
}

/* Writes len bytes as base64 (chunks of whole quanta but the last). */
static void put_base64(const uint8_t *p, size_t len)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char out[4];

	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		size_t n = len - i < 3 ? len - i : 3;

		if (n > 1)
			v |= (uint32_t)p[i + 1] << 8;
		if (n > 2)
			v |= p[i + 2];
		out[0] = tab[v >> 18];
		out[1] = tab[(v >> 12) & 63];
		out[2] = n > 1 ? tab[(v >> 6) & 63] : '=';
		out[3] = n > 2 ? tab[v & 63] : '=';
		fwrite(out, 1, 4, stdout);
	}
}

static int print_bitmap(const struct cmd *c, int fd, const char *name, uint64_t size, bool b64)
{
	static uint8_t buf[CHUNK];
	uint64_t left = cbt_bitmap_bytes(size), off = CBT_HEADER_SIZE;
	int err = check_bitmap_length(c, fd, name, size);

	while (!err && left) {
		size_t n = left < CHUNK ? (size_t)left : CHUNK;

		err = pread_all(fd, buf, n, off);
		if (err)
			return fail(c, err, "Failed to read bitmap from file %s", name);
		if (b64)
			put_base64(buf, n);
		else
			fwrite(buf, 1, n, stdout);
		off += n;
		left -= n;
	}
	if (!err && b64)
		putchar('\n');
	return err;
}

/* what: 'p', 'c', 'f', 's' or 'b' (b64: base64) */
static int cmd_get(const struct cmd *c, const char *name, char what, bool b64)
{
	struct cbt_header h;
	char uuid[37];
	int fd, err;

	if ((err = open_log(c, name, O_RDONLY, &fd)))
		return err;
	err = read_header(c, fd, name, &h);
	if (!err) {
		switch (what) {
		case 'p':
		case 'c':
			uuid_unparse_lower(what == 'p' ? h.parent : h.child, uuid);
			printf("%s\n", uuid);
			break;
		case 'f':
			printf("%d\n", (int)h.consistent);
			break;
		case 's':
			printf("%" PRIu64 "\n", h.size);
			break;
		default: /* 'b' */
			err = print_bitmap(c, fd, name, h.size, b64);
		}
	}
	close(fd);
	if (fflush(stdout) && !err)
		err = fail(c, -EIO, "cannot write to standard output");
	return err;
}

struct set_args {
	uuid_t parent, child;
	bool has_parent, has_child, has_flag;
	int32_t flag;
	uint64_t size; /* 0: unchanged */
};

static int cmd_set(const struct cmd *c, const char *name, const struct set_args *a)
{
	struct cbt_header h;
	uint64_t old_bm;
	int fd, err;

	if ((err = open_log(c, name, O_RDWR, &fd)))
		return err;
	err = read_header(c, fd, name, &h);
	if (!err && a->size) {
		if (a->size < h.size) {
			err = fail(c, -EINVAL, "Size smaller than current file size (%" PRIu64 ")",
				   h.size);
		} else if (!(err = check_bitmap_length(c, fd, name, h.size))) {
			/* the new blocks start unchanged; the old bits stay */
			old_bm = cbt_bitmap_bytes(h.size);
			err = write_zeroes(fd, CBT_HEADER_SIZE + old_bm, cbt_log_bytes(a->size));
			if (err)
				err = fail(c, err, "Failed to write CBT bitmap to file %s. %s", name,
					   strerror(-err));
			h.size = a->size;
		}
	}
	if (!err) {
		if (a->has_parent)
			memcpy(h.parent, a->parent, 16);
		if (a->has_child)
			memcpy(h.child, a->child, 16);
		if (a->has_flag)
			h.consistent = a->flag;
		err = write_header(c, fd, name, &h, a->size != 0);
	}
	close(fd);
	return err;
}

static int cmd_coalesce(const struct cmd *c, const char *parent, const char *child)
{
	static uint8_t pbuf[CHUNK], cbuf[CHUNK];
	struct cbt_header ph, ch;
	uint64_t left, off = CBT_HEADER_SIZE;
	int pfd, cfd = -1, err;

	if ((err = open_log(c, parent, O_RDONLY, &pfd)))
		return err;
	if (!(err = open_log(c, child, O_RDWR, &cfd)) && !(err = read_header(c, pfd, parent, &ph)) &&
	    !(err = read_header(c, cfd, child, &ch))) {
		if (cbt_bitmap_bytes(ph.size) > cbt_bitmap_bytes(ch.size))
			err = fail(c, -EINVAL,
				   "Parent bitmap larger than child bitmap, can't coalesce");
		if (!err)
			err = check_bitmap_length(c, pfd, parent, ph.size);
		if (!err)
			err = check_bitmap_length(c, cfd, child, ch.size);
	}
	for (left = err ? 0 : cbt_bitmap_bytes(ph.size); left && !err;) {
		size_t n = left < CHUNK ? (size_t)left : CHUNK;

		err = pread_all(pfd, pbuf, n, off);
		if (!err)
			err = pread_all(cfd, cbuf, n, off);
		if (!err) {
			cbt_bitmap_merge(cbuf, n, pbuf, n);
			err = pwrite_all(cfd, cbuf, n, off);
		}
		if (err)
			err = fail(c, err, "Failed to coalesce %s into %s. %s", parent, child,
				   strerror(-err));
		off += n;
		left -= n;
	}
	if (!err && fsync(cfd) < 0 && errno != EINVAL)
		err = fail(c, -errno, "Failed to sync log file %s. %s", child, strerror(errno));
	close(pfd);
	if (cfd >= 0)
		close(cfd);
	return err;
}

/* Parses a sub-command's options; runs it. */
static int run(const struct cmd *c, int argc, char **argv)
{
	const char *name = NULL, *p = NULL, *ch = NULL, *f = NULL, *s = NULL;
	int opt, nget = 0;
	bool b64 = false;
	char what = 0;
	struct set_args sa = { 0 };
	uint64_t size = 0;

	if (argc == 2 && !strcmp(argv[1], "--help")) { /* as -h */
		printf("Usage: cbt-util %s %s\n", c->name, c->usage);
		return 0;
	}
	opterr = 0;
	optind = 1;
	while ((opt = getopt(argc, argv, c->opts)) != -1) {
		switch (opt) {
		case 'h':
			printf("Usage: cbt-util %s %s\n", c->name, c->usage);
			return 0;
		case 'n': name = optarg; break;
		case 'E': b64 = true; break;
		case ':':
			fprintf(stderr, "cbt-util %s: option -%c needs a value\n", c->name, optopt);
			return -EINVAL;
		case '?':
			if (optopt)
				fprintf(stderr, "cbt-util %s: unknown option '-%c'\n", c->name,
					optopt);
			else
				fprintf(stderr, "cbt-util %s: unknown option '%s'\n", c->name,
					argv[optind - 1]);
			return -EINVAL;
		default:
			if (strchr("pcfsb", opt) && !strcmp(c->name, "get")) {
				what = (char)opt;
				nget++;
			} else if (opt == 'p') {
				p = optarg;
			} else if (opt == 'c') {
				ch = optarg;
			} else if (opt == 'f') {
				f = optarg;
			} else if (opt == 's') {
				s = optarg;
			}
		}
	}
	if (optind < argc)
		return bad_usage(c, "unexpected arguments");
	if (!strcmp(c->name, "coalesce")) {
		if (!p || !ch)
			return bad_usage(c, "-p and -c are needed");
		return cmd_coalesce(c, p, ch);
	}
	if (!name || !*name)
		return bad_usage(c, "-n is needed");
	if (!strcmp(c->name, "get")) {
		if (nget != 1)
			return bad_usage(c, "exactly one of -p, -c, -f, -s, -b is needed");
		if (b64 && what != 'b')
			return bad_usage(c, "-E goes with -b");
		return cmd_get(c, name, what, b64);
	}
	if (s && (parse_u64(s, CBT_MAX_DISK_BYTES, &size) || (!size && !strcmp(c->name, "create"))))
		return fail(c, -EINVAL, "bad size '%s': bytes, 1 to %llu", s,
			    (unsigned long long)CBT_MAX_DISK_BYTES);
	if (!strcmp(c->name, "create")) {
		if (!s)
			return bad_usage(c, "-s is needed");
		return cmd_create(c, name, size);
	}
	/* set */
	if (p && uuid_parse(p, sa.parent))
		return fail(c, -EINVAL, "bad uuid '%s'", p);
	if (ch && uuid_parse(ch, sa.child))
		return fail(c, -EINVAL, "bad uuid '%s'", ch);
	if (f && parse_i32(f, &sa.flag))
		return fail(c, -EINVAL, "bad flag '%s': an integer (0 or 1)", f);
	sa.has_parent = p;
	sa.has_child = ch;
	sa.has_flag = f;
	sa.size = size; /* -s 0 changes nothing, as blktap's */
	if (!p && !ch && !f && !s)
		return bad_usage(c, "one of -p, -c, -f, -s is needed");
	return cmd_set(c, name, &sa);
}

static const struct cmd cmds[] = {
	{ "create", ":n:s:h", "-n LOG -s SIZE_BYTES" },
	{ "get", ":n:pcfsbEh", "-n LOG -p|-c|-f|-s|-b [-E]" },
	{ "set", ":n:p:c:f:s:h", "-n LOG [-p UUID] [-c UUID] [-f FLAG] [-s SIZE_BYTES]" },
	{ "coalesce", ":p:c:h", "-p PARENT_LOG -c CHILD_LOG" },
};

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EINVAL;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version"))
		return rt_print_version("cbt-util");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name)) {
			int err = run(&cmds[i], argc - 1, argv + 1);

			return err < 0 ? -err : err;
		}
	if (argv[1][0] == '-')
		fprintf(stderr, "cbt-util: unknown option '%s' (see cbt-util --help)\n", argv[1]);
	else
		fprintf(stderr, "cbt-util: unknown command '%.64s' (see cbt-util --help)\n",
			argv[1]);
	return EINVAL;
}
