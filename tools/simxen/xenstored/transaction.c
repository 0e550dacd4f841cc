/* Transactions: each works on a snapshot of the tree taken at start that records every node it
 * touches; commit fails with EAGAIN if any of those nodes changed in the live tree since, and
 * otherwise replays the transaction's successful writes there (firing their watches). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ringtap/log.h"
#include "tools/simxen/xenstored/xenstored.h"

static void tx_free(struct transaction *t)
{
	unsigned int i;

	for (i = 0; i < t->nr_ops; i++)
		free(t->ops[i].payload);
	free(t->ops);
	store_free(t->store);
	access_set_free(t->access);
	free(t);
}

int tx_start(struct xsd *d, struct conn *c, uint32_t *id)
{
	unsigned int max = c->privileged ? DOM0_MAX_TRANSACTIONS : GUEST_MAX_TRANSACTIONS;
	struct transaction *t;

	if (c->nr_txs >= max)
		return -ENOSPC;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->access = access_set_new(c->privileged ? 0 : GUEST_MAX_TX_NODES);
	t->store = t->access ? store_clone(d->live, t->access) : NULL;
	if (!t->store) {
		tx_free(t);
		return -ENOMEM;
	}
	/* Never 0 (no transaction), and not reused soon. */
	do
		t->id = ++d->next_tx_id;
	while (t->id == 0);
	t->next = c->txs;
	c->txs = t;
	c->nr_txs++;
	*id = t->id;
	return 0;
}

struct transaction *tx_find(struct conn *c, uint32_t id)
{
	struct transaction *t;

	for (t = c->txs; t; t = t->next)
		if (t->id == id)
			return t;
	return NULL;
}

int tx_record_op(struct transaction *t, uint32_t type, const char *payload, unsigned int len)
{
	struct tx_op *op;

	if (t->nr_ops == t->cap_ops) {
		unsigned int cap = t->cap_ops ? t->cap_ops * 2 : 8;
		struct tx_op *v = realloc(t->ops, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		t->ops = v;
		t->cap_ops = cap;
	}
	op = &t->ops[t->nr_ops];
	op->payload = malloc(len ? len : 1);
	if (!op->payload)
		return -ENOMEM;
	memcpy(op->payload, payload, len);
	op->type = type;
	op->len = len;
	t->nr_ops++;
	return 0;
}

void tx_forget_last_op(struct transaction *t, int err)
{
	t->nr_ops--;
	free(t->ops[t->nr_ops].payload);
	/* Running out of room part way through creating parents leaves some of them behind. */
	if (err == -ENOMEM || err == -ENOSPC)
		t->failed = true;
}

static int unchanged(void *arg, const char *path, uint64_t gen)
{
	struct xsd *d = arg;
	struct xs_node *n;

	if (store_get(d->live, path, &n) < 0)
		return -ENOMEM;
	return (n ? n->gen : 0) == gen ? 0 : -EAGAIN;
}

static void unlink_tx(struct conn *c, struct transaction *t)
{
	struct transaction **pp;

	for (pp = &c->txs; *pp; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			c->nr_txs--;
			return;
		}
	}
}

int tx_end(struct xsd *d, struct conn *c, struct transaction *t, bool commit)
{
	unsigned int i;
	int rc = 0;

	unlink_tx(c, t);
	if (commit && t->failed)
		rc = -EAGAIN;
	else if (commit && t->nr_ops > 0) {
		rc = access_set_foreach(t->access, unchanged, d);
		/* Same state for every node the transaction saw: its writes replay identically. */
		for (i = 0; rc == 0 && i < t->nr_ops; i++) {
			int err = ops_replay(d, c, &t->ops[i]);

			if (err < 0)
				rt_err("transaction %u of domain %u: replaying request %u failed: %s",
				       t->id, c->domid, t->ops[i].type, strerror(-err));
		}
	}
	tx_free(t);
	return rc;
}

void tx_free_all(struct conn *c)
{
	while (c->txs) {
		struct transaction *t = c->txs;

		c->txs = t->next;
		tx_free(t);
	}
	c->nr_txs = 0;
}
