# tap-ctl's failures: bad flags, missing or bad arguments and bad paths give a clear message, a
# positive errno exit code and no side effects; a missing, dead, silent or unspawnable tapdisk
# gives blktap3's error codes (ENOENT, ECONNREFUSED, ETIMEDOUT).
. "$(dirname "$0")/../lib/common.sh"

TAPCTL=$BIN/tap-ctl
[ -x "$TAPCTL" ] || fail "tap-ctl not built"
export TAPDISK_RUN_DIR=$T/run TAPDISK_BIN=$TBIN/ctl-fake-tapdisk
# daemons have no stderr: sanitizer reports (SANITIZE=1) go to files, checked at the end
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=$T/asan UBSAN_OPTIONS=${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}log_path=$T/asan
check_sanitizers() {
	if compgen -G "$T/asan.*" >/dev/null; then
		cat "$T"/asan.* >&2
		fail "sanitizer reports"
	fi
}
mkdir -p "$TAPDISK_RUN_DIR"
EINVAL=22

# no_side_effects: nothing allocated, nothing started
no_side_effects() {
	[ -z "$(ls "$TAPDISK_RUN_DIR/tapdisk" 2>/dev/null)" ] || fail "$1: a minor was allocated"
	[ -z "$(ls "$TAPDISK_RUN_DIR" | grep '^ctl' || true)" ] || fail "$1: a tapdisk was started"
}
# bad WHAT ARGS...: exit EINVAL, a message on stderr, nothing on stdout, no side effects
bad() {
	local what=$1
	shift
	expect_rc $EINVAL "$what" "$TAPCTL" "$@"
	[ -s "$T/err" ] || fail "$what: no message on stderr"
	[ ! -s "$T/out" ] || fail "$what: printed on stdout: $(cat "$T/out")"
	no_side_effects "$what"
}

expect_rc 0 "--help" "$TAPCTL" --help
expect_match "$(cat "$T/out")" "Usage: tap-ctl" "usage on stdout"
for sub in list allocate free create destroy spawn attach detach open close pause unpause stats poll; do
	expect_rc 0 "$sub -h" "$TAPCTL" "$sub" -h
	expect_match "$(cat "$T/out")" "Usage: tap-ctl $sub" "$sub usage"
	expect_rc 0 "$sub --help" "$TAPCTL" "$sub" --help
done
bad "no command" 
bad "unknown command" frobnicate
expect_match "$(cat "$T/err")" "frobnicate" "names the command"
bad "unknown global flag" --bogus
for sub in list allocate free create destroy spawn attach detach open close pause unpause stats poll; do
	bad "$sub -Z" "$sub" -Z
	expect_match "$(cat "$T/err")" "'-Z'" "$sub names the bad flag"
	bad "$sub --bogus" "$sub" --bogus
	expect_match "$(cat "$T/err")" "bogus" "$sub names the bad long flag"
done
bad "attach without -m" attach -p 1
expect_match "$(cat "$T/err")" "missing -m" "says what is missing"
bad "attach without -p" attach -m 1
bad "open without -a" open -p 1 -m 0
expect_match "$(cat "$T/err")" "missing -a" "says what is missing"
bad "-m without its argument" detach -p 1 -m
expect_match "$(cat "$T/err")" "needs an argument" "says the argument is missing"
bad "non-numeric pid" attach -p abc -m 0
expect_match "$(cat "$T/err")" "invalid value 'abc' for -p" "names the bad value"
bad "negative minor" attach -p 1 -m -3
bad "minor out of range" free -m 16384
bad "trailing garbage in a number" stats -p 12x -m 0
bad "stray operand" list extra
bad "unknown image type" open -p 1 -m 0 -a qcow2:/x
expect_match "$(cat "$T/err")" "aio, raw or vhd" "lists the valid types"
bad "image without type" open -p 1 -m 0 -a /dev/sda
bad "relative image path" open -p 1 -m 0 -a aio:disk.img
bad "relative cbt log" open -p 1 -m 0 -a aio:/x -C log
bad "create without -a" create
bad "create with a bad type" create -a nbd:/x
bad "unpause with a bad image" unpause -p 1 -m 0 -a vhd:rel
bad "list with an unknown type" list -t qcow
bad "poll with a bad factor" poll -p 1 -m 0 -g 0
bad "close with a bad timeout" close -p 1 -m 0 -t soon
bad "-E with a short key" open -p 1 -m 0 -a aio:/x -E <<<"short"
expect_match "$(cat "$T/err")" "32 or 64" "key size explained"
expect_rc 0 "--debug is accepted anywhere" "$TAPCTL" list --debug

# a bad image path: ENOENT before anything happens
expect_rc 2 "create with a missing image" "$TAPCTL" create -a "aio:$T/missing.img"
expect_match "$(cat "$T/err")" "missing.img.*No such file or directory" "names the path and strerror"
no_side_effects "create with a missing image"

# no tapdisk with that pid: ENOENT, as blktap3's connect
for sub in attach detach pause unpause stats close; do
	expect_rc 2 "$sub to a missing tapdisk: ENOENT" "$TAPCTL" "$sub" -p 999999 -m 0
	expect_match "$(cat "$T/err")" "No such file or directory" "$sub: strerror text"
done
expect_rc 2 "open to a missing tapdisk" "$TAPCTL" open -p 999999 -m 0 -a "aio:$T/x"
expect_rc 0 "list -p of a missing tapdisk prints nothing (blktap3)" "$TAPCTL" list -p 999999
expect_eq "$(cat "$T/out")" "" "nothing listed"

# a dead tapdisk's stale socket: ECONNREFUSED; list skips it
python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' \
	"$TAPDISK_RUN_DIR/ctl999998"
expect_rc 111 "attach to a dead tapdisk: ECONNREFUSED" "$TAPCTL" attach -p 999998 -m 0
expect_match "$(cat "$T/err")" "Connection refused" "strerror text"
expect_rc 0 "list skips a stale socket" "$TAPCTL" list
expect_eq "$(cat "$T/out")" "" "stale tapdisk not listed"
rm -f "$TAPDISK_RUN_DIR/ctl999998"

# a tapdisk that accepts and never answers: ETIMEDOUT after TAP_CTL_TIMEOUT
python3 - "$TAPDISK_RUN_DIR" >"$T/silent.pid" <<'PY' &
import os, socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.bind("%s/ctl%d" % (sys.argv[1], os.getpid()))
s.listen(4)
print(os.getpid(), flush=True)
conns = []
end = time.time() + 50
while time.time() < end:
    s.settimeout(end - time.time())
    try:
        conns.append(s.accept()[0])
    except OSError:
        break
PY
silent_job=$!
at_exit "kill $silent_job 2>/dev/null"
for i in $(seq 50); do [ -s "$T/silent.pid" ] && break; sleep 0.1; done
silent=$(cat "$T/silent.pid")
[ -S "$TAPDISK_RUN_DIR/ctl$silent" ] || fail "silent server not listening"
start=$SECONDS
TAP_CTL_TIMEOUT=1 expect_rc 110 "a silent tapdisk: ETIMEDOUT" "$TAPCTL" pause -p "$silent" -m 0
[ $((SECONDS - start)) -le 10 ] || fail "timeout took $((SECONDS - start)) s"
expect_match "$(cat "$T/err")" "timed out" "strerror text"
TAP_CTL_TIMEOUT=1 expect_rc 0 "list survives a silent tapdisk" "$TAPCTL" list
expect_eq "$(cat "$T/out")" "pid=$silent" "listed alone, as blktap3"
kill "$silent_job"
wait "$silent_job" 2>/dev/null || true
rm -f "$TAPDISK_RUN_DIR/ctl$silent"

# spawn with no tapdisk binary: ENOENT, nothing left behind
TAPDISK_BIN=$T/no-such-tapdisk expect_rc 2 "spawn without a tapdisk binary" "$TAPCTL" spawn
expect_match "$(cat "$T/err")" "no-such-tapdisk.*No such file or directory" "names the binary"
[ ! -s "$T/out" ] || fail "spawn printed a pid"
TAPDISK_BIN=$T/no-such-tapdisk expect_rc 2 "create without a tapdisk binary" \
	"$TAPCTL" create -a "aio:$T/silent.pid"
no_side_effects "create without a tapdisk binary (minor rolled back)"
# a tapdisk that exits with an error before it is ready
printf '#!/bin/sh\necho "cannot start" >&2\nexit 12\n' >"$T/broken-tapdisk"
chmod +x "$T/broken-tapdisk"
TAPDISK_BIN=$T/broken-tapdisk expect_rc 12 "spawn of a failing tapdisk: its exit code" "$TAPCTL" spawn
expect_match "$(cat "$T/err")" "cannot start" "tapdisk's own message reaches stderr"
# a tapdisk printing something unexpected
printf '#!/bin/sh\necho hello\n' >"$T/chatty-tapdisk"
chmod +x "$T/chatty-tapdisk"
TAPDISK_BIN=$T/chatty-tapdisk expect_rc 71 "spawn with unexpected output: EPROTO" "$TAPCTL" spawn

# free / allocate edge cases
expect_rc 2 "free of a minor never allocated" "$TAPCTL" free -m 7
expect_match "$(cat "$T/err")" "not allocated" "free says why"
chmod 0500 "$TAPDISK_RUN_DIR/tapdisk"
if [ "$(id -u)" -ne 0 ]; then
	expect_rc 13 "allocate in a read-only minors directory" "$TAPCTL" allocate
fi
chmod 0700 "$TAPDISK_RUN_DIR/tapdisk"
TAPDISK_RUN_DIR=$T/file-not-dir
touch "$TAPDISK_RUN_DIR"
TAPDISK_RUN_DIR=$TAPDISK_RUN_DIR expect_rc 20 "allocate when the run dir is a file: ENOTDIR" \
	"$TAPCTL" allocate
TAPDISK_RUN_DIR=$T/run

# -2 (the storage-migration secondary), the real tapdisk behind: a form other than nbd:<name> or
# null is refused with EINVAL and a message on create, open and unpause (create leaves nothing
# behind); nbd:<name> that nobody passed is a failed mirror (nbd_mirror_failed 1), the request
# succeeding as blktap3's; null removes it; -2 with -R is refused
. "$SRC/tests/lib/tapdisk.sh"
tapdisk_env
img=$T/disk.img
truncate -s 8M "$img"
# gone PID: waits (bounded) until tapdisk PID has exited and its control socket is removed
gone() {
	local i
	for ((i = 0; i < 200; i++)); do
		[ ! -e "$TAPDISK_RUN_DIR/ctl$1" ] && ! kill -0 "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}
mirror_failed() {
	"$TAPCTL" stats -p "$pid" -m "$minor" |
		python3 -c "import json,sys; print(json.load(sys.stdin)['nbd_mirror_failed'])"
}
bad_secondaries=("$T/mirror" tcp:host:10809 nbd:)
for sec in "${bad_secondaries[@]}"; do
	expect_rc $EINVAL "create -2 $sec: EINVAL" "$TAPCTL" create -a "aio:$img" -2 "$sec"
	expect_match "$(cat "$T/err")" "nbd:<name> or null" "create -2 $sec: says why"
	[ ! -s "$T/out" ] || fail "create -2 $sec printed $(cat "$T/out")"
	for s in "$TAPDISK_RUN_DIR"/ctl*; do
		[ -e "$s" ] || continue
		gone "${s##*/ctl}" || fail "create -2 $sec: tapdisk ${s##*/ctl} left running"
	done
	no_side_effects "create -2 $sec"
done
expect_rc 0 "spawn" "$TAPCTL" spawn
pid=$(cat "$T/out")
expect_rc 0 "allocate" "$TAPCTL" allocate
minor=$(sed 's/.*tapdisk-//' "$T/out")
expect_rc 0 "attach" "$TAPCTL" attach -p "$pid" -m "$minor"
for sec in "${bad_secondaries[@]}"; do
	expect_rc $EINVAL "open -2 $sec: EINVAL" \
		"$TAPCTL" open -p "$pid" -m "$minor" -a "aio:$img" -2 "$sec"
	expect_match "$(cat "$T/err")" "nbd:<name> or null" "open -2 $sec: says why"
done
expect_rc $EINVAL "open -R -2: EINVAL" \
	"$TAPCTL" open -p "$pid" -m "$minor" -a "aio:$img" -R -2 nbd:mirror_dp_1
expect_match "$(cat "$T/err")" "read-only" "open -R -2: says why"
expect_rc 0 "open -2 nbd:<a name nobody passed>" \
	"$TAPCTL" open -p "$pid" -m "$minor" -a "aio:$img" -2 nbd:mirror_dp_1
expect_eq "$(mirror_failed)" 1 "an unreachable secondary: nbd_mirror_failed 1"
expect_rc 0 "pause" "$TAPCTL" pause -p "$pid" -m "$minor"
for sec in "${bad_secondaries[@]}"; do
	# XAPI's storage migration: unpause -p -m -2 nbd:<dp> -a vhd:<path>
	expect_rc $EINVAL "unpause -2 $sec: EINVAL" \
		"$TAPCTL" unpause -p "$pid" -m "$minor" -2 "$sec" -a "aio:$img"
	expect_match "$(cat "$T/err")" "nbd:<name> or null" "unpause -2 $sec: says why"
done
expect_rc 0 "unpause -2 null" "$TAPCTL" unpause -p "$pid" -m "$minor" -2 null -a "aio:$img"
expect_eq "$(mirror_failed)" 0 "-2 null: no mirror, nbd_mirror_failed 0"
expect_rc 0 "pause" "$TAPCTL" pause -p "$pid" -m "$minor"
expect_rc $EINVAL "an empty -2" "$TAPCTL" unpause -p "$pid" -m "$minor" -2 ""
expect_match "$(cat "$T/err")" "invalid secondary" "an empty -2: says why"
expect_rc 0 "unpause without -2" "$TAPCTL" unpause -p "$pid" -m "$minor" -a "aio:$img"
expect_rc 0 "list: still served" "$TAPCTL" list -p "$pid"
expect_eq "$(cat "$T/out")" "pid=$pid minor=$minor state=0 args=aio:$img" "served, not paused"
expect_rc 0 "destroy" "$TAPCTL" destroy -p "$pid" -m "$minor"
gone "$pid" || fail "tapdisk $pid did not exit after destroy"
check_sanitizers
echo PASS
