/* tap-ctl's per-VBD sub-commands, each one request to the tapdisk with that pid: attach, detach,
 * open, close, pause, unpause, stats, poll. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tools/tap-ctl/tap-ctl.h"

/* Options common to every per-VBD command. */
struct target {
	pid_t pid;
	int minor;
};

/* Handles -p and -m; returns 1 if the option was one of them, 0 if not, or BAD_VALUE. */
#define BAD_VALUE TAPCTL_BAD_VALUE
static int target_option(const struct tapctl_cmd *cmd, int c, struct target *t)
{
	if (c == 'p')
		return tapctl_parse_pid(cmd, optarg, &t->pid) ? BAD_VALUE : 1;
	if (c == 'm')
		return tapctl_parse_minor(cmd, optarg, &t->minor) ? BAD_VALUE : 1;
	return 0;
}

static int target_check(const struct tapctl_cmd *cmd, int argc, char **argv, const struct target *t)
{
	int err = tapctl_no_operands(cmd, argc, argv);

	if (err)
		return err;
	if (t->pid <= 0 || t->minor < 0) {
		tapctl_msg(cmd, "missing %s", t->pid <= 0 ? "-p pid" : "-m minor");
		tapctl_usage(cmd, stderr);
		return EINVAL;
	}
	return 0;
}

/* Parses a command that takes only -p and -m. 0, -1 (help printed: exit 0), or an errno. */
static int parse_target_only(const struct tapctl_cmd *cmd, int argc, char **argv, struct target *t,
			     const char *extra, long *timeout_s)
{
	int c, r;

	while ((c = tapctl_getopt(cmd, argc, argv, extra ? "p:m:t:" : "p:m:")) != -1) {
		r = target_option(cmd, c, t);
		if (r == BAD_VALUE)
			return EINVAL;
		if (r)
			continue;
		if (c == 't' && timeout_s) {
			if (tapctl_parse_int(cmd, 't', optarg, 1, 86400, timeout_s))
				return EINVAL;
			continue;
		}
		if (c == 'h') {
			tapctl_usage(cmd, stdout);
			return -1;
		}
		return EINVAL;
	}
	return target_check(cmd, argc, argv, t);
}

/* Runs fn on a fresh connection; reports failure with the daemon's message. */
static int with_client(const struct tapctl_cmd *cmd, pid_t pid, int minor, unsigned int timeout_s,
		       int (*fn)(struct ctl_client *c, const void *arg), const void *arg)
{
	struct ctl_client *c;
	int err = tapctl_connect(cmd, pid, timeout_s, &c);

	if (err)
		return err;
	err = fn(c, arg);
	if (err)
		err = tapctl_fail(cmd, err, c, "tapdisk %d minor %d", (int)pid, minor);
	ctl_client_close(c);
	return err;
}

static int call_attach(struct ctl_client *c, const void *arg)
{
	return ctl_attach(c, *(const int *)arg);
}

static int call_detach(struct ctl_client *c, const void *arg)
{
	return ctl_detach(c, *(const int *)arg);
}

static int call_pause(struct ctl_client *c, const void *arg)
{
	return ctl_pause(c, *(const int *)arg);
}

static int call_open(struct ctl_client *c, const void *arg)
{
	return ctl_open(c, arg);
}

static int call_close(struct ctl_client *c, const void *arg)
{
	return ctl_close(c, arg);
}

static int call_resume(struct ctl_client *c, const void *arg)
{
	return ctl_resume(c, arg);
}

static int call_poll_set(struct ctl_client *c, const void *arg)
{
	return ctl_poll_set(c, arg);
}

int tapctl_do_attach(const struct tapctl_cmd *cmd, pid_t pid, int minor)
{
	return with_client(cmd, pid, minor, TAPCTL_DEFAULT_TIMEOUT_S, call_attach, &minor);
}

int tapctl_do_detach(const struct tapctl_cmd *cmd, pid_t pid, int minor)
{
	return with_client(cmd, pid, minor, TAPCTL_DEFAULT_TIMEOUT_S, call_detach, &minor);
}

int tapctl_do_open(const struct tapctl_cmd *cmd, pid_t pid, const struct ctl_open_args *a)
{
	return with_client(cmd, pid, a->minor, TAPCTL_DEFAULT_TIMEOUT_S, call_open, a);
}

int tapctl_do_close(const struct tapctl_cmd *cmd, pid_t pid, int minor, bool force,
		    unsigned int timeout_s)
{
	struct ctl_close_args a = { minor, force };
	time_t end = time(NULL) + timeout_s;
	struct ctl_client *c;
	int err;

	/* as blktap3: a tapdisk still draining answers EBUSY; ask again until the timeout */
	for (;;) {
		err = tapctl_connect(cmd, pid, timeout_s, &c);
		if (err)
			return err;
		err = call_close(c, &a);
		if (err != -EBUSY || time(NULL) >= end)
			break;
		ctl_client_close(c);
		sleep(1);
	}
	if (err)
		err = tapctl_fail(cmd, err, c, "tapdisk %d minor %d", (int)pid, minor);
	ctl_client_close(c);
	return err;
}

int tapctl_cmd_attach(const struct tapctl_cmd *cmd, int argc, char **argv)
{
	struct target t = { -1, -1 };
	int err = parse_target_only(cmd, argc, argv, &t, NULL, NULL);

	if (err)
		return err < 0 ? 0 : err;
	return tapctl_do_attach(cmd, t.pid, t.minor);
}

int tapctl_cmd_detach(const struct tapctl_cmd *cmd, int argc, char **argv)
{
	struct target t = { -1, -1 };
	int err = parse_target_only(cmd, argc, argv, &t, NULL, NULL);

	if (err)
		return err < 0 ? 0 : err;
	return tapctl_do_detach(cmd, t.pid, t.minor);
}

int tapctl_cmd_pause(const struct tapctl_cmd *cmd, int argc, char **argv)
{
	struct target t = { -1, -1 };
	long timeout_s = TAPCTL_DEFAULT_TIMEOUT_S;
	int err = parse_target_only(cmd, argc, argv, &t, "t", &timeout_s);

	if (err)
		return err < 0 ? 0 : err;
	return with_client(cmd, t.pid, t.minor, (unsigned int)timeout_s, call_pause, &t.minor);
}

/* -E: the key (32 or 64 bytes, AES-XTS 256/512) comes on stdin, as blktap3's. */
static int read_key(const struct tapctl_cmd *cmd, struct ctl_open_args *a)
{
	uint8_t buf[CTL_KEY_MAX + 1];
	size_t got = 0;

	while (got < sizeof(buf)) {
		ssize_t n = read(STDIN_FILENO, buf + got, sizeof(buf) - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (got != 32 && got != 64) {
		tapctl_msg(cmd, "-E: read %zu key bytes on stdin; 32 or 64 are needed", got);
		return EINVAL;
	}
	memcpy(a->key, buf, got);
	a->key_size = (uint32_t)got;
	a->flags |= CTL_OPEN_ENCRYPTED;
	return 0;
}

/* -2's secondary ("nbd:<dp>" as XAPI's storage migration sends it, "null"), carried as given:
 * the tapdisk checks its form (blktap3's took others). */
static int parse_secondary(const struct tapctl_cmd *cmd, const char *s, char *buf)
{
	if (!*s || strlen(s) >= CTL_PATH_MAX) {
		tapctl_msg(cmd, "invalid secondary '%.64s' for -2", s);
		return EINVAL;
	}
	strcpy(buf, s);
	return 0;
}

/* -L on|off|auto: QEMU's locking= for the image (open, create, unpause). */
static int parse_lock_mode(const struct tapctl_cmd *cmd, const char *arg, enum ctl_lock_mode *out)
{
	if (ctl_lock_mode_parse(arg, out)) {
		tapctl_msg(cmd, "-L %s: expected on, off or auto", arg);
		return BAD_VALUE;
	}
	return 1;
}

int tapctl_open_option(const struct tapctl_cmd *cmd, int c, struct ctl_open_args *a,
		       bool *have_image)
{
	long v;

	switch (c) {
	case 'a':
		if (tapctl_parse_image(cmd, optarg, &a->image))
			return BAD_VALUE;
		*have_image = true;
		return 1;
	case 'R':
		a->flags |= CTL_OPEN_RDONLY;
		return 1;
	case 'r':
		a->flags |= CTL_OPEN_ADD_LCACHE;
		return 1;
	case 'D':
		a->flags |= CTL_OPEN_NO_O_DIRECT;
		return 1;
	case 's':
		a->flags |= CTL_OPEN_STANDBY;
		return 1;
	case 'e':
		if (tapctl_parse_int(cmd, 'e', optarg, 0, CTL_MINOR_MAX - 1, &v))
			return BAD_VALUE;
		a->parent_minor = (int)v;
		a->flags |= CTL_OPEN_REUSE_PARENT;
		return 1;
	case '2':
		if (parse_secondary(cmd, optarg, a->secondary))
			return BAD_VALUE;
		a->flags |= CTL_OPEN_SECONDARY;
		return 1;
	case 'C':
		if (tapctl_parse_path(cmd, 'C', optarg, a->cbt_log))
			return BAD_VALUE;
		a->flags |= CTL_OPEN_ADD_LOG;
		return 1;
	case 't':
		if (tapctl_parse_int(cmd, 't', optarg, 0, 86400 * 365, &v))
			return BAD_VALUE;
		a->timeout_s = (uint32_t)v;
		return 1;
	case 'L':
		return parse_lock_mode(cmd, optarg, &a->lock);
	case 'E':
		if (a->flags & CTL_OPEN_ENCRYPTED) {
			tapctl_msg(cmd, "-E given twice");
			return BAD_VALUE;
		}
		return read_key(cmd, a) ? BAD_VALUE : 1;
	default:
		return 0;
	}
}

int tapctl_cmd_open(const struct tapctl_cmd *cmd, int argc, char **argv)
{
	struct ctl_open_args *a = calloc(1, sizeof(*a));
	struct target t = { -1, -1 };
	bool have_image = false;
	int c, r, err = 0;

	if (!a)
		return tapctl_fail(cmd, -ENOMEM, NULL, "open");
	a->parent_minor = -1;
	while (!err && (c = tapctl_getopt(cmd, argc, argv, "p:m:a:RrDse:2:C:t:EL:")) != -1) {
		if ((r = target_option(cmd, c, &t)) ||
		    (r = tapctl_open_option(cmd, c, a, &have_image)))
			err = r == BAD_VALUE ? EINVAL : 0;
		else if (c == 'h')
			err = -1;
		else
			err = EINVAL;
	}
	if (err == -1) {
		tapctl_usage(cmd, stdout);
		err = 0;
		goto out;
	}
	if (!err)
		err = target_check(cmd, argc, argv, &t);
	if (!err && !have_image) {
		tapctl_msg(cmd, "missing -a type:/path");
		tapctl_usage(cmd, stderr);
		err = EINVAL;
	}
	if (!err) {
		a->minor = t.minor;
		err = tapctl_do_open(cmd, t.pid, a);
	}
out:
	memset(a->key, 0, sizeof(a->key));
	free(a);
	return err;
}

int tapctl_cmd_close(const struct tapctl_cmd *cmd, int argc, char **argv)
{
	struct target t = { -1, -1 };
	long timeout_s = TAPCTL_DEFAULT_TIMEOUT_S;
	bool force = false;
	int c, r, err;

	while ((c = tapctl_getopt(cmd, argc, argv, "p:m:ft:")) != -1) {
		if ((r = target_option(cmd, c, &t))) {
			if (r == BAD_VALUE)
				return EINVAL;
		} else if (c == 'f') {
			force = true;
		} else if (c == 't') {
			if (tapctl_parse_int(cmd, 't', optarg, 1, 86400, &timeout_s))
				return EINVAL;
		} else if (c == 'h') {
			tapctl_usage(cmd, stdout);
			return 0;
		} else {
			return EINVAL;
		}
	}
	if ((err = target_check(cmd, argc, argv, &t)))
		return err;
	return tapctl_do_close(cmd, t.pid, t.minor, force, (unsigned int)timeout_s);
}

int tapctl_cmd_unpause(const struct tapctl_cmd *cmd, int argc, char **argv)
{
	struct ctl_resume_args *a = calloc(1, sizeof(*a));
	struct target t = { -1, -1 };
	int c, r, err = 0;

	if (!a)
		return tapctl_fail(cmd, -ENOMEM, NULL, "unpause");
	while (!err && (c = tapctl_getopt(cmd, argc, argv, "p:m:a:2:c:L:")) != -1) {
		if ((r = target_option(cmd, c, &t)))
			err = r == BAD_VALUE ? EINVAL : 0;
		else if (c == 'a')
			err = tapctl_parse_image(cmd, optarg, &a->image);
		else if (c == '2') {
			err = parse_secondary(cmd, optarg, a->secondary);
			a->flags |= CTL_OPEN_SECONDARY;
		} else if (c == 'c') {
			err = tapctl_parse_path(cmd, 'c', optarg, a->cbt_log);
			a->flags |= CTL_OPEN_ADD_LOG;
		} else if (c == 'L') {
			err = parse_lock_mode(cmd, optarg, &a->lock) == BAD_VALUE ? EINVAL : 0;
		} else if (c == 'h')
			err = -1;
		else
			err = EINVAL;
	}
	if (err == -1) {
		tapctl_usage(cmd, stdout);
		err = 0;
	} else if (!err && !(err = target_check(cmd, argc, argv, &t))) {
		a->minor = t.minor;
		err = with_client(cmd, t.pid, t.minor, TAPCTL_DEFAULT_TIMEOUT_S, call_resume, a);
	}
	free(a);
	return err;
}

int tapctl_cmd_stats(const struct tapctl_cmd *cmd, int argc, char **argv)
{
	struct target t = { -1, -1 };
	struct ctl_client *c;
	char *json;
	int err = parse_target_only(cmd, argc, argv, &t, NULL, NULL);

	if (err)
		return err < 0 ? 0 : err;
	err = tapctl_connect(cmd, t.pid, TAPCTL_DEFAULT_TIMEOUT_S, &c);
	if (err)
		return err;
	err = ctl_stats(c, t.minor, &json);
	if (err) {
		err = tapctl_fail(cmd, err, c, "tapdisk %d minor %d", (int)t.pid, t.minor);
	} else {
		/* one line: XAPI json.loads() the first line */
		printf("%s\n", json);
		free(json);
	}
	ctl_client_close(c);
	return err;
}

int tapctl_cmd_poll(const struct tapctl_cmd *cmd, int argc, char **argv)
{
	struct ctl_poll_set_args a = { 0 };
	struct ctl_poll_settings *p = &a.settings;
	struct target t = { -1, -1 };
	struct ctl_client *c;
	int ch, r, err;
	long v;

	while ((ch = tapctl_getopt(cmd, argc, argv, "p:m:P:d:i:w:g:s:")) != -1) {
		if ((r = target_option(cmd, ch, &t))) {
			if (r == BAD_VALUE)
				return EINVAL;
			continue;
		}
		switch (ch) {
		case 'P':
			if (ctl_poll_policy_parse(optarg, &p->policy)) {
				tapctl_msg(cmd, "unknown policy '%s' (adaptive, fixed or off)",
					   optarg);
				return EINVAL;
			}
			p->set_mask |= CTL_POLL_SET_POLICY;
			continue;
		case 'd':
		case 'w':
			if (tapctl_parse_int(cmd, (char)ch, optarg, 0, CTL_POLL_MAX_US, &v))
				return EINVAL;
			if (ch == 'd') {
				p->duration_us = (uint32_t)v;
				p->set_mask |= CTL_POLL_SET_DURATION;
			} else {
				p->max_window_us = (uint32_t)v;
				p->set_mask |= CTL_POLL_SET_MAX_WINDOW;
			}
			continue;
		case 'i':
			if (tapctl_parse_int(cmd, 'i', optarg, 0, 100, &v))
				return EINVAL;
			p->idle_threshold = (uint32_t)v;
			p->set_mask |= CTL_POLL_SET_IDLE;
			continue;
		case 'g':
		case 's':
			if (tapctl_parse_int(cmd, (char)ch, optarg, CTL_POLL_MIN_FACTOR,
					     CTL_POLL_MAX_FACTOR, &v))
				return EINVAL;
			if (ch == 'g') {
				p->grow = (uint32_t)v;
				p->set_mask |= CTL_POLL_SET_GROW;
			} else {
				p->shrink = (uint32_t)v;
				p->set_mask |= CTL_POLL_SET_SHRINK;
			}
			continue;
		case 'h':
			tapctl_usage(cmd, stdout);
			return 0;
		default:
			return EINVAL;
		}
	}
	if ((err = target_check(cmd, argc, argv, &t)))
		return err;
	a.minor = t.minor;
	if (p->set_mask)
		return with_client(cmd, t.pid, t.minor, TAPCTL_DEFAULT_TIMEOUT_S, call_poll_set,
				   &a);
	err = tapctl_connect(cmd, t.pid, TAPCTL_DEFAULT_TIMEOUT_S, &c);
	if (err)
		return err;
	err = ctl_poll_get(c, t.minor, p);
	if (err)
		err = tapctl_fail(cmd, err, c, "tapdisk %d minor %d", (int)t.pid, t.minor);
	else
		printf("policy=%s duration=%u idle-threshold=%u max-window=%u grow=%u shrink=%u\n",
		       ctl_poll_policy_name(p->policy), p->duration_us, p->idle_threshold,
		       p->max_window_us, p->grow, p->shrink);
	ctl_client_close(c);
	return err;
}
