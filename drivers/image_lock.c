/* Image locks as QEMU's file-posix.c takes them, so that tapdisks and QEMUs exclude each other:
 * open-file-description locks (F_OFD_SETLK: per open file, not per process, so closing another
 * descriptor of the file never drops them; per inode, so a symlink, a hard link or a bind mount
 * of the image finds them), all shared (F_RDLCK) on single bytes: byte 100 + p for each
 * permission p the opener takes, byte 200 + p for each it does not let others take
 * (p: 0 consistent read, 1 write, 2 write-unchanged, 3 resize). A writer takes read, write,
 * write-unchanged and resize and shares read and write-unchanged; a reader (a VHD parent, a
 * read-only VBD) takes read and shares read and write-unchanged. After locking, each side tests
 * (F_OFD_GETLK) the bytes the other holds: two writers, or a writer and a reader, conflict
 * whichever comes first; readers share. Two openers racing both see each other and both fail,
 * never both succeed. vhd-util takes no lock (as blktap3's): SM reads and queries files while
 * they are served, and writes them only while the VBD is paused (closed, unlocked). */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "drivers/image_lock.h"
#include "ringtap/log.h"
#include "ringtap/driver.h"

#define PERM_BASE 100 /* QEMU's RAW_LOCK_PERM_BASE */
#define SHARED_BASE 200 /* QEMU's RAW_LOCK_SHARED_BASE */
#define PERM_READ 0x1 /* QEMU's BLK_PERM_CONSISTENT_READ */
#define PERM_WRITE 0x2
#define PERM_WRITE_UNCHANGED 0x4
#define PERM_RESIZE 0x8
#define PERM_BITS 4

#define WRITER_PERM (PERM_READ | PERM_WRITE | PERM_WRITE_UNCHANGED | PERM_RESIZE)
#define READER_PERM PERM_READ
#define SHARED_PERM (PERM_READ | PERM_WRITE_UNCHANGED)

static const char *const perm_names[PERM_BITS] = { "read", "write", "write-unchanged", "resize" };

enum image_lock_mode image_lock_mode_of(unsigned int flags)
{
	if (flags & TD_OPEN_LOCK_OFF)
		return IMAGE_LOCK_OFF;
	return flags & TD_OPEN_LOCK_ON ? IMAGE_LOCK_ON : IMAGE_LOCK_AUTO;
}

/* Filesystems whose locks auto does not trust (statfs f_type). Their locks live on a server and
 * span hosts: a host that dies keeps its locks until the server notices (NFSv3: until that host
 * reboots), which would keep HA from restarting the VM elsewhere, and a lock the client fails to
 * reclaim after a server restart turns the guest's I/O into EIO. SM already keeps a VDI active
 * on one host at a time (its host_ keys); what is left, two tapdisks on one host, is what `-L on`
 * covers on these filesystems. QEMU's auto keeps locking on NFS; XAPI's failure modes differ. */
static const struct {
	unsigned long magic;
	const char *name;
} untrusted_fs[] = {
	{ 0x6969, "nfs" },	{ 0xff534d42, "cifs" }, { 0xfe534d42, "smb2" },
	{ 0x517b, "smb" },	{ 0x01161970, "gfs2" }, { 0x7461636f, "ocfs2" },
	{ 0x00c36400, "ceph" }, { 0x65735546, "fuse" }, { 0x01021997, "9p" },
	{ 0x5346414f, "afs" },	{ 0x6b414653, "afs" },	{ 0x0bd00bd0, "lustre" },
	{ 0x47504653, "gpfs" },
};

/* Logged once per tapdisk (one VBD per process): every file of a chain would repeat it. */
static bool logged_untrusted, logged_unsupported;

static const char *untrusted_fs_name(int fd)
{
	struct statfs sfs;

	if (fstatfs(fd, &sfs) < 0)
		return NULL;
	for (size_t i = 0; i < sizeof(untrusted_fs) / sizeof(untrusted_fs[0]); i++)
		if ((unsigned long)sfs.f_type == untrusted_fs[i].magic)
			return untrusted_fs[i].name;
	return NULL;
}

static int lock_byte(int fd, int byte, short type)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = byte, .l_len = 1 };

	return fcntl(fd, F_OFD_SETLK, &fl) < 0 ? -errno : 0;
}

/* Whether another open file holds a lock on byte (ours never conflict with ourselves). */
static int byte_taken(int fd, int byte)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = byte, .l_len = 1 };

	if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
		return -errno;
	return fl.l_type != F_UNLCK;
}

static void unlock_all(int fd)
{
	struct flock fl = { .l_type = F_UNLCK,
			    .l_whence = SEEK_SET,
			    .l_start = PERM_BASE,
			    .l_len = SHARED_BASE + PERM_BITS - PERM_BASE };

	fcntl(fd, F_OFD_SETLK, &fl);
}

/* Takes the bytes, then checks the other side's. 0, -EBUSY (conflict: *conflict says which
 * permission), or the fcntl error. */
static int take_locks(int fd, bool write, const char **conflict)
{
	unsigned int perm = write ? WRITER_PERM : READER_PERM, i;
	int err = 0, t;

	for (i = 0; i < PERM_BITS && !err; i++) {
		if (perm & (1u << i))
			err = lock_byte(fd, PERM_BASE + i, F_RDLCK);
		if (!err && !(SHARED_PERM & (1u << i)))
			err = lock_byte(fd, SHARED_BASE + i, F_RDLCK);
	}
	for (i = 0; i < PERM_BITS && !err; i++) {
		/* we take p and someone refuses to share it; we refuse p and someone has it */
		if ((perm & (1u << i)) && (t = byte_taken(fd, SHARED_BASE + i)))
			err = t < 0 ? t : -EBUSY;
		else if (!(SHARED_PERM & (1u << i)) && (t = byte_taken(fd, PERM_BASE + i)))
			err = t < 0 ? t : -EBUSY;
		if (err == -EBUSY)
			*conflict = perm_names[i];
	}
	if (err == -EAGAIN) /* a write lock on our bytes: not QEMU's, but a conflict all the same */
		err = -EBUSY;
	if (err)
		unlock_all(fd);
	return err;
}

/* ---- who holds it: /proc/<pid>/fd and fdinfo (OFD locks report no pid: l_pid is -1) ------- */

/* Whether fd `name` of the process holds OFD locks, and the write byte among them. */
static bool fd_locks(int fdinfo_dir, const char *name, bool *writes)
{
	char line[256];
	bool any = false;
	FILE *f;
	int fd = openat(fdinfo_dir, name, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		return false;
	}
	/* "lock:\t1: OFDLCK ADVISORY  READ -1 fe:00:1234 100 100": only this fd's locks */
	while (fgets(line, sizeof(line), f)) {
		unsigned long long start;
		char end[32];
		const char *p;

		if (strncmp(line, "lock:", 5) || !strstr(line, "OFDLCK"))
			continue;
		any = true;
		p = strrchr(line, ':'); /* the dev:ino field's last colon, then ino start end */
		if (p && sscanf(p + 1, "%*u %llu %31s", &start, end) == 2 &&
		    start <= PERM_BASE + 1 &&
		    (!strcmp(end, "EOF") || strtoull(end, NULL, 10) >= PERM_BASE + 1))
			*writes = true;
	}
	fclose(f);
	return any;
}

/* The minors a tapdisk holds: its run directory's tapdisk/tapdisk-<N> marker files. */
static void tapdisk_minors(int fd_dir, char *buf, size_t size)
{
	struct dirent *de;
	size_t len = 0;
	DIR *d;
	int dfd = dup(fd_dir);

	buf[0] = '\0';
	if (dfd < 0 || !(d = fdopendir(dfd))) {
		if (dfd >= 0)
			close(dfd);
		return;
	}
	rewinddir(d);
	while ((de = readdir(d))) {
		char target[512];
		const char *base;
		ssize_t n = readlinkat(fd_dir, de->d_name, target, sizeof(target) - 1);

		if (n <= 0)
			continue;
		target[n] = '\0';
		base = strrchr(target, '/');
		if (!base || base - target < 8 || strncmp(base - 8, "/tapdisk/tapdisk-", 17) ||
		    !isdigit((unsigned char)base[9]))
			continue;
		len += (size_t)snprintf(buf + len, len < size ? size - len : 0, "%s%s",
					len ? "," : "", base + 9);
		if (len >= size)
			break;
	}
	closedir(d);
}

struct holder {
	pid_t pid;
	char comm[32];
	char minors[64];
	char path[160]; /* the file as the holder opened it */
	bool locked; /* holds OFD locks on the file (else: only has the device open) */
	bool writes;
};

/* Looks through one process's descriptors for the target; fills h on a better match. */
static bool scan_process(int proc, const char *pid, const struct stat *t, struct holder *h)
{
	char path[300]; /* "<pid>/fdinfo", the pid a d_name */
	struct dirent *de;
	bool found = false;
	int fd_dir, info_dir = -1;
	DIR *d;

	snprintf(path, sizeof(path), "%s/fd", pid);
	fd_dir = openat(proc, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd_dir < 0)
		return false;
	d = fdopendir(dup(fd_dir));
	if (!d) {
		close(fd_dir);
		return false;
	}
	snprintf(path, sizeof(path), "%s/fdinfo", pid);
	info_dir = openat(proc, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	while ((de = readdir(d)) && !(found && h->locked)) {
		bool writes = false, locked;
		struct stat st;
		ssize_t n;

		if (de->d_name[0] == '.' || fstatat(fd_dir, de->d_name, &st, 0) < 0)
			continue;
		if (S_ISBLK(t->st_mode) ? !(S_ISBLK(st.st_mode) && st.st_rdev == t->st_rdev) :
					  (st.st_dev != t->st_dev || st.st_ino != t->st_ino))
			continue;
		locked = info_dir >= 0 && fd_locks(info_dir, de->d_name, &writes);
		/* an open without locks is a holder only of a block device's exclusive claim, and
		 * this process's own descriptors (the vhd library's) are not */
		if (!locked && (found || !S_ISBLK(t->st_mode) || atoi(pid) == getpid()))
			continue;
		found = true;
		h->locked = locked;
		h->writes = writes;
		n = readlinkat(fd_dir, de->d_name, h->path, sizeof(h->path) - 1);
		h->path[n > 0 ? n : 0] = '\0';
	}
	closedir(d);
	if (info_dir >= 0)
		close(info_dir);
	if (found) {
		FILE *f;

		h->pid = (pid_t)atoi(pid);
		snprintf(path, sizeof(path), "/proc/%s/comm", pid);
		f = fopen(path, "re");
		if (!f || !fgets(h->comm, sizeof(h->comm), f))
			snprintf(h->comm, sizeof(h->comm), "?");
		if (f)
			fclose(f);
		h->comm[strcspn(h->comm, "\n")] = '\0';
		tapdisk_minors(fd_dir, h->minors, sizeof(h->minors));
	}
	close(fd_dir);
	return found;
}

/* "in use by tapdisk pid 12 minor 0 (it has /x open read-write)" or the like. */
static void describe_holder(const struct stat *t, bool claim, char *why, size_t size)
{
	struct holder h = { .pid = 0 }, cand;
	struct dirent *de;
	DIR *d = opendir("/proc");

	while (d && (de = readdir(d)) && !h.locked) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		memset(&cand, 0, sizeof(cand));
		if (scan_process(dirfd(d), de->d_name, t, &cand) && (!h.pid || cand.locked))
			h = cand;
	}
	if (d)
		closedir(d);
	if (!h.pid) {
		snprintf(why, size, "%s",
			 claim ? "in use: the device is claimed by another user "
				 "(mounted, or opened exclusively)" :
				 "in use: locked by another process");
		return;
	}
	if (!strcmp(h.comm, "tapdisk") && h.minors[0])
		snprintf(why, size, "is in use by tapdisk pid %d minor %s (it has %s open %s)",
			 (int)h.pid, h.minors, h.path,
			 !h.locked ? "exclusively" :
			 h.writes  ? "read-write" :
				     "read-only, as a VHD parent or a read-only VBD");
	else
		snprintf(why, size, "is in use by %s pid %d (it has %s open%s)", h.comm, (int)h.pid,
			 h.path, h.locked ? (h.writes ? " read-write" : " read-only") : "");
}

/* ---- open --------------------------------------------------------------------------------- */

/* O_EXCL on a read-write block device: the kernel's own claim, which every device node of it
 * (/dev/dm-3, /dev/mapper/..., a node made elsewhere) and a mount agree on, where OFD locks are
 * per device-node inode. Readers cannot claim (a claim is exclusive), so they rely on the locks
 * alone; the writer takes both. */
static bool want_claim(const char *path, bool write, enum image_lock_mode mode)
{
	struct stat st;

	return write && mode != IMAGE_LOCK_OFF && stat(path, &st) == 0 && S_ISBLK(st.st_mode);
}

static int lock_fd(int fd, const char *path, bool write, enum image_lock_mode mode, const char *who,
		   char *why, size_t why_size)
{
	const char *fs, *conflict = NULL;
	struct stat st;
	int err;

	if (mode == IMAGE_LOCK_OFF)
		return 0;
	if (mode == IMAGE_LOCK_AUTO && (fs = untrusted_fs_name(fd))) {
		if (!logged_untrusted)
			rt_info("%s: %s is on %s, whose locks span hosts and outlive dead clients: "
				"not locked (locking auto; -L on forces it)",
				who, path, fs);
		logged_untrusted = true;
		return 0;
	}
	err = take_locks(fd, write, &conflict);
	if (err == -EBUSY) {
		if (fstat(fd, &st) == 0)
			describe_holder(&st, false, why, why_size);
		rt_err("%s: %s %s (%s conflicts)", who, path, why, conflict);
		return err;
	}
	if (err && mode == IMAGE_LOCK_AUTO) {
		/* EINVAL: a kernel without OFD locks; ENOLCK: NFS without a lock manager */
		if (!logged_unsupported)
			rt_warn("%s: %s cannot be locked (%s): not locked (locking auto)", who,
				path, strerror(-err));
		logged_unsupported = true;
		return 0;
	}
	if (err) {
		snprintf(why, why_size, "cannot be locked (locking on): %s", strerror(-err));
		rt_err("%s: %s %s", who, path, why);
	}
	return err;
}

int image_lock_open(const char *path, bool write, enum image_lock_mode mode, const char *who,
		    bool *direct, char *why, size_t why_size)
{
	int flags = (write ? O_RDWR : O_RDONLY) | O_CLOEXEC, fd, err;
	struct stat st;

	if (want_claim(path, write, mode))
		flags |= O_EXCL;
	*direct = true;
	fd = open(path, flags | O_DIRECT);
	if (fd < 0 && errno == EINVAL) {
		*direct = false;
		fd = open(path, flags);
		if (fd >= 0)
			rt_warn("%s: %s refuses O_DIRECT; using buffered I/O (flush still syncs)",
				who, path);
	}
	if (fd < 0) {
		err = -errno;
		if (err == -EBUSY && (flags & O_EXCL) && stat(path, &st) == 0) {
			describe_holder(&st, true, why, why_size);
			rt_err("%s: %s %s", who, path, why);
		}
		return err;
	}
	err = lock_fd(fd, path, write, mode, who, why, why_size);
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}
