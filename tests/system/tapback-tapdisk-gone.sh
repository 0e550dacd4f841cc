# tapback and a tapdisk that is not there: (a) physical-device-path names a dead tapdisk (killed
# before the hotplug step, or a pid that never ran one): tapback writes <backend>/tapdisk-error
# saying so, logs it, and closes the backend (Closing, then Closed) instead of waiting in
# InitWait forever; (b) the tapdisk dies (kill -9) while the ring is connected and the guest
# writes: the same, and the guest's libblkfront sees its backend close and fails its I/O at once
# instead of hanging. tapback stays up and keeps serving another VBD throughout.
. "$(dirname "$0")/../lib/common.sh"
. "$SRC/tests/lib/tapdisk.sh"
. "$SRC/tests/lib/simxen.sh"

need_built "$TAPCTL" "$BIN/tapdisk" "$BIN/tapback" "$TBIN/blkfront-io"
tapdisk_env
RUN=$TAPDISK_RUN_DIR
simxen_start
dom=$(simxen_domain_create guest1)
be_of() { echo "/local/domain/0/backend/vbd3/$dom/$1"; }
fe_of() { echo "/local/domain/$dom/device/vbd/$1"; }
# a guest in the background: `env` itself (it execs the program: $! is the guest's pid)
guest_bg() { env $(simxen_guest_env "$dom") "$@" & }
tapback_start

# be_closed DEVID: the backend is Closed
be_closed() { [ "$(xenstore-read "$(be_of "$1")/state" 2>/dev/null)" = 6 ]; }
# serve IMG: a tapdisk serving IMG (tap-ctl create); sets pid and minor
serve() {
	expect_rc 0 "create -a aio:$1" "$TAPCTL" create -a "aio:$1"
	minor=$(sed 's/.*tapdisk-//' "$T/out")
	pid=$("$TAPCTL" list -m "$minor" | sed -n 's/^pid=\([0-9]*\) .*/\1/p')
	[ -n "$pid" ] || fail "no tapdisk serves minor $minor"
}
# plug DEVID PID MINOR: xenopsd's nodes, then the hotplug step naming nbd<PID>.<MINOR>
plug() {
	simxen_vbd_add "$dom" --devid "$1" --mode w >/dev/null
	xs_wait "$(be_of "$1")/state" 2
	xenstore-write "$(be_of "$1")/physical-device-path" "$RUN/nbd$2.$3" \
		"$(be_of "$1")/hotplug-status" connected
}
# expect_gone DEVID PID MINOR: tapdisk-error names the tapdisk, the backend closes, tapback lives
expect_gone() {
	local be
	be=$(be_of "$1")
	wait_until 60 "$be: no tapdisk-error" xenstore-read "$be/tapdisk-error"
	expect_match "$(xenstore-read "$be/tapdisk-error")" \
		"^tapdisk $2 \\(minor $3\\) is gone: [a-z]" "$be: tapdisk-error names the tapdisk and why"
	wait_until 60 "$be: backend not Closed" be_closed "$1"
	echo "ok: $be: backend state $(xenstore-read "$be/state")"
	grep -q "$be: tapdisk $2 (minor $3) is gone" "$T/tapback.log" || fail "tapback did not log it"
	kill -0 $tb 2>/dev/null || fail "tapback died"
}

truncate -s 64M "$T/other.img" "$T/victim.img"
# the bystander: a VBD served all along, its guest doing I/O while the others fail
serve "$T/other.img"
opid=$pid ominor=$minor
plug 1 "$opid" "$ominor"
head -c 1M /dev/urandom >"$T/data"
# bystander_start / bystander_check: a run of the bystander's guest writing and reading back
bystander_start() {
	local cmds=() i
	for ((i = 0; i < 300; i++)); do
		cmds+=(write $(((i % 48) + 8))M 1M "$T/data" read $(((i % 48) + 8))M 1M "$T/back")
	done
	guest_bg "$TBIN/blkfront-io" --device "$(fe_of 1)" --order 1 "${cmds[@]}" \
		>"$T/bystander.log" 2>&1
	bystander=$!
	at_exit "kill $bystander 2>/dev/null"
	wait_until 60 "the bystander did not connect" \
		eval '[ "$(xenstore-read "$(be_of 1)/state")" = 4 ]'
}
bystander_check() {
	wait_until 300 "the bystander did not finish" exited "$bystander"
	wait $bystander || fail "the bystander's I/O failed: $(tail -n 3 "$T/bystander.log")"
	cmp -s "$T/data" "$T/back" || fail "the bystander read back other bytes"
	expect_eq "$(xenstore-read "$(be_of 1)/tapdisk-error" 2>/dev/null || echo none)" none \
		"the bystander's I/O went on, without a tapdisk-error"
	wait_until 60 "backend 1 not Closed" eval '[ "$(xenstore-read "$(be_of 1)/state")" = 6 ]'
}
bystander_start

# (a) physical-device-path naming a pid that never ran a tapdisk, and a killed tapdisk's
plug 2 999999 0
expect_gone 2 999999 0
serve "$T/victim.img"
kill -9 "$pid"
wait_until 30 "tapdisk $pid did not die" exited "$pid"
plug 3 "$pid" "$minor"
expect_gone 3 "$pid" "$minor"
bystander_check
simxen_vbd_remove "$dom" 2
simxen_vbd_remove "$dom" 3
"$TAPCTL" list >/dev/null # reaps the killed tapdisk's leftovers

# (b) killed with -9 while connected, a guest writing
serve "$T/victim.img"
vpid=$pid vminor=$minor
plug 4 "$vpid" "$vminor"
cmds=()
for ((i = 0; i < 4000; i++)); do cmds+=(write $(((i % 48) + 8))M 1M "$T/data"); done
guest_bg "$TBIN/blkfront-io" --device "$(fe_of 4)" --order 1 --timeout-ms 600000 "${cmds[@]}" \
	>"$T/writer.log" 2>&1
writer=$!
at_exit "kill $writer 2>/dev/null"
writing() {
	[ "$(xenstore-read "$(be_of 4)/state")" = 4 ] &&
		[ "$("$TAPCTL" stats -p "$vpid" -m "$vminor" | python3 -c \
			'import json,sys; print(json.loads(sys.stdin.readline())["secs"][1])')" -gt 4096 ]
}
wait_until 120 "the guest's writes did not start" writing
bystander_start
kill -9 "$vpid"
start=$SECONDS
expect_gone 4 "$vpid" "$vminor"
wait_until 60 "the writing guest hangs" exited "$writer"
if wait $writer; then fail "the writer's I/O succeeded against a dead tapdisk"; fi
[ $((SECONDS - start)) -lt 60 ] || fail "the guest took $((SECONDS - start))s to fail"
grep -q "backend state [06] while connected" "$T/writer.log" ||
	fail "the guest did not see its backend close: $(tail -n 3 "$T/writer.log")"
echo "ok: the guest saw its backend close and failed: $(grep -m1 'blkfront-io:' "$T/writer.log")"
wait_until 60 "backend 4 not Closed after the frontend closed" \
	eval '[ "$(xenstore-read "$(be_of 4)/state")" = 6 ]'
simxen_vbd_remove "$dom" 4

bystander_check
simxen_vbd_remove "$dom" 1
expect_rc 0 "destroy the bystander's tapdisk" "$TAPCTL" destroy -p "$opid" -m "$ominor"
wait_until 60 "tapdisk $opid did not exit" exited "$opid"
kill -0 $tb 2>/dev/null || fail "tapback died"
check_sanitizers
echo PASS
