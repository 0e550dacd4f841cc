/* tap-ctl log-level: show or change a running tapdisk's log level (ringtap's own command; blktap3
 * has none: its tapdisk's verbosity is fixed when it starts). */
#include <errno.h>
#include <stdio.h>

#include "ringtap/log.h"
#include "tools/tap-ctl/tap-ctl.h"

int tapctl_parse_log_level(const struct tapctl_cmd *cmd, const char *s, int *level)
{
	if (rt_log_level_parse(s, level) || *level < LOG_ERR || *level > LOG_DEBUG) {
		tapctl_msg(cmd, "unknown log level '%s' (err, warning, notice, info or debug)", s);
		return EINVAL;
	}
	return 0;
}

int tapctl_cmd_log_level(const struct tapctl_cmd *cmd, int argc, char **argv)
{
	struct ctl_client *c;
	pid_t pid = -1;
	int ch, err, level = -1, now;

	while ((ch = tapctl_getopt(cmd, argc, argv, "p:l:")) != -1) {
		switch (ch) {
		case 'p':
			if (tapctl_parse_pid(cmd, optarg, &pid))
				return EINVAL;
			break;
		case 'l':
			if (tapctl_parse_log_level(cmd, optarg, &level))
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
	if (pid < 0) {
		tapctl_msg(cmd, "-p pid is required");
		tapctl_usage(cmd, stderr);
		return EINVAL;
	}
	err = tapctl_connect(cmd, pid, TAPCTL_LIST_TIMEOUT_S, &c);
	if (err)
		return err;
	err = ctl_log_level(c, level, &now);
	if (err)
		err = tapctl_fail(cmd, err, c, "tapdisk %d", (int)pid);
	else
		printf("%s\n", rt_log_level_name(now));
	ctl_client_close(c);
	return err;
}
