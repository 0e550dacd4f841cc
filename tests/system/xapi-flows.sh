# XAPI's storage flows replayed on simxen with XAPI's exact command lines, their output parsed by
# XAPI's rules (tests/lib/xapi.py mirrors SM's blktap2.py and vhdutil.py): attach as SM and
# xenopsd do it, with the block hotplug step and tapback, then guest I/O; a snapshot and a
# coalesce under a live leaf (pause, vhd-util, unpause); `tap-ctl stats` and rrdp-iostat's
# /dev/shm files; classic and hard unplug; detach, after which nothing is left behind.
# The guest is one blkfront-io process kept connected through the whole flow: its write data
# and read results go through FIFOs, so the test decides when each of its I/Os happens.
. "$(dirname "$0")/../lib/common.sh"
. "$SRC/tests/lib/tapdisk.sh"
. "$(dirname "$0")/../lib/simxen.sh"

for b in tap-ctl tapdisk tapback vhd-util; do [ -x "$BIN/$b" ] || fail "$b not built"; done
[ -x "$TBIN/blkfront-io" ] || fail "blkfront-io not built"
[ -x "$TBIN/vhd-io" ] || fail "vhd-io not built"
tapdisk_env
export XAPI_TAP_CTL=$BIN/tap-ctl XAPI_VHD_UTIL=$BIN/vhd-util XAPI_LOG=$T/xapi.log
mkdir -p "$T/sr"
xapi() { python3 "$SRC/tests/lib/xapi.py" "$@"; }
sr=8e0a1d3c-0c6f-4a8e-9d52-6c1f3b5e7a01

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
# an activate that fails (the VDI's file is missing): tap-ctl's exit code is the errno SM reports,
# and SM's rollback (detach, SIGTERM, free) leaves no minor and no tapdisk
: >"$XAPI_LOG"
expect_rc 2 "activate of a missing VHD fails with ENOENT" xapi launch vhd "$T/sr/missing.vhd"
expect_match "$(cat "$T/err")" "status=2, errmsg=tap-ctl open: .*No such file or directory" "SM's failure text"
bad_pid=$(sed -n 's/.*tap-ctl attach -p \([0-9]*\) .*/\1/p' "$XAPI_LOG")
expect_eq "$(sed 's/ -[pm] [0-9]*//g; s|^.*/tap-ctl ||' "$XAPI_LOG" | cut -d' ' -f1 | tr '\n' ' ')" \
	"list allocate list spawn attach open detach free " "SM's rollback: detach and free"
[ -n "$bad_pid" ] && gone "$bad_pid" || fail "the tapdisk of the failed activate is still running"
expect_eq "$(ls -A "$TAPDISK_RUN_DIR/tapdisk")" "" "the failed activate's minor is freed"
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
# (share a parent) change no data and are accepted; -s (standby mirror) is refused with
# EOPNOTSUPP, never ignored; -2 takes nbd:<name> or null only (storage migration:
# tests/system/sxm-*.sh), a bare path is EINVAL (-C, changed block tracking:
# tests/system/cbt-flows.sh)
tc=$BIN/tap-ctl
expect_rc 0 "close -t 120" "$tc" close -p "$pid2" -m "$minor2" -t 120
expect_eq "$(xapi list -m "$minor2")" "" "a closed VBD has no args: SM skips its row"
expect_rc 0 "open -D -r -e" "$tc" open -p "$pid2" -m "$minor2" -a "aio:$raw" -D -r -e "$minor2"
expect_rc 0 "close" "$tc" close -p "$pid2" -m "$minor2" -t 120
for opt in -s; do
	expect_rc 95 "open $opt refused" "$tc" open -p "$pid2" -m "$minor2" -a "aio:$raw" $opt
done
expect_rc 22 "open -2 <a path> refused" "$tc" open -p "$pid2" -m "$minor2" -a "aio:$raw" \
	-2 "$T/sr/mirror"
expect_rc 0 "open again" "$tc" open -p "$pid2" -m "$minor2" -a "aio:$raw"
expect_eq "$(xapi list -m "$minor2")" "$pid2 $minor2 0x0 aio $raw" "Tapdisk.list after reopening"

# ---- 3. the raw VDI plugged into the VM, guest I/O, statistics, then a hard unplug -------------
nbd2=$TAPDISK_RUN_DIR/nbd$pid2.$minor2
[ -S "$nbd2" ] || fail "no NBD socket $nbd2"
dev2=$(simxen_vbd_add "$dom" --devid 51728 --mode w --params "nbd:unix:$nbd2:exportname=$vdi2")
be2=/local/domain/0/backend/vbd3/$dom/$dev2
fe2=/local/domain/$dom/device/vbd/$dev2
# a VM with its own polling settings (xenopsd writes them with the other backend nodes)
xenstore-write "$be2/polling-duration" 1000 "$be2/polling-idle-threshold" 20
xenstore-write "$be2/physical-device-path" "$(readlink -f "$nbd2")" "$be2/hotplug-status" connected
fifos h1 hw h2 hlast
head -c 64K "$T/B" >"$T/B64"
guest_start g2 "$dom" "$fe2" write 4K 1M "$T/A" read 4K 1M "$T/h1" \
	write 2M 64K "$T/hw" read 2M 64K "$T/h2" write 0 4K "$T/hlast"
drain "$T/h1" "$T/goth"
same "$T/goth" "$T/A" "guest reads back its write"
expect_eq "$(xenstore-read "$be2/state")" 4 "backend Connected"
expect_eq "$(xenstore-read "$be2/kthread-pid")" "$pid2" "tapback wrote kthread-pid"
expect_eq "$(xenstore-read "$be2/sectors")" $((16 << 11)) "tapback wrote sectors"
# rrdp-iostat's files: the ring's directory and the td3 page
for f in statistics io_ring; do
	[ -f "$TAPDISK_SHM_DIR/vbd3-$dom-$dev2/$f" ] || fail "no $TAPDISK_SHM_DIR/vbd3-$dom-$dev2/$f"
done
expect_eq "$(iostat_get "$dom" "$dev2" "$pid2" version)" 1 "iostat version"
iostat_wait "$dom" "$dev2" "$pid2" write_sectors 2048
iostat_wait "$dom" "$dev2" "$pid2" read_sectors 2048
expect_eq "$(iostat_get "$dom" "$dev2" "$pid2" io_errors)" 0 "no I/O errors"
rd_done=$(iostat_get "$dom" "$dev2" "$pid2" read_reqs_completed)
[ "$rd_done" -ge 1 ] || fail "read_reqs_completed is $rd_done"
expect_eq "$(iostat_get "$dom" "$dev2" "$pid2" read_reqs_submitted)" "$rd_done" "every read submitted completed"
expect_eq "$(iostat_get "$dom" "$dev2" "$pid2" oo_reqs)" 0 "nothing outstanding"
# tap-ctl stats, through json.loads of the first line
expect_eq "$(stats_get "$pid2" "$minor2" "s['secs']")" "[2048, 2048]" "stats secs [rd, wr]"
expect_eq "$(stats_get "$pid2" "$minor2" "s['reqs_outstanding']")" 0 "stats reqs_outstanding"
expect_eq "$(stats_get "$pid2" "$minor2" "s['polling']['duration_us'], s['polling']['idle_threshold']")" \
	"1000 20" "the backend's polling-duration and polling-idle-threshold reach tapdisk"
# a guest write issued while paused waits on the ring and completes after unpause
xapi pause "$pid2" "$minor2"
feed "$T/hw" "$T/B64" &
feeder=$!
sleep 1
cmp -s <(zeros 64K) <(dd if="$raw" bs=64K skip=32 count=1 status=none) ||
	fail "a guest write reached the image while paused"
echo "ok: nothing written while paused"
xapi unpause "$pid2" "$minor2" aio "$raw"
wait "$feeder"
drain "$T/h2" "$T/goth"
same "$T/goth" "$T/B64" "the write issued while paused completed after unpause"
cmp -s "$T/B64" <(dd if="$raw" bs=64K skip=32 count=1 status=none) || fail "the paused write is not in the image"
iostat_wait "$dom" "$dev2" "$pid2" write_sectors 2176
xenstore-write "$be2/online" 0
xenstore-rm "$fe2"
be_closed "$be2"
kill "$(cat "$T/g2.pid")" 2>/dev/null || true # the guest's device vanished under it (it may have failed already)
for i in $(seq 50); do [ -e "$TAPDISK_SHM_DIR/vbd3-$dom-$dev2" ] || break; sleep 0.1; done
[ ! -e "$TAPDISK_SHM_DIR/vbd3-$dom-$dev2" ] || fail "vbd3-$dom-$dev2 left after a hard unplug"
[ ! -e "$TAPDISK_SHM_DIR/td3-$pid2/vbd-$dom-$dev2" ] || fail "td3 page left after a hard unplug"
echo "ok: ring let go after a hard unplug"
xenstore-rm "$be2" 2>/dev/null || true # xenopsd removes what is left
# SM's deactivate
: >"$XAPI_LOG"
xapi shutdown "$pid2" "$minor2"
expect_eq "$(cat "$XAPI_LOG")" "$BIN/tap-ctl close -p $pid2 -m $minor2 -t 120
$BIN/tap-ctl detach -p $pid2 -m $minor2
$BIN/tap-ctl free -m $minor2" "SM's command lines for deactivate"
gone "$pid2" || fail "tapdisk $pid2 still running after its last detach"
echo "ok: tapdisk exited after its last detach"
expect_eq "$(xapi list)" "" "Tapdisk.list is empty"

cmp -s <(head -c 1M "$T/A") <(dd if="$raw" bs=4K skip=1 count=256 status=none) ||
	fail "the raw VDI does not hold the guest's write"
echo "ok: raw VDI holds the guest's write"


# ---- 4. a VHD VDI: SM's activate, xenopsd's nodes, the block hotplug step, tapback, guest I/O ---
vdi=3f2b1c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d
base=$T/sr/$vdi.vhd
xapi vhd-info "$base" >/dev/null 2>&1 && fail "vhd-info of a missing file succeeded"
"$BIN/vhd-util" create --debug -n "$base" -s 64 # vhdutil.create(path, 64 MiB, static=False)
expect_eq "$(xapi vhd-info "$base")" "$((64 << 20)) $(stat -c %s "$base")  0" "vhdutil.getVHDInfo of the new VDI"
: >"$XAPI_LOG"
read -r pid minor < <(xapi launch vhd "$base") || fail "SM's activate (tap launch) failed"
expect_eq "$(cat "$XAPI_LOG")" "$BIN/tap-ctl list -f $base
$BIN/tap-ctl allocate
$BIN/tap-ctl list -f $base
$BIN/tap-ctl spawn
$BIN/tap-ctl attach -p $pid -m $minor
$BIN/tap-ctl open -p $pid -m $minor -a vhd:$base
$BIN/tap-ctl list -m $minor" "SM's command lines for activate"
expect_eq "$(tr '\0' ' ' <"/proc/$pid/cmdline" | cut -d' ' -f1)" tapdisk "argv[0] is tapdisk"
expect_eq "$(xapi list -m "$minor")" "$pid $minor 0x0 vhd $base" "Tapdisk.list after launch"
[ -S "$TAPDISK_RUN_DIR/ctl$pid" ] || fail "no control socket $TAPDISK_RUN_DIR/ctl$pid"
[ -f "$TAPDISK_RUN_DIR/tapdisk/tapdisk-$minor" ] || fail "minor $minor not allocated"

# SM v4 links <run dir>/nbd/<sr>/<vdi> to the tapdisk's NBD socket
nbd=$TAPDISK_RUN_DIR/nbd$pid.$minor
[ -S "$nbd" ] || fail "no NBD socket $nbd"
mkdir -p "$TAPDISK_RUN_DIR/nbd/$sr"
ln -s "$nbd" "$TAPDISK_RUN_DIR/nbd/$sr/$vdi"
# xenopsd's frontend and backend nodes, one transaction
devid=$(simxen_vbd_add "$dom" --devid 51712 --mode w \
	--params "nbd:unix:$TAPDISK_RUN_DIR/nbd/$sr/$vdi:exportname=$vdi")
be=/local/domain/0/backend/vbd3/$dom/$devid
fe=/local/domain/$dom/device/vbd/$devid
# the block hotplug script
xenstore-write "$be/physical-device-path" "$(readlink -f "$TAPDISK_RUN_DIR/nbd/$sr/$vdi")" \
	"$be/hotplug-status" connected

fifos r1 w2 r2 w3 r3 w4 r4 w5 r5 last
guest_start g1 "$dom" "$fe" write 0 1M "$T/A" read 0 1M "$T/r1" \
	write 1M 1M "$T/w2" read 1M 1M "$T/r2" \
	write 2M 1M "$T/w3" read 0 3M "$T/r3" \
	write 3M 1M "$T/w4" read 0 4M "$T/r4" \
	write 4M 1M "$T/w5" read 0 5M "$T/r5" \
	write 5M 4K "$T/last"
drain "$T/r1" "$T/got1"
same "$T/got1" "$T/A" "guest reads back its write"
expect_eq "$(xenstore-read "$be/state")" 4 "backend Connected"
expect_eq "$(xenstore-read "$be/kthread-pid")" "$pid" "tapback wrote kthread-pid"
expect_eq "$(xenstore-read "$be/sectors")" $((64 << 11)) "tapback wrote sectors"
vhd_bytes "$base" 0 1M >"$T/in-base"
same "$T/in-base" "$T/A" "the write is in the VDI's VHD"

iostat_wait "$dom" "$devid" "$pid" write_sectors 2048
expect_eq "$(stats_get "$pid" "$minor" "[i['name'] for i in s['images']]")" "['$base']" "stats images"

# ---- 5. snapshot: pause → vhd-util snapshot → unpause on the new leaf ------------------------
leaf1=$T/sr/5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d.vhd
xapi pause "$pid" "$minor"
sha_base=$(sha256sum <"$base")
# the guest writes while paused: the request waits on the ring
feed "$T/w2" "$T/B" &
feeder=$!
sleep 1
expect_eq "$(sha256sum <"$base")" "$sha_base" "nothing written to the VDI while paused"
# FileSR's snapshot: the leaf becomes a hidden parent of a new leaf
xapi vhd-snapshot "$leaf1" "$base"
xapi vhd-set-hidden "$base" 1
sha_base=$(sha256sum <"$base")
xapi unpause "$pid" "$minor" vhd "$leaf1"
wait "$feeder"
drain "$T/r2" "$T/got2"
same "$T/got2" "$T/B" "the write issued while paused completed after unpause"
expect_eq "$(sha256sum <"$base")" "$sha_base" "the old leaf is untouched"
vhd_bytes "$base" 1M 1M >"$T/x"; zeros 1M >"$T/z"
same "$T/x" "$T/z" "the old leaf still reads zeros where the guest wrote after the snapshot"
vhd_bytes "$leaf1" 1M 1M >"$T/x"; same "$T/x" "$T/B" "the write landed in the new leaf"
vhd_bytes "$leaf1" 0 1M >"$T/x"; same "$T/x" "$T/A" "the new leaf reads older data through its parent"
expect_eq "$(xapi vhd-info "$leaf1" | cut -d' ' -f3-)" "$base 0" "new leaf: parent and not hidden"
expect_eq "$(xapi list -m "$minor")" "$pid $minor 0x0 vhd $leaf1" "Tapdisk.list on the new leaf"
iostat_wait "$dom" "$devid" "$pid" write_sectors 4096

# a second snapshot, so that the chain is three deep: base ← leaf1 ← leaf2
leaf2=$T/sr/6c7d8e9f-0a1b-4c2d-9e3f-4a5b6c7d8e9f.vhd
xapi pause "$pid" "$minor"
xapi vhd-snapshot "$leaf2" "$leaf1"
xapi vhd-set-hidden "$leaf1" 1
xapi unpause "$pid" "$minor" vhd "$leaf2"
feed "$T/w3" "$T/C"
drain "$T/r3" "$T/got3"
cat "$T/A" "$T/B" "$T/C" >"$T/ABC"
same "$T/got3" "$T/ABC" "guest reads its three writes across the chain"
expect_eq "$(stats_get "$pid" "$minor" "[(i['name'], i['driver']['type'], i['driver']['name']) for i in s['images']]")" \
	"[('$leaf2', 4, 'vhd'), ('$leaf1', 4, 'vhd'), ('$base', 4, 'vhd')]" "stats: the chain, leaf first, blktap3's VHD driver type"

# ---- 6. coalesce under a live leaf: pause, coalesce the leaf's parent, re-parent, unpause ----
xapi pause "$pid" "$minor"
xapi vhd-coalesce "$leaf1"
xapi vhd-set-parent "$leaf2" "$base"
xapi unpause "$pid" "$minor" vhd "$leaf2"
rm "$leaf1" # the garbage collector deletes the coalesced VHD: nothing must need it
expect_eq "$(xapi vhd-info "$leaf2" | cut -d' ' -f3)" "$base" "the leaf's parent is the base"
vhd_bytes "$base" 1M 1M >"$T/x"; same "$T/x" "$T/B" "the coalesced data is in the base"
feed "$T/w4" "$T/D"
drain "$T/r4" "$T/got4"
cat "$T/ABC" "$T/D" >"$T/ABCD"
same "$T/got4" "$T/ABCD" "guest reads everything after the coalesce"
vhd_bytes "$leaf2" 3M 1M >"$T/x"; same "$T/x" "$T/D" "new writes land in the leaf"
expect_eq "$(stats_get "$pid" "$minor" "s['name'], [i['name'] for i in s['images']]")" "vhd:$leaf2 ['$leaf2', '$base']" "stats: the re-parented chain"
iostat_wait "$dom" "$devid" "$pid" write_sectors $((4 * 2048))

# and SM's leaf coalesce proper (cleanup.py _doCoalesceLeaf): pause, coalesce the leaf into its
# parent, unhide the parent and rename it over the leaf, unpause on the same path
xapi pause "$pid" "$minor"
xapi vhd-coalesce "$leaf2"
xapi vhd-set-hidden "$base" 0
mv "$leaf2" "$T/sr/OLD_leaf2.vhd"
mv "$base" "$leaf2"
xapi unpause "$pid" "$minor" vhd "$leaf2"
rm "$T/sr/OLD_leaf2.vhd"
expect_eq "$(xapi vhd-info "$leaf2" | cut -d' ' -f3-)" " 0" "the leaf is now a single VHD"
head -c 1M /dev/urandom >"$T/E"
feed "$T/w5" "$T/E"
drain "$T/r5" "$T/got5"
cat "$T/ABCD" "$T/E" >"$T/ABCDE"
same "$T/got5" "$T/ABCDE" "guest reads everything after the leaf coalesce"
vhd_bytes "$leaf2" 0 5M >"$T/x"; same "$T/x" "$T/ABCDE" "the single VHD holds the whole disk"
expect_eq "$(stats_get "$pid" "$minor" "[i['name'] for i in s['images']]")" "['$leaf2']" "stats: one image"
iostat_wait "$dom" "$devid" "$pid" write_sectors $((5 * 2048))
iostat_wait "$dom" "$devid" "$pid" read_sectors $((14 * 2048)) # 1 + 1 + 3 + 4 + 5 MiB read

# ---- 7. classic unplug: online=0 and Closing, the frontend closes, xenopsd removes the trees --
xenstore-write "$be/online" 0 "$be/state" 5
zeros 4K >"$T/Z4"
feed "$T/last" "$T/Z4" # the guest finishes its last write and closes its device
guest_wait g1
xs_wait "$fe/state" 6
be_closed "$be"
simxen_vbd_remove "$dom" "$devid"
xs_wait_gone "$be"
for i in $(seq 50); do [ -e "$TAPDISK_SHM_DIR/vbd3-$dom-$devid" ] || break; sleep 0.1; done
[ ! -e "$TAPDISK_SHM_DIR/vbd3-$dom-$devid" ] || fail "vbd3-$dom-$devid left after disconnect"
[ ! -e "$TAPDISK_SHM_DIR/td3-$pid/vbd-$dom-$devid" ] || fail "td3 page left after disconnect"
echo "ok: /dev/shm files removed at disconnect"

# ---- 8. detach: SM's deactivate (close -t 120, detach, free) -------------------------------
: >"$XAPI_LOG"
rm "$TAPDISK_RUN_DIR/nbd/$sr/$vdi"
rmdir "$TAPDISK_RUN_DIR/nbd/$sr" "$TAPDISK_RUN_DIR/nbd"
xapi shutdown "$pid" "$minor"
expect_eq "$(cat "$XAPI_LOG")" "$BIN/tap-ctl close -p $pid -m $minor -t 120
$BIN/tap-ctl detach -p $pid -m $minor
$BIN/tap-ctl free -m $minor" "SM's command lines for deactivate"
gone "$pid" || fail "tapdisk $pid still running after its last detach"
echo "ok: tapdisk exited after its last detach"
expect_eq "$(xapi list)" "" "Tapdisk.list is empty"

# ---- 9. nothing left behind ------------------------------------------------------------------
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
