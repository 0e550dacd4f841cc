/* The x86_32/x86_64 ring layouts in ringtap/blkif_abi.h match the ABIs of <xen/io/blkif.h>:
 * x86_64 against the native (x86_64) structures, x86_32 against the i386 rules. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <cmocka.h>

#include "ringtap/blkif_abi.h"

#define OFF(t, f) offsetof(struct t, f)

static void x86_64_request_matches_native(void **state)
{
	assert_int_equal(sizeof(struct blkif_x86_64_request), sizeof(struct blkif_request));
	assert_int_equal(OFF(blkif_x86_64_request, u.rw.nr_segments),
			 offsetof(struct blkif_request, nr_segments));
	assert_int_equal(OFF(blkif_x86_64_request, u.rw.handle),
			 offsetof(struct blkif_request, handle));
	assert_int_equal(OFF(blkif_x86_64_request, u.rw.id), offsetof(struct blkif_request, id));
	assert_int_equal(OFF(blkif_x86_64_request, u.rw.sector_number),
			 offsetof(struct blkif_request, sector_number));
	assert_int_equal(OFF(blkif_x86_64_request, u.rw.seg), offsetof(struct blkif_request, seg));
}

static void x86_64_discard_and_indirect_match_native(void **state)
{
	assert_int_equal(OFF(blkif_x86_64_request, u.discard.flag),
			 offsetof(struct blkif_request_discard, flag));
	assert_int_equal(OFF(blkif_x86_64_request, u.discard.id),
			 offsetof(struct blkif_request_discard, id));
	assert_int_equal(OFF(blkif_x86_64_request, u.discard.sector_number),
			 offsetof(struct blkif_request_discard, sector_number));
	assert_int_equal(OFF(blkif_x86_64_request, u.discard.nr_sectors),
			 offsetof(struct blkif_request_discard, nr_sectors));
	assert_int_equal(OFF(blkif_x86_64_request, u.indirect.indirect_op),
			 offsetof(struct blkif_request_indirect, indirect_op));
	assert_int_equal(OFF(blkif_x86_64_request, u.indirect.nr_segments),
			 offsetof(struct blkif_request_indirect, nr_segments));
	assert_int_equal(OFF(blkif_x86_64_request, u.indirect.id),
			 offsetof(struct blkif_request_indirect, id));
	assert_int_equal(OFF(blkif_x86_64_request, u.indirect.sector_number),
			 offsetof(struct blkif_request_indirect, sector_number));
	assert_int_equal(OFF(blkif_x86_64_request, u.indirect.handle),
			 offsetof(struct blkif_request_indirect, handle));
	assert_int_equal(OFF(blkif_x86_64_request, u.indirect.indirect_grefs),
			 offsetof(struct blkif_request_indirect, indirect_grefs));
	assert_true(sizeof(struct blkif_request_indirect) <= sizeof(struct blkif_request));
}

static void x86_64_response_and_ring_match_native(void **state)
{
	assert_int_equal(sizeof(struct blkif_x86_64_response), sizeof(struct blkif_response));
	assert_int_equal(OFF(blkif_x86_64_response, operation),
			 offsetof(struct blkif_response, operation));
	assert_int_equal(OFF(blkif_x86_64_response, status),
			 offsetof(struct blkif_response, status));
	assert_int_equal(__CONST_RING_SIZE(blkif_x86_64, 4096), __CONST_RING_SIZE(blkif, 4096));
	assert_int_equal(sizeof(union blkif_x86_64_sring_entry), sizeof(union blkif_sring_entry));
}

/* i386: 8-byte fields are 4-byte aligned, so there is no padding before `id`. */
static void x86_32_layout_follows_i386_rules(void **state)
{
	assert_int_equal(OFF(blkif_x86_32_request, u.rw.nr_segments), 1);
	assert_int_equal(OFF(blkif_x86_32_request, u.rw.handle), 2);
	assert_int_equal(OFF(blkif_x86_32_request, u.rw.id), 4);
	assert_int_equal(OFF(blkif_x86_32_request, u.rw.sector_number), 12);
	assert_int_equal(OFF(blkif_x86_32_request, u.rw.seg), 20);
	assert_int_equal(OFF(blkif_x86_32_request, u.discard.nr_sectors), 20);
	assert_int_equal(OFF(blkif_x86_32_request, u.indirect.nr_segments), 2);
	assert_int_equal(OFF(blkif_x86_32_request, u.indirect.id), 4);
	assert_int_equal(OFF(blkif_x86_32_request, u.indirect.sector_number), 12);
	assert_int_equal(OFF(blkif_x86_32_request, u.indirect.handle), 20);
	assert_int_equal(OFF(blkif_x86_32_request, u.indirect.indirect_grefs), 24);
	assert_int_equal(sizeof(struct blkif_x86_32_request), 108);
	assert_int_equal(1 + sizeof(struct blkif_x86_32_request_indirect), 64);
	assert_int_equal(OFF(blkif_x86_32_response, operation), 8);
	assert_int_equal(OFF(blkif_x86_32_response, status), 10);
	assert_int_equal(sizeof(struct blkif_x86_32_response), 12);
	assert_int_equal(sizeof(union blkif_x86_32_sring_entry), 108);
	assert_int_equal(__CONST_RING_SIZE(blkif_x86_32, 4096), 32);
}

static void protocol_names_parse(void **state)
{
	enum blkif_abi abi = BLKIF_ABI_X86_32;

	assert_int_equal(blkif_abi_from_protocol(NULL, &abi), 0);
	assert_int_equal(abi, BLKIF_ABI_NATIVE);
	assert_int_equal(blkif_abi_from_protocol("x86_32-abi", &abi), 0);
	assert_int_equal(abi, BLKIF_ABI_X86_32);
	assert_int_equal(blkif_abi_from_protocol("x86_64-abi", &abi), 0);
	assert_int_equal(abi, BLKIF_ABI_NATIVE);
	assert_int_equal(blkif_abi_from_protocol("arm-abi", &abi), -EINVAL);
	assert_int_equal(blkif_abi_from_protocol("x86_32-abi-and-more", &abi), -EINVAL);
	assert_string_equal(blkif_abi_name(BLKIF_ABI_X86_32), "x86_32-abi");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(x86_64_request_matches_native),
		cmocka_unit_test(x86_64_discard_and_indirect_match_native),
		cmocka_unit_test(x86_64_response_and_ring_match_native),
		cmocka_unit_test(x86_32_layout_follows_i386_rules),
		cmocka_unit_test(protocol_names_parse),
	};
	return cmocka_run_group_tests_name("blkif_abi", tests, NULL, NULL);
}
