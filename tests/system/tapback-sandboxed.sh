# tapback works within tapback.service's sandbox, as far as it can be reproduced without systemd
# as PID 1: root without any capability (CapabilityBoundingSet= empty), no new privileges, in a
# network namespace of its own (PrivateNetwork=yes; xenstore's and tapdisks' sockets are files,
# reached all the same). A guest's VBD served by a real tapdisk connects and its writes read
# back; tapback's own capabilities are checked to be none.
. "$(dirname "$0")/../lib/common.sh"
. "$SRC/tests/lib/tapdisk.sh"
. "$SRC/tests/lib/simxen.sh"

[ "$(id -u)" = 0 ] || skip "needs root: the unit runs tapback as root without capabilities"
command -v setpriv >/dev/null || fail "setpriv (util-linux) is missing"
command -v unshare >/dev/null || fail "unshare (util-linux) is missing"
unshare --net true 2>/dev/null || skip "the kernel refuses a new network namespace here"
u=$SRC/systemd/tapback.service
grep -qx 'CapabilityBoundingSet=' "$u" || fail "the unit no longer drops every capability"
grep -qx 'PrivateNetwork=yes' "$u" || fail "the unit no longer has PrivateNetwork=yes"
grep -qx 'NoNewPrivileges=yes' "$u" || fail "the unit no longer sets NoNewPrivileges=yes"

need_built "$TAPCTL" "$BIN/tapdisk" "$BIN/tapback" "$TBIN/blkfront-io"
tapdisk_env
simxen_start
dom=$(simxen_domain_create guest1)
TAPBACK_PREFIX="unshare --net setpriv --inh-caps=-all --ambient-caps=-all --bounding-set=-all
	--no-new-privs --"
tapback_start
wait_until 30 "tapback is not running as tapback" \
	eval '[ "$(cat /proc/$tb/comm 2>/dev/null)" = tapback ]'
expect_eq "$(sed -n 's/^CapBnd:\t//p' /proc/$tb/status)" 0000000000000000 "tapback's bounding set is empty"
expect_eq "$(sed -n 's/^CapEff:\t//p' /proc/$tb/status)" 0000000000000000 "tapback has no capability"
expect_eq "$(sed -n 's/^NoNewPrivs:\t//p' /proc/$tb/status)" 1 "tapback has no new privileges"
[ "$(readlink /proc/$tb/ns/net)" != "$(readlink /proc/self/ns/net)" ] ||
	fail "tapback shares the test's network namespace"

truncate -s 64M "$T/disk.img"
expect_rc 0 "create -a aio:$T/disk.img" "$TAPCTL" create -a "aio:$T/disk.img"
minor=$(sed 's/.*tapdisk-//' "$T/out")
pid=$("$TAPCTL" list -m "$minor" | sed -n 's/^pid=\([0-9]*\) .*/\1/p')
[ -n "$pid" ] || fail "no tapdisk serves minor $minor"
devid=$(simxen_vbd_add "$dom" --mode w)
be=/local/domain/0/backend/vbd3/$dom/$devid
xs_wait "$be/state" 2
xenstore-write "$be/physical-device-path" "$TAPDISK_RUN_DIR/nbd$pid.$minor" \
	"$be/hotplug-status" connected
head -c 1M /dev/urandom >"$T/data"
env $(simxen_guest_env "$dom") "$TBIN/blkfront-io" --device "/local/domain/$dom/device/vbd/$devid" \
	write 8M 1M "$T/data" read 8M 1M "$T/back" >"$T/guest.log" 2>&1 ||
	fail "the guest's I/O failed: $(tail -n 5 "$T/guest.log"; tail -n 5 "$T/tapback.log")"
cmp -s "$T/data" "$T/back" || fail "the guest read back other bytes"
cmp -s "$T/data" <(dd if="$T/disk.img" bs=1M skip=8 count=1 status=none) ||
	fail "the image does not hold the guest's bytes"
echo "ok: a guest's VBD connected through the sandboxed tapback; its bytes are in the image"
kill -0 "$tb" || fail "tapback died"
check_sanitizers
