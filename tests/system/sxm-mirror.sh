# XAPI's storage migration replayed on one host with two tapdisks (issue 14, item 3): the source
# serves a guest from a VHD with data on it; XAPI hands the migration's connection to the
# destination's nbdserver<pid>.<minor> (old-style, as XAPI does) and to the source's
# nbdclient<pid>; SM snapshots the source while paused and unpauses it with -2 nbd:<datapath>;
# the guest then writes with fio --verify while the snapshot is copied in the background by a
# real NBD client (nbdcopy, as sparse_dd copies it) from a read-only tapdisk to the
# destination's parent VDI, and the mirror carries every new write to the destination's leaf.
# At the end the destination's leaf is composed onto its parent (vhd-util modify -p, XAPI's
# finalize) and reads byte for byte as the source's chain; tap-ctl stats showed the mirror.
. "$(dirname "$0")/../lib/common.sh"
. "$SRC/tests/lib/tapdisk.sh"
. "$SRC/tests/lib/simxen.sh"
. "$SRC/tests/lib/sxm.sh"

V=$BIN/vhd-util
MiB=1048576
SIZE=64 # MiB
need_built "$TAPCTL" "$BIN/tapdisk" "$BIN/tapback" "$V" "$TBIN/vhd-io" "$SXM_ENGINE"
command -v fio >/dev/null || fail "fio is not installed (tools/install-deps)"
command -v nbdcopy >/dev/null || fail "nbdcopy is not installed (libnbd-bin, tools/install-deps)"
tapdisk_env
simxen_start
dom=$(simxen_domain_create guest)
tapback_start

# the source VDI, with data on part of it (some blocks never written: the copy reads zeros)
"$V" create -n "$T/src-base.vhd" -s $SIZE >/dev/null || fail "vhd-util create"
for off in 0 $((6 * MiB)) $((20 * MiB)) $((41 * MiB)); do
	head -c $((3 * MiB)) /dev/urandom | "$TBIN/vhd-io" write "$T/src-base.vhd" "$off" ||
		fail "writing the source's data"
done
# the destination (XAPI's receive_start): the leaf the mirror writes, a snapshot's child of an
# empty VDI (the "dummy" snapshot), and the parent the copy fills
"$V" create -n "$T/dst-dummy.vhd" -s $SIZE >/dev/null || fail "vhd-util create"
"$V" snapshot -n "$T/dst-leaf.vhd" -p "$T/dst-dummy.vhd" >/dev/null || fail "vhd-util snapshot"
"$V" create -n "$T/dst-parent.vhd" -s $SIZE >/dev/null || fail "vhd-util create"

tapdisk_open "vhd:$T/dst-leaf.vhd"
lpid=$pid lminor=$minor
tapdisk_open "vhd:$T/dst-parent.vhd"
ppid=$pid pminor=$minor
tapdisk_open "vhd:$T/src-base.vhd"
spid=$pid sminor=$minor
fe=$(sxm_guest_vbd "$dom" "$spid" "$sminor")
dp=vbd/$dom/${fe##*/}

# XAPI: mirror_pass_fds, then VDI.snapshot with mirror=nbd:<dp>: SM pauses, snapshots, and
# unpauses onto the new leaf with -2
sxm_pass "$spid" "$lpid" "$lminor" "$dp"
"$TAPCTL" pause -p "$spid" -m "$sminor" || fail "tap-ctl pause"
"$V" snapshot -n "$T/src-leaf.vhd" -p "$T/src-base.vhd" >/dev/null || fail "vhd-util snapshot"
expect_rc 0 "unpause onto the snapshot's leaf with -2 nbd:$dp" "$TAPCTL" unpause -p "$spid" \
	-m "$sminor" -2 "nbd:$dp" -a "vhd:$T/src-leaf.vhd"
expect_eq "$(sxm_stat "$spid" "$sminor" "j['mirror']['connected'], j['mirror']['protocol'], j['nbd_mirror_failed']")" \
	"True oldstyle 0" "tap-ctl stats: the mirror is connected, old-style"
expect_eq "$(sxm_stat "$spid" "$sminor" "j['mirror']['name']")" "nbd:$dp" "the mirror's name"

# the guest writes (and verifies) while the snapshot is copied
sxm_fio "$dom" "$fe" "$T/fio.json" --rw=randwrite --bs=4k-64k --iodepth=16 --size=48M \
	--offset=8M --loops=3 --verify=crc32c --do_verify=1 --bf_ring_order=2 >"$T/fio.out" 2>&1 &
fio_pid=$!
at_exit "kill $fio_pid 2>/dev/null"
wait_until 60 "the mirror carries the guest's writes" sxm_mirror_writes_above "$spid" "$sminor" 0
# XAPI attaches the snapshot read-only and sparse_dd copies it to the destination's parent
tapdisk_open "vhd:$T/src-base.vhd" -R
cpid=$pid cminor=$minor
expect_rc 0 "nbdcopy copies the snapshot to the destination's parent while the guest writes" \
	timeout 120 nbdcopy "nbd+unix:///?socket=$TAPDISK_RUN_DIR/nbd$cpid.$cminor" \
	"nbd+unix:///?socket=$TAPDISK_RUN_DIR/nbd$ppid.$pminor"
during=$(sxm_stat "$spid" "$sminor" "j['mirror']['writes']")
wait "$fio_pid" || fail "the guest's fio failed: $(tail -n 5 "$T/fio.out")"
sxm_fio_verified "$T/fio.json" || fail "fio reports an error or did not verify what it wrote"
echo "ok: the guest wrote and verified its data with no error ($during mirrored writes when the copy ended)"

# XAPI: pre_deactivate polls until nothing is outstanding, then the source is paused and
# closed; the destination's leaf is composed onto its parent
outstanding() { [ "$(sxm_stat "$spid" "$sminor" "j['reqs_outstanding']")" = 0 ]; }
wait_until 30 "nothing outstanding on the source" outstanding
expect_eq "$(sxm_stat "$spid" "$sminor" "j['nbd_mirror_failed'], j['mirror']['failures'], j['mirror']['inflight']")" \
	"0 0 0" "the mirror never failed and has nothing in flight"
writes=$(sxm_stat "$spid" "$sminor" "j['mirror']['writes']")
[ "$writes" -gt 0 ] || fail "no write mirrored"
echo "ok: $writes writes mirrored"
"$TAPCTL" pause -p "$spid" -m "$sminor" || fail "tap-ctl pause (source)"
for pm in "$spid $sminor" "$cpid $cminor" "$lpid $lminor" "$ppid $pminor"; do
	set -- $pm
	"$TAPCTL" close -p "$1" -m "$2" -f || fail "tap-ctl close -p $1 -m $2"
done
"$V" modify -p "$T/dst-parent.vhd" -n "$T/dst-leaf.vhd" || fail "vhd-util modify -p (compose)"
"$V" read -r 0 -c $((SIZE * 2048)) -n "$T/src-leaf.vhd" >"$T/src.bin" || fail "reading the source"
"$V" read -r 0 -c $((SIZE * 2048)) -n "$T/dst-leaf.vhd" >"$T/dst.bin" || fail "reading the destination"
expect_eq "$(stat -c %s "$T/dst.bin")" $((SIZE * MiB)) "the destination reads whole"
cmp "$T/src.bin" "$T/dst.bin" || fail "the destination's chain differs from the source's"
echo "ok: the destination's leaf over its parent is byte-identical to the source's chain"
grep -q "mirror nbd:$dp: disconnected" "$T/tapdisk.log" || fail "the source did not disconnect"
echo "ok: closing the source disconnected the mirror"
check_sanitizers
