# Discard and flush through the ring, on each I/O engine (libaio: fallocate in the loop;
# io_uring: IORING_OP_FALLOCATE through the ring): a discarded range becomes a hole in the image
# file (its allocated blocks drop) and reads back zeros, while the data around it stays; flushes
# after writes complete with the data in the file; a VBD without feature-discard answers
# EOPNOTSUPP.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/simxen.sh"
. "$(dirname "$0")/../lib/vbd.sh"

simxen_start
dom=$(simxen_domain_create guest)
head -c 8M /dev/urandom >"$T/data"
fe() { env $(simxen_guest_env "$dom") "$TBIN/blkfront-io" --device "$1" --order 1 "${@:2}"; }
devid=51711

# discard_on ENGINE: the test on a fresh image served with td-serve's engine ENGINE
discard_on() {
	local eng=$1 img=$T/disk.$1.img dev blocks_before blocks_after
	truncate -s 32M "$img"
	devid=$((devid + 1))
	dev=$(simxen_vbd_add "$dom" --devid $devid)
	vbd_attach "$dom" "$dev" "aio:$img" --serve "--engine $eng"
	fe "$dev" write 4M 8M "$T/data" flush >"$T/out" 2>&1 || fail "$eng: write+flush: $(tail -3 "$T/out")"
	vbd_detach "$dom" "$dev" || fail "$eng: td-serve exit $?"
	cmp -s "$T/data" <(dd if="$img" bs=1M skip=4 count=8 2>/dev/null) || fail "$eng: written data not in the image"
	[ "$(vbd_stat "$dom" "$dev" flushes)" -ge 1 ] || fail "$eng: no flush served"
	blocks_before=$(stat -c %b "$img")
	[ "$blocks_before" -ge $((8 * 2048)) ] || fail "$eng: the write did not allocate ($blocks_before blocks)"

	devid=$((devid + 1))
	dev=$(simxen_vbd_add "$dom" --devid $devid)
	vbd_attach "$dom" "$dev" "aio:$img" --serve "--engine $eng"
	# discard the middle 4 MiB of the 8 written (at 6 MiB), then read the whole 8 MiB back
	fe "$dev" discard 6M 4M read 4M 8M "$T/back" >"$T/out" 2>&1 || fail "$eng: discard: $(tail -3 "$T/out")"
	vbd_detach "$dom" "$dev" || fail "$eng: td-serve exit $?"
	blocks_after=$(stat -c %b "$img")
	echo "$eng: allocated 512-byte blocks: $blocks_before before, $blocks_after after the discard"
	[ $((blocks_before - blocks_after)) -ge $((4 * 2048 - 16)) ] || fail "$eng: the discard left no hole"
	expect_eq "$(stat -c %s "$img")" $((32 * 1024 * 1024)) "$eng: the image keeps its size"
	cmp -s <(head -c 2M "$T/data") <(head -c 2M "$T/back") || fail "$eng: data before the hole changed"
	cmp -s <(tail -c 2M "$T/data") <(tail -c 2M "$T/back") || fail "$eng: data after the hole changed"
	cmp -s <(dd if="$T/back" bs=1M skip=2 count=4 2>/dev/null) <(head -c 4M /dev/zero) ||
		fail "$eng: the discarded range does not read back zeros"
	cmp -s <(dd if="$img" bs=1M skip=6 count=4 2>/dev/null) <(head -c 4M /dev/zero) ||
		fail "$eng: the discarded range is not zero in the image"
	expect_eq "$(vbd_stat "$dom" "$dev" sectors_discarded)" 8192 "$eng: sectors discarded"
}

discard_on libaio
why=$(io_uring_missing)
if [ -n "$why" ]; then
	echo "SKIP: io_uring: $why"
else
	discard_on io_uring
fi
img=$T/disk.libaio.img

# without feature-discard the frontend does not negotiate it; a raw discard gets EOPNOTSUPP
dev=$(simxen_vbd_add "$dom" --devid $((devid + 1)) --mode r)
vbd_attach "$dom" "$dev" "aio:$img" --readonly
rc=0
fe "$dev" info discard 0 1M >"$T/out" 2>&1 || rc=$?
vbd_detach "$dom" "$dev" || true
grep -q '^discard=0$' "$T/out" || fail "a read-only VBD offered discard"
[ "$rc" -ne 0 ] || fail "a discard on a read-only VBD succeeded"
echo PASS
