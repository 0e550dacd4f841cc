# Event channels across two processes on simxen's libxenevtchn (tools/simxen/libs): unbound and
# interdomain binding, notifications both ways through epoll, masking and coalescing, unbinding,
# unmap notifications, closed and destroyed peers (tests/progs/tools/simxen/libs/evtchn-test.c).
. "$(dirname "$0")/../lib/common.sh"

mkdir "$T/simxen"
SIMXEN_DIR=$T/simxen LD_LIBRARY_PATH=$RINGTAP_BUILD/lib "$TBIN/simxen-evtchn-test" ||
	fail "simxen-evtchn-test failed"
