/* The nodes a transaction has looked at, each with its generation when first seen (0: absent):
 * at commit, any of them changed since means another writer got there first (EAGAIN). */
#ifndef SIMXEN_XENSTORED_ACCESS_H
#define SIMXEN_XENSTORED_ACCESS_H

#include <stdint.h>

struct access_set;

/* max_entries bounds the set (0: unbounded); a record beyond it fails with -ENOSPC. */
struct access_set *access_set_new(unsigned int max_entries);
void access_set_free(struct access_set *set);

/* Remembers path's generation unless path is already in the set. 0, -ENOSPC or -ENOMEM. */
int access_set_record(struct access_set *set, const char *path, uint64_t gen);

/* Calls fn for every entry until it returns non-zero, which is returned. */
int access_set_foreach(const struct access_set *set,
		       int (*fn)(void *arg, const char *path, uint64_t gen), void *arg);

#endif
