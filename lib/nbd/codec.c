/* The NBD wire format's pure functions (see proto.h): decoding of option and request headers,
 * the NBD_OPT_INFO/GO payload, request validation against the export, and reply encoding. */
#include <errno.h>
#include <string.h>

#include "lib/nbd/proto.h"

int nbd_opt_header_decode(const uint8_t buf[NBD_OPT_HEADER_SIZE], struct nbd_opt_header *out)
{
	if (nbd_get64(buf) != NBD_IHAVEOPT)
		return -EBADMSG;
	out->option = nbd_get32(buf + 8);
	out->length = nbd_get32(buf + 12);
	return 0;
}

int nbd_info_request_parse(const uint8_t *data, uint32_t len, struct nbd_info_request *out)
{
	uint32_t rest;

	memset(out, 0, sizeof(*out));
	if (len < 6)
		return -EINVAL;
	out->name_len = nbd_get32(data);
	/* compared before any addition, so a huge name length cannot wrap */
	if (out->name_len > len - 6)
		return out->name_len > NBD_MAX_NAME ? -ENAMETOOLONG : -EINVAL;
	if (out->name_len > NBD_MAX_NAME)
		return -ENAMETOOLONG;
	out->name = data + 4;
	rest = len - 4 - out->name_len;
	out->nr_requests = nbd_get16(data + 4 + out->name_len);
	if (rest - 2 != 2u * out->nr_requests)
		return -EINVAL;
	out->requests = data + 4 + out->name_len + 2;
	for (unsigned int i = 0; i < out->nr_requests; i++) {
		switch (nbd_get16(out->requests + 2 * i)) {
		case NBD_INFO_NAME:
			out->want_name = true;
			break;
		case NBD_INFO_DESCRIPTION:
			out->want_description = true;
			break;
		case NBD_INFO_BLOCK_SIZE:
			out->want_block_size = true;
			break;
		default: /* NBD_INFO_EXPORT is always sent; unknown ones are ignored (spec) */
			break;
		}
	}
	return 0;
}

void nbd_request_encode(uint8_t buf[NBD_REQUEST_SIZE], const struct nbd_req_header *h)
{
	nbd_put32(buf, NBD_REQUEST_MAGIC);
	nbd_put16(buf + 4, h->flags);
	nbd_put16(buf + 6, h->type);
	nbd_put64(buf + 8, h->cookie);
	nbd_put64(buf + 16, h->offset);
	nbd_put32(buf + 24, h->length);
}

int nbd_simple_reply_decode(const uint8_t buf[NBD_SIMPLE_REPLY_SIZE], uint32_t *error,
			    uint64_t *cookie)
{
	if (nbd_get32(buf) != NBD_SIMPLE_REPLY_MAGIC)
		return -EBADMSG;
	*error = nbd_get32(buf + 4);
	*cookie = nbd_get64(buf + 8);
	return 0;
}

int nbd_request_decode(const uint8_t buf[NBD_REQUEST_SIZE], struct nbd_req_header *out)
{
	if (nbd_get32(buf) != NBD_REQUEST_MAGIC)
		return -EBADMSG;
	out->flags = nbd_get16(buf + 4);
	out->type = nbd_get16(buf + 6);
	out->cookie = nbd_get64(buf + 8);
	out->offset = nbd_get64(buf + 16);
	out->length = nbd_get32(buf + 24);
	return 0;
}

/* The command flags each command accepts, given what the export supports. */
static uint16_t allowed_flags(uint16_t type, uint32_t export_flags)
{
	uint16_t fua = (export_flags & NBD_EXPORT_FLUSH) ? NBD_CMD_FLAG_FUA : 0;

	switch (type) {
	case NBD_CMD_WRITE:
	case NBD_CMD_TRIM:
		return fua;
	case NBD_CMD_WRITE_ZEROES:
		return fua | NBD_CMD_FLAG_NO_HOLE;
	default:
		return 0;
	}
}

static bool supported(uint16_t type, uint32_t export_flags)
{
	switch (type) {
	case NBD_CMD_READ:
	case NBD_CMD_WRITE:
		return true;
	case NBD_CMD_FLUSH:
		return export_flags & NBD_EXPORT_FLUSH;
	case NBD_CMD_TRIM:
		return export_flags & NBD_EXPORT_TRIM;
	case NBD_CMD_WRITE_ZEROES:
		return export_flags & NBD_EXPORT_WRITE_ZEROES;
	default: /* CACHE, BLOCK_STATUS (needs structured replies), unknown */
		return false;
	}
}

static bool modifies(uint16_t type)
{
	return type == NBD_CMD_WRITE || type == NBD_CMD_TRIM || type == NBD_CMD_WRITE_ZEROES;
}

uint32_t nbd_request_check(const struct nbd_req_header *h, const struct nbd_limits *lim)
{
	uint64_t end;

	if (!supported(h->type, lim->export_flags))
		return NBD_EINVAL;
	if (h->flags & ~allowed_flags(h->type, lim->export_flags))
		return NBD_EINVAL;
	if (h->type == NBD_CMD_FLUSH)
		return (h->offset || h->length) ? NBD_EINVAL : 0;
	if (modifies(h->type) && (lim->export_flags & NBD_EXPORT_READONLY))
		return NBD_EPERM;
	if (!h->length)
		return NBD_EINVAL;
	if ((h->type == NBD_CMD_READ || h->type == NBD_CMD_WRITE) && h->length > lim->max_request)
		return NBD_EINVAL;
	if ((h->offset | h->length) & (uint64_t)(lim->min_block - 1))
		return NBD_EINVAL;
	if (__builtin_add_overflow(h->offset, (uint64_t)h->length, &end))
		return NBD_EINVAL;
	if (end > lim->size)
		return (h->type == NBD_CMD_WRITE || h->type == NBD_CMD_WRITE_ZEROES) ? NBD_ENOSPC :
										       NBD_EINVAL;
	return 0;
}

uint16_t nbd_transmission_flags(uint32_t export_flags)
{
	uint16_t f = NBD_FLAG_HAS_FLAGS;

	if (export_flags & NBD_EXPORT_READONLY)
		f |= NBD_FLAG_READ_ONLY;
	if (export_flags & NBD_EXPORT_FLUSH)
		f |= NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA;
	if (export_flags & NBD_EXPORT_TRIM)
		f |= NBD_FLAG_SEND_TRIM;
	if (export_flags & NBD_EXPORT_WRITE_ZEROES)
		f |= NBD_FLAG_SEND_WRITE_ZEROES;
	if (export_flags & NBD_EXPORT_MULTI_CONN)
		f |= NBD_FLAG_CAN_MULTI_CONN;
	return f;
}

uint32_t nbd_errno_to_wire(int err)
{
	switch (err < 0 ? -err : err) {
	case 0:
		return 0;
	case EPERM:
	case EACCES:
	case EROFS:
		return NBD_EPERM;
	case ENOMEM:
		return NBD_ENOMEM;
	case EINVAL:
		return NBD_EINVAL;
	case ENOSPC:
	case EDQUOT:
	case EFBIG:
		return NBD_ENOSPC;
	case EOVERFLOW:
		return NBD_EOVERFLOW;
	case ENOTSUP:
		return NBD_ENOTSUP;
	case ESHUTDOWN:
		return NBD_ESHUTDOWN;
	default:
		return NBD_EIO;
	}
}

void nbd_greeting_encode(uint8_t buf[NBD_GREETING_SIZE])
{
	nbd_put64(buf, NBD_MAGIC);
	nbd_put64(buf + 8, NBD_IHAVEOPT);
	nbd_put16(buf + 16, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
}

void nbd_oldstyle_greeting_encode(uint8_t buf[NBD_OLDSTYLE_GREETING_SIZE], uint64_t size)
{
	memset(buf, 0, NBD_OLDSTYLE_GREETING_SIZE);
	nbd_put64(buf, NBD_MAGIC);
	nbd_put64(buf + 8, NBD_OLDSTYLE_MAGIC);
	nbd_put64(buf + 16, size);
}

void nbd_rep_header_encode(uint8_t buf[NBD_REP_HEADER_SIZE], uint32_t option, uint32_t type,
			   uint32_t length)
{
	nbd_put64(buf, NBD_REP_MAGIC);
	nbd_put32(buf + 8, option);
	nbd_put32(buf + 12, type);
	nbd_put32(buf + 16, length);
}

void nbd_simple_reply_encode(uint8_t buf[NBD_SIMPLE_REPLY_SIZE], uint32_t error, uint64_t cookie)
{
	nbd_put32(buf, NBD_SIMPLE_REPLY_MAGIC);
	nbd_put32(buf + 4, error);
	nbd_put64(buf + 8, cookie);
}
