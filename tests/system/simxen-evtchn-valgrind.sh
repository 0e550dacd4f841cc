# simxen's libxenevtchn runs clean under valgrind (no invalid access, no leak) through the whole
# event-channel test. The libraries are never sanitized (fio loads them), so valgrind checks them.
. "$(dirname "$0")/../lib/common.sh"

[ "${RINGTAP_SANITIZE:-}" != 1 ] ||
	skip "valgrind cannot run the ASan-built test programs; the plain build runs this test"
valgrind_failed() {
	# Debian 12's valgrind cannot read clang 15's DWARF 5 (make CC=clang)
	! grep -q "Possibly corrupted debuginfo" "$T/log" ||
		skip "this valgrind cannot read the debug information of this compiler's binaries"
	cat "$T/log"
	fail "valgrind reported errors"
}
mkdir "$T/simxen"
SIMXEN_DIR=$T/simxen LD_LIBRARY_PATH=$RINGTAP_BUILD/lib valgrind -q --error-exitcode=99 \
	--leak-check=full --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite \
	"$TBIN/simxen-evtchn-test" >"$T/log" 2>&1 || valgrind_failed
cat "$T/log"
grep -q "^ok: the peer process succeeded" "$T/log" || fail "the test did not run to its end"
