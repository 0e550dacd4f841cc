# The real tapdisk's NBD export of a VBD (<run dir>/nbd<pid>.<minor>) while a guest uses the same
# VBD through its ring (simxen, tapback, blkfront-io): created by `tap-ctl open`, reached through
# SM's symlink and readlink -f as XAPI's hotplug does, qemu-img/qemu-io/nbdinfo/nbdcopy reading
# and writing next to the guest, each path seeing the other's writes, all checked against the
# image bytes; NBD requests held by a pause and served by the image of the unpause; garbage on
# the socket not disturbing the ring; the socket removed at close, nothing left at exit.
. "$(dirname "$0")/../lib/common.sh"
. "$SRC/tests/lib/tapdisk.sh"
. "$SRC/tests/lib/simxen.sh"

need_built "$TAPCTL" "$BIN/tapdisk" "$BIN/tapback" "$TBIN/blkfront-io"
for tool in qemu-img qemu-io nbdinfo nbdcopy python3; do
	command -v "$tool" >/dev/null || fail "$tool missing (tools/install-deps installs it)"
done
tapdisk_env

simxen_start
dom=$(simxen_domain_create guest1)
"$BIN/tapback" --foreground 2>>"$T/tapback.log" &
at_exit "kill $! 2>/dev/null"
guest() { env $(simxen_guest_env "$dom") "$@"; }
bfio() { guest "$TBIN/blkfront-io" --device "/local/domain/$dom/device/vbd/$devid" "$@"; }
image_fds() { ls -l "/proc/$1/fd" 2>/dev/null | grep -c -- "-> $2\$" || true; }
# same FILE OFF LEN OTHER [OFF2]: LEN bytes of FILE at OFF equal OTHER's at OFF2 (default 0)
same() {
	cmp -s <(tail -c +$(($2 + 1)) "$1" | head -c "$3") <(tail -c +$((${5:-0} + 1)) "$4" | head -c "$3")
}
M=$((1 << 20))

# ---- tap-ctl open creates the export; SM's symlink and the hotplug's readlink -f -------------
head -c 64M /dev/urandom >"$T/disk.img"
cp "$T/disk.img" "$T/orig.img"
expect_rc 0 "tap-ctl create -a aio:" "$TAPCTL" create -a "aio:$T/disk.img"
minor=$(sed 's/.*tapdisk-//' "$T/out")
pid=$("$TAPCTL" list -m "$minor" | sed 's/pid=\([0-9]*\).*/\1/')
sock=$TAPDISK_RUN_DIR/nbd$pid.$minor
[ -S "$sock" ] || fail "no NBD socket $sock after tap-ctl open"
vdi=0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0
mkdir -p "$TAPDISK_RUN_DIR/nbd/sr-uuid"
ln -s "$sock" "$TAPDISK_RUN_DIR/nbd/sr-uuid/$vdi"
expect_eq "$(readlink -f "$TAPDISK_RUN_DIR/nbd/sr-uuid/$vdi")" "$sock" "readlink -f of SM's symlink is the socket"
URI="nbd+unix:///$vdi?socket=$TAPDISK_RUN_DIR/nbd/sr-uuid/$vdi"
nbdinfo --json "$URI" >"$T/info.json"
python3 - "$T/info.json" <<'EOF' || fail "nbdinfo's view of the VBD"
import json, sys
e = json.load(open(sys.argv[1]))["exports"][0]
assert e["export-size"] == 64 << 20, e["export-size"]
assert e["is_read_only"] is False
assert e["can_flush"] and e["can_fua"] and e["can_zero"] and e["can_multi_conn"]
assert e["block_size_minimum"] == 512, e["block_size_minimum"]
assert e["block_size_maximum"] == 32 << 20
EOF
echo "ok: nbdinfo: 64 MiB, writable, 512-byte blocks"
qemu-img convert -f raw -O raw "$URI" "$T/out.img"
cmp "$T/out.img" "$T/orig.img" || fail "qemu-img convert through the VBD read other bytes"
rm -f "$T/out.img"
echo "ok: qemu-img convert reads the image through the export"

# ---- the guest's ring and NBD clients at the same time --------------------------------------
devid=$(simxen_vbd_add "$dom" --devid 51712 --mode w)
be=/local/domain/0/backend/vbd3/$dom/$devid
xs_wait "$be/state" 2
xenstore-write "$be/physical-device-path" "$(readlink -f "$TAPDISK_RUN_DIR/nbd/sr-uuid/$vdi")" \
	"$be/hotplug-status" connected
head -c 16M /dev/urandom >"$T/ring.dat"
head -c 16M /dev/urandom >"$T/nbd.dat"
# the guest writes and reads [0, 16M) over and over; NBD clients work on [32M, 48M)
bfio_args=()
for i in 1 2 3 4 5 6; do bfio_args+=(write 0 16M "$T/ring.dat" read 0 16M "$T/ring.back$i"); done
bfio --order 2 "${bfio_args[@]}" >"$T/bfio.log" 2>&1 &
bf=$!
rounds=0 t0=$SECONDS
while kill -0 "$bf" 2>/dev/null; do
	qemu-io -f raw -c "write -s $T/nbd.dat 32M 16M" -c "write -P $((rounds + 1)) 60M 1M" \
		-c "read -P $((rounds + 1)) 60M 1M" -c flush "$URI" >"$T/qio.log" 2>&1 ||
		fail "qemu-io next to the ring: $(cat "$T/qio.log")"
	grep -q 'Pattern verification failed' "$T/qio.log" && fail "NBD read back other bytes"
	nbdcopy --connections=2 "$URI" "$T/copy.img" || fail "nbdcopy next to the ring"
	same "$T/copy.img" $((32 * M)) $((16 * M)) "$T/nbd.dat" || fail "nbdcopy read other bytes than qemu-io wrote"
	rounds=$((rounds + 1))
done
wait "$bf" || fail "the guest's I/O failed next to NBD clients: $(cat "$T/bfio.log")"
[ "$rounds" -gt 0 ] || fail "the guest's I/O was over before any NBD client ran"
echo "ok: $rounds round(s) of NBD writes and reads started while the guest used the ring ($((SECONDS - t0)) s)"
for i in 1 2 3 4 5 6; do
	cmp "$T/ring.back$i" "$T/ring.dat" || fail "the guest read back other bytes ($i)"
done
same "$T/disk.img" 0 $((16 * M)) "$T/ring.dat" || fail "the guest's writes are not in the image"
same "$T/disk.img" $((32 * M)) $((16 * M)) "$T/nbd.dat" || fail "NBD writes are not in the image"
same "$T/disk.img" $((16 * M)) $((16 * M)) "$T/orig.img" $((16 * M)) || fail "bytes between the regions changed"
echo "ok: both paths' writes are in the image, nothing else changed"
xs_wait "$be/state" 6
# each path reads what the other wrote
expect_rc 0 "the guest reads the NBD region" bfio read 32M 16M "$T/ring-sees-nbd"
cmp "$T/ring-sees-nbd" "$T/nbd.dat" || fail "the ring reads other bytes than NBD wrote"
xs_wait "$be/state" 6
qemu-img convert -f raw -O raw "$URI" "$T/out.img"
cmp "$T/out.img" "$T/disk.img" || fail "NBD reads other bytes than the image holds"
echo "ok: the ring sees NBD's writes, NBD sees the ring's"
# tap-ctl stats as SM reads it (json.loads of the first line): NBD requests are counted too
"$TAPCTL" stats -p "$pid" -m "$minor" | head -n 1 >"$T/stats.json"
python3 - "$T/stats.json" "$sock" "$rounds" <<'EOF' || fail "stats: $(cat "$T/stats.json")"
import json, sys
j = json.loads(open(sys.argv[1]).readline())
n, rounds = j["nbd"], int(sys.argv[3])
assert n["socket"] == sys.argv[2], n["socket"]
assert n["clients"] == 0 and n["inflight"] == 0 and n["held"] == 0, n
assert n["bytes"][1] == rounds * 17 << 20, n["bytes"]  # 16 MiB + 1 MiB a round
assert n["requests"]["flush"] >= rounds and n["errors"] == [0, 0, 0], n
assert j["secs"][1] >= (6 * 16 + rounds * 17) << 11, j["secs"]  # the ring's and NBD's sectors
assert j["reqs_outstanding"] == 0
EOF
echo "ok: tap-ctl stats counts NBD requests (nbd object, secs)"

# ---- pause: NBD requests are held, then served by the image of the unpause -------------------
nbdcopy --requests=4 "$URI" "$T/held.img" &
cp_pid=$!
expect_rc 0 "tap-ctl pause while nbdcopy reads" "$TAPCTL" pause -p "$pid" -m "$minor"
expect_eq "$(image_fds "$pid" "$T/disk.img")" 0 "paused: the image is closed (NBD I/O drained)"
cp "$T/disk.img" "$T/snap.img" # the storage manager's work while paused
sum_old=$(md5sum <"$T/disk.img")
sleep 1
kill -0 "$cp_pid" 2>/dev/null || fail "nbdcopy finished while the VBD was paused"
expect_rc 0 "tap-ctl unpause -a a new image" "$TAPCTL" unpause -p "$pid" -m "$minor" -a "aio:$T/snap.img"
wait "$cp_pid" || fail "nbdcopy failed across the pause"
cmp "$T/held.img" "$T/snap.img" || fail "nbdcopy read other bytes across the pause"
echo "ok: nbdcopy held during the pause, finished after the unpause"
qemu-io -f raw -c "write -P 0xee 8M 1M" "$URI" >/dev/null || fail "qemu-io write after unpause"
python3 -c "
import sys
d = open('$T/snap.img', 'rb').read()
assert d[8 << 20:9 << 20] == b'\xee' * (1 << 20)" || fail "the NBD write did not reach the new image"
expect_eq "$(md5sum <"$T/disk.img")" "$sum_old" "the old image is untouched after the unpause"
echo "ok: NBD writes go to the image of the unpause"

# ---- garbage on the export while the guest uses the ring --------------------------------------
bfio --order 1 write 4M 16M "$T/ring.dat" read 4M 16M "$T/ring.back4" >"$T/bfio2.log" 2>&1 &
bf=$!
python3 - "$sock" <<'EOF' || fail "hostile NBD clients"
import os, socket, struct, sys

def hostile_send(s, data):  # the tapdisk may hang up before it has all: that is the point
    try:
        s.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass

for i in range(30):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[1])
    s.settimeout(10)
    if i % 3 == 0:
        hostile_send(s, os.urandom(8192))    # not NBD at all
    elif i % 3 == 1:                         # NBD, then garbage requests
        s.recv(18, socket.MSG_WAITALL)
        s.sendall(struct.pack(">I", 3) + struct.pack(">QII", 0x49484156454F5054, 1, 0))
        s.recv(10, socket.MSG_WAITALL)
        hostile_send(s, os.urandom(8192))
    else:                                    # a read, gone before its answer
        s.recv(18, socket.MSG_WAITALL)
        s.sendall(struct.pack(">I", 3) + struct.pack(">QII", 0x49484156454F5054, 1, 0))
        s.recv(10, socket.MSG_WAITALL)
        s.sendall(struct.pack(">IHHQQI", 0x25609513, 0, 0, 1, 0, 1 << 20))
    s.close()
EOF
wait "$bf" || fail "the guest's I/O failed while hostile NBD clients came and went: $(cat "$T/bfio2.log")"
cmp "$T/ring.back4" "$T/ring.dat" || fail "the guest read back other bytes next to hostile clients"
same "$T/snap.img" $((4 * M)) $((16 * M)) "$T/ring.dat" || fail "the guest's write is not in the image"
kill -0 "$pid" || fail "tapdisk died"
echo "ok: hostile NBD clients dropped, the guest's ring unaffected"
xs_wait "$be/state" 6

# ---- close removes the socket; detach, free: the tapdisk exits, nothing left ------------------
python3 - "$sock" "$T/idle.ready" <<'EOF' &
import socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.recv(18, socket.MSG_WAITALL)
s.sendall(struct.pack(">I", 3) + struct.pack(">QII", 0x49484156454F5054, 1, 0))
s.recv(10, socket.MSG_WAITALL)
open(sys.argv[2], "w").close()
s.settimeout(30)
sys.exit(0 if s.recv(1) == b"" else 1)  # closed by the tapdisk's close
EOF
idle=$!
for ((i = 0; i < 100; i++)); do [ -e "$T/idle.ready" ] && break; sleep 0.1; done
expect_rc 0 "tap-ctl close -t 120 with an NBD client connected" "$TAPCTL" close -p "$pid" -m "$minor" -t 120
[ ! -e "$sock" ] || fail "the NBD socket is still there after close"
wait "$idle" || fail "the NBD client was not disconnected by the close"
echo "ok: close removes the socket and disconnects its clients"
expect_rc 0 "detach" "$TAPCTL" detach -p "$pid" -m "$minor"
expect_rc 0 "free" "$TAPCTL" free -m "$minor"
for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "tapdisk still runs after its last detach"
expect_eq "$(ls "$TAPDISK_RUN_DIR" | grep '^nbd[0-9]' || true)" "" "no NBD socket left in the run directory"
if compgen -G "$T/asan.*" >/dev/null; then
	cat "$T"/asan.* >&2
	fail "sanitizer reports"
fi
echo "PASS"
