/* tapdisk's one NBD client on its loop: lib/nbd's client (ringtap/nbd.h: blktap3's client
 * handshake, so that a blktap3 tapdisk serves it) with its socket watched by the loop. Used by
 * the storage-migration mirror (src/mirror.c); the nbd: image driver is to reuse it. (libnbd
 * cannot be it: it refuses the export flags 0 that blktap3's old-style greeting sends, and its
 * NBD_OPT_GO would leave blktap3's server out of step.) Internal to tapdisk. */
#ifndef TD_NBD_CLIENT_H
#define TD_NBD_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct td_loop;
struct td_nbdc;

struct td_nbdc_info {
	uint64_t size; /* bytes */
	bool can_flush; /* NBD_FLAG_SEND_FLUSH */
	const char *protocol; /* "oldstyle" or "newstyle" */
};

/* err: 0 or -errno (the reply's error). Runs from the loop, never inside the call that
 * queued the command. */
typedef void (*td_nbdc_done_fn)(void *data, int err);
/* The connection failed (lost, a protocol error): why, for the log. The commands in flight
 * are never answered: the caller writes them off. May run inside td_nbdc_pwrite/flush. */
typedef void (*td_nbdc_dead_fn)(void *data, const char *why);

/* Handshakes on the connected socket fd (consumed: closed on failure) within timeout_ms,
 * blocking the loop meanwhile as blktap3 does. 0 or -errno with why (why_len bytes). */
int td_nbdc_connect(struct td_loop *loop, int fd, unsigned int timeout_ms, td_nbdc_dead_fn dead,
		    void *data, struct td_nbdc **out, char *why, size_t why_len);
void td_nbdc_info(const struct td_nbdc *c, struct td_nbdc_info *info);
/* Queue a write (buf valid until done runs) or a flush, sent at once as far as the socket
 * takes it. 0, or -errno (-ENOTCONN once failed): done will not run. */
int td_nbdc_pwrite(struct td_nbdc *c, const void *buf, size_t len, uint64_t offset,
		   td_nbdc_done_fn done, void *data);
int td_nbdc_flush(struct td_nbdc *c, td_nbdc_done_fn done, void *data);
/* Commands sent or queued and not answered. */
unsigned int td_nbdc_inflight(const struct td_nbdc *c);
/* Closes: with `disconnect` and nothing in flight, NBD_CMD_DISC first. The done callbacks of
 * commands in flight are not called. NULL is a no-op. */
void td_nbdc_close(struct td_nbdc *c, bool disconnect);

#endif
