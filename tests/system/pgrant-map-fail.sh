# A persistent-grant map the hypervisor refuses (its maptrack table full on a crowded host) costs
# the guest nothing: the segment is grant-copied instead. simxen refuses every 3rd map of the
# backend (SIMXEN_GNTTAB_MAP_FAIL, tools/simxen/README.md); a guest with persistent grants writes
# and reads 8 MiB, direct and indirect, many I/Os at once: no error reaches it, the image and the
# reads hold its bytes, and td-serve counts the fallbacks (pgrant_map_fallbacks). Then the real
# tapdisk behind tapback, its maps refused the same way, under fio reading with crc32c-verified
# data: `tap-ctl stats` reports rings[0].persistent_grants.map_fallbacks > 0 and no error.
. "$(dirname "$0")/../lib/common.sh"
. "$SRC/tests/lib/tapdisk.sh"
. "$SRC/tests/lib/simxen.sh"
. "$SRC/tests/lib/vbd.sh"
. "$SRC/tests/lib/blkfront.sh"

simxen_start
dom=$(simxen_domain_create guest)
img=$T/img
head -c 32M /dev/urandom >"$img"
head -c 8M /dev/urandom >"$T/pat"
cp "$img" "$T/orig"

# run DEVID "FRONTEND OPTIONS": writes the pattern at 0, reads it back and reads 8 MiB at 16M
run() {
	local dev=$1 fopts=$2
	VBD_SERVE_PREFIX="env SIMXEN_GNTTAB_MAP_FAIL=3" bf_attach "$dom" "$dev" "aio:$img"
	expect_rc 0 "dev $dev ($fopts): the guest's I/O succeeds while maps are refused" \
		bf_guest "$dom" "$TBIN/blkfront-io" --device "$(bf_fe "$dom" "$dev")" $fopts \
		write 0 8M "$T/pat" read 0 8M "$T/back.$dev" read 16M 8M "$T/other.$dev" \
		write 0 8M "$T/pat" info
	cp "$T/out" "$T/info.$dev"
	vbd_detach "$dom" "$dev" ||
		fail "dev $dev: td-serve failed: $(cat "$(vbd_dir "$dom" "$dev")/stderr")"
	bf_expect_pattern "$dom" "$dev" "$img"
	[ "$(vbd_stat "$dom" "$dev" pgrant_map_fallbacks)" -gt 0 ] ||
		fail "dev $dev: no map was refused, or the refusals were not counted"
	[ "$(vbd_stat "$dom" "$dev" pgrant_hits)" -gt 0 ] ||
		fail "dev $dev: the mappings that did succeed were never reused"
	echo "ok: dev $dev: $(vbd_stat "$dom" "$dev" pgrant_map_fallbacks) segments grant-copied instead"
}

run 1 "--order 2 --pieces 32"                # indirect requests (up to 256 segments), concurrent
run 2 "--order 0 --max-indirect 0 --pieces 8" # direct requests of at most 11 segments

# ---- the real tapdisk: tap-ctl stats --------------------------------------------------------
ENGINE=$RINGTAP_BUILD/lib/blkfront.so
need_built "$TAPCTL" "$BIN/tapdisk" "$BIN/tapback" "$ENGINE"
command -v fio >/dev/null || fail "fio is not installed (tools/install-deps)"
tapdisk_env
"$BIN/tapback" --foreground 2>>"$T/tapback.log" &
tb=$!
at_exit "kill $tb 2>/dev/null; wait $tb 2>/dev/null"
minor=$("$TAPCTL" allocate | sed 's/.*tapdisk-//')
pid=$(SIMXEN_GNTTAB_MAP_FAIL=3 "$TAPCTL" spawn) || fail "tap-ctl spawn"
expect_rc 0 "tap-ctl attach" "$TAPCTL" attach -p "$pid" -m "$minor"
expect_rc 0 "tap-ctl open" "$TAPCTL" open -p "$pid" -m "$minor" -a "aio:$img"
tapdisk_vbd "$dom"
# fio as the guest on the VBD; a new connection each time
gfio() {
	bf_guest "$dom" fio --name=job --ioengine=external:"$ENGINE" \
		--filename="$(bf_fe "$dom" "$devid")" --bf_ring_order=1 --bs=64k --size=4M "$@"
}
gfio --rw=write --verify=crc32c --do_verify=0 >"$T/fio-fill.log" 2>&1 ||
	fail "fio writing with crc32c headers failed: $(tail "$T/fio-fill.log")"
xs_wait "$be/state" 6 60
# reads at a low rate until stopped, so that the ring stays connected while its stats are read
# (a busy host may take seconds to get there)
gfio --rw=randread --time_based --runtime=300 --rate_iops=100 >"$T/fio-read.log" 2>&1 &
fio_pid=$!
# map fallbacks, failed requests and grant errors of the connected ring (0 0 0 without one),
# from one `tap-ctl stats` as SM reads it (json.loads of the first line)
ring_counts() {
	"$TAPCTL" stats -p "$pid" -m "$minor" | head -n 1 | python3 -c '
import json, sys
j = json.loads(sys.stdin.readline())
r = j["rings"][0] if j["rings"] else None
print(*(r["persistent_grants"]["map_fallbacks"], r["errors"]["error"], r["errors"]["grant"])
      if r else (0, 0, 0))'
}
fallbacks() {
	read -r n e g < <(ring_counts)
	[ "$n" -gt 0 ] || ! kill -0 "$fio_pid" 2>/dev/null
}
wait_until 60 "tap-ctl stats never showed a persistent-grant map fallback" fallbacks
kill -0 "$fio_pid" 2>/dev/null || fail "fio stopped early: $(tail "$T/fio-read.log")"
expect_eq "$e $g" "0 0" "tap-ctl stats: no request failed, no grant error"
echo "ok: tap-ctl stats: $n segments fell back to grant copy"
pkill -TERM -P "$fio_pid" || kill -TERM "$fio_pid"
rc=0
wait "$fio_pid" || rc=$?
{ [ "$rc" -eq 0 ] || [ "$rc" -eq 128 ]; } && grep -q 'err= 0' "$T/fio-read.log" ||
	fail "fio reading through refused maps failed (exit $rc): $(tail "$T/fio-read.log")"
xs_wait "$be/state" 6 60
gfio --rw=read --verify=crc32c >"$T/fio-verify.log" 2>&1 && grep -q 'err= 0' "$T/fio-verify.log" ||
	fail "fio's crc32c verification through refused maps failed: $(tail "$T/fio-verify.log")"
echo "ok: fio wrote, read and verified 4 MiB through the refused maps"
xs_wait "$be/state" 6 60
expect_rc 0 "tap-ctl close" "$TAPCTL" close -p "$pid" -m "$minor"
expect_rc 0 "tap-ctl detach" "$TAPCTL" detach -p "$pid" -m "$minor"
expect_rc 0 "tap-ctl free" "$TAPCTL" free -m "$minor"
check_sanitizers
