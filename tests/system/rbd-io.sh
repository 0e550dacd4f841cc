# The rbd driver on a real one-node Ceph cluster (tests/lib/ceph.sh), through tap-ctl, tapdisk
# and tapback to a guest: written bytes land in the RBD image (rbd export) and read back; a
# guest's fio with verification; flush; a discarded range reads back zeros with the data around
# it kept; a paused disk's image resized with `rbd resize` is served at its new size after
# unpause; adaptive polling's spin takes librbd's completions; a snapshot opens read-only and
# shows the snapshot's bytes.
. "$(dirname "$0")/../lib/common.sh"
. "$SRC/tests/lib/tapdisk.sh"
. "$SRC/tests/lib/simxen.sh"
. "$SRC/tests/lib/vbd.sh"
. "$SRC/tests/lib/ceph.sh"

ENGINE=$RINGTAP_BUILD/lib/blkfront.so
need_built "$BIN/tapdisk" "$BIN/tapback" "$ENGINE" "$TBIN/blkfront-io"
command -v fio >/dev/null || fail "fio missing (tools/install-deps)"
ceph_need
tapdisk_env
simxen_start
dom=$(simxen_domain_create guest)
tapback_start
ceph_start

rbd create rbd/disk --size 64M || fail "rbd create"
stats() { "$TAPCTL" stats -p "$pid" -m "$minor" | python3 -c "import json,sys; j=json.load(sys.stdin); print($1)"; }
fe() { env $(simxen_guest_env "$dom") "$TBIN/blkfront-io" --device "$fe" --order 2 "$@"; }

expect_rc 0 "tap-ctl create -a rbd:rbd/disk:conf=..." "$TAPCTL" create -a "rbd:rbd/disk:conf=$CEPH_CONF"
minor=$(sed 's/.*tapdisk-//' out)
pid=$("$TAPCTL" list -m "$minor" | sed 's/pid=\([0-9]*\).*/\1/')
tapdisk_vbd "$dom"
sectors() { fe info 2>/dev/null | sed -n 's/^sectors=//p'; }
expect_eq "$(sectors)" $((64 << 11)) "the guest sees the image's size from librbd"

head -c 8M /dev/urandom >data
fe write 4M 8M data flush read 4M 8M back >fe.out 2>&1 || fail "write+flush+read: $(tail -3 fe.out)"
cmp -s data back || fail "the guest read back other bytes than it wrote"
echo "ok: the guest reads back what it wrote"
rbd export rbd/disk image.raw >/dev/null 2>&1 || fail "rbd export"
dd if=image.raw bs=1M skip=4 count=8 of=exported 2>/dev/null
cmp -s data exported || fail "the written bytes are not in the RBD image (rbd export)"
echo "ok: the written bytes are in the RBD image"
expect_eq "$(stats "j['images'][0]['driver']['name']")" rbd "tap-ctl stats names the driver"

# discard the middle 2 MiB of the 8 written: zeros there, the rest kept
fe discard 6M 2M read 4M 8M back >fe.out 2>&1 || fail "discard: $(tail -3 fe.out)"
cmp -s <(head -c 2M data) <(head -c 2M back) || fail "data before the discarded range changed"
cmp -s <(head -c 2M /dev/zero) <(tail -c +2097153 back | head -c 2M) ||
	fail "the discarded range does not read back zeros"
cmp -s <(tail -c 4M data) <(tail -c 4M back) || fail "data after the discarded range changed"
echo "ok: discard zeroes its range and keeps the rest"

expect_rc 0 "fio randrw+verify through tapdisk on rbd" env $(simxen_guest_env "$dom") fio \
	--name=v --ioengine=external:"$ENGINE" --filename="$fe" --rw=randwrite --bsrange=4k-128k \
	--iodepth=16 --offset=16M --size=32M --verify=crc32c --do_verify=1 \
	--output-format=json --output=fio.json
python3 -c "import json,sys; j=json.load(open('fio.json'))['jobs'][0]; sys.exit(j['error'] or not j['read']['io_bytes'])" ||
	fail "fio on rbd: an error, or nothing verified"
expect_eq "$(stats "j['images'][0]['driver_stats']['rbd_errors']")" 0 "no I/O error counted"

# resize while paused: served at the new size after unpause
expect_rc 0 "tap-ctl pause" "$TAPCTL" pause -p "$pid" -m "$minor"
rbd resize rbd/disk --size 96M >/dev/null 2>&1 || fail "rbd resize"
expect_rc 0 "tap-ctl unpause" "$TAPCTL" unpause -p "$pid" -m "$minor"
head -c 1M /dev/urandom >tail.data
fe write 95M 1M tail.data read 95M 1M tail.back >fe.out 2>&1 ||
	fail "I/O past the old end after the resize: $(tail -3 fe.out)"
cmp -s tail.data tail.back || fail "the grown part reads back other bytes"
expect_eq "$(sectors)" $((96 << 11)) "the resize is seen at unpause"
expect_rc 0 "tap-ctl destroy" "$TAPCTL" destroy -p "$pid" -m "$minor"

# adaptive polling's spin takes librbd's completions itself (rbd_poll_io_events, no system
# call): td-serve polling a fixed window, the load guard ignored (a busy test host)
dom=$(simxen_domain_create guest3)
dev=$(simxen_vbd_add "$dom" --devid 51800)
vbd_attach "$dom" "$dev" "rbd:rbd/disk:conf=$CEPH_CONF" \
	--serve "--poll fixed --poll-no-guard --poll-duration-us 5000 --poll-idle-threshold 0"
env $(simxen_guest_env "$dom") "$TBIN/blkfront-io" --device "$dev" --order 2 --pieces 16 \
	write 4M 8M data read 4M 8M polled.back >fe.out 2>&1 || fail "I/O while polling: $(tail -3 fe.out)"
vbd_detach "$dom" "$dev" || fail "td-serve exit $?"
cmp -s data polled.back || fail "polling: the guest read back other bytes"
n=$(vbd_stat "$dom" "$dev" poll_completions)
[ "$n" -gt 0 ] || fail "no completion taken by the polling spin"
echo "ok: the polling spin took $n of librbd's completions"

# a snapshot: read-only, its own bytes
rbd snap create rbd/disk@s1 >/dev/null 2>&1 || fail "rbd snap create"
# the image changes after the snapshot: 0-12 MiB rewritten
rbd bench --io-type write --io-size 1M --io-total 12M --io-pattern seq rbd/disk >/dev/null 2>&1 ||
	fail "rbd bench (rewriting the image after the snapshot)"
expect_rc 0 "tap-ctl create -a rbd:rbd/disk@s1 (a snapshot)" "$TAPCTL" create -a "rbd:rbd/disk@s1:conf=$CEPH_CONF"
minor=$(sed 's/.*tapdisk-//' out)
pid=$("$TAPCTL" list -m "$minor" | sed 's/pid=\([0-9]*\).*/\1/')
expect_eq "$(stats "j['images'][0]['driver']['name']")" rbd "the snapshot is served"
dom=$(simxen_domain_create guest2)
tapdisk_vbd "$dom"
fe read 4M 8M snap.back >fe.out 2>&1 || fail "reading the snapshot: $(tail -3 fe.out)"
cmp -s data snap.back || fail "the snapshot reads other bytes than were written before it"
rm -f image.raw
rbd export rbd/disk image.raw >/dev/null 2>&1 || fail "rbd export"
! cmp -s data <(dd if=image.raw bs=1M skip=4 count=8 2>/dev/null) ||
	fail "the image was not rewritten after the snapshot: the test proves nothing"
echo "ok: the snapshot reads back the bytes written before it"
rc=0
fe write 4M 4K data >fe.out 2>&1 || rc=$?
[ "$rc" -ne 0 ] || fail "a write to the snapshot succeeded"
[ "$rc" -eq 30 ] || fail "a write to the snapshot: exit $rc, expected EROFS (30)"
echo "ok: the snapshot refuses writes (EROFS)"
expect_rc 0 "tap-ctl destroy" "$TAPCTL" destroy -p "$pid" -m "$minor"
check_sanitizers
echo "cluster start: $(ceph_start_seconds)s"
