/* What a process killed while it shares or maps grants leaves on simxen: nothing. Its grants are
 * revoked and its mappings unpinned, as Linux releases a dead process's gntalloc and gntdev
 * files; a page another process still maps stays valid there until that process unmaps it. Run
 * with SIMXEN_DIR set. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xengnttab.h>

#include "peer.h"

#define PAGE 4096
#define SHARER 5
#define KILLS 12
/* KILLS * KILLED_PAGES is more than a domain's grant table (32768 entries). */
#define KILLED_PAGES 3000
#define MAX_PAGES 32760
#define LAST_PAGES 257

static int share_count = KILLED_PAGES;

/* Shares share_count pages, writes a mark in each, sends the first two refs (the second 0 if one
 * page) and waits to be killed (or told to unshare and exit). */
static int sharer_main(int fd)
{
	xengntshr_handle *gs = xengntshr_open(NULL, 0);
	uint32_t *refs = calloc(share_count < 2 ? 2 : (size_t)share_count, sizeof(*refs));
	uint8_t *p;
	int i;

	REQUIRE(gs && refs, "xengntshr_open in domain %u", SHARER);
	p = xengntshr_share_pages(gs, 0, share_count, refs, 1);
	REQUIRE(p, "domain %u shares %d pages", SHARER, share_count);
	for (i = 0; i < share_count; i++)
		snprintf((char *)p + (size_t)i * PAGE, 32, "page %d", i);
	peer_send(fd, refs, 2);
	peer_recv1(fd);
	REQUIRE(xengntshr_unshare(gs, p, (uint32_t)share_count) == 0, "unshare");
	xengntshr_close(gs);
	free(refs);
	return 0;
}

/* Opens its handle first, shares only when told (after others died), answers 1 on success. */
static int late_sharer_main(int fd)
{
	xengntshr_handle *gs = xengntshr_open(NULL, 0);
	uint32_t refs[LAST_PAGES];
	void *p;

	REQUIRE(gs, "xengntshr_open in domain %u", SHARER);
	peer_send1(fd, 1);
	peer_recv1(fd);
	p = xengntshr_share_pages(gs, 0, LAST_PAGES, refs, 1);
	peer_send1(fd, p != NULL);
	xengntshr_close(gs);
	return 0;
}

/* Maps the ref it is sent, answers, and waits to be killed. */
static int mapper_main(int fd)
{
	xengnttab_handle *gt = xengnttab_open(NULL, 0);
	uint32_t ref = peer_recv1(fd);
	char *p;

	REQUIRE(gt, "xengnttab_open in domain 0");
	p = xengnttab_map_grant_ref(gt, SHARER, ref, PROT_READ | PROT_WRITE);
	peer_send1(fd, p && strcmp(p, "page 0") == 0);
	peer_recv1(fd);
	return 1;
}

static void kill_peer(struct peer *p)
{
	int status;

	REQUIRE(kill(p->pid, SIGKILL) == 0, "kill -9 the peer");
	REQUIRE(waitpid(p->pid, &status, 0) == p->pid, "wait for the peer");
	REQUIRE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "the peer died of SIGKILL");
	close(p->fd);
}

/* Opening a handle releases what dead processes left. */
static void reap(void)
{
	xengntshr_handle *gs = xengntshr_open(NULL, 0);

	REQUIRE(gs, "xengntshr_open in domain 0");
	xengntshr_close(gs);
}

static void killed_sharers(void)
{
	struct peer peer;
	uint32_t refs[2];
	int i;

	for (i = 0; i < KILLS; i++) {
		peer_start(&peer, SHARER, sharer_main);
		peer_recv(peer.fd, refs, 2);
		kill_peer(&peer);
	}
	CHECK(1, "%d processes killed while sharing %d pages each", KILLS, KILLED_PAGES);
	share_count = LAST_PAGES;
	peer_start(&peer, SHARER, sharer_main);
	peer_recv(peer.fd, refs, 2);
	peer_send1(peer.fd, 1);
	peer_finish(&peer);
	CHECK(1, "then a new process shares %d pages", LAST_PAGES);
}

/* A process that opened its handle before another died with a full table still shares. */
static void full_table_of_the_dead(void)
{
	struct peer late, killed;
	uint32_t refs[2];

	peer_start(&late, SHARER, late_sharer_main);
	REQUIRE(peer_recv1(late.fd) == 1, "the late sharer opened its handle");
	share_count = MAX_PAGES - 100;
	peer_start(&killed, SHARER, sharer_main);
	peer_recv(killed.fd, refs, 2);
	kill_peer(&killed);
	peer_send1(late.fd, 1);
	CHECK(peer_recv1(late.fd) == 1,
	      "a process killed with all but 100 grants shared: another shares %d pages",
	      LAST_PAGES);
	peer_finish(&late);
}

static void map_fails(xengnttab_handle *gt, uint32_t ref, const char *what)
{
	CHECK(!xengnttab_map_grant_ref(gt, SHARER, ref, PROT_READ) && errno == EINVAL,
	      "%s: NULL, EINVAL", what);
}

/* A backend's mapping of a dead process's grant stays valid until the backend unmaps it. */
static void mapped_by_backend(xengnttab_handle *gt, const char *dir)
{
	struct peer peer;
	uint32_t refs[2];
	char *p;

	share_count = 2;
	peer_start(&peer, SHARER, sharer_main);
	peer_recv(peer.fd, refs, 2);
	p = xengnttab_map_grant_ref(gt, SHARER, refs[0], PROT_READ | PROT_WRITE);
	REQUIRE(p && strcmp(p, "page 0") == 0, "domain 0 maps the sharer's page");
	kill_peer(&peer);
	reap();
	CHECK(strcmp(p, "page 0") == 0,
	      "the mapping of a killed sharer's page still reads its data");
	strcpy(p + 100, "backend write");
	CHECK(strcmp(p + 100, "backend write") == 0, "and takes writes");
	map_fails(gt, refs[0], "map the killed sharer's grant again (revoked)");
	map_fails(gt, refs[1], "map its grant nobody mapped (freed)");
	CHECK(memory_page_held(dir, SHARER, refs[0]), "the page is held while mapped");
	CHECK(xengnttab_unmap(gt, p, 1) == 0, "the backend unmaps it");
	CHECK(!memory_page_held(dir, SHARER, refs[0]), "the unmap freed the page");
}

/* A killed mapper's pins go: the page its sharer unshared is freed. */
static void killed_mapper(const char *dir)
{
	struct peer sharer, mapper;
	uint32_t refs[2];

	share_count = 1;
	peer_start(&sharer, SHARER, sharer_main);
	peer_recv(sharer.fd, refs, 2);
	peer_start(&mapper, 0, mapper_main);
	peer_send1(mapper.fd, refs[0]);
	REQUIRE(peer_recv1(mapper.fd) == 1, "a domain 0 process maps the page");
	kill_peer(&mapper);
	peer_send1(sharer.fd, 1);
	peer_finish(&sharer);
	CHECK(memory_page_held(dir, SHARER, refs[0]), "the sharer unshares: the page stays, pinned");
	reap();
	CHECK(!memory_page_held(dir, SHARER, refs[0]),
	      "the killed mapper's pin is dropped and the page freed");
}

int main(void)
{
	const char *dir = getenv("SIMXEN_DIR");
	xengnttab_handle *gt;

	REQUIRE(dir, "SIMXEN_DIR is set");
	killed_sharers();
	full_table_of_the_dead();
	gt = xengnttab_open(NULL, 0);
	REQUIRE(gt, "xengnttab_open in domain 0");
	mapped_by_backend(gt, dir);
	killed_mapper(dir);
	CHECK(xengnttab_close(gt) == 0, "xengnttab_close");
	return 0;
}
