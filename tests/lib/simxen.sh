# simxen helpers for system tests: a simulated Xen host per test. Source after common.sh:
#   . "$(dirname "$0")/../lib/common.sh"
#   . "$(dirname "$0")/../lib/simxen.sh"
#
#   simxen_start [DIR]          starts a simxen host in DIR (default $T/simxen: the guests'
#                               memory is a file there, so DIR's file system is theirs) and
#                               exports its environment in the calling shell (SIMXEN_DIR,
#                               XENSTORED_PATH, and LD_LIBRARY_PATH with simxen's
#                               libxengnttab/libxenevtchn first); `simxen stop` runs at exit
#                               (at_exit), after the cleanups registered later (so stop the
#                               processes you start with at_exit)
#   simxen_stop                 stops the host now; fails if its xenstored reported a sanitizer
#                               error or leak (call it at the end of a test to catch those)
#   simxen_domain_create NAME   creates a guest domain; echoes its domid
#   simxen_domain_destroy ID    destroys it: nodes removed, grants revoked, @releaseDomain fired
#   simxen_guest_env DOMID      prints the environment of a process running in that domain:
#                               "SIMXEN_DOMID=N XENSTORED_PATH=$SIMXEN_DIR/xenstored.dN.sock", e.g.
#                               env $(simxen_guest_env "$dom") "$TBIN/my-frontend" ...
#                               (its xenstore connection is then domain N, unprivileged)
#   simxen_vbd_add DOMID [OPTS] writes a vbd3 VBD's frontend and backend nodes as xenopsd does
#                               (OPTS: --devid N --mode r|w --params P --dev NAME
#                               --physical-device-path P); echoes the devid (default 51712)
#   simxen_vbd_remove DOMID DEVID
#   xs_wait PATH VALUE [SECONDS]    waits until PATH reads VALUE (default 20 s), else fails
#   xs_wait_gone PATH [SECONDS]     waits until PATH does not exist, else fails
# xenstore-read, -write, -ls, -rm, -chmod, -watch (Debian's xenstore-utils) work directly once
# simxen_start has run; prefix them with `env $(simxen_guest_env N)` to act as domain N.

SIMXEN=$BIN/simxen

simxen_start() {
	local out dir=${1:-$T/simxen}
	[ -x "$SIMXEN" ] || fail "$SIMXEN is not built"
	command -v xenstore-read >/dev/null || fail "xenstore-utils is not installed (tools/install-deps)"
	out=$("$SIMXEN" start --dir "$dir") || fail "simxen start failed ($(tail -n 5 "$dir/xenstored.log" 2>/dev/null))"
	eval "$out" # exports SIMXEN_DIR: the host's directory from now on
	at_exit "\"$SIMXEN\" stop --dir \"$dir\""
}

simxen_stop() {
	"$SIMXEN" stop --dir "$SIMXEN_DIR" || fail "simxen stop failed (or xenstored reported errors)"
}

simxen_domain_create() {
	"$SIMXEN" domain create "$1" || fail "simxen domain create $1 failed"
}

simxen_domain_destroy() {
	"$SIMXEN" domain destroy "$1" || fail "simxen domain destroy $1 failed"
}

simxen_guest_env() {
	echo "SIMXEN_DOMID=$1 XENSTORED_PATH=$SIMXEN_DIR/xenstored.d$1.sock"
}

simxen_vbd_add() {
	"$SIMXEN" vbd add "$@" || fail "simxen vbd add $* failed"
}

simxen_vbd_remove() {
	"$SIMXEN" vbd remove "$@" || fail "simxen vbd remove $* failed"
}

xs_wait() {
	local path=$1 want=$2 secs=${3:-20} got="" i
	for ((i = 0; i < secs * 10; i++)); do
		got=$(xenstore-read "$path" 2>/dev/null) || got="<missing>"
		[ "$got" = "$want" ] && return 0
		sleep 0.1
	done
	fail "$path is '$got' after ${secs}s, expected '$want'"
}

xs_wait_gone() {
	local path=$1 secs=${2:-20} i
	for ((i = 0; i < secs * 10; i++)); do
		xenstore-exists "$path" 2>/dev/null || return 0
		sleep 0.1
	done
	fail "$path still exists after ${secs}s"
}
