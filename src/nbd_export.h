/* The NBD export of a VBD (blktap3's and XAPI's <run dir>/nbd<pid>.<minor>): lib/nbd's server on
 * tapdisk's loop, its requests going to the VBD's image stack like the ring's. Internal to
 * tapdisk. */
#ifndef TD_NBD_EXPORT_H
#define TD_NBD_EXPORT_H

#include <stdbool.h>
#include <stdint.h>

struct td_loop;
struct td_vbd;
struct td_nbd_export;

struct td_nbd_stats {
	uint64_t reads, writes, flushes, trims, zeroes; /* requests completed */
	uint64_t bytes_read, bytes_written;
	uint64_t read_us, write_us; /* total latency, submit to completion */
	uint64_t read_errors, write_errors, other_errors; /* completed with an error */
	uint32_t inflight; /* on the image now */
	uint32_t queued; /* held while the VBD is paused */
	uint32_t clients;
};

/* Serves vbd (opened read-only when `readonly`) at <run dir>/nbd<pid>.<minor>, the socket
 * replacing a stale one. 0 or -errno. */
int td_nbd_export_create(struct td_loop *loop, struct td_vbd *vbd, int minor, bool readonly,
			 struct td_nbd_export **out);
/* Stops serving: the socket is removed, clients are dropped, requests held by a pause fail.
 * I/O already on the image still completes; the VBD must not be closed before it has (a pause
 * waits for it: td_vbd_pause). Frees the export once that I/O is done. NULL is a no-op. */
void td_nbd_export_destroy(struct td_nbd_export *e);
/* The socket path. */
const char *td_nbd_export_path(const struct td_nbd_export *e);
void td_nbd_export_stats(const struct td_nbd_export *e, struct td_nbd_stats *out);

#endif
