/* Fuzzes the NBD server's parsing of what a client sends (lib/nbd: codec.c, handshake.c,
 * transmission.c): a whole client session over a real Unix socket, through the entry points
 * tapdisk uses (nbd_server_create, nbd_server_dispatch, the I/O callbacks, nbd_request_complete).
 *
 * Input: [config][client byte stream]. config bits 0-4: the export's NBD_EXPORT_* flags; bit 5:
 * 512-byte blocks (else 1); bit 6: complete requests later, from the "loop" (else inside the
 * callback); bit 7: every I/O fails. Each request reaching a callback is checked against the
 * export: the server must have refused anything out of range, misaligned or read-only. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/nbd/proto.h"
#include "ringtap/log.h"
#include "ringtap/nbd.h"

#define EXPORT_SIZE (1u << 20)
#define MAX_REQUEST (64u * 1024)
#define MAX_ROUNDS 4096

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One session's embedder: the export it advertised and the requests it holds. */
struct session {
	struct nbd_export exp;
	uint32_t min_block;
	bool deferred, failing;
	struct nbd_request *held[NBD_MAX_INFLIGHT * 2];
	unsigned int nheld;
};

static void check(bool ok)
{
	if (!ok)
		abort();
}

static int finish(struct session *s, struct nbd_request *req)
{
	if (s->deferred) {
		check(s->nheld < sizeof(s->held) / sizeof(s->held[0]));
		s->held[s->nheld++] = req;
	} else {
		nbd_request_complete(req, s->failing ? -EIO : 0);
	}
	return 0;
}

static void check_range(const struct session *s, uint64_t off, uint32_t len, bool modifies)
{
	check(len > 0);
	check(off <= s->exp.size && len <= s->exp.size - off);
	check(off % s->min_block == 0 && len % s->min_block == 0);
	if (modifies)
		check(!(s->exp.flags & NBD_EXPORT_READONLY));
}

static int cb_read(void *o, struct nbd_request *req, uint64_t off, uint32_t len, void *buf)
{
	struct session *s = o;

	check_range(s, off, len, false);
	check(len <= MAX_REQUEST);
	memset(buf, 0x5a, len);
	return finish(s, req);
}

static int cb_write(void *o, struct nbd_request *req, uint64_t off, uint32_t len, const void *buf)
{
	struct session *s = o;
	volatile uint8_t sink;

	check_range(s, off, len, true);
	check(len <= MAX_REQUEST);
	sink = ((const uint8_t *)buf)[len - 1]; /* the whole payload is there */
	(void)sink;
	return finish(s, req);
}

static int cb_flush(void *o, struct nbd_request *req)
{
	struct session *s = o;

	check(s->exp.flags & NBD_EXPORT_FLUSH);
	return finish(s, req);
}

static int cb_trim(void *o, struct nbd_request *req, uint64_t off, uint32_t len)
{
	struct session *s = o;

	check(s->exp.flags & NBD_EXPORT_TRIM);
	check_range(s, off, len, true);
	return finish(s, req);
}

static int cb_zeroes(void *o, struct nbd_request *req, uint64_t off, uint32_t len, bool may_trim)
{
	struct session *s = o;

	check(s->exp.flags & NBD_EXPORT_WRITE_ZEROES);
	check_range(s, off, len, true);
	return finish(s, req);
}

static const struct nbd_ops ops = {
	.read = cb_read,
	.write = cb_write,
	.flush = cb_flush,
	.trim = cb_trim,
	.write_zeroes = cb_zeroes,
};

static void complete_held(struct session *s)
{
	/* in reverse: out-of-order completions */
	while (s->nheld)
		nbd_request_complete(s->held[--s->nheld], s->failing ? -EIO : 0);
}

/* The pure decoders on the raw bytes, without the framing of a session. */
static void decode_raw(const uint8_t *data, size_t size, const struct session *s)
{
	struct nbd_info_request info;
	struct nbd_opt_header opt;
	struct nbd_req_header h;
	struct nbd_limits lim = { .size = s->exp.size,
				  .export_flags = s->exp.flags,
				  .max_request = MAX_REQUEST,
				  .min_block = s->min_block };

	if (nbd_info_request_parse(data, (uint32_t)size, &info) == 0) {
		check(4 + (size_t)info.name_len + 2 + 2 * (size_t)info.nr_requests == size);
		check(info.name_len <= NBD_MAX_NAME);
	}
	if (size >= NBD_OPT_HEADER_SIZE)
		(void)nbd_opt_header_decode(data, &opt);
	if (size >= NBD_REQUEST_SIZE && nbd_request_decode(data, &h) == 0 &&
	    h.type != NBD_CMD_DISC && nbd_request_check(&h, &lim) == 0 && h.type != NBD_CMD_FLUSH)
		check_range(s, h.offset, h.length,
			    h.type != NBD_CMD_READ && h.type != NBD_CMD_CACHE);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	rt_log_set_level(LOG_EMERG); /* refused clients are logged: keep the output readable */
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct session s = { .exp = { .name = "vdi", .description = "fuzz", .size = EXPORT_SIZE } };
	struct nbd_server_config cfg = { .max_request = MAX_REQUEST,
					 .handshake_timeout_ms = 60000 };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct nbd_server *srv;
	uint8_t sink[16384];
	size_t sent = 0;
	bool shut = false;
	int fd;

	if (size < 1)
		return 0;
	s.exp.flags = data[0] & NBD_EXPORT_ALL_FLAGS;
	s.min_block = (data[0] & 0x20) ? 512 : 1;
	s.deferred = data[0] & 0x40;
	s.failing = data[0] & 0x80;
	data++;
	size--;
	decode_raw(data, size, &s);

	cfg.min_block = s.min_block;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "/tmp/ringtap-fuzz-nbd.%d", (int)getpid());
	cfg.path = sa.sun_path;
	check(nbd_server_create(&cfg, &s.exp, &ops, &s, &srv) == 0);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	check(fd >= 0);
	check(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);

	/* An event loop's work, in rounds: the client writes what the socket takes, the server
	 * dispatches, the embedder completes what it held, the client drains the replies. */
	for (int round = 0; round < MAX_ROUNDS; round++) {
		ssize_t n;

		if (sent < size) {
			n = send(fd, data + sent, size - sent, MSG_NOSIGNAL);
			if (n > 0)
				sent += (size_t)n;
			else if (n < 0 && errno != EAGAIN)
				break; /* the server dropped the client */
		}
		if (sent == size && !shut) {
			shutdown(fd, SHUT_WR);
			shut = true;
		}
		check(nbd_server_dispatch(srv) == 0);
		complete_held(&s);
		while ((n = recv(fd, sink, sizeof(sink), 0)) > 0)
			;
		if (n == 0 || (shut && nbd_server_clients(srv) == 0))
			break;
	}
	nbd_server_destroy(srv);
	complete_held(&s); /* requests outlive the server until completed */
	close(fd);
	return 0;
}
