# tapdisk's log as an operator reads it: every line of its log file has the time, the pid, the
# level and, for a minor, the minor; debug messages (the image chain, the control commands)
# appear at debug and not at info; the level is set at spawn (tap-ctl spawn -l, or
# TAPDISK_LOG_LEVEL) and changed while tapdisk runs (tap-ctl log-level); under systemd
# ($JOURNAL_STREAM naming stderr) every line carries its "<N>" priority; tap-ctl prints the
# daemon's reason for an image it cannot open (a VHD's bad footer cookie) after the errno text,
# with the exit code and stdout unchanged; a guest's ring logs its negotiated features and its
# totals at debug.
. "$(dirname "$0")/../lib/common.sh"
. "$SRC/tests/lib/tapdisk.sh"
. "$SRC/tests/lib/simxen.sh"

need_built "$TAPCTL" "$BIN/tapdisk" "$BIN/tapback" "$TBIN/blkfront-reopen"
tapdisk_env
simxen_start # before the tapdisks: they serve the simulated host's grants
LOG=$T/tapdisk.log
truncate -s 16M "$T/disk.img"
head -c 1048576 /dev/zero >"$T/bad.vhd" # no VHD footer anywhere

# lines PID: the log lines of tapdisk PID
lines() { grep -F " tapdisk[$1] " "$LOG" || true; }

# ---- a tapdisk spawned at the default level (info) --------------------------------------------
tapdisk_open "aio:$T/disk.img"
info_pid=$pid info_minor=$minor
expect_rc 0 "log-level shows the level" "$TAPCTL" log-level -p "$pid"
expect_eq "$(cat "$T/out")" info "the default level is info"
wait_until 10 "tapdisk logged its open" grep -q "tapdisk\[$pid\] info: minor $minor: opened" "$LOG"
# every line: ISO 8601 time with its offset, the pid, a level; the minor's lines name it
while IFS= read -r l; do
	[[ $l =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}[+-][0-9]{2}:[0-9]{2}\ tapdisk\[$pid\]\ (err|warning|notice|info|debug):\  ]] ||
		fail "a log line without time, pid and level: '$l'"
done < <(lines "$pid")
echo "ok: $(lines "$pid" | wc -l) lines of tapdisk $pid with time, pid and level"
expect_match "$(lines "$pid")" "info: minor $minor: attached" "the minor's lines name it"
if lines "$pid" | grep -q " debug: "; then
	fail "debug messages at level info: $(lines "$pid" | grep ' debug: ' | head -3)"
fi
echo "ok: no debug message at level info"

# ---- the daemon's reason reaches tap-ctl --------------------------------------------------------
expect_rc 0 "close the raw image" "$TAPCTL" close -p "$pid" -m "$minor"
expect_rc 22 "open of a file that is no VHD fails with EINVAL" \
	"$TAPCTL" open -p "$pid" -m "$minor" -a "vhd:$T/bad.vhd"
err=$(cat "$T/err")
expect_match "$err" "^tap-ctl open: tapdisk $pid minor $minor: cannot open vhd:$T/bad.vhd: Invalid argument: " \
	"stderr keeps its format up to the errno text"
expect_match "$err" 'bad footer cookie \(not "conectix"\)' "stderr ends with the daemon's reason"
expect_eq "$(cat "$T/out")" "" "nothing on stdout"
expect_match "$(lines "$pid")" "err: minor $minor: cannot open vhd:$T/bad.vhd: Invalid argument" \
	"the failure is logged for the minor"

# ---- runtime level change through tap-ctl ---------------------------------------------------------
expect_rc 0 "log-level -l debug" "$TAPCTL" log-level -p "$pid" -l debug
expect_eq "$(cat "$T/out")" debug "log-level prints the new level"
expect_rc 22 "an unknown level is refused" "$TAPCTL" log-level -p "$pid" -l chatty
expect_rc 0 "open at debug" "$TAPCTL" open -p "$pid" -m "$minor" -a "aio:$T/disk.img"
wait_until 10 "the image chain logged at debug" \
	grep -q "tapdisk\[$pid\] debug: minor $minor: image chain 0: aio:$T/disk.img (read-write" "$LOG"
echo "ok: the image chain at debug"
expect_match "$(lines "$pid")" "debug: control: open from pid [0-9]+: done" \
	"control commands and their results at debug"
expect_match "$(lines "$pid")" "notice: log level info -> debug" "the change is logged"
expect_rc 0 "back to info" "$TAPCTL" log-level -p "$pid" -l info
n=$(lines "$pid" | grep -c " debug: " || true)
expect_rc 0 "close at info" "$TAPCTL" close -p "$pid" -m "$minor"
expect_rc 0 "open at info" "$TAPCTL" open -p "$pid" -m "$minor" -a "aio:$T/disk.img"
wait_until 10 "the reopen logged" test "$(lines "$pid" | grep -c "info: minor $minor: opened")" -ge 2
expect_eq "$(lines "$pid" | grep -c " debug: " || true)" "$n" "no more debug messages once back at info"

# ---- the level at spawn -----------------------------------------------------------------------
expect_rc 22 "spawn -l with an unknown level" "$TAPCTL" spawn -l chatty
pid2=$("$TAPCTL" spawn -l debug)
expect_rc 0 "log-level of a tapdisk spawned with -l debug" "$TAPCTL" log-level -p "$pid2"
expect_eq "$(cat "$T/out")" debug "spawn -l debug"
expect_rc 0 "list it" "$TAPCTL" list -p "$pid2"
wait_until 10 "the spawned tapdisk logs debug" grep -q "tapdisk\[$pid2\] debug: control: list" "$LOG"
echo "ok: debug messages of a tapdisk spawned at debug"
pid3=$(TAPDISK_LOG_LEVEL=warning "$TAPCTL" spawn)
expect_rc 0 "log-level of a tapdisk spawned with TAPDISK_LOG_LEVEL" "$TAPCTL" log-level -p "$pid3"
expect_eq "$(cat "$T/out")" warning "TAPDISK_LOG_LEVEL=warning"
expect_eq "$(lines "$pid3")" "" "nothing below warning logged"
if TAPDISK_LOG_LEVEL=chatty "$TAPCTL" spawn >"$T/out" 2>"$T/err"; then
	fail "spawn with TAPDISK_LOG_LEVEL=chatty succeeded"
fi
expect_match "$(cat "$T/err")" "TAPDISK_LOG_LEVEL=chatty" "a bad TAPDISK_LOG_LEVEL is named"
expect_rc 22 "tapback --log-level with an unknown level" "$BIN/tapback" --log-level chatty
expect_match "$(cat "$T/err")" "--log-level wants err, warning, notice, info or debug" \
	"tapback names the levels"
kill -TERM "$pid2" "$pid3"
wait_until 20 "the spawned tapdisks exit" eval "exited $pid2 && exited $pid3"

# ---- journald's priority prefixes ----------------------------------------------------------------
# systemd gives a service JOURNAL_STREAM=<dev>:<inode> of its stderr: a file stands in for it
fg_run() { # fg_run NAME JOURNAL_STREAM_VALUE: a foreground tapdisk, stderr in $T/NAME.err
	: >"$T/$1.err"
	JOURNAL_STREAM=$2 "$BIN/tapdisk" --foreground --debug >"$T/$1.out" 2>>"$T/$1.err" &
	fg=$!
	wait_until 10 "tapdisk --foreground ($1) prints its socket" test -s "$T/$1.out"
	expect_rc 0 "log-level ($1)" "$TAPCTL" log-level -p "$fg" -l debug
	kill -TERM "$fg"
	wait "$fg" || fail "tapdisk --foreground ($1) exited $?"
}
touch "$T/journal.err"
fg_run journal "$(stat -c '%d:%i' "$T/journal.err")"
grep -q "^<6>serving $TAPDISK_RUN_DIR/ctl" "$T/journal.err" ||
	fail "no <6> (info) line in the journal: $(head -3 "$T/journal.err")"
grep -q "^<7>control: log-level from pid" "$T/journal.err" ||
	fail "no <7> (debug) line in the journal: $(head -3 "$T/journal.err")"
echo "ok: <6> and <7> prefixes in the journal"
if grep -v '^<[0-7]>' "$T/journal.err" | grep -q .; then
	fail "journal lines without a priority: $(grep -v '^<[0-7]>' "$T/journal.err" | head -3)"
fi
echo "ok: every journal line has its priority"
# JOURNAL_STREAM inherited but naming another file: stderr is no journal, a plain log file
fg_run other "$(stat -c '%d:%i' "$T/journal.err")"
expect_match "$(grep -m1 'serving' "$T/other.err")" "^[0-9]{4}-[0-9]{2}-[0-9]{2}T.* tapdisk\[[0-9]+\] info: serving" \
	"stderr that is not the journal stream gets full lines"

# ---- a guest's ring at debug: its features on connect, its totals on disconnect ------------------
dom=$(simxen_domain_create guest1)
tapback_start
expect_rc 0 "debug for the ring" "$TAPCTL" log-level -p "$info_pid" -l debug
devid=$(simxen_vbd_add "$dom" --devid 51712 --mode w)
be=/local/domain/0/backend/vbd3/$dom/$devid
xs_wait "$be/state" 2
xenstore-write "$be/physical-device-path" "$(readlink -f "$TAPDISK_RUN_DIR/nbd$info_pid.$info_minor")" \
	"$be/hotplug-status" connected
env $(simxen_guest_env "$dom") "$TBIN/blkfront-reopen" --device "/local/domain/$dom/device/vbd/$devid" \
	--count 1 --base 1 >"$T/out" 2>&1 || fail "blkfront-reopen: $(cat "$T/out"); tapback: $(tail -5 "$T/tapback.log"); tapdisk: $(tail -5 "$LOG")"
wait_until 20 "the ring's disconnect logged" grep -q "debug: vbd $dom/$devid: ring disconnected: " "$LOG"
expect_match "$(lines "$info_pid")" \
	"debug: vbd $dom/$devid: ring: [0-9]+ page\(s\), [0-9]+ slots, protocol [a-z0-9_-]+, event channel [0-9]+ \(local [0-9]+\), [0-9]+ segments per request \(indirect [0-9]+\), persistent grants (on|off) \(cache [0-9]+ pages\), [0-9]+ bounce pages, discard (yes|no)" \
	"the ring's negotiated features at debug"
expect_match "$(lines "$info_pid")" "debug: vbd $dom/$devid: ring disconnected: [1-9][0-9]* requests \([0-9]+ reads, [1-9][0-9]* writes" \
	"the ring's totals at debug"
expect_match "$(lines "$info_pid")" "info: vbd $dom/$devid: connected: " "the connect at info names the VBD"
wait_until 10 "tapback logs the disconnect" grep -q "$be: disconnected from tapdisk $info_pid minor $info_minor" "$T/tapback.log"
echo "ok: tapback logged the disconnect"
# adaptive polling at debug: a summary of its episodes at most every 10 s (a guest reading with
# short gaps for about 15 s on a quiet host)
env $(simxen_guest_env "$dom") "$TBIN/poll-gaps" --device "/local/domain/$dom/device/vbd/$devid" \
	--count 30000 --gap-min-us 0 --gap-max-us 1000 >"$T/gaps.out" 2>&1 || fail "poll-gaps: $(tail -3 "$T/gaps.out")"
n=$(lines "$info_pid" | grep -c "debug: vbd $dom/$devid: polling over " || true)
[ "$n" -ge 1 ] || fail "no polling summary at debug: $(lines "$info_pid" | tail -5)"
expect_match "$(lines "$info_pid" | grep "polling over " | head -1)" \
	"polling over [0-9]+ ms: [0-9]+ episodes, [0-9]+ requests found by polling \([0-9]+ consumed\), [0-9]+ windows expired, [0-9]+ guarded, [0-9]+ arrived by event, [0-9]+ refused by the payoff judge \((on|off) now, [0-9]+ probes: [0-9]+ kept on, [0-9]+ off\); [0-9]+ us polled, [0-9]+ us CPU, [0-9]+ us of it waiting for the image; window now [0-9]+ ns" \
	"a polling summary"
first=$(lines "$info_pid" | grep -m1 "vbd $dom/$devid: connected: " | cut -d' ' -f1)
last=$(lines "$info_pid" | grep "vbd $dom/$devid: ring disconnected: " | tail -1 | cut -d' ' -f1)
secs=$(($(date -d "$last" +%s) - $(date -d "$first" +%s)))
echo "ok: $n polling summaries over the guest's $secs s"
[ "$n" -le $((secs / 10 + 1)) ] || fail "$n polling summaries in $secs s: more than one per 10 s"
expect_rc 0 "pause" "$TAPCTL" pause -p "$info_pid" -m "$info_minor"
expect_rc 0 "unpause" "$TAPCTL" unpause -p "$info_pid" -m "$info_minor"
l=$(lines "$info_pid")
expect_match "$l" "debug: minor $info_minor: pause requested by pid [0-9]+" "who paused, at debug"
expect_match "$l" "info: minor $info_minor: paused, image closed \(drained in [0-9]+ ms\)" "the pause"
expect_match "$l" "info: minor $info_minor: resumed on aio:$T/disk.img" "the unpause"
expect_match "$l" "debug: minor $info_minor: image chain 0: aio:$T/disk.img" "the chain reopened"

expect_rc 0 "close" "$TAPCTL" close -p "$info_pid" -m "$info_minor"
expect_rc 0 "detach" "$TAPCTL" detach -p "$info_pid" -m "$info_minor"
expect_rc 0 "free" "$TAPCTL" free -m "$info_minor"
wait_until 20 "tapdisk $info_pid exits after its last detach" exited "$info_pid"
check_sanitizers
