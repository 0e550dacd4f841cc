# simxen's libxengnttab runs clean under valgrind (no invalid access, no leak) through the whole
# grant-table test and the test of processes killed while they share and map grants (the reaping
# of their owner slots). The libraries are never sanitized (fio loads them), so valgrind checks
# them.
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
# run_valgrind PROGRAM LAST-OK: runs the test program on a new state directory under valgrind;
# LAST-OK is the start of its last check's message (it ran to its end)
run_valgrind() {
	rm -rf "$T/simxen"
	mkdir "$T/simxen"
	SIMXEN_DIR=$T/simxen LD_LIBRARY_PATH=$RINGTAP_BUILD/lib valgrind -q --error-exitcode=99 \
		--leak-check=full --errors-for-leak-kinds=definite,indirect \
		--show-leak-kinds=definite "$TBIN/$1" >"$T/log" 2>&1 || valgrind_failed
	cat "$T/log"
	grep -q "^ok: $2" "$T/log" || fail "$1 did not run to its end"
}
# The read-only-mapping check makes one child die of SIGSEGV on purpose: valgrind reports that
# child's fault, which is not an error of the libraries.
run_valgrind simxen-grants-test "the last unmap freed"
run_valgrind simxen-grants-death-test "the killed mapper's pin is dropped"
