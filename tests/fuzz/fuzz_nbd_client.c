/* Fuzzes lib/nbd's client (client.c) on what a server sends it: the greeting (old-style or
 * newstyle), the export-name reply, then replies to the writes and flushes it has in flight,
 * through the entry points tapdisk's mirror uses (nbd_client_handshake, nbd_client_write,
 * nbd_client_flush, nbd_client_send, nbd_client_dispatch, nbd_client_close).
 *
 * Input: the server's byte stream, written to the client's socket before the handshake (the
 * server then hangs up, so every session ends). Each callback must come once, for a command
 * in flight; after a failure none may come. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <syslog.h>
#include <unistd.h>

#include "ringtap/log.h"
#include "ringtap/nbd.h"

#define NCMDS 8

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct cmd {
	int calls;
};

static bool failed;

static void check(bool ok)
{
	if (!ok)
		abort();
}

static void done(void *data, int err)
{
	struct cmd *c = data;

	check(!failed); /* nothing is answered after a failure */
	check(++c->calls == 1);
	check(err <= 0);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	rt_log_set_level(LOG_EMERG); /* failed sessions are logged: keep the output readable */
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t payload[4096];
	struct cmd cmds[NCMDS] = { 0 };
	struct nbd_client *c;
	char why[256];
	int sv[2], i;

	if (size > 65536 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		return 0;
	/* the whole stream fits the socket's buffer; the client's output lands in the other one */
	if (write(sv[1], data, size) != (ssize_t)size) {
		close(sv[0]);
		close(sv[1]);
		return 0;
	}
	shutdown(sv[1], SHUT_WR);
	failed = false;
	if (nbd_client_handshake(sv[0], 20, &c, why, sizeof(why)) < 0) {
		close(sv[1]);
		return 0;
	}
	for (i = 0; i < NCMDS; i++) {
		int rc = i % 3 == 2 ? nbd_client_flush(c, done, &cmds[i]) :
				      nbd_client_write(c, payload, sizeof(payload),
						       (uint64_t)i * 4096, done, &cmds[i]);

		check(rc == 0);
	}
	if (nbd_client_send(c, why, sizeof(why)) < 0)
		failed = true;
	for (i = 0; i < 64 && !failed; i++)
		if (nbd_client_dispatch(c, EPOLLIN, why, sizeof(why)) < 0)
			failed = true;
	check(failed); /* the server hung up: the client must have noticed */
	for (i = 0; i < NCMDS; i++)
		check(cmds[i].calls <= 1);
	nbd_client_close(c, true, 0);
	close(sv[1]);
	return 0;
}
