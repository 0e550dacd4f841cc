# VHD chains served by the real tapdisk: `tap-ctl create -a vhd:PATH`, a guest's fio with
# verification through tapback and the ring, `tap-ctl stats` listing the chain (each file's
# name, blktap3 driver type 4 "vhd", the driver's counters), pause (the chain is closed and
# checks clean) and unpause, `open -a vhd:` on an attached minor, a damaged VHD refused.
. "$(dirname "$0")/../lib/common.sh"
. "$SRC/tests/lib/tapdisk.sh"
. "$SRC/tests/lib/simxen.sh"

V=$BIN/vhd-util
ENGINE=$RINGTAP_BUILD/lib/blkfront.so
need_built "$TAPCTL" "$BIN/tapdisk" "$BIN/tapback" "$ENGINE"
command -v fio >/dev/null || fail "fio missing (tools/install-deps)"
tapdisk_env
cd "$T"
stats() { "$TAPCTL" stats -p "$pid" -m "$minor" | python3 -c "import json,sys; j=json.load(sys.stdin); print($1)"; }

# (tapdisk must start in simxen's environment to map the guest's ring)
simxen_start
dom=$(simxen_domain_create guest)

# a parent with data, a child snapshot
"$V" create -n p.vhd -s 32 || fail "create"
head -c $((8 << 20)) /dev/urandom >pdata
"$TBIN/vhd-io" write p.vhd 0 <pdata || fail "vhd-io write"
"$V" snapshot -n c.vhd -p p.vhd || fail "snapshot"
psum=$(md5sum <p.vhd)

expect_rc 0 "tap-ctl create -a vhd:c.vhd" "$TAPCTL" create -a "vhd:$T/c.vhd"
minor=$(sed 's/.*tapdisk-//' out)
pid=$("$TAPCTL" list -m "$minor" | sed 's/pid=\([0-9]*\).*/\1/')
expect_eq "$(stats "[(i['name'], i['driver']['type'], i['driver']['name']) for i in j['images']]")" \
	"[('$T/c.vhd', 4, 'vhd'), ('$T/p.vhd', 4, 'vhd')]" "stats: the chain, leaf first, type 4 vhd"
expect_eq "$(stats "j['name']")" "vhd:$T/c.vhd" "stats: the VBD's image"

# a guest's fio with verification, through tapback and the ring
"$BIN/tapback" --foreground 2>>tapback.log &
at_exit "kill $! 2>/dev/null"
be=/local/domain/0/backend/vbd3/$dom/1
simxen_vbd_add "$dom" --devid 1 >/dev/null
xenstore-write "$be/physical-device-path" "$TAPDISK_RUN_DIR/nbd$pid.$minor" "$be/hotplug-status" connected
expect_rc 0 "fio randwrite+verify through tapdisk on the chain" \
	env $(simxen_guest_env "$dom") fio --name=v --ioengine=external:"$ENGINE" \
	--filename="/local/domain/$dom/device/vbd/1" --rw=randwrite --bsrange=4k-128k --iodepth=16 \
	--offset=4M --size=16M --verify=crc32c --do_verify=1 --output-format=json --output=fio.json
python3 -c "import json,sys; j=json.load(open('fio.json'))['jobs'][0]; sys.exit(j['error'] or not j['read']['io_bytes'])" ||
	fail "fio reports an error or verified nothing"
# and reads of what only the parent holds
expect_rc 0 "the guest reads the parent's data through the child" \
	env $(simxen_guest_env "$dom") "$TBIN/blkfront-io" --device "/local/domain/$dom/device/vbd/1" \
	read 0 4M head.r
cmp -s head.r <(head -c 4M pdata) || fail "the parent's data does not read through the child"
echo "ok: the parent's data reads through the child"
n=$(stats "j['images'][0]['driver_stats']['blocks_allocated']")
[ "$n" -ge 8 ] || fail "stats: $n blocks allocated in the child"
pr=$(stats "j['images'][0]['driver_stats']['parent_reads']")
[ "$pr" -ge 1 ] || fail "stats: no read forwarded to the parent"
expect_eq "$(stats "j['images'][1]['hits'][0]")" "$pr" "stats: the parent's hits are the reads forwarded to it"
echo "ok: stats: $n blocks allocated, $pr parent reads, bitmap cache $(stats "j['images'][0]['driver_stats']['bitmap_hits']") hits"

# pause closes the chain (it checks clean), unpause reopens it
expect_rc 0 "pause" "$TAPCTL" pause -p "$pid" -m "$minor"
expect_rc 0 "the paused child checks clean (footer written at close)" "$V" check -n c.vhd
expect_eq "$(md5sum <p.vhd)" "$psum" "the parent is unchanged"
expect_rc 0 "unpause" "$TAPCTL" unpause -p "$pid" -m "$minor"
expect_eq "$(stats "len(j['images'])")" 2 "the chain reopened"
expect_rc 0 "destroy" "$TAPCTL" destroy -p "$pid" -m "$minor"
expect_rc 0 "vhd-util check after destroy" "$V" check -n c.vhd

# open -a vhd: on an attached minor; a damaged image refused with a clear error
minor=$("$TAPCTL" allocate | sed 's/.*tapdisk-//')
expect_rc 0 "spawn" "$TAPCTL" spawn
pid=$(cat out)
expect_rc 0 "attach" "$TAPCTL" attach -p "$pid" -m "$minor"
cp p.vhd bad.vhd
printf 'XXXXXXXX' | dd of=bad.vhd bs=1 seek=$((512)) conv=notrunc status=none
expect_rc 22 "open -a vhd: of a VHD with a broken header: EINVAL" \
	"$TAPCTL" open -p "$pid" -m "$minor" -a "vhd:$T/bad.vhd"
grep -qi 'cookie\|header' "$TAPDISK_LOG_FILE" err || fail "no clear error: $(cat err; tail -3 "$TAPDISK_LOG_FILE")"
expect_rc 0 "open -a vhd: of the parent, read-only" "$TAPCTL" open -p "$pid" -m "$minor" -a "vhd:$T/p.vhd" -R
expect_eq "$(stats "[(i['name'], i['driver']['type']) for i in j['images']]")" "[('$T/p.vhd', 4)]" \
	"stats: one image"
expect_rc 0 "close" "$TAPCTL" close -p "$pid" -m "$minor"
expect_rc 0 "detach" "$TAPCTL" detach -p "$pid" -m "$minor"
expect_rc 0 "free" "$TAPCTL" free -m "$minor"
! ls "$T"/asan* >/dev/null 2>&1 || fail "sanitizer reports: $(cat "$T"/asan*)"
