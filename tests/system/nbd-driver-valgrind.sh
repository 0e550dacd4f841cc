# The nbd: driver under valgrind (td-serve, one end-to-end run against nbdkit): while the guest
# writes 64 MiB the server is killed and restarted (the driver reconnects in the background, the
# requests wait and are sent again), then reads, a flush and a discard; no memory error, no
# definite leak, clean exit, the data in the server's file.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/simxen.sh"
. "$(dirname "$0")/../lib/vbd.sh"
. "$(dirname "$0")/../lib/tapdisk.sh"
. "$(dirname "$0")/../lib/nbd.sh"

command -v valgrind >/dev/null || fail "valgrind is not installed (tools/install-deps)"
command -v nbdkit >/dev/null || fail "nbdkit is not installed (tools/install-deps)"
[ "${RINGTAP_SANITIZE:-}" != 1 ] || skip "valgrind cannot run ASan-built programs"
simxen_start
dom=$(simxen_domain_create guest)
truncate -s 32M "$T/disk.img"
head -c 1M /dev/urandom >"$T/data"
nbdkit_start srv file "$T/disk.img"

dev=$(simxen_vbd_add "$dom" --devid 51712)
vbd_attach "$dom" "$dev" "nbd:unix:$T/srv.sock" --valgrind
fe() { env $(simxen_guest_env "$dom") "$TBIN/blkfront-io" --device "$dev" --order 2 \
	--timeout-ms 60000 "$@"; }
writes=()
for ((i = 0; i < 64; i++)); do writes+=(write $((i % 8))M 1M "$T/data"); done
fe "${writes[@]}" read 1M 1M "$T/back" flush discard 1M 512K read 1M 1M "$T/back2" \
	>"$T/out" 2>&1 &
fe_pid=$!
at_exit "kill $fe_pid 2>/dev/null"
d=$(vbd_dir "$dom" "$dev")
# Debian 12's valgrind cannot read clang 15's DWARF 5 (make CC=clang): it gives up at start
unreadable() { grep -q "Possibly corrupted debuginfo" "$d/valgrind.log" 2>/dev/null; }
writes_seen() { grep -q ' Write ' "$T/srv.log" || unreadable; }
wait_until 120 "the guest's writes reach nbdkit" writes_seen
! unreadable || skip "this valgrind cannot read the debug information of this compiler's binaries"
nbdkit_kill srv
nbdkit_start srv file "$T/disk.img"
wait "$fe_pid" || fail "I/O under valgrind: $(tail -3 "$T/out")"
cmp -s "$T/data" "$T/back" || fail "read back differs"
vbd_detach "$dom" "$dev" || fail "td-serve under valgrind exited $? ($(tail -5 "$d/valgrind.log"))"
cmp -s <(head -c 512K /dev/zero) <(head -c 512K "$T/back2") || fail "the discarded half is not zero"
cmp -s <(head -c 512K /dev/zero) <(dd if="$T/disk.img" bs=512K skip=2 count=1 2>/dev/null) ||
	fail "the discarded half is not zero in the server's file"
cmp -s <(tail -c 512K "$T/data") <(tail -c 512K "$T/back2") || fail "the other half changed"
for i in 0 3 7; do
	cmp -s "$T/data" <(dd if="$T/disk.img" bs=1M skip=$i count=1 2>/dev/null) ||
		fail "the write at ${i} MiB is not in the server's file"
done
grep -q "nbd:unix:$T/srv.sock: connection lost" "$d/stderr" ||
	fail "the loss of the connection is not logged: $(tail -3 "$d/stderr")"
grep -q "ERROR SUMMARY: 0 errors" "$d/valgrind.log" || fail "valgrind: $(grep -A5 'ERROR SUMMARY\|Invalid' "$d/valgrind.log" | head -20)"
if grep -q "definitely lost: [1-9]" "$d/valgrind.log"; then fail "valgrind: definite leak"; fi
grep -E "ERROR SUMMARY|definitely|indirectly" "$d/valgrind.log"
echo PASS
