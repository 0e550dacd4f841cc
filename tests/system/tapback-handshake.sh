# tapback runs the xenbus handshake against a frontend played with xenstore-* as the guest, and
# passes the ring to the tapdisk named by physical-device-path (here ctl-fake-tapdisk, which
# records what it is given): features at InitWait, connect with multi-page rings, geometry and
# Connected, close/reopen, restart without disturbing the VBD, a hostile frontend, domain death.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/simxen.sh"

export TAPDISK_RUN_DIR=$T/run TAPDISK_BIN=$TBIN/ctl-fake-tapdisk
simxen_start
dom=$(simxen_domain_create guest1)
guest() { env $(simxen_guest_env "$dom") "$@"; }

truncate -s 64M "$T/disk.img"
minor=$("$BIN/tap-ctl" allocate | sed 's/.*tapdisk-//')
pid=$("$BIN/tap-ctl" spawn)
at_exit "kill $pid 2>/dev/null"
"$BIN/tap-ctl" attach -p "$pid" -m "$minor"
"$BIN/tap-ctl" open -p "$pid" -m "$minor" -a "aio:$T/disk.img"

start_tapback() {
	"$BIN/tapback" --foreground --debug --pidfile "$T/tapback.pid" 2>>"$T/tapback.log" &
	tb=$!
	at_exit "kill $tb 2>/dev/null; wait $tb 2>/dev/null"
}
ring_json() { "$BIN/tap-ctl" stats -p "$pid" -m "$minor" | python3 -c "import json,sys; r=json.load(sys.stdin)['fake']; print(json.dumps(r.get('ring')), r['connected'], r['polling'])"; }

start_tapback
devid=$(simxen_vbd_add "$dom")
be=/local/domain/0/backend/vbd3/$dom/$devid
fe=/local/domain/$dom/device/vbd/$devid

# InitWait is offered at once; connecting waits for the hotplug step
xs_wait "$be/state" 2
expect_eq "$(xenstore-read "$be/max-ring-page-order")" 4 "max-ring-page-order offered"
expect_eq "$(xenstore-read "$be/feature-persistent")" 1 "feature-persistent offered"
expect_eq "$(xenstore-read "$be/feature-max-indirect-segments")" 256 "indirect segments offered"
guest xenstore-write "$fe/ring-page-order" 2 "$fe/ring-ref0" 11 "$fe/ring-ref1" 12 \
	"$fe/ring-ref2" 13 "$fe/ring-ref3" 14 "$fe/event-channel" 7 "$fe/protocol" x86_32-abi \
	"$fe/feature-persistent" 1 "$fe/state" 3
wait_until 30 "tapback sees the frontend Initialised and waits for the hotplug step" \
	grep -q "$be: frontend 3 backend 2 online 1 ring 0: actions 0x40" "$T/tapback.log"
expect_eq "$(xenstore-read "$be/state")" 2 "no connect before hotplug-status=connected"
# the block hotplug step
xenstore-write "$be/physical-device-path" "$TAPDISK_RUN_DIR/nbd$pid.$minor" "$be/hotplug-status" connected
xs_wait "$be/state" 4
expect_eq "$(xenstore-read "$be/kthread-pid")" "$pid" "kthread-pid names the tapdisk"
expect_eq "$(xenstore-read "$be/sectors")" $((64 * 2048)) "sectors from the tapdisk"
expect_eq "$(xenstore-read "$be/sector-size")" 512 "sector-size"
expect_eq "$(xenstore-read "$be/feature-flush-cache")" 1 "feature-flush-cache"
expect_eq "$(xenstore-read "$be/feature-discard")" 1 "feature-discard"
expect_eq "$(xenstore-read "$be/discard-granularity")" 4096 "discard-granularity from the tapdisk"
expect_eq "$(xenstore-read "$be/info")" 0 "info for a writable disk"
r=$(ring_json)
expect_match "$r" '"order": 2' "ring order passed to tapdisk"
expect_match "$r" '"port": 7' "event channel passed"
expect_match "$r" '"protocol": "x86_32-abi"' "protocol passed"
expect_match "$r" '"persistent": true' "persistent grants passed"
expect_match "$r" '"domid": '"$dom" "domid passed"
expect_match "$r" "'duration_us': 8000" "polling-duration passed"
expect_match "$r" "'idle_threshold': 50" "polling-idle-threshold passed"
guest xenstore-write "$fe/state" 4

# a restarted tapback adopts the connected device without touching its ring
kill "$tb"
wait "$tb" 2>/dev/null || true
start_tapback
wait_until 10 "the restarted tapback logs the device it adopted" \
	grep -q "$be: adopted: connected to tapdisk $pid minor $minor" "$T/tapback.log"
expect_eq "$(xenstore-read "$be/state")" 4 "still Connected after tapback restart"
expect_match "$(ring_json)" "True" "ring still connected after tapback restart"
echo "ok: adoption logged"
# tapback's log (--foreground, stderr not the journal): time, pid, level, the device
grep -q "^[0-9-]*T[0-9:.+-]* tapback\[[0-9]*\] info: $be: connected to tapdisk $pid minor $minor" \
	"$T/tapback.log" || fail "no connect line with time, pid, level and device: $(head -5 "$T/tapback.log")"
echo "ok: tapback's lines carry time, pid, level and the device"

# the frontend closes, then comes back (Closed → Initialising)
guest xenstore-write "$fe/state" 5
xs_wait "$be/state" 5
guest xenstore-write "$fe/state" 6
xs_wait "$be/state" 6
expect_match "$(ring_json)" "^null False" "ring disconnected on Closed"
wait_until 10 "tapback logs the disconnect" \
	grep -q "$be: disconnected from tapdisk $pid minor $minor" "$T/tapback.log"
echo "ok: disconnect logged"
guest xenstore-write "$fe/state" 1
xs_wait "$be/state" 2
guest xenstore-rm "$fe/ring-page-order" "$fe/ring-ref0" "$fe/ring-ref1" "$fe/ring-ref2" "$fe/ring-ref3"
guest xenstore-write "$fe/ring-ref" 21 "$fe/event-channel" 9 "$fe/protocol" x86_64-abi "$fe/state" 3
xs_wait "$be/state" 4
r=$(ring_json)
expect_match "$r" '"order": 0' "reconnected with one ring page"
expect_match "$r" '"port": 9' "reconnected with the new port"

# a hostile frontend: an absurd ring order closes the device, tapback survives
guest xenstore-write "$fe/state" 6
xs_wait "$be/state" 6
guest xenstore-write "$fe/state" 1
xs_wait "$be/state" 2
guest xenstore-write "$fe/ring-page-order" 9 "$fe/state" 3
xs_wait "$be/state" 5
kill -0 "$tb" || fail "tapback died on a hostile frontend"
echo "ok: malformed ring closes the device"
wait_until 10 "tapback logs the guest's error, naming the node" grep -q \
	"err: $be: frontend $fe published a malformed ring: ring-page-order is not a number up to 4" \
	"$T/tapback.log"
echo "ok: the guest's error logged"

# a toolstack writing node by node: the backend appears before the frontend's state exists;
# tapback offers its features and waits instead of taking the device for a removed one
be2=/local/domain/0/backend/vbd3/$dom/51728
fe2=/local/domain/$dom/device/vbd/51728
xenstore-write "$be2/frontend" "$fe2" "$be2/frontend-id" "$dom" "$be2/online" 1 "$be2/state" 1
xs_wait "$be2/state" 2
expect_eq "$(xenstore-read "$be2/state")" 2 "a backend whose frontend is not written yet stays"
xenstore-write "$fe2/state" 1
wait_until 30 "tapback sees the frontend's state exist" \
	grep -q "$be2: frontend $fe2 appeared in state 1" "$T/tapback.log"
xenstore-rm "$fe2/state"
xs_wait_gone "$be2"
echo "ok: the frontend's state removed after it existed: the backend is removed"

# the guest dies: the ring is let go and the backend directory removed
guest xenstore-write "$fe/ring-page-order" 0 "$fe/state" 1
simxen_domain_destroy "$dom"
xs_wait_gone "$be"
expect_match "$(ring_json)" "False" "ring disconnected when the domain died"
kill -0 "$tb" || fail "tapback died"
grep -q "ERROR\|AddressSanitizer\|runtime error" "$T/tapback.log" && fail "tapback reported errors: $(cat "$T/tapback.log")"
echo "tapback log:"; cat "$T/tapback.log"
