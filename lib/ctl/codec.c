/* Encoding and decoding of control messages: the big-endian 16-byte header and the JSON
 * payloads (jansson). Decoders treat every byte as hostile: each field is type- and
 * range-checked and copied into fixed-size storage before anyone looks at it. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lib/ctl/codec.h"
#include "ringtap/log.h"

/* ---- header ------------------------------------------------------------------------------ */
void ctl_header_encode(const struct ctl_header *h, uint8_t out[CTL_HEADER_SIZE])
{
	uint32_t magic = htonl(h->magic), id = htonl(h->id), length = htonl(h->length);
	uint16_t version = htons(h->version), type = htons(h->type);

	memcpy(out, &magic, 4);
	memcpy(out + 4, &version, 2);
	memcpy(out + 6, &type, 2);
	memcpy(out + 8, &id, 4);
	memcpy(out + 12, &length, 4);
}

int ctl_header_decode(const uint8_t in[CTL_HEADER_SIZE], uint32_t max_length, struct ctl_header *h)
{
	uint32_t v32;
	uint16_t v16;

	memcpy(&v32, in, 4);
	h->magic = ntohl(v32);
	memcpy(&v16, in + 4, 2);
	h->version = ntohs(v16);
	memcpy(&v16, in + 6, 2);
	h->type = ntohs(v16);
	memcpy(&v32, in + 8, 4);
	h->id = ntohl(v32);
	memcpy(&v32, in + 12, 4);
	h->length = ntohl(v32);
	if (h->magic != CTL_MAGIC)
		return -EBADMSG;
	if (h->version != CTL_VERSION)
		return -EPROTONOSUPPORT;
	if (h->length > max_length)
		return -EMSGSIZE;
	return 0;
}

/* ---- JSON field helpers (decode) ------------------------------------------------------------- */
/* Each returns 0, -ENOENT if absent (callers decide whether that is an error), -EINVAL if of the
 * wrong type or out of range. */
static int get_int(json_t *o, const char *key, long long min, long long max, long long *out)
{
	json_t *v = json_object_get(o, key);

	if (!v)
		return -ENOENT;
	if (!json_is_integer(v))
		return -EINVAL;
	*out = json_integer_value(v);
	if (*out < min || *out > max)
		return -EINVAL;
	return 0;
}

static int get_u32(json_t *o, const char *key, uint32_t max, uint32_t *out)
{
	long long v;
	int err = get_int(o, key, 0, max, &v);

	if (!err)
		*out = (uint32_t)v;
	return err;
}

static int get_minor(json_t *o, int *minor)
{
	long long v;
	int err = get_int(o, "minor", 0, CTL_MINOR_MAX - 1, &v);

	if (err)
		return -EINVAL; /* every message that has a minor requires it */
	*minor = (int)v;
	return 0;
}

static int get_bool(json_t *o, const char *key, bool *out)
{
	json_t *v = json_object_get(o, key);

	if (!v)
		return -ENOENT;
	if (!json_is_boolean(v))
		return -EINVAL;
	*out = json_is_true(v);
	return 0;
}

/* Copies a string into buf (NUL-terminated); longer than size-1 → -EINVAL. */
static int get_string(json_t *o, const char *key, char *buf, size_t size)
{
	json_t *v = json_object_get(o, key);
	size_t len;

	if (!v)
		return -ENOENT;
	if (!json_is_string(v))
		return -EINVAL;
	len = json_string_length(v);
	if (len >= size)
		return -EINVAL;
	memcpy(buf, json_string_value(v), len + 1);
	return 0;
}

static int optional(int err)
{
	return err == -ENOENT ? 0 : err;
}

static int required(int err)
{
	return err == -ENOENT ? -EINVAL : err;
}

/* An absolute path, non-empty, or absent when optional. */
static int get_path(json_t *o, const char *key, char *buf, size_t size)
{
	int err = get_string(o, key, buf, size);

	if (err)
		return err;
	return buf[0] == '/' ? 0 : -EINVAL;
}

/* open's and unpause's optional mirror ("secondary", any non-empty form: blktap3 takes
 * "nbd:<dp>" as well as paths) and CBT log path: each present one sets its flag; both buffers are
 * CTL_PATH_MAX bytes. */
static int get_secondary_and_log(json_t *o, char *secondary, char *cbt_log, uint32_t *flags)
{
	int err = get_string(o, "secondary", secondary, CTL_PATH_MAX);

	if (!err && !secondary[0])
		return -EINVAL;
	if (!err)
		*flags |= CTL_OPEN_SECONDARY;
	else if (err != -ENOENT)
		return err;
	err = get_path(o, "cbt_log", cbt_log, CTL_PATH_MAX);
	if (!err)
		*flags |= CTL_OPEN_ADD_LOG;
	else if (err != -ENOENT)
		return err;
	return 0;
}

/* ---- image locking modes ------------------------------------------------------------------- */

static const char *const lock_mode_names[] = {
	[CTL_LOCK_AUTO] = "auto",
	[CTL_LOCK_ON] = "on",
	[CTL_LOCK_OFF] = "off",
};

const char *ctl_lock_mode_name(enum ctl_lock_mode mode)
{
	if ((unsigned int)mode >= sizeof(lock_mode_names) / sizeof(lock_mode_names[0]))
		return NULL;
	return lock_mode_names[mode];
}

int ctl_lock_mode_parse(const char *name, enum ctl_lock_mode *out)
{
	for (unsigned int m = CTL_LOCK_AUTO; m <= CTL_LOCK_OFF; m++)
		if (!strcmp(name, lock_mode_names[m])) {
			*out = (enum ctl_lock_mode)m;
			return 0;
		}
	return -EINVAL;
}

/* open's and unpause's optional "locking"; absent: CTL_LOCK_DEFAULT. */
static int get_lock_mode(json_t *o, enum ctl_lock_mode *out)
{
	char name[8];
	int err = get_string(o, "locking", name, sizeof(name));

	*out = CTL_LOCK_DEFAULT;
	if (err)
		return optional(err);
	return ctl_lock_mode_parse(name, out);
}

/* "type" and "path" together; both absent → CTL_IMAGE_NONE (-ENOENT). */
static int get_image(json_t *o, struct ctl_image *img)
{
	char type[16];
	int terr = get_string(o, "type", type, sizeof(type));
	int perr = get_string(o, "path", img->path, sizeof(img->path));

	img->type = CTL_IMAGE_NONE;
	if (terr == -ENOENT && perr == -ENOENT) {
		img->path[0] = '\0';
		return -ENOENT;
	}
	if (terr || perr)
		return -EINVAL;
	img->type = ctl_image_type_from_name(type);
	if (img->type == CTL_IMAGE_NONE || !ctl_image_path_valid(img->type, img->path)) {
		img->type = CTL_IMAGE_NONE;
		return -EINVAL;
	}
	return 0;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int get_key(json_t *o, uint8_t *key, uint32_t *size)
{
	char hex[2 * CTL_KEY_MAX + 1];
	size_t len, i;
	int err = get_string(o, "key", hex, sizeof(hex));

	if (err)
		return err;
	len = strlen(hex);
	if (len != 64 && len != 128)
		return -EINVAL;
	for (i = 0; i < len / 2; i++) {
		int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		key[i] = (uint8_t)(hi << 4 | lo);
	}
	*size = (uint32_t)(len / 2);
	return 0;
}

static int get_polling(json_t *parent, struct ctl_poll_settings *p)
{
	json_t *o = json_object_get(parent, "polling");
	char policy[16];
	int err;

	memset(p, 0, sizeof(*p));
	if (!o)
		return -ENOENT;
	if (!json_is_object(o))
		return -EINVAL;
	err = get_string(o, "policy", policy, sizeof(policy));
	if (!err) {
		if (ctl_poll_policy_parse(policy, &p->policy))
			return -EINVAL;
		p->set_mask |= CTL_POLL_SET_POLICY;
	} else if (err != -ENOENT) {
		return -EINVAL;
	}
#define POLL_FIELD(name, member, max, bit)                                                         \
	do {                                                                                       \
		err = get_u32(o, name, max, &p->member);                                           \
		if (!err)                                                                          \
			p->set_mask |= bit;                                                        \
		else if (err != -ENOENT)                                                           \
			return -EINVAL;                                                            \
	} while (0)
	POLL_FIELD("duration_us", duration_us, CTL_POLL_MAX_US, CTL_POLL_SET_DURATION);
	POLL_FIELD("idle_threshold", idle_threshold, 100, CTL_POLL_SET_IDLE);
	POLL_FIELD("max_window_us", max_window_us, CTL_POLL_MAX_US, CTL_POLL_SET_MAX_WINDOW);
	POLL_FIELD("grow", grow, CTL_POLL_MAX_FACTOR, CTL_POLL_SET_GROW);
	POLL_FIELD("shrink", shrink, CTL_POLL_MAX_FACTOR, CTL_POLL_SET_SHRINK);
#undef POLL_FIELD
	if (((p->set_mask & CTL_POLL_SET_GROW) && p->grow < CTL_POLL_MIN_FACTOR) ||
	    ((p->set_mask & CTL_POLL_SET_SHRINK) && p->shrink < CTL_POLL_MIN_FACTOR))
		return -EINVAL;
	return 0;
}

/* ---- JSON field helpers (encode) ----------------------------------------------------------- */
/* jansson's setters steal the new value; a NULL value (allocation failure) makes set fail. */
static int put(json_t *o, const char *key, json_t *v)
{
	return json_object_set_new(o, key, v) ? -ENOMEM : 0;
}

/* The messages about the daemon rather than one minor. */
static bool no_minor(unsigned int type)
{
	return type == CTL_MSG_LIST || type == CTL_MSG_LOG_LEVEL;
}

/* log-level's "level": a syslog name from "err" to "debug". 0, -ENOENT or -EINVAL. */
static int get_log_level(json_t *o, int *level)
{
	char name[16];
	int err = get_string(o, "level", name, sizeof(name));

	if (err)
		return err == -ENOENT ? err : -EINVAL;
	if (rt_log_level_parse(name, level) || *level < LOG_ERR || *level > LOG_DEBUG)
		return -EINVAL;
	return 0;
}

static int put_log_level(json_t *o, int level)
{
	if (level < LOG_ERR || level > LOG_DEBUG)
		return -EINVAL;
	return put(o, "level", json_string(rt_log_level_name(level)));
}

static int put_image(json_t *o, const struct ctl_image *img)
{
	const char *name = ctl_image_type_name(img->type);

	if (!name || !memchr(img->path, '\0', sizeof(img->path)) ||
	    !ctl_image_path_valid(img->type, img->path))
		return -EINVAL;
	if (put(o, "type", json_string(name)) || put(o, "path", json_string(img->path)))
		return -ENOMEM;
	return 0;
}

static int put_path(json_t *o, const char *key, const char *path, size_t size)
{
	if (path[0] != '/' || !memchr(path, '\0', size))
		return -EINVAL;
	return put(o, key, json_string(path));
}

/* -2's secondary: any non-empty form ("nbd:<dp>", a path). */
static int put_secondary(json_t *o, const char *secondary, size_t size)
{
	if (!secondary[0] || !memchr(secondary, '\0', size))
		return -EINVAL;
	return put(o, "secondary", json_string(secondary));
}

static int put_polling(json_t *parent, const struct ctl_poll_settings *p)
{
	json_t *o = json_object();
	int err = 0;

	if (!o)
		return -ENOMEM;
	if (p->set_mask & ~(uint32_t)CTL_POLL_SET_ALL)
		err = -EINVAL;
	if (!err && (p->set_mask & CTL_POLL_SET_POLICY)) {
		const char *name = ctl_poll_policy_name(p->policy);

		err = name ? put(o, "policy", json_string(name)) : -EINVAL;
	}
	/* min as a signed value: an unsigned "< 0u" is what -Wtype-limits rightly warns about */
#define POLL_FIELD(name, member, max, bit, min)                                                    \
	do {                                                                                       \
		if (!err && (p->set_mask & bit))                                                   \
			err = p->member > max || (long long)p->member < min ?                      \
				      -EINVAL :                                                    \
				      put(o, name, json_integer(p->member));                       \
	} while (0)
	POLL_FIELD("duration_us", duration_us, CTL_POLL_MAX_US, CTL_POLL_SET_DURATION, 0LL);
	POLL_FIELD("idle_threshold", idle_threshold, 100u, CTL_POLL_SET_IDLE, 0LL);
	POLL_FIELD("max_window_us", max_window_us, CTL_POLL_MAX_US, CTL_POLL_SET_MAX_WINDOW, 0LL);
	POLL_FIELD("grow", grow, CTL_POLL_MAX_FACTOR, CTL_POLL_SET_GROW,
		   (long long)CTL_POLL_MIN_FACTOR);
	POLL_FIELD("shrink", shrink, CTL_POLL_MAX_FACTOR, CTL_POLL_SET_SHRINK,
		   (long long)CTL_POLL_MIN_FACTOR);
#undef POLL_FIELD
	if (err) {
		json_decref(o);
		return err;
	}
	return put(parent, "polling", o);
}

static bool minor_ok(int minor)
{
	return minor >= 0 && minor < CTL_MINOR_MAX;
}

/* ---- frames ------------------------------------------------------------------------------- */
static int frame(unsigned int type, uint32_t id, json_t *payload, uint32_t max, uint8_t **buf,
		 size_t *len)
{
	struct ctl_header h = { CTL_MAGIC, CTL_VERSION, (uint16_t)type, id, 0 };
	size_t plen;
	char *text;

	text = json_dumps(payload, JSON_COMPACT);
	if (!text)
		return -ENOMEM;
	plen = strlen(text);
	if (plen > max) {
		free(text);
		return -EMSGSIZE;
	}
	h.length = (uint32_t)plen;
	*buf = malloc(CTL_HEADER_SIZE + plen);
	if (!*buf) {
		free(text);
		return -ENOMEM;
	}
	ctl_header_encode(&h, *buf);
	memcpy(*buf + CTL_HEADER_SIZE, text, plen);
	*len = CTL_HEADER_SIZE + plen;
	free(text);
	return 0;
}

static int put_lock_mode(json_t *o, enum ctl_lock_mode mode)
{
	const char *name = ctl_lock_mode_name(mode);

	if (mode == CTL_LOCK_DEFAULT)
		return 0;
	if (!name)
		return -EINVAL;
	return put(o, "locking", json_string(name)) ? -ENOMEM : 0;
}

static int encode_open(json_t *o, const struct ctl_open_args *a)
{
	int err = put_image(o, &a->image);

	if (err)
		return err;
	if (a->flags & ~(uint32_t)CTL_OPEN_ALL_FLAGS)
		return -EINVAL;
	if ((a->flags & CTL_OPEN_RDONLY) && put(o, "read_only", json_true()))
		return -ENOMEM;
	if ((a->flags & CTL_OPEN_ADD_LCACHE) && put(o, "read_cache", json_true()))
		return -ENOMEM;
	if ((a->flags & CTL_OPEN_STANDBY) && put(o, "standby", json_true()))
		return -ENOMEM;
	if ((a->flags & CTL_OPEN_NO_O_DIRECT) && put(o, "no_o_direct", json_true()))
		return -ENOMEM;
	if (a->flags & CTL_OPEN_REUSE_PARENT) {
		if (!minor_ok(a->parent_minor))
			return -EINVAL;
		if (put(o, "parent_minor", json_integer(a->parent_minor)))
			return -ENOMEM;
	}
	if ((a->flags & CTL_OPEN_SECONDARY) &&
	    (err = put_secondary(o, a->secondary, sizeof(a->secondary))))
		return err;
	if ((a->flags & CTL_OPEN_ADD_LOG) &&
	    (err = put_path(o, "cbt_log", a->cbt_log, sizeof(a->cbt_log))))
		return err;
	if (a->flags & CTL_OPEN_ENCRYPTED) {
		char hex[2 * CTL_KEY_MAX + 1];
		uint32_t i;

		if (a->key_size != 32 && a->key_size != 64)
			return -EINVAL;
		for (i = 0; i < a->key_size; i++)
			snprintf(hex + 2 * i, 3, "%02x", a->key[i]);
		if (put(o, "key", json_string(hex)))
			return -ENOMEM;
	}
	if (a->timeout_s && put(o, "timeout", json_integer(a->timeout_s)))
		return -ENOMEM;
	return put_lock_mode(o, a->lock);
}

static int encode_resume(json_t *o, const struct ctl_resume_args *a)
{
	int err;

	if (a->image.type != CTL_IMAGE_NONE && (err = put_image(o, &a->image)))
		return err;
	if (a->flags & ~(uint32_t)(CTL_OPEN_SECONDARY | CTL_OPEN_ADD_LOG))
		return -EINVAL;
	if ((a->flags & CTL_OPEN_SECONDARY) &&
	    (err = put_secondary(o, a->secondary, sizeof(a->secondary))))
		return err;
	if ((a->flags & CTL_OPEN_ADD_LOG) &&
	    (err = put_path(o, "cbt_log", a->cbt_log, sizeof(a->cbt_log))))
		return err;
	return put_lock_mode(o, a->lock);
}

static int encode_connect(json_t *o, const struct ctl_connect_args *a)
{
	const char *proto = ctl_ring_protocol_name(a->protocol);
	json_t *refs;
	uint32_t i;

	if (!proto || a->domid >= 0x7ff0 || a->order > CTL_RING_MAX_ORDER)
		return -EINVAL;
	refs = json_array();
	if (!refs)
		return -ENOMEM;
	for (i = 0; i < (1u << a->order); i++)
		if (json_array_append_new(refs, json_integer(a->ring_refs[i]))) {
			json_decref(refs);
			return -ENOMEM;
		}
	if (put(o, "ring_refs", refs) || put(o, "domid", json_integer(a->domid)) ||
	    put(o, "devid", json_integer(a->devid)) || put(o, "order", json_integer(a->order)) ||
	    put(o, "port", json_integer(a->port)) || put(o, "protocol", json_string(proto)) ||
	    put(o, "persistent", json_boolean(a->persistent)) ||
	    put(o, "max_indirect_segments", json_integer(a->max_indirect_segments)))
		return -ENOMEM;
	return put_polling(o, &a->polling);
}

int ctl_request_encode(const struct ctl_msg *m, uint8_t **buf, size_t *len)
{
	json_t *o = json_object();
	int minor = m->u.minor.minor; /* every member starts with the minor */
	int err = 0;

	if (!o)
		return -ENOMEM;
	if (!no_minor(m->type)) {
		if (!minor_ok(minor))
			err = -EINVAL;
		else
			err = put(o, "minor", json_integer(minor));
	}
	if (!err) {
		switch (m->type) {
		case CTL_MSG_LIST:
		case CTL_MSG_ATTACH:
		case CTL_MSG_DETACH:
		case CTL_MSG_PAUSE:
		case CTL_MSG_INFO:
		case CTL_MSG_STATS:
		case CTL_MSG_POLL_GET:
		case CTL_MSG_DISCONNECT:
			break;
		case CTL_MSG_OPEN:
			err = encode_open(o, &m->u.open);
			break;
		case CTL_MSG_CLOSE:
			err = put(o, "force", json_boolean(m->u.close.force));
			break;
		case CTL_MSG_RESUME:
			err = encode_resume(o, &m->u.resume);
			break;
		case CTL_MSG_CONNECT:
			err = encode_connect(o, &m->u.connect);
			break;
		case CTL_MSG_POLL_SET:
			err = put_polling(o, &m->u.poll_set.settings);
			break;
		case CTL_MSG_LOG_LEVEL:
			if (m->u.log_level.level != -1)
				err = put_log_level(o, m->u.log_level.level);
			break;
		default:
			err = -EINVAL;
		}
	}
	if (!err)
		err = frame(m->type, m->id, o, CTL_MAX_REQUEST, buf, len);
	json_decref(o);
	return err;
}

/* ---- request decoding ---------------------------------------------------------------------- */
static int decode_open(json_t *o, struct ctl_open_args *a)
{
	bool b;
	long long v;
	int err;

	a->parent_minor = -1;
	if (get_image(o, &a->image))
		return -EINVAL;
#define FLAG(key, bit)                                                                             \
	do {                                                                                       \
		b = false;                                                                         \
		if ((err = optional(get_bool(o, key, &b))))                                        \
			return err;                                                                \
		if (b)                                                                             \
			a->flags |= bit;                                                           \
	} while (0)
	FLAG("read_only", CTL_OPEN_RDONLY);
	FLAG("read_cache", CTL_OPEN_ADD_LCACHE);
	FLAG("standby", CTL_OPEN_STANDBY);
	FLAG("no_o_direct", CTL_OPEN_NO_O_DIRECT);
#undef FLAG
	err = get_int(o, "parent_minor", 0, CTL_MINOR_MAX - 1, &v);
	if (!err) {
		a->parent_minor = (int)v;
		a->flags |= CTL_OPEN_REUSE_PARENT;
	} else if (err != -ENOENT) {
		return err;
	}
	err = get_secondary_and_log(o, a->secondary, a->cbt_log, &a->flags);
	if (err)
		return err;
	err = get_key(o, a->key, &a->key_size);
	if (!err)
		a->flags |= CTL_OPEN_ENCRYPTED;
	else if (err != -ENOENT)
		return err;
	err = get_lock_mode(o, &a->lock);
	if (err)
		return err;
	return optional(get_u32(o, "timeout", 86400 * 365, &a->timeout_s));
}

static int decode_resume(json_t *o, struct ctl_resume_args *a)
{
	int err = optional(get_image(o, &a->image));

	if (err)
		return err;
	err = get_lock_mode(o, &a->lock);
	if (err)
		return err;
	return get_secondary_and_log(o, a->secondary, a->cbt_log, &a->flags);
}

static int decode_connect(json_t *o, struct ctl_connect_args *a)
{
	char proto[16];
	json_t *refs;
	size_t i;
	int err;

	if ((err = required(get_u32(o, "domid", 0x7fef, &a->domid))) ||
	    (err = required(get_u32(o, "devid", UINT32_MAX, &a->devid))) ||
	    (err = required(get_u32(o, "order", CTL_RING_MAX_ORDER, &a->order))) ||
	    (err = required(get_u32(o, "port", UINT32_MAX, &a->port))) ||
	    (err = required(get_string(o, "protocol", proto, sizeof(proto)))) ||
	    (err = optional(get_bool(o, "persistent", &a->persistent))) ||
	    (err = optional(
		     get_u32(o, "max_indirect_segments", UINT32_MAX, &a->max_indirect_segments))) ||
	    (err = optional(get_polling(o, &a->polling))))
		return err;
	if (ctl_ring_protocol_parse(proto, &a->protocol))
		return -EINVAL;
	refs = json_object_get(o, "ring_refs");
	if (!json_is_array(refs) || json_array_size(refs) != (1u << a->order))
		return -EINVAL;
	for (i = 0; i < json_array_size(refs); i++) {
		json_t *r = json_array_get(refs, i);

		if (!json_is_integer(r) || json_integer_value(r) < 0 ||
		    json_integer_value(r) > UINT32_MAX)
			return -EINVAL;
		a->ring_refs[i] = (uint32_t)json_integer_value(r);
	}
	return 0;
}

static json_t *load_object(const uint8_t *payload, uint32_t length)
{
	json_error_t jerr;
	json_t *o;

	/* no JSON_ALLOW_NUL: "\u0000" inside a string is refused, so C strings are whole */
	o = json_loadb((const char *)payload, length, JSON_REJECT_DUPLICATES, &jerr);
	if (o && !json_is_object(o)) {
		json_decref(o);
		o = NULL;
	}
	return o;
}

int ctl_request_decode(const struct ctl_header *h, const uint8_t *payload, struct ctl_msg *m)
{
	json_t *o;
	int err = 0;

	memset(m, 0, sizeof(*m));
	m->type = h->type;
	m->id = h->id;
	if (h->type < CTL_MSG_LIST || h->type > CTL_MSG_TYPE_MAX)
		return -EOPNOTSUPP;
	o = load_object(payload, h->length);
	if (!o)
		return -EBADMSG;
	if (!no_minor(h->type))
		err = get_minor(o, &m->u.minor.minor);
	if (!err) {
		switch (h->type) {
		case CTL_MSG_OPEN:
			m->u.open.minor = m->u.minor.minor;
			err = decode_open(o, &m->u.open);
			break;
		case CTL_MSG_CLOSE:
			err = optional(get_bool(o, "force", &m->u.close.force));
			break;
		case CTL_MSG_RESUME:
			err = decode_resume(o, &m->u.resume);
			break;
		case CTL_MSG_CONNECT:
			err = decode_connect(o, &m->u.connect);
			break;
		case CTL_MSG_POLL_SET:
			err = get_polling(o, &m->u.poll_set.settings);
			if (!err && !m->u.poll_set.settings.set_mask)
				err = -EINVAL; /* nothing to set */
			err = required(err);
			break;
		case CTL_MSG_LOG_LEVEL:
			err = get_log_level(o, &m->u.log_level.level);
			if (err == -ENOENT) {
				m->u.log_level.level = -1;
				err = 0;
			}
			break;
		default:
			break;
		}
	}
	json_decref(o);
	return err;
}

/* ---- replies ------------------------------------------------------------------------------- */
static int encode_list(json_t *o, const struct ctl_list *l)
{
	json_t *vbds = json_array();
	unsigned int i;

	if (!vbds)
		return -ENOMEM;
	if (put(o, "vbds", vbds) || put(o, "pid", json_integer(l->pid)))
		return -ENOMEM;
	if (l->count > CTL_LIST_MAX)
		return -EINVAL;
	for (i = 0; i < l->count; i++) {
		const struct ctl_list_entry *e = &l->entries[i];
		json_t *v = json_object();
		int err;

		if (!v || json_array_append_new(vbds, v))
			return -ENOMEM;
		if (!minor_ok(e->minor))
			return -EINVAL;
		if (put(v, "minor", json_integer(e->minor)) ||
		    put(v, "state", json_integer(e->state)))
			return -ENOMEM;
		if (e->image.type != CTL_IMAGE_NONE && (err = put_image(v, &e->image)))
			return err;
	}
	return 0;
}

static int encode_result(json_t *o, const struct ctl_reply *r)
{
	const struct ctl_disk_info *di = &r->r.info;
	json_t *stats;
	json_error_t jerr;

	switch (r->type) {
	case CTL_MSG_LIST:
		return encode_list(o, &r->r.list);
	case CTL_MSG_INFO:
		if (put(o, "sectors", json_integer((json_int_t)di->sectors)) ||
		    put(o, "sector_size", json_integer(di->sector_size)) ||
		    put(o, "physical_sector_size", json_integer(di->physical_sector_size)) ||
		    put(o, "info", json_integer(di->info)) ||
		    put(o, "discard_granularity", json_integer(di->discard_granularity)) ||
		    put(o, "discard_alignment", json_integer(di->discard_alignment)))
			return -ENOMEM;
		return di->sectors > (uint64_t)LLONG_MAX ? -EINVAL : 0;
	case CTL_MSG_STATS:
		if (!r->r.stats_json)
			return -EIO;
		stats = json_loads(r->r.stats_json, JSON_REJECT_DUPLICATES, &jerr);
		if (!json_is_object(stats)) {
			json_decref(stats);
			return -EIO;
		}
		return put(o, "stats", stats);
	case CTL_MSG_POLL_GET: {
		struct ctl_poll_settings p = r->r.poll;

		p.set_mask = CTL_POLL_SET_ALL;
		return put_polling(o, &p);
	}
	case CTL_MSG_LOG_LEVEL:
		return put_log_level(o, r->r.log_level);
	default:
		return 0;
	}
}

int ctl_reply_encode(const struct ctl_reply *r, uint8_t **buf, size_t *len)
{
	json_t *o = json_object();
	int err;

	if (!o)
		return -ENOMEM;
	err = put(o, "error", json_integer(r->error));
	if (!err && r->message[0] && memchr(r->message, '\0', sizeof(r->message)))
		err = put(o, "message", json_string(r->message));
	if (!err && r->error && r->reason[0] && memchr(r->reason, '\0', sizeof(r->reason)))
		err = put(o, "reason", json_string(r->reason));
	if (!err && r->error == 0)
		err = encode_result(o, r);
	if (!err) {
		unsigned int type =
			r->type == CTL_MSG_ERROR ? CTL_MSG_ERROR : (r->type | CTL_MSG_REPLY);

		err = frame(type, r->id, o, CTL_MAX_REPLY, buf, len);
	}
	json_decref(o);
	return err;
}

static int decode_list(json_t *o, struct ctl_list *l)
{
	json_t *vbds = json_object_get(o, "vbds");
	long long pid;
	size_t i, n;

	if (get_int(o, "pid", 1, INT_MAX, &pid) || !json_is_array(vbds))
		return -EINVAL;
	l->pid = (pid_t)pid;
	n = json_array_size(vbds);
	if (n > CTL_LIST_MAX)
		return -EINVAL;
	if (n) {
		l->entries = calloc(n, sizeof(*l->entries));
		if (!l->entries)
			return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		json_t *v = json_array_get(vbds, i);
		struct ctl_list_entry *e = &l->entries[i];

		if (!json_is_object(v) || get_minor(v, &e->minor) ||
		    get_u32(v, "state", UINT32_MAX, &e->state) || optional(get_image(v, &e->image)))
			return -EINVAL;
		l->count++;
	}
	return 0;
}

static int decode_result(json_t *o, unsigned int type, union ctl_result *res)
{
	struct ctl_disk_info *di = &res->info;
	long long sectors;
	json_t *stats;
	int err;

	switch (type) {
	case CTL_MSG_LIST:
		return decode_list(o, &res->list);
	case CTL_MSG_INFO:
		if (get_int(o, "sectors", 0, LLONG_MAX, &sectors) ||
		    get_u32(o, "sector_size", UINT32_MAX, &di->sector_size) ||
		    optional(get_u32(o, "physical_sector_size", UINT32_MAX,
				     &di->physical_sector_size)) ||
		    get_u32(o, "info", UINT32_MAX, &di->info) ||
		    optional(get_u32(o, "discard_granularity", UINT32_MAX,
				     &di->discard_granularity)) ||
		    optional(get_u32(o, "discard_alignment", UINT32_MAX, &di->discard_alignment)))
			return -EINVAL;
		di->sectors = (uint64_t)sectors;
		return 0;
	case CTL_MSG_STATS:
		stats = json_object_get(o, "stats");
		if (!json_is_object(stats))
			return -EINVAL;
		/* compact and ASCII-only: one line whatever the daemon put in strings */
		res->stats_json = json_dumps(stats, JSON_COMPACT | JSON_ENSURE_ASCII);
		return res->stats_json ? 0 : -ENOMEM;
	case CTL_MSG_POLL_GET:
		err = get_polling(o, &res->poll);
		if (err || res->poll.set_mask != CTL_POLL_SET_ALL)
			return -EINVAL;
		return 0;
	case CTL_MSG_LOG_LEVEL:
		return get_log_level(o, &res->log_level) ? -EINVAL : 0;
	default:
		return 0;
	}
}

int ctl_reply_decode(const struct ctl_header *h, unsigned int request_type, const uint8_t *payload,
		     struct ctl_reply *r)
{
	long long error;
	json_t *o;
	int err;

	memset(r, 0, sizeof(*r));
	r->id = h->id;
	if (h->type == CTL_MSG_ERROR)
		r->type = CTL_MSG_ERROR;
	else if (h->type == (request_type | CTL_MSG_REPLY))
		r->type = request_type;
	else
		return -EBADMSG;
	o = load_object(payload, h->length);
	if (!o)
		return -EBADMSG;
	err = get_int(o, "error", 0, 4095, &error);
	if (err) {
		json_decref(o);
		return -EINVAL;
	}
	r->error = (int)error;
	if (optional(get_string(o, "message", r->message, sizeof(r->message))))
		r->message[0] = '\0'; /* an over-long message is dropped, not an error */
	if (optional(get_string(o, "reason", r->reason, sizeof(r->reason))))
		r->reason[0] = '\0';
	if (r->type == CTL_MSG_ERROR && r->error == 0)
		err = -EINVAL;
	else if (r->error == 0)
		err = decode_result(o, r->type, &r->r);
	json_decref(o);
	return err;
}

void ctl_list_release(struct ctl_list *list)
{
	free(list->entries);
	list->entries = NULL;
	list->count = 0;
}

void ctl_reply_release(struct ctl_reply *r)
{
	if (r->type == CTL_MSG_LIST)
		ctl_list_release(&r->r.list);
	else if (r->type == CTL_MSG_STATS) {
		free(r->r.stats_json);
		r->r.stats_json = NULL;
	}
}
