/* tap-ctl -2's secondary socket (src/secondary.h): the nbdclient<pid> stash and the name
 * lookup. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ringtap/ctl.h"
#include "ringtap/log.h"
#include "src/fd_receiver.h"
#include "src/secondary.h"

static bool same_name(const char *a, const char *b)
{
	return !strncmp(a, b, TD_STASH_NAME - 1);
}

/* XAPI's message is the name (its datapath, "vbd/<domid>/<device>"). */
static void received(int fd, const char *msg, void *data)
{
	struct td_stash *s = data;
	int i, free_slot = -1;

	for (i = 0; i < TD_STASH_SLOTS; i++) {
		if (s->slot[i].fd >= 0 && same_name(s->slot[i].name, msg)) {
			close(s->slot[i].fd); /* passed again: the new one replaces it */
			free_slot = i;
			break;
		}
		if (s->slot[i].fd < 0 && free_slot < 0)
			free_slot = i;
	}
	if (free_slot < 0) {
		rt_warn("nbdclient: %d sockets kept already: the one for '%.39s' is refused",
			TD_STASH_SLOTS, msg);
		close(fd);
		return;
	}
	s->slot[free_slot].fd = fd;
	snprintf(s->slot[free_slot].name, TD_STASH_NAME, "%s", msg);
	rt_info("nbdclient: keeping a socket for '%s'", s->slot[free_slot].name);
}

int td_stash_start(struct td_stash *s, struct td_loop *loop)
{
	char path[CTL_PATH_MAX];
	int err;

	for (int i = 0; i < TD_STASH_SLOTS; i++)
		s->slot[i].fd = -1;
	err = ctl_nbdclient_path(getpid(), path, sizeof(path));
	return err ? err : td_fd_receiver_create(loop, path, received, s, &s->recv);
}

void td_stash_stop(struct td_stash *s)
{
	td_fd_receiver_destroy(s->recv);
	s->recv = NULL;
	for (int i = 0; i < TD_STASH_SLOTS; i++)
		if (s->slot[i].fd >= 0) {
			close(s->slot[i].fd);
			s->slot[i].fd = -1;
		}
}

static int connect_unix(const char *path, int *fd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int s;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = -errno;

		close(s);
		return err;
	}
	*fd = s;
	return 0;
}

int td_secondary_socket(struct td_stash *s, const char *arg, int *fd, char *why, size_t why_len)
{
	const char *name;
	struct stat st;
	int err;

	*fd = -1;
	if (!strcmp(arg, "null"))
		return 0;
	if (strncmp(arg, "nbd:", 4) || !arg[4]) {
		snprintf(why, why_len, "-2 takes nbd:<name> or null, not '%s'", arg);
		return -EINVAL;
	}
	name = arg + 4;
	for (int i = 0; i < TD_STASH_SLOTS; i++)
		if (s->slot[i].fd >= 0 && same_name(s->slot[i].name, name)) {
			*fd = s->slot[i].fd;
			s->slot[i].fd = -1; /* the mirror's now */
			return 0;
		}
	if (stat(name, &st) == 0 && S_ISSOCK(st.st_mode)) {
		err = connect_unix(name, fd);
		if (err)
			snprintf(why, why_len, "cannot connect to %s: %s", name, strerror(-err));
		return err;
	}
	snprintf(why, why_len,
		 "no socket was passed to nbdclient%d as '%s', and it names no "
		 "Unix socket",
		 (int)getpid(), name);
	return -ENOENT;
}
