/* Private to lib/ctl: framing (the 16-byte header) and the JSON payload of every message, as
 * pure functions over byte buffers so that they are unit-tested without sockets. */
#ifndef RINGTAP_LIB_CTL_CODEC_H
#define RINGTAP_LIB_CTL_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "ringtap/ctl.h"

struct ctl_header {
	uint32_t magic;
	uint16_t version;
	uint16_t type;
	uint32_t id;
	uint32_t length;
};

/* A decoded request: the type says which union member is valid. */
struct ctl_msg {
	unsigned int type;
	uint32_t id;
	union {
		struct ctl_minor_args minor; /* list ignores it */
		struct ctl_open_args open;
		struct ctl_close_args close;
		struct ctl_resume_args resume;
		struct ctl_connect_args connect;
		struct ctl_disconnect_args disconnect;
		struct ctl_poll_set_args poll_set;
		struct ctl_log_level_args log_level;
	} u;
};

/* A reply's results (which member: the request type). */
union ctl_result {
	struct ctl_list list;
	struct ctl_disk_info info;
	char *stats_json;
	struct ctl_poll_settings poll;
	int log_level;
};

struct ctl_reply {
	unsigned int type; /* the request type, without CTL_MSG_REPLY; CTL_MSG_ERROR */
	uint32_t id;
	int error; /* 0 or positive errno */
	char message[CTL_MESSAGE_MAX];
	/* What the daemon logged as the cause ("vhd: ...: bad footer cookie"); optional, "" */
	char reason[CTL_MESSAGE_MAX];
	union ctl_result r;
};

void ctl_header_encode(const struct ctl_header *h, uint8_t out[CTL_HEADER_SIZE]);
/* Validates magic, version and length <= max_length: -EBADMSG (not our protocol),
 * -EPROTONOSUPPORT (another version), -EMSGSIZE. The header is filled even on error. */
int ctl_header_decode(const uint8_t in[CTL_HEADER_SIZE], uint32_t max_length, struct ctl_header *h);

/* Whole frames (header + payload) in a malloc'd buffer. Return 0 or -errno (-EINVAL for
 * arguments the decoder would refuse, -EMSGSIZE past the bound). */
int ctl_request_encode(const struct ctl_msg *m, uint8_t **buf, size_t *len);
int ctl_reply_encode(const struct ctl_reply *r, uint8_t **buf, size_t *len);

/* Payload decoders: 0, -EBADMSG (not a JSON object), -EINVAL (a field missing, of the wrong
 * type or out of range), -EOPNOTSUPP (unknown request type). */
int ctl_request_decode(const struct ctl_header *h, const uint8_t *payload, struct ctl_msg *m);
/* request_type: what was asked (selects the result member). Frees nothing on failure: callers
 * call ctl_reply_release() in every case. */
int ctl_reply_decode(const struct ctl_header *h, unsigned int request_type, const uint8_t *payload,
		     struct ctl_reply *r);
void ctl_reply_release(struct ctl_reply *r);

#endif
