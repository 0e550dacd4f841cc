/* Owner slots (owner.h). A handle holds its slot with an open file description lock on the slot's
 * byte of $SIMXEN_DIR/owners; a slot marked claimed whose byte another description can lock was
 * left by a dead process, and whoever finds it releases what that process held. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "grant.h"
#include "owner.h"

struct sx_owner_pins {
	struct sx_owner_pins *next;
	uint16_t domid;
	struct sx_pins_shared *shared;
};

static int slot_lock(int fd, uint32_t slot, short type)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = slot, .l_len = 1 };

	return fcntl(fd, F_OFD_SETLK, &fl) < 0 ? -errno : 0;
}

static void pins_file_name(char *name, size_t size, uint32_t slot, uint16_t domid)
{
	snprintf(name, size, SX_PINS_FILE_FMT, slot, domid);
}

static struct sx_pins_shared *pins_map(int fd)
{
	void *p = mmap(NULL, sizeof(struct sx_pins_shared), PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		       0);

	return p == MAP_FAILED ? NULL : p;
}

/* Drops the pins the dead holder of a slot kept on domain domid's grants, then their record. */
static void reap_pins(struct sx_host *h, uint16_t domid, const char *name)
{
	struct sx_pins_shared *pins = NULL;
	struct sx_domain *dom;
	int fd = openat(h->dir_fd, name, O_RDWR | O_CLOEXEC);
	uint32_t ref, n;

	if (fd >= 0) {
		pins = pins_map(fd);
		close(fd);
	}
	if (pins && sx_domain_get(h, domid, &dom) == 0) {
		for (ref = 0; ref < SX_NR_GRANTS; ref++)
			for (n = atomic_load(&pins->count[ref]); n > 0; n--)
				sx_grant_unpin(dom, ref);
	}
	if (pins)
		munmap(pins, sizeof(*pins));
	unlinkat(h->dir_fd, name, 0);
}

/* With the slot's lock held: revokes what its holder granted and unpins what it mapped. */
static void reap_slot(struct sx_owner *o, struct sx_host *h, uint32_t slot)
{
	struct sx_owner_shared *s = &o->table->slots[slot];
	struct sx_domain *dom;
	struct dirent *e;
	char prefix[32];
	size_t len;
	uint32_t ref;
	DIR *dir;
	int fd;

	if (sx_domid_valid(s->domid) && sx_domain_get(h, (uint16_t)s->domid, &dom) == 0)
		for (ref = SX_FIRST_GRANT; ref < SX_NR_GRANTS; ref++)
			sx_grant_revoke_owned(dom, ref, slot);
	len = (size_t)snprintf(prefix, sizeof(prefix), "pins%u.d", slot);
	fd = openat(h->dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	dir = fd >= 0 ? fdopendir(fd) : NULL;
	if (!dir && fd >= 0)
		close(fd);
	while (dir && (e = readdir(dir))) {
		unsigned long domid;
		char *end;

		if (strncmp(e->d_name, prefix, len) != 0)
			continue;
		domid = strtoul(e->d_name + len, &end, 10);
		if (*end == 0 && end != e->d_name + len && sx_domid_valid(domid))
			reap_pins(h, (uint16_t)domid, e->d_name);
	}
	if (dir)
		closedir(dir);
	atomic_store(&s->claimed, 0);
}

unsigned int sx_owner_reap(struct sx_owner *o, struct sx_host *h)
{
	unsigned int reaped = 0;
	uint32_t slot;

	for (slot = 1; slot < SX_NR_OWNERS; slot++) {
		if (slot == o->slot || !atomic_load(&o->table->slots[slot].claimed))
			continue;
		if (slot_lock(o->fd, slot, F_WRLCK) < 0)
			continue; /* held: its process lives */
		if (atomic_load(&o->table->slots[slot].claimed)) {
			reap_slot(o, h, slot);
			reaped++;
		}
		slot_lock(o->fd, slot, F_UNLCK);
	}
	return reaped;
}

int sx_owner_claim(struct sx_owner *o, struct sx_host *h, uint16_t domid)
{
	uint32_t slot;
	void *table;

	memset(o, 0, sizeof(*o));
	o->fd = sx_host_open_file(h, SX_OWNERS_FILE, sizeof(struct sx_owners_shared));
	if (o->fd < 0)
		return o->fd;
	table = mmap(NULL, sizeof(*o->table), PROT_READ | PROT_WRITE, MAP_SHARED, o->fd, 0);
	if (table == MAP_FAILED) {
		int rc = -errno;

		close(o->fd);
		return rc;
	}
	o->table = table;
	sx_owner_reap(o, h);
	for (slot = 1; slot < SX_NR_OWNERS; slot++) {
		struct sx_owner_shared *s = &o->table->slots[slot];

		if (atomic_load(&s->claimed) || slot_lock(o->fd, slot, F_WRLCK) < 0)
			continue;
		if (atomic_load(&s->claimed))
			reap_slot(o, h, slot); /* its holder died since the reaping above */
		s->domid = domid;
		atomic_store(&s->claimed, 1);
		o->slot = slot;
		return 0;
	}
	munmap(o->table, sizeof(*o->table));
	close(o->fd);
	return -EMFILE;
}

void sx_owner_release(struct sx_owner *o, struct sx_host *h)
{
	struct sx_owner_pins *p;
	char name[32];

	while ((p = o->pins)) {
		o->pins = p->next;
		munmap(p->shared, sizeof(*p->shared));
		pins_file_name(name, sizeof(name), o->slot, p->domid);
		unlinkat(h->dir_fd, name, 0);
		free(p);
	}
	atomic_store(&o->table->slots[o->slot].claimed, 0);
	munmap(o->table, sizeof(*o->table));
	close(o->fd); /* drops the slot's lock */
}

static int pins_open(struct sx_owner *o, struct sx_host *h, uint16_t domid,
		     struct sx_owner_pins **out)
{
	struct sx_owner_pins *p = calloc(1, sizeof(*p));
	char name[32];
	int fd, rc = 0;

	if (!p)
		return -ENOMEM;
	pins_file_name(name, sizeof(name), o->slot, domid);
	/* Truncated: a file of an earlier holder of the slot counts for nothing. */
	fd = openat(h->dir_fd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, sizeof(struct sx_pins_shared)) < 0 ||
	    !(p->shared = pins_map(fd)))
		rc = -errno;
	if (fd >= 0)
		close(fd);
	if (rc < 0) {
		unlinkat(h->dir_fd, name, 0);
		free(p);
		return rc;
	}
	p->domid = domid;
	p->next = o->pins;
	o->pins = p;
	*out = p;
	return 0;
}

int sx_owner_pins_add(struct sx_owner *o, struct sx_host *h, struct sx_domain *dom, uint32_t ref,
		      int delta)
{
	struct sx_owner_pins *p;
	int rc;

	for (p = o->pins; p && p->domid != dom->domid; p = p->next)
		;
	if (!p && delta < 0)
		return 0;
	if (!p) {
		rc = pins_open(o, h, dom->domid, &p);
		if (rc < 0)
			return rc;
	}
	if (delta > 0)
		atomic_fetch_add_explicit(&p->shared->count[ref], 1, memory_order_relaxed);
	else
		atomic_fetch_sub_explicit(&p->shared->count[ref], 1, memory_order_relaxed);
	return 0;
}
