# VHDs on block devices, as on XAPI's LVM SRs: the footer lives at the device's end, blocks
# are allocated below it, and `modify -s` moves the footer before a volume shrinks.
. "$(dirname "$0")/../lib/common.sh"
V=$BIN/vhd-util
IO=$TBIN/vhd-io
MiB=1048576
[ "$(id -u)" -eq 0 ] || skip "loop devices need root"
command -v losetup >/dev/null || fail "losetup missing (util-linux)"
command -v qemu-img >/dev/null || fail "qemu-img missing (qemu-utils)"
cd "$T"

LOOP=
at_exit '[ -z "$LOOP" ] || losetup -d "$LOOP"'
attach() {
	LOOP=$(losetup --show -f "$1" 2>/dev/null) || skip "no free loop device (kernel loop support)"
}

head -c $((64 * MiB)) /dev/urandom >vol.img # stale contents, as a reused volume has
attach vol.img
expect_rc 0 "create on a device" "$V" create -n "$LOOP" -s 40
expect_rc 0 "query" "$V" query -v -s -a -n "$LOOP"
expect_eq "$(tr '\n' ' ' <"$T/out")" "40 3584 0 " "size, physical use, no block allocated"
head -c $((3 * MiB)) /dev/urandom >data
"$IO" write "$LOOP" $((MiB)) <data || fail "write to the device"
expect_rc 0 "check the device" "$V" check -n "$LOOP"
qemu-img convert -f vpc -O raw "$LOOP" out.raw
cmp -s <(head -c $MiB out.raw) <(head -c $MiB /dev/zero) || fail "stale bytes read back"
cmp -s <(tail -c +$((MiB + 1)) out.raw | head -c $((3 * MiB))) data || fail "data differs"
echo "ok: qemu-img reads the written data and zeros elsewhere (no stale bytes)"
phys=$("$V" query -s -n "$LOOP")
expect_eq "$phys" 4203008 "physical use after two blocks"

# deflate as XAPI does it: footer to the new end, then the volume shrinks
expect_rc 0 "modify -s" "$V" modify -s $((32 * MiB)) -n "$LOOP"
losetup -d "$LOOP"
LOOP=
truncate -s $((32 * MiB)) vol.img
attach vol.img
expect_rc 0 "check the shrunk volume" "$V" check -n "$LOOP"
expect_rc 0 "query after shrinking" "$V" query -v -s -n "$LOOP"
expect_eq "$(tr '\n' ' ' <"$T/out")" "40 $phys " "still 40 MiB, same data"
"$IO" read "$LOOP" $((MiB)) $((3 * MiB)) | cmp -s - data || fail "data after shrinking"
echo "ok: data intact after the volume shrank"
expect_rc 22 "modify -s below the data" "$V" modify -s $((2 * MiB)) -n "$LOOP"
head -c $((30 * MiB)) /dev/urandom >more # 15 blocks: more than the 28 MiB left
"$IO" write "$LOOP" $((10 * MiB)) <more 2>err && fail "wrote past the device's end"
grep -q "no room on the device" err || fail "no clear error when the device is full: $(cat err)"
echo "ok: a full device is a clear error"
