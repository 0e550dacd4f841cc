# Helpers for the nbd: driver's system tests: real NBD servers the tests start and stop. Source
# after common.sh.
#   nbdkit_start NAME ARGS...   nbdkit in the foreground (--exit-with-parent) on the unix socket
#       $T/NAME.sock with the log filter (requests in $T/NAME.log) and ARGS (a plugin and its
#       parameters); waits for its pid file ($T/NAME.pid); killed at exit
#   nbdkit_kill NAME            SIGKILL, waiting for it to be gone
#   qemu_nbd_start NAME ARGS... qemu-nbd forked (ready when it returns), pid in $T/NAME.pid
#   free_port                   a free TCP port on 127.0.0.1
#   nbd_drv_stat PID MINOR KEY  the nbd driver's counter KEY in `tap-ctl stats`
nbdkit_start() {
	local name=$1
	shift
	rm -f "$T/$name.pid"
	nbdkit -f --exit-with-parent -U "$T/$name.sock" -P "$T/$name.pid" --filter=log "$@" \
		logfile="$T/$name.log" 2>>"$T/$name.err" &
	at_exit "kill $! 2>/dev/null"
	wait_until 30 "nbdkit $name starts" test -s "$T/$name.pid"
}

nbdkit_kill() {
	local p
	p=$(cat "$T/$1.pid")
	kill -9 "$p"
	wait_until 30 "nbdkit $1 exits" exited "$p"
	rm -f "$T/$1.pid" "$T/$1.sock"
}

qemu_nbd_start() {
	local name=$1
	shift
	qemu-nbd --fork --pid-file="$T/$name.pid" "$@" || fail "qemu-nbd $*"
	at_exit "kill \$(cat $T/$name.pid) 2>/dev/null"
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

nbd_drv_stat() {
	"$TAPCTL" stats -p "$1" -m "$2" |
		python3 -c "import json,sys; j=json.load(sys.stdin); print(j['images'][0]['driver_stats']['$3'])"
}
