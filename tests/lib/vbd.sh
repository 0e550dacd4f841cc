# A minimal blkif backend handshake in shell (what tapback will do), for datapath tests: writes
# a VBD's backend nodes in simxen's xenstore, waits for the frontend, starts td-serve on the ring
# it published, and says Connected. Sourced after tests/lib/common.sh, in dom0's environment
# (the simxen variables exported, as simxen_start leaves them).
#
#   vbd_attach DOMID DEVID TYPE:PATH [--readonly] [--max-indirect N] [--max-order O]
#              [--no-persistent] [--no-discard] [--valgrind] [--serve "TD-SERVE OPTIONS"]
#       Writes the backend nodes and state 2 now; the rest runs in the background: wait for the
#       frontend's state 3, read ring-ref(N)/ring-page-order/event-channel/protocol/
#       feature-persistent, start td-serve, write sectors/sector-size/info/... and state 4.
#       The backend directory must exist (simxen vbd add). Registered with at_exit.
#       --serve passes more options to td-serve (split on spaces), e.g. "--poll off"; so does
#       $VBD_SERVE_ARGS (benchmarks); $VBD_SERVE_PREFIX runs it under a command that execs it.
#   vbd_wait_connected DOMID DEVID   waits until td-serve is serving (backend state 4)
#   vbd_detach DOMID DEVID          SIGTERM to td-serve, waits; its exit code is returned
#   (td-serve also stops, with backend state 6, when the frontend closes: one VBD per connection)
#   vbd_stat DOMID DEVID KEY        a counter from td-serve's final stats (after vbd_detach)
#   vbd_pid DOMID DEVID             td-serve's pid (empty until started)
#   VBD_DIR_<dom>_<dev>: $T/vbd.DOMID.DEVID holds td-serve's stdout/stderr, pid, exit code.

vbd_dir() { echo "$T/vbd.$1.$2"; }
vbd_be() { echo "/local/domain/0/backend/vbd3/$1/$2"; }
vbd_fe() { echo "/local/domain/$1/device/vbd/$2"; }

# _vbd_wait_node PATH VALUE SECONDS: until xenstore PATH reads VALUE
_vbd_wait_node() {
	local path=$1 want=$2 i
	for ((i = 0; i < $3 * 20; i++)); do
		[ "$(xenstore-read "$path" 2>/dev/null)" = "$want" ] && return 0
		sleep 0.05
	done
	return 1
}

_vbd_backend() {
	local dom=$1 dev=$2 image=$3 d be fe order n refs="" r i port proto persistent args
	shift 3
	args=("$@")
	d=$(vbd_dir "$dom" "$dev")
	be=$(vbd_be "$dom" "$dev")
	fe=$(vbd_fe "$dom" "$dev")
	_vbd_wait_node "$fe/state" 3 30 || {
		echo "vbd: frontend $fe never reached state 3" >&2
		return 1
	}
	order=$(xenstore-read "$fe/ring-page-order" 2>/dev/null || echo 0)
	if [ "$order" -gt 0 ]; then
		n=$((1 << order))
		for ((i = 0; i < n; i++)); do
			r=$(xenstore-read "$fe/ring-ref$i") || return 1
			refs+=${refs:+,}$r
		done
	else
		refs=$(xenstore-read "$fe/ring-ref") || return 1
	fi
	port=$(xenstore-read "$fe/event-channel") || return 1
	proto=$(xenstore-read "$fe/protocol" 2>/dev/null || true)
	persistent=$(xenstore-read "$fe/feature-persistent" 2>/dev/null || echo 0)
	[ "$(xenstore-read "$be/feature-persistent" 2>/dev/null)" = 1 ] || persistent=0
	args+=(--image "$image" --domid "$dom" --devid "$dev" --ring-ref "$refs" --order "$order"
		--port "$port" --ready "$d/ready")
	[ -n "$proto" ] && args+=(--protocol "$proto")
	[ "$persistent" = 1 ] && args+=(--persistent)
	echo "vbd: td-serve ${args[*]}"
	if [ -n "${VBD_VALGRIND:-}" ]; then
		valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
			--log-file="$d/valgrind.log" "$TBIN/td-serve" "${args[@]}" \
			>"$d/stdout" 2>"$d/stderr" &
	else
		# VBD_SERVE_PREFIX: a command that execs its arguments (benchmarks: "taskset -c 0")
		${VBD_SERVE_PREFIX:-} "$TBIN/td-serve" "${args[@]}" >"$d/stdout" 2>"$d/stderr" &
	fi
	echo $! >"$d/pid"
	local pid=$!
	for ((i = 0; i < 600; i++)); do
		[ -f "$d/ready" ] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	if [ ! -f "$d/ready" ]; then
		echo "vbd: td-serve did not connect" >&2
		wait "$pid"
		echo $? >"$d/rc"
		return 1
	fi
	local kv=()
	while IFS='=' read -r k v; do
		[ "$k" = feature-discard ] && [ -f "$d/no-discard" ] && v=0
		kv+=("$be/$k" "$v")
	done <"$d/ready"
	xenstore-write "${kv[@]}" "$be/state" 4
	# Connected until the frontend closes (Closing/Closed) or td-serve is stopped.
	local st rc=0
	while kill -0 "$pid" 2>/dev/null; do
		st=$(xenstore-read "$fe/state" 2>/dev/null || echo 6)
		if [ "$st" = 5 ] || [ "$st" = 6 ]; then
			kill -TERM "$pid" 2>/dev/null || true # it may be gone already (set -e)
			break
		fi
		sleep 0.3 # a fork per look: keep it off benchmarks' CPUs
	done
	wait "$pid" || rc=$?
	echo "$rc" >"$d/rc"
	xenstore-write "$be/state" 6 2>/dev/null || true
}

vbd_attach() {
	local dom=$1 dev=$2 image=$3 d be maxind=256 order=4 persistent=1 discard=1
	local serve=()
	shift 3
	while [ $# -gt 0 ]; do
		case $1 in
		--readonly) serve+=(--readonly) ;;
		--max-indirect) maxind=$2; shift ;;
		--max-order) order=$2; shift ;;
		--no-persistent) persistent=0 ;;
		--no-discard) discard=0 ;;
		--valgrind) export VBD_VALGRIND=1 ;;
		--serve) read -r -a _more <<<"$2"; serve+=("${_more[@]}"); shift ;;
		*) fail "vbd_attach: unknown option $1" ;;
		esac
		shift
	done
	serve+=(--max-indirect "$maxind")
	if [ -n "${VBD_SERVE_ARGS:-}" ]; then
		read -r -a _more <<<"$VBD_SERVE_ARGS"
		serve+=("${_more[@]}")
	fi
	d=$(vbd_dir "$dom" "$dev")
	be=$(vbd_be "$dom" "$dev")
	rm -rf "$d"
	mkdir -p "$d"
	[ "$discard" = 1 ] || touch "$d/no-discard"
	local nodes=("$be/feature-flush-cache" 1 "$be/feature-barrier" 1
		"$be/feature-persistent" "$persistent" "$be/max-ring-page-order" "$order")
	[ "$maxind" -gt 0 ] && nodes+=("$be/feature-max-indirect-segments" "$maxind")
	[ "$discard" = 1 ] && nodes+=("$be/feature-discard" 1)
	xenstore-write "${nodes[@]}" "$be/state" 2 || fail "vbd_attach: cannot write $be"
	_vbd_backend "$dom" "$dev" "$image" "${serve[@]}" >"$d/handshake.log" 2>&1 &
	echo $! >"$d/handshake.pid"
	at_exit "vbd_detach $dom $dev >/dev/null 2>&1"
}

vbd_pid() { cat "$(vbd_dir "$1" "$2")/pid" 2>/dev/null || true; }

vbd_wait_connected() {
	_vbd_wait_node "$(vbd_be "$1" "$2")/state" 4 30 ||
		fail "vbd $1/$2 never connected: $(cat "$(vbd_dir "$1" "$2")"/{handshake.log,stderr} 2>/dev/null | tail -5)"
}

vbd_detach() {
	local d pid hs i
	d=$(vbd_dir "$1" "$2")
	pid=$(vbd_pid "$1" "$2")
	hs=$(cat "$d/handshake.pid" 2>/dev/null || true)
	[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 400; i++)); do
		[ -f "$d/rc" ] && break
		[ -n "$hs" ] && ! kill -0 "$hs" 2>/dev/null && break
		sleep 0.05
	done
	if [ ! -f "$d/rc" ]; then
		[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null || true
		[ -n "$hs" ] && kill "$hs" 2>/dev/null || true
		return 1
	fi
	[ -z "$hs" ] || wait "$hs" 2>/dev/null || true
	return "$(cat "$d/rc")"
}

vbd_stat() {
	local line
	line=$(grep '^stats:' "$(vbd_dir "$1" "$2")/stdout" 2>/dev/null) || return 1
	[[ " $line " =~ \ $3=([0-9]+)\  ]] || return 1
	echo "${BASH_REMATCH[1]}"
}
