/* The xenstore tree (see store.h). Lookups walk components; children are kept in creation order
 * because that is the order xenstored's DIRECTORY reply uses. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tools/simxen/xenstored/path.h"
#include "tools/simxen/xenstored/store.h"

static uint64_t next_gen(struct xs_store *s)
{
	return ++*s->gen_counter;
}

static int record(struct xs_store *s, const char *path, const struct xs_node *n)
{
	if (!s->access)
		return 0;
	return access_set_record(s->access, path, n ? n->gen : 0);
}

static void owner_add(struct xs_store *s, uint16_t domid, int delta)
{
	unsigned int i;
	struct owner_count *o;

	for (i = 0; i < s->nr_owners; i++) {
		if (s->owners[i].domid == domid) {
			s->owners[i].nodes += (unsigned int)delta;
			return;
		}
	}
	if (delta < 0)
		return;
	o = realloc(s->owners, (s->nr_owners + 1) * sizeof(*o));
	if (!o)
		return; /* quota accounting is best effort; never fails an operation */
	s->owners = o;
	o[s->nr_owners].domid = domid;
	o[s->nr_owners].nodes = (unsigned int)delta;
	s->nr_owners++;
}

unsigned int store_owned(const struct xs_store *s, uint16_t domid)
{
	unsigned int i;

	for (i = 0; i < s->nr_owners; i++)
		if (s->owners[i].domid == domid)
			return s->owners[i].nodes;
	return 0;
}

static void node_free(struct xs_node *n)
{
	unsigned int i;

	for (i = 0; i < n->nr_child; i++)
		node_free(n->child[i]);
	free(n->child);
	free(n->name);
	free(n->value);
	perms_free(&n->perms);
	free(n);
}

static struct xs_node *node_new(const char *name, size_t name_len)
{
	struct xs_node *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	n->name = strndup(name, name_len);
	if (!n->name) {
		free(n);
		return NULL;
	}
	return n;
}

struct xs_store *store_new(uint64_t *gen_counter)
{
	struct xs_store *s = calloc(1, sizeof(*s));
	struct xs_perm owner = { .domid = 0, .mode = XS_PERM_NONE };
	struct xs_perms perms = { .nr = 1, .p = &owner };

	if (!s)
		return NULL;
	s->gen_counter = gen_counter;
	s->root = node_new("", 0);
	if (!s->root || perms_copy(&s->root->perms, &perms) < 0) {
		store_free(s);
		return NULL;
	}
	s->root->gen = next_gen(s);
	owner_add(s, 0, 1);
	return s;
}

static struct xs_node *node_clone(const struct xs_node *src, struct xs_node *parent)
{
	struct xs_node *n = node_new(src->name, strlen(src->name));
	unsigned int i;

	if (!n)
		return NULL;
	n->parent = parent;
	n->gen = src->gen;
	if (perms_copy(&n->perms, &src->perms) < 0)
		goto fail;
	if (src->value_len) {
		n->value = malloc(src->value_len);
		if (!n->value)
			goto fail;
		memcpy(n->value, src->value, src->value_len);
		n->value_len = src->value_len;
	}
	if (src->nr_child) {
		n->child = calloc(src->nr_child, sizeof(*n->child));
		if (!n->child)
			goto fail;
		n->cap_child = src->nr_child;
		for (i = 0; i < src->nr_child; i++) {
			n->child[i] = node_clone(src->child[i], n);
			if (!n->child[i])
				goto fail;
			n->nr_child++;
		}
	}
	return n;
fail:
	node_free(n);
	return NULL;
}

struct xs_store *store_clone(const struct xs_store *src, struct access_set *access)
{
	struct xs_store *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->gen_counter = src->gen_counter;
	s->access = access;
	s->root = node_clone(src->root, NULL);
	s->owners = malloc((src->nr_owners + 1) * sizeof(*s->owners));
	if (!s->root || !s->owners) {
		store_free(s);
		return NULL;
	}
	memcpy(s->owners, src->owners, src->nr_owners * sizeof(*s->owners));
	s->nr_owners = src->nr_owners;
	return s;
}

void store_free(struct xs_store *s)
{
	if (!s)
		return;
	if (s->root)
		node_free(s->root);
	free(s->owners);
	free(s);
}

static struct xs_node *child_find(const struct xs_node *n, const char *name, size_t len)
{
	unsigned int i;

	for (i = 0; i < n->nr_child; i++)
		if (strncmp(n->child[i]->name, name, len) == 0 && n->child[i]->name[len] == '\0')
			return n->child[i];
	return NULL;
}

/* Walks path as far as it exists; *rest points at the first missing component (or ""). */
static struct xs_node *walk(struct xs_node *root, const char *path, const char **rest)
{
	struct xs_node *n = root;
	const char *p = path + 1; /* skip the leading '/' */

	while (*p) {
		size_t len = strcspn(p, "/");
		struct xs_node *c = child_find(n, p, len);

		if (!c)
			break;
		n = c;
		p += len;
		if (*p == '/')
			p++;
	}
	*rest = p;
	return n;
}

int store_get(struct xs_store *s, const char *path, struct xs_node **out)
{
	const char *rest;
	struct xs_node *n = walk(s->root, path, &rest);

	*out = *rest ? NULL : n;
	return record(s, path, *out);
}

int store_nearest(struct xs_store *s, const char *path, struct xs_node **out)
{
	const char *rest;
	char buf[PATH_BUF_SIZE];
	size_t len;

	*out = walk(s->root, path, &rest);
	/* The prefix of path that exists, without the separator before `rest`. */
	len = (size_t)(rest - path);
	if (*rest && len > 1)
		len--;
	if (len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, path, len);
	buf[len] = '\0';
	return record(s, buf, *out);
}

static int child_add(struct xs_store *s, struct xs_node *parent, struct xs_node *c)
{
	if (parent->nr_child == parent->cap_child) {
		unsigned int cap = parent->cap_child ? parent->cap_child * 2 : 4;
		struct xs_node **v = realloc(parent->child, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		parent->child = v;
		parent->cap_child = cap;
	}
	parent->child[parent->nr_child++] = c;
	c->parent = parent;
	parent->gen = next_gen(s);
	return 0;
}

int store_create(struct xs_store *s, const char *path, int owner, struct xs_node **out)
{
	const char *rest;
	struct xs_node *n = walk(s->root, path, &rest);
	char buf[PATH_BUF_SIZE];
	int rc;

	while (*rest) {
		size_t len = strcspn(rest, "/");
		size_t plen = (size_t)(rest - path) + len;
		struct xs_node *c;

		if (plen >= sizeof(buf))
			return -EINVAL;
		/* The parent's child list changes, and the new node was absent. */
		memcpy(buf, path, (size_t)(rest - path));
		buf[rest - path > 1 ? rest - path - 1 : 1] = '\0';
		rc = record(s, buf, n);
		if (rc < 0)
			return rc;
		memcpy(buf, path, plen);
		buf[plen] = '\0';
		rc = record(s, buf, NULL);
		if (rc < 0)
			return rc;

		c = node_new(rest, len);
		if (!c)
			return -ENOMEM;
		if (perms_copy(&c->perms, &n->perms) < 0) {
			node_free(c);
			return -ENOMEM;
		}
		if (owner >= 0)
			c->perms.p[0].domid = (uint16_t)owner;
		c->gen = next_gen(s);
		rc = child_add(s, n, c);
		if (rc < 0) {
			node_free(c);
			return rc;
		}
		owner_add(s, c->perms.p[0].domid, 1);
		n = c;
		rest += len;
		if (*rest == '/')
			rest++;
	}
	*out = n;
	return 0;
}

int store_set_value(struct xs_store *s, const char *path, struct xs_node *n, const void *value,
		    unsigned int len)
{
	char *v = NULL;
	int rc = record(s, path, n);

	if (rc < 0)
		return rc;
	if (len) {
		v = malloc(len);
		if (!v)
			return -ENOMEM;
		memcpy(v, value, len);
	}
	free(n->value);
	n->value = v;
	n->value_len = len;
	n->gen = next_gen(s);
	return 0;
}

int store_set_perms(struct xs_store *s, const char *path, struct xs_node *n,
		    const struct xs_perms *perms)
{
	struct xs_perms copy;
	int rc = record(s, path, n);

	if (rc < 0)
		return rc;
	rc = perms_copy(&copy, perms);
	if (rc < 0)
		return rc;
	owner_add(s, n->perms.p[0].domid, -1);
	owner_add(s, copy.p[0].domid, 1);
	perms_free(&n->perms);
	n->perms = copy;
	n->gen = next_gen(s);
	return 0;
}

/* Records n's subtree (path in buf, of length len) before it goes away. */
static int record_subtree(struct xs_store *s, char *buf, size_t len, const struct xs_node *n)
{
	unsigned int i;
	int rc;

	buf[len] = '\0';
	rc = record(s, buf, n);
	for (i = 0; rc == 0 && i < n->nr_child; i++) {
		size_t clen = strlen(n->child[i]->name);

		if (len + 1 + clen >= PATH_BUF_SIZE)
			return -EINVAL;
		buf[len] = '/';
		memcpy(buf + len + 1, n->child[i]->name, clen + 1);
		rc = record_subtree(s, buf, len + 1 + clen, n->child[i]);
	}
	buf[len] = '\0';
	return rc;
}

static void owners_drop(struct xs_store *s, const struct xs_node *n)
{
	unsigned int i;

	owner_add(s, n->perms.p[0].domid, -1);
	for (i = 0; i < n->nr_child; i++)
		owners_drop(s, n->child[i]);
}

int store_delete(struct xs_store *s, const char *path, struct xs_node *n)
{
	struct xs_node *parent = n->parent;
	char buf[PATH_BUF_SIZE];
	unsigned int i;
	size_t len = strlen(path);
	int rc;

	if (!parent || len >= sizeof(buf))
		return -EINVAL;
	if (s->access) {
		memcpy(buf, path, len + 1);
		rc = record_subtree(s, buf, len, n);
		if (rc < 0)
			return rc;
		/* The parent's list of children changes. */
		len = (size_t)(strrchr(buf, '/') - buf);
		buf[len ? len : 1] = '\0';
		rc = record(s, buf, parent);
		if (rc < 0)
			return rc;
	}
	for (i = 0; i < parent->nr_child && parent->child[i] != n; i++)
		;
	if (i == parent->nr_child)
		return -EINVAL;
	memmove(&parent->child[i], &parent->child[i + 1],
		(parent->nr_child - i - 1) * sizeof(*parent->child));
	parent->nr_child--;
	parent->gen = next_gen(s);
	owners_drop(s, n);
	node_free(n);
	return 0;
}

unsigned int store_path_depth(const char *path)
{
	unsigned int depth = 0;

	if (strcmp(path, "/") == 0)
		return 0;
	for (; *path; path++)
		if (*path == '/')
			depth++;
	return depth;
}

unsigned int store_node_depth(const struct xs_node *n)
{
	unsigned int depth = 0;

	for (; n->parent; n = n->parent)
		depth++;
	return depth;
}
