/* tap-ctl allocate and free: minors as blktap3's flock'd marker files under the run
 * directory (allocate prints the marker's path, which XAPI parses). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

#include "tools/tap-ctl/tap-ctl.h"

int tapctl_cmd_allocate(const struct tapctl_cmd *cmd, int argc, char **argv)
{
	char path[PATH_MAX];
	int c, err, minor;

	while ((c = tapctl_getopt(cmd, argc, argv, "d:")) != -1) {
		switch (c) {
		case 'd':
			break; /* blktap3 accepts a device name and does not use it either */
		case 'h':
			tapctl_usage(cmd, stdout);
			return 0;
		default:
			return EINVAL;
		}
	}
	if ((err = tapctl_no_operands(cmd, argc, argv)))
		return err;
	ctl_reap_dead(); /* minors held by crashed tapdisks are free again */
	minor = ctl_minor_allocate();
	if (minor < 0)
		return tapctl_fail(cmd, minor, NULL, "cannot allocate a minor in %s/tapdisk",
				   ctl_run_dir());
	err = ctl_minor_path(minor, path, sizeof(path));
	if (err) {
		ctl_minor_free(minor);
		return tapctl_fail(cmd, err, NULL, "minor %d", minor);
	}
	printf("%s\n", path);
	return 0;
}

int tapctl_do_free(const struct tapctl_cmd *cmd, int minor)
{
	int err = ctl_minor_free(minor);

	if (err == -EWOULDBLOCK)
		return tapctl_fail(cmd, err, NULL, "minor %d is in use by a tapdisk", minor);
	if (err == -ENOENT)
		return tapctl_fail(cmd, err, NULL, "minor %d is not allocated", minor);
	if (err)
		return tapctl_fail(cmd, err, NULL, "cannot free minor %d", minor);
	return 0;
}

int tapctl_cmd_free(const struct tapctl_cmd *cmd, int argc, char **argv)
{
	int c, err, minor = -1;

	while ((c = tapctl_getopt(cmd, argc, argv, "m:")) != -1) {
		switch (c) {
		case 'm':
			if (tapctl_parse_minor(cmd, optarg, &minor))
				return EINVAL;
			break;
		case 'h':
			tapctl_usage(cmd, stdout);
			return 0;
		default:
			return EINVAL;
		}
	}
	if ((err = tapctl_no_operands(cmd, argc, argv)))
		return err;
	if (minor < 0) {
		tapctl_msg(cmd, "missing -m minor");
		tapctl_usage(cmd, stderr);
		return EINVAL;
	}
	return tapctl_do_free(cmd, minor);
}
