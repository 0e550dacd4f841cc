# A process killed while it shares or maps grants on simxen's libxengnttab leaves nothing behind:
# 12 sharers killed in a row (more pages than a grant table holds), then a new process shares
# 257 pages; a full table left by the dead; a backend's mapping of a killed sharer's page stays
# valid until unmapped, then the page is freed; a killed mapper's pins are dropped
# (tests/progs/tools/simxen/libs/grants-death-test.c).
. "$(dirname "$0")/../lib/common.sh"

mkdir "$T/simxen"
SIMXEN_DIR=$T/simxen LD_LIBRARY_PATH=$RINGTAP_BUILD/lib "$TBIN/simxen-grants-death-test" ||
	fail "simxen-grants-death-test failed"
ls "$T/simxen" | grep '^pins' && fail "pin records left after every handle closed"
exit 0
