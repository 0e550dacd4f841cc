/* NBD wire format (constants of the spec's proto.md) and the pure parsing, validation and encoding
 * functions the server is built on; nothing here touches a socket, so every malformed input can
 * be unit-tested. All integers on the wire are big-endian. */
#ifndef RT_NBD_PROTO_H
#define RT_NBD_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ringtap/nbd.h"

/* ---- handshake ----------------------------------------------------------------------------- */
#define NBD_MAGIC 0x4e42444d41474943ull /* "NBDMAGIC" */
#define NBD_IHAVEOPT 0x49484156454f5054ull /* "IHAVEOPT" */
#define NBD_REP_MAGIC 0x0003e889045565a9ull

#define NBD_FLAG_FIXED_NEWSTYLE 0x1 /* handshake flags (server) */
#define NBD_FLAG_NO_ZEROES 0x2
#define NBD_FLAG_C_FIXED_NEWSTYLE 0x1 /* client flags */
#define NBD_FLAG_C_NO_ZEROES 0x2
#define NBD_CLIENT_FLAGS_KNOWN 0x3

#define NBD_OPT_EXPORT_NAME 1
#define NBD_OPT_ABORT 2
#define NBD_OPT_LIST 3
#define NBD_OPT_STARTTLS 5
#define NBD_OPT_INFO 6
#define NBD_OPT_GO 7
#define NBD_OPT_STRUCTURED_REPLY 8

#define NBD_REP_ACK 1
#define NBD_REP_SERVER 2
#define NBD_REP_INFO 3
#define NBD_REP_FLAG_ERROR 0x80000000u
#define NBD_REP_ERR_UNSUP (NBD_REP_FLAG_ERROR | 1)
#define NBD_REP_ERR_POLICY (NBD_REP_FLAG_ERROR | 2)
#define NBD_REP_ERR_INVALID (NBD_REP_FLAG_ERROR | 3)
#define NBD_REP_ERR_PLATFORM (NBD_REP_FLAG_ERROR | 4)
#define NBD_REP_ERR_TLS_REQD (NBD_REP_FLAG_ERROR | 5)
#define NBD_REP_ERR_UNKNOWN (NBD_REP_FLAG_ERROR | 6)
#define NBD_REP_ERR_SHUTDOWN (NBD_REP_FLAG_ERROR | 7)
#define NBD_REP_ERR_BLOCK_SIZE_REQD (NBD_REP_FLAG_ERROR | 8)
#define NBD_REP_ERR_TOO_BIG (NBD_REP_FLAG_ERROR | 9)

#define NBD_INFO_EXPORT 0
#define NBD_INFO_NAME 1
#define NBD_INFO_DESCRIPTION 2
#define NBD_INFO_BLOCK_SIZE 3

/* transmission flags (in the export info) */
#define NBD_FLAG_HAS_FLAGS (1u << 0)
#define NBD_FLAG_READ_ONLY (1u << 1)
#define NBD_FLAG_SEND_FLUSH (1u << 2)
#define NBD_FLAG_SEND_FUA (1u << 3)
#define NBD_FLAG_ROTATIONAL (1u << 4)
#define NBD_FLAG_SEND_TRIM (1u << 5)
#define NBD_FLAG_SEND_WRITE_ZEROES (1u << 6)
#define NBD_FLAG_SEND_DF (1u << 7)
#define NBD_FLAG_CAN_MULTI_CONN (1u << 8)

#define NBD_GREETING_SIZE 18 /* NBDMAGIC, IHAVEOPT, u16 handshake flags */
#define NBD_OLDSTYLE_MAGIC 0x00420281861253ull
/* NBDMAGIC, the old-style magic, u64 size, u32 flags, 124 zeroes */
#define NBD_OLDSTYLE_GREETING_SIZE 152
#define NBD_OPT_HEADER_SIZE 16 /* IHAVEOPT, u32 option, u32 length */
#define NBD_REP_HEADER_SIZE 20 /* magic, u32 option, u32 type, u32 length */
#define NBD_EXPORT_NAME_REPLY_SIZE 10 /* u64 size, u16 flags (+ 124 zeroes unless NO_ZEROES) */
#define NBD_EXPORT_NAME_PAD 124
/* Longest option payload read: GO/INFO with a longest name and a few dozen info requests.
 * Longer ones are read, discarded and answered NBD_REP_ERR_TOO_BIG. */
#define NBD_OPT_MAX_LEN (4 + NBD_MAX_NAME + 2 + 2 * 64)
/* Options a client may send before transmission: a client looping on NBD_OPT_LIST is dropped. */
#define NBD_MAX_OPTIONS 64

/* ---- transmission -------------------------------------------------------------------------- */
#define NBD_REQUEST_MAGIC 0x25609513u
#define NBD_SIMPLE_REPLY_MAGIC 0x67446698u
#define NBD_REQUEST_SIZE 28 /* magic, u16 flags, u16 type, u64 cookie, u64 offset, u32 length */
#define NBD_SIMPLE_REPLY_SIZE 16 /* magic, u32 error, u64 cookie */

#define NBD_CMD_READ 0
#define NBD_CMD_WRITE 1
#define NBD_CMD_DISC 2
#define NBD_CMD_FLUSH 3
#define NBD_CMD_TRIM 4
#define NBD_CMD_CACHE 5
#define NBD_CMD_WRITE_ZEROES 6
#define NBD_CMD_BLOCK_STATUS 7

/* structured replies (NBD_OPT_STRUCTURED_REPLY): magic, u16 flags, u16 type, u64 cookie,
 * u32 length, then length bytes of payload */
#define NBD_STRUCTURED_REPLY_MAGIC 0x668e33efu
#define NBD_STRUCTURED_REPLY_SIZE 20
#define NBD_REPLY_FLAG_DONE (1u << 0)
#define NBD_REPLY_TYPE_NONE 0
#define NBD_REPLY_TYPE_OFFSET_DATA 1 /* u64 offset, data */
#define NBD_REPLY_TYPE_OFFSET_HOLE 2 /* u64 offset, u32 hole size */
#define NBD_REPLY_TYPE_BLOCK_STATUS 5
#define NBD_REPLY_TYPE_ERROR_BIT (1u << 15)
#define NBD_REPLY_TYPE_ERROR (NBD_REPLY_TYPE_ERROR_BIT | 1) /* u32 error, u16 len, message */
#define NBD_REPLY_TYPE_ERROR_OFFSET (NBD_REPLY_TYPE_ERROR_BIT | 2) /* ... then u64 offset */

#define NBD_CMD_FLAG_FUA (1u << 0)
#define NBD_CMD_FLAG_NO_HOLE (1u << 1)
#define NBD_CMD_FLAG_DF (1u << 2)
#define NBD_CMD_FLAG_REQ_ONE (1u << 3)
#define NBD_CMD_FLAG_FAST_ZERO (1u << 4)

/* error values of replies (the spec fixes them; they happen to equal Linux's) */
#define NBD_EPERM 1
#define NBD_EIO 5
#define NBD_ENOMEM 12
#define NBD_EINVAL 22
#define NBD_ENOSPC 28
#define NBD_EOVERFLOW 75
#define NBD_ENOTSUP 95
#define NBD_ESHUTDOWN 108

/* ---- big-endian helpers -------------------------------------------------------------------- */
static inline uint16_t nbd_get16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static inline uint32_t nbd_get32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline uint64_t nbd_get64(const uint8_t *p)
{
	return ((uint64_t)nbd_get32(p) << 32) | nbd_get32(p + 4);
}

static inline void nbd_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void nbd_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void nbd_put64(uint8_t *p, uint64_t v)
{
	nbd_put32(p, (uint32_t)(v >> 32));
	nbd_put32(p + 4, (uint32_t)v);
}

/* ---- parsing and validation ---------------------------------------------------------------- */
struct nbd_opt_header {
	uint32_t option;
	uint32_t length;
};

/* 0, or -EBADMSG when the magic is not IHAVEOPT. */
int nbd_opt_header_decode(const uint8_t buf[NBD_OPT_HEADER_SIZE], struct nbd_opt_header *out);

/* The payload of NBD_OPT_INFO / NBD_OPT_GO: u32 name length, name, u16 count, u16 requests. */
struct nbd_info_request {
	const uint8_t *name; /* points into the payload; not NUL-terminated */
	uint32_t name_len;
	uint16_t nr_requests;
	const uint8_t *requests; /* nr_requests big-endian u16 */
	bool want_name, want_description, want_block_size;
};

/* 0, -EINVAL when the lengths do not add up to `len` exactly, -ENAMETOOLONG for a name longer
 * than NBD_MAX_NAME. */
int nbd_info_request_parse(const uint8_t *data, uint32_t len, struct nbd_info_request *out);

struct nbd_req_header {
	uint16_t flags;
	uint16_t type;
	uint64_t cookie;
	uint64_t offset;
	uint32_t length;
};

/* The client's side (client.c). */
void nbd_request_encode(uint8_t buf[NBD_REQUEST_SIZE], const struct nbd_req_header *h);
/* A simple reply: 0, or -EBADMSG when the magic is not NBD_SIMPLE_REPLY_MAGIC. */
int nbd_simple_reply_decode(const uint8_t buf[NBD_SIMPLE_REPLY_SIZE], uint32_t *error,
			    uint64_t *cookie);
/* 0, or -EBADMSG when the magic is wrong (the stream is lost: drop the client). */
int nbd_request_decode(const uint8_t buf[NBD_REQUEST_SIZE], struct nbd_req_header *out);

/* What a request is checked against (a snapshot of the export and the server's limits). */
struct nbd_limits {
	uint64_t size;
	uint32_t export_flags; /* NBD_EXPORT_* */
	uint32_t max_request;
	uint32_t min_block;
};

/* 0 when the request may go to a callback, else the NBD error to reply (NBD_EINVAL, NBD_EPERM,
 * NBD_ENOSPC). DISC is not checked here. */
uint32_t nbd_request_check(const struct nbd_req_header *h, const struct nbd_limits *lim);

/* Whether a request of this type carries `length` bytes of payload after its header. */
static inline bool nbd_request_has_payload(const struct nbd_req_header *h)
{
	return h->type == NBD_CMD_WRITE;
}

/* The transmission flags advertised for an export. */
uint16_t nbd_transmission_flags(uint32_t export_flags);

/* A -errno from a callback as an NBD error value. */
uint32_t nbd_errno_to_wire(int err);

/* ---- encoding ------------------------------------------------------------------------------ */
void nbd_greeting_encode(uint8_t buf[NBD_GREETING_SIZE]);
/* blktap3's old-style greeting: its flags are 0 (no NBD_FLAG_HAS_FLAGS), as blktap3 sends. */
void nbd_oldstyle_greeting_encode(uint8_t buf[NBD_OLDSTYLE_GREETING_SIZE], uint64_t size);
void nbd_rep_header_encode(uint8_t buf[NBD_REP_HEADER_SIZE], uint32_t option, uint32_t type,
			   uint32_t length);
void nbd_simple_reply_encode(uint8_t buf[NBD_SIMPLE_REPLY_SIZE], uint32_t error, uint64_t cookie);

#endif
