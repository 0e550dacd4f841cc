/* The persistent-grant cache: map once, hit afterwards, evict the least recently used idle
 * mapping when full, never an in-use one, and recover from map failures. The callbacks name the
 * entry's index (the ring's fixed-buffer slot): one mapping per index at a time, unmapped with
 * the index it was mapped with, and an evicted entry's index is the new mapping's. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include "src/pgrant.h"

struct fake {
	char pages[64][4096];
	int mapped[64];
	unsigned int maps, unmaps;
	grant_ref_t bad; /* map fails for this ref */
	void *slot[3]; /* per entry index (the cache's capacity): the page mapped there */
	uint32_t last_index; /* of the last map */
};

static void *fake_map(void *ctx, grant_ref_t gref, uint32_t index)
{
	struct fake *f = ctx;

	if (gref == f->bad || gref >= 64) {
		errno = EPERM;
		return NULL;
	}
	assert_true(index < 3);
	assert_null(f->slot[index]); /* an index holds one mapping at a time */
	f->slot[index] = f->pages[gref];
	f->last_index = index;
	f->maps++;
	f->mapped[gref]++;
	return f->pages[gref];
}

static void fake_unmap(void *ctx, void *addr, uint32_t index)
{
	struct fake *f = ctx;
	size_t i = (size_t)((char (*)[4096])addr - f->pages);

	assert_true(index < 3);
	assert_ptr_equal(f->slot[index], addr); /* unmapped with the index it was mapped with */
	f->slot[index] = NULL;
	f->unmaps++;
	f->mapped[i]--;
}

static struct fake fk;

static int setup(void **state)
{
	struct td_pgrant_ops ops = { fake_map, fake_unmap, &fk };
	static struct td_pgrant_cache c;

	memset(&fk, 0, sizeof(fk));
	fk.bad = 63;
	assert_int_equal(td_pgrant_init(&c, 3, &ops), 0);
	*state = &c;
	return 0;
}

static int teardown(void **state)
{
	td_pgrant_fini(*state);
	for (int i = 0; i < 64; i++)
		assert_int_equal(fk.mapped[i], 0); /* fini unmaps everything */
	for (int i = 0; i < 3; i++)
		assert_null(fk.slot[i]);
	return 0;
}

static void maps_once_then_hits(void **state)
{
	struct td_pgrant_cache *c = *state;
	struct td_pgrant *a, *b;
	int err = 0;

	a = td_pgrant_get(c, 5, &err);
	assert_non_null(a);
	assert_ptr_equal(a->addr, fk.pages[5]);
	td_pgrant_put(c, a);
	b = td_pgrant_get(c, 5, &err);
	assert_ptr_equal(a, b);
	td_pgrant_put(c, b);
	assert_int_equal(fk.maps, 1);
	assert_int_equal(c->stats.hits, 1);
	assert_int_equal(c->stats.misses, 1);
}

static void evicts_least_recently_used_idle(void **state)
{
	struct td_pgrant_cache *c = *state;
	struct td_pgrant *p[3];
	int err = 0;

	for (int i = 0; i < 3; i++) {
		p[i] = td_pgrant_get(c, (grant_ref_t)(10 + i), &err);
		assert_non_null(p[i]);
	}
	td_pgrant_put(c, p[1]); /* idle order: 11, 10, 12 */
	td_pgrant_put(c, p[0]);
	td_pgrant_put(c, p[2]);
	assert_non_null(td_pgrant_get(c, 20, &err)); /* evicts 11 */
	assert_int_equal(fk.last_index, (uint32_t)(p[1] - c->entries)); /* 11's index, reused */
	assert_ptr_equal(fk.slot[fk.last_index], fk.pages[20]);
	assert_int_equal(fk.mapped[11], 0);
	assert_int_equal(fk.mapped[10], 1);
	assert_int_equal(c->stats.evictions, 1);
	/* 10 is used again, so 12 is now the least recently used */
	td_pgrant_put(c, td_pgrant_get(c, 10, &err));
	assert_non_null(td_pgrant_get(c, 21, &err));
	assert_int_equal(fk.mapped[12], 0);
	assert_int_equal(fk.mapped[10], 1);
}

static void never_evicts_in_use(void **state)
{
	struct td_pgrant_cache *c = *state;
	int err = 0;

	assert_non_null(td_pgrant_get(c, 1, &err));
	assert_non_null(td_pgrant_get(c, 2, &err));
	assert_non_null(td_pgrant_get(c, 3, &err));
	assert_null(td_pgrant_get(c, 4, &err));
	assert_int_equal(err, -ENOSPC);
	assert_int_equal(c->stats.full, 1);
	assert_int_equal(fk.unmaps, 0);
	/* two users of the same mapping: idle only after both put it */
	struct td_pgrant *x = td_pgrant_get(c, 1, &err);

	td_pgrant_put(c, x);
	assert_null(td_pgrant_get(c, 4, &err));
	td_pgrant_put(c, x);
	assert_non_null(td_pgrant_get(c, 4, &err));
	assert_int_equal(fk.mapped[1], 0);
}

static void map_failure_keeps_the_cache_consistent(void **state)
{
	struct td_pgrant_cache *c = *state;
	int err = 0;

	assert_null(td_pgrant_get(c, 63, &err));
	assert_int_equal(err, -EPERM);
	assert_int_equal(c->count, 0);
	assert_int_equal(c->stats.map_failures, 1);
	for (grant_ref_t g = 0; g < 3; g++)
		assert_non_null(td_pgrant_get(c, g, &err)); /* the whole capacity is still there */
	assert_null(td_pgrant_get(c, 63, &err));
	assert_int_equal(err, -ENOSPC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(maps_once_then_hits, setup, teardown),
		cmocka_unit_test_setup_teardown(evicts_least_recently_used_idle, setup, teardown),
		cmocka_unit_test_setup_teardown(never_evicts_in_use, setup, teardown),
		cmocka_unit_test_setup_teardown(map_failure_keeps_the_cache_consistent, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
