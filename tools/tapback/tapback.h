/* tapback: the dom0 service that runs the xenbus handshake of every vbd3 device and connects
 * each guest's ring in the tapdisk serving it. Shared declarations of its parts. */
#ifndef TAPBACK_H
#define TAPBACK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <xenstore.h>

#include "ringtap/ctl.h"

#include "xenbus_fsm.h"

#define TAPBACK_MAX_RING_ORDER 4
#define TAPBACK_DEFAULT_MAX_INDIRECT 256

struct tapback;

/* One VBD: backend/<name>/<domid>/<devid>. */
struct vbd {
	struct vbd *next;
	struct tapback *tb;
	unsigned int domid, devid;
	char backend[128];  /* /local/domain/0/backend/<name>/<domid>/<devid> */
	char frontend[256]; /* from the backend's `frontend` node, validated */
	char fe_token[64];  /* watch token for <frontend>/state */
	bool fe_watched;
	bool fe_seen; /* its state node has existed: its removal means the frontend is gone */
	pid_t tapdisk_pid; /* from physical-device-path, 0 = unknown */
	int minor;
	pid_t kthread_pid; /* the tapdisk pid written to kthread-pid, 0 = none yet */
	int pidfd; /* the tapdisk's pidfd: readable when it dies; -1 = none */
	bool tapdisk_gone; /* the tapdisk named died, refuses or lost the minor */
	bool error_reported; /* tapdisk-error written for it */
	char gone_why[64];
	bool ring_connected;
	bool waiting_logged;
	/* xenstore's polling-* as tapdisk last got them (set_mask: which); a rejected value of
	 * each node, so that it is logged once */
	struct ctl_poll_settings polling;
	char poll_rejected[2][32];
};

struct tapback {
	struct xs_handle *xs;
	const char *name;	 /* backend type directory, "vbd3" */
	char root[64];		 /* /local/domain/0/backend/<name> */
	unsigned int max_indirect;
	unsigned int ctl_timeout_ms;
	struct vbd *vbds;
};

/* xenstore helpers (xs.c). Reads return a malloc'd string or NULL. */
char *xs_readf(struct xs_handle *xs, xs_transaction_t t, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A decimal unsigned integer <= max, nothing else: 0 or -EINVAL. */
int parse_uint(const char *s, unsigned long max, unsigned long *out);
/* Parses a node as an unsigned integer <= max; -ENOENT if missing, -EINVAL if malformed. */
int xs_read_uint(struct xs_handle *xs, const char *dir, const char *node, unsigned long max,
		 unsigned long *out);
bool xs_printf_node(struct xs_handle *xs, xs_transaction_t t, const char *dir, const char *node,
		    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Devices (device.c). */
struct vbd *vbd_find(struct tapback *tb, unsigned int domid, unsigned int devid);
struct vbd *vbd_add(struct tapback *tb, unsigned int domid, unsigned int devid);
void vbd_forget(struct vbd *v);
/* Re-reads everything about the device and carries out what the state machine decides. */
void vbd_update(struct vbd *v);
/* Its tapdisk died (its pidfd became readable): close the device, say why. */
void vbd_tapdisk_died(struct vbd *v);

/* Polling settings (polling.c): the backend's polling-duration and polling-idle-threshold. */
/* Reads them into s (set_mask says which are there and valid); a malformed or out-of-range
 * value is logged, once per value, and left out. */
void vbd_read_polling(struct vbd *v, struct ctl_poll_settings *s);
/* While the ring is connected: sends tapdisk those that changed since it last got them. */
void vbd_sync_polling(struct vbd *v);

#endif
