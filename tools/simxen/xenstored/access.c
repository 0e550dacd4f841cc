/* A transaction's access set: an open-addressing hash table of paths (see access.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tools/simxen/xenstored/access.h"

struct access_entry {
	char *path; /* NULL: free slot */
	uint64_t gen;
};

struct access_set {
	struct access_entry *slots;
	unsigned int cap; /* power of two */
	unsigned int used;
	unsigned int max;
};

static uint64_t hash_path(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ull;
	return h;
}

static struct access_entry *find_slot(struct access_entry *slots, unsigned int cap,
				      const char *path)
{
	unsigned int i = (unsigned int)hash_path(path) & (cap - 1);

	while (slots[i].path && strcmp(slots[i].path, path) != 0)
		i = (i + 1) & (cap - 1);
	return &slots[i];
}

static int grow(struct access_set *set)
{
	unsigned int cap = set->cap ? set->cap * 2 : 64, i;
	struct access_entry *slots = calloc(cap, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	for (i = 0; i < set->cap; i++)
		if (set->slots[i].path)
			*find_slot(slots, cap, set->slots[i].path) = set->slots[i];
	free(set->slots);
	set->slots = slots;
	set->cap = cap;
	return 0;
}

struct access_set *access_set_new(unsigned int max_entries)
{
	struct access_set *set = calloc(1, sizeof(*set));

	if (set)
		set->max = max_entries;
	return set;
}

void access_set_free(struct access_set *set)
{
	unsigned int i;

	if (!set)
		return;
	for (i = 0; i < set->cap; i++)
		free(set->slots[i].path);
	free(set->slots);
	free(set);
}

int access_set_record(struct access_set *set, const char *path, uint64_t gen)
{
	struct access_entry *e;

	if ((set->used + 1) * 2 > set->cap) {
		int rc = grow(set);

		if (rc < 0)
			return rc;
	}
	e = find_slot(set->slots, set->cap, path);
	if (e->path)
		return 0;
	if (set->max && set->used >= set->max)
		return -ENOSPC;
	e->path = strdup(path);
	if (!e->path)
		return -ENOMEM;
	e->gen = gen;
	set->used++;
	return 0;
}

int access_set_foreach(const struct access_set *set,
		       int (*fn)(void *arg, const char *path, uint64_t gen), void *arg)
{
	unsigned int i;
	int rc;

	for (i = 0; i < set->cap; i++) {
		if (!set->slots[i].path)
			continue;
		rc = fn(arg, set->slots[i].path, set->slots[i].gen);
		if (rc)
			return rc;
	}
	return 0;
}
