/* Two-process tests of simxen's libraries: the test forks a peer process in another domain, and
 * the two exchange 32-bit values over a socketpair to step through the scenario together. */
#ifndef SIMXEN_TEST_PEER_H
#define SIMXEN_TEST_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>

/* CHECK(cond, fmt, ...): prints "ok: <what>" or fails the process with the message and errno.
 * REQUIRE: the same, silent on success (set-up steps). */
#define CHECK(cond, ...) check_report(!!(cond), 0, __FILE__, __LINE__, __VA_ARGS__)
#define REQUIRE(cond, ...) check_report(!!(cond), 1, __FILE__, __LINE__, __VA_ARGS__)
void check_report(int ok, int quiet, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

struct peer {
	pid_t pid;
	int fd; /* this process's end of the socketpair */
};

/* Forks the peer process as domain domid (SIMXEN_DOMID); it runs peer_main(fd) and exits with its
 * result. The peer dies with its parent. */
void peer_start(struct peer *p, unsigned int domid, int (*peer_main)(int fd));
/* Waits for the peer to exit: fails unless it exited with status 0. */
void peer_finish(struct peer *p);

/* Sends and receives n values; a receive that waits more than 30 s fails the test. */
void peer_send(int fd, const uint32_t *v, size_t n);
void peer_recv(int fd, uint32_t *v, size_t n);
void peer_send1(int fd, uint32_t v);
uint32_t peer_recv1(int fd);

/* Whether grant ref's page of $dir/dom<domid>.mem holds data: a freed grant's page is punched
 * out of it. Asked of the page itself (SEEK_DATA), not of the file's block count, which ext4's
 * extent blocks and delayed allocation move at writeback, whenever that runs. */
bool memory_page_held(const char *dir, unsigned int domid, uint32_t ref);

#endif
