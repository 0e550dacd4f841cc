/* Names of the control protocol's enumerations (image types, polling policies, ring ABIs,
 * message types) and blktap3's "type:/path" image argument. */
#include <errno.h>
#include <string.h>

#include "ringtap/ctl.h"

const char *ctl_image_type_name(enum ctl_image_type type)
{
	switch (type) {
	case CTL_IMAGE_AIO:
		return "aio";
	case CTL_IMAGE_VHD:
		return "vhd";
	case CTL_IMAGE_NBD:
		return "nbd";
	case CTL_IMAGE_RBD:
		return "rbd";
	default:
		return NULL;
	}
}

enum ctl_image_type ctl_image_type_from_name(const char *name)
{
	if (!strcmp(name, "aio") || !strcmp(name, "raw"))
		return CTL_IMAGE_AIO;
	if (!strcmp(name, "vhd"))
		return CTL_IMAGE_VHD;
	if (!strcmp(name, "nbd"))
		return CTL_IMAGE_NBD;
	if (!strcmp(name, "rbd"))
		return CTL_IMAGE_RBD;
	return CTL_IMAGE_NONE;
}

bool ctl_image_is_local(enum ctl_image_type type)
{
	return type == CTL_IMAGE_AIO || type == CTL_IMAGE_VHD;
}

bool ctl_image_path_valid(enum ctl_image_type type, const char *path)
{
	switch (type) {
	case CTL_IMAGE_NBD:
		return !strncmp(path, "unix:/", 6) || !strncmp(path, "tcp:", 4);
	case CTL_IMAGE_RBD: /* a name in the cluster */
		return path[0] && path[0] != '/';
	default:
		/* relative paths would be resolved against the daemon's cwd (/), never what was
		 * meant */
		return path[0] == '/';
	}
}

int ctl_image_parse(const char *args, struct ctl_image *out)
{
	const char *colon = strchr(args, ':');
	char type[16];
	size_t tlen, plen;

	if (!colon)
		return -EINVAL;
	tlen = (size_t)(colon - args);
	if (tlen == 0 || tlen >= sizeof(type))
		return -EINVAL;
	memcpy(type, args, tlen);
	type[tlen] = '\0';
	out->type = ctl_image_type_from_name(type);
	if (out->type == CTL_IMAGE_NONE)
		return -EINVAL;
	if (!ctl_image_path_valid(out->type, colon + 1))
		return -EINVAL;
	plen = strlen(colon + 1);
	if (plen >= sizeof(out->path))
		return -ENAMETOOLONG;
	memcpy(out->path, colon + 1, plen + 1);
	return 0;
}

const char *ctl_poll_policy_name(enum ctl_poll_policy policy)
{
	switch (policy) {
	case CTL_POLL_ADAPTIVE:
		return "adaptive";
	case CTL_POLL_FIXED:
		return "fixed";
	case CTL_POLL_OFF:
		return "off";
	default:
		return NULL;
	}
}

int ctl_poll_policy_parse(const char *name, enum ctl_poll_policy *out)
{
	if (!strcmp(name, "adaptive"))
		*out = CTL_POLL_ADAPTIVE;
	else if (!strcmp(name, "fixed"))
		*out = CTL_POLL_FIXED;
	else if (!strcmp(name, "off"))
		*out = CTL_POLL_OFF;
	else
		return -EINVAL;
	return 0;
}

const char *ctl_ring_protocol_name(enum ctl_ring_protocol proto)
{
	switch (proto) {
	case CTL_RING_NATIVE:
		return "native";
	case CTL_RING_X86_32:
		return "x86_32-abi";
	case CTL_RING_X86_64:
		return "x86_64-abi";
	default:
		return NULL;
	}
}

int ctl_ring_protocol_parse(const char *name, enum ctl_ring_protocol *out)
{
	if (!strcmp(name, "native"))
		*out = CTL_RING_NATIVE;
	else if (!strcmp(name, "x86_32-abi"))
		*out = CTL_RING_X86_32;
	else if (!strcmp(name, "x86_64-abi"))
		*out = CTL_RING_X86_64;
	else
		return -EINVAL;
	return 0;
}

const char *ctl_msg_name(unsigned int type)
{
	static const char *const names[] = {
		[CTL_MSG_LIST] = "list",
		[CTL_MSG_ATTACH] = "attach",
		[CTL_MSG_DETACH] = "detach",
		[CTL_MSG_OPEN] = "open",
		[CTL_MSG_CLOSE] = "close",
		[CTL_MSG_PAUSE] = "pause",
		[CTL_MSG_RESUME] = "resume",
		[CTL_MSG_CONNECT] = "connect",
		[CTL_MSG_DISCONNECT] = "disconnect",
		[CTL_MSG_INFO] = "info",
		[CTL_MSG_STATS] = "stats",
		[CTL_MSG_POLL_GET] = "poll-get",
		[CTL_MSG_POLL_SET] = "poll-set",
		[CTL_MSG_LOG_LEVEL] = "log-level",
	};

	type &= ~(unsigned int)CTL_MSG_REPLY;
	if (type < sizeof(names) / sizeof(names[0]) && names[type])
		return names[type];
	return "unknown";
}
