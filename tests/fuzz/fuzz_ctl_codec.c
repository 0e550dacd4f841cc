/* Fuzzes the control protocol codec (lib/ctl/codec.c): the 16-byte frame header and the JSON
 * payload of every request type (as tapdisk's server decodes them) and of every reply type (as
 * tap-ctl and tapback decode them); whatever decodes must encode again and decode to the same.
 *
 * Input: [mode][16-byte header][payload...]. mode bit 0 clear: a request; set: a reply to the
 * request type mode >> 1. The payload is the header's `length` bytes that follow it. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/ctl/codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
	if (!ok)
		abort();
}

/* A decoded request encodes (the encoder refuses only what the decoder would) and decodes back
 * to the same message. */
static void request_round_trip(const struct ctl_msg *m)
{
	struct ctl_header h;
	struct ctl_msg *again = malloc(sizeof(*again));
	uint8_t *buf = NULL;
	size_t len = 0;

	check(again != NULL);
	check(ctl_request_encode(m, &buf, &len) == 0);
	check(len >= CTL_HEADER_SIZE);
	check(ctl_header_decode(buf, CTL_MAX_REQUEST, &h) == 0);
	check(h.length == len - CTL_HEADER_SIZE);
	check(ctl_request_decode(&h, buf + CTL_HEADER_SIZE, again) == 0);
	check(again->type == m->type && again->id == m->id);
	check(memcmp(&again->u, &m->u, sizeof(m->u)) == 0);
	free(buf);
	free(again);
}

static void reply_round_trip(const struct ctl_reply *r, unsigned int request_type)
{
	struct ctl_header h;
	struct ctl_reply *again = malloc(sizeof(*again));
	uint8_t *buf = NULL;
	size_t len = 0;
	int err;

	check(again != NULL);
	err = ctl_reply_encode(r, &buf, &len);
	if (err == 0) {
		check(ctl_header_decode(buf, CTL_MAX_REPLY, &h) == 0);
		err = ctl_reply_decode(&h, request_type, buf + CTL_HEADER_SIZE, again);
		check(err == 0);
		check(again->type == r->type && again->error == r->error);
		ctl_reply_release(again);
	}
	free(buf);
	free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctl_header h;
	uint8_t *payload;
	bool reply;
	unsigned int request_type;

	if (size < 1 + CTL_HEADER_SIZE)
		return 0;
	reply = data[0] & 1;
	request_type = (data[0] >> 1) % (CTL_MSG_TYPE_MAX + 1);
	if (ctl_header_decode(data + 1, reply ? CTL_MAX_REPLY : CTL_MAX_REQUEST, &h) < 0)
		return 0;
	if (h.length > size - 1 - CTL_HEADER_SIZE)
		return 0;
	/* the payload in a buffer of its exact size, as the server reads it */
	payload = malloc(h.length ? h.length : 1);
	check(payload != NULL);
	memcpy(payload, data + 1 + CTL_HEADER_SIZE, h.length);

	if (!reply) {
		struct ctl_msg *m = malloc(sizeof(*m));

		check(m != NULL);
		if (ctl_request_decode(&h, payload, m) == 0)
			request_round_trip(m);
		free(m);
	} else {
		struct ctl_reply *r = malloc(sizeof(*r));

		check(r != NULL);
		if (ctl_reply_decode(&h, request_type, payload, r) == 0) {
			check(r->message[sizeof(r->message) - 1] == '\0' ||
			      memchr(r->message, '\0', sizeof(r->message)));
			reply_round_trip(r, request_type);
		}
		ctl_reply_release(r);
		free(r);
	}
	free(payload);
	return 0;
}
