/* The control protocol's encoding: header bytes, a round trip of every message and reply, and
 * the decoder's refusal of every kind of malformed input. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lib/ctl/codec.h"
#include "ringtap/ctl.h"
#include "ringtap/log.h"

/* Decodes a request given as header fields + JSON text. */
static int decode_json(unsigned int type, const char *json, struct ctl_msg *m)
{
	struct ctl_header h = { CTL_MAGIC, CTL_VERSION, (uint16_t)type, 7, (uint32_t)strlen(json) };

	return ctl_request_decode(&h, (const uint8_t *)json, m);
}

static int decode_reply_json(unsigned int wire_type, unsigned int req_type, const char *json,
			     struct ctl_reply *r)
{
	struct ctl_header h = { CTL_MAGIC, CTL_VERSION, (uint16_t)wire_type, 7,
				(uint32_t)strlen(json) };

	return ctl_reply_decode(&h, req_type, (const uint8_t *)json, r);
}

/* Encodes m, decodes the frame back into out. */
static void round_trip(const struct ctl_msg *m, struct ctl_msg *out)
{
	struct ctl_header h;
	uint8_t *buf;
	size_t len;

	assert_int_equal(ctl_request_encode(m, &buf, &len), 0);
	assert_true(len >= CTL_HEADER_SIZE);
	assert_int_equal(ctl_header_decode(buf, CTL_MAX_REQUEST, &h), 0);
	assert_int_equal(h.length, len - CTL_HEADER_SIZE);
	assert_int_equal(h.type, m->type);
	assert_int_equal(h.id, m->id);
	assert_int_equal(ctl_request_decode(&h, buf + CTL_HEADER_SIZE, out), 0);
	free(buf);
}

static void header_is_big_endian_with_magic(void **state)
{
	struct ctl_header h = { CTL_MAGIC, CTL_VERSION, CTL_MSG_OPEN, 0x01020304, 0x0a0b0c0d };
	const uint8_t want[CTL_HEADER_SIZE] = { 'R', 'T', 'C', 'L', 0,	  1,	0,    4,
						1,   2,	  3,   4,   0x0a, 0x0b, 0x0c, 0x0d };
	uint8_t buf[CTL_HEADER_SIZE];
	struct ctl_header back;

	ctl_header_encode(&h, buf);
	assert_memory_equal(buf, want, sizeof(want));
	assert_int_equal(ctl_header_decode(buf, UINT32_MAX, &back), 0);
	assert_int_equal(back.type, CTL_MSG_OPEN);
	assert_int_equal(back.id, 0x01020304);
	assert_int_equal(back.length, 0x0a0b0c0d);
}

static void header_rejects_bad_magic_version_and_size(void **state)
{
	struct ctl_header h = { CTL_MAGIC, CTL_VERSION, CTL_MSG_LIST, 1, CTL_MAX_REQUEST };
	uint8_t buf[CTL_HEADER_SIZE];
	struct ctl_header back;

	ctl_header_encode(&h, buf);
	assert_int_equal(ctl_header_decode(buf, CTL_MAX_REQUEST, &back), 0); /* the limit itself */
	h.length = CTL_MAX_REQUEST + 1;
	ctl_header_encode(&h, buf);
	assert_int_equal(ctl_header_decode(buf, CTL_MAX_REQUEST, &back), -EMSGSIZE);
	h.length = UINT32_MAX;
	ctl_header_encode(&h, buf);
	assert_int_equal(ctl_header_decode(buf, CTL_MAX_REQUEST, &back), -EMSGSIZE);
	h.length = 2;
	h.version = 2;
	ctl_header_encode(&h, buf);
	assert_int_equal(ctl_header_decode(buf, CTL_MAX_REQUEST, &back), -EPROTONOSUPPORT);
	h.version = 0;
	ctl_header_encode(&h, buf);
	assert_int_equal(ctl_header_decode(buf, CTL_MAX_REQUEST, &back), -EPROTONOSUPPORT);
	memcpy(buf, "GET / HTTP/1.0\r\n", CTL_HEADER_SIZE);
	assert_int_equal(ctl_header_decode(buf, CTL_MAX_REQUEST, &back), -EBADMSG);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(ctl_header_decode(buf, CTL_MAX_REQUEST, &back), -EBADMSG);
}

static void open_round_trips_every_flag(void **state)
{
	struct ctl_msg *m = calloc(1, sizeof(*m)), *out = calloc(1, sizeof(*out));
	struct ctl_open_args *a = &m->u.open;
	unsigned int i;

	m->type = CTL_MSG_OPEN;
	m->id = 42;
	a->minor = 3;
	a->image.type = CTL_IMAGE_VHD;
	strcpy(a->image.path, "/srv/sr/a \"quoted\" \\ path.vhd");
	a->flags = CTL_OPEN_ALL_FLAGS;
	a->parent_minor = 9;
	a->timeout_s = 120;
	strcpy(a->secondary, "/dev/mirror");
	strcpy(a->cbt_log, "/var/cbt.log");
	a->key_size = 32;
	for (i = 0; i < 32; i++)
		a->key[i] = (uint8_t)(i * 7 + 1);
	round_trip(m, out);
	assert_int_equal(out->type, CTL_MSG_OPEN);
	assert_int_equal(out->id, 42);
	assert_int_equal(out->u.open.minor, 3);
	assert_int_equal(out->u.open.image.type, CTL_IMAGE_VHD);
	assert_string_equal(out->u.open.image.path, a->image.path);
	assert_int_equal(out->u.open.flags, CTL_OPEN_ALL_FLAGS);
	assert_int_equal(out->u.open.parent_minor, 9);
	assert_int_equal(out->u.open.timeout_s, 120);
	assert_string_equal(out->u.open.secondary, "/dev/mirror");
	assert_string_equal(out->u.open.cbt_log, "/var/cbt.log");
	assert_int_equal(out->u.open.key_size, 32);
	assert_memory_equal(out->u.open.key, a->key, 32);

	/* no flags: nothing optional appears */
	memset(a, 0, sizeof(*a));
	a->minor = 0;
	a->image.type = CTL_IMAGE_AIO;
	strcpy(a->image.path, "/dev/sda");
	round_trip(m, out);
	assert_int_equal(out->u.open.flags, 0);
	assert_int_equal(out->u.open.parent_minor, -1);
	assert_int_equal(out->u.open.image.type, CTL_IMAGE_AIO);
	free(m);
	free(out);
}

static void simple_requests_round_trip(void **state)
{
	static const unsigned int types[] = { CTL_MSG_ATTACH,	 CTL_MSG_DETACH, CTL_MSG_PAUSE,
					      CTL_MSG_INFO,	 CTL_MSG_STATS,	 CTL_MSG_POLL_GET,
					      CTL_MSG_DISCONNECT };
	struct ctl_msg *m = calloc(1, sizeof(*m)), *out = calloc(1, sizeof(*out));
	unsigned int i;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		memset(m, 0, sizeof(*m));
		m->type = types[i];
		m->u.minor.minor = (int)(CTL_MINOR_MAX - 1 - i);
		round_trip(m, out);
		assert_int_equal(out->type, types[i]);
		assert_int_equal(out->u.minor.minor, CTL_MINOR_MAX - 1 - i);
	}
	memset(m, 0, sizeof(*m));
	m->type = CTL_MSG_LIST;
	round_trip(m, out);
	assert_int_equal(out->type, CTL_MSG_LIST);
	m->type = CTL_MSG_CLOSE;
	m->u.close.minor = 5;
	m->u.close.force = true;
	round_trip(m, out);
	assert_true(out->u.close.force);
	assert_int_equal(out->u.close.minor, 5);
	free(m);
	free(out);
}

static void resume_with_and_without_image(void **state)
{
	struct ctl_msg *m = calloc(1, sizeof(*m)), *out = calloc(1, sizeof(*out));

	m->type = CTL_MSG_RESUME;
	m->u.resume.minor = 2;
	round_trip(m, out);
	assert_int_equal(out->u.resume.image.type, CTL_IMAGE_NONE);
	assert_int_equal(out->u.resume.flags, 0);
	m->u.resume.image.type = CTL_IMAGE_AIO;
	strcpy(m->u.resume.image.path, "/new/path");
	m->u.resume.flags = CTL_OPEN_SECONDARY | CTL_OPEN_ADD_LOG;
	strcpy(m->u.resume.secondary, "nbd:mirror_dp_1"); /* XAPI's storage migration form */
	strcpy(m->u.resume.cbt_log, "/log");
	round_trip(m, out);
	assert_int_equal(out->u.resume.minor, 2);
	assert_int_equal(out->u.resume.image.type, CTL_IMAGE_AIO);
	assert_string_equal(out->u.resume.image.path, "/new/path");
	assert_int_equal(out->u.resume.flags, CTL_OPEN_SECONDARY | CTL_OPEN_ADD_LOG);
	assert_string_equal(out->u.resume.secondary, "nbd:mirror_dp_1");
	assert_string_equal(out->u.resume.cbt_log, "/log");
	free(m);
	free(out);
}

/* open's and unpause's -L: each mode round-trips; absent stays "not given" (the daemon's default
 * on open, the VBD's own mode on unpause), which is what a blktap3-era client sends. */
static void locking_mode_round_trips(void **state)
{
	static const enum ctl_lock_mode modes[] = { CTL_LOCK_DEFAULT, CTL_LOCK_AUTO, CTL_LOCK_ON,
						    CTL_LOCK_OFF };
	struct ctl_msg *m = calloc(1, sizeof(*m)), *out = calloc(1, sizeof(*out));
	unsigned int i;

	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		memset(m, 0, sizeof(*m));
		m->type = CTL_MSG_OPEN;
		m->u.open.image.type = CTL_IMAGE_VHD;
		strcpy(m->u.open.image.path, "/sr/leaf.vhd");
		m->u.open.lock = modes[i];
		round_trip(m, out);
		assert_int_equal(out->u.open.lock, modes[i]);
		assert_int_equal(out->u.open.flags, 0);
		memset(m, 0, sizeof(*m));
		m->type = CTL_MSG_RESUME;
		m->u.resume.lock = modes[i];
		round_trip(m, out);
		assert_int_equal(out->u.resume.lock, modes[i]);
		assert_int_equal(out->u.resume.image.type, CTL_IMAGE_NONE);
	}
	/* on the wire: the name, or nothing at all */
	memset(m, 0, sizeof(*m));
	assert_int_equal(decode_json(CTL_MSG_OPEN,
				     "{\"minor\":1,\"type\":\"aio\",\"path\":\"/x\","
				     "\"locking\":\"off\"}",
				     out),
			 0);
	assert_int_equal(out->u.open.lock, CTL_LOCK_OFF);
	assert_int_equal(
		decode_json(CTL_MSG_OPEN, "{\"minor\":1,\"type\":\"aio\",\"path\":\"/x\"}", out),
		0);
	assert_int_equal(out->u.open.lock, CTL_LOCK_DEFAULT);
	/* an out-of-range mode is refused by the encoder, as the decoder would */
	m->type = CTL_MSG_OPEN;
	m->u.open.image.type = CTL_IMAGE_AIO;
	strcpy(m->u.open.image.path, "/x");
	m->u.open.lock = (enum ctl_lock_mode)4;
	{
		uint8_t *buf = NULL;
		size_t len;

		assert_int_equal(ctl_request_encode(m, &buf, &len), -EINVAL);
		m->type = CTL_MSG_RESUME;
		m->u.resume.lock = (enum ctl_lock_mode)77;
		assert_int_equal(ctl_request_encode(m, &buf, &len), -EINVAL);
		assert_null(buf);
	}
	free(m);
	free(out);
}

static void connect_and_polling_round_trip(void **state)
{
	struct ctl_msg *m = calloc(1, sizeof(*m)), *out = calloc(1, sizeof(*out));
	struct ctl_connect_args *c = &m->u.connect;

	m->type = CTL_MSG_CONNECT;
	c->minor = 1;
	c->domid = 0x7fef;
	c->devid = 51712;
	c->order = 2;
	c->ring_refs[0] = 8;
	c->ring_refs[1] = 9;
	c->ring_refs[2] = 10;
	c->ring_refs[3] = UINT32_MAX;
	c->port = 77;
	c->protocol = CTL_RING_X86_32;
	c->persistent = true;
	c->max_indirect_segments = 256;
	c->polling.set_mask = CTL_POLL_SET_DURATION | CTL_POLL_SET_IDLE;
	c->polling.duration_us = 8000;
	c->polling.idle_threshold = 50;
	round_trip(m, out);
	assert_int_equal(out->u.connect.domid, 0x7fef);
	assert_int_equal(out->u.connect.devid, 51712);
	assert_int_equal(out->u.connect.order, 2);
	assert_memory_equal(out->u.connect.ring_refs, c->ring_refs, 4 * sizeof(uint32_t));
	assert_int_equal(out->u.connect.port, 77);
	assert_int_equal(out->u.connect.protocol, CTL_RING_X86_32);
	assert_true(out->u.connect.persistent);
	assert_int_equal(out->u.connect.max_indirect_segments, 256);
	assert_int_equal(out->u.connect.polling.set_mask,
			 CTL_POLL_SET_DURATION | CTL_POLL_SET_IDLE);
	assert_int_equal(out->u.connect.polling.duration_us, 8000);
	assert_int_equal(out->u.connect.polling.idle_threshold, 50);

	memset(m, 0, sizeof(*m));
	m->type = CTL_MSG_POLL_SET;
	m->u.poll_set.minor = 4;
	m->u.poll_set.settings = (struct ctl_poll_settings){
		CTL_POLL_SET_ALL, CTL_POLL_FIXED, 1000, 100, CTL_POLL_MAX_US, 2, 16
	};
	round_trip(m, out);
	assert_memory_equal(&out->u.poll_set.settings, &m->u.poll_set.settings,
			    sizeof(struct ctl_poll_settings));
	free(m);
	free(out);
}

static void encoder_refuses_what_the_decoder_would(void **state)
{
	struct ctl_msg *m = calloc(1, sizeof(*m));
	uint8_t *buf = NULL;
	size_t len;

	m->type = CTL_MSG_OPEN;
	m->u.open.image.type = CTL_IMAGE_AIO;
	strcpy(m->u.open.image.path, "relative/path");
	assert_int_equal(ctl_request_encode(m, &buf, &len), -EINVAL);
	strcpy(m->u.open.image.path, "/ok");
	m->u.open.minor = -1;
	assert_int_equal(ctl_request_encode(m, &buf, &len), -EINVAL);
	m->u.open.minor = 0;
	m->u.open.flags = CTL_OPEN_ENCRYPTED;
	m->u.open.key_size = 16;
	assert_int_equal(ctl_request_encode(m, &buf, &len), -EINVAL);
	m->u.open.flags = 0x100;
	assert_int_equal(ctl_request_encode(m, &buf, &len), -EINVAL);
	memset(m, 0, sizeof(*m));
	m->type = CTL_MSG_CONNECT;
	m->u.connect.order = 5;
	assert_int_equal(ctl_request_encode(m, &buf, &len), -EINVAL);
	m->u.connect.order = 0;
	m->u.connect.domid = 0x7ff0; /* DOMID_FIRST_RESERVED */
	assert_int_equal(ctl_request_encode(m, &buf, &len), -EINVAL);
	memset(m, 0, sizeof(*m));
	m->type = CTL_MSG_POLL_SET;
	m->u.poll_set.settings.set_mask = CTL_POLL_SET_IDLE;
	m->u.poll_set.settings.idle_threshold = 101;
	assert_int_equal(ctl_request_encode(m, &buf, &len), -EINVAL);
	m->type = 99;
	assert_int_equal(ctl_request_encode(m, &buf, &len), -EINVAL);
	assert_null(buf);
	free(m);
}

/* Every malformed request payload is refused with EBADMSG (not an object) or EINVAL. */
static void decoder_refuses_malformed_requests(void **state)
{
	static const struct {
		unsigned int type;
		const char *json;
		int err;
	} cases[] = {
		{ CTL_MSG_ATTACH, "", -EBADMSG },
		{ CTL_MSG_ATTACH, "{\"minor\":1", -EBADMSG },
		{ CTL_MSG_ATTACH, "[1,2]", -EBADMSG },
		{ CTL_MSG_ATTACH, "\"minor\"", -EBADMSG },
		{ CTL_MSG_ATTACH, "{\"minor\":1} trailing", -EBADMSG },
		{ CTL_MSG_ATTACH, "{\"minor\":1,\"minor\":2}", -EBADMSG },
		{ CTL_MSG_ATTACH, "\xff\xfe{}", -EBADMSG },
		{ CTL_MSG_ATTACH, "{}", -EINVAL },
		{ CTL_MSG_ATTACH, "{\"minor\":-1}", -EINVAL },
		{ CTL_MSG_ATTACH, "{\"minor\":16384}", -EINVAL },
		{ CTL_MSG_ATTACH, "{\"minor\":99999999999999999999999}", -EBADMSG },
		{ CTL_MSG_ATTACH, "{\"minor\":\"1\"}", -EINVAL },
		{ CTL_MSG_ATTACH, "{\"minor\":1.5}", -EINVAL },
		{ CTL_MSG_ATTACH, "{\"minor\":null}", -EINVAL },
		{ CTL_MSG_OPEN, "{\"minor\":1}", -EINVAL },
		{ CTL_MSG_OPEN, "{\"minor\":1,\"type\":\"qcow\",\"path\":\"/x\"}", -EINVAL },
		{ CTL_MSG_OPEN, "{\"minor\":1,\"type\":\"aio\",\"path\":\"x\"}", -EINVAL },
		{ CTL_MSG_OPEN, "{\"minor\":1,\"type\":\"aio\",\"path\":\"\"}", -EINVAL },
		{ CTL_MSG_OPEN, "{\"minor\":1,\"type\":\"aio\"}", -EINVAL },
		{ CTL_MSG_OPEN, "{\"minor\":1,\"path\":\"/x\"}", -EINVAL },
		{ CTL_MSG_OPEN, "{\"minor\":1,\"type\":\"aio\",\"path\":\"/x\\u0000y\"}",
		  -EBADMSG },
		{ CTL_MSG_OPEN, "{\"minor\":1,\"type\":\"aio\",\"path\":\"/x\",\"read_only\":1}",
		  -EINVAL },
		{ CTL_MSG_OPEN, "{\"minor\":1,\"type\":\"aio\",\"path\":\"/x\",\"key\":\"abc\"}",
		  -EINVAL },
		{ CTL_MSG_OPEN,
		  "{\"minor\":1,\"type\":\"aio\",\"path\":\"/x\",\"key\":"
		  "\"zz00000000000000000000000000000000000000000000000000000000000000\"}",
		  -EINVAL },
		{ CTL_MSG_OPEN,
		  "{\"minor\":1,\"type\":\"aio\",\"path\":\"/x\",\"parent_minor\":-3}", -EINVAL },
		{ CTL_MSG_OPEN,
		  "{\"minor\":1,\"type\":\"aio\",\"path\":\"/x\",\"secondary\":\"\"}", -EINVAL },
		{ CTL_MSG_OPEN, "{\"minor\":1,\"type\":\"aio\",\"path\":\"/x\",\"timeout\":-1}",
		  -EINVAL },
		{ CTL_MSG_CLOSE, "{\"minor\":1,\"force\":\"yes\"}", -EINVAL },
		{ CTL_MSG_RESUME, "{\"minor\":1,\"type\":\"vhd\"}", -EINVAL },
		{ CTL_MSG_OPEN, "{\"minor\":1,\"type\":\"aio\",\"path\":\"/x\",\"locking\":\"On\"}",
		  -EINVAL },
		{ CTL_MSG_OPEN, "{\"minor\":1,\"type\":\"aio\",\"path\":\"/x\",\"locking\":true}",
		  -EINVAL },
		{ CTL_MSG_OPEN, "{\"minor\":1,\"type\":\"aio\",\"path\":\"/x\",\"locking\":\"\"}",
		  -EINVAL },
		{ CTL_MSG_RESUME, "{\"minor\":1,\"locking\":\"exclusive\"}", -EINVAL },
		{ CTL_MSG_RESUME, "{\"minor\":1,\"locking\":\"offoffoffoff\"}", -EINVAL },
		{ CTL_MSG_CONNECT, "{\"minor\":1}", -EINVAL },
		{ CTL_MSG_CONNECT,
		  "{\"minor\":1,\"domid\":1,\"devid\":2,\"order\":1,\"port\":3,"
		  "\"protocol\":\"native\",\"ring_refs\":[1]}",
		  -EINVAL },
		{ CTL_MSG_CONNECT,
		  "{\"minor\":1,\"domid\":1,\"devid\":2,\"order\":0,\"port\":3,"
		  "\"protocol\":\"sparc\",\"ring_refs\":[1]}",
		  -EINVAL },
		{ CTL_MSG_CONNECT,
		  "{\"minor\":1,\"domid\":32752,\"devid\":2,\"order\":0,\"port\":3,"
		  "\"protocol\":\"native\",\"ring_refs\":[1]}",
		  -EINVAL },
		{ CTL_MSG_CONNECT,
		  "{\"minor\":1,\"domid\":1,\"devid\":2,\"order\":5,\"port\":3,"
		  "\"protocol\":\"native\",\"ring_refs\":[1]}",
		  -EINVAL },
		{ CTL_MSG_CONNECT,
		  "{\"minor\":1,\"domid\":1,\"devid\":2,\"order\":0,\"port\":3,"
		  "\"protocol\":\"native\",\"ring_refs\":[-1]}",
		  -EINVAL },
		{ CTL_MSG_CONNECT,
		  "{\"minor\":1,\"domid\":1,\"devid\":2,\"order\":0,\"port\":3,"
		  "\"protocol\":\"native\",\"ring_refs\":{}}",
		  -EINVAL },
		{ CTL_MSG_CONNECT,
		  "{\"minor\":1,\"domid\":1,\"devid\":2,\"order\":0,\"port\":3,"
		  "\"protocol\":\"native\",\"ring_refs\":[1],\"polling\":[]}",
		  -EINVAL },
		{ CTL_MSG_POLL_SET, "{\"minor\":1}", -EINVAL },
		{ CTL_MSG_POLL_SET, "{\"minor\":1,\"polling\":{}}", -EINVAL },
		{ CTL_MSG_POLL_SET, "{\"minor\":1,\"polling\":{\"policy\":\"turbo\"}}", -EINVAL },
		{ CTL_MSG_POLL_SET, "{\"minor\":1,\"polling\":{\"idle_threshold\":101}}", -EINVAL },
		{ CTL_MSG_POLL_SET, "{\"minor\":1,\"polling\":{\"grow\":0}}", -EINVAL },
		{ CTL_MSG_POLL_SET, "{\"minor\":1,\"polling\":{\"grow\":1}}", -EINVAL },
		{ CTL_MSG_POLL_SET, "{\"minor\":1,\"polling\":{\"shrink\":17}}", -EINVAL },
		{ CTL_MSG_POLL_SET, "{\"minor\":1,\"polling\":{\"duration_us\":1000001}}",
		  -EINVAL },
		{ 0, "{}", -EOPNOTSUPP },
		{ 99, "{}", -EOPNOTSUPP },
		{ CTL_MSG_REPLY | CTL_MSG_LIST, "{}", -EOPNOTSUPP },
	};
	struct ctl_msg *m = calloc(1, sizeof(*m));
	unsigned int i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int err = decode_json(cases[i].type, cases[i].json, m);

		if (err != cases[i].err)
			fail_msg("case %u (%s): got %d, expected %d", i, cases[i].json, err,
				 cases[i].err);
	}
	/* unknown keys are ignored: newer clients stay compatible */
	assert_int_equal(decode_json(CTL_MSG_ATTACH, "{\"minor\":1,\"future\":[1,{}]}", m), 0);
	assert_int_equal(m->u.minor.minor, 1);
	free(m);
}

static void decoder_refuses_long_paths(void **state)
{
	size_t n = CTL_PATH_MAX + 64;
	char *json = malloc(n + 100), *p;
	struct ctl_msg *m = calloc(1, sizeof(*m));

	p = json + sprintf(json, "{\"minor\":1,\"type\":\"aio\",\"path\":\"/");
	memset(p, 'a', CTL_PATH_MAX - 1); /* with the '/', CTL_PATH_MAX characters: one too many */
	strcpy(p + CTL_PATH_MAX - 1, "\"}");
	assert_int_equal(decode_json(CTL_MSG_OPEN, json, m), -EINVAL);
	strcpy(p + CTL_PATH_MAX - 2, "\"}"); /* CTL_PATH_MAX - 1 characters: fits */
	assert_int_equal(decode_json(CTL_MSG_OPEN, json, m), 0);
	assert_int_equal(strlen(m->u.open.image.path), CTL_PATH_MAX - 1);
	free(json);
	free(m);
}

static void replies_round_trip(void **state)
{
	struct ctl_reply *r = calloc(1, sizeof(*r)), *back = calloc(1, sizeof(*back));
	struct ctl_list_entry entries[2] = { 0 };
	struct ctl_header h;
	uint8_t *buf;
	size_t len;

	r->type = CTL_MSG_LIST;
	r->id = 5;
	r->r.list.pid = 1234;
	r->r.list.count = 2;
	r->r.list.entries = entries;
	entries[0].minor = 0;
	entries[0].state = CTL_VBD_PAUSED;
	entries[0].image.type = CTL_IMAGE_VHD;
	strcpy(entries[0].image.path, "/a b/c.vhd");
	entries[1].minor = 7;
	entries[1].state = CTL_VBD_CLOSED;
	assert_int_equal(ctl_reply_encode(r, &buf, &len), 0);
	assert_int_equal(ctl_header_decode(buf, CTL_MAX_REPLY, &h), 0);
	assert_int_equal(h.type, CTL_MSG_LIST | CTL_MSG_REPLY);
	assert_int_equal(ctl_reply_decode(&h, CTL_MSG_LIST, buf + CTL_HEADER_SIZE, back), 0);
	assert_int_equal(back->error, 0);
	assert_int_equal(back->r.list.pid, 1234);
	assert_int_equal(back->r.list.count, 2);
	assert_int_equal(back->r.list.entries[0].state, CTL_VBD_PAUSED);
	assert_string_equal(back->r.list.entries[0].image.path, "/a b/c.vhd");
	assert_int_equal(back->r.list.entries[1].minor, 7);
	assert_int_equal(back->r.list.entries[1].image.type, CTL_IMAGE_NONE);
	ctl_reply_release(back);
	free(buf);

	memset(r, 0, sizeof(*r));
	r->type = CTL_MSG_INFO;
	r->r.info = (struct ctl_disk_info){ 1ull << 40, 512, 4096, 4, 4096, 512 };
	assert_int_equal(ctl_reply_encode(r, &buf, &len), 0);
	assert_int_equal(ctl_header_decode(buf, CTL_MAX_REPLY, &h), 0);
	assert_int_equal(ctl_reply_decode(&h, CTL_MSG_INFO, buf + CTL_HEADER_SIZE, back), 0);
	assert_memory_equal(&back->r.info, &r->r.info, sizeof(r->r.info));
	free(buf);

	memset(r, 0, sizeof(*r));
	r->type = CTL_MSG_STATS;
	r->r.stats_json = "{\"name\": \"vhd:/x\",\n \"secs\": [1, 2], \"s\": \"caf\\u00e9\\n\"}";
	assert_int_equal(ctl_reply_encode(r, &buf, &len), 0);
	assert_int_equal(ctl_header_decode(buf, CTL_MAX_REPLY, &h), 0);
	assert_int_equal(ctl_reply_decode(&h, CTL_MSG_STATS, buf + CTL_HEADER_SIZE, back), 0);
	assert_string_equal(back->r.stats_json,
			    "{\"name\":\"vhd:/x\",\"secs\":[1,2],\"s\":\"caf\\u00E9\\n\"}");
	ctl_reply_release(back);
	free(buf);
	r->r.stats_json = "{not json";
	assert_int_equal(ctl_reply_encode(r, &buf, &len), -EIO);
	r->r.stats_json = "[1]";
	assert_int_equal(ctl_reply_encode(r, &buf, &len), -EIO);

	memset(r, 0, sizeof(*r));
	r->type = CTL_MSG_POLL_GET;
	r->r.poll = (struct ctl_poll_settings){ 0, CTL_POLL_ADAPTIVE, 8000, 50, 200, 2, 2 };
	assert_int_equal(ctl_reply_encode(r, &buf, &len), 0);
	assert_int_equal(ctl_header_decode(buf, CTL_MAX_REPLY, &h), 0);
	assert_int_equal(ctl_reply_decode(&h, CTL_MSG_POLL_GET, buf + CTL_HEADER_SIZE, back), 0);
	assert_int_equal(back->r.poll.set_mask, CTL_POLL_SET_ALL);
	assert_int_equal(back->r.poll.max_window_us, 200);
	free(buf);

	memset(r, 0, sizeof(*r));
	r->type = CTL_MSG_OPEN;
	r->error = ENOENT;
	strcpy(r->message, "no such image");
	assert_int_equal(ctl_reply_encode(r, &buf, &len), 0);
	assert_int_equal(ctl_header_decode(buf, CTL_MAX_REPLY, &h), 0);
	assert_int_equal(ctl_reply_decode(&h, CTL_MSG_OPEN, buf + CTL_HEADER_SIZE, back), 0);
	assert_int_equal(back->error, ENOENT);
	assert_string_equal(back->message, "no such image");
	assert_string_equal(back->reason, "");
	free(buf);

	/* the reason travels with a failure only; a reply without one (an older daemon) has "" */
	strcpy(r->reason, "vhd: /x.vhd: bad footer cookie (not \"conectix\")");
	assert_int_equal(ctl_reply_encode(r, &buf, &len), 0);
	assert_int_equal(ctl_header_decode(buf, CTL_MAX_REPLY, &h), 0);
	assert_int_equal(ctl_reply_decode(&h, CTL_MSG_OPEN, buf + CTL_HEADER_SIZE, back), 0);
	assert_string_equal(back->reason, r->reason);
	assert_string_equal(back->message, "no such image");
	free(buf);
	r->error = 0;
	assert_int_equal(ctl_reply_encode(r, &buf, &len), 0);
	assert_null(memmem(buf, len, "reason", 6));
	free(buf);

	/* log-level: the level by name */
	memset(r, 0, sizeof(*r));
	r->type = CTL_MSG_LOG_LEVEL;
	r->r.log_level = LOG_DEBUG;
	assert_int_equal(ctl_reply_encode(r, &buf, &len), 0);
	assert_non_null(memmem(buf, len, "\"level\":\"debug\"", 15));
	assert_int_equal(ctl_header_decode(buf, CTL_MAX_REPLY, &h), 0);
	assert_int_equal(ctl_reply_decode(&h, CTL_MSG_LOG_LEVEL, buf + CTL_HEADER_SIZE, back), 0);
	assert_int_equal(back->r.log_level, LOG_DEBUG);
	free(buf);
	r->r.log_level = LOG_CRIT; /* below err: not a level a daemon reports */
	assert_int_equal(ctl_reply_encode(r, &buf, &len), -EINVAL);
	free(r);
	free(back);
}

static void log_level_requests(void **state)
{
	struct ctl_msg *m = calloc(1, sizeof(*m)), *back = calloc(1, sizeof(*back));

	/* no minor: the daemon's; no level: only asks */
	assert_int_equal(decode_json(CTL_MSG_LOG_LEVEL, "{}", back), 0);
	assert_int_equal(back->u.log_level.level, -1);
	assert_int_equal(decode_json(CTL_MSG_LOG_LEVEL, "{\"level\":\"warning\"}", back), 0);
	assert_int_equal(back->u.log_level.level, LOG_WARNING);
	assert_int_equal(decode_json(CTL_MSG_LOG_LEVEL, "{\"level\":\"crit\"}", back), -EINVAL);
	assert_int_equal(decode_json(CTL_MSG_LOG_LEVEL, "{\"level\":\"loud\"}", back), -EINVAL);
	assert_int_equal(decode_json(CTL_MSG_LOG_LEVEL, "{\"level\":7}", back), -EINVAL);
	m->type = CTL_MSG_LOG_LEVEL;
	m->u.log_level.level = LOG_DEBUG;
	round_trip(m, back);
	assert_int_equal(back->u.log_level.level, LOG_DEBUG);
	m->u.log_level.level = -1;
	round_trip(m, back);
	assert_int_equal(back->u.log_level.level, -1);
	m->u.log_level.level = 9;
	{
		uint8_t *buf;
		size_t len;

		assert_int_equal(ctl_request_encode(m, &buf, &len), -EINVAL);
	}
	assert_string_equal(ctl_msg_name(CTL_MSG_LOG_LEVEL), "log-level");
	free(m);
	free(back);
}

static void decoder_refuses_malformed_replies(void **state)
{
	static const struct {
		unsigned int wire, req;
		const char *json;
		int err;
	} cases[] = {
		{ CTL_MSG_ATTACH | CTL_MSG_REPLY, CTL_MSG_DETACH, "{\"error\":0}", -EBADMSG },
		{ CTL_MSG_ATTACH, CTL_MSG_ATTACH, "{\"error\":0}", -EBADMSG },
		{ CTL_MSG_ATTACH | CTL_MSG_REPLY, CTL_MSG_ATTACH, "{}", -EINVAL },
		{ CTL_MSG_ATTACH | CTL_MSG_REPLY, CTL_MSG_ATTACH, "{\"error\":-1}", -EINVAL },
		{ CTL_MSG_ATTACH | CTL_MSG_REPLY, CTL_MSG_ATTACH, "{\"error\":5000}", -EINVAL },
		{ CTL_MSG_ATTACH | CTL_MSG_REPLY, CTL_MSG_ATTACH, "nope", -EBADMSG },
		{ CTL_MSG_ERROR, CTL_MSG_ATTACH, "{\"error\":0}", -EINVAL },
		{ CTL_MSG_LIST | CTL_MSG_REPLY, CTL_MSG_LIST, "{\"error\":0}", -EINVAL },
		{ CTL_MSG_LIST | CTL_MSG_REPLY, CTL_MSG_LIST, "{\"error\":0,\"pid\":0,\"vbds\":[]}",
		  -EINVAL },
		{ CTL_MSG_LIST | CTL_MSG_REPLY, CTL_MSG_LIST,
		  "{\"error\":0,\"pid\":5,\"vbds\":[1]}", -EINVAL },
		{ CTL_MSG_LIST | CTL_MSG_REPLY, CTL_MSG_LIST,
		  "{\"error\":0,\"pid\":5,\"vbds\":[{\"minor\":1,\"state\":0,\"type\":\"nbd\","
		  "\"path\":\"/x\"}]}",
		  -EINVAL },
		{ CTL_MSG_INFO | CTL_MSG_REPLY, CTL_MSG_INFO, "{\"error\":0,\"sectors\":-5}",
		  -EINVAL },
		{ CTL_MSG_STATS | CTL_MSG_REPLY, CTL_MSG_STATS, "{\"error\":0,\"stats\":\"x\"}",
		  -EINVAL },
		{ CTL_MSG_POLL_GET | CTL_MSG_REPLY, CTL_MSG_POLL_GET,
		  "{\"error\":0,\"polling\":{\"grow\":2}}", -EINVAL },
	};
	struct ctl_reply *r = calloc(1, sizeof(*r));
	unsigned int i;
	char *big;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int err = decode_reply_json(cases[i].wire, cases[i].req, cases[i].json, r);

		ctl_reply_release(r);
		if (err != cases[i].err)
			fail_msg("case %u (%s): got %d, expected %d", i, cases[i].json, err,
				 cases[i].err);
	}
	/* more list entries than CTL_LIST_MAX */
	big = malloc(64 * (CTL_LIST_MAX + 2));
	i = (unsigned int)sprintf(big, "{\"error\":0,\"pid\":5,\"vbds\":[");
	for (unsigned int k = 0; k <= CTL_LIST_MAX; k++)
		i += (unsigned int)sprintf(big + i, "%s{\"minor\":1,\"state\":0}", k ? "," : "");
	strcpy(big + i, "]}");
	assert_int_equal(decode_reply_json(CTL_MSG_LIST | CTL_MSG_REPLY, CTL_MSG_LIST, big, r),
			 -EINVAL);
	ctl_reply_release(r);
	/* a failed entry half-way through a list leaks nothing (ASan checks) */
	assert_int_equal(decode_reply_json(CTL_MSG_LIST | CTL_MSG_REPLY, CTL_MSG_LIST,
					   "{\"error\":0,\"pid\":5,\"vbds\":[{\"minor\":1,"
					   "\"state\":0},{\"minor\":\"x\"}]}",
					   r),
			 -EINVAL);
	ctl_reply_release(r);
	free(big);
	free(r);
}

static void image_arguments_parse_as_blktap3(void **state)
{
	struct ctl_image *img = calloc(1, sizeof(*img));
	char *longarg = malloc(CTL_PATH_MAX + 16);

	assert_int_equal(ctl_image_parse("aio:/dev/sda", img), 0);
	assert_int_equal(img->type, CTL_IMAGE_AIO);
	assert_string_equal(img->path, "/dev/sda");
	assert_int_equal(ctl_image_parse("raw:/x", img), 0);
	assert_int_equal(img->type, CTL_IMAGE_AIO);
	assert_string_equal(ctl_image_type_name(img->type), "aio");
	assert_int_equal(ctl_image_parse("vhd:/a:b", img), 0); /* split at the first ':' */
	assert_int_equal(img->type, CTL_IMAGE_VHD);
	assert_string_equal(img->path, "/a:b");
	assert_int_equal(ctl_image_parse("/no/type", img), -EINVAL);
	assert_int_equal(ctl_image_parse(":/x", img), -EINVAL);
	assert_int_equal(ctl_image_parse("qcow2:/x", img), -EINVAL);
	assert_int_equal(ctl_image_parse("aio:", img), -EINVAL);
	assert_int_equal(ctl_image_parse("aio:rel", img), -EINVAL);
	assert_int_equal(ctl_image_parse("rbd:pool/img@s:id=x", img), 0);
	assert_int_equal(img->type, CTL_IMAGE_RBD);
	assert_string_equal(img->path, "pool/img@s:id=x");
	assert_int_equal(ctl_image_parse("rbd:", img), -EINVAL);
	assert_int_equal(ctl_image_parse("rbd:/abs", img), -EINVAL);
	assert_int_equal(ctl_image_parse("averyveryverylongtype:/x", img), -EINVAL);
	strcpy(longarg, "aio:/");
	memset(longarg + 5, 'a', CTL_PATH_MAX);
	longarg[5 + CTL_PATH_MAX] = '\0';
	assert_int_equal(ctl_image_parse(longarg, img), -ENAMETOOLONG);
	free(longarg);
	free(img);
}

static void enumeration_names(void **state)
{
	enum ctl_poll_policy p;
	enum ctl_ring_protocol r;

	assert_int_equal(ctl_poll_policy_parse("fixed", &p), 0);
	assert_int_equal(p, CTL_POLL_FIXED);
	assert_int_equal(ctl_poll_policy_parse("Adaptive", &p), -EINVAL);
	assert_string_equal(ctl_poll_policy_name(CTL_POLL_OFF), "off");
	assert_int_equal(ctl_ring_protocol_parse("x86_64-abi", &r), 0);
	assert_int_equal(r, CTL_RING_X86_64);
	assert_int_equal(ctl_ring_protocol_parse("x86_64", &r), -EINVAL);
	assert_string_equal(ctl_msg_name(CTL_MSG_POLL_SET | CTL_MSG_REPLY), "poll-set");
	assert_string_equal(ctl_msg_name(CTL_MSG_ERROR), "unknown");
	{
		enum ctl_lock_mode l;

		assert_int_equal(ctl_lock_mode_parse("auto", &l), 0);
		assert_int_equal(l, CTL_LOCK_AUTO);
		assert_int_equal(ctl_lock_mode_parse("off", &l), 0);
		assert_int_equal(l, CTL_LOCK_OFF);
		assert_int_equal(ctl_lock_mode_parse("ON", &l), -EINVAL);
		assert_int_equal(ctl_lock_mode_parse("", &l), -EINVAL);
		assert_string_equal(ctl_lock_mode_name(CTL_LOCK_ON), "on");
		assert_null(ctl_lock_mode_name(CTL_LOCK_DEFAULT));
		assert_null(ctl_lock_mode_name((enum ctl_lock_mode)9));
	}
	assert_string_equal(ctl_msg_name(0), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(header_is_big_endian_with_magic),
		cmocka_unit_test(header_rejects_bad_magic_version_and_size),
		cmocka_unit_test(open_round_trips_every_flag),
		cmocka_unit_test(simple_requests_round_trip),
		cmocka_unit_test(resume_with_and_without_image),
		cmocka_unit_test(locking_mode_round_trips),
		cmocka_unit_test(connect_and_polling_round_trip),
		cmocka_unit_test(encoder_refuses_what_the_decoder_would),
		cmocka_unit_test(decoder_refuses_malformed_requests),
		cmocka_unit_test(decoder_refuses_long_paths),
		cmocka_unit_test(replies_round_trip),
		cmocka_unit_test(log_level_requests),
		cmocka_unit_test(decoder_refuses_malformed_replies),
		cmocka_unit_test(image_arguments_parse_as_blktap3),
		cmocka_unit_test(enumeration_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
