/* A Unix socket that receives file descriptors passed with SCM_RIGHTS, as XAPI hands tapdisk the
 * sockets of a storage migration (blktap3's fd receiver): one connection at a time, one message
 * each (its data, up to 16 KiB, a name; one descriptor), no reply. Used by the mirror's
 * <run dir>/nbdclient<pid> and the NBD export's nbdserver[-new]<pid>.<minor>. */
#ifndef TD_FD_RECEIVER_H
#define TD_FD_RECEIVER_H

struct td_loop;
struct td_fd_receiver;

/* Gets the descriptor (now the callee's to close) and the message as a string (NUL-terminated
 * at its first NUL or its end). */
typedef void (*td_fd_received_fn)(int fd, const char *msg, void *data);

/* Binds and listens at path (a stale socket there is replaced). 0 or -errno. */
int td_fd_receiver_create(struct td_loop *loop, const char *path, td_fd_received_fn fn, void *data,
			  struct td_fd_receiver **out);
/* Closes and unlinks; NULL is a no-op. */
void td_fd_receiver_destroy(struct td_fd_receiver *r);

#endif
