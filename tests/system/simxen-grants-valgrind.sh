# simxen's libxengnttab runs clean under valgrind (no invalid access, no leak) through the whole
# grant-table test. The libraries are never sanitized (fio loads them), so valgrind checks them.
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
# The read-only-mapping check makes one child die of SIGSEGV on purpose: valgrind reports that
# child's fault, which is not an error of the libraries.
SIMXEN_DIR=$T/simxen LD_LIBRARY_PATH=$RINGTAP_BUILD/lib valgrind -q --error-exitcode=99 \
	--leak-check=full --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite \
	"$TBIN/simxen-grants-test" >"$T/log" 2>&1 || valgrind_failed
cat "$T/log"
grep -q "^ok: the last unmap freed" "$T/log" || fail "the test did not run to its end"
