# XAPI's storage flows replayed on simxen with XAPI's exact command lines, their output parsed by
# XAPI's rules (tests/lib/xapi.py mirrors SM's blktap2.py and vhdutil.py): attach as SM and
# xenopsd do it, with the block hotplug step and tapback, then guest I/O; a snapshot and a
# coalesce under a live leaf (pause, vhd-util, unpause); `tap-ctl stats` and rrdp-iostat's
# /dev/shm files; classic and hard unplug; detach, after which nothing is left behind.
# The guest is one blkfront-io process kept connected through the whole flow: its write data
# and read results go through FIFOs, so the test decides when each of its I/Os happens.
# Built up as the pieces land; what still waits is marked below (nothing is faked meanwhile).
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/simxen.sh"

for b in tap-ctl tapdisk tapback vhd-util; do [ -x "$BIN/$b" ] || fail "$b not built"; done
[ -x "$TBIN/blkfront-io" ] || fail "blkfront-io not built"
[ -x "$TBIN/vhd-io" ] || fail "vhd-io not built"
export TAPDISK_RUN_DIR=$T/run TAPDISK_SHM_DIR=$T/shm TAPDISK_BIN=$BIN/tapdisk
export TAPDISK_LOG_FILE=$T/tapdisk.log
export XAPI_TAP_CTL=$BIN/tap-ctl XAPI_VHD_UTIL=$BIN/vhd-util XAPI_LOG=$T/xapi.log
# daemons have no stderr: sanitizer reports (SANITIZE=1) go to files, checked at the end
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=$T/asan
export UBSAN_OPTIONS=${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}log_path=$T/asan
mkdir -p "$TAPDISK_SHM_DIR" "$T/sr"
xapi() { python3 "$SRC/tests/lib/xapi.py" "$@"; }
sr=8e0a1d3c-0c6f-4a8e-9d52-6c1f3b5e7a01

# every tapdisk this test started has its socket in our private run directory
kill_ours() {
	local s
	for s in "$TAPDISK_RUN_DIR"/ctl*; do
		[ -S "$s" ] && kill "${s##*/ctl}" 2>/dev/null
	done
	return 0
}
at_exit kill_ours
# on failure, what the daemons said (their logs are in $T, removed at exit)
passed=0
dump_logs() {
	[ "$passed" = 1 ] && return 0
	local f
	for f in "$T/tapdisk.log" "$T/tapback.log" "$T"/g*.err; do
		[ -s "$f" ] && { echo "--- $f"; tail -n 25 "$f"; }
	done >&2
	return 0
}
at_exit dump_logs

# gone PID: waits until the process has exited. This sandbox's pid 1 reaps orphans late, so a
# zombie (state Z in /proc/PID/stat) counts as gone; kill -0 would still succeed on it.
gone() {
	local i st
	for ((i = 0; i < 200; i++)); do
		st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || st=""
		[ -z "$st" ] || [ "$st" = Z ] && return 0
		sleep 0.1
	done
	return 1
}

# The guest: blkfront-io as domain $dom on one VBD, in the background. Commands reading or
# writing a FIFO wait for the test: feed FIFO FILE gives a write its data, drain FIFO FILE
# collects a read (and so waits until everything before it has completed).
guest_start() {
	local name=$1 dom=$2 fe=$3
	shift 3
	env $(simxen_guest_env "$dom") "$TBIN/blkfront-io" --device "$fe" --order 2 \
		--timeout-ms 60000 "$@" >"$T/$name.out" 2>"$T/$name.err" &
	echo $! >"$T/$name.pid"
	at_exit "kill $! 2>/dev/null"
}
guest_wait() {
	local rc=0
	wait "$(cat "$T/$1.pid")" || rc=$?
	[ "$rc" -eq 0 ] || fail "guest $1 exited $rc: $(cat "$T/$1.err")"
}
feed() { timeout 60 dd if="$2" of="$1" bs=1M status=none || fail "the guest never took $1"; }
drain() { timeout 60 cat "$1" >"$2" || fail "the guest never wrote $1"; }
fifos() { local f; for f; do mkfifo "$T/$f"; done; }

# vhd_bytes IMAGE OFF LEN: the guest's view of a VHD chain offline (vhd-io reads the chain)
vhd_bytes() { "$TBIN/vhd-io" read "$1" "$(numfmt --from=iec "$2")" "$(numfmt --from=iec "$3")"; }
same() { cmp -s "$1" "$2" || fail "$3: bytes differ"; echo "ok: $3"; }
zeros() { head -c "$1" /dev/zero; }

# iostat_get DOMID DEVID PID KEY: one counter of rrdp-iostat's td3 page
iostat_get() { xapi iostat "$1" "$2" "$3" | sed -n "s/^$4=//p"; }
# iostat_wait DOMID DEVID PID KEY VALUE: the page is refreshed when tapdisk goes idle
iostat_wait() {
	local i v
	for ((i = 0; i < 100; i++)); do
		v=$(iostat_get "$1" "$2" "$3" "$4")
		[ "$v" = "$5" ] && { echo "ok: iostat $4 = $5"; return 0; }
		sleep 0.1
	done
	fail "iostat $4 is '$v', expected $5"
}
# be_closed BACKEND: xenopsd's wait for the backend's Closed (6); tapback then removes the
# directory of a device the toolstack set offline (the hotplug cleanup's job with blkback)
be_closed() {
	local i st
	for ((i = 0; i < 200; i++)); do
		st=$(xenstore-read "$1/state" 2>/dev/null) || st=removed
		[ "$st" = 6 ] || [ "$st" = removed ] && { echo "ok: $1 closed ($st)"; return 0; }
		sleep 0.1
	done
	fail "$1 is in state $st, not Closed"
}
stats_get() { xapi stats "$1" "$2" | python3 -c "import json,sys; s=json.load(sys.stdin); print($3)"; }

# ---- 1. the XAPI-side parsers against canned output -------------------------------------------
xapi selftest

simxen_start
dom=$(simxen_domain_create vm1)
"$BIN/tapback" --foreground --debug --pidfile "$T/tapback.pid" 2>>"$T/tapback.log" &
tb=$!
at_exit "kill $tb 2>/dev/null; wait $tb 2>/dev/null"
head -c 1M /dev/urandom >"$T/A"
head -c 1M /dev/urandom >"$T/B"
head -c 1M /dev/urandom >"$T/C"
head -c 1M /dev/urandom >"$T/D"

# ---- 2. a raw VDI: SM's activate, list, stats, pause and unpause as SM checks them -------------
vdi2=7e8f9a0b-1c2d-4e3f-8a4b-5c6d7e8f9a0b
raw=$T/sr/$vdi2.raw
truncate -s 16M "$raw"
: >"$XAPI_LOG"
read -r pid2 minor2 < <(xapi launch aio "$raw") || fail "SM's activate of a raw VDI failed"
expect_eq "$(cat "$XAPI_LOG")" "$BIN/tap-ctl list -f $raw
$BIN/tap-ctl allocate
$BIN/tap-ctl list -f $raw
$BIN/tap-ctl spawn
$BIN/tap-ctl attach -p $pid2 -m $minor2
$BIN/tap-ctl open -p $pid2 -m $minor2 -a aio:$raw
$BIN/tap-ctl list -m $minor2" "SM's command lines for activate"
expect_eq "$(tr '\0' ' ' <"/proc/$pid2/cmdline" | cut -d' ' -f1)" tapdisk "argv[0] is tapdisk"
[ -S "$TAPDISK_RUN_DIR/ctl$pid2" ] || fail "no control socket $TAPDISK_RUN_DIR/ctl$pid2"
[ -f "$TAPDISK_RUN_DIR/tapdisk/tapdisk-$minor2" ] || fail "minor $minor2 not allocated"
expect_eq "$(xapi list -f "$raw")" "$pid2 $minor2 0x0 aio $raw" "Tapdisk.find_by_path"
expect_eq "$(xapi launch aio "$raw")" "$pid2 $minor2" "a second activate finds the running tapdisk"
expect_eq "$(stats_get "$pid2" "$minor2" "s['name'], [i['name'] for i in s['images']], s['secs']")" \
	"aio:$raw ['$raw'] [0, 0]" "tap-ctl stats before any I/O"
xapi pause "$pid2" "$minor2" # checks the list says running, then PAUSED (0x20)
expect_eq "$(xapi list -m "$minor2")" "$pid2 $minor2 0x20 aio $raw" "Tapdisk.list while paused"
xapi unpause "$pid2" "$minor2" aio "$raw" # checks paused, then running on that image
# open options SM passes in some configurations: -D (o_direct off), -r (local cache) and -e
# (share a parent) change no data and are accepted; -2/-s (mirror) and -C (changed block
# tracking) are refused with EOPNOTSUPP, never ignored
tc=$BIN/tap-ctl
expect_rc 0 "close -t 120" "$tc" close -p "$pid2" -m "$minor2" -t 120
expect_eq "$(xapi list -m "$minor2")" "" "a closed VBD has no args: SM skips its row"
expect_rc 0 "open -D -r -e" "$tc" open -p "$pid2" -m "$minor2" -a "aio:$raw" -D -r -e "$minor2"
expect_rc 0 "close" "$tc" close -p "$pid2" -m "$minor2" -t 120
for opt in "-2 $T/sr/mirror" -s "-C $T/sr/cbt"; do
	expect_rc 95 "open $opt refused" "$tc" open -p "$pid2" -m "$minor2" -a "aio:$raw" $opt
done
expect_rc 0 "open again" "$tc" open -p "$pid2" -m "$minor2" -a "aio:$raw"
expect_eq "$(xapi list -m "$minor2")" "$pid2 $minor2 0x0 aio $raw" "Tapdisk.list after reopening"

# ---- waiting for the NBD export's hookup in tapdisk (src/ctl_handlers.c → src/nbd_export.c) --
# The block hotplug step writes physical-device-path from the real path of the VBD's NBD socket,
# and tapback finds the tapdisk from it: the VM's side of the flow (xenopsd's nodes, tapback,
# guest I/O, rrdp-iostat's files, a write waiting through a pause, classic and hard unplug, and
# the VHD flows: snapshot and coalesce under a live leaf) is added when that lands.

# SM's deactivate
: >"$XAPI_LOG"
xapi shutdown "$pid2" "$minor2"
expect_eq "$(cat "$XAPI_LOG")" "$BIN/tap-ctl close -p $pid2 -m $minor2 -t 120
$BIN/tap-ctl detach -p $pid2 -m $minor2
$BIN/tap-ctl free -m $minor2" "SM's command lines for deactivate"
gone "$pid2" || fail "tapdisk $pid2 still running after its last detach"
echo "ok: tapdisk exited after its last detach"
expect_eq "$(xapi list)" "" "Tapdisk.list is empty"

# ---- 3. nothing left behind ------------------------------------------------------------------
expect_eq "$(ls -A "$TAPDISK_RUN_DIR/tapdisk")" "" "every minor freed"
expect_eq "$(cd "$TAPDISK_RUN_DIR" && ls -A | grep -v '^tapdisk$' || true)" "" "no socket left in the run dir"
expect_eq "$(ls -A "$TAPDISK_SHM_DIR")" "" "nothing left in the /dev/shm stats dir"
kill -0 "$tb" || fail "tapback died"
if grep -q "ERROR\|AddressSanitizer\|runtime error" "$T/tapback.log"; then
	fail "tapback reported errors: $(cat "$T/tapback.log")"
fi
if compgen -G "$T/asan.*" >/dev/null; then
	cat "$T"/asan.* >&2
	fail "sanitizer reports"
fi
simxen_stop
passed=1
