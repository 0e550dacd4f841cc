# Adaptive polling backs off when it cannot pay (docs/POLLING.md, the payoff judge).
# td-serve, the guest and a CPU hog share one CPU, and the guest reads back to back at QD1
# (poll-gaps). A spinning td-serve competes with the hog and with the guest itself for that CPU:
# the request it spins for cannot come while it spins (the guest that would send it waits for the
# CPU), and when the scheduler hands the CPU to the hog it sits off it with nobody to wake it (the
# frontend does not notify a ring being polled), where a sleeping one is woken by the next event.
# So polling cannot pay, on a quiet host as on a busy one. (With the guest on a CPU of its own it
# can, beside the hog: the io_uring engine's completions, reaped without an interrupt, made it
# 1.3x faster than events there.) The test assumes no figure for either.
# The load guard is OFF (--poll-no-guard): on such a CPU it would refuse to poll by itself
# ("preempted", "cpus-busy"), and this test is about the judge. Two runs of the same workload:
# - the window alone (--poll-no-judge, the controller before the judge): it polls;
# - with the judge (the default): it probes (off phases refuse episodes), reaches verdicts, says
#   off at least once (polling must beat events by 3 % to start: a tie ends it), and polls for
#   less than 3/4 of the time the window alone did for the same reads (it was 1/2 to 1/9 at load
#   averages of 6 to 8: the probes' on phases, and a verdict on when the noise favoured polling).
. "$(dirname "$0")/../lib/common.sh"
. "$SRC/tests/lib/simxen.sh"
. "$SRC/tests/lib/vbd.sh"
. "$SRC/tests/lib/blkfront.sh"

command -v taskset >/dev/null || skip "taskset (util-linux) is not installed"
cpu=$(taskset -pc $$ | sed 's/.*: *//; s/[,-].*//') # the first CPU this test may use
[ -n "$cpu" ] || fail "cannot read this shell's CPU affinity"

export RINGTAP_POLL_BUDGET=$T/budget
simxen_start
dom=$(simxen_domain_create guest)
img=$T/img
# 16 MiB, each 4 KiB block stamped with its index (little-endian 64-bit) at its start
python3 -c '
import struct, sys
with open(sys.argv[1], "wb") as f:
    for i in range(4096):
        f.write(struct.pack("<Q", i) + bytes(4088))' "$img"

# run DEVID "TD-SERVE OPTIONS": 6000 QD1 reads back to back, td-serve and the guest on the hog's
# CPU. The hog
# starts once the ring is connected (on a busy host, under the sanitizers, a handshake beside it
# could take longer than the frontend waits) and before the first read (the judge's first probe
# would otherwise compare polling without the hog with events beside it).
run() {
	local dev=$1 serve=$2 out guest hog
	VBD_SERVE_PREFIX="taskset -c $cpu" bf_attach "$dom" "$dev" "aio:$img" --serve "$serve"
	out=$T/gaps.$dev
	bf_guest "$dom" taskset -c "$cpu" "$TBIN/poll-gaps" --device "$(bf_fe "$dom" "$dev")" --stamps --count 6000 \
		--bound-ms 10000 --start-file "$T/go.$dev" >"$out" 2>"$out.err" &
	guest=$!
	at_exit "kill $guest 2>/dev/null"
	vbd_wait_connected "$dom" "$dev"
	taskset -c "$cpu" bash -c 'while :; do :; done' &
	hog=$!
	at_exit "kill $hog 2>/dev/null"
	touch "$T/go.$dev"
	wait "$guest" || {
		cat "$out" "$out.err" >&2
		fail "poll-gaps on VBD $dev ($serve) failed"
	}
	kill "$hog"
	wait "$hog" 2>/dev/null || true
	vbd_detach "$dom" "$dev" ||
		fail "td-serve $dev exit $?: $(tail -n 5 "$(vbd_dir "$dom" "$dev")"/{stderr,handshake.log,closer.log} 2>&1)"
	expect_eq "$(sed -n 's/^requests=//p' "$out")" 6000 "VBD $dev ($serve): 6000 reads answered"
	expect_eq "$(sed -n 's/^bad=//p' "$out")" 0 "VBD $dev ($serve): no bad data"
}
st() { vbd_stat "$dom" "$1" "$2" || fail "VBD $1: no $2 in td-serve's stats"; }

run 1 "--poll adaptive --poll-no-guard --poll-no-judge"
alone_us=$(st 1 poll_wall_us)
[ "$(st 1 poll_entered)" -gt 0 ] || fail "the window alone never polled: the test shows nothing"
echo "window alone (no judge, guard off): $(st 1 poll_entered) episodes, $alone_us us polled"

run 2 "--poll adaptive --poll-no-guard"
judged_us=$(st 2 poll_wall_us)
probes=$(st 2 poll_judge_probes)
on=$(st 2 poll_judge_kept_on)
off=$(st 2 poll_judge_kept_off)
echo "judged (guard off): $probes probes ($(st 2 poll_judge_changes) on a rate change), verdicts $on on / $off off, $(st 2 poll_judged_off)" \
	"episodes refused, $judged_us us polled; rates in the last probe: on" \
	"$(st 2 poll_judge_rate_on)/s, off $(st 2 poll_judge_rate_off)/s"
[ "$probes" -ge 1 ] && [ $((on + off)) -ge 1 ] || fail "the judge never reached a verdict"
[ "$off" -ge 1 ] || fail "the judge kept polling that cannot pay ($on verdicts on, none off)"
[ "$(st 2 poll_judged_off)" -gt 0 ] || fail "the judge never refused an episode"
[ $((judged_us * 4)) -lt $((alone_us * 3)) ] ||
	fail "judged: $judged_us us polled is not under 3/4 of the window alone's $alone_us us"
echo "ok: polling that cannot pay backs off: $off verdicts off, $on on; polled $judged_us us" \
	"against $alone_us us without the judge"
simxen_stop
