/* The xs_wire requests: argument checks, permission checks as xenstored does them, and the
 * reply (or the error name) sent back. Handlers work on the live tree or, inside a transaction,
 * on its snapshot; only live changes fire watches. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringtap/log.h"
#include "tools/simxen/xenstored/path.h"
#include "tools/simxen/xenstored/xenstored.h"

#define OP_TX 1u /* works inside a transaction when tx_id is set */
#define OP_MUTATES 2u /* replayed at commit */

struct op {
	struct xsd *d;
	struct conn *c;
	const struct xsd_sockmsg *hdr; /* NULL when replaying */
	struct xs_store *store;
	struct transaction *tx;
	bool replay;
	const char *in;
	unsigned int len;
	char out[XENSTORE_PAYLOAD_MAX];
	unsigned int out_len;
	struct watch *new_watch; /* gets its initial event after the reply */
};

/* ---- arguments and replies ------------------------------------------------------------------ */

/* Number of NUL-terminated strings in the payload (bytes after the last NUL are not one). */
static unsigned int nr_strings(const char *in, unsigned int len)
{
	unsigned int i, n = 0;

	for (i = 0; i < len; i++)
		if (in[i] == '\0')
			n++;
	return n;
}

/* The payload must be exactly one string: one NUL, at the end. */
static const char *onearg(const struct op *o)
{
	if (o->len == 0 || memchr(o->in, '\0', o->len) != o->in + o->len - 1)
		return NULL;
	return o->in;
}

static int reply_bytes(struct op *o, const void *p, unsigned int n)
{
	if (n == 0)
		return 0; /* p may be NULL: an empty value */
	if (n > sizeof(o->out) - o->out_len)
		return -E2BIG;
	memcpy(o->out + o->out_len, p, n);
	o->out_len += n;
	return 0;
}

static int reply_str(struct op *o, const char *s)
{
	return reply_bytes(o, s, (unsigned int)strlen(s) + 1);
}

static int parse_domid(const char *s, uint16_t *out)
{
	unsigned long v = 0;
	const char *p;

	if (!s || !*s || strlen(s) > 5)
		return -EINVAL;
	for (p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v > UINT16_MAX)
		return -EINVAL;
	*out = (uint16_t)v;
	return 0;
}

static int canonical(const struct op *o, const char *in, bool allow_special, char *out,
		     bool *relative)
{
	bool rel;

	if (!in)
		return -EINVAL;
	return path_canonical(o->c->domid, in, allow_special, out, relative ? relative : &rel);
}

/* ---- node access ---------------------------------------------------------------------------- */

static unsigned int perms_of(const struct op *o, const struct xs_node *n)
{
	return perms_for(&n->perms, o->c->domid, o->c->privileged);
}

/* Like xenstored's get_node: the node if the client has `want` on it; for a missing node,
 * -ENOENT only if the client could see that from the nearest existing ancestor, else -EACCES. */
static int get_node(struct op *o, const char *path, unsigned int want, struct xs_node **out)
{
	struct xs_node *n = NULL;
	int rc = store_get(o->store, path, &n);

	if (rc < 0)
		return rc;
	if (n) {
		if ((perms_of(o, n) & want) != want)
			return -EACCES;
		*out = n;
		return 0;
	}
	rc = store_nearest(o->store, path, &n);
	if (rc < 0)
		return rc;
	return (perms_of(o, n) & want) ? -ENOENT : -EACCES;
}

static int create_node(struct op *o, const char *path, struct xs_node **out)
{
	struct xs_node *anc;
	int rc = store_nearest(o->store, path, &anc);

	if (rc < 0)
		return rc;
	if (!o->c->privileged && !o->replay) {
		unsigned int missing = store_path_depth(path) - store_node_depth(anc);

		if (store_owned(o->store, o->c->domid) + missing > GUEST_MAX_NODES)
			return -ENOSPC;
	}
	/* Unprivileged domains own what they create. */
	return store_create(o->store, path, o->c->privileged ? -1 : o->c->domid, out);
}

static bool live(const struct op *o)
{
	return o->tx == NULL;
}

/* ---- handlers ------------------------------------------------------------------------------- */

static int op_read(struct op *o)
{
	char path[PATH_BUF_SIZE];
	struct xs_node *n = NULL;
	int rc = canonical(o, onearg(o), false, path, NULL);

	if (rc == 0)
		rc = get_node(o, path, XS_PERM_READ, &n);
	if (rc == 0)
		rc = reply_bytes(o, n->value, n->value_len);
	return rc;
}

static int op_write(struct op *o)
{
	const char *nul = memchr(o->in, '\0', o->len);
	char path[PATH_BUF_SIZE];
	unsigned int vlen;
	struct xs_node *n = NULL;
	int rc;

	if (!nul)
		return -EINVAL;
	vlen = o->len - (unsigned int)(nul - o->in) - 1;
	if (!o->c->privileged && vlen > GUEST_MAX_VALUE)
		return -ENOSPC;
	rc = canonical(o, o->in, false, path, NULL);
	if (rc == 0)
		rc = get_node(o, path, XS_PERM_WRITE, &n);
	if (rc == -ENOENT)
		rc = create_node(o, path, &n);
	if (rc == 0)
		rc = store_set_value(o->store, path, n, nul + 1, vlen);
	if (rc < 0)
		return rc;
	if (live(o))
		watch_fire(o->d, path, &n->perms);
	return reply_str(o, "OK");
}

static int op_mkdir(struct op *o)
{
	char path[PATH_BUF_SIZE];
	struct xs_node *n = NULL;
	int rc = canonical(o, onearg(o), false, path, NULL);

	if (rc == 0)
		rc = get_node(o, path, XS_PERM_WRITE, &n);
	if (rc == -ENOENT) {
		rc = create_node(o, path, &n);
		if (rc == 0 && live(o))
			watch_fire(o->d, path, &n->perms);
	}
	return rc < 0 ? rc : reply_str(o, "OK");
}

static int op_rm(struct op *o)
{
	char path[PATH_BUF_SIZE];
	struct xs_node *n = NULL;
	int rc = canonical(o, onearg(o), false, path, NULL);

	if (rc < 0)
		return rc;
	if (strcmp(path, "/") == 0)
		return -EINVAL;
	rc = get_node(o, path, XS_PERM_WRITE, &n);
	if (rc == -ENOENT) {
		/* Removing what is not there is fine if its parent is. */
		char *slash = strrchr(path, '/');
		struct xs_node *parent;

		*(slash == path ? slash + 1 : slash) = '\0';
		rc = store_get(o->store, path, &parent);
		if (rc < 0)
			return rc;
		return parent ? reply_str(o, "OK") : -ENOENT;
	}
	if (rc < 0)
		return rc;
	if (live(o)) {
		/* Fired while the nodes and their permissions still exist. */
		watch_fire_subtree(o->d, path);
		watch_fire(o->d, path, &n->perms);
	}
	rc = store_delete(o->store, path, n);
	return rc < 0 ? rc : reply_str(o, "OK");
}

static int op_directory(struct op *o)
{
	char path[PATH_BUF_SIZE];
	struct xs_node *n = NULL;
	unsigned int i;
	int rc = canonical(o, onearg(o), false, path, NULL);

	if (rc == 0)
		rc = get_node(o, path, XS_PERM_READ, &n);
	for (i = 0; rc == 0 && n && i < n->nr_child; i++)
		rc = reply_str(o, n->child[i]->name);
	return rc;
}

/* DIRECTORY_PART: path, byte offset into the NUL-separated child list; the reply is the node's
 * generation, then as many whole children as fit, then an empty string once the list ends. */
static int op_directory_part(struct op *o)
{
	char path[PATH_BUF_SIZE], gen[24];
	unsigned int i, off = 0, total = 0, pos = 0, genlen, room;
	const char *offstr;
	struct xs_node *n = NULL;
	int rc;

	if (o->len == 0 || o->in[o->len - 1] != '\0' || nr_strings(o->in, o->len) != 2)
		return -EINVAL;
	offstr = o->in + strlen(o->in) + 1;
	if (!*offstr || strlen(offstr) > 9 || strspn(offstr, "0123456789") != strlen(offstr))
		return -EINVAL;
	off = (unsigned int)strtoul(offstr, NULL, 10);
	rc = canonical(o, o->in, false, path, NULL);
	if (rc == 0)
		rc = get_node(o, path, XS_PERM_READ, &n);
	if (rc < 0)
		return rc;
	genlen = (unsigned int)snprintf(gen, sizeof(gen), "%" PRIu64, n->gen) + 1;
	rc = reply_bytes(o, gen, genlen);
	for (i = 0; i < n->nr_child; i++)
		total += (unsigned int)strlen(n->child[i]->name) + 1;
	room = XENSTORE_PAYLOAD_MAX - genlen - 1;
	/* Whole children from byte `off` on (a mid-name offset starts mid-name, as xenstored). */
	for (i = 0; rc == 0 && i < n->nr_child; i++) {
		const char *name = n->child[i]->name;
		unsigned int nlen = (unsigned int)strlen(name) + 1, skip = 0;

		if (pos + nlen <= off) {
			pos += nlen;
			continue;
		}
		if (pos < off)
			skip = off - pos;
		if (o->out_len - genlen + nlen - skip > room)
			break;
		rc = reply_bytes(o, name + skip, nlen - skip);
		pos += nlen;
	}
	if (rc == 0 && (off >= total || pos == total))
		rc = reply_bytes(o, "", 1);
	return rc;
}

static int op_get_perms(struct op *o)
{
	char path[PATH_BUF_SIZE];
	const struct xs_perms *perms;
	struct xs_node *n = NULL;
	int rc = canonical(o, onearg(o), true, path, NULL);

	if (rc < 0)
		return rc;
	if (path_is_special(path)) {
		perms = special_perms(o->d, path);
		if (!perms)
			return -ENOENT;
		if (!(perms_for(perms, o->c->domid, o->c->privileged) & XS_PERM_READ))
			return -EACCES;
	} else {
		rc = get_node(o, path, XS_PERM_READ, &n);
		if (rc < 0)
			return rc;
		perms = &n->perms;
	}
	rc = perms_format(perms, o->out, sizeof(o->out));
	if (rc < 0)
		return rc;
	o->out_len = (unsigned int)rc;
	return 0;
}

static int op_set_perms(struct op *o)
{
	char path[PATH_BUF_SIZE];
	struct xs_perms perms, old;
	unsigned int count = nr_strings(o->in, o->len), plen;
	struct xs_node *n = NULL;
	int rc;

	if (count < 2 || o->in[o->len - 1] != '\0')
		return -EINVAL;
	rc = canonical(o, o->in, true, path, NULL);
	if (rc < 0)
		return rc;
	plen = (unsigned int)strlen(o->in) + 1;
	rc = perms_parse(o->in + plen, o->len - plen, count - 1, &perms);
	if (rc < 0)
		return rc;
	if (path_is_special(path)) {
		struct xs_perms *sp = (struct xs_perms *)special_perms(o->d, path);

		rc = !o->c->privileged ? -EACCES : !sp ? -ENOENT : 0;
		if (rc == 0) {
			perms_free(sp);
			*sp = perms;
			return reply_str(o, "OK");
		}
		perms_free(&perms);
		return rc;
	}
	rc = get_node(o, path, XS_PERM_WRITE | XS_PERM_OWNER, &n);
	/* Unprivileged domains may not give their nodes away. */
	if (rc == 0 && !o->c->privileged && perms.p[0].domid != n->perms.p[0].domid)
		rc = -EPERM;
	if (rc == 0)
		rc = perms_copy(&old, &n->perms);
	if (rc == 0) {
		rc = store_set_perms(o->store, path, n, &perms);
		/* Those who could read the node before hear of the change. */
		if (rc == 0 && live(o))
			watch_fire(o->d, path, &old);
		perms_free(&old);
	}
	perms_free(&perms);
	return rc < 0 ? rc : reply_str(o, "OK");
}

static int op_watch(struct op *o)
{
	char path[PATH_BUF_SIZE];
	const char *token;
	bool relative;
	int rc;

	if (o->len == 0 || o->in[o->len - 1] != '\0' || nr_strings(o->in, o->len) != 2)
		return -EINVAL;
	token = o->in + strlen(o->in) + 1;
	rc = canonical(o, o->in, true, path, &relative);
	if (rc == 0)
		rc = watch_add(o->d, o->c, path, token, relative, &o->new_watch);
	return rc < 0 ? rc : reply_str(o, "OK");
}

static int op_unwatch(struct op *o)
{
	char path[PATH_BUF_SIZE];
	int rc;

	if (o->len == 0 || o->in[o->len - 1] != '\0' || nr_strings(o->in, o->len) != 2)
		return -EINVAL;
	rc = canonical(o, o->in, true, path, NULL);
	if (rc == 0)
		rc = watch_remove(o->c, path, o->in + strlen(o->in) + 1);
	return rc < 0 ? rc : reply_str(o, "OK");
}

static int op_reset_watches(struct op *o)
{
	watch_free_all(o->c);
	return reply_str(o, "OK");
}

static int op_transaction_start(struct op *o)
{
	char id[16];
	uint32_t t;
	int rc;

	if (o->hdr->tx_id != 0)
		return -EBUSY; /* no nested transactions */
	rc = tx_start(o->d, o->c, &t);
	if (rc < 0)
		return rc;
	snprintf(id, sizeof(id), "%" PRIu32, t);
	return reply_str(o, id);
}

static int op_transaction_end(struct op *o)
{
	struct transaction *t = tx_find(o->c, o->hdr->tx_id);
	const char *arg = onearg(o);
	int rc;

	if (!t)
		return -ENOENT;
	if (!arg || (strcmp(arg, "T") != 0 && strcmp(arg, "F") != 0))
		return -EINVAL;
	rc = tx_end(o->d, o->c, t, arg[0] == 'T');
	return rc < 0 ? rc : reply_str(o, "OK");
}

static int op_get_domain_path(struct op *o)
{
	char path[PATH_BUF_SIZE];
	uint16_t domid;
	int rc = parse_domid(onearg(o), &domid);

	if (rc < 0)
		return rc;
	path_domain_home(domid, path);
	return reply_str(o, path);
}

static int op_is_domain_introduced(struct op *o)
{
	uint16_t domid;
	int rc;

	if (!o->c->privileged)
		return -EACCES;
	rc = parse_domid(onearg(o), &domid);
	if (rc < 0)
		return rc;
	return reply_str(o, domain_is_introduced(o->d, domid) ? "T" : "F");
}

/* INTRODUCE domid, ring gfn, event channel: simxen has no ring, the domain gets a socket. */
static int op_introduce(struct op *o)
{
	uint16_t domid;
	int rc;

	if (!o->c->privileged)
		return -EACCES;
	if (o->len == 0 || nr_strings(o->in, o->len) < 3)
		return -EINVAL;
	rc = parse_domid(o->in, &domid);
	if (rc == 0 && (domid == 0 || domid >= 0x7FF0)) /* DOMID_FIRST_RESERVED */
		rc = -EINVAL;
	if (rc == 0)
		rc = domain_introduce(o->d, domid);
	return rc < 0 ? rc : reply_str(o, "OK");
}

static int op_release(struct op *o)
{
	uint16_t domid;
	int rc;

	if (!o->c->privileged)
		return -EACCES;
	rc = parse_domid(onearg(o), &domid);
	if (rc == 0)
		rc = domid == 0 ? -EINVAL : domain_release(o->d, domid);
	return rc < 0 ? rc : reply_str(o, "OK");
}

static const struct {
	int (*fn)(struct op *o);
	unsigned int flags;
} handlers[XS_TYPE_COUNT] = {
	[XS_DIRECTORY] = { op_directory, OP_TX },
	[XS_DIRECTORY_PART] = { op_directory_part, OP_TX },
	[XS_READ] = { op_read, OP_TX },
	[XS_GET_PERMS] = { op_get_perms, OP_TX },
	[XS_WRITE] = { op_write, OP_TX | OP_MUTATES },
	[XS_MKDIR] = { op_mkdir, OP_TX | OP_MUTATES },
	[XS_RM] = { op_rm, OP_TX | OP_MUTATES },
	[XS_SET_PERMS] = { op_set_perms, OP_TX | OP_MUTATES },
	[XS_WATCH] = { op_watch, 0 },
	[XS_UNWATCH] = { op_unwatch, 0 },
	[XS_RESET_WATCHES] = { op_reset_watches, 0 },
	[XS_TRANSACTION_START] = { op_transaction_start, 0 },
	[XS_TRANSACTION_END] = { op_transaction_end, 0 },
	[XS_GET_DOMAIN_PATH] = { op_get_domain_path, 0 },
	[XS_IS_DOMAIN_INTRODUCED] = { op_is_domain_introduced, 0 },
	[XS_INTRODUCE] = { op_introduce, 0 },
	[XS_RELEASE] = { op_release, 0 },
};

static const char *error_name(int err)
{
	unsigned int i;

	for (i = 0; i < sizeof(xsd_errors) / sizeof(xsd_errors[0]); i++)
		if (xsd_errors[i].errnum == err)
			return xsd_errors[i].errstring;
	return "EINVAL"; /* what xenstored sends for an error the protocol has no name for */
}

void ops_process(struct xsd *d, struct conn *c, const struct xsd_sockmsg *hdr, const char *body)
{
	struct op o = { .d = d, .c = c, .hdr = hdr, .store = d->live, .in = body, .len = hdr->len };
	unsigned int flags = 0;
	int rc = 0;

	if (hdr->type >= XS_TYPE_COUNT || !handlers[hdr->type].fn)
		rc = -ENOSYS;
	else
		flags = handlers[hdr->type].flags;
	if (rc == 0 && (flags & OP_TX) && hdr->tx_id != 0) {
		o.tx = tx_find(c, hdr->tx_id);
		if (o.tx)
			o.store = o.tx->store;
		else
			rc = -ENOENT;
	}
	if (rc == 0 && o.tx && (flags & OP_MUTATES))
		rc = tx_record_op(o.tx, hdr->type, body, hdr->len);
	if (rc == 0) {
		rc = handlers[hdr->type].fn(&o);
		if (rc < 0 && o.tx && (flags & OP_MUTATES))
			tx_forget_last_op(o.tx, rc);
	}
	if (rc < 0) {
		const char *e = error_name(-rc);

		rt_debug("client %d (domain %u): request %u: %s", c->fd, c->domid, hdr->type, e);
		conn_send(d, c, XS_ERROR, hdr->req_id, hdr->tx_id, e, (unsigned int)strlen(e) + 1);
		return;
	}
	conn_send(d, c, hdr->type, hdr->req_id, hdr->tx_id, o.out, o.out_len);
	/* xenstored fires every new watch once, after acknowledging it. */
	if (o.new_watch && !c->dead)
		watch_send_event(d, c, o.new_watch, o.new_watch->path);
}

int ops_replay(struct xsd *d, struct conn *c, const struct tx_op *op)
{
	struct op o = {
		.d = d, .c = c, .store = d->live, .replay = true, .in = op->payload, .len = op->len
	};

	if (op->type >= XS_TYPE_COUNT || !(handlers[op->type].flags & OP_MUTATES))
		return -EINVAL;
	return handlers[op->type].fn(&o);
}
