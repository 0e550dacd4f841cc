/* Image locking, as QEMU's file-posix does it: open-file-description locks on fixed bytes of the
 * image file or device, so that two tapdisks (or a tapdisk and a QEMU) never write one image at
 * once. Shared by the raw (aio) and vhd drivers: each file of a chain is opened through here. */
#ifndef TD_DRIVERS_IMAGE_LOCK_H
#define TD_DRIVERS_IMAGE_LOCK_H

#include <stdbool.h>
#include <stddef.h>

/* QEMU's locking=on|off|auto, carried in td_image flags (TD_OPEN_LOCK_*). */
enum image_lock_mode {
	IMAGE_LOCK_AUTO = 0, /* on, except on filesystems whose locks cannot be trusted */
	IMAGE_LOCK_ON,
	IMAGE_LOCK_OFF,
};

#define IMAGE_LOCK_WHY_MAX 256

/* The mode the flags of td_image_open ask for. */
enum image_lock_mode image_lock_mode_of(unsigned int td_open_flags);

/* Opens path (O_DIRECT, or buffered with a warning where the filesystem refuses it; *direct says
 * which) read-write or read-only, and locks it: a writer excludes every other user of the image,
 * readers share it with readers. `who` prefixes log lines ("aio", "vhd"). Returns the fd, or
 * -EBUSY with a human reason in why (who holds it: "in use by tapdisk pid 12 minor 0 (...)"),
 * or another -errno. Closing the fd releases the lock (the kernel does so on death too). */
int image_lock_open(const char *path, bool write, enum image_lock_mode mode, const char *who,
		    bool *direct, char *why, size_t why_size);

#endif
