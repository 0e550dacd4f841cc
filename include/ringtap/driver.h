/* The image-driver interface: every driver (drivers/) is one td_driver_ops table; the core knows
 * drivers only through the table of tables in drivers/registry.c. Everything a driver may use
 * from the core is declared here; the loop is opaque (drivers that watch a descriptor include
 * the loop's own header). */
#ifndef RINGTAP_DRIVER_H
#define RINGTAP_DRIVER_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

struct td_loop;

/* Sector quantities are 512-byte units (the same definition as the core's blkif header). */
#define TD_SECTOR_SHIFT 9

/* What a td_io asks for. The values are the core's enum td_op for the same operations (barriers
 * never reach a driver: the core splits them into drain, write and flush); src/image.c asserts
 * that they agree. */
enum td_io_op {
	TD_IO_READ = 0,
	TD_IO_WRITE = 1,
	TD_IO_FLUSH = 2, /* every write completed before it is durable */
	TD_IO_DISCARD = 4,
};

#define TD_OPEN_RDONLY 0x1u
/* Image locking (drivers/image_lock.c), QEMU's locking=on|off|auto: neither bit is auto. */
#define TD_OPEN_LOCK_ON 0x2u
#define TD_OPEN_LOCK_OFF 0x4u
#define TD_OPEN_LOCK_MASK (TD_OPEN_LOCK_ON | TD_OPEN_LOCK_OFF)

/* tapdisk's default locking mode (on, off, auto) when the open does not say (tap-ctl -L). */
#define TD_IMAGE_LOCKING_ENV "TAPDISK_IMAGE_LOCKING"

/* The I/O engine of a file-backed image (aio, vhd): neither bit is auto (io_uring where the
 * kernel allows it, else libaio). */
#define TD_OPEN_ENGINE_LIBAIO 0x8u
#define TD_OPEN_ENGINE_IO_URING 0x10u
#define TD_OPEN_ENGINE_MASK (TD_OPEN_ENGINE_LIBAIO | TD_OPEN_ENGINE_IO_URING)
/* tapdisk's engine for the images it opens: auto (the default), libaio or io_uring. */
#define TD_IO_ENGINE_ENV "TAPDISK_IO_ENGINE"
/* The io_uring backend's settings (drivers/engine.h says what each means; tapdisk.conf's
 * uring-* keys set them when the environment does not). */
#define TD_URING_BATCH_ENV "TAPDISK_URING_BATCH"
#define TD_URING_FIXED_BUFFERS_ENV "TAPDISK_URING_FIXED_BUFFERS"
#define TD_URING_SQPOLL_ENV "TAPDISK_URING_SQPOLL"
#define TD_URING_SQPOLL_CPU_ENV "TAPDISK_URING_SQPOLL_CPU"

#define TD_IMAGE_WHY_MAX 256

/* One I/O on an image. The submitter owns it (one per ring slot: no allocation per request)
 * until `done` runs; drivers keep their per-I/O state in `drv`. */
struct td_io {
	uint8_t op; /* enum td_io_op */
	uint64_t sector; /* 512-byte units */
	uint64_t nr_sectors; /* discard only; read/write use the iovec */
	struct iovec *iov;
	int iovcnt;
	/* err: 0 or -errno. Runs from the loop, never from inside submit. */
	void (*done)(struct td_io *io, int err);
	void *data;
	struct td_io *next; /* for the driver's queues */
	uint64_t drv[8]; /* driver-private (e.g. an engine request, drivers/engine.h) */
};

struct td_image_info {
	uint64_t sectors; /* 512-byte sectors */
	uint32_t sector_size; /* logical, 512 */
	uint32_t physical_sector_size;
	bool readonly;
	bool discard;
	uint32_t discard_granularity; /* bytes */
	uint32_t discard_alignment;
	const char *engine; /* the I/O engine serving the image ("libaio", "io_uring"), or NULL */
};

struct td_image;

/* One of a driver's own counters, for `tap-ctl stats` (images[].driver_stats). */
struct td_counter {
	const char *name;
	uint64_t value;
};

struct td_driver_ops {
	const char *name; /* the type printed everywhere */
	const char *const *aliases; /* NULL-terminated, may be NULL */
	/* path: what follows "type:"; fills img->info and img->priv. 0 or -errno. */
	int (*open)(struct td_image *img, const char *path, unsigned int flags);
	void (*close)(struct td_image *img);
	/* Queues one I/O; the queue is started by kick (so that a batch is one submission). */
	void (*submit)(struct td_image *img, struct td_io *io);
	void (*kick)(struct td_image *img);
	void (*info)(const struct td_image *img, struct td_image_info *info);
	/* Optional, for adaptive polling's spin loop: completes the I/Os that finished, without a
	 * system call. Returns how many completed, or a negative errno when this image cannot be
	 * polled (-EOPNOTSUPP; its completions then only arrive through the loop). */
	int (*poll)(struct td_image *img);
	/* Optional: this image's own counters (at most max of them); returns how many. */
	int (*counters)(const struct td_image *img, struct td_counter *out, int max);
	/* Optional: [base, base + len) (len 0: no region any more) holds the buffers of most I/Os
	 * to come; the image's files may register it with the kernel (io_uring's fixed buffers).
	 * The caller owns the memory: it hands the region over once the image is open and takes
	 * it back (len 0) before it frees the memory or lets go of the image. A layer above other
	 * images (a VHD chain, the CBT log, the mirror) passes it down. */
	void (*register_buffer)(struct td_image *img, void *base, size_t len);
	/* Optional: the page at addr (4096 bytes, aligned; NULL: none any more) holds the
	 * buffers of some I/Os to come, as page `slot` (0, 1, ...: the caller's numbering, e.g. a
	 * persistent-grant cache's entries), replacing that slot's page. Owned and handed over,
	 * taken back and passed down as register_buffer's region. */
	void (*register_page)(struct td_image *img, uint32_t slot, void *addr);
};

struct td_image {
	const struct td_driver_ops *ops;
	struct td_loop *loop;
	struct td_image *parent; /* the next image of a chain (VHD parents); NULL for raw */
	struct td_image_info info;
	unsigned int flags;
	void *priv;
	char name[512]; /* "type:path" as opened (canonical type) */
	/* Why an open failed, for the toolstack ("... is in use by tapdisk pid 12 minor 0"), or
	 * "" when errno says it all. Kept by td_image_open on failure. */
	char why[TD_IMAGE_WHY_MAX];
};

/* The drivers, NULL-terminated (drivers/registry.c). */
extern const struct td_driver_ops *const td_drivers[];

const struct td_driver_ops *td_driver_find(const char *type);

/* Opens "type:path" (type: a driver's name or alias). 0 or -errno (-EPROTONOSUPPORT for an
 * unknown type, -EINVAL for a string without ':'; -EBUSY when another opener holds the image's
 * lock, with img->why saying who). Drivers use it too (a VHD chain's raw parent). */
int td_image_open(struct td_image *img, struct td_loop *loop, const char *type_path,
		  unsigned int flags);
void td_image_close(struct td_image *img);

static inline void td_image_submit(struct td_image *img, struct td_io *io)
{
	img->ops->submit(img, io);
}

static inline void td_image_kick(struct td_image *img)
{
	img->ops->kick(img);
}

static inline void td_image_register_buffer(struct td_image *img, void *base, size_t len)
{
	if (img && img->ops->register_buffer)
		img->ops->register_buffer(img, base, len);
}

static inline void td_image_register_page(struct td_image *img, uint32_t slot, void *addr)
{
	if (img && img->ops->register_page)
		img->ops->register_page(img, slot, addr);
}

static inline int td_image_poll(struct td_image *img)
{
	return img->ops->poll ? img->ops->poll(img) : -EOPNOTSUPP;
}

static inline int td_image_counters(const struct td_image *img, struct td_counter *out, int max)
{
	return img->ops && img->ops->counters ? img->ops->counters(img, out, max) : 0;
}

/* The TD_OPEN_ENGINE_* flags of an engine's name: "auto" (0), "libaio" or "io_uring". 0, or
 * -EINVAL for another name. */
int td_io_engine_parse(const char *name, unsigned int *flags);

/* Parses a size with an optional binary suffix (K, M, G, T; "512", "64M", "1G"). 0 or -EINVAL. */
int td_parse_size(const char *s, uint64_t *bytes);

#endif
