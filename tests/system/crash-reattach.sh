# A tapdisk killed with -9 while a guest writes leaves nothing that blocks the next attach: the
# whole attach flow (tap-ctl list -f, allocate, spawn, attach, open, the hotplug step, tapback
# connecting a guest) runs again on the same image; `tap-ctl list` omits the dead tapdisk and
# removes its control and NBD sockets, the minor it held and its /dev/shm statistics; the data
# the guest wrote, flushed and had acknowledged before the kill is in the image. Leftovers whose
# pid now belongs to another program are removed too; a live tapdisk's never are.
. "$(dirname "$0")/../lib/common.sh"
. "$SRC/tests/lib/tapdisk.sh"
. "$SRC/tests/lib/simxen.sh"

need_built "$TAPCTL" "$BIN/tapdisk" "$BIN/tapback" "$TBIN/blkfront-io"
tapdisk_env
RUN=$TAPDISK_RUN_DIR
SHM=$TAPDISK_SHM_DIR
simxen_start
dom=$(simxen_domain_create guest1)
devid=51712
be=/local/domain/0/backend/vbd3/$dom/$devid
fe=/local/domain/$dom/device/vbd/$devid
guest() { env $(simxen_guest_env "$dom") "$@"; }
# in the background, `env` itself (it execs the program: $! is the guest's pid, not a subshell's)
guest_bg() { env $(simxen_guest_env "$dom") "$@" & }
tapback_start

# leftovers PID MINOR: what of tapdisk PID (which held MINOR) is in the run and shm directories
leftovers() {
	local p=$1 m=$2
	(
		cd "$RUN" && ls -d "ctl$p" "nbd$p".* 2>/dev/null || true
		[ -s "$RUN/tapdisk/tapdisk-$m" ] && [ "$(cat "$RUN/tapdisk/tapdisk-$m")" = "$p" ] &&
			echo "tapdisk/tapdisk-$m"
		cd "$SHM" && ls -d "td3-$p" "vbd3-$dom-$devid" 2>/dev/null || true
	)
}

# SM's launch sequence and xenopsd's plug: sets pid and minor
attach_flow() {
	expect_rc 0 "list -f: no tapdisk serves the image" "$TAPCTL" list -f "$T/disk.img"
	expect_eq "$(grep 'pid=' "$T/out" || true)" "" "list -f lists no tapdisk (a dead one neither)"
	expect_rc 0 "allocate" "$TAPCTL" allocate
	minor=$(sed 's/.*tapdisk-//' "$T/out")
	expect_rc 0 "spawn" "$TAPCTL" spawn
	pid=$(cat "$T/out")
	expect_rc 0 "attach" "$TAPCTL" attach -p "$pid" -m "$minor"
	expect_rc 0 "open" "$TAPCTL" open -p "$pid" -m "$minor" -a "aio:$T/disk.img"
	simxen_vbd_add "$dom" --devid "$devid" --mode w >/dev/null
	xs_wait "$be/state" 2
	xenstore-write "$be/physical-device-path" "$(readlink -f "$RUN/nbd$pid.$minor")" \
		"$be/hotplug-status" connected
}

truncate -s 64M "$T/disk.img"
head -c 1M /dev/urandom >"$T/acked"
head -c 1M /dev/urandom >"$T/noise"
attach_flow
pid1=$pid minor1=$minor
expect_rc 0 "the guest writes 1 MiB at 8 MiB and flushes: acknowledged" \
	guest "$TBIN/blkfront-io" --device "$fe" --order 1 write 8M 1M "$T/acked" flush
xs_wait "$be/state" 6

# a guest writing without end, the tapdisk killed with -9 in the middle of it
cmds=()
for ((i = 0; i < 4000; i++)); do cmds+=(write $((16 + i % 32))M 1M "$T/noise"); done
guest_bg "$TBIN/blkfront-io" --device "$fe" --order 1 --timeout-ms 30000 "${cmds[@]}" \
	>"$T/writer.log" 2>&1
writer=$!
at_exit "kill $writer 2>/dev/null"
writes() { "$TAPCTL" stats -p "$pid1" -m "$minor1" | python3 -c \
	'import json,sys; print(json.loads(sys.stdin.readline())["secs"][1])'; }
mid_io() { [ -d "$SHM/vbd3-$dom-$devid" ] && [ "$(writes)" -gt $((2 * 2048 + 2 * 2048)) ]; }
wait_until 120 "the guest's writes did not start" mid_io
kill -9 "$pid1"
wait_until 30 "tapdisk $pid1 did not die" exited "$pid1"
echo "ok: tapdisk $pid1 killed with -9 mid-write"
# what kill -9 leaves (the precondition of everything below)
for e in "ctl$pid1" "nbd$pid1.$minor1"; do [ -S "$RUN/$e" ] || fail "no $RUN/$e after the kill"; done
expect_eq "$(cat "$RUN/tapdisk/tapdisk-$minor1")" "$pid1" "the minor still names its dead holder"
[ -d "$SHM/td3-$pid1" ] && [ -d "$SHM/vbd3-$dom-$devid" ] || fail "no shm statistics after the kill: $(ls -R "$SHM")"
# the guest does not hang: its I/O fails
wait_until 120 "the writing guest hangs" exited "$writer"
if wait $writer; then fail "the writer's I/O succeeded against a dead tapdisk"; fi
echo "ok: the writing guest failed: $(grep -m1 blkfront-io "$T/writer.log" || true)"

# xenopsd unplugs the dead VBD
simxen_vbd_remove "$dom" "$devid"
xs_wait_gone "$be"

# leftovers whose pid is now another program's (pid reuse): stale as well
sleep 300 &
other=$!
at_exit "kill $other 2>/dev/null"
python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$RUN/ctl$other"
python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$RUN/nbd$other.9"
mkdir -p "$SHM/td3-$other" "$SHM/vbd3-77-88"
touch "$SHM/td3-$other/vbd-77-88" "$SHM/vbd3-77-88/statistics"
echo "$other" >"$RUN/tapdisk/tapdisk-99"
: >"$RUN/tapdisk/tapdisk-98" # allocated, never attached: the toolstack's, kept

# the next attach on the same image: nothing of the dead tapdisk is in the way
attach_flow
expect_eq "$(leftovers "$pid1" "$minor1")" "" \
	"nothing of the dead tapdisk $pid1 remains"
expect_eq "$minor" "$minor1" "the dead tapdisk's minor was freed and allocated again"
for e in "ctl$other" "nbd$other.9" tapdisk/tapdisk-99; do
	[ ! -e "$RUN/$e" ] || fail "$e of a pid reused by another program was kept"
done
[ ! -e "$SHM/td3-$other" ] && [ ! -e "$SHM/vbd3-77-88" ] || fail "stale shm entries were kept"
[ -e "$RUN/tapdisk/tapdisk-98" ] || fail "an allocated, never attached minor was removed"
expect_rc 0 "free the allocated minor" "$TAPCTL" free -m 98
echo "ok: leftovers of a reused pid removed, an allocated minor kept"

# the guest connects to the new tapdisk and finds what it had flushed before the kill
expect_rc 0 "the guest reads back what was acknowledged" \
	guest "$TBIN/blkfront-io" --device "$fe" --order 1 read 8M 1M "$T/back" \
	write 0 1M "$T/noise" read 0 1M "$T/back2"
cmp -s "$T/acked" "$T/back" || fail "the acknowledged write is not there after the crash"
cmp -s "$T/acked" <(dd if="$T/disk.img" bs=1M skip=8 count=1 2>/dev/null) ||
	fail "the image does not hold the acknowledged write"
cmp -s "$T/noise" "$T/back2" || fail "the new tapdisk's write and read differ"
echo "ok: the acknowledged data survived; the new tapdisk serves I/O"
xs_wait "$be/state" 6

# a live tapdisk's entries are never reaped, its connected ring's statistics neither
cmds=()
for ((i = 0; i < 4000; i++)); do cmds+=(read $((i % 32))M 1M /dev/null); done
guest_bg "$TBIN/blkfront-io" --device "$fe" --order 1 "${cmds[@]}" >"$T/reader.log" 2>&1
reader=$!
at_exit "kill $reader 2>/dev/null"
wait_until 60 "the reader did not connect" test -d "$SHM/vbd3-$dom-$devid"
expect_rc 0 "list" "$TAPCTL" list
expect_eq "$(cat "$T/out")" "pid=$pid minor=$minor state=0 args=aio:$T/disk.img" \
	"list shows the live tapdisk alone"
[ -S "$RUN/ctl$pid" ] && [ -S "$RUN/nbd$pid.$minor" ] || fail "a live tapdisk's socket was removed"
expect_eq "$(cat "$RUN/tapdisk/tapdisk-$minor")" "$pid" "the live tapdisk's minor names it"
[ -d "$SHM/vbd3-$dom-$devid" ] && [ -f "$SHM/td3-$pid/vbd-$dom-$devid" ] ||
	fail "a live tapdisk's statistics were removed"
echo "ok: the live tapdisk's sockets, minor and statistics are kept"
kill $reader
wait $reader 2>/dev/null || true
wait_until 60 "the reader did not exit" exited "$reader"

# teardown: nothing left
simxen_vbd_remove "$dom" "$devid"
xs_wait_gone "$be"
expect_rc 0 "close" "$TAPCTL" close -p "$pid" -m "$minor" -t 120
expect_rc 0 "detach" "$TAPCTL" detach -p "$pid" -m "$minor"
expect_rc 0 "free" "$TAPCTL" free -m "$minor"
wait_until 60 "tapdisk $pid did not exit" exited "$pid"
expect_eq "$(ls -A "$RUN" | grep -v '^tapdisk$' || true)" "" "nothing left in the run directory"
expect_eq "$(ls -A "$RUN/tapdisk")" "" "no minor left"
expect_eq "$(ls -A "$SHM")" "" "nothing left in the shm directory"
kill -0 $tb 2>/dev/null || fail "tapback died"
kill $tb
wait $tb 2>/dev/null || true
check_sanitizers
echo PASS
