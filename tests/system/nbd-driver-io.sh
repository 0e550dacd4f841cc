# The nbd: image driver against real NBD servers: a guest's fio with verification through tapdisk
# to nbdkit's memory plugin on a unix socket; a flush and a discard reach the server (nbdkit's log
# filter); over TCP to qemu-nbd serving a raw file under an export name, a discarded range reads
# back zeros and leaves a hole in the server's file, and the data around it stays; a pause and
# unpause reconnects and the data is still there; a read-only export is opened read-only and a
# guest's write fails; a server's maximum block size (nbdkit's blocksize-policy filter, larger
# requests refused) is kept by cutting requests in pieces; a minimum above 512 bytes, bad
# addresses, an unknown export, an unknown option and tls= are refused at open with a message
# saying why.
. "$(dirname "$0")/../lib/common.sh"
. "$SRC/tests/lib/tapdisk.sh"
. "$SRC/tests/lib/simxen.sh"
. "$SRC/tests/lib/sxm.sh"
. "$SRC/tests/lib/nbd.sh"

need_built "$TAPCTL" "$BIN/tapdisk" "$BIN/tapback" "$SXM_ENGINE" "$TBIN/blkfront-io"
for t in fio nbdkit qemu-nbd; do
	command -v $t >/dev/null || fail "$t is not installed (tools/install-deps)"
done
tapdisk_env
simxen_start
tapback_start
guests=0
fe_io() { env $(simxen_guest_env "$dom") "$TBIN/blkfront-io" --device "$fe" "$@"; }
# create IMAGE: a tapdisk serving IMAGE to a new guest's VBD: $pid, $minor, $dom, $fe
create() {
	guests=$((guests + 1))
	dom=$(simxen_domain_create "guest$guests")
	expect_rc 0 "tap-ctl create -a $1" "$TAPCTL" create -a "$1"
	minor=$(sed 's/.*tapdisk-//' "$T/out")
	pid=$("$TAPCTL" list -m "$minor" | sed 's/pid=\([0-9]*\).*/\1/')
	fe=$(sxm_guest_vbd "$dom" "$pid" "$minor")
}
destroy() { expect_rc 0 "tap-ctl destroy" "$TAPCTL" destroy -p "$pid" -m "$minor"; }

# 1: nbdkit's memory plugin on a unix socket: fio verifies, flush and trim reach the server
nbdkit_start mem memory 64M
create "nbd:unix:$T/mem.sock"
grep -q "nbd:unix:$T/mem.sock: connected (newstyle handshake, structured replies, 67108864 bytes" \
	"$TAPDISK_LOG_FILE" || fail "the connection is not logged: $(tail -3 "$TAPDISK_LOG_FILE")"
expect_eq "$(nbd_drv_stat "$pid" "$minor" connected)" 1 "stats: connected"
sxm_fio "$dom" "$fe" "$T/fio.json" --rw=randwrite --bsrange=4k-128k --iodepth=16 --size=24M \
	--offset=8M --verify=crc32c --do_verify=1 >"$T/fio.out" 2>&1 ||
	fail "fio: $(tail -5 "$T/fio.out")"
sxm_fio_verified "$T/fio.json" || fail "fio: an error, or not everything verified"
echo "ok: the guest's fio verified through nbd: on nbdkit"
head -c 1M /dev/urandom >"$T/data"
expect_rc 0 "guest: write, flush, discard" fe_io write 0 1M "$T/data" flush discard 0 512K
grep -q 'Flush' "$T/mem.log" || fail "no flush reached nbdkit: $(tail -3 "$T/mem.log")"
grep -Eq 'Trim .*offset=0x0 count=0x80000' "$T/mem.log" ||
	fail "no trim of the discarded range reached nbdkit: $(grep -c Trim "$T/mem.log") trims"
echo "ok: the flush and the discard reached the server"

# 2: pause and unpause: the image is closed (the connection too) and opened again
conns() { grep -c 'Connect ' "$T/mem.log" || true; }
before=$(conns)
expect_rc 0 "pause" "$TAPCTL" pause -p "$pid" -m "$minor"
expect_rc 0 "unpause" "$TAPCTL" unpause -p "$pid" -m "$minor"
[ "$(conns)" -gt "$before" ] || fail "the unpause did not connect again ($(conns) connections)"
expect_rc 0 "guest: read after the unpause" fe_io read 0 1M "$T/back"
cmp -s <(tail -c 512K "$T/data") <(tail -c 512K "$T/back") || fail "the data changed across a pause"
cmp -s <(head -c 512K /dev/zero) <(head -c 512K "$T/back") || fail "the discarded range is not zero"
echo "ok: the data and the hole are there after a pause and unpause"
destroy

# 3: TCP, qemu-nbd on a raw file under an export name: the discard punches a hole in the file
port=$(free_port)
truncate -s 32M "$T/disk.img"
qemu_nbd_start q -f raw -x disk -b 127.0.0.1 -p "$port" --discard=unmap --persistent "$T/disk.img"
create "nbd:tcp:127.0.0.1:$port:exportname=disk"
head -c 8M /dev/urandom >"$T/data8"
expect_rc 0 "guest: write 8 MiB, flush" fe_io write 4M 8M "$T/data8" flush
blocks_before=$(stat -c %b "$T/disk.img")
expect_rc 0 "guest: discard 4 MiB, read back" fe_io discard 6M 4M read 4M 8M "$T/back8"
blocks_after=$(stat -c %b "$T/disk.img")
echo "allocated 512-byte blocks: $blocks_before before, $blocks_after after the discard"
[ $((blocks_before - blocks_after)) -ge $((4 * 2048 - 16)) ] || fail "the discard left no hole"
cmp -s <(head -c 2M "$T/data8") <(head -c 2M "$T/back8") || fail "data before the hole changed"
cmp -s <(tail -c 2M "$T/data8") <(tail -c 2M "$T/back8") || fail "data after the hole changed"
cmp -s <(dd if="$T/back8" bs=1M skip=2 count=4 2>/dev/null) <(head -c 4M /dev/zero) ||
	fail "the discarded range does not read back zeros"
cmp -s <(dd if="$T/disk.img" bs=1M skip=4 count=2 2>/dev/null) <(head -c 2M "$T/data8") ||
	fail "the written data is not in the server's file"
echo "ok: over TCP to qemu-nbd: data in the file, the discard a hole"
destroy

# 4: a read-only export: opened read-only, a guest's write fails
nbdkit_start ro -r memory 16M
create "nbd:unix:$T/ro.sock"
grep -q "nbd:unix:$T/ro.sock: the export is read-only: opened read-only" "$TAPDISK_LOG_FILE" ||
	fail "no log line for the read-only export"
rc=0
fe_io write 0 4K "$T/data" >"$T/out" 2>&1 || rc=$?
[ "$rc" -ne 0 ] || fail "a write to a read-only export succeeded"
expect_rc 0 "guest: a read of the read-only export" fe_io read 0 4K "$T/back"
destroy

# 5: a server's block size limits: reads and writes above its maximum (64 KiB, enforced: larger
# requests fail) go in pieces; a minimum above 512 bytes is refused at open
nbdkit_start bs --filter=blocksize-policy memory 32M blocksize-minimum=1 \
	blocksize-maximum=65536 blocksize-error-policy=error
create "nbd:unix:$T/bs.sock"
grep -q "nbd:unix:$T/bs.sock: connected .*max block 65536" "$TAPDISK_LOG_FILE" ||
	fail "the server's maximum block is not taken: $(grep bs.sock "$TAPDISK_LOG_FILE" | tail -2)"
sxm_fio "$dom" "$fe" "$T/fio.json" --rw=randwrite --bsrange=64k-512k --iodepth=4 --size=16M \
	--verify=crc32c --do_verify=1 >"$T/fio.out" 2>&1 || fail "fio: $(tail -5 "$T/fio.out")"
sxm_fio_verified "$T/fio.json" || fail "fio above the server's maximum block: not verified"
echo "ok: requests above the server's 64 KiB maximum verified, in pieces"
destroy
nbdkit_start bs4k --filter=blocksize-policy memory 32M blocksize-minimum=4096

# 6: refused at open, with the reason
refused() { # WHAT IMAGE REGEX
	local rc=0
	"$TAPCTL" create -a "$2" >"$T/out" 2>"$T/err" || rc=$?
	[ "$rc" -ne 0 ] || fail "$1: the open succeeded"
	grep -Eq "$3" "$T/err" || fail "$1: the message does not say why: $(cat "$T/err")"
	echo "ok: $1 refused: $(grep -Eo "$3" "$T/err" | head -1)"
}
refused "a minimum block size of 4096" "nbd:unix:$T/bs4k.sock" \
	"minimum block size \(4096 bytes\) is larger than a 512-byte sector"
refused "a socket that does not exist" "nbd:unix:$T/none.sock" "connect: No such file or directory"
refused "a port nobody listens on" "nbd:tcp:127.0.0.1:$(free_port)" "connect: Connection refused"
refused "TLS" "nbd:unix:$T/mem.sock:tls=require" "TLS is not supported.*ssh.*stunnel"
refused "an unknown option" "nbd:unix:$T/mem.sock:timeout=3" "unknown option 'timeout=3'"
refused "a port out of range" "nbd:tcp:127.0.0.1:70000" "expected host:port"
refused "a host that does not resolve" "nbd:tcp:no-such-host.invalid:10809" "no-such-host"
refused "an unknown export" "nbd:tcp:127.0.0.1:$port:exportname=other" \
	"no export named 'other'|hung up during the handshake"
expect_rc 22 "a relative socket path is refused by tap-ctl" "$TAPCTL" create -a "nbd:unix:rel.sock"
grep -q "nbd:unix:/socket" "$T/err" || fail "tap-ctl does not say the form: $(cat "$T/err")"
kill -0 "$(cat "$T/mem.pid")" || fail "nbdkit died"
check_sanitizers
