/* tapdisk's one NBD client on its loop: lib/nbd's client (ringtap/nbd.h) with its socket watched
 * by the loop. Used by the storage-migration mirror (src/mirror.c: blktap3's client handshake,
 * so that a blktap3 tapdisk serves it) and the nbd: image driver (drivers/nbd.c: the modern
 * handshake to a remote export, non-blocking reconnects). (libnbd cannot be it: it refuses the
 * export flags 0 that blktap3's old-style greeting sends, and its NBD_OPT_GO would leave
 * blktap3's server out of step.) Internal to tapdisk. */
#ifndef TD_NBD_CLIENT_H
#define TD_NBD_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct td_loop;
struct nbd_client_opts;
struct td_nbdc;

struct td_nbdc_info {
	uint64_t size; /* bytes */
	bool can_flush; /* NBD_FLAG_SEND_FLUSH */
	bool readonly; /* NBD_FLAG_READ_ONLY */
	bool can_trim, can_write_zeroes; /* NBD_FLAG_SEND_TRIM, _SEND_WRITE_ZEROES */
	bool structured; /* structured replies agreed */
	uint32_t min_block, max_block; /* the server's block size constraints */
	const char *protocol; /* "oldstyle" or "newstyle" */
};

/* err: 0 or -errno (the reply's error). Runs from the loop, never inside the call that
 * queued the command. */
typedef void (*td_nbdc_done_fn)(void *data, int err);
/* The connection failed (lost, a protocol error): why, for the log. The commands in flight
 * are never answered: the caller writes them off. May run inside td_nbdc_pwrite/flush. */
typedef void (*td_nbdc_dead_fn)(void *data, const char *why);

/* The handshake of a non-blocking start is done: commands may be queued. */
typedef void (*td_nbdc_ready_fn)(void *data);

/* Handshakes on the connected socket fd (consumed: closed on failure) within timeout_ms,
 * blocking the loop meanwhile as blktap3 does (opts: lib/nbd's; NULL for blktap3's
 * handshake). 0 or -errno with why (why_len bytes). */
int td_nbdc_connect(struct td_loop *loop, int fd, const struct nbd_client_opts *opts,
		    unsigned int timeout_ms, td_nbdc_dead_fn dead, void *data, struct td_nbdc **out,
		    char *why, size_t why_len);
/* Starts the handshake on fd (consumed), a socket whose non-blocking connect(2) may be in
 * progress, without blocking: ready runs from the loop when it is done, or dead if it fails.
 * 0 or -errno with why. */
int td_nbdc_start(struct td_loop *loop, int fd, const struct nbd_client_opts *opts,
		  td_nbdc_ready_fn ready, td_nbdc_dead_fn dead, void *data, struct td_nbdc **out,
		  char *why, size_t why_len);
void td_nbdc_info(const struct td_nbdc *c, struct td_nbdc_info *info);
/* Queue a write (buf valid until done runs) or a flush, sent at once as far as the socket
 * takes it. 0, or -errno (-ENOTCONN once failed): done will not run. */
int td_nbdc_pwrite(struct td_nbdc *c, const void *buf, size_t len, uint64_t offset,
		   td_nbdc_done_fn done, void *data);
int td_nbdc_flush(struct td_nbdc *c, td_nbdc_done_fn done, void *data);
/* Queue without sending (td_nbdc_kick sends the batch): a read into, or a write from, len bytes
 * of iov from byte skip (lib/nbd's windows); a flush; a discard (TRIM, or WRITE_ZEROES that may
 * punch a hole when the server has no TRIM; -EOPNOTSUPP with neither). 0 or -errno as above;
 * -ENOTCONN once failed. */
int td_nbdc_readv(struct td_nbdc *c, const struct iovec *iov, int iovcnt, size_t skip, uint32_t len,
		  uint64_t offset, td_nbdc_done_fn done, void *data);
int td_nbdc_writev(struct td_nbdc *c, const struct iovec *iov, int iovcnt, size_t skip,
		   uint32_t len, uint64_t offset, td_nbdc_done_fn done, void *data);
int td_nbdc_flush_queued(struct td_nbdc *c, td_nbdc_done_fn done, void *data);
int td_nbdc_discard(struct td_nbdc *c, uint32_t len, uint64_t offset, td_nbdc_done_fn done,
		    void *data);
/* Sends what was queued as far as the socket takes it (dead may run inside). */
void td_nbdc_kick(struct td_nbdc *c);
/* Reads the replies that came, without waiting (adaptive polling): their done callbacks run
 * inside. 0, or -ENOTCONN when not connected. */
int td_nbdc_poll(struct td_nbdc *c);
/* Commands sent or queued and not answered. */
unsigned int td_nbdc_inflight(const struct td_nbdc *c);
/* Closes: with `disconnect` and nothing in flight, NBD_CMD_DISC first. The done callbacks of
 * commands in flight are not called. NULL is a no-op. */
void td_nbdc_close(struct td_nbdc *c, bool disconnect);

#endif
