/* The host-wide polling budget: a table of slots in shared memory (one per polling tapdisk),
 * so that a hundred VBDs never spin a hundred processes. A slot holds its owner's pid; slots of
 * processes that died holding them are reclaimed. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ringtap/poll.h"

#define TABLE_BYTES (POLL_BUDGET_SLOTS * sizeof(atomic_int))
#define RECLAIM_PERIOD_NS 100000000ULL

static atomic_int *slots(const struct poll_budget *b)
{
	return (atomic_int *)b->table;
}

int poll_budget_open(struct poll_budget *b, const char *path, unsigned int limit)
{
	struct stat st;
	int fd, err = 0;

	memset(b, 0, sizeof(*b));
	b->slot = -1;
	b->pid = (int)getpid();
	if (limit == 0) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);

		limit = cpus > 1 ? (unsigned int)cpus - 1 : 1;
	}
	if (limit > POLL_BUDGET_SLOTS)
		return -EINVAL;
	b->limit = limit;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || (st.st_size < (off_t)TABLE_BYTES && ftruncate(fd, TABLE_BYTES) < 0))
		err = -errno;
	if (!err) {
		b->table = mmap(NULL, TABLE_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (b->table == MAP_FAILED) {
			b->table = NULL;
			err = -errno;
		}
	}
	close(fd);
	return err;
}

void poll_budget_close(struct poll_budget *b)
{
	if (!b->table)
		return;
	poll_budget_release(b);
	munmap(b->table, TABLE_BYTES);
	b->table = NULL;
}

static bool try_take(struct poll_budget *b, int pid)
{
	for (unsigned int i = 0; i < b->limit; i++) {
		int expected = 0;

		if (atomic_compare_exchange_strong(&slots(b)[i], &expected, pid)) {
			b->slot = (int)i;
			return true;
		}
	}
	return false;
}

static void reclaim_dead(struct poll_budget *b)
{
	for (unsigned int i = 0; i < b->limit; i++) {
		int owner = atomic_load(&slots(b)[i]);

		if (owner > 0 && kill(owner, 0) < 0 && errno == ESRCH)
			atomic_compare_exchange_strong(&slots(b)[i], &owner, 0);
	}
}

bool poll_budget_acquire(struct poll_budget *b, uint64_t now)
{
	if (!b->table)
		return true; /* no shared table: no host-wide cap */
	if (b->slot >= 0)
		return true;
	if (try_take(b, b->pid))
		return true;
	if (now < b->next_reclaim_ns)
		return false;
	b->next_reclaim_ns = now + RECLAIM_PERIOD_NS;
	reclaim_dead(b);
	return try_take(b, b->pid);
}

void poll_budget_release(struct poll_budget *b)
{
	int pid = b->pid;

	if (!b->table || b->slot < 0)
		return;
	atomic_compare_exchange_strong(&slots(b)[b->slot], &pid, 0);
	b->slot = -1;
}

unsigned int poll_budget_in_use(const struct poll_budget *b)
{
	unsigned int n = 0;

	for (unsigned int i = 0; b->table && i < POLL_BUDGET_SLOTS; i++)
		n += atomic_load(&slots(b)[i]) != 0;
	return n;
}
