# The real tapdisk's control semantics beyond the XAPI flow (toolstack-flow.sh): create/destroy,
# refusals (detach while open, close while a ring is connected, unpause when not paused),
# unpause onto a missing image leaving the VBD paused, read-only, polling settings, a forced
# close under I/O, and SIGTERM of a foreground tapdisk under I/O (drains, removes its files).
. "$(dirname "$0")/../lib/common.sh"
. "$SRC/tests/lib/tapdisk.sh"
. "$SRC/tests/lib/simxen.sh"

ENGINE=$RINGTAP_BUILD/lib/blkfront.so
need_built "$TAPCTL" "$BIN/tapdisk" "$BIN/tapback" "$ENGINE"
tapdisk_env
head -c 16M /dev/zero >"$T/a.img"
head -c 8M /dev/zero >"$T/b.img"
state() { "$TAPCTL" list -p "$1" | sed -n 's/.*state=\([0-9a-fx]*\).*/\1/p'; }
stat_of() { "$TAPCTL" stats -p "$1" -m "$2" | python3 -c "import json,sys; j=json.load(sys.stdin); print($3)"; }

# ---- create, refusals, pause/unpause errors, read-only, polling -----------------------------
expect_rc 0 "tap-ctl create -R" "$TAPCTL" create -a "aio:$T/a.img" -R
minor=$(sed 's/.*tapdisk-//' "$T/out")
pid=$("$TAPCTL" list -m "$minor" | sed 's/pid=\([0-9]*\).*/\1/')
expect_eq "$(stat_of "$pid" "$minor" "j['readonly']")" True "open -R: read-only"
expect_rc 16 "detach while open: EBUSY" "$TAPCTL" detach -p "$pid" -m "$minor"
expect_rc 22 "unpause when not paused: EINVAL" "$TAPCTL" unpause -p "$pid" -m "$minor"
expect_rc 0 "pause" "$TAPCTL" pause -p "$pid" -m "$minor"
expect_rc 0 "pause again: already paused" "$TAPCTL" pause -p "$pid" -m "$minor"
expect_rc 2 "unpause onto a missing image: ENOENT" "$TAPCTL" unpause -p "$pid" -m "$minor" -a "aio:$T/missing.img"
expect_eq "$(state "$pid")" 0x20 "still paused after a failed unpause"
expect_match "$("$TAPCTL" list -p "$pid")" "args=aio:$T/a.img" "still naming the old image"
expect_rc 0 "unpause onto another image" "$TAPCTL" unpause -p "$pid" -m "$minor" -a "aio:$T/b.img"
expect_eq "$(state "$pid")" 0 "running"
expect_rc 0 "poll set" "$TAPCTL" poll -p "$pid" -m "$minor" -P fixed -d 500 -i 30 -w 128 -g 4 -s 8
expect_eq "$(stat_of "$pid" "$minor" "(j['polling']['policy'], j['polling']['duration_us'], j['polling']['idle_threshold'], j['polling']['max_window_us'], j['polling']['grow'], j['polling']['shrink'])")" \
	"('fixed', 500, 30, 128, 4, 8)" "polling settings stored"
expect_rc 22 "poll: grow 1 is refused" "$TAPCTL" poll -p "$pid" -m "$minor" -g 1
expect_eq "$(stat_of "$pid" "$minor" "j['polling']['grow']")" 4 "nothing changed by a refused setting"
expect_rc 0 "poll get" "$TAPCTL" poll -p "$pid" -m "$minor"
expect_rc 0 "tap-ctl destroy" "$TAPCTL" destroy -p "$pid" -m "$minor"
for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "tapdisk still runs after destroy"
echo "ok: destroy: the tapdisk exited"

# ---- a ring: close refused, forced close under I/O --------------------------------------------
simxen_start
dom=$(simxen_domain_create guest)
"$BIN/tapback" --foreground 2>>"$T/tapback.log" &
at_exit "kill $! 2>/dev/null"
# plug DEVID PID MINOR: xenopsd's nodes and the hotplug step
plug() {
	local be=/local/domain/0/backend/vbd3/$dom/$1
	simxen_vbd_add "$dom" --devid "$1" >/dev/null
	xenstore-write "$be/physical-device-path" "$TAPDISK_RUN_DIR/nbd$2.$3" "$be/hotplug-status" connected
}
busy_fio() {
	env $(simxen_guest_env "$dom") fio --name=busy --ioengine=external:"$ENGINE" \
		--filename="/local/domain/$dom/device/vbd/$1" --rw=randwrite --bs=64k --iodepth=16 \
		--time_based --runtime=20 >"$T/fio.$1.log" 2>&1 &
}
"$TAPCTL" create -a "aio:$T/a.img" >"$T/out" || fail "create"
minor=$(sed 's/.*tapdisk-//' "$T/out")
pid=$("$TAPCTL" list -m "$minor" | sed 's/pid=\([0-9]*\).*/\1/')
plug 1 "$pid" "$minor"
busy_fio 1
fio1=$!
xs_wait "/local/domain/0/backend/vbd3/$dom/1/state" 4
sleep 0.5
expect_rc 16 "close while the ring is connected: EBUSY (after -t 1 of retries)" "$TAPCTL" close -p "$pid" -m "$minor" -t 1
expect_rc 0 "close -f under I/O: the ring is disconnected first" "$TAPCTL" close -p "$pid" -m "$minor" -f
expect_eq "$(state "$pid")" 0x2 "closed"
[ -z "$(ls "$T/shm" | grep vbd3- || true)" ] || fail "shm files left after the forced close"
kill -9 "$fio1" 2>/dev/null || true # its requests on the ring are never answered (it may have failed already)
wait "$fio1" 2>/dev/null || true
expect_rc 0 "detach" "$TAPCTL" detach -p "$pid" -m "$minor"
expect_rc 0 "free" "$TAPCTL" free -m "$minor"

# ---- SIGTERM to a foreground tapdisk under I/O ----------------------------------------------
minor=$("$TAPCTL" allocate | sed 's/.*tapdisk-//')
"$BIN/tapdisk" --foreground >"$T/fg.out" 2>"$T/fg.err" &
fg=$!
for ((i = 0; i < 50; i++)); do [ -s "$T/fg.out" ] && break; sleep 0.1; done
expect_eq "$(cat "$T/fg.out")" "$TAPDISK_RUN_DIR/ctl$fg" "--foreground prints its socket"
expect_rc 0 "attach to the foreground tapdisk" "$TAPCTL" attach -p "$fg" -m "$minor"
expect_rc 0 "open" "$TAPCTL" open -p "$fg" -m "$minor" -a "aio:$T/b.img"
plug 2 "$fg" "$minor"
busy_fio 2
fio2=$!
xs_wait "/local/domain/0/backend/vbd3/$dom/2/state" 4
sleep 0.5
[ -d "$T/shm/vbd3-$dom-2" ] || fail "no shm files for the connected ring"
kill -TERM "$fg"
rc=0
wait "$fg" || rc=$?
expect_eq "$rc" 0 "SIGTERM: the tapdisk drained and exited 0"
grep -q "SIGTERM: draining" "$T/fg.err" || fail "no drain logged: $(cat "$T/fg.err")"
[ ! -e "$TAPDISK_RUN_DIR/ctl$fg" ] || fail "socket left after SIGTERM"
expect_eq "$(ls -A "$T/shm")" "" "shm files removed at exit"
kill -9 "$fio2" 2>/dev/null || true # it may have failed already: its backend went away
wait "$fio2" 2>/dev/null || true
expect_rc 0 "its minor can be freed" "$TAPCTL" free -m "$minor"
if compgen -G "$T/asan.*" >/dev/null; then
	cat "$T"/asan.* >&2
	fail "sanitizer reports"
fi
