/* The xenstore tree: nodes with a value, permissions, ordered children and a generation that
 * changes whenever the node's value, permissions or list of children change. A transaction works
 * on a clone that records every node it touches (access.h) so that its commit can be checked. */
#ifndef SIMXEN_XENSTORED_STORE_H
#define SIMXEN_XENSTORED_STORE_H

#include <stdint.h>

#include "tools/simxen/xenstored/access.h"
#include "tools/simxen/xenstored/perms.h"

struct xs_node {
	char *name; /* last path component; "" for the root */
	struct xs_node *parent;
	struct xs_node **child; /* in creation order, as xenstored lists them */
	unsigned int nr_child, cap_child;
	char *value;
	unsigned int value_len;
	struct xs_perms perms;
	uint64_t gen;
};

struct owner_count {
	uint16_t domid;
	unsigned int nodes;
};

struct xs_store {
	struct xs_node *root;
	uint64_t *gen_counter; /* shared by the live tree and its transaction clones */
	struct access_set *access; /* NULL for the live tree */
	struct owner_count *owners; /* nodes per owning domain, for quotas */
	unsigned int nr_owners;
};

/* A tree holding only "/" (owned by dom0, no access for others). NULL on ENOMEM. */
struct xs_store *store_new(uint64_t *gen_counter);
/* A copy of the tree that records its accesses into `access` (owned by the caller). */
struct xs_store *store_clone(const struct xs_store *s, struct access_set *access);
void store_free(struct xs_store *s);

/* Paths below are absolute and valid (path.h). Functions return 0 or -errno (-ENOSPC when a
 * transaction's access set is full, -ENOMEM). */

/* *out: the node, or NULL if absent. */
int store_get(struct xs_store *s, const char *path, struct xs_node **out);
/* *out: the deepest existing node on the way to path (path itself if it exists). */
int store_nearest(struct xs_store *s, const char *path, struct xs_node **out);
/* Creates path and its missing parents; new nodes inherit their parent's permissions, with the
 * owner replaced by `owner` when owner >= 0 (what an unprivileged creator gets). */
int store_create(struct xs_store *s, const char *path, int owner, struct xs_node **out);
int store_set_value(struct xs_store *s, const char *path, struct xs_node *n, const void *value,
		    unsigned int len);
int store_set_perms(struct xs_store *s, const char *path, struct xs_node *n,
		    const struct xs_perms *perms);
/* Removes n (at path, never the root) and everything below it. */
int store_delete(struct xs_store *s, const char *path, struct xs_node *n);

/* How many nodes domid owns. */
unsigned int store_owned(const struct xs_store *s, uint16_t domid);
/* Number of components of path ("/" has 0) and depth of a node. */
unsigned int store_path_depth(const char *path);
unsigned int store_node_depth(const struct xs_node *n);

#endif
