/* The NBD wire format's pure functions: option and request headers, the NBD_OPT_INFO/GO payload
 * with every kind of inconsistent length, request validation (bounds, overflow, alignment,
 * flags, read-only), the advertised flags, errno mapping, reply bytes; and random input. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lib/nbd/proto.h"

static void option_header_needs_ihaveopt(void **state)
{
	uint8_t buf[NBD_OPT_HEADER_SIZE];
	struct nbd_opt_header h;

	nbd_put64(buf, NBD_IHAVEOPT);
	nbd_put32(buf + 8, NBD_OPT_GO);
	nbd_put32(buf + 12, 0xfffffff0u);
	assert_int_equal(nbd_opt_header_decode(buf, &h), 0);
	assert_int_equal(h.option, NBD_OPT_GO);
	assert_int_equal(h.length, 0xfffffff0u);
	memcpy(buf, "GET / HT", 8);
	assert_int_equal(nbd_opt_header_decode(buf, &h), -EBADMSG);
	nbd_put64(buf, NBD_MAGIC); /* the server's magic sent back */
	assert_int_equal(nbd_opt_header_decode(buf, &h), -EBADMSG);
}

/* Builds a GO payload: u32 name length (as given), name, u16 count (as given), requests. */
static uint32_t go_payload(uint8_t *buf, uint32_t name_len_field, const char *name,
			   uint16_t count_field, const uint16_t *reqs, unsigned int nreqs)
{
	uint32_t len = 0;

	nbd_put32(buf, name_len_field);
	len = 4;
	memcpy(buf + len, name, strlen(name));
	len += (uint32_t)strlen(name);
	nbd_put16(buf + len, count_field);
	len += 2;
	for (unsigned int i = 0; i < nreqs; i++, len += 2)
		nbd_put16(buf + len, reqs[i]);
	return len;
}

static void info_request_parses_names_and_requests(void **state)
{
	static const uint16_t reqs[] = { NBD_INFO_BLOCK_SIZE, NBD_INFO_NAME, 999, NBD_INFO_EXPORT };
	uint8_t buf[128];
	struct nbd_info_request ir;
	uint32_t len = go_payload(buf, 4, "uuid", 4, reqs, 4);

	assert_int_equal(nbd_info_request_parse(buf, len, &ir), 0);
	assert_int_equal(ir.name_len, 4);
	assert_memory_equal(ir.name, "uuid", 4);
	assert_int_equal(ir.nr_requests, 4);
	assert_true(ir.want_block_size);
	assert_true(ir.want_name);
	assert_false(ir.want_description);

	len = go_payload(buf, 0, "", 0, NULL, 0); /* the default export, nothing asked */
	assert_int_equal(len, 6);
	assert_int_equal(nbd_info_request_parse(buf, len, &ir), 0);
	assert_int_equal(ir.name_len, 0);
	assert_false(ir.want_block_size || ir.want_name || ir.want_description);
}

static void info_request_refuses_inconsistent_lengths(void **state)
{
	static const uint16_t reqs[] = { NBD_INFO_NAME, NBD_INFO_BLOCK_SIZE };
	uint8_t buf[8192];
	struct nbd_info_request ir;
	uint32_t len;

	for (len = 0; len < 6; len++) /* shorter than the fixed fields */
		assert_int_equal(nbd_info_request_parse(buf, len, &ir), -EINVAL);
	len = go_payload(buf, 5, "uuid", 2, reqs, 2); /* name longer than given */
	assert_int_equal(nbd_info_request_parse(buf, len, &ir), -EINVAL);
	len = go_payload(buf, 3, "uuid", 2, reqs, 2); /* name shorter: count read from name */
	assert_int_equal(nbd_info_request_parse(buf, len, &ir), -EINVAL);
	len = go_payload(buf, 4, "uuid", 3, reqs, 2); /* more requests announced than sent */
	assert_int_equal(nbd_info_request_parse(buf, len, &ir), -EINVAL);
	len = go_payload(buf, 4, "uuid", 1, reqs, 2); /* fewer */
	assert_int_equal(nbd_info_request_parse(buf, len, &ir), -EINVAL);
	len = go_payload(buf, 4, "uuid", 2, reqs, 2);
	buf[len] = 0;
	assert_int_equal(nbd_info_request_parse(buf, len + 1, &ir), -EINVAL); /* odd tail */
	len = go_payload(buf, 0xffffffffu, "uuid", 2, reqs, 2); /* would wrap a 32-bit sum */
	assert_int_equal(nbd_info_request_parse(buf, len, &ir), -ENAMETOOLONG);
	len = go_payload(buf, 0xfffffffau, "", 0, NULL, 0);
	assert_int_equal(nbd_info_request_parse(buf, len, &ir), -ENAMETOOLONG);

	/* a name of exactly the spec's limit passes, one byte more does not */
	memset(buf + 4, 'x', NBD_MAX_NAME + 1);
	nbd_put32(buf, NBD_MAX_NAME);
	nbd_put16(buf + 4 + NBD_MAX_NAME, 0);
	assert_int_equal(nbd_info_request_parse(buf, 4 + NBD_MAX_NAME + 2, &ir), 0);
	nbd_put32(buf, NBD_MAX_NAME + 1);
	nbd_put16(buf + 4 + NBD_MAX_NAME + 1, 0);
	assert_int_equal(nbd_info_request_parse(buf, 4 + NBD_MAX_NAME + 3, &ir), -ENAMETOOLONG);
}

static void request_header_needs_magic(void **state)
{
	uint8_t buf[NBD_REQUEST_SIZE];
	struct nbd_req_header h;

	nbd_put32(buf, NBD_REQUEST_MAGIC);
	nbd_put16(buf + 4, NBD_CMD_FLAG_FUA);
	nbd_put16(buf + 6, NBD_CMD_WRITE);
	nbd_put64(buf + 8, 0x0102030405060708ull);
	nbd_put64(buf + 16, 0xfffffffffffffe00ull);
	nbd_put32(buf + 24, 0x200);
	assert_int_equal(nbd_request_decode(buf, &h), 0);
	assert_int_equal(h.flags, NBD_CMD_FLAG_FUA);
	assert_int_equal(h.type, NBD_CMD_WRITE);
	assert_true(h.cookie == 0x0102030405060708ull);
	assert_true(h.offset == 0xfffffffffffffe00ull);
	assert_int_equal(h.length, 0x200);
	assert_true(nbd_request_has_payload(&h));
	nbd_put32(buf, NBD_SIMPLE_REPLY_MAGIC);
	assert_int_equal(nbd_request_decode(buf, &h), -EBADMSG);
}

static const struct nbd_limits rw_limits = {
	.size = 1u << 20,
	.export_flags = NBD_EXPORT_FLUSH | NBD_EXPORT_TRIM | NBD_EXPORT_WRITE_ZEROES,
	.max_request = 65536,
	.min_block = 1,
};

static uint32_t check(const struct nbd_limits *lim, uint16_t type, uint16_t flags, uint64_t off,
		      uint32_t len)
{
	struct nbd_req_header h = { .flags = flags, .type = type, .offset = off, .length = len };

	return nbd_request_check(&h, lim);
}

static void requests_within_the_export_pass(void **state)
{
	const struct nbd_limits *l = &rw_limits;

	assert_int_equal(check(l, NBD_CMD_READ, 0, 0, 1), 0);
	assert_int_equal(check(l, NBD_CMD_READ, 0, (1u << 20) - 65536, 65536), 0); /* to the end */
	assert_int_equal(check(l, NBD_CMD_WRITE, NBD_CMD_FLAG_FUA, 4096, 4096), 0);
	assert_int_equal(check(l, NBD_CMD_FLUSH, 0, 0, 0), 0);
	/* TRIM and WRITE_ZEROES carry no data: the max request size does not bound them */
	assert_int_equal(check(l, NBD_CMD_TRIM, NBD_CMD_FLAG_FUA, 0, 1u << 20), 0);
	assert_int_equal(check(l, NBD_CMD_WRITE_ZEROES, NBD_CMD_FLAG_NO_HOLE, 0, 1u << 20), 0);
	assert_int_equal(
		check(l, NBD_CMD_WRITE_ZEROES, NBD_CMD_FLAG_NO_HOLE | NBD_CMD_FLAG_FUA, 512, 512),
		0);
}

static void requests_out_of_bounds_fail_as_the_spec_says(void **state)
{
	const struct nbd_limits *l = &rw_limits;

	/* beyond the end: reads and trims EINVAL, writes ENOSPC */
	assert_int_equal(check(l, NBD_CMD_READ, 0, (1u << 20) - 1, 2), NBD_EINVAL);
	assert_int_equal(check(l, NBD_CMD_READ, 0, 1u << 20, 1), NBD_EINVAL);
	assert_int_equal(check(l, NBD_CMD_TRIM, 0, 1u << 20, 1), NBD_EINVAL);
	assert_int_equal(check(l, NBD_CMD_WRITE, 0, (1u << 20) - 1, 2), NBD_ENOSPC);
	assert_int_equal(check(l, NBD_CMD_WRITE_ZEROES, 0, 1u << 20, 512), NBD_ENOSPC);
	/* offset + length wraps around 2^64 */
	assert_int_equal(check(l, NBD_CMD_READ, 0, UINT64_MAX, 1), NBD_EINVAL);
	assert_int_equal(check(l, NBD_CMD_WRITE, 0, UINT64_MAX - 10, 4096), NBD_EINVAL);
	assert_int_equal(check(l, NBD_CMD_TRIM, 0, UINT64_MAX - 0xffff, 0xffffffffu), NBD_EINVAL);
	/* zero length, and more than the max request size */
	assert_int_equal(check(l, NBD_CMD_READ, 0, 0, 0), NBD_EINVAL);
	assert_int_equal(check(l, NBD_CMD_WRITE, 0, 0, 0), NBD_EINVAL);
	assert_int_equal(check(l, NBD_CMD_TRIM, 0, 0, 0), NBD_EINVAL);
	assert_int_equal(check(l, NBD_CMD_READ, 0, 0, 65537), NBD_EINVAL);
	assert_int_equal(check(l, NBD_CMD_WRITE, 0, 0, 0xffffffffu), NBD_EINVAL);
	/* FLUSH's offset and length are reserved */
	assert_int_equal(check(l, NBD_CMD_FLUSH, 0, 512, 0), NBD_EINVAL);
	assert_int_equal(check(l, NBD_CMD_FLUSH, 0, 0, 512), NBD_EINVAL);
}

static void unknown_commands_and_flags_are_invalid(void **state)
{
	const struct nbd_limits *l = &rw_limits;
	struct nbd_limits bare = { .size = 1u << 20, .max_request = 65536, .min_block = 1 };

	assert_int_equal(check(l, NBD_CMD_CACHE, 0, 0, 512), NBD_EINVAL);
	assert_int_equal(check(l, NBD_CMD_BLOCK_STATUS, 0, 0, 512), NBD_EINVAL);
	assert_int_equal(check(l, 9, 0, 0, 512), NBD_EINVAL);
	assert_int_equal(check(l, 0xffff, 0, 0, 512), NBD_EINVAL);
	assert_int_equal(check(l, NBD_CMD_READ, NBD_CMD_FLAG_DF, 0, 512), NBD_EINVAL);
	assert_int_equal(check(l, NBD_CMD_READ, NBD_CMD_FLAG_FUA, 0, 512), NBD_EINVAL);
	assert_int_equal(check(l, NBD_CMD_WRITE, NBD_CMD_FLAG_NO_HOLE, 0, 512), NBD_EINVAL);
	assert_int_equal(check(l, NBD_CMD_WRITE_ZEROES, NBD_CMD_FLAG_FAST_ZERO, 0, 512),
			 NBD_EINVAL);
	assert_int_equal(check(l, NBD_CMD_WRITE, 0x8000, 0, 512), NBD_EINVAL);
	assert_int_equal(check(l, NBD_CMD_FLUSH, NBD_CMD_FLAG_FUA, 0, 0), NBD_EINVAL);
	/* what the export does not offer */
	assert_int_equal(check(&bare, NBD_CMD_FLUSH, 0, 0, 0), NBD_EINVAL);
	assert_int_equal(check(&bare, NBD_CMD_TRIM, 0, 0, 512), NBD_EINVAL);
	assert_int_equal(check(&bare, NBD_CMD_WRITE_ZEROES, 0, 0, 512), NBD_EINVAL);
	assert_int_equal(check(&bare, NBD_CMD_WRITE, NBD_CMD_FLAG_FUA, 0, 512), NBD_EINVAL);
	assert_int_equal(check(&bare, NBD_CMD_WRITE, 0, 0, 512), 0);
}

static void read_only_exports_refuse_modifications(void **state)
{
	struct nbd_limits l = rw_limits;

	l.export_flags |= NBD_EXPORT_READONLY;
	assert_int_equal(check(&l, NBD_CMD_WRITE, 0, 0, 512), NBD_EPERM);
	assert_int_equal(check(&l, NBD_CMD_TRIM, 0, 0, 512), NBD_EPERM);
	assert_int_equal(check(&l, NBD_CMD_WRITE_ZEROES, 0, 0, 512), NBD_EPERM);
	assert_int_equal(check(&l, NBD_CMD_READ, 0, 0, 512), 0);
	assert_int_equal(check(&l, NBD_CMD_FLUSH, 0, 0, 0), 0);
}

static void alignment_is_enforced(void **state)
{
	struct nbd_limits l = rw_limits;

	l.min_block = 512;
	assert_int_equal(check(&l, NBD_CMD_READ, 0, 512, 1024), 0);
	assert_int_equal(check(&l, NBD_CMD_READ, 0, 1, 512), NBD_EINVAL);
	assert_int_equal(check(&l, NBD_CMD_READ, 0, 512, 511), NBD_EINVAL);
	assert_int_equal(check(&l, NBD_CMD_WRITE, 0, 0, 513), NBD_EINVAL);
	assert_int_equal(check(&l, NBD_CMD_TRIM, 0, 4095, 512), NBD_EINVAL);
}

static void transmission_flags_follow_the_export(void **state)
{
	assert_int_equal(nbd_transmission_flags(0), NBD_FLAG_HAS_FLAGS);
	assert_int_equal(nbd_transmission_flags(NBD_EXPORT_READONLY),
			 NBD_FLAG_HAS_FLAGS | NBD_FLAG_READ_ONLY);
	assert_int_equal(nbd_transmission_flags(NBD_EXPORT_FLUSH),
			 NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA);
	assert_int_equal(nbd_transmission_flags(NBD_EXPORT_TRIM | NBD_EXPORT_WRITE_ZEROES |
						NBD_EXPORT_MULTI_CONN),
			 NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_TRIM | NBD_FLAG_SEND_WRITE_ZEROES |
				 NBD_FLAG_CAN_MULTI_CONN);
}

static void errnos_map_to_nbd_errors(void **state)
{
	assert_int_equal(nbd_errno_to_wire(0), 0);
	assert_int_equal(nbd_errno_to_wire(-EPERM), NBD_EPERM);
	assert_int_equal(nbd_errno_to_wire(-EROFS), NBD_EPERM);
	assert_int_equal(nbd_errno_to_wire(-EIO), NBD_EIO);
	assert_int_equal(nbd_errno_to_wire(-ENOMEM), NBD_ENOMEM);
	assert_int_equal(nbd_errno_to_wire(-EINVAL), NBD_EINVAL);
	assert_int_equal(nbd_errno_to_wire(-ENOSPC), NBD_ENOSPC);
	assert_int_equal(nbd_errno_to_wire(-EDQUOT), NBD_ENOSPC);
	assert_int_equal(nbd_errno_to_wire(-EOVERFLOW), NBD_EOVERFLOW);
	assert_int_equal(nbd_errno_to_wire(-ENOTSUP), NBD_ENOTSUP);
	assert_int_equal(nbd_errno_to_wire(-ESHUTDOWN), NBD_ESHUTDOWN);
	assert_int_equal(nbd_errno_to_wire(-ENOENT), NBD_EIO); /* anything else */
	assert_int_equal(nbd_errno_to_wire(-ENOMEDIUM), NBD_EIO);
}

static void replies_encode_as_the_spec_says(void **state)
{
	static const uint8_t greeting[] = { 'N', 'B', 'D', 'M', 'A', 'G', 'I', 'C', 'I',
					    'H', 'A', 'V', 'E', 'O', 'P', 'T', 0,   3 };
	static const uint8_t rep[] = { 0x00, 0x03, 0xe8, 0x89, 0x04, 0x55, 0x65, 0xa9, 0, 0,
				       0,    7,	   0x80, 0,    0,    1,	   0,	 0,    0, 0 };
	static const uint8_t simple[] = { 0x67, 0x44, 0x66, 0x98, 0, 0, 0, 22,
					  1,	2,    3,    4,	  5, 6, 7, 8 };
	uint8_t buf[32];

	nbd_greeting_encode(buf);
	assert_memory_equal(buf, greeting, sizeof(greeting));
	nbd_rep_header_encode(buf, NBD_OPT_GO, NBD_REP_ERR_UNSUP, 0);
	assert_memory_equal(buf, rep, sizeof(rep));
	nbd_simple_reply_encode(buf, NBD_EINVAL, 0x0102030405060708ull);
	assert_memory_equal(buf, simple, sizeof(simple));
}

/* Random headers and payloads: whatever passes the checks is really within the export. */
static void random_input_never_passes_out_of_bounds(void **state)
{
	struct nbd_limits l = rw_limits;
	uint8_t buf[256];

	srand(12345);
	for (int i = 0; i < 200000; i++) {
		struct nbd_req_header h;
		struct nbd_info_request ir;
		uint32_t len = (uint32_t)rand() % sizeof(buf);

		for (size_t k = 0; k < sizeof(buf); k++)
			buf[k] = (uint8_t)rand();
		if (i & 1) { /* small names and counts, so that some parse */
			nbd_put32(buf, (uint32_t)rand() % 64);
			buf[4 + nbd_get32(buf)] = 0;
		}
		if (nbd_info_request_parse(buf, len, &ir) == 0)
			assert_int_equal(4 + ir.name_len + 2 + 2u * ir.nr_requests, len);

		nbd_put32(buf, NBD_REQUEST_MAGIC);
		buf[4] = (uint8_t)(rand() & 1 ? 0 : rand()); /* flags: often none */
		nbd_put16(buf + 6, (uint16_t)(rand() % 9));
		if (rand() & 1) /* offsets near the export, or anywhere */
			nbd_put64(buf + 16, (uint64_t)rand() % (2u << 20));
		if (rand() & 1)
			nbd_put32(buf + 24, (uint32_t)rand() % (128u << 10));
		l.min_block = 1u << (rand() % 13);
		l.export_flags = (uint32_t)rand() & NBD_EXPORT_ALL_FLAGS;
		assert_int_equal(nbd_request_decode(buf, &h), 0);
		if (nbd_request_check(&h, &l) == 0 && h.type != NBD_CMD_FLUSH) {
			assert_true(h.length > 0);
			assert_true(h.offset <= l.size && h.length <= l.size - h.offset);
			assert_int_equal((h.offset | h.length) & (l.min_block - 1), 0);
			if (h.type == NBD_CMD_READ || h.type == NBD_CMD_WRITE)
				assert_true(h.length <= l.max_request);
			if (l.export_flags & NBD_EXPORT_READONLY)
				assert_int_equal(h.type, NBD_CMD_READ);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(option_header_needs_ihaveopt),
		cmocka_unit_test(info_request_parses_names_and_requests),
		cmocka_unit_test(info_request_refuses_inconsistent_lengths),
		cmocka_unit_test(request_header_needs_magic),
		cmocka_unit_test(requests_within_the_export_pass),
		cmocka_unit_test(requests_out_of_bounds_fail_as_the_spec_says),
		cmocka_unit_test(unknown_commands_and_flags_are_invalid),
		cmocka_unit_test(read_only_exports_refuse_modifications),
		cmocka_unit_test(alignment_is_enforced),
		cmocka_unit_test(transmission_flags_follow_the_export),
		cmocka_unit_test(errnos_map_to_nbd_errors),
		cmocka_unit_test(replies_encode_as_the_spec_says),
		cmocka_unit_test(random_input_never_passes_out_of_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
