# Hostile clients on a tapdisk's control socket (ctl-fake-tapdisk serves the real protocol
# library): garbage bytes, oversized and truncated messages, a stalled client, a flood of
# connections are each dropped while the daemon keeps serving tap-ctl; a non-root client is
# refused by SO_PEERCRED (and by the socket's 0600 mode by default).
. "$(dirname "$0")/../lib/common.sh"
. "$SRC/tests/lib/tapdisk.sh"

[ -x "$TAPCTL" ] || fail "tap-ctl not built"
tapdisk_env "$TBIN/ctl-fake-tapdisk"

img=$T/disk.img
truncate -s 16M "$img"
expect_rc 0 "create" "$TAPCTL" create -a "aio:$img"
pid=$(ls "$TAPDISK_RUN_DIR" | sed -n 's/^ctl//p')
sock=$TAPDISK_RUN_DIR/ctl$pid
[ -S "$sock" ] || fail "no control socket"

# raw CASE: sends a hostile message and prints what the daemon answered before closing
raw() {
	python3 - "$sock" "$1" <<'PY'
import json, socket, struct, sys, time
path, case = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX)
s.connect(path)
s.settimeout(15)
hdr = lambda typ, length, version=1: struct.pack(">IHHII", 0x5254434C, version, typ, 9, length)
if case == "garbage":
    s.sendall(b"\x00\xffGET / HTTP/1.1\r\n\r\n" * 50)
elif case == "oversized":
    s.sendall(hdr(1, 0xFFFFFFFF))  # 4 GiB announced: refused before any allocation
elif case == "just-over":
    s.sendall(hdr(1, 64 * 1024 + 1) + b"x" * 1000)
elif case == "version":
    s.sendall(hdr(1, 2, version=9) + b"{}")
elif case == "bad-json":
    s.sendall(hdr(2, 9) + b'{"minor":')
elif case == "bad-field":
    s.sendall(hdr(2, 15) + b'{"minor":"one"}')
elif case == "stall":
    s.sendall(hdr(2, 100)[:7])  # half a header, then silence
elif case == "truncated":
    s.sendall(hdr(2, 100) + b'{"mi')
    s.close()
    print("closed")
    sys.exit(0)
data = b""
start = time.time()
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
if case == "bad-field":
    # framing intact: the connection stays usable, so stop after one reply
    pass
if len(data) < 16:
    print("closed-without-reply %.1fs" % (time.time() - start))
    sys.exit(0)
magic, ver, typ, ident, length = struct.unpack(">IHHII", data[:16])
reply = json.loads(data[16:16 + length])
print("error=%d type=%#x closed" % (reply["error"], typ))
PY
}

expect_eq "$(raw garbage)" "error=74 type=0xffff closed" "garbage: EBADMSG, connection dropped"
expect_eq "$(raw oversized)" "error=90 type=0xffff closed" "4 GiB length: EMSGSIZE, dropped"
expect_eq "$(raw just-over)" "error=90 type=0xffff closed" "one byte over the bound: EMSGSIZE"
expect_eq "$(raw version)" "error=93 type=0xffff closed" "unknown version: EPROTONOSUPPORT"
expect_eq "$(raw bad-json)" "error=74 type=0x8002 closed" "broken JSON: EBADMSG"
expect_eq "$(raw truncated)" "closed" "a client hanging up mid-message"
# the stalled client is dropped by the server's deadline (10 s) while tap-ctl is served
raw stall >"$T/stall.out" &
stall_job=$!
at_exit "kill $stall_job 2>/dev/null"
sleep 0.5
expect_rc 0 "tap-ctl served while a client stalls" "$TAPCTL" stats -p "$pid" -m 0
python3 -m json.tool <"$T/out" >/dev/null || fail "stats not JSON"
wait "$stall_job"
expect_match "$(cat "$T/stall.out")" "^closed-without-reply" "stalled client dropped"
# a flood of idle connections: beyond the limit each is refused, nothing breaks
python3 - "$sock" <<'PY' || fail "connection flood"
import socket, sys, struct, json
conns = []
for i in range(40):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    conns.append(s)
refused = 0
for s in conns[16:]:
    s.settimeout(5)
    data = s.recv(4096)
    if len(data) >= 16:
        length = struct.unpack(">I", data[12:16])[0]
        if json.loads(data[16:16 + length])["error"] == 16:  # EBUSY
            refused += 1
assert refused >= 20, refused
print("refused %d of 40" % refused)
PY
echo "ok: a connection flood beyond the limit is refused with EBUSY"
sleep 0.2
expect_rc 0 "the daemon still serves after all that" "$TAPCTL" list
expect_match "$(cat "$T/out")" "^pid=$pid minor=0 state=0 args=aio:$img$" "VBD intact"

# ---- a non-root client -----------------------------------------------------------------------
[ "$(id -u)" -eq 0 ] || skip "the non-root refusal needs root to run a client as nobody"
command -v setpriv >/dev/null || fail "setpriv (util-linux) missing"
as_nobody() { env -u ASAN_OPTIONS -u UBSAN_OPTIONS setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
chmod 0755 "$T" "$TAPDISK_RUN_DIR"
# nobody runs a copy in the scratch directory: the build tree may be in a home nobody can't enter
install -m 0755 "$TAPCTL" "$T/tap-ctl"
# default: the socket is 0600, so connect() itself is refused
expect_eq "$(stat -c %a "$sock")" "600" "control socket mode 0600"
expect_rc 13 "nobody cannot connect to a 0600 socket (EACCES)" as_nobody "$T/tap-ctl" stats -p "$pid" -m 0
expect_match "$(cat "$T/err")" "Permission denied" "strerror text"
expect_rc 13 "nobody's list fails with EACCES (not an empty list)" as_nobody "$T/tap-ctl" list
# a daemon whose socket anyone may connect to still checks SO_PEERCRED
FAKE_TAPDISK_SOCKET_MODE=0666 expect_rc 0 "spawn an open-mode tapdisk" "$TAPCTL" spawn
open_pid=$(cat "$T/out")
expect_eq "$(stat -c %a "$TAPDISK_RUN_DIR/ctl$open_pid")" "666" "socket mode 0666"
expect_rc 13 "nobody refused by SO_PEERCRED (EACCES)" as_nobody "$T/tap-ctl" attach -p "$open_pid" -m 0
expect_match "$(cat "$T/err")" "uid 65534 may not control" "the daemon says why"
expect_rc 13 "nobody's list is refused too" as_nobody "$T/tap-ctl" list -p "$open_pid"
as_nobody /usr/bin/python3 - "$TAPDISK_RUN_DIR/ctl$open_pid" <<'PY' || fail "raw client as nobody"
import json, socket, struct, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.settimeout(5)
data = b""
while True:
    c = s.recv(4096)
    if not c:
        break
    data += c
length = struct.unpack(">I", data[12:16])[0]
assert json.loads(data[16:16 + length])["error"] == 13, data
PY
echo "ok: a raw client as nobody gets EACCES and is disconnected"
expect_rc 0 "allocate a minor for it" "$TAPCTL" allocate
m=${OUT:-$(sed 's/.*tapdisk-//' "$T/out")}
expect_rc 0 "root is still served" "$TAPCTL" attach -p "$open_pid" -m "$m"
expect_rc 0 "root detaches" "$TAPCTL" detach -p "$open_pid" -m "$m"
expect_rc 0 "free" "$TAPCTL" free -m "$m"
check_sanitizers
echo PASS
