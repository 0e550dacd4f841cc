# The rbd driver when things go wrong, on a real one-node Ceph cluster (tests/lib/ceph.sh): bad
# open strings, a missing pool, image or configuration, wrong credentials and an unreachable
# monitor are refused at open with a message saying which; a restricted user's id and keyring
# given in the path open the image. With the OSD stopped (SIGSTOP: dead to its clients) in the
# middle of a guest's I/O, the guest gets I/O errors (after rados_osd_op_timeout, 5 s here), the
# log says the cluster is not answering, tapdisk stays alive and its control socket answers;
# once the OSD answers again, so does the guest's I/O, and the log says so.
. "$(dirname "$0")/../lib/common.sh"
. "$SRC/tests/lib/tapdisk.sh"
. "$SRC/tests/lib/simxen.sh"
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
C=":conf=$CEPH_CONF"

# refused IMAGE RC REGEX: tap-ctl create -a IMAGE exits RC, its message matching REGEX
refused() {
	expect_rc "$2" "refused: $1" "$TAPCTL" create -a "$1"
	expect_match "$(cat err)" "$3" "  the message says why"
}
refused "rbd:" 22 "invalid image 'rbd:'.*rbd:pool/image"
refused "rbd:/etc/passwd" 22 "invalid image"
refused "rbd:disk$C" 22 "expected pool/image"
refused "rbd:rbd/disk:mon_host=10.0.0.1" 22 "unknown option 'mon_host' \\(conf, id or keyring\\)"
refused "rbd:rbd/di\$k$C" 22 "image: character 0x24 not allowed"
refused "rbd:rbd/disk:id=a:id=b" 22 "option id given twice"
refused "rbd:rbd/disk:conf=/nonexistent/ceph.conf" 2 "cannot read the Ceph configuration /nonexistent/ceph.conf"
refused "rbd:nopool/disk$C" 2 "pool 'nopool': No such file or directory"
refused "rbd:rbd/nosuch$C" 2 "image 'nosuch' in pool 'rbd': No such file or directory"
refused "rbd:rbd/disk@nosnap$C" 2 "image 'disk@nosnap' in pool 'rbd'"

# a restricted user: its own keyring opens the image; another key for it is refused
ceph auth get-or-create client.xen mon 'profile rbd' osd 'profile rbd pool=rbd' \
	-o "$T/xen.keyring" >/dev/null 2>&1 || fail "ceph auth get-or-create client.xen"
ceph-authtool --create-keyring "$T/bad.keyring" --gen-key -n client.xen >/dev/null
refused "rbd:rbd/disk$C:id=xen:keyring=$T/bad.keyring" 13 "cannot connect to the Ceph cluster as client.xen: Permission denied"
refused "rbd:rbd/disk$C:id=nobody:keyring=$T/bad.keyring" 1 "cannot connect to the Ceph cluster as client.nobody: Operation not permitted"
# an unreachable monitor: refused within the mount timeout, the control socket answers
sed "s/^mon host = .*/mon host = v1:127.0.0.1:1/" "$CEPH_CONF" >"$T/dead.conf"
t0=$SECONDS
refused "rbd:rbd/disk:conf=$T/dead.conf" 110 "cannot connect to the Ceph cluster as client.admin: Connection timed out"
[ $((SECONDS - t0)) -lt 30 ] || fail "the refusal took $((SECONDS - t0)) s (client_mount_timeout is 5 s)"

expect_rc 0 "tap-ctl create -a rbd:rbd/disk:id=xen:keyring=..." "$TAPCTL" create -a "rbd:rbd/disk$C:id=xen:keyring=$T/xen.keyring"
minor=$(sed 's/.*tapdisk-//' out)
pid=$("$TAPCTL" list -m "$minor" | sed 's/pid=\([0-9]*\).*/\1/')
tapdisk_vbd "$dom"
fe() { env $(simxen_guest_env "$dom") "$TBIN/blkfront-io" --device "$fe" --order 2 "$@"; }
writes() { "$TAPCTL" stats -p "$pid" -m "$minor" | python3 -c "import json,sys; print(json.load(sys.stdin)['images'][0]['hits'][1])"; }

# a guest writing without end; the OSD stops answering under it
env $(simxen_guest_env "$dom") fio --name=w --ioengine=external:"$ENGINE" --filename="$fe" \
	--rw=randwrite --bs=4k --iodepth=8 --size=32M --time_based --runtime=120 \
	--output=fio.out >/dev/null 2>&1 &
fio=$!
at_exit "kill $fio 2>/dev/null"
writes_over() { [ "$(writes)" -gt "$1" ]; }
wait_until 60 "the guest's writes reach tapdisk" writes_over 100
ceph_osd_freeze
t0=$SECONDS
rc=0
wait "$fio" || rc=$?
[ "$rc" -ne 0 ] || fail "fio finished without an error while the OSD was down"
grep -Eqi "error|timed out" fio.out || fail "fio does not report an I/O error: $(tail -5 fio.out)"
echo "ok: the guest's I/O fails after $((SECONDS - t0)) s with the OSD down"
! exited "$pid" || fail "tapdisk exited"
t1=$SECONDS
expect_rc 0 "tap-ctl stats answers during the outage" "$TAPCTL" stats -p "$pid" -m "$minor"
[ $((SECONDS - t1)) -lt 5 ] || fail "tap-ctl stats took $((SECONDS - t1)) s during the outage"
grep -q "rbd:rbd/disk.*the Ceph cluster did not answer within 5 s (rados_osd_op_timeout): I/O errors until it does" \
	"$TAPDISK_LOG_FILE" || fail "no clear log line for the outage"
echo "ok: the log says the cluster does not answer"
[ "$("$TAPCTL" stats -p "$pid" -m "$minor" | python3 -c "import json,sys; print(json.load(sys.stdin)['images'][0]['driver_stats']['rbd_timeouts'])")" -gt 0 ] ||
	fail "no timeout counted"

ceph_osd_thaw
head -c 1M /dev/urandom >data
wait_until 60 "the guest's I/O works again" fe write 1M 1M data read 1M 1M back
cmp -s data back || fail "after the OSD is back the guest reads back other bytes"
echo "ok: I/O works again after the OSD is back"
grep -q "rbd:rbd/disk.*the Ceph cluster answers again" "$TAPDISK_LOG_FILE" || fail "no log line for the recovery"
echo "ok: the log says the cluster answers again"
expect_rc 0 "tap-ctl destroy" "$TAPCTL" destroy -p "$pid" -m "$minor"
check_sanitizers
