# Helpers for the vhd driver's system tests: a guest whose backend dies by SIGKILL instead of
# closing cleanly (what a crash leaves: nothing written at close). Source after common.sh,
# simxen.sh and vbd.sh, once simxen_start has run.
#
#   guest_then_kill DOMID DEVID TYPE:PATH CMD...
#       serves TYPE:PATH with td-serve, runs blkfront-io CMD... as the guest (ring order 2),
#       and once the guest has finished (every write acknowledged) and starts closing, kills
#       td-serve with SIGKILL. Fails if the guest did.
#   guest_kill_midway DOMID DEVID TYPE:PATH SECONDS CMD...
#       the same, but kills td-serve SECONDS after the guest connected, whatever it is doing;
#       the guest's failure is expected (its output: $T/guest.out, $T/guest.err).
#   Both remove the device's xenstore nodes at the end, as a toolstack does once a device is
#   detached: the guest owns its frontend's nodes, and a soak of thousands of devices would
#   otherwise reach the guest's xenstore quota (1000 nodes, as xenstored's default).
#   served_ok DOMID DEVID also removes them (the device is done).
# td-serve runs as the child of a shell that ignores SIGTERM: the backend helper of
# tests/lib/vbd.sh, which stops td-serve when the guest closes, signals that shell only, so it
# cannot make td-serve close the image cleanly before the SIGKILL.

_vs_start() {
	local dom=$1 dev=$2 image=$3
	printf '#!/bin/sh\ntrap "" TERM\n"$@" &\necho $! >"$VS_PIDFILE"\nwait $!\n' >"$T/holdterm"
	chmod +x "$T/holdterm"
	simxen_vbd_add "$dom" --devid "$dev" >/dev/null
	rm -f "$T/serve.$dev.pid"
	VBD_SERVE_PREFIX=$T/holdterm VS_PIDFILE=$T/serve.$dev.pid vbd_attach "$dom" "$dev" "$image"
	at_exit "kill -KILL \$(cat $T/serve.$dev.pid 2>/dev/null) 2>/dev/null"
}

_vs_kill() {
	local dom=$1 dev=$2 pid
	pid=$(cat "$T/serve.$dev.pid" 2>/dev/null || true)
	[ -n "$pid" ] || fail "td-serve never started: $(tail -3 "$(vbd_dir "$dom" "$dev")/handshake.log")"
	kill -KILL "$pid" 2>/dev/null || fail "td-serve had already exited: $(tail -3 "$(vbd_dir "$dom" "$dev")/stderr")"
	vbd_detach "$dom" "$dev" >/dev/null 2>&1 || true
}

guest_then_kill() {
	local dom=$1 dev=$2 image=$3 gpid rc=0
	shift 3
	_vs_start "$dom" "$dev" "$image"
	env $(simxen_guest_env "$dom") "$TBIN/blkfront-io" --device "$(vbd_fe "$dom" "$dev")" \
		--order 2 "$@" >"$T/guest.out" 2>"$T/guest.err" &
	gpid=$!
	xs_wait "$(vbd_fe "$dom" "$dev")/state" 5 60
	_vs_kill "$dom" "$dev"
	wait "$gpid" || rc=$?
	[ "$rc" -eq 0 ] || fail "guest failed ($rc): $(tail -3 "$T/guest.err")"
	simxen_vbd_remove "$dom" "$dev"
}

guest_kill_midway() {
	local dom=$1 dev=$2 image=$3 secs=$4 gpid
	shift 4
	_vs_start "$dom" "$dev" "$image"
	# the guest is killed right after td-serve, so its timeout only has to outlast a busy host's
	# handshake: a short one let the guest give up and withdraw its ring before td-serve mapped it
	env $(simxen_guest_env "$dom") "$TBIN/blkfront-io" --device "$(vbd_fe "$dom" "$dev")" \
		--order 2 --timeout-ms 60000 "$@" >"$T/guest.out" 2>"$T/guest.err" &
	gpid=$!
	vbd_wait_connected "$dom" "$dev"
	sleep "$secs"
	_vs_kill "$dom" "$dev"
	kill "$gpid" 2>/dev/null || true
	wait "$gpid" 2>/dev/null || true
	simxen_vbd_remove "$dom" "$dev"
}

#   served_ok DOMID DEVID
#       stops td-serve (if the guest's close has not already) and fails unless it exited 0;
#       waits for the exit code itself (the closer of bf_attach may be reading it too); then
#       removes the device's xenstore nodes.
served_ok() {
	local d rc="" i
	d=$(vbd_dir "$1" "$2")
	vbd_detach "$1" "$2" >/dev/null 2>&1 || true
	for ((i = 0; i < 300; i++)); do
		rc=$(cat "$d/rc" 2>/dev/null || true)
		[ -n "$rc" ] && break
		sleep 0.1
	done
	[ "$rc" = 0 ] || fail "td-serve exit '${rc:-none}': $(tail -3 "$d/stderr")"
	simxen_vbd_remove "$1" "$2"
}
