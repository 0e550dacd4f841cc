# Every vhd-util argument list XAPI's storage manager builds (vhdutil.py, lvhdutil.py, LVHDSR,
# cleanup.py, FileSR/NFSSR), replayed with SM's expected exit status and its stdout parsed as SM
# parses it (tests/lib/sm_vhdutil.py); then LVHD's largest image: create -s 2097152 -S 2097152 is
# quick and sparse, passes check, and the real tapdisk serves it (a write near its 2 TiB end read
# back through the VBD's NBD export).
. "$(dirname "$0")/../lib/common.sh"
V=$BIN/vhd-util
[ -x "$V" ] || fail "vhd-util not built"
mkdir "$T/sr"
VHD_IO=$TBIN/vhd-io python3 "$SRC/tests/lib/sm_vhdutil.py" "$V" "$T/sr"

# ---- 2 TiB virtual, 2 TiB of BAT reserved ------------------------------------------------------
big=$T/big.vhd
start=$(date +%s%N)
expect_rc 0 "create -s 2097152 -S 2097152" "$V" create --debug -n "$big" -s 2097152 -S 2097152
took_ms=$((($(date +%s%N) - start) / 1000000))
[ "$took_ms" -lt 5000 ] || fail "creating the 2 TiB image took ${took_ms} ms"
echo "ok: created in ${took_ms} ms"
# metadata only: footer copy, header, a 4 MiB BAT (1 Mi entries), the batmap, the footer
size=$(stat -c %s "$big")
[ "$size" -lt $((5 << 20)) ] || fail "the 2 TiB image is $size bytes"
used=$(($(stat -c %b "$big") * $(stat -c %B "$big")))
[ "$used" -lt $((5 << 20)) ] || fail "the 2 TiB image occupies $used bytes"
echo "ok: $size bytes, $used on disk"
expect_rc 0 "check of the 2 TiB image" "$V" check -n "$big"
expect_rc 0 "query -vS" "$V" query -v -S -n "$big"
expect_eq "$(tr '\n' ' ' <"$T/out")" "2097152 2097152 " "2 TiB virtual, 2 TiB fast-resize limit"
expect_rc 22 "create -s 2097153 (past 2 TiB)" "$V" create -n "$T/past.vhd" -s 2097153

. "$SRC/tests/lib/tapdisk.sh"
. "$SRC/tests/lib/simxen.sh"
for f in "$TAPCTL" "$BIN/tapdisk"; do
	[ -x "$f" ] || fail "$f is not built"
done
command -v qemu-io >/dev/null || fail "qemu-io missing (tools/install-deps installs qemu-utils)"
tapdisk_env
simxen_start
expect_rc 0 "tap-ctl create -a vhd: of the 2 TiB image" "$TAPCTL" create -a "vhd:$big"
minor=$(sed 's/.*tapdisk-//' "$T/out")
pid=$("$TAPCTL" list -m "$minor" | sed 's/pid=\([0-9]*\).*/\1/')
sock=$TAPDISK_RUN_DIR/nbd$pid.$minor
[ -S "$sock" ] || fail "no NBD socket $sock"
URI="nbd+unix:///?socket=$sock"
end=$(((2097152 << 20) - (1 << 20)))
qemu-io -f raw -c "write -P 0x5a $end 1M" "$URI" >"$T/qio" 2>&1 || fail "write near the end: $(cat "$T/qio")"
qemu-io -f raw -c "read -P 0x5a $end 1M" -c "read -P 0 0 1M" "$URI" >"$T/qio" 2>&1 ||
	fail "read back: $(cat "$T/qio")"
grep -q "Pattern verification failed" "$T/qio" && fail "read other bytes: $(cat "$T/qio")"
echo "ok: the last MiB written and read back through tapdisk"
expect_rc 0 "tap-ctl destroy" "$TAPCTL" destroy -p "$pid" -m "$minor"
expect_rc 0 "check after tapdisk wrote the last block" "$V" check -n "$big"
expect_rc 0 "query -a" "$V" query -a -n "$big"
expect_eq "$(cat "$T/out")" "1" "one block allocated"
"$TBIN/vhd-io" read "$big" "$end" $((1 << 20)) | cmp -s - <(head -c 1M /dev/zero | tr '\0' 'Z') ||
	fail "the last MiB in the file is not what was written"
echo "ok: the file holds the write"
