/* tapdisk's one NBD client: libnbd driven asynchronously from tapdisk's loop, on a socket it is
 * given (the storage-migration mirror's secondary, src/mirror.c; the future nbd: image driver
 * reuses it). The handshake is blktap3's client's, as far as libnbd can speak it, so that a
 * blktap3 tapdisk serves it: the server's old-style greeting, or newstyle with
 * NBD_OPT_EXPORT_NAME "tapdisk_client" (no option haggling: blktap3's server mishandles
 * NBD_OPT_GO's payload) and simple replies. Internal to tapdisk. */
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
	const char *protocol; /* "oldstyle", "newstyle", "newstyle-fixed" (libnbd's names) */
};

/* err: 0 or -errno (-EIO for an error reply, -ENOTCONN once the connection is lost). Runs from
 * the loop, never inside the call that started the command. */
typedef void (*td_nbdc_done_fn)(void *data, int err);
/* The connection failed (lost, or a protocol error): why, for the log. From the loop. */
typedef void (*td_nbdc_dead_fn)(void *data, const char *why);

/* Handshakes on the connected socket fd (always consumed: closed on failure), within
 * timeout_ms (blocking the loop meanwhile, as blktap3 does). 0 or -errno with why (why_len
 * bytes) saying what failed. */
int td_nbdc_connect(struct td_loop *loop, int fd, unsigned int timeout_ms, td_nbdc_dead_fn dead,
		    void *data, struct td_nbdc **out, char *why, size_t why_len);
void td_nbdc_info(const struct td_nbdc *c, struct td_nbdc_info *info);
/* Queues a write (buf must stay valid until done runs) or a flush. 0, or -ENOTCONN when the
 * connection is gone (done will not run). */
int td_nbdc_pwrite(struct td_nbdc *c, const void *buf, size_t len, uint64_t offset,
		   td_nbdc_done_fn done, void *data);
int td_nbdc_flush(struct td_nbdc *c, td_nbdc_done_fn done, void *data);
/* Commands sent and not answered. */
unsigned int td_nbdc_inflight(const struct td_nbdc *c);
/* Closes the connection: with `disconnect` and nothing in flight, NBD_CMD_DISC first (sent
 * within a short bound). The done callbacks of commands still in flight are not called. Must
 * not be called from inside a done or dead callback. NULL is a no-op. */
void td_nbdc_close(struct td_nbdc *c, bool disconnect);

#endif
