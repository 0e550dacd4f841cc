/* Where tap-ctl -2's secondary comes from (the control plane's half of the mirror,
 * src/mirror.h): <run dir>/nbdclient<pid>, where XAPI passes a connected socket with SCM_RIGHTS
 * and a name, kept as blktap3 does (10 names of up to 39 characters; a name passed again
 * replaces its socket); and "-2 nbd:<name>", a passed name or the path of a Unix socket to
 * connect to. Internal to the tapdisk daemon. */
#ifndef TD_SECONDARY_H
#define TD_SECONDARY_H

#include <stddef.h>

struct td_fd_receiver;
struct td_loop;

#define TD_STASH_SLOTS 10
#define TD_STASH_NAME 40 /* names are matched on their first 39 characters */

struct td_stash {
	struct td_fd_receiver *recv;
	struct {
		int fd; /* -1: free */
		char name[TD_STASH_NAME];
	} slot[TD_STASH_SLOTS];
};

/* Listens at <run dir>/nbdclient<pid>. 0 or -errno. */
int td_stash_start(struct td_stash *s, struct td_loop *loop);
/* Closes the socket and every socket kept. */
void td_stash_stop(struct td_stash *s);

/* -2's argument: "null" (remove the secondary: returns 0, *fd -1), or "nbd:<name>": *fd gets a
 * connected socket (a passed one, taken out of the stash, or a new connection to the Unix
 * socket at <name>) and returns 0. -EINVAL for another form (msg says why); -ENOENT (or the
 * connect's error) when no socket can be had: why (why_len bytes) says why. */
int td_secondary_socket(struct td_stash *s, const char *arg, int *fd, char *why, size_t why_len);

#endif
