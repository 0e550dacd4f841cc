/* The persistent-grant pool grows lazily in chunks up to its maximum, hands pages back LIFO,
 * says -EAGAIN when full, passes grant failures on, and releases every chunk. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <stdlib.h>
#include <cmocka.h>

#include "lib/blkfront/blkfront_int.h"

struct fake {
	unsigned int grows, released, next_ref;
	int fail;
	char mem[64][16];
	unsigned int used;
};

static void *fake_grow(void *ctx, unsigned int count, struct bf_page *pages)
{
	struct fake *f = ctx;
	unsigned int i;

	if (f->fail) {
		errno = f->fail;
		return NULL;
	}
	f->grows++;
	for (i = 0; i < count; i++) {
		pages[i].addr = f->mem[f->used + i];
		pages[i].ref = f->next_ref++;
	}
	f->used += count;
	return f->mem[f->used - count];
}

static void fake_release(void *ctx, void *base, unsigned int count)
{
	struct fake *f = ctx;

	f->released += count;
}

static void grows_in_chunks_up_to_max(void **state)
{
	struct fake f = { 0 };
	struct bf_pool pool;
	struct bf_page *p[24];

	bf_pool_init(&pool, 20, 8, fake_grow, fake_release, &f);
	assert_int_equal(pool.total, 0);
	assert_int_equal(bf_pool_get(&pool, 3, p), 0);
	assert_int_equal(f.grows, 1);
	assert_int_equal(pool.total, 8);
	assert_int_equal(bf_pool_get(&pool, 5, p + 3), 0);
	assert_int_equal(f.grows, 1);
	assert_int_equal(bf_pool_get(&pool, 10, p + 8), 0);
	assert_int_equal(f.grows, 2);
	assert_int_equal(pool.total, 18);
	/* 2 left to grow, 0 free: 3 is more than can ever come without returns */
	assert_int_equal(bf_pool_get(&pool, 3, p), -EAGAIN);
	assert_int_equal(bf_pool_get(&pool, 21, p), -EINVAL);
	bf_pool_put(&pool, p, 18);
	assert_int_equal(pool.nfree, 18);
	bf_pool_destroy(&pool);
	assert_int_equal(f.released, 18);
}

static void pages_come_back_lifo(void **state)
{
	struct fake f = { 0 };
	struct bf_pool pool;
	struct bf_page *a[2], *b[2];

	bf_pool_init(&pool, 16, 4, fake_grow, fake_release, &f);
	assert_int_equal(bf_pool_get(&pool, 2, a), 0);
	bf_pool_put(&pool, a, 2);
	assert_int_equal(bf_pool_get(&pool, 2, b), 0);
	/* the same grants are reused first, in the same order */
	assert_ptr_equal(a[0], b[0]);
	assert_ptr_equal(a[1], b[1]);
	assert_int_not_equal(b[0]->ref, b[1]->ref);
	bf_pool_put(&pool, b, 2);
	bf_pool_destroy(&pool);
}

static void grant_failure_is_reported(void **state)
{
	struct fake f = { .fail = ENOSPC };
	struct bf_pool pool;
	struct bf_page *p[1];

	bf_pool_init(&pool, 16, 4, fake_grow, fake_release, &f);
	assert_int_equal(bf_pool_get(&pool, 1, p), -ENOSPC);
	assert_int_equal(pool.total, 0);
	f.fail = 0;
	assert_int_equal(bf_pool_get(&pool, 1, p), 0);
	bf_pool_destroy(&pool);
	assert_int_equal(f.released, 4);
}

static void exhausted_pool_waits_for_returns(void **state)
{
	struct fake f = { 0 };
	struct bf_pool pool;
	struct bf_page *p[4], *q[1];

	bf_pool_init(&pool, 4, 4, fake_grow, fake_release, &f);
	assert_int_equal(bf_pool_get(&pool, 4, p), 0);
	assert_int_equal(bf_pool_get(&pool, 1, q), -EAGAIN);
	bf_pool_put(&pool, p + 3, 1);
	assert_int_equal(bf_pool_get(&pool, 1, q), 0);
	assert_ptr_equal(q[0], p[3]);
	assert_int_equal(f.grows, 1);
	bf_pool_destroy(&pool);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(grows_in_chunks_up_to_max),
		cmocka_unit_test(pages_come_back_lifo),
		cmocka_unit_test(grant_failure_is_reported),
		cmocka_unit_test(exhausted_pool_waits_for_returns),
	};
	return cmocka_run_group_tests_name("blkfront_pool", tests, NULL, NULL);
}
