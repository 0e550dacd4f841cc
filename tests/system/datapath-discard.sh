# Discard and flush through the ring: a discarded range becomes a hole in the image file (its
# allocated blocks drop) and reads back zeros, while the data around it stays; flushes after
# writes complete with the data in the file; a VBD without feature-discard answers EOPNOTSUPP.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/simxen.sh"
. "$(dirname "$0")/../lib/vbd.sh"

simxen_start
dom=$(simxen_domain_create guest)
img=$T/disk.img
truncate -s 32M "$img"
head -c 8M /dev/urandom >"$T/data"
fe() { env $(simxen_guest_env "$dom") "$TBIN/blkfront-io" --device "$1" --order 1 "${@:2}"; }

dev=$(simxen_vbd_add "$dom" --devid 51712)
vbd_attach "$dom" "$dev" "aio:$img"
fe "$dev" write 4M 8M "$T/data" flush >"$T/out" 2>&1 || fail "write+flush: $(tail -3 "$T/out")"
vbd_detach "$dom" "$dev" || fail "td-serve exit $?"
cmp -s "$T/data" <(dd if="$img" bs=1M skip=4 count=8 2>/dev/null) || fail "written data not in the image"
[ "$(vbd_stat "$dom" "$dev" flushes)" -ge 1 ] || fail "no flush served"
blocks_before=$(stat -c %b "$img")
[ "$blocks_before" -ge $((8 * 2048)) ] || fail "the write did not allocate ($blocks_before blocks)"

dev=$(simxen_vbd_add "$dom" --devid 51713)
vbd_attach "$dom" "$dev" "aio:$img"
# discard the middle 4 MiB of the 8 written (at 6 MiB), then read the whole 8 MiB back
fe "$dev" discard 6M 4M read 4M 8M "$T/back" >"$T/out" 2>&1 || fail "discard: $(tail -3 "$T/out")"
vbd_detach "$dom" "$dev" || fail "td-serve exit $?"
blocks_after=$(stat -c %b "$img")
echo "allocated 512-byte blocks: $blocks_before before, $blocks_after after the discard"
[ $((blocks_before - blocks_after)) -ge $((4 * 2048 - 16)) ] || fail "the discard left no hole"
expect_eq "$(stat -c %s "$img")" $((32 * 1024 * 1024)) "the image keeps its size"
cmp -s <(head -c 2M "$T/data") <(head -c 2M "$T/back") || fail "data before the hole changed"
cmp -s <(tail -c 2M "$T/data") <(tail -c 2M "$T/back") || fail "data after the hole changed"
cmp -s <(dd if="$T/back" bs=1M skip=2 count=4 2>/dev/null) <(head -c 4M /dev/zero) ||
	fail "the discarded range does not read back zeros"
cmp -s <(dd if="$img" bs=1M skip=6 count=4 2>/dev/null) <(head -c 4M /dev/zero) ||
	fail "the discarded range is not zero in the image"
expect_eq "$(vbd_stat "$dom" "$dev" sectors_discarded)" 8192 "sectors discarded"

# without feature-discard the frontend does not negotiate it; a raw discard gets EOPNOTSUPP
dev=$(simxen_vbd_add "$dom" --devid 51714 --mode r)
vbd_attach "$dom" "$dev" "aio:$img" --readonly
rc=0
fe "$dev" info discard 0 1M >"$T/out" 2>&1 || rc=$?
vbd_detach "$dom" "$dev" || true
grep -q '^discard=0$' "$T/out" || fail "a read-only VBD offered discard"
[ "$rc" -ne 0 ] || fail "a discard on a read-only VBD succeeded"
echo PASS
