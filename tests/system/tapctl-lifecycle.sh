# tap-ctl's whole command set end to end against ctl-fake-tapdisk (the control protocol over real
# sockets, spawned and daemonized as tapdisk is): list as XAPI parses it, allocate/free, spawn,
# attach/open/pause/unpause/close/detach, stats as JSON, poll, create/destroy with rollback, and
# the daemon exiting after its last VBD is detached.
. "$(dirname "$0")/../lib/common.sh"
. "$SRC/tests/lib/tapdisk.sh"

[ -x "$TAPCTL" ] || fail "tap-ctl not built"
[ -x "$TBIN/ctl-fake-tapdisk" ] || fail "ctl-fake-tapdisk not built"
tapdisk_env "$TBIN/ctl-fake-tapdisk"

# gone PID: waits up to 10 s for the process to exit
gone() {
	local i
	for i in $(seq 100); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.1
	done
	return 1
}

# XAPI's storage manager parser (SM blktap2.py TapCtl.list): first split(' ', 3), k=v fields,
# pid/minor decimal, state hex, args split at the first ':', type aio|vhd else the call fails;
# rows lacking a field are skipped. Prints "pid minor state type path" per row.
xapi_list() {
	"$TAPCTL" list "$@" | python3 -c '
import sys
for line in sys.stdin:
    row = {}
    for field in line.rstrip().split(" ", 3):
        key, val = field.split("=", 1)
        if key in ("pid", "minor"):
            row[key] = int(val, 10)
        elif key == "state":
            row[key] = int(val, 0x10)
        else:
            row[key] = val
    if not all(k in row for k in ("pid", "minor", "state", "args")):
        continue
    typ, path = row["args"].split(":", 1)
    if typ not in ("aio", "vhd"):
        sys.exit("unknown type " + typ)
    print(row["pid"], row["minor"], row["state"], typ, path)
'
}

img="$T/disk image.raw" # a space: list's last field must keep it
truncate -s 64M "$img"
vhd=$T/snap.vhd
truncate -s 32M "$vhd"

# ---- the toolstack's flow, step by step (XAPI: allocate, spawn, attach, open) ----------------
expect_rc 0 "list with nothing running" "$TAPCTL" list
expect_eq "$(cat "$T/out")" "" "empty list prints nothing"
expect_rc 0 "allocate" "$TAPCTL" allocate
expect_eq "$(cat "$T/out")" "$TAPDISK_RUN_DIR/tapdisk/tapdisk-0" "allocate prints the minor's path"
[[ $(cat "$T/out") =~ /tapdisk/tapdisk-([0-9]+)$ ]] || fail "XAPI's allocate regex"
expect_rc 0 "second allocate" "$TAPCTL" allocate
expect_eq "$(cat "$T/out")" "$TAPDISK_RUN_DIR/tapdisk/tapdisk-1" "next minor"
expect_rc 0 "free minor 1" "$TAPCTL" free -m 1
[ ! -e "$TAPDISK_RUN_DIR/tapdisk/tapdisk-1" ] || fail "free left the marker"

expect_rc 0 "spawn" "$TAPCTL" spawn
pid=$(cat "$T/out")
expect_match "$pid" '^[0-9]+$' "spawn prints the pid alone (not a tty)"
[ -S "$TAPDISK_RUN_DIR/ctl$pid" ] || fail "no control socket ctl$pid"
kill -0 "$pid" || fail "spawned tapdisk $pid not running"
expect_eq "$(tr '\0' ' ' </proc/"$pid"/cmdline)" "tapdisk " "argv[0] is exactly tapdisk"
[ "$(ps -o sid= -p "$pid")" != "$(ps -o sid= -p $$)" ] || fail "tapdisk did not start a session"
echo "ok: tapdisk daemonized (own session)"
expect_rc 0 "list shows the idle tapdisk alone" "$TAPCTL" list
expect_eq "$(cat "$T/out")" "pid=$pid
minor=0" "idle tapdisk and orphan minor, as blktap3"

expect_rc 0 "attach" "$TAPCTL" attach -p "$pid" -m 0
expect_rc 0 "list after attach" "$TAPCTL" list -p "$pid"
expect_eq "$(cat "$T/out")" "pid=$pid minor=0 state=0x2" "attached, nothing open: no args"
expect_rc 11 "free refuses a minor a tapdisk holds (EAGAIN)" "$TAPCTL" free -m 0
expect_match "$(cat "$T/err")" "in use" "free says why"

expect_rc 0 "open raw (alias) read-only, all XAPI flags" \
	"$TAPCTL" open -p "$pid" -m 0 -a "raw:$img" -R -r -D -t 30 -C "$T/cbt.log" -e 5 \
	-2 "$T/mirror" -s
expect_eq "$(xapi_list)" "$pid 0 0 aio $img" "XAPI parses list: aio (raw printed as aio), path with a space"
expect_rc 0 "list with a tty-less filter -t raw" "$TAPCTL" list -t raw
expect_eq "$(wc -l <"$T/out")" "1" "type filter (raw = aio)"
expect_rc 0 "list -t vhd" "$TAPCTL" list -t vhd
expect_eq "$(cat "$T/out")" "" "type filter excludes"
expect_rc 0 "list -f path" "$TAPCTL" list -f "$img"
expect_eq "$(wc -l <"$T/out")" "1" "file filter"
expect_rc 0 "list -m 3" "$TAPCTL" list -m 3
expect_eq "$(cat "$T/out")" "" "minor filter excludes"

expect_rc 0 "stats" "$TAPCTL" stats -p "$pid" -m 0
expect_eq "$(wc -l <"$T/out")" "1" "stats is one line"
python3 -m json.tool <"$T/out" >/dev/null || fail "stats is not valid JSON: $(cat "$T/out")"
echo "ok: stats parses with python3 -m json.tool"
python3 - "$T/out" "$img" "$T/cbt.log" "$T/mirror" <<'PY' || fail "stats content"
import json, sys
s = json.loads(open(sys.argv[1]).readline())
assert s["name"] == "aio:" + sys.argv[2], s["name"]
assert s["secs"] == [0, 0] and s["reqs_outstanding"] == 0 and s["nbd_mirror_failed"] == 0
img = s["images"][0]
assert img["driver"] == {"type": 0, "name": "aio"} and img["hits"] == [0, 0]
f = s["fake"]
# every flag reached the daemon: RDONLY|LCACHE|REUSE_PARENT|SECONDARY|STANDBY|NO_O_DIRECT|ADD_LOG
assert f["open_flags"] == 0x7f, f["open_flags"]
assert f["read_only"] and f["timeout"] == 30 and f["parent_minor"] == 5
assert f["cbt_log"] == sys.argv[3] and f["secondary"] == sys.argv[4]
PY
echo "ok: stats carries XAPI's keys and every open flag reached the daemon"

# ---- pause / unpause with a new image (SM's snapshot flow) ---------------------------------
expect_rc 0 "pause (a deferred reply)" "$TAPCTL" pause -p "$pid" -m 0
expect_eq "$(xapi_list | cut -d' ' -f3)" "32" "state PAUSED (0x20)"
expect_rc 0 "raw list line for pause" "$TAPCTL" list
expect_match "$(cat "$T/out")" "state=0x20 " "state printed as %#x"
expect_rc 0 "unpause with a new type:path" "$TAPCTL" unpause -p "$pid" -m 0 -a "vhd:$vhd" -c "$T/cbt2"
expect_eq "$(xapi_list)" "$pid 0 0 vhd $vhd" "unpause reopened the new image"
expect_rc 22 "unpause when not paused" "$TAPCTL" unpause -p "$pid" -m 0
expect_match "$(cat "$T/err")" "not paused" "the daemon's reason reaches stderr"

# ---- polling settings -------------------------------------------------------------------------
expect_rc 0 "poll shows the settings" "$TAPCTL" poll -p "$pid" -m 0
expect_eq "$(cat "$T/out")" "policy=adaptive duration=8000 idle-threshold=50 max-window=200 grow=2 shrink=2" "default polling"
expect_rc 0 "poll sets" "$TAPCTL" poll -p "$pid" -m 0 -P fixed -d 1000 -i 80 -w 500 -g 4 -s 8
expect_rc 0 "poll shows again" "$TAPCTL" poll -p "$pid" -m 0
expect_eq "$(cat "$T/out")" "policy=fixed duration=1000 idle-threshold=80 max-window=500 grow=4 shrink=8" "polling changed"
expect_rc 22 "poll rejects idle > 100" "$TAPCTL" poll -p "$pid" -m 0 -i 101
expect_rc 22 "poll rejects an unknown policy" "$TAPCTL" poll -p "$pid" -m 0 -P turbo

# ---- close, detach, free: the tapdisk exits with its last VBD --------------------------------
expect_rc 16 "detach refuses an open VBD (EBUSY)" "$TAPCTL" detach -p "$pid" -m 0
expect_rc 0 "close" "$TAPCTL" close -p "$pid" -m 0 -t 120
expect_rc 0 "detach" "$TAPCTL" detach -p "$pid" -m 0
gone "$pid" || fail "tapdisk $pid still running after its last detach"
echo "ok: tapdisk exited after its last VBD was detached"
[ ! -e "$TAPDISK_RUN_DIR/ctl$pid" ] || fail "control socket left behind"
expect_rc 0 "free after detach" "$TAPCTL" free -m 0
expect_rc 2 "free again: ENOENT" "$TAPCTL" free -m 0

# ---- create / destroy ---------------------------------------------------------------------------
expect_rc 0 "create" "$TAPCTL" create -a "vhd:$vhd" -R -d ignored -t 60
expect_eq "$(cat "$T/out")" "$TAPDISK_RUN_DIR/tapdisk/tapdisk-0" "create prints the minor's path"
read -r cpid cminor cstate ctype cpath <<<"$(xapi_list)"
expect_eq "$cminor $cstate $ctype $cpath" "0 0 vhd $vhd" "created VBD listed"
expect_rc 0 "destroy" "$TAPCTL" destroy -p "$cpid" -m 0
gone "$cpid" || fail "tapdisk $cpid still running after destroy"
[ -z "$(ls "$TAPDISK_RUN_DIR/tapdisk")" ] || fail "destroy left minors: $(ls "$TAPDISK_RUN_DIR/tapdisk")"
echo "ok: destroy freed the minor and the tapdisk exited"

# create rolls back when open fails in the daemon (a directory: EISDIR)
mkdir "$T/adir"
expect_rc 21 "create with an image the daemon refuses" "$TAPCTL" create -a "aio:$T/adir"
expect_match "$(cat "$T/err")" "is a directory" "daemon's message"
[ -z "$(ls "$TAPDISK_RUN_DIR/tapdisk")" ] || fail "rollback left minors"
for s in "$TAPDISK_RUN_DIR"/ctl*; do
	[ -e "$s" ] || continue
	gone "${s##*/ctl}" || fail "rollback left tapdisk ${s##*/ctl} running"
done
echo "ok: create rolled back (minor freed, tapdisk gone)"

# a missing image fails before anything is done
expect_rc 2 "create with a missing image: ENOENT" "$TAPCTL" create -a "vhd:$T/nope.vhd"
expect_match "$(cat "$T/err")" "No such file or directory" "strerror on stderr"
[ -z "$(ls "$TAPDISK_RUN_DIR/tapdisk")" ] || fail "side effect: a minor"
expect_eq "$(ls "$TAPDISK_RUN_DIR" | grep -c '^ctl' || true)" "0" "side effect: no tapdisk"

# two tapdisks at once, list joins them
expect_rc 0 "create A" "$TAPCTL" create -a "aio:$img"
expect_rc 0 "create B" "$TAPCTL" create -a "vhd:$vhd"
expect_eq "$(xapi_list | awk '{print $2, $4}' | sort | tr '\n' ' ')" "0 aio 1 vhd " "two tapdisks listed"
while read -r p m _; do
	expect_rc 0 "destroy $p/$m" "$TAPCTL" destroy -p "$p" -m "$m"
	gone "$p" || fail "tapdisk $p still running"
done < <(xapi_list)
[ -z "$(ls "$TAPDISK_RUN_DIR/tapdisk")" ] || fail "minors left"
check_sanitizers
echo "PASS"
