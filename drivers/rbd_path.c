/* Parsing the rbd driver's open string (drivers/rbd_path.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "drivers/rbd_path.h"

__attribute__((format(printf, 3, 4))) static int refuse(char *why, size_t size, const char *fmt,
							...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, size, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '.' || c == '+' || c == '-';
}

/* Copies s[0..len) into out[size] when every byte passes ok. */
static int take(const char *what, const char *s, size_t len, char *out, size_t size,
		bool (*ok)(char), char *why, size_t why_size)
{
	size_t i;

	if (!len)
		return refuse(why, why_size, "empty %s", what);
	if (len >= size) {
		snprintf(why, why_size, "%s longer than %zu bytes", what, size - 1);
		return -ENAMETOOLONG;
	}
	for (i = 0; i < len; i++)
		if (!ok(s[i]))
			return refuse(why, why_size, "%s: character 0x%02x not allowed", what,
				      (unsigned char)s[i]);
	memcpy(out, s, len);
	out[len] = '\0';
	return 0;
}

static int name(const char *what, const char *s, size_t len, char *out, char *why, size_t why_size)
{
	int rc = take(what, s, len, out, RBD_PATH_NAME_MAX, name_char, why, why_size);

	if (!rc && (!strcmp(out, ".") || !strcmp(out, "..")))
		return refuse(why, why_size, "%s '%s' not allowed", what, out);
	return rc;
}

static bool file_char(char c)
{
	return name_char(c) || c == '/';
}

static int file(const char *what, const char *s, size_t len, char *out, char *why, size_t why_size)
{
	if (len && s[0] != '/')
		return refuse(why, why_size, "%s: an absolute path is needed", what);
	return take(what, s, len, out, RBD_PATH_FILE_MAX, file_char, why, why_size);
}

/* One "key=value" of s[0..len). */
static int option(const char *s, size_t len, struct rbd_path *p, char *why, size_t why_size)
{
	const struct {
		const char *key;
		char *out;
	} opts[] = { { "conf", p->conf }, { "id", p->id }, { "keyring", p->keyring } };
	const char *eq = memchr(s, '=', len);
	int shown = len > 32 ? 32 : (int)len;
	size_t i, klen, vlen;

	if (!eq)
		return refuse(why, why_size, "option '%.*s' is not key=value", shown, s);
	klen = (size_t)(eq - s);
	vlen = len - klen - 1;
	for (i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		if (strlen(opts[i].key) != klen || memcmp(s, opts[i].key, klen))
			continue;
		if (*opts[i].out)
			return refuse(why, why_size, "option %s given twice", opts[i].key);
		if (opts[i].out == p->id)
			return take("id", eq + 1, vlen, p->id, RBD_PATH_ID_MAX, name_char, why,
				    why_size);
		return file(opts[i].key, eq + 1, vlen, opts[i].out, why, why_size);
	}
	return refuse(why, why_size, "unknown option '%.*s' (conf, id or keyring)",
		      klen > 32 ? 32 : (int)klen, s);
}

int rbd_path_parse(const char *s, struct rbd_path *p, char *why, size_t why_size)
{
	const char *slash, *at, *colon, *end;
	int rc;

	memset(p, 0, sizeof(*p));
	colon = strchr(s, ':');
	end = colon ? colon : s + strlen(s);
	slash = memchr(s, '/', (size_t)(end - s));
	if (!slash)
		return refuse(why, why_size, "expected pool/image[@snapshot][:option=value...]");
	if ((rc = name("pool", s, (size_t)(slash - s), p->pool, why, why_size)))
		return rc;
	at = memchr(slash + 1, '@', (size_t)(end - slash - 1));
	if ((rc = name("image", slash + 1, (size_t)((at ? at : end) - slash - 1), p->image, why,
		       why_size)))
		return rc;
	if (at && (rc = name("snapshot", at + 1, (size_t)(end - at - 1), p->snap, why, why_size)))
		return rc;
	while (colon) {
		const char *opt = colon + 1;

		colon = strchr(opt, ':');
		end = colon ? colon : opt + strlen(opt);
		if ((rc = option(opt, (size_t)(end - opt), p, why, why_size)))
			return rc;
	}
	return 0;
}
