# XAPI's polling settings reach a running tapdisk, and the host-wide configuration file gives
# every VBD its defaults:
# 1. tapdisk.conf ($TAPDISK_CONF): its policy and settings are each new VBD's; a bad line is
#    logged with its line number and ignored; `tapdisk --check-config` reports it and exits 1;
# 2. the backend's polling-duration and polling-idle-threshold as xenstore holds them at connect
#    reach the ring (tap-ctl stats), and a change of either while the guest is connected is
#    taken by tapdisk (tapback watches them), with the window's bounds following the policy:
#    fixed [D, D], adaptive [start, min(max, D)], D = 0: no polling;
# 3. hostile values written by a toolstack (not numbers, out of range, overflow, empty) are
#    refused with a tapback log line and tapdisk keeps its settings; a removed node changes
#    nothing.
# Only settings and counters are asserted, never timing: the load guard (on here) may keep
# polling off on a busy host without changing any of this; the test prints its verdict.
. "$(dirname "$0")/../lib/common.sh"
. "$SRC/tests/lib/tapdisk.sh"
. "$SRC/tests/lib/simxen.sh"

need_built "$TAPCTL" "$BIN/tapdisk" "$BIN/tapback" "$TBIN/poll-gaps"
tapdisk_env

# ---- 1. the host-wide defaults -------------------------------------------------------------
cat >"$T/tapdisk.conf" <<'EOF'
# host-wide polling defaults
polling-policy = fixed
polling-max-window = 100   # adaptive's ceiling, µs
polling-grow = 99
polling-idle-threshold = 30
EOF
export TAPDISK_CONF=$T/tapdisk.conf
expect_rc 1 "tapdisk --check-config refuses a bad line" "$BIN/tapdisk" --check-config
expect_match "$(cat "$T/err")" "tapdisk.conf:4: polling-grow: expected a value from 2 to 16" \
	"--check-config names the line and says why"
expect_match "$(cat "$T/out")" "polling-policy = fixed" "--check-config prints the file's policy"
expect_rc 0 "--check-config without a file: the built-in defaults" \
	env TAPDISK_CONF= "$BIN/tapdisk" --check-config

simxen_start # before the tapdisk: it finds the simulated grant tables through the environment
truncate -s 64M "$T/disk.img"
tapdisk_open "aio:$T/disk.img"
# pol EXPR: a Python expression over p (stats' polling) and s (its ring's stats, {} without one)
pol() {
	"$TAPCTL" stats -p "$pid" -m "$minor" | python3 -c "
import json, sys
p = json.load(sys.stdin)['polling']; s = p.get('stats', {})
print($1)"
}
expect_eq "$(pol "p['policy'], p['max_window_us'], p['idle_threshold'], p['grow']")" \
	"fixed 100 30 2" "the VBD starts with tapdisk.conf's settings (its bad line ignored)"
wait_until 10 "tapdisk logs the bad line" grep -q "tapdisk.conf:4: polling-grow" "$T/tapdisk.log"
echo "ok: the bad line is in tapdisk's log"

# ---- 2. xenstore's values at connect, then changed while connected ------------------------
dom=$(simxen_domain_create guest1)
tapback_start
devid=$(simxen_vbd_add "$dom" --devid 51712 --mode w)
be=/local/domain/0/backend/vbd3/$dom/$devid
fe=/local/domain/$dom/device/vbd/$devid
xs_wait "$be/state" 2
xenstore-write "$be/polling-duration" 600 "$be/polling-idle-threshold" 20
xenstore-write "$be/physical-device-path" "$(readlink -f "$TAPDISK_RUN_DIR/nbd$pid.$minor")" \
	"$be/hotplug-status" connected
# the guest does some I/O, then stays connected until killed
env $(simxen_guest_env "$dom") "$TBIN/poll-gaps" --device "$fe" --count 500 \
	--done-file "$T/guest.done" --linger-ms 600000 >"$T/guest.out" 2>&1 &
guest=$!
at_exit "kill $guest 2>/dev/null; wait $guest 2>/dev/null"
xs_wait "$be/state" 4 60
wait_until 60 "the guest's I/O finishes" test -f "$T/guest.done"
expect_eq "$(pol "p['duration_us'], p['idle_threshold'], s['window_bounds_ns']")" \
	"600 20 [600000, 600000]" "connect: the backend's values, fixed window [D, D]"
expect_eq "$(pol "' '.join(sorted(s['judge']))")" \
	"changes kept_off kept_on noise_pct on probes probing rate_off rate_on" \
	"tap-ctl stats: the payoff judge's fields"
echo "load guard: $(pol "'on' if s['guard']['on'] else 'off', s['guard']['verdict'], 'idle', s['guard']['idle_pct'], '%'"); episodes entered $(pol "s['entered']"), refused or cut $(pol "s['guarded']") ($(pol "s['idle_refused']") by idle%)"

# settled EXPR WANT WHAT: waits until pol EXPR prints WANT (tapback and tapdisk take a moment)
settled() {
	local i got
	for ((i = 0; i < 200; i++)); do
		got=$(pol "$1")
		[ "$got" = "$2" ] && { echo "ok: $3"; return 0; }
		sleep 0.1
	done
	fail "$3: stats say '$got' after 20 s, expected '$2'"
}
xenstore-write "$be/polling-duration" 150
settled "p['duration_us'], s['window_bounds_ns']" "150 [150000, 150000]" \
	"polling-duration changed while connected: the fixed window follows"
xenstore-write "$be/polling-idle-threshold" 70
settled "p['duration_us'], p['idle_threshold']" "150 70" \
	"polling-idle-threshold changed while connected"
"$TAPCTL" poll -p "$pid" -m "$minor" -P adaptive
settled "p['policy'], s['window_bounds_ns']" "adaptive [4000, 100000]" \
	"adaptive: the window from 4 us to min(max window 100, duration 150) us"
xenstore-write "$be/polling-duration" 40
settled "s['window_bounds_ns']" "[4000, 40000]" "adaptive: a smaller polling-duration lowers the ceiling"
xenstore-write "$be/polling-duration" 0
settled "p['duration_us'], s['window_bounds_ns'], s['window_ns']" "0 [0, 0] 0" \
	"polling-duration 0: no polling under adaptive"
"$TAPCTL" poll -p "$pid" -m "$minor" -P off
xenstore-write "$be/polling-duration" 8000 "$be/polling-idle-threshold" 50
settled "p['policy'], p['duration_us'], p['idle_threshold'], s['window_bounds_ns']" \
	"off 8000 50 [0, 0]" "off: the settings are taken and kept, nothing polls"
"$TAPCTL" poll -p "$pid" -m "$minor" -P adaptive
settled "s['window_bounds_ns']" "[4000, 100000]" "back to adaptive: XAPI's 8000 us leaves the ceiling"
wait_until 10 "tapdisk logs the changes" grep -q "minor $minor: polling adaptive, duration 8000 us" "$T/tapdisk.log"
echo "ok: tapdisk logged the changes"

# ---- 3. what a toolstack must not be able to do ----------------------------------------------
# After each bad value, a good one in the other node: once tapdisk has that one, tapback has
# handled the bad write too, and tapdisk must still have the value from before it.
dur=8000 idle=50 n=0
for bad in "polling-duration=abc" "polling-duration=-1" "polling-duration=1000001" \
	"polling-duration=99999999999999999999999" "polling-duration=" "polling-duration= 12" \
	"polling-duration=12us" "polling-duration=0x10" "polling-idle-threshold=101" \
	"polling-idle-threshold=50.5" "polling-idle-threshold=4294967346"; do
	node=${bad%%=*} val=${bad#*=}
	xenstore-write -- "$be/$node" "$val"
	n=$((n + 1))
	if [ "$node" = polling-duration ]; then
		idle=$((idle == 50 ? 51 : 50))
		xenstore-write "$be/polling-idle-threshold" "$idle"
	else
		dur=$((dur == 8000 ? 8001 : 8000))
		xenstore-write "$be/polling-duration" "$dur"
	fi
	settled "p['duration_us'], p['idle_threshold']" "$dur $idle" \
		"$node '$val' refused, tapdisk keeps its value (the other node's change is taken)"
	grep -qF -- "$node '$val' is not a whole number" "$T/tapback.log" ||
		fail "tapback did not log its refusal of $node '$val'"
done
xenstore-rm "$be/polling-duration"
xenstore-write "$be/polling-idle-threshold" 35
settled "p['duration_us'], p['idle_threshold'], s['window_bounds_ns']" "$dur 35 [4000, 100000]" \
	"a removed polling-duration changes nothing"
expect_eq "$(grep -c "is not a whole number" "$T/tapback.log")" "$n" "one log line per refused value"
kill -0 "$tb" || fail "tapback died"
kill -0 "$pid" || fail "tapdisk died"
grep "sent to tapdisk" "$T/tapback.log" | tail -n 2 || true

kill "$guest"
wait "$guest" 2>/dev/null || true
check_sanitizers
