# Helpers for system tests that run tapdisk daemons (the real one or ctl-fake-tapdisk) through
# tap-ctl. Source after common.sh (which also gives them a private polling budget table).
#   tapdisk_env [BINARY]   a private run directory, /dev/shm stats root and daemon log
#                          ($T/tapdisk.log) in $T, for the tapdisks tap-ctl
#                          spawns (BINARY, default the real tapdisk); the daemons' sanitizer
#                          reports go to $T/asan.*; every tapdisk whose control socket is in the
#                          run directory is killed at exit
#   check_sanitizers       fails the test if a daemon wrote a sanitizer report
#   tapback_start          runs tapback (foreground, debug) logging to $T/tapback.log, its pid in
#                          $tb, stopped at exit; under $TAPBACK_PREFIX if set (a command that
#                          execs its arguments)
#   tapdisk_open IMAGE [OPEN-OPTIONS...]
#                          tap-ctl allocate, spawn, attach and open TYPE:PATH IMAGE (with
#                          tap-ctl open's OPEN-OPTIONS, e.g. -R): a served minor, its number in
#                          $minor and its tapdisk's pid in $pid
#   tapdisk_vbd DOMID      a writable guest VBD (devid 51712) on minor $minor of tapdisk $pid (as
#                          tapdisk_open sets them):
#                          adds it, waits for tapback's InitWait and plays the hotplug script
#                          (physical-device-path, hotplug-status); sets $devid, $be and $fe
#   exited PID             true once PID has exited (a zombie counts: a daemonized tapdisk's
#                          parent is not the test's to reap)
TAPCTL=$BIN/tap-ctl

tapdisk_env() {
	export TAPDISK_BIN=${1:-$BIN/tapdisk}
	[ -x "$TAPCTL" ] || fail "tap-ctl is not built"
	[ -x "$TAPDISK_BIN" ] || fail "$TAPDISK_BIN is not built"
	export TAPDISK_RUN_DIR=$T/run TAPDISK_SHM_DIR=$T/shm TAPDISK_LOG_FILE=$T/tapdisk.log
	mkdir -p "$TAPDISK_SHM_DIR"
	# daemons have no stderr: sanitizer reports (SANITIZE=1) go to files
	export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=$T/asan
	export UBSAN_OPTIONS=${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}log_path=$T/asan
	at_exit _tapdisk_kill_ours
}

_tapdisk_kill_ours() {
	local s
	for s in "$TAPDISK_RUN_DIR"/ctl*; do
		[ -S "$s" ] && kill -9 "${s##*/ctl}" 2>/dev/null
	done
	return 0
}

check_sanitizers() {
	if compgen -G "$T/asan.*" >/dev/null; then
		cat "$T"/asan.* >&2
		fail "sanitizer reports"
	fi
}

tapback_start() {
	${TAPBACK_PREFIX:-} "$BIN/tapback" --foreground --debug 2>>"$T/tapback.log" &
	tb=$!
	at_exit "kill $tb 2>/dev/null; wait $tb 2>/dev/null"
}

tapdisk_open() {
	minor=$("$TAPCTL" allocate | sed 's/.*tapdisk-//')
	pid=$("$TAPCTL" spawn)
	"$TAPCTL" attach -p "$pid" -m "$minor" || fail "tap-ctl attach"
	"$TAPCTL" open -p "$pid" -m "$minor" -a "$1" "${@:2}" || fail "tap-ctl open"
}

tapdisk_vbd() {
	devid=$(simxen_vbd_add "$1" --devid 51712 --mode w)
	be=/local/domain/0/backend/vbd3/$1/$devid
	fe=/local/domain/$1/device/vbd/$devid
	xs_wait "$be/state" 2
	xenstore-write "$be/physical-device-path" "$(readlink -f "$TAPDISK_RUN_DIR/nbd$pid.$minor")" \
		"$be/hotplug-status" connected
}

exited() {
	! kill -0 "$1" 2>/dev/null || [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" = Z ]
}
