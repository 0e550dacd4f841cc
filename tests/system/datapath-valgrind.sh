# td-serve under valgrind for one end-to-end run (ring order 2, indirect requests, persistent
# grants, every operation): no memory error, no definite leak, clean exit.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/simxen.sh"
. "$(dirname "$0")/../lib/vbd.sh"

command -v valgrind >/dev/null || fail "valgrind is not installed (tools/install-deps)"
[ "${RINGTAP_SANITIZE:-}" != 1 ] || skip "valgrind cannot run ASan-built programs"
simxen_start
dom=$(simxen_domain_create guest)
img=$T/disk.img
truncate -s 32M "$img"
head -c 1M /dev/urandom >"$T/data"
head -c 45056 /dev/urandom >"$T/small"

dev=$(simxen_vbd_add "$dom" --devid 51712)
vbd_attach "$dom" "$dev" "aio:$img" --valgrind
env $(simxen_guest_env "$dom") "$TBIN/blkfront-io" --device "$dev" --order 2 --timeout-ms 30000 \
	write 1M 1M "$T/data" read 1M 1M "$T/back" write 4096 45056 "$T/small" flush \
	barrier 8M 45056 "$T/small" discard 1M 512K read 8M 45056 "$T/back2" >"$T/out" 2>&1 ||
	fail "I/O under valgrind: $(tail -3 "$T/out")"
d=$(vbd_dir "$dom" "$dev")
vbd_detach "$dom" "$dev" || fail "td-serve under valgrind exited $? ($(tail -5 "$d/valgrind.log"))"
cmp -s "$T/data" "$T/back" || fail "read back differs"
cmp -s "$T/small" "$T/back2" || fail "barrier data differs"
cmp -s <(dd if="$img" bs=512K skip=3 count=1 2>/dev/null) <(tail -c 512K "$T/data") ||
	fail "image bytes after the discarded half differ"
grep -q "ERROR SUMMARY: 0 errors" "$d/valgrind.log" || fail "valgrind: $(grep -A5 'ERROR SUMMARY\|Invalid' "$d/valgrind.log" | head -20)"
if grep -q "definitely lost: [1-9]" "$d/valgrind.log"; then fail "valgrind: definite leak"; fi
grep -E "ERROR SUMMARY|definitely|indirectly" "$d/valgrind.log"
echo PASS
