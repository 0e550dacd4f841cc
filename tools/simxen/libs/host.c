/* A process's connection to simxen's state directory (host.h): environment, host file, the
 * event-channel lock and the per-domain state files mapped on first use. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host.h"

_Static_assert(sizeof(struct sx_domain_shared) % SX_PAGE_SIZE == 0, "state file is whole pages");

int sx_env(const char **dir, uint16_t *domid, const char **why)
{
	const char *d = getenv("SIMXEN_DIR");
	const char *id = getenv("SIMXEN_DOMID");

	if (!d || !*d) {
		*why = "SIMXEN_DIR is not set (the simxen state directory; see `simxen start`)";
		return -ENOENT;
	}
	*dir = d;
	*domid = 0;
	if (id && *id) {
		char *end;
		unsigned long v;

		errno = 0;
		v = strtoul(id, &end, 10);
		if (errno || *end || id[0] == '-' || !sx_domid_valid(v)) {
			*why = "SIMXEN_DOMID is not a domain id (0-32751)";
			return -EINVAL;
		}
		*domid = (uint16_t)v;
	}
	return 0;
}

/* Opens (creating when asked) a file of exactly size bytes. A file still being created by another
 * process (size 0) counts as absent unless we create it ourselves. */
static int open_sized(int dir_fd, const char *name, uint64_t size, bool create)
{
	struct stat st;
	int rc = 0, fd = openat(dir_fd, name, O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0600);

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		rc = -errno;
	else if (st.st_size == 0 && !create)
		rc = -ENOENT;
	else if (st.st_size == 0 && ftruncate(fd, (off_t)size) < 0)
		rc = -errno;
	else if (st.st_size != 0 && (uint64_t)st.st_size != size)
		rc = -EPROTO; /* not a simxen file of this version */
	if (rc < 0) {
		close(fd);
		return rc;
	}
	return fd;
}

int sx_host_open_file(struct sx_host *h, const char *name, uint64_t size)
{
	return open_sized(h->dir_fd, name, size, true);
}

static void *map_fd(int fd, size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	return p == MAP_FAILED ? NULL : p;
}

int sx_host_open(struct sx_host *h, const char *dir)
{
	int rc;

	memset(h, 0, sizeof(*h));
	h->host_fd = -1;
	h->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (h->dir_fd < 0)
		return -errno;
	rc = open_sized(h->dir_fd, SX_HOST_FILE, SX_PAGE_SIZE, true);
	if (rc < 0)
		goto fail;
	h->host_fd = rc;
	h->shared = map_fd(h->host_fd, SX_PAGE_SIZE);
	if (!h->shared) {
		rc = -errno;
		goto fail;
	}
	pthread_mutex_init(&h->domains_lock, NULL);
	pthread_mutex_init(&h->evtchn_lock, NULL);
	atomic_init(&h->domains, NULL);
	return 0;
fail:
	if (h->shared)
		munmap(h->shared, SX_PAGE_SIZE);
	if (h->host_fd >= 0)
		close(h->host_fd);
	close(h->dir_fd);
	return rc;
}

static void domain_free(struct sx_domain *d)
{
	if (d->mem)
		munmap(d->mem, SX_MEMORY_SIZE);
	if (d->shared)
		munmap(d->shared, sizeof(*d->shared));
	if (d->mem_fd >= 0)
		close(d->mem_fd);
	free(d);
}

void sx_host_close(struct sx_host *h)
{
	struct sx_domain *d = atomic_load(&h->domains), *next;

	for (; d; d = next) {
		next = d->next;
		domain_free(d);
	}
	pthread_mutex_destroy(&h->domains_lock);
	pthread_mutex_destroy(&h->evtchn_lock);
	munmap(h->shared, SX_PAGE_SIZE);
	close(h->host_fd);
	close(h->dir_fd);
}

static struct sx_domain *domain_lookup(struct sx_host *h, uint16_t domid)
{
	struct sx_domain *d;

	for (d = atomic_load_explicit(&h->domains, memory_order_acquire); d; d = d->next)
		if (d->domid == domid)
			return d;
	return NULL;
}

/* Memory first: a domain whose state file exists has its memory file too. */
static int domain_open(struct sx_host *h, uint16_t domid, bool create, struct sx_domain **out)
{
	char name[32];
	struct sx_domain *d = calloc(1, sizeof(*d));
	int fd, rc;

	if (!d)
		return -ENOMEM;
	d->domid = domid;
	snprintf(name, sizeof(name), SX_MEMORY_FILE_FMT, domid);
	d->mem_fd = open_sized(h->dir_fd, name, SX_MEMORY_SIZE, create);
	if (d->mem_fd < 0) {
		rc = d->mem_fd;
		goto fail;
	}
	snprintf(name, sizeof(name), SX_DOMAIN_FILE_FMT, domid);
	fd = open_sized(h->dir_fd, name, sizeof(*d->shared), create);
	if (fd < 0) {
		rc = fd;
		goto fail;
	}
	d->shared = map_fd(fd, sizeof(*d->shared));
	rc = -errno;
	close(fd); /* the mapping stays */
	if (!d->shared)
		goto fail;
	d->mem = map_fd(d->mem_fd, SX_MEMORY_SIZE);
	if (!d->mem) {
		rc = -errno;
		goto fail;
	}
	*out = d;
	return 0;
fail:
	domain_free(d);
	return rc == -ENOENT ? -ESRCH : rc;
}

static int domain_find(struct sx_host *h, uint16_t domid, bool create, struct sx_domain **out)
{
	struct sx_domain *d = domain_lookup(h, domid);
	int rc = 0;

	if (d) {
		*out = d;
		return 0;
	}
	pthread_mutex_lock(&h->domains_lock);
	d = domain_lookup(h, domid);
	if (!d) {
		rc = domain_open(h, domid, create, &d);
		if (rc == 0) {
			d->next = atomic_load(&h->domains);
			atomic_store_explicit(&h->domains, d, memory_order_release);
		}
	}
	pthread_mutex_unlock(&h->domains_lock);
	*out = d;
	return rc;
}

int sx_domain_get(struct sx_host *h, uint16_t domid, struct sx_domain **out)
{
	return domain_find(h, domid, false, out);
}

int sx_domain_create(struct sx_host *h, uint16_t domid, struct sx_domain **out, bool *was_live)
{
	int rc = domain_find(h, domid, true, out);

	if (rc == 0)
		*was_live = atomic_exchange(&(*out)->shared->live, 1) != 0;
	return rc;
}

uint32_t sx_host_new_handle_id(struct sx_host *h)
{
	uint32_t id;

	do
		id = atomic_fetch_add(&h->shared->next_handle_id, 1) + 1;
	while (id == 0);
	return id;
}

void sx_host_evtchn_lock(struct sx_host *h)
{
	pthread_mutex_lock(&h->evtchn_lock);
	/* flock only fails on EINTR here: the fd is ours and valid. */
	while (flock(h->host_fd, LOCK_EX) < 0 && errno == EINTR)
		;
}

void sx_host_evtchn_unlock(struct sx_host *h)
{
	flock(h->host_fd, LOCK_UN);
	pthread_mutex_unlock(&h->evtchn_lock);
}
