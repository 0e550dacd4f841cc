/* tapdisk's host-wide configuration file (src/host_config.h): a table of keys, a line parser that
 * refuses anything it does not fully understand, and the file reader that logs and skips bad
 * lines. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ringtap/driver.h"
#include "ringtap/log.h"
#include "src/host_config.h"

#define US 1000ULL

enum key_kind { KEY_POLICY, KEY_US, KEY_UINT, KEY_ENV_UINT, KEY_ENV_ONOFF };

struct key {
	const char *name;
	enum key_kind kind;
	unsigned long min, max;
	size_t offset; /* in struct poll_params; KEY_ENV_*: the index in td_config's env */
};

/* The environment variable of each env slot. */
static const char *const env_names[TD_CONFIG_NENV] = {
	[TD_CONFIG_URING_BATCH] = TD_URING_BATCH_ENV,
	[TD_CONFIG_URING_FIXED_BUFFERS] = TD_URING_FIXED_BUFFERS_ENV,
	[TD_CONFIG_URING_SQPOLL] = TD_URING_SQPOLL_ENV,
	[TD_CONFIG_URING_SQPOLL_CPU] = TD_URING_SQPOLL_CPU_ENV,
};

#define POLL_FIELD(f) offsetof(struct poll_params, f)

static const struct key keys[] = {
	{ "polling-policy", KEY_POLICY, 0, 0, POLL_FIELD(policy) },
	{ "polling-duration", KEY_US, 0, POLL_MAX_WINDOW_NS / US, POLL_FIELD(fixed_ns) },
	{ "polling-idle-threshold", KEY_UINT, 0, 100, POLL_FIELD(idle_threshold) },
	{ "polling-start-window", KEY_US, 1, POLL_MAX_WINDOW_NS / US, POLL_FIELD(start_ns) },
	{ "polling-max-window", KEY_US, 1, POLL_MAX_WINDOW_NS / US, POLL_FIELD(max_ns) },
	{ "polling-grow", KEY_UINT, 2, 16, POLL_FIELD(grow) },
	{ "polling-shrink", KEY_UINT, 2, 16, POLL_FIELD(shrink) },
	{ "polling-budget", KEY_UINT, 0, POLL_BUDGET_SLOTS, POLL_FIELD(budget) },
	{ "uring-batch", KEY_ENV_UINT, 1, 128, TD_CONFIG_URING_BATCH },
	{ "uring-fixed-buffers", KEY_ENV_ONOFF, 0, 0, TD_CONFIG_URING_FIXED_BUFFERS },
	{ "uring-sqpoll", KEY_ENV_ONOFF, 0, 0, TD_CONFIG_URING_SQPOLL },
	{ "uring-sqpoll-cpu", KEY_ENV_UINT, 0, 4095, TD_CONFIG_URING_SQPOLL_CPU },
};

void td_config_default(struct td_config *c)
{
	poll_params_default(&c->poll);
	memset(c->env, 0, sizeof(c->env));
}

void td_config_export(const struct td_config *c)
{
	for (int i = 0; i < TD_CONFIG_NENV; i++) {
		if (!c->env[i][0])
			continue;
		if (getenv(env_names[i]))
			rt_info("%s: set in the environment, which wins over the file",
				env_names[i]);
		else if (setenv(env_names[i], c->env[i], 0) == 0)
			rt_info("%s=%s (the configuration file)", env_names[i], c->env[i]);
	}
}

const char *td_config_path(const char *option)
{
	const char *env = getenv(TD_CONFIG_ENV);

	if (option)
		return option;
	if (env)
		return *env ? env : NULL;
	return TD_CONFIG_DEFAULT_PATH;
}

static bool is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\v' || ch == '\f';
}

/* [s, e) without the blanks at both ends */
static void trim(const char **s, const char **e)
{
	while (*s < *e && is_space(**s))
		(*s)++;
	while (*e > *s && is_space((*e)[-1]))
		(*e)--;
}

/* A decimal number in [min, max], digits only. */
static int parse_uint(const char *s, size_t n, unsigned long min, unsigned long max,
		      unsigned long *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 10)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v < min || v > max)
		return -ERANGE;
	*out = (unsigned long)v;
	return 0;
}

static int apply(struct td_config *c, const struct key *k, const char *v, size_t n, char *why,
		 size_t len)
{
	char *field = (char *)&c->poll + k->offset;
	enum poll_policy policy;
	unsigned long val;
	char name[16];
	int err;

	if (k->kind == KEY_ENV_ONOFF) {
		if ((n != 2 || memcmp(v, "on", 2)) && (n != 3 || memcmp(v, "off", 3))) {
			snprintf(why, len, "%s: expected on or off", k->name);
			return -EINVAL;
		}
		memcpy(c->env[k->offset], v, n);
		c->env[k->offset][n] = '\0';
		return 0;
	}
	if (k->kind == KEY_POLICY) {
		if (n >= sizeof(name) ||
		    (memcpy(name, v, n), name[n] = '\0', poll_policy_parse(name, &policy))) {
			snprintf(why, len, "%s: expected adaptive, fixed or off", k->name);
			return -EINVAL;
		}
		memcpy(field, &policy, sizeof(policy));
		return 0;
	}
	err = parse_uint(v, n, k->min, k->max, &val);
	if (err) {
		snprintf(why, len, "%s: expected %s from %lu to %lu%s", k->name,
			 err == -ERANGE ? "a value" : "a decimal number", k->min, k->max,
			 k->kind == KEY_US ? " (microseconds)" : "");
		return -EINVAL;
	}
	if (k->kind == KEY_ENV_UINT) {
		snprintf(c->env[k->offset], sizeof(c->env[k->offset]), "%lu", val);
		return 0;
	}
	if (k->kind == KEY_US) {
		uint64_t ns = (uint64_t)val * US;

		memcpy(field, &ns, sizeof(ns));
	} else {
		unsigned int u = (unsigned int)val;

		memcpy(field, &u, sizeof(u));
	}
	return 0;
}

int td_config_parse_line(struct td_config *c, const char *line, char *why, size_t len)
{
	const char *s = line, *e = line + strlen(line), *hash = strchr(line, '#'), *eq, *ks, *ke;

	if (hash)
		e = hash;
	trim(&s, &e);
	if (s == e)
		return 0;
	eq = memchr(s, '=', (size_t)(e - s));
	if (!eq) {
		snprintf(why, len, "expected `key = value`");
		return -EINVAL;
	}
	ks = s;
	ke = eq;
	trim(&ks, &ke);
	s = eq + 1;
	trim(&s, &e);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if ((size_t)(ke - ks) == strlen(keys[i].name) &&
		    !memcmp(ks, keys[i].name, (size_t)(ke - ks)))
			return apply(c, &keys[i], s, (size_t)(e - s), why, len);
	snprintf(why, len, "unknown key '%.*s'", (int)(ke - ks > 40 ? 40 : ke - ks), ks);
	return -EINVAL;
}

unsigned int td_config_read(struct td_config *c, FILE *f, const char *name)
{
	unsigned int bad = 0, lineno = 0;
	char *line = NULL, why[128];
	size_t cap = 0;
	ssize_t n;

	while ((n = getline(&line, &cap, f)) >= 0) {
		lineno++;
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		if (strlen(line) != (size_t)n) {
			rt_warn("%s:%u: a NUL byte in the line: line ignored", name, lineno);
			bad++;
			continue;
		}
		if (td_config_parse_line(c, line, why, sizeof(why))) {
			rt_warn("%s:%u: %s: line ignored", name, lineno, why);
			bad++;
		}
	}
	free(line);
	if (poll_params_validate(&c->poll)) {
		rt_warn("%s: the polling settings do not hold together (the start window above the "
			"maximum?): using the built-in defaults",
			name);
		poll_params_default(&c->poll);
		bad++;
	}
	return bad;
}

int td_config_load(struct td_config *c, const char *path)
{
	FILE *f;
	int bad;

	td_config_default(c);
	if (!path)
		return 0;
	f = fopen(path, "re");
	if (!f)
		return -errno;
	bad = (int)td_config_read(c, f, path);
	if (ferror(f)) {
		rt_warn("%s: read error: %s", path, strerror(errno));
		bad++;
	}
	fclose(f);
	return bad;
}

void td_config_print(const struct td_config *c, FILE *out)
{
	const struct poll_params *p = &c->poll;

	fprintf(out,
		"polling-policy = %s\npolling-duration = %llu\npolling-idle-threshold = %u\n"
		"polling-start-window = %llu\npolling-max-window = %llu\npolling-grow = %u\n"
		"polling-shrink = %u\npolling-budget = %u\n",
		poll_policy_name(p->policy), (unsigned long long)(p->fixed_ns / US),
		p->idle_threshold, (unsigned long long)(p->start_ns / US),
		(unsigned long long)(p->max_ns / US), p->grow, p->shrink, p->budget);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if ((keys[i].kind == KEY_ENV_UINT || keys[i].kind == KEY_ENV_ONOFF) &&
		    c->env[keys[i].offset][0])
			fprintf(out, "%s = %s\n", keys[i].name, c->env[keys[i].offset]);
}
