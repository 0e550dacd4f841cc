# A ring disconnected with requests in flight is quiesced, not paused: tapdisk drains them with
# the image left open, disconnects, and serves the next connection on the same open image. The
# image file is unlinked once tapdisk has it open, so a reopen by path (what a drain through
# pause and resume did) could only fail and leave the VBD paused: the guest reconnects again and
# again with a write in flight at each close (tests/progs blkfront-reopen --inflight), reads
# back what it wrote every time, and the VBD ends running, never reopened.
. "$(dirname "$0")/../lib/common.sh"
. "$SRC/tests/lib/tapdisk.sh"
. "$SRC/tests/lib/simxen.sh"

REOPENS=300
SECONDS_MAX=60
MIN_REOPENS=20
need_built "$TAPCTL" "$BIN/tapdisk" "$BIN/tapback" "$TBIN/blkfront-reopen"
tapdisk_env
simxen_start
dom=$(simxen_domain_create guest1)
tapback_start

truncate -s 64M "$T/disk.img"
tapdisk_open "aio:$T/disk.img"
rm "$T/disk.img" # tapdisk's open file is the only way to it now

devid=$(simxen_vbd_add "$dom" --devid 51712 --mode w)
be=/local/domain/0/backend/vbd3/$dom/$devid
fe=/local/domain/$dom/device/vbd/$devid
xs_wait "$be/state" 2
xenstore-write "$be/physical-device-path" "$(readlink -f "$TAPDISK_RUN_DIR/nbd$pid.$minor")" \
	"$be/hotplug-status" connected

out=$(env $(simxen_guest_env "$dom") "$TBIN/blkfront-reopen" --device "$fe" --count "$REOPENS" \
	--seconds "$SECONDS_MAX" --base 4096 --inflight 2>"$T/reopen.err") ||
	fail "blkfront-reopen: $out; $(tail -n 5 "$T/reopen.err"); tapdisk: $(tail -n 5 "$T/tapdisk.log")"
n=$(echo "$out" | sed -n 's/^reopened \([0-9]*\) .*/\1/p')
[ -n "$n" ] && [ "$n" -ge "$MIN_REOPENS" ] || fail "only '$out' (at least $MIN_REOPENS wanted)"
echo "ok: $out, each reading back what the previous connection wrote"
kill -0 "$pid" 2>/dev/null || fail "tapdisk died"

quiesced=$(grep -c "quiescing before the disconnect" "$T/tapdisk.log" || true)
[ "$quiesced" -gt 0 ] || skip "no close found a request in flight in tapdisk ($n closes)"
echo "ok: $quiesced disconnect(s) found requests in flight and quiesced"
grep -q "reopen" "$T/tapdisk.log" && fail "tapdisk tried to reopen its image: $(grep reopen "$T/tapdisk.log" | head -3)"
echo "ok: the image was never reopened"
state=$("$TAPCTL" list -p "$pid" | sed -n 's/.*state=\([0-9a-fx]*\).*/\1/p')
expect_eq "$state" 0 "the VBD is running, not paused"
xs_wait "$be/state" 6
env $(simxen_guest_env "$dom") "$TBIN/blkfront-reopen" --device "$fe" --count 1 --base 8192 \
	>"$T/out" 2>&1 || fail "a last open after the disconnects: $(cat "$T/out")"
echo "ok: the VBD serves a fresh connection on its open image"
check_sanitizers
