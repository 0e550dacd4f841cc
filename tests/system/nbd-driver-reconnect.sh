# The nbd: driver when its server dies: nbdkit (the file plugin, so the data outlives it) is
# killed while a guest's fio writes with verification; tapdisk stays alive and answers tap-ctl
# stats meanwhile, the guest's requests wait; once nbdkit is restarted the driver reconnects
# (one reconnect counted, the loss and the reconnection logged) and fio ends verifying
# everything. Then with TAPDISK_NBD_TIMEOUT=2 and the server gone: the guest's I/O fails (EIO)
# after the timeout, tapdisk stays alive, pause and unpause answer, and once the server is back
# the guest's I/O succeeds again.
. "$(dirname "$0")/../lib/common.sh"
. "$SRC/tests/lib/tapdisk.sh"
. "$SRC/tests/lib/simxen.sh"
. "$SRC/tests/lib/sxm.sh"
. "$SRC/tests/lib/nbd.sh"

need_built "$TAPCTL" "$BIN/tapdisk" "$BIN/tapback" "$SXM_ENGINE" "$TBIN/blkfront-io"
for t in fio nbdkit; do
	command -v $t >/dev/null || fail "$t is not installed (tools/install-deps)"
done
tapdisk_env
simxen_start
tapback_start
truncate -s 64M "$T/disk.img" "$T/disk2.img"
stat_is() { [ "$(nbd_drv_stat "$pid" "$minor" "$1")" "${3:--eq}" "$2" ]; }
writes_above() { [ "$(grep -c ' Write ' "$T/$1.log" 2>/dev/null || true)" -gt "$2" ]; }

# 1: killed mid-I/O and restarted: the guest sees no error
nbdkit_start srv file "$T/disk.img"
dom=$(simxen_domain_create guest1)
expect_rc 0 "create" "$TAPCTL" create -a "nbd:unix:$T/srv.sock"
minor=$(sed 's/.*tapdisk-//' "$T/out")
pid=$("$TAPCTL" list -m "$minor" | sed 's/pid=\([0-9]*\).*/\1/')
fe=$(sxm_guest_vbd "$dom" "$pid" "$minor")
sxm_fio "$dom" "$fe" "$T/fio.json" --rw=randwrite --bsrange=4k-64k --iodepth=8 --size=32M \
	--verify=crc32c --do_verify=1 --rate=6m >"$T/fio.out" 2>&1 &
fio_pid=$!
at_exit "kill $fio_pid 2>/dev/null"
wait_until 60 "the guest's writes reach nbdkit" writes_above srv 100
nbdkit_kill srv
wait_until 30 "the driver sees the connection lost" stat_is connected 0
wait_until 30 "the guest's requests wait" stat_is waiting 0 -gt
kill -0 "$pid" || fail "tapdisk died with its server"
echo "ok: tapdisk alive, stats answer, $(nbd_drv_stat "$pid" "$minor" waiting) requests waiting"
nbdkit_start srv file "$T/disk.img"
wait_until 30 "the driver reconnects" stat_is connected 1
expect_eq "$(nbd_drv_stat "$pid" "$minor" reconnects)" 1 "one reconnect"
wait "$fio_pid" || fail "fio failed across the server's restart: $(tail -5 "$T/fio.out")"
sxm_fio_verified "$T/fio.json" || fail "fio: an error, or not everything verified"
echo "ok: the guest's fio verified everything across the server's death and restart"
grep -q "nbd:unix:$T/srv.sock: connection lost" "$TAPDISK_LOG_FILE" || fail "the loss is not logged"
grep -q "nbd:unix:$T/srv.sock: reconnected after" "$TAPDISK_LOG_FILE" ||
	fail "the reconnection is not logged"
expect_eq "$(nbd_drv_stat "$pid" "$minor" expired)" 0 "no request expired"
expect_rc 0 "destroy" "$TAPCTL" destroy -p "$pid" -m "$minor"

# 2: gone for longer than TAPDISK_NBD_TIMEOUT: errors to the guest, then recovery
nbdkit_start srv2 file "$T/disk2.img"
dom=$(simxen_domain_create guest2)
expect_rc 0 "create with TAPDISK_NBD_TIMEOUT=2" env TAPDISK_NBD_TIMEOUT=2 \
	"$TAPCTL" create -a "nbd:unix:$T/srv2.sock"
minor=$(sed 's/.*tapdisk-//' "$T/out")
pid=$("$TAPCTL" list -m "$minor" | sed 's/pid=\([0-9]*\).*/\1/')
fe=$(sxm_guest_vbd "$dom" "$pid" "$minor")
fe_io() { env $(simxen_guest_env "$dom") "$TBIN/blkfront-io" --device "$fe" "$@"; }
head -c 1M /dev/urandom >"$T/data"
expect_rc 0 "guest: write 1 MiB" fe_io write 0 1M "$T/data"
nbdkit_kill srv2
rc=0
fe_io --timeout-ms 30000 write 1M 1M "$T/data" >"$T/out" 2>&1 || rc=$?
expect_eq "$rc" 5 "the guest's write fails with EIO once the timeout passed"
kill -0 "$pid" || fail "tapdisk died"
[ "$(nbd_drv_stat "$pid" "$minor" expired)" -ge 1 ] || fail "no request counted as expired"
grep -q "nbd:unix:$T/srv2.sock: no connection for [0-9]* s: failing requests with EIO" \
	"$TAPDISK_LOG_FILE" || fail "the expiry is not logged"
expect_rc 0 "pause while the server is away" "$TAPCTL" pause -p "$pid" -m "$minor"
nbdkit_start srv2 file "$T/disk2.img"
expect_rc 0 "unpause once it is back" "$TAPCTL" unpause -p "$pid" -m "$minor"
wait_until 30 "connected" stat_is connected 1
expect_rc 0 "guest: write and read after the recovery" fe_io write 1M 1M "$T/data" \
	read 0 1M "$T/back"
cmp -s "$T/data" "$T/back" || fail "the data written before the outage changed"
cmp -s "$T/data" <(dd if="$T/disk2.img" bs=1M skip=1 count=1 2>/dev/null) ||
	fail "the write after the recovery is not in the server's file"
echo "ok: recovered after the server came back"

# 3: the server dies and comes back while the VBD stays open (no pause): the next I/O succeeds
nbdkit_kill srv2
wait_until 30 "the driver sees the connection lost" stat_is connected 0
nbdkit_start srv2 file "$T/disk2.img"
wait_until 30 "the driver reconnects by itself" stat_is connected 1
expect_rc 0 "guest: read after the reconnect" fe_io read 1M 1M "$T/back"
cmp -s "$T/data" "$T/back" || fail "the data read after the reconnect differs"
expect_rc 0 "destroy" "$TAPCTL" destroy -p "$pid" -m "$minor"
check_sanitizers
