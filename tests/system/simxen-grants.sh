# Grant tables across two processes on simxen's libxengnttab (tools/simxen/libs): domain 5 shares
# pages, domain 0 maps (single, batch, domain batch) and copies them; wrong-domain and read-only
# failures, faulting read-only mappings, per-segment copy statuses, the deferred unshare, handle
# limits and the revocation of a destroyed domain's grants (tests/progs/tools/simxen/libs/grants-test.c).
. "$(dirname "$0")/../lib/common.sh"

mkdir "$T/simxen"
SIMXEN_DIR=$T/simxen LD_LIBRARY_PATH=$RINGTAP_BUILD/lib "$TBIN/simxen-grants-test" ||
	fail "simxen-grants-test failed"
