/* Fuzzes lib/nbd's client (client.c) on what a server sends it: the greeting (old-style or
 * newstyle), blktap3's export-name reply or the modern handshake's option replies (structured
 * replies, NBD_OPT_GO's infos, its fallback to NBD_OPT_EXPORT_NAME), then simple replies or
 * structured reply chunks to the reads, writes, flushes, trims and write-zeroes it has in
 * flight, through the entry points tapdisk's mirror and nbd: driver use (nbd_client_connect,
 * nbd_client_readv, _writev, _write, _flush, _trim, _write_zeroes, nbd_client_send,
 * nbd_client_dispatch, nbd_client_close).
 *
 * Input: a mode byte (bit 0: the modern handshake, else blktap3's), then the server's byte
 * stream, written to the client's socket before the handshake (the server then hangs up, so
 * every session ends). Each callback must come once, for a command in flight; after a failure
 * none may come; read data lands only in the read's own buffers (exact-size allocations: ASan
 * sees a byte outside). */
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
	bool queued;
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

/* Command i: reads into a window across two buffers, writes, a flush, a trim, write-zeroes. 0,
 * or an error the client may give for what the server negotiated (lengths, flags). */
static int queue(struct nbd_client *c, int i, struct cmd *cmd, const struct iovec *riov)
{
	static uint8_t payload[4096];
	uint64_t off = (uint64_t)i * 4096;

	switch (i % 6) {
	case 0:
		return nbd_client_write(c, payload, sizeof(payload), off, done, cmd);
	case 1:
		return nbd_client_readv(c, riov, 2, 1024, 4096, off, done, cmd);
	case 2:
		return nbd_client_flush(c, done, cmd);
	case 3:
		return nbd_client_trim(c, 4096, off, done, cmd);
	case 4:
		return nbd_client_write_zeroes(c, 8192, off, i & 1, done, cmd);
	default:
		return nbd_client_writev(c, riov, 2, 0, 512, off, done, cmd);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cmd cmds[NCMDS] = { 0 };
	struct nbd_client_opts opts = { .export_name = "e" };
	struct iovec riov[2];
	struct nbd_client *c;
	char why[256];
	int sv[2], i;

	if (size < 1 || size > 65536 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		return 0;
	opts.modern = data[0] & 1;
	data++;
	size--;
	/* the whole stream fits the socket's buffer; the client's output lands in the other one */
	if (write(sv[1], data, size) != (ssize_t)size) {
		close(sv[0]);
		close(sv[1]);
		return 0;
	}
	shutdown(sv[1], SHUT_WR);
	failed = false;
	if (nbd_client_connect(sv[0], &opts, 20, &c, why, sizeof(why)) < 0) {
		close(sv[1]);
		return 0;
	}
	riov[0] = (struct iovec){ malloc(2048), 2048 };
	riov[1] = (struct iovec){ malloc(4096), 4096 };
	check(riov[0].iov_base && riov[1].iov_base);
	for (i = 0; i < NCMDS; i++) {
		int rc = queue(c, i, &cmds[i], riov);

		check(rc == 0 || rc == -EOPNOTSUPP || rc == -EINVAL);
		cmds[i].queued = rc == 0;
	}
	if (nbd_client_send(c, why, sizeof(why)) < 0)
		failed = true;
	for (i = 0; i < 64 && !failed; i++)
		if (nbd_client_dispatch(c, EPOLLIN, why, sizeof(why)) < 0)
			failed = true;
	check(failed); /* the server hung up: the client must have noticed */
	for (i = 0; i < NCMDS; i++)
		check(cmds[i].calls <= 1 && (cmds[i].queued || !cmds[i].calls));
	nbd_client_close(c, true, 0);
	free(riov[0].iov_base);
	free(riov[1].iov_base);
	close(sv[1]);
	return 0;
}
