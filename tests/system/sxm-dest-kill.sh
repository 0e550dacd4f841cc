# The storage migration's destination dies mid-mirror (issue 14, item 3): the source tapdisk
# goes on with its image alone, the guest's writes (fio --verify) see no error, tap-ctl stats
# shows nbd_mirror_failed 1 (what XAPI polls for) and the log says why. The hand-over here is
# the fixed newstyle one (nbdserver-new<pid>.<minor>). Then -2's other outcomes: the failed
# state holds across an unpause without -2 and `-2 null` clears it; a socket passed again under
# a name replaces the one before; a destination that stops
# answering is retired after TAPDISK_MIRROR_TIMEOUT; a secondary of another size fails the
# unpause (EINVAL); a name nobody passed leaves a failed mirror and the unpause succeeds; a
# malformed -2 is refused.
. "$(dirname "$0")/../lib/common.sh"
. "$SRC/tests/lib/tapdisk.sh"
. "$SRC/tests/lib/simxen.sh"
. "$SRC/tests/lib/sxm.sh"

need_built "$TAPCTL" "$BIN/tapdisk" "$BIN/tapback" "$SXM_ENGINE"
command -v fio >/dev/null || fail "fio is not installed (tools/install-deps)"
export TAPDISK_MIRROR_TIMEOUT=2
tapdisk_env
simxen_start
dom=$(simxen_domain_create guest)
tapback_start

truncate -s 64M "$T/src.img" "$T/dst.img" "$T/dst2.img"
truncate -s 32M "$T/small.img"
tapdisk_open "aio:$T/dst.img"
dpid=$pid dminor=$minor
tapdisk_open "aio:$T/src.img"
spid=$pid sminor=$minor
fe=$(sxm_guest_vbd "$dom" "$spid" "$sminor")
dp=vbd/$dom/${fe##*/}
src() { "$TAPCTL" "$1" -p "$spid" -m "$sminor" "${@:2}"; }
failed_is() { [ "$(sxm_stat "$spid" "$sminor" "j['nbd_mirror_failed']")" = "$1" ]; }

sxm_pass "$spid" "$dpid" "$dminor" "$dp" new
src pause || fail "tap-ctl pause"
expect_rc 0 "unpause with -2 nbd:$dp" src unpause -2 "nbd:$dp" -a "aio:$T/src.img"
expect_eq "$(sxm_stat "$spid" "$sminor" "j['mirror']['connected'], j['mirror']['protocol']")" \
	"True newstyle" "the mirror is connected, newstyle"

# 1: the destination is killed while the guest writes
sxm_fio "$dom" "$fe" "$T/fio.json" --rw=randwrite --bs=4k-64k --iodepth=16 --size=32M \
	--loops=3 --verify=crc32c --do_verify=1 --bf_ring_order=2 >"$T/fio.out" 2>&1 &
fio_pid=$!
at_exit "kill $fio_pid 2>/dev/null"
wait_until 60 "the mirror carries the guest's writes" sxm_mirror_writes_above "$spid" "$sminor" 50
kill -9 "$dpid"
wait_until 30 "nbd_mirror_failed is 1 once the destination is gone" failed_is 1
# the dead destination's storage-migration sockets are reaped like its control socket
wait_until 20 "the destination exits" exited "$dpid"
"$TAPCTL" list >/dev/null || fail "tap-ctl list"
for s in "nbdserver$dpid.$dminor" "nbdserver-new$dpid.$dminor" "nbdclient$dpid" "ctl$dpid"; do
	[ ! -e "$TAPDISK_RUN_DIR/$s" ] || fail "$s was left behind by the dead destination"
done
echo "ok: the dead destination's sockets were reaped"
wait "$fio_pid" || fail "the guest's fio failed: $(tail -n 5 "$T/fio.out")"
sxm_fio_verified "$T/fio.json" || fail "fio reports an error or did not verify what it wrote"
echo "ok: the guest wrote and verified its data with no error across the destination's death"
expect_eq "$(sxm_stat "$spid" "$sminor" "j['mirror']['connected'], j['mirror']['failures']")" \
	"False 1" "the mirror is retired, once"
# the reason depends on what the source was doing when the destination died: reading a reply
# (the server closed the connection), sending (a reset, a broken pipe), or a command failing
why=$(grep -o "mirror nbd:$dp: secondary failed: [^;]*" "$T/tapdisk.log" | head -1)
expect_match "$why" "secondary failed: [[:alpha:]].{8,}" "the log says why the mirror failed ($why)"

# 2: -2 holds across an unpause without it; -2 null removes it
src pause || fail "tap-ctl pause"
src unpause -a "aio:$T/src.img" || fail "tap-ctl unpause"
failed_is 1 || fail "the failed mirror did not hold across an unpause without -2"
echo "ok: the failed mirror holds across an unpause without -2"
src pause || fail "tap-ctl pause"
expect_rc 0 "unpause -2 null" src unpause -2 null -a "aio:$T/src.img"
failed_is 0 || fail "-2 null did not clear nbd_mirror_failed"
expect_eq "$(sxm_stat "$spid" "$sminor" "'mirror' in j")" False "-2 null removed the mirror"

# 3: a destination that stops answering is retired after TAPDISK_MIRROR_TIMEOUT (2 s)
# (passed twice under one name, as a retried migration would: the second socket replaces the
# first, which is closed, so that the destination sees that connection end)
tapdisk_open "aio:$T/dst2.img"
d2pid=$pid d2minor=$minor
sxm_pass "$spid" "$d2pid" "$d2minor" "$dp"
sxm_pass "$spid" "$d2pid" "$d2minor" "$dp"
one_client() { [ "$(sxm_stat "$d2pid" "$d2minor" "j['nbd']['clients']")" = 1 ]; }
wait_until 20 "the replaced connection is closed" one_client
src pause || fail "tap-ctl pause"
src unpause -2 "nbd:$dp" -a "aio:$T/src.img" || fail "tap-ctl unpause -2"
expect_eq "$(sxm_stat "$spid" "$sminor" "j['mirror']['connected']")" True "a new mirror is connected"
kill -STOP "$d2pid"
at_exit "kill -CONT $d2pid 2>/dev/null"
sxm_fio "$dom" "$fe" "$T/fio2.json" --rw=randwrite --bs=64k --iodepth=4 --size=4M \
	--verify=crc32c --do_verify=1 >"$T/fio2.out" 2>&1 ||
	fail "the guest's fio failed with a stopped destination: $(tail -n 5 "$T/fio2.out")"
sxm_fio_verified "$T/fio2.json" || fail "fio reports an error or did not verify what it wrote"
failed_is 1 || fail "a destination that does not answer did not fail the mirror"
grep -q "mirror nbd:$dp: secondary failed: no reply for 2 s" "$T/tapdisk.log" ||
	fail "the log does not say the destination stopped answering"
echo "ok: a stopped destination is retired after 2 s; the guest's writes went on"
kill -CONT "$d2pid"

# 4: a secondary of another size fails the unpause, the VBD staying paused
tapdisk_open "aio:$T/small.img"
sxm_pass "$spid" "$pid" "$minor" "$dp"
src pause || fail "tap-ctl pause"
expect_rc 22 "unpause -2 onto a 32 MiB secondary fails with EINVAL" \
	src unpause -2 "nbd:$dp" -a "aio:$T/src.img"
grep -q "33554432 bytes" "$T/err" || fail "the error does not give the sizes: $(cat "$T/err")"
expect_eq "$(sxm_stat "$spid" "$sminor" "j['paused']")" True "the VBD stays paused"

# 5: a name nobody passed: a failed mirror, the unpause succeeds; a malformed -2 is refused
expect_rc 0 "unpause -2 nbd:nobody succeeds" src unpause -2 nbd:nobody -a "aio:$T/src.img"
failed_is 1 || fail "an unreachable secondary did not set nbd_mirror_failed"
echo "ok: an unreachable secondary sets nbd_mirror_failed"
src pause || fail "tap-ctl pause"
expect_rc 22 "unpause -2 with a malformed secondary" src unpause -2 tcp:x -a "aio:$T/src.img"
src unpause -a "aio:$T/src.img" || fail "tap-ctl unpause"
check_sanitizers
