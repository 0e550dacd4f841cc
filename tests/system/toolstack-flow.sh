# The real tapdisk driven the way XAPI drives blktap3, on simxen with tapback running: SM's launch
# sequence (tap-ctl list -f, allocate, spawn, attach, open -a aio:), xenopsd's vbd3 nodes, the
# block hotplug step, a guest's blkfront connecting through tapback; guest I/O checked against
# the image bytes; `tap-ctl list` and `stats` parsed by XAPI's rules; the /dev/shm statistics
# rrdp-iostat reads; fio --verify across a pause (image really closed) and an unpause onto a new
# image (the old one untouched); frontend close and reconnect; tapback killed and restarted
# under I/O; domain destroy, then close/detach/free: the tapdisk exits, nothing left behind;
# one VBD under valgrind through the whole flow.
. "$(dirname "$0")/../lib/common.sh"
. "$SRC/tests/lib/tapdisk.sh"
. "$SRC/tests/lib/simxen.sh"

ENGINE=$RINGTAP_BUILD/lib/blkfront.so
need_built "$TAPCTL" "$BIN/tapdisk" "$BIN/tapback" "$TBIN/blkfront-io" "$ENGINE"
command -v fio >/dev/null || fail "fio is not installed (tools/install-deps)"
tapdisk_env

simxen_start
dom=$(simxen_domain_create guest1)
guest() { env $(simxen_guest_env "$dom") "$@"; }
fe_of() { echo "/local/domain/$dom/device/vbd/$1"; }
be_of() { echo "/local/domain/0/backend/vbd3/$dom/$1"; }

start_tapback() {
	"$BIN/tapback" --foreground --debug 2>>"$T/tapback.log" &
	tb=$!
	at_exit "kill $tb 2>/dev/null; wait $tb 2>/dev/null"
}
start_tapback

# XAPI's list parser (SM blktap2.py TapCtl.list): first stdout line per row, split into at most
# 4 fields, state in hex, type aio or vhd (anything else fails the whole call). Prints
# "pid minor state type path" per row.
xapi_list() {
	"$TAPCTL" list "$@" | python3 -c '
import sys
for line in sys.stdin:
    fields = line.rstrip().split(" ", 3)
    row = dict(f.split("=", 1) for f in fields)
    if not all(k in row for k in ("pid", "minor", "state", "args")):
        continue
    typ, path = row["args"].split(":", 1)
    if typ not in ("aio", "vhd"):
        sys.exit("list: type %r" % typ)
    print(int(row["pid"]), int(row["minor"]), int(row["state"], 16), typ, path)'
}
# stats EXPR: a value of `tap-ctl stats` (json.loads of its first line, as SM; `j` in EXPR)
stats() {
	"$TAPCTL" stats -p "$pid" -m "$minor" | head -n 1 |
		python3 -c "import json,sys; j=json.loads(sys.stdin.readline()); print($1)"
}
# td3 FIELD...: fields of /dev/shm/td3-<pid>/vbd-<dom>-<devid> (XAPI.md's layout), one read
td3() {
	python3 - "$T/shm/td3-$pid/vbd-$dom-$devid" "$@" <<'PY'
import struct, sys
names = ("version pad oo_reqs read_reqs_submitted read_reqs_completed read_sectors "
         "read_total_ticks write_reqs_submitted write_reqs_completed write_sectors "
         "write_total_ticks io_errors flags").split()
data = open(sys.argv[1], "rb").read()
assert len(data) == 4096, len(data)
page = dict(zip(names, struct.unpack_from("<II11Q", data)))
print(*(page[f] for f in sys.argv[2:]))
PY
}
image_fds() { ls -l "/proc/$1/fd" 2>/dev/null | grep -c -- "-> $2\$" || true; }
bfio() { guest "$TBIN/blkfront-io" --device "$(fe_of "$devid")" "$@"; }
# fio through the blkfront engine as the guest, with crc32c verification
fio_verify() {
	guest fio --output-format=json --output="$T/fio.json" --name=job \
		--ioengine=external:"$ENGINE" --bf_ring_order=2 --filename="$(fe_of "$devid")" \
		--verify=crc32c --do_verify=1 "$@"
}

# ---- SM's launch sequence, exact command lines --------------------------------------------
head -c 32M /dev/urandom >"$T/disk.img"
expect_rc 0 "tap-ctl list -f: no tapdisk serves the image yet" "$TAPCTL" list -f "$T/disk.img"
expect_eq "$(cat "$T/out")" "" "nothing listed"
expect_rc 0 "tap-ctl allocate" "$TAPCTL" allocate
expect_match "$(head -n 1 "$T/out")" "^$TAPDISK_RUN_DIR/tapdisk/tapdisk-[0-9]+\$" "allocate prints the minor's path"
minor=$(sed 's/.*tapdisk-//' "$T/out")
expect_rc 0 "tap-ctl spawn" "$TAPCTL" spawn
pid=$(head -n 1 "$T/out")
expect_match "$pid" '^[0-9]+$' "spawn prints the pid"
expect_eq "$(cat "/proc/$pid/comm")" tapdisk "the daemon is called tapdisk"
expect_eq "$(tr '\0' ' ' <"/proc/$pid/cmdline")" "tapdisk " "argv is exactly tapdisk"
[ -S "$TAPDISK_RUN_DIR/ctl$pid" ] || fail "no control socket $TAPDISK_RUN_DIR/ctl$pid"
expect_rc 0 "tap-ctl attach" "$TAPCTL" attach -p "$pid" -m "$minor"
expect_rc 11 "tap-ctl free refuses an attached minor (EAGAIN)" "$TAPCTL" free -m "$minor"
expect_rc 0 "tap-ctl open -a aio:" "$TAPCTL" open -p "$pid" -m "$minor" -a "aio:$T/disk.img"
expect_eq "$(xapi_list)" "$pid $minor 0 aio $T/disk.img" "list as XAPI parses it"
expect_eq "$(xapi_list -f "$T/disk.img" | cut -d' ' -f1)" "$pid" "list -f finds the tapdisk"
# a second minor in the same tapdisk: a raw file is no VHD (a clear error), a VHD opens and is
# listed as XAPI expects; detaching it leaves the daemon serving the first
m2=$("$TAPCTL" allocate | sed 's/.*tapdisk-//')
expect_rc 0 "attach a second minor" "$TAPCTL" attach -p "$pid" -m "$m2"
if "$TAPCTL" open -p "$pid" -m "$m2" -a "vhd:$T/disk.img" 2>"$T/err"; then
	fail "open -a vhd: of a raw file succeeded"
fi
expect_match "$(cat "$T/err")" "cannot open vhd:$T/disk.img: [A-Z]" "open -a vhd: of a raw file fails, naming it"
if [ -x "$BIN/vhd-util" ] && "$BIN/vhd-util" create -n "$T/d.vhd" -s 16 >/dev/null 2>&1; then
	if "$TAPCTL" open -p "$pid" -m "$m2" -a "vhd:$T/d.vhd" 2>"$T/err"; then
		expect_eq "$(xapi_list -m "$m2")" "$pid $m2 0 vhd $T/d.vhd" "a VHD is listed as vhd"
		expect_eq "$("$TAPCTL" stats -p "$pid" -m "$m2" | python3 -c "import json,sys; j=json.load(sys.stdin); print(j['images'][0]['driver'])")" \
			"{'type': 4, 'name': 'vhd'}" "stats: blktap3's VHD driver type"
		expect_rc 0 "close the VHD" "$TAPCTL" close -p "$pid" -m "$m2"
	else
		expect_match "$(cat "$T/err")" "no driver for that image type: Operation not supported" \
			"without a VHD driver: a clear EOPNOTSUPP"
	fi
fi
expect_rc 0 "detach the second minor" "$TAPCTL" detach -p "$pid" -m "$m2"
expect_rc 0 "free it" "$TAPCTL" free -m "$m2"

# ---- xenopsd's nodes, the hotplug step, a guest connecting through tapback -------------------
devid=$(simxen_vbd_add "$dom" --devid 51712 --mode w)
be=$(be_of "$devid")
xs_wait "$be/state" 2
# the block script: physical-device-path is the real path of the VBD's NBD socket
[ -S "$TAPDISK_RUN_DIR/nbd$pid.$minor" ] || fail "no NBD socket $TAPDISK_RUN_DIR/nbd$pid.$minor"
xenstore-write "$be/physical-device-path" "$(readlink -f "$TAPDISK_RUN_DIR/nbd$pid.$minor")" \
	"$be/hotplug-status" connected
head -c 192K /dev/urandom >"$T/pattern"
expect_rc 0 "guest writes 192 KiB at 1 MiB and reads 256 KiB back" bfio --order 2 \
	write 1M 192K "$T/pattern" read 960K 256K "$T/back"
expect_eq "$(xenstore-read "$be/kthread-pid")" "$pid" "tapback wrote kthread-pid"
expect_eq "$(xenstore-read "$be/sectors")" $((32 * 2048)) "sectors from the real tapdisk"
python3 - "$T/disk.img" "$T/pattern" "$T/back" <<'PY' || fail "image bytes differ from what the guest wrote or read"
import sys
img = open(sys.argv[1], "rb").read()
pat = open(sys.argv[2], "rb").read()
back = open(sys.argv[3], "rb").read()
assert img[1 << 20 : (1 << 20) + len(pat)] == pat, "the write did not land in the image"
assert back == img[960 << 10 : (960 + 256) << 10], "the read does not match the image"
PY
echo "ok: the guest's write is in the image, its read matches the image"
xs_wait "$be/state" 6 # the frontend closed; tapback followed

# ---- stats as SM reads them; the /dev/shm files while connected ------------------------------
expect_eq "$(stats "j['name']")" "aio:$T/disk.img" "stats name"
expect_eq "$(stats "j['secs'][1]")" 384 "stats secs: 192 KiB written"
expect_eq "$(stats "j['secs'][0]")" 512 "stats secs: 256 KiB read"
expect_eq "$(stats "(j['images'][0]['name'], j['images'][0]['driver']['type'], j['images'][0]['driver']['name'], j['nbd_mirror_failed'], j['reqs_outstanding'], j['FIXME_enospc_redirect_count'])")" \
	"('$T/disk.img', 0, 'aio', 0, 0, 0)" "stats images, driver and blktap3's counters"
"$TAPCTL" stats -p "$pid" -m "$minor" | python3 -m json.tool >/dev/null || fail "stats does not parse with json.tool"
expect_eq "$("$TAPCTL" stats -p "$pid" -m "$minor" | wc -l)" 1 "stats is one line"
[ ! -e "$T/shm/vbd3-$dom-$devid" ] || fail "vbd3 shm directory left after the frontend closed"
echo "ok: shm files removed at disconnect"
# a frontend that stays connected (fio, time based, stopped by SIGTERM once the live files are
# checked: a busy host may take seconds to get here, so no runtime is short enough to rely on)
guest fio --name=idle --ioengine=external:"$ENGINE" --filename="$(fe_of "$devid")" \
	--bf_ring_order=1 --rw=read --bs=4k --rate_iops=50 --time_based --runtime=300 >"$T/fio-idle.log" 2>&1 &
fio_pid=$!
xs_wait "$be/state" 4 60
wait_until 60 "no td3 page $T/shm/td3-$pid/vbd-$dom-$devid while connected" \
	test -f "$T/shm/td3-$pid/vbd-$dom-$devid"
[ -d "$T/shm/vbd3-$dom-$devid" ] || fail "no $T/shm/vbd3-$dom-$devid at ring connect"
[ -f "$T/shm/vbd3-$dom-$devid/statistics" ] || fail "no statistics file"
[ -f "$T/shm/vbd3-$dom-$devid/io_ring" ] || fail "no io_ring file"
expect_match "$(head -n 1 "$T/shm/vbd3-$dom-$devid/io_ring")" '^nr_ents [0-9]+$' "io_ring names the ring size"
expect_eq "$(td3 version)" 1 "td3 page version"
td3_has_read() { [ "$(td3 read_reqs_completed)" -gt 0 ]; }
wait_until 60 "the td3 page counts no read while fio reads" td3_has_read
read -r r rs < <(td3 read_reqs_completed read_sectors)
[ "$r" -gt 0 ] || fail "td3 page counts no read"
expect_eq "$rs" $((r * 8)) "td3 read_sectors: 8 per 4 KiB read"
expect_eq "$(td3 write_reqs_completed)" 0 "td3 page: a fresh ring has no write"
expect_eq "$(stats "j['rings'][0]['domid'], j['rings'][0]['order'], j['xenbus']['devid']")" "$dom 1 $devid" \
	"stats ring and xenbus objects"
expect_eq "$(stats "len(j['rings'][0]['latency']['read']['histogram']) == len(j['rings'][0]['latency']['upper_us']) + 1 and sum(j['rings'][0]['latency']['read']['histogram']) == j['rings'][0]['latency']['read']['count'] > 0")" \
	True "read latency histogram counts every completed read"
expect_eq "$(stats "j['polling']['duration_us'], j['polling']['idle_threshold']")" "8000 50" \
	"xenstore's polling settings reached the VBD"
# fio ends a job stopped by SIGTERM normally (its summary, err= 0) and exits 128
pkill -TERM -P "$fio_pid" || kill -TERM "$fio_pid"
rc=0
wait "$fio_pid" || rc=$?
{ [ "$rc" -eq 0 ] || [ "$rc" -eq 128 ]; } && grep -q 'err= 0' "$T/fio-idle.log" ||
	fail "fio reading at a low rate failed (exit $rc): $(tail "$T/fio-idle.log")"
xs_wait "$be/state" 6

# ---- fio --verify across a pause and an unpause onto a new image -----------------------------
# 1024 writes with a 5 ms think time after each: at least 5 s of writing in which to pause (fio's
# rate_iops catches up in bursts after the host was busy, so it bounds nothing here)
fio_verify --rw=randwrite --bs=4k --iodepth=16 --size=4M --thinktime=5000 --thinktime_blocks=1 \
	>"$T/fio.log" 2>&1 &
fio_pid=$!
fio_writing() {
	n=$(stats "j['rings'][0]['requests']['write'] if j['rings'] else 0" 2>/dev/null || echo 0)
	[ "$n" -gt 50 ]
}
wait_until 60 "fio did not get going" fio_writing
[ "$n" -lt 1024 ] || fail "fio wrote everything before the pause: the pause would test nothing"
expect_rc 0 "tap-ctl pause while fio writes" "$TAPCTL" pause -p "$pid" -m "$minor"
expect_eq "$(xapi_list | cut -d' ' -f3)" 32 "list state: PAUSED (0x20)"
expect_eq "$(image_fds "$pid" "$T/disk.img")" 0 "paused: the image file is closed"
expect_eq "$(stats "j['reqs_outstanding'], j['rings'][0]['inflight']")" "0 0" "paused: nothing in flight"
before=$(stats "j['rings'][0]['requests']['responses']")
cp "$T/disk.img" "$T/snap.img" # the storage manager's work while paused
sum_old=$(md5sum <"$T/disk.img")
sleep 1
expect_eq "$(stats "j['rings'][0]['requests']['responses']")" "$before" "paused: no request answered"
expect_rc 0 "tap-ctl unpause -a a new image" "$TAPCTL" unpause -p "$pid" -m "$minor" -a "aio:$T/snap.img"
expect_eq "$(xapi_list)" "$pid $minor 0 aio $T/snap.img" "list names the new image"
wait "$fio_pid" || fail "fio failed across pause/unpause: $(tail -n 20 "$T/fio.log")"
expect_eq "$(python3 -c "import json; j=json.load(open('$T/fio.json')); print(j['jobs'][0]['error'], j['jobs'][0]['write']['io_bytes'], j['jobs'][0]['read']['io_bytes'])")" \
	"0 4194304 4194304" "fio wrote 4 MiB and verified it across the pause (none lost or doubled)"
expect_eq "$(md5sum <"$T/disk.img")" "$sum_old" "the old image is untouched after unpause"
expect_eq "$(image_fds "$pid" "$T/disk.img") $(image_fds "$pid" "$T/snap.img")" "0 1" \
	"the tapdisk has the new image open, not the old one"
xs_wait "$be/state" 6

# ---- frontend close and reconnect, then tapback killed and restarted under I/O ---------------
expect_rc 0 "a new frontend connection writes" bfio write 0 64K "$T/pattern"
expect_eq "$(head -c 64K "$T/snap.img" | md5sum)" "$(head -c 64K "$T/pattern" | md5sum)" \
	"I/O after unpause lands in the new image"
fio_verify --rw=randwrite --bs=4k --iodepth=8 --size=2M --rate_iops=400 >"$T/fio.log" 2>&1 &
fio_pid=$!
xs_wait "$be/state" 4
kill -9 "$tb"
wait "$tb" 2>/dev/null || true
sleep 0.5
start_tapback
wait "$fio_pid" || fail "fio failed while tapback restarted: $(tail -n 20 "$T/fio.log")"
echo "ok: I/O continued while tapback was killed and restarted"
xs_wait "$be/state" 6

# ---- a second VBD served by a tapdisk under valgrind, through the same flow ------------------
if [ "${RINGTAP_SANITIZE:-}" != 1 ] && command -v valgrind >/dev/null; then
	printf '#!/bin/sh\nexec valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --log-file=%s/vg.%%p %s "$@"\n' \
		"$T" "$BIN/tapdisk" >"$T/vg-tapdisk"
	chmod +x "$T/vg-tapdisk"
	head -c 8M /dev/zero >"$T/vg.img"
	vminor=$("$TAPCTL" allocate | sed 's/.*tapdisk-//')
	vpid=$(TAPDISK_BIN=$T/vg-tapdisk "$TAPCTL" spawn) || fail "spawn under valgrind"
	expect_rc 0 "valgrind: attach" "$TAPCTL" attach -p "$vpid" -m "$vminor"
	expect_rc 0 "valgrind: open" "$TAPCTL" open -p "$vpid" -m "$vminor" -a "aio:$T/vg.img"
	vdev=$(simxen_vbd_add "$dom" --devid 51728)
	xenstore-write "$(be_of "$vdev")/physical-device-path" "$TAPDISK_RUN_DIR/nbd$vpid.$vminor" \
		"$(be_of "$vdev")/hotplug-status" connected
	expect_rc 0 "valgrind: guest I/O" guest "$TBIN/blkfront-io" --device "$(fe_of "$vdev")" \
		--timeout-ms 30000 write 4K 64K "$T/pattern" read 4K 64K "$T/vg-back"
	cmp -s "$T/vg-back" <(head -c 64K "$T/pattern") || fail "valgrind: read back differs"
	"$TAPCTL" stats -p "$vpid" -m "$vminor" | python3 -m json.tool >/dev/null || fail "valgrind: stats"
	expect_rc 0 "valgrind: pause" "$TAPCTL" pause -p "$vpid" -m "$vminor"
	expect_rc 0 "valgrind: unpause" "$TAPCTL" unpause -p "$vpid" -m "$vminor"
	xs_wait "$(be_of "$vdev")/state" 6
	simxen_vbd_remove "$dom" "$vdev"
	expect_rc 0 "valgrind: close" "$TAPCTL" close -p "$vpid" -m "$vminor" -t 120
	expect_rc 0 "valgrind: detach" "$TAPCTL" detach -p "$vpid" -m "$vminor"
	expect_rc 0 "valgrind: free" "$TAPCTL" free -m "$vminor"
	for ((i = 0; i < 300; i++)); do kill -0 "$vpid" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$vpid" 2>/dev/null && fail "the valgrind tapdisk did not exit after detach"
	[ -f "$T/vg.$vpid" ] || fail "no valgrind log for the daemon"
	for f in "$T"/vg.[0-9]*; do
		grep -q "ERROR SUMMARY: 0 errors" "$f" || fail "valgrind: $(cat "$f")"
	done
	echo "ok: the daemon under valgrind: no error, no definite leak"
else
	echo "valgrind flow skipped (sanitizer build or no valgrind)"
fi

# ---- domain destroy under I/O: tapback tears down; the toolstack's close/detach/free ---------
guest fio --name=busy --ioengine=external:"$ENGINE" --filename="$(fe_of "$devid")" \
	--rw=randrw --bs=16k --iodepth=16 --time_based --runtime=30 >"$T/fio-busy.log" 2>&1 &
fio_pid=$!
xs_wait "$be/state" 4
sleep 0.5
simxen_domain_destroy "$dom"
xs_wait_gone "$be"
kill "$fio_pid" 2>/dev/null || true # fio may be gone already: its backend went away
wait "$fio_pid" 2>/dev/null || true
for ((i = 0; i < 100; i++)); do [ "$(stats "len(j['rings'])")" = 0 ] && break; sleep 0.1; done
expect_eq "$(stats "len(j['rings'])")" 0 "tapback disconnected the ring when the domain died"
[ -z "$(ls "$T/shm" | grep vbd3- || true)" ] || fail "vbd3 shm directory left after teardown"
expect_rc 0 "tap-ctl close -t 120" "$TAPCTL" close -p "$pid" -m "$minor" -t 120
expect_rc 0 "tap-ctl detach" "$TAPCTL" detach -p "$pid" -m "$minor"
expect_rc 0 "tap-ctl free" "$TAPCTL" free -m "$minor"
for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "tapdisk $pid still runs after its last detach"
echo "ok: the tapdisk exited by itself"
expect_eq "$(ls -A "$TAPDISK_RUN_DIR" | tr '\n' ' ')" "tapdisk " "run dir: no socket left"
expect_eq "$(ls -A "$TAPDISK_RUN_DIR/tapdisk")" "" "no minor left"
expect_eq "$(ls -A "$T/shm")" "" "shm dir empty"
expect_eq "$("$TAPCTL" list)" "" "tap-ctl list is empty"
grep -qi "ERROR\|AddressSanitizer\|runtime error" "$T/tapback.log" &&
	fail "tapback reported errors: $(grep -i "error" "$T/tapback.log" | head)"
if compgen -G "$T/asan.*" >/dev/null; then
	cat "$T"/asan.* >&2
	fail "sanitizer reports"
fi
simxen_stop
echo "tapdisk log:"
cat "$T/tapdisk.log"
