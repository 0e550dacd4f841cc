/* The rbd driver's open string (drivers/rbd_path.c): what it accepts, part by part, and every
 * refusal with its reason; hostile input (long parts, control bytes, repeated options). */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <string.h>
#include <cmocka.h>

#include "drivers/rbd_path.h"

static char why[256];

static void test_minimal(void **state)
{
	struct rbd_path p;

	(void)state;
	assert_int_equal(rbd_path_parse("rbd/vm-1.disk", &p, why, sizeof(why)), 0);
	assert_string_equal(p.pool, "rbd");
	assert_string_equal(p.image, "vm-1.disk");
	assert_string_equal(p.snap, "");
	assert_string_equal(p.conf, "");
	assert_string_equal(p.id, "");
	assert_string_equal(p.keyring, "");
}

static void test_everything(void **state)
{
	struct rbd_path p;

	(void)state;
	assert_int_equal(rbd_path_parse("pool_A/img+2@snap-1:conf=/etc/ceph/c.conf:id=xen:"
					"keyring=/etc/ceph/ceph.client.xen.keyring",
					&p, why, sizeof(why)),
			 0);
	assert_string_equal(p.pool, "pool_A");
	assert_string_equal(p.image, "img+2");
	assert_string_equal(p.snap, "snap-1");
	assert_string_equal(p.conf, "/etc/ceph/c.conf");
	assert_string_equal(p.id, "xen");
	assert_string_equal(p.keyring, "/etc/ceph/ceph.client.xen.keyring");
	/* options in any order */
	assert_int_equal(rbd_path_parse("p/i:id=a:conf=/c", &p, why, sizeof(why)), 0);
	assert_string_equal(p.id, "a");
	assert_string_equal(p.conf, "/c");
}

static void refused(const char *s, int err, const char *reason)
{
	struct rbd_path p;

	why[0] = '\0';
	assert_int_equal(rbd_path_parse(s, &p, why, sizeof(why)), err);
	if (!strstr(why, reason))
		fail_msg("'%s': reason '%s' does not say '%s'", s, why, reason);
}

static void test_refused(void **state)
{
	char long_name[200];

	(void)state;
	refused("", -EINVAL, "expected pool/image");
	refused("image", -EINVAL, "expected pool/image");
	refused("/image", -EINVAL, "empty pool");
	refused("pool/", -EINVAL, "empty image");
	refused("pool/img@", -EINVAL, "empty snapshot");
	refused("pool/a/b", -EINVAL, "image: character 0x2f");
	refused("pool/a@b@c", -EINVAL, "snapshot: character 0x40");
	refused("po ol/img", -EINVAL, "pool: character 0x20");
	refused("pool/im\ng", -EINVAL, "image: character 0x0a");
	refused("pool/\x80", -EINVAL, "image: character 0x80");
	refused("../img", -EINVAL, "pool '..' not allowed");
	refused("pool/.", -EINVAL, "image '.' not allowed");
	refused("pool/img:", -EINVAL, "is not key=value");
	refused("pool/img:conf", -EINVAL, "is not key=value");
	refused("pool/img:mon_host=1.2.3.4", -EINVAL, "unknown option 'mon_host'");
	refused("pool/img:conf=", -EINVAL, "empty conf");
	refused("pool/img:conf=etc/ceph.conf", -EINVAL, "absolute path");
	refused("pool/img:keyring=/a b", -EINVAL, "keyring: character 0x20");
	refused("pool/img:id=a/b", -EINVAL, "id: character 0x2f");
	refused("pool/img:id=a:id=b", -EINVAL, "option id given twice");
	refused("pool/img:conf=/a:conf=/a", -EINVAL, "option conf given twice");
	memset(long_name, 'x', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	memcpy(long_name, "p/", 2);
	refused(long_name, -ENAMETOOLONG, "image longer than 95 bytes");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_minimal),
		cmocka_unit_test(test_everything),
		cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
