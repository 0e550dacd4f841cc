/* A process's connection to simxen's state directory: the host file, the event-channel lock and
 * a cache of the domains' shared state (layout.h) mapped into this process. */
#ifndef SIMXEN_HOST_H
#define SIMXEN_HOST_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "layout.h"

/* One domain's state mapped into this process. Never unmapped before sx_host_close, so that
 * lookups need no lock. */
struct sx_domain {
	struct sx_domain *next;
	uint16_t domid;
	struct sx_domain_shared *shared;
	int mem_fd;
	uint8_t *mem; /* all of the domain's grantable memory (grant copies, notify bytes) */
};

struct sx_host {
	int dir_fd;
	int host_fd;
	struct sx_host_shared *shared;
	pthread_mutex_t domains_lock; /* adding to domains */
	pthread_mutex_t evtchn_lock; /* the in-process half of sx_host_evtchn_lock */
	struct sx_domain *_Atomic domains;
};

/* Reads $SIMXEN_DIR and $SIMXEN_DOMID (default 0). -ENOENT if SIMXEN_DIR is unset or empty,
 * -EINVAL if SIMXEN_DOMID is not a guest domain id; *why says which. */
int sx_env(const char **dir, uint16_t *domid, const char **why);

/* Opens the state directory dir, creating its host file. 0 or -errno (-ENOENT: no directory). */
int sx_host_open(struct sx_host *h, const char *dir);
void sx_host_close(struct sx_host *h);
/* Opens (creating it if needed) the file name of the state directory, of exactly size bytes: its
 * fd (O_CLOEXEC), or -errno. */
int sx_host_open_file(struct sx_host *h, const char *name, uint64_t size);

/* The mapped state of domain domid: -ESRCH if it was never created. The domain may have been
 * destroyed since (shared->live). */
int sx_domain_get(struct sx_host *h, uint16_t domid, struct sx_domain **out);
/* Creates domid's files if needed and marks it live; *was_live tells whether it already was. */
int sx_domain_create(struct sx_host *h, uint16_t domid, struct sx_domain **out, bool *was_live);

/* A host-wide id for a new xenevtchn handle (never 0). */
uint32_t sx_host_new_handle_id(struct sx_host *h);

/* Serialises event-channel binding and unbinding across the whole host (every process). */
void sx_host_evtchn_lock(struct sx_host *h);
void sx_host_evtchn_unlock(struct sx_host *h);

#endif
