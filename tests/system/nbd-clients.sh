# ringtap's NBD server (lib/nbd) against real clients, through nbd-file-server on tapdisk's event
# loop: qemu-img convert and qemu-io (qemu's NBD client), nbdinfo and nbdcopy (libnbd), several
# at once, a read-only export, garbage on the socket and clients vanishing mid-request while
# others keep going (also clients reconnecting as fast as they hang up), idle clients yielding
# their slots past the idle deadline; every byte checked against the served file.
. "$(dirname "$0")/../lib/common.sh"

SERVER=$TBIN/nbd-file-server
[ -x "$SERVER" ] || fail "nbd-file-server not built"
for tool in qemu-img qemu-io nbdinfo nbdcopy python3; do
	command -v "$tool" >/dev/null || fail "$tool missing (tools/install-deps installs it)"
done
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=$T/asan UBSAN_OPTIONS=${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}log_path=$T/asan

# serve NAME FILE [OPTIONS...]: starts a server on $T/NAME.sock; its pid in $SRV_PID
serve() {
	local name=$1 file=$2 i
	shift 2
	"$SERVER" --socket "$T/$name.sock" --name "$name" "$@" "$file" >"$T/$name.log" 2>&1 &
	SRV_PID=$!
	at_exit "kill $SRV_PID 2>/dev/null"
	for i in $(seq 100); do
		grep -q '^listening' "$T/$name.log" && return 0
		kill -0 "$SRV_PID" 2>/dev/null || fail "nbd-file-server exited: $(cat "$T/$name.log")"
		sleep 0.1
	done
	fail "nbd-file-server did not start"
}
# stop PID NAME: SIGTERM, exit 0 expected, counters in $T/NAME.log
stop() {
	local rc=0
	kill -TERM "$1"
	wait "$1" || rc=$?
	expect_eq "$rc" 0 "$2: server exit code"
}

head -c 64M /dev/urandom >"$T/disk.raw"
cp "$T/disk.raw" "$T/orig.raw"
serve vdi "$T/disk.raw"
URI="nbd+unix:///vdi?socket=$T/vdi.sock"

# --- libnbd: what the export says about itself ---------------------------------------------------
nbdinfo --json "$URI" >"$T/info.json"
python3 - "$T/info.json" <<'EOF' || fail "nbdinfo's view of the export"
import json, sys
info = json.load(open(sys.argv[1]))
assert info["protocol"] == "newstyle-fixed", info["protocol"]
e = info["exports"][0]
assert e["export-size"] == 64 << 20, e["export-size"]
assert e["is_read_only"] is False
for k in ("can_flush", "can_fua", "can_trim", "can_zero", "can_multi_conn"):
    assert e[k] is True, k
assert e["block_size_minimum"] == 1 and e["block_size_preferred"] == 4096
assert e["block_size_maximum"] == 32 << 20
EOF
echo "ok: nbdinfo: size, flags, block sizes"
expect_match "$(nbdinfo --list "nbd+unix://?socket=$T/vdi.sock")" 'export="vdi"' "nbdinfo --list names the export"

# --- qemu: convert out, any export name ---------------------------------------------------------
qemu-img convert -f raw -O raw "$URI" "$T/out.raw"
cmp "$T/out.raw" "$T/orig.raw" || fail "qemu-img convert read different bytes"
echo "ok: qemu-img convert reads the file"
qemu-img convert -f raw -O raw "nbd+unix:///some-other-uuid?socket=$T/vdi.sock" "$T/out2.raw"
cmp "$T/out2.raw" "$T/orig.raw" || fail "another export name read different bytes"
rm -f "$T/out.raw" "$T/out2.raw"
echo "ok: any export name reaches the export"

# --- qemu-io: writes, zeroes, discard, flush, checked in the file itself --------------------------
qemu-io -f raw -c 'write -P 0xa5 1M 512k' -c 'write -P 0x3c -f 3M 4k' -c 'write -z -u 5M 1M' \
	-c 'discard 8M 1M' -c 'flush' -c 'read -P 0xa5 1M 512k' -c 'read -P 0 5M 1M' \
	"$URI" >"$T/qio.out" 2>&1 || fail "qemu-io: $(cat "$T/qio.out")"
grep -q 'Pattern verification failed' "$T/qio.out" && fail "qemu-io read back other bytes"
python3 - "$T/disk.raw" "$T/orig.raw" <<'EOF' || fail "bytes in the served file"
import sys
d = open(sys.argv[1], "rb").read()
o = open(sys.argv[2], "rb").read()
M = 1 << 20
assert d[M:M + 512 * 1024] == b"\xa5" * (512 * 1024), "write -P"
assert d[3 * M:3 * M + 4096] == b"\x3c" * 4096, "write -f (FUA)"
assert d[5 * M:6 * M] == bytes(M), "write -z"
assert d[8 * M:9 * M] in (bytes(M), o[8 * M:9 * M]), "discard: zeros or the old bytes"
assert d[:M] == o[:M] and d[10 * M:] == o[10 * M:], "untouched ranges"
EOF
echo "ok: qemu-io writes, zeroes, discard land in the file"

# --- nbdcopy: in and out, several connections and requests in flight ------------------------------
head -c 64M /dev/urandom >"$T/in.raw"
nbdcopy --connections=4 --requests=16 "$T/in.raw" "$URI"
cmp "$T/disk.raw" "$T/in.raw" || fail "nbdcopy's write is not in the file"
nbdcopy --connections=4 "$URI" "$T/copy.raw"
cmp "$T/copy.raw" "$T/in.raw" || fail "nbdcopy read different bytes"
rm -f "$T/copy.raw"
echo "ok: nbdcopy writes and reads 64 MiB over 4 connections"

# --- several clients at once: each writes its own 8 MiB region --------------------------------
pids=()
for i in 0 1 2 3; do
	qemu-io -f raw -c "write -P $((0x10 + i)) $((i * 8))M 8M" "$URI" >"$T/par$i.out" 2>&1 &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "a concurrent qemu-io failed"; done
python3 - "$T/disk.raw" <<'EOF' || fail "concurrent writers' regions"
import sys
d = open(sys.argv[1], "rb").read()
M = 1 << 20
for i in range(4):
    assert d[i * 8 * M:(i + 1) * 8 * M] == bytes([0x10 + i]) * (8 * M), i
EOF
echo "ok: four clients at once"

# helpers of the raw-socket clients below (python3, imported as nbdclient)
cat >"$T/nbdclient.py" <<'EOF'
import socket, struct

def conn(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.settimeout(10)
    return s

def closed(s):
    try:
        while True:
            if not s.recv(65536):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False

def go(s):
    g = s.recv(18, socket.MSG_WAITALL)
    assert g[:8] == b"NBDMAGIC", g
    s.sendall(struct.pack(">I", 3))
    s.sendall(struct.pack(">QII", 0x49484156454F5054, 7, 6) + struct.pack(">IH", 0, 0))
    while True:
        magic, opt, typ, ln = struct.unpack(">QIII", s.recv(20, socket.MSG_WAITALL))
        s.recv(ln, socket.MSG_WAITALL) if ln else None
        if typ == 1:
            return

def hostile_send(s, data):  # the server may hang up before it has all: that is the point
    try:
        s.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass

def req(typ, cookie, off, ln, flags=0):
    return struct.pack(">IHHQQI", 0x25609513, flags, typ, cookie, off, ln)
EOF
export T

# --- hostile clients while nbdcopy runs -----------------------------------------------------------
cp "$T/disk.raw" "$T/before.raw"
nbdcopy --connections=2 "$URI" "$T/copy.raw" &
copy_pid=$!
python3 - "$T/vdi.sock" <<'EOF' || fail "hostile clients"
import os, socket, struct, sys
sys.path.insert(0, os.environ["T"])
from nbdclient import closed, conn, go, hostile_send, req
path = sys.argv[1]

# random bytes instead of a handshake
s = conn(path); hostile_send(s, os.urandom(4096)); assert closed(s), "garbage handshake kept"
# random bytes instead of requests
s = conn(path); go(s); hostile_send(s, os.urandom(65536)); assert closed(s), "garbage requests kept"
# a read, then gone before the answer; a write cut in the middle of its data
s = conn(path); go(s); hostile_send(s, req(0, 1, 0, 1 << 20)); s.close()
s = conn(path); go(s); hostile_send(s, req(1, 2, 0, 1 << 20) + os.urandom(4096)); s.close()
# disconnects mid-handshake, each reconnecting at once: every one is greeted (the server sees a
# hang-up before it refuses a client for want of a slot)
for i in range(20):
    s = conn(path); g = s.recv(18, socket.MSG_WAITALL)
    assert g[:8] == b"NBDMAGIC", f"reconnecting client {i} refused: {g}"
    hostile_send(s, b"\0\0"); s.close()
# a well-behaved client still gets answers
s = conn(path); go(s)
s.sendall(req(0, 7, 4096, 512))
magic, err, cookie = struct.unpack(">IIQ", s.recv(16, socket.MSG_WAITALL))
assert (magic, err, cookie) == (0x67446698, 0, 7), (magic, err, cookie)
assert len(s.recv(512, socket.MSG_WAITALL)) == 512
s.sendall(req(0, 8, 64 << 20, 512))  # past the end
magic, err, cookie = struct.unpack(">IIQ", s.recv(16, socket.MSG_WAITALL))
assert (err, cookie) == (22, 8), (err, cookie)
s.sendall(req(2, 9, 0, 0)); assert closed(s), "DISC"
EOF
wait "$copy_pid" || fail "nbdcopy failed while hostile clients came and went"
cmp "$T/copy.raw" "$T/before.raw" || fail "nbdcopy read different bytes next to hostile clients"
cmp "$T/disk.raw" "$T/before.raw" || fail "a cut-off write reached the file"
kill -0 "$SRV_PID" || fail "the server died"
echo "ok: garbage and vanishing clients are dropped, nbdcopy unaffected, nothing written"
stop "$SRV_PID" vdi
expect_match "$(tail -n1 "$T/vdi.log")" 'trims=[1-9]' "the discard reached the callback"
[ ! -e "$T/vdi.sock" ] || fail "the socket was left behind"
echo "ok: socket removed at exit"

# --- a read-only export ----------------------------------------------------------------------------
serve ro "$T/orig.raw" --readonly
RO="nbd+unix:///ro?socket=$T/ro.sock"
expect_match "$(nbdinfo "$RO")" 'is_read_only: true' "nbdinfo: read-only"
# qemu sees NBD_FLAG_READ_ONLY and refuses to open for writing; a raw client is told EPERM
expect_rc 1 "qemu-io cannot open a read-only export for writing" \
	qemu-io -f raw -c 'write -P 1 0 4k' "$RO"
python3 - "$T/ro.sock" <<'EOF' || fail "raw writes to a read-only export"
import socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.settimeout(10)
s.recv(18, socket.MSG_WAITALL)
s.sendall(struct.pack(">I", 3) + struct.pack(">QII", 0x49484156454F5054, 1, 0))
size, flags = struct.unpack(">QH", s.recv(10, socket.MSG_WAITALL))
assert flags & 2, "NBD_FLAG_READ_ONLY"
for typ, payload in ((1, b"x" * 4096), (4, b""), (6, b"")):  # WRITE, TRIM, WRITE_ZEROES
    s.sendall(struct.pack(">IHHQQI", 0x25609513, 0, typ, typ, 0, 4096) + payload)
    magic, err, cookie = struct.unpack(">IIQ", s.recv(16, socket.MSG_WAITALL))
    assert (err, cookie) == (1, typ), (typ, err, cookie)  # NBD_EPERM
EOF
qemu-img convert -f raw -O raw "$RO" "$T/ro-out.raw"
cmp "$T/ro-out.raw" "$T/orig.raw" || fail "read-only export read different bytes"
echo "ok: read-only export refuses writes, serves reads"
stop "$SRV_PID" ro
expect_match "$(tail -n1 "$T/ro.log")" ' writes=0 ' "no write reached a read-only export"

# --- slow completions: a client leaves with requests in flight ------------------------------------
serve slow "$T/orig.raw" --delay-ms 300
python3 - "$T/slow.sock" <<'EOF' || fail "client leaving mid-request"
import socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.recv(18, socket.MSG_WAITALL)
s.sendall(struct.pack(">I", 3) + struct.pack(">QII", 0x49484156454F5054, 1, 0))
s.recv(10, socket.MSG_WAITALL)
for i in range(8):
    s.sendall(struct.pack(">IHHQQI", 0x25609513, 0, 0, i, i << 20, 1 << 20))
s.close()
EOF
sleep 0.5 # the completions arrive for a client that is gone
nbdcopy "nbd+unix:///slow?socket=$T/slow.sock" "$T/slow-out.raw"
cmp "$T/slow-out.raw" "$T/orig.raw" || fail "the server misbehaved after a client left mid-request"
stop "$SRV_PID" slow
expect_match "$(tail -n1 "$T/slow.log")" 'reads=[1-9]' "the abandoned reads were served"

# --- idle clients: every slot taken, then past the idle deadline a new client is served -----------
serve idle "$T/orig.raw" --idle-ms 1000
python3 - "$T/idle.sock" "$T/orig.raw" <<'EOF' || fail "idle clients and the idle deadline"
import os, socket, struct, sys, time
sys.path.insert(0, os.environ["T"])
from nbdclient import conn, go, req
path, orig = sys.argv[1], open(sys.argv[2], "rb").read(4096)
IDLE = 1.0

def read(s, cookie):
    s.sendall(req(0, cookie, 0, 4096))
    magic, err, c = struct.unpack(">IIQ", s.recv(16, socket.MSG_WAITALL))
    assert (magic, err, c) == (0x67446698, 0, cookie), (magic, err, c)
    assert s.recv(4096, socket.MSG_WAITALL) == orig

t0 = time.monotonic()  # no client is idle for longer than now - t0
idle = []
for i in range(16):
    s = conn(path); go(s); read(s, i); idle.append(s)
t1 = time.monotonic()  # every client is idle since before t1
s = conn(path)
refused = s.recv(18, socket.MSG_WAITALL) == b""
if time.monotonic() - t0 < IDLE:  # else a busy host let the deadline pass first
    assert refused, "a 17th client was served while no client was idle for the deadline"
s.close()
print("ok: a 17th client is refused while the 16 are not idle for the deadline")
while time.monotonic() - t1 <= IDLE:
    time.sleep(0.05)  # the deadline passes (the clock, not another process, is awaited)
s = conn(path); go(s); read(s, 100)
gone = 0
for c in idle:
    c.setblocking(False)
    try:
        gone += c.recv(1) == b""
    except BlockingIOError:
        pass
assert gone == 1, f"{gone} idle clients disconnected for one new client"
print("ok: past the idle deadline a 17th client is served in the slot of the longest idle")
EOF
stop "$SRV_PID" idle
expect_match "$(cat "$T/idle.log")" 'idle for [0-9]* ms, its slot goes to a new client' \
	"the server logs why it disconnected the idle client"

if compgen -G "$T/asan.*" >/dev/null; then
	cat "$T"/asan.* >&2
	fail "sanitizer reports"
fi
echo "PASS"
