# VHD on LVM as XAPI's LVHD SRs run it (the steps in tests/lib/lvhd.sh): a thin VDI's LV and
# `vhd-util create -S`; inflate before attach (footer to the LV's end); a guest's writes through
# tap-ctl's tapdisk and tapback allocating blocks up to the LV's end, then a clean I/O error;
# an online inflate (pause, lvextend, unpause) and the write retried; a snapshot onto a new LV
# (pause, lvrename, deflate, new LV, `vhd-util snapshot`, unpause); deflate after detach. The
# image's bytes and `vhd-util check` are verified at each step.
# LVHD_BACKEND=lvm (here: real LVM on a loop device, skipped without device-mapper) or loop
# (tests/system/lvhd-loop.sh: loop devices stand in for the logical volumes).
. "$(dirname "$0")/../lib/common.sh"
. "$SRC/tests/lib/tapdisk.sh"
. "$SRC/tests/lib/simxen.sh"
. "$SRC/tests/lib/lvhd.sh"
LVHD_BACKEND=${LVHD_BACKEND:-lvm}
VHD_UTIL=$BIN/vhd-util
IO=$TBIN/vhd-io
MiB=$LVHD_MIB
BLK=$LVHD_BLOCK
VIRT_MIB=32
BLOCKS=$((VIRT_MIB * MiB / BLK))

[ "$(id -u)" -eq 0 ] || skip "loop devices need root"
command -v losetup >/dev/null && command -v blockdev >/dev/null || fail "util-linux missing"
if [ "$LVHD_BACKEND" = lvm ]; then
	command -v lvm >/dev/null || fail "lvm2 missing (tools/install-deps)"
	modprobe dm-mod 2>/dev/null || true
	grep -qw device-mapper /proc/misc ||
		skip "kernel has no device-mapper (no device-mapper in /proc/misc after modprobe dm-mod)"
fi
for f in "$TAPCTL" "$BIN/tapdisk" "$BIN/tapback" "$TBIN/blkfront-io" "$IO"; do
	[ -x "$f" ] || fail "$f is not built"
done

# SM's sizes (lvhdutil.py, vhdutil.py), worked out by hand
expect_eq "$(lvhd_overhead_empty $((LVHD_MSIZE_MIB * MiB)))" 4329472 "calcOverheadEmpty(2 TiB)"
expect_eq "$(lvhd_size_lv "$(lvhd_overhead_empty $((LVHD_MSIZE_MIB * MiB)))")" $((8 * MiB)) \
	"a thin VDI's LV: 8 MiB"
expect_eq "$(lvhd_size_vhd_lv $((64 * MiB)))" $((72 * MiB)) "calcSizeVHDLV(64 MiB)"
expect_eq "$(lvhd_size_vhd_lv $((16 * MiB)))" $((24 * MiB)) "calcSizeVHDLV(16 MiB)"

uuid() { cat /proc/sys/kernel/random/uuid; }
sr=$(uuid) vdi=$(uuid) base=$(uuid)
# (the volumes are removed after the tapdisks are killed: registered first, run last)
lvhd_vg_create "$sr" $((256 * MiB)) "$T/sr" || fail "creating the volume group"
simxen_start
tapdisk_env
"$BIN/tapback" --foreground 2>>tapback.log &
at_exit "kill $! 2>/dev/null"

LV=$(lvhd_lv_path "VHD-$vdi")
BASE=$(lvhd_lv_path "VHD-$base")
# last_cookie DEV: the first 8 bytes of the device's last sector
last_cookie() { dd if="$1" bs=512 skip=$(($(blockdev --getsize64 "$1") / 512 - 1)) count=1 2>/dev/null | head -c 8; }
footer_at_end() { expect_eq "$(last_cookie "$1")" conectix "$2: the footer is in the last sector"; }
vquery() { "$VHD_UTIL" query "$@" | tail -n 1; }
# holds DEV OFFSET FILE WHAT: the VHD (through its chain) holds FILE's bytes at OFFSET
holds() {
	"$IO" read "$1" "$2" "$(stat -c %s "$3")" | cmp -s - "$3" || fail "$4: bytes differ"
	echo "ok: $4"
}
head -c $((VIRT_MIB * MiB)) /dev/urandom >data
split -b $BLK -d -a 2 data blk.
head -c $((VIRT_MIB * MiB)) /dev/zero >zeros

# ---- a thin VDI, inflated short of its full size ----------------------------------------------
lvhd_vdi_create "$vdi" $VIRT_MIB || fail "creating the VDI"
expect_eq "$(lvhd_lv_bytes "VHD-$vdi")" $((8 * MiB)) "the new LV has the thin size"
expect_rc 0 "vhd-util check on the thin LV" "$VHD_UTIL" check -n "$LV"
footer_at_end "$LV" "thin LV"
phys0=$(vquery -s -n "$LV")
expect_eq "$(vquery -v -n "$LV")" $VIRT_MIB "virtual size"
# room for what SM gives a 16 MiB disk: the guest's 32 MiB cannot all fit
short=$(lvhd_size_vhd_lv $((16 * MiB)))
lvhd_inflate "$vdi" "$short" || fail "inflate"
expect_eq "$(lvhd_lv_bytes "VHD-$vdi")" "$short" "inflated"
footer_at_end "$LV" "inflated LV"
expect_rc 0 "vhd-util check after inflate" "$VHD_UTIL" check -n "$LV"
expect_eq "$(vquery -s -n "$LV")" "$phys0" "inflate allocates nothing"
fit=$(lvhd_blocks_fit "$short" "$phys0")
[ "$fit" -ge 8 ] || fail "only $fit blocks fit in calcSizeVHDLV(16 MiB)"
echo "ok: $fit blocks fit in the ${short}-byte LV"

# ---- the guest fills it through tapdisk -------------------------------------------------------
expect_rc 0 "tap-ctl create -a vhd:$LV" "$TAPCTL" create -a "vhd:$LV"
minor=$(sed 's/.*tapdisk-//' out)
pid=$("$TAPCTL" list -m "$minor" | sed 's/pid=\([0-9]*\).*/\1/')
dom=$(simxen_domain_create guest)
be=/local/domain/0/backend/vbd3/$dom/1
simxen_vbd_add "$dom" --devid 1 >/dev/null
xenstore-write "$be/physical-device-path" "$TAPDISK_RUN_DIR/nbd$pid.$minor" "$be/hotplug-status" connected
guest() {
	env $(simxen_guest_env "$dom") "$TBIN/blkfront-io" --device "/local/domain/$dom/device/vbd/1" "$@"
}
stats() { "$TAPCTL" stats -p "$pid" -m "$minor" | python3 -c "import json,sys; j=json.load(sys.stdin); print($1)"; }

args=()
for ((k = 0; k < BLOCKS; k++)); do args+=(write $((k * BLK)) "$BLK" "blk.$(printf %02d $k)"); done
expect_rc 5 "the guest writes block after block until the LV is full: EIO" guest "${args[@]}"
expect_match "$(cat err)" "write $((fit * BLK)) $BLK: Input/output error" \
	"the first block past the LV's end is the one that failed"
kill -0 "$pid" 2>/dev/null || fail "tapdisk died"
grep -q "cannot allocate block $fit: No space left on device" "$TAPDISK_LOG_FILE" ||
	fail "tapdisk logged no ENOSPC for block $fit: $(tail -n 3 "$TAPDISK_LOG_FILE")"
echo "ok: tapdisk stays up and logs ENOSPC"
[ "$(stats "j['images'][0]['fail'][1]")" -ge 1 ] || fail "stats count no write failure"
echo "ok: stats count the failed writes"
head -c $((BLK)) /dev/urandom >again
expect_rc 0 "the guest still reads, and rewrites an allocated block" \
	guest read 0 $BLK r0 write $BLK $BLK again read $BLK $BLK r1
cmp -s r0 blk.00 && cmp -s r1 again || fail "read back after ENOSPC"
expect_rc 5 "a write to another unallocated block fails too" guest write $(((BLOCKS - 1) * BLK)) 4K again

expect_rc 0 "pause" "$TAPCTL" pause -p "$pid" -m "$minor"
expect_rc 0 "vhd-util check of the full LV" "$VHD_UTIL" check -n "$LV"
expect_eq "$(vquery -a -n "$LV")" "$fit" "allocated blocks"
phys=$(vquery -s -n "$LV")
[ "$phys" -le $((short - 512)) ] && [ $((short - phys)) -lt $((BLK + 4096 + 512)) ] ||
	fail "used $phys of $short bytes: blocks past the end or room left"
echo "ok: the blocks fill the LV up to its footer"
footer_at_end "$LV" "full LV"
cp again blk.01 && cat blk.* >data # block 1 rewritten
head -c $((fit * BLK)) data >fitted
head -c $(((BLOCKS - fit) * BLK)) zeros >rest
holds "$LV" 0 fitted "the LV holds the blocks that fit"
holds "$LV" $((fit * BLK)) rest "the rest reads zeros"

# ---- online inflate to the full size: the failed writes now succeed ---------------------------
full=$(lvhd_size_vhd_lv $((VIRT_MIB * MiB)))
lvhd_inflate "$vdi" "$full" || fail "inflate to $full"
footer_at_end "$LV" "fully inflated LV"
expect_rc 0 "vhd-util check after the online inflate" "$VHD_UTIL" check -n "$LV"
expect_rc 0 "unpause" "$TAPCTL" unpause -p "$pid" -m "$minor" -a "vhd:$LV"
args=()
for ((k = fit; k < BLOCKS; k++)); do args+=(write $((k * BLK)) "$BLK" "blk.$(printf %02d $k)"); done
expect_rc 0 "the guest writes the rest of its disk" guest "${args[@]}"

# ---- snapshot: the VDI's LV becomes the base, a new LV takes the VDI's name -------------------
expect_rc 0 "pause for the snapshot" "$TAPCTL" pause -p "$pid" -m "$minor"
expect_rc 0 "vhd-util check before the snapshot" "$VHD_UTIL" check -n "$LV"
holds "$LV" 0 data "the whole disk written"
used=$(vquery -s -n "$LV")
lvhd_snapshot "$vdi" "$base" || fail "snapshot"
expect_eq "$(lvhd_lv_bytes "VHD-$base")" "$(lvhd_size_lv "$used")" "the base is deflated"
expect_eq "$(lvhd_lv_bytes "VHD-$vdi")" "$full" "the new leaf LV has the full size"
footer_at_end "$BASE" "deflated base"
footer_at_end "$LV" "new leaf"
expect_eq "$(vquery -f -n "$BASE")" "hidden: 1" "the base is hidden"
expect_eq "$(vquery -a -n "$LV")" 0 "the leaf has no block"
expect_eq "$(vquery -p -n "$LV")" "$(lvhd_lv_canonical "VHD-$base")" "the leaf's parent is the base"
expect_match "$("$VHD_UTIL" read -p -n "$LV")" \
	"Parent name *: $(basename "$(lvhd_lv_canonical "VHD-$base")")" "the header names the base"
expect_rc 0 "unpause onto the new leaf" "$TAPCTL" unpause -p "$pid" -m "$minor" -a "vhd:$LV"
expect_eq "$(stats "len(j['images'])")" 2 "tapdisk opened the chain"
head -c $BLK /dev/urandom >new0
expect_rc 0 "the guest writes over the snapshot and reads the base" \
	guest write 0 $BLK new0 read $((5 * BLK)) $BLK r5 write $(((BLOCKS - 1) * BLK)) 4K again
cmp -s r5 blk.05 || fail "the guest read through to the base"

# ---- detach, then deflate ---------------------------------------------------------------------
expect_rc 0 "destroy" "$TAPCTL" destroy -p "$pid" -m "$minor"
expect_rc 0 "vhd-util check of the leaf" "$VHD_UTIL" check -n "$LV"
expect_rc 0 "vhd-util check of the base" "$VHD_UTIL" check -n "$BASE"
holds "$BASE" 0 data "the base holds the disk as it was at the snapshot"
cp data now
dd if=new0 of=now conv=notrunc status=none
dd if=again of=now bs=4096 count=1 seek=$(((BLOCKS - 1) * BLK / 4096)) conv=notrunc status=none
holds "$LV" 0 now "the leaf reads the guest's writes over the base"
expect_eq "$(vquery -a -n "$LV")" 2 "two blocks in the leaf"
lvhd_deflate "$vdi" || fail "deflate"
used=$(vquery -s -n "$LV")
expect_eq "$(lvhd_lv_bytes "VHD-$vdi")" "$(lvhd_size_lv "$used")" "deflated to the used size"
footer_at_end "$LV" "deflated leaf"
expect_rc 0 "vhd-util check after deflate" "$VHD_UTIL" check -n "$LV"
holds "$LV" 0 now "the deflated leaf reads the same"

# an inflate cut short between lvextend (the last sector zeroed) and `modify -s`: tapdisk opens
# the VHD from the footer's copy at offset 0 and writes the footer at the LV's new end
size=$(($(lvhd_lv_bytes "VHD-$vdi") + 4 * MiB))
lvhd_lv_resize "VHD-$vdi" "$size" || fail "lvextend"
dd if=/dev/zero of="$LV" bs=512 count=1 seek=$((size / 512 - 1)) conv=notrunc,fsync status=none
[ -z "$(last_cookie "$LV" | tr -d '\0')" ] || fail "the grown LV's last sector is not zero"
expect_rc 0 "tapdisk opens the half-inflated VHD" "$TAPCTL" create -a "vhd:$LV"
minor=$(sed 's/.*tapdisk-//' out)
pid=$("$TAPCTL" list -m "$minor" | sed 's/pid=\([0-9]*\).*/\1/')
expect_rc 0 "destroy" "$TAPCTL" destroy -p "$pid" -m "$minor"
footer_at_end "$LV" "half-inflated LV after tapdisk"
expect_rc 0 "vhd-util check of the repaired footer" "$VHD_UTIL" check -n "$LV"
holds "$LV" 0 now "the half-inflated leaf reads the same"
check_sanitizers
