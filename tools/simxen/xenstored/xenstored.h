/* simxen-xenstored's daemon state: the one context object, connections, watches, transactions
 * and the per-domain listening sockets, shared by the files of this directory. */
#ifndef SIMXEN_XENSTORED_H
#define SIMXEN_XENSTORED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <xen/io/xs_wire.h>

#include "tools/simxen/xenstored/perms.h"
#include "tools/simxen/xenstored/store.h"

/* Limits (xenstored's defaults where it has one). */
#define GUEST_MAX_WATCHES 128
#define GUEST_MAX_TRANSACTIONS 10
#define DOM0_MAX_TRANSACTIONS 64
#define GUEST_MAX_NODES 1000
#define GUEST_MAX_VALUE 2048
#define GUEST_MAX_TX_NODES 1024
/* A watch event carries path and token; keep the longest possible event within the payload. */
#define MAX_TOKEN_LEN (XENSTORE_PAYLOAD_MAX - XENSTORE_ABS_PATH_MAX - 2)
/* Output queued for a client that does not read: beyond this its input pauses and new watch
 * events for it are dropped (and logged). */
#define OUT_LIMIT (1u << 20)
#define MSGS_PER_WAKEUP 32
/* Room for a unix socket path (sockaddr_un.sun_path). */
#define PATH_MAX_SOCK 108

enum source_type { SRC_LISTENER, SRC_CONN, SRC_SIGNAL };

/* First member of everything registered in epoll. */
struct source {
	enum source_type type;
};

struct watch {
	struct watch *next;
	char *path; /* absolute, or "@..." */
	char *token;
	bool relative; /* events are reported relative to the domain's home, as registered */
};

struct tx_op {
	uint32_t type;
	char *payload;
	unsigned int len;
};

struct transaction {
	struct transaction *next;
	uint32_t id;
	struct xs_store *store; /* snapshot taken at start, recording accesses */
	struct access_set *access;
	struct tx_op *ops; /* successful mutating requests, replayed on the live tree at commit */
	unsigned int nr_ops, cap_ops;
	bool failed; /* a write failed half-done: the snapshot no longer matches the ops */
};

struct out_msg {
	struct out_msg *next;
	size_t len, off;
	char data[];
};

struct conn {
	struct source src;
	struct conn *next;
	int fd;
	uint16_t domid;
	bool privileged;
	bool dead; /* closed; freed after the current epoll batch */
	uint32_t ep_events;
	struct xsd_sockmsg hdr;
	unsigned int in_got; /* bytes of header + body received */
	char body[XENSTORE_PAYLOAD_MAX + 1];
	struct out_msg *out_head, *out_tail;
	size_t out_bytes;
	struct watch *watches;
	unsigned int nr_watches;
	struct transaction *txs;
	unsigned int nr_txs;
	unsigned long dropped_events;
};

/* A listening socket: dom0's main one, or one per introduced guest domain. */
struct listener {
	struct source src;
	struct listener *next;
	int fd;
	uint16_t domid;
	bool privileged;
	char *path;
	bool dead; /* closed; freed after the current epoll batch */
};

struct xsd {
	int epfd;
	struct source sig_src;
	int sigfd;
	bool stop;
	const char *dir; /* where guest sockets are created */
	struct listener *listeners; /* the first is dom0's */
	struct listener *closed_listeners;
	struct conn *conns;
	struct xs_store *live;
	uint64_t gen;
	uint32_t next_tx_id;
	struct xs_perms special_perms[2]; /* @introduceDomain, @releaseDomain */
};

/* conn.c */
int conn_accept(struct xsd *d, struct listener *l);
void conn_handle(struct xsd *d, struct conn *c, uint32_t events);
/* Queues a message; the client is dropped if it cannot take it. */
void conn_send(struct xsd *d, struct conn *c, uint32_t type, uint32_t req_id, uint32_t tx_id,
	       const void *payload, unsigned int len);
/* Closes the socket at once; the rest goes in conn_reap, after the current epoll batch. */
void conn_close(struct xsd *d, struct conn *c);
void conn_reap(struct xsd *d);

/* ops.c: handles one complete request. */
void ops_process(struct xsd *d, struct conn *c, const struct xsd_sockmsg *hdr, const char *body);
/* Replays a transaction's recorded request on the live tree; 0 or -errno. */
int ops_replay(struct xsd *d, struct conn *c, const struct tx_op *op);

/* watch.c */
int watch_add(struct xsd *d, struct conn *c, const char *path, const char *token, bool relative,
	      struct watch **out);
int watch_remove(struct conn *c, const char *path, const char *token);
void watch_free_all(struct conn *c);
/* Sends the event for `path` to one watch. */
void watch_send_event(struct xsd *d, struct conn *c, const struct watch *w, const char *path);
/* path changed: every watch on path or an ancestor fires, if its client may read the node
 * (perms of the node, or NULL for the special nodes). */
void watch_fire(struct xsd *d, const char *path, const struct xs_perms *perms);
/* path is about to be removed: watches strictly below it fire for their own node. */
void watch_fire_subtree(struct xsd *d, const char *path);
const struct xs_perms *special_perms(struct xsd *d, const char *path);

/* transaction.c */
int tx_start(struct xsd *d, struct conn *c, uint32_t *id);
struct transaction *tx_find(struct conn *c, uint32_t id);
int tx_record_op(struct transaction *t, uint32_t type, const char *payload, unsigned int len);
/* Drops the op just recorded because it failed with `err`. */
void tx_forget_last_op(struct transaction *t, int err);
/* Ends (and frees) t: commit if `commit`, -EAGAIN when another change got there first. */
int tx_end(struct xsd *d, struct conn *c, struct transaction *t, bool commit);
void tx_free_all(struct conn *c);

/* domain.c */
int domain_introduce(struct xsd *d, uint16_t domid);
int domain_release(struct xsd *d, uint16_t domid);
bool domain_is_introduced(struct xsd *d, uint16_t domid);
int listener_open(struct xsd *d, const char *path, uint16_t domid, bool privileged,
		  struct listener **out);
void listener_close(struct xsd *d, struct listener *l);
void listener_reap(struct xsd *d);

#endif
