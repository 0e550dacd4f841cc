/* The storage-migration mirror (blktap3's "secondary", tap-ctl -2 nbd:<name>): every write the
 * VBD's image takes is also sent to an NBD server, and completes once both are done; reads stay
 * local. A secondary that fails (connection lost, an error reply, no reply in time) is retired:
 * the VBD goes on with its image alone, its writes answered from the image, and the mirror
 * stays as "failed" for `tap-ctl stats` (nbd_mirror_failed) until replaced or removed. It sits
 * in front of the VBD's image as an image of its own, so the ring and the NBD export submit to
 * it unchanged. Internal to tapdisk. */
#ifndef TD_MIRROR_H
#define TD_MIRROR_H

#include <stdbool.h>
#include <stdint.h>

struct td_image;
struct td_loop;
struct td_mirror;

/* Seconds a write may wait for the secondary's reply before the secondary is retired. */
#define TD_MIRROR_TIMEOUT_ENV "TAPDISK_MIRROR_TIMEOUT"
#define TD_MIRROR_TIMEOUT_DEFAULT 60
/* The handshake's bound (blktap3's client waits 10 s for each read). */
#define TD_MIRROR_HANDSHAKE_MS 10000

struct td_mirror_stats {
	const char *name; /* as given to -2 */
	bool connected; /* writes go to it */
	bool failed; /* it was retired (or never connected) */
	const char *why; /* the failure, "" when none */
	const char *protocol; /* the handshake's (libnbd's names), "" when not connected */
	uint64_t size; /* bytes, 0 when not connected */
	uint64_t writes, bytes_written, flushes; /* acknowledged by the secondary */
	uint64_t failures; /* times a secondary was retired */
	unsigned int inflight; /* commands on the secondary */
};

/* A mirror named `name` over the connected socket fd (consumed), handshaken now; fd < 0 (no
 * connection could be made, `why` says why) or a failed handshake make it a failed mirror,
 * logged. NULL only when out of memory (fd then closed). */
struct td_mirror *td_mirror_create(struct td_loop *loop, const char *name, int fd, const char *why);
/* Sends NBD_CMD_DISC and closes. Nothing may be in flight through it (the VBD is idle). */
void td_mirror_destroy(struct td_mirror *m);
/* The image requests are submitted to: the mirror in front of `lower` (which it now forwards
 * to). */
struct td_image *td_mirror_image(struct td_mirror *m, struct td_image *lower);
/* Connected, and the secondary's size (bytes) differs from `bytes`: the caller refuses it. */
bool td_mirror_size_differs(const struct td_mirror *m, uint64_t bytes);
void td_mirror_stats(const struct td_mirror *m, struct td_mirror_stats *st);

#endif
