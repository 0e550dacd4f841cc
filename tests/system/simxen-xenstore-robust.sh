# simxen-xenstored against hostile and careless clients, on the raw xs_wire protocol: garbage,
# an oversized length, a disconnect mid-message, malformed payloads, pipelining, a client that
# never reads its events, several clients at once; and `simxen stop` leaves no process.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/simxen.sh"
simxen_start
pid=$(cat "$SIMXEN_DIR/xenstored.pid")

cat >"$T/raw.py" <<'PY'
import os, socket, struct, sys

SOCK = os.environ["XENSTORED_PATH"]
READ, WATCH, TX_START, TX_END, WRITE, DIR_PART, SET_PERMS, ERROR = 2, 4, 6, 7, 11, 22, 14, 16
WATCH_EVENT = 15

def conn():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(SOCK)
    return s

def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf

def send(s, typ, payload, req=1, tx=0):
    s.sendall(struct.pack("<IIII", typ, req, tx, len(payload)) + payload)

def reply(s):
    h = recv_exact(s, 16)
    if h is None:
        return None
    typ, req, tx, n = struct.unpack("<IIII", h)
    return typ, req, recv_exact(s, n)

def call(s, typ, payload, req=1, tx=0):
    send(s, typ, payload, req, tx)
    return reply(s)

def check(cond, what):
    if not cond:
        print("FAIL: " + what)
        sys.exit(1)
    print("ok: " + what)

def closed(s):
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True

def alive(what):
    s = conn()
    r = call(s, WRITE, b"/alive\0yes")
    check(r and r[0] == WRITE and r[2] == b"OK\0", what)
    s.close()

test = sys.argv[1]
if test == "garbage":
    s = conn()
    s.sendall(b"\xff" * 64)
    check(closed(s), "a client sending garbage is disconnected")
    alive("the daemon still serves others after garbage")
    s = conn()
    r = call(s, 99, b"abcd")
    check(r == (ERROR, 1, b"ENOSYS\0"), "an unknown message type gets ENOSYS")
    r = call(s, READ, b"/alive\0", req=7)
    check(r == (READ, 7, b"yes"), "and the connection still works, req_id echoed")
elif test == "oversized":
    s = conn()
    s.sendall(struct.pack("<IIII", READ, 1, 0, 4097))
    check(closed(s), "a header longer than XENSTORE_PAYLOAD_MAX drops the client")
    s = conn()
    s.sendall(struct.pack("<IIII", WRITE, 1, 0, 0xFFFFFFFF) + b"/x\0")
    check(closed(s), "a 4 GiB length drops the client")
    alive("the daemon still serves others after oversized headers")
elif test == "midway":
    keep = conn()
    s = conn()
    s.sendall(struct.pack("<IIII", WRITE, 1, 0, 100) + b"/half\0abc")
    s.close()
    s = conn()
    s.sendall(struct.pack("<IIII", WRITE, 1, 0, 100)[:9])
    s.close()
    alive("the daemon still serves others after two clients left mid-message")
    r = call(keep, READ, b"/half\0")
    check(r == (ERROR, 1, b"ENOENT\0"), "the half-sent write did nothing")
    r = call(keep, READ, b"/alive\0")
    check(r == (READ, 1, b"yes"), "a client connected before them is unaffected")
elif test == "malformed":
    s = conn()
    check(call(s, READ, b"/alive") == (ERROR, 1, b"EINVAL\0"), "READ without its NUL: EINVAL")
    check(call(s, READ, b"/alive\0x\0") == (ERROR, 1, b"EINVAL\0"), "READ with two strings: EINVAL")
    check(call(s, WRITE, b"/novalue") == (ERROR, 1, b"EINVAL\0"), "WRITE without a NUL: EINVAL")
    check(call(s, READ, b"\0") == (ERROR, 1, b"EINVAL\0"), "an empty path: EINVAL")
    check(call(s, READ, b"/a/\0") == (ERROR, 1, b"EINVAL\0"), "a trailing slash: EINVAL")
    check(call(s, READ, b"/" + b"a" * 3100 + b"\0") == (ERROR, 1, b"EINVAL\0"),
          "a path over XENSTORE_ABS_PATH_MAX: EINVAL")
    check(call(s, DIR_PART, b"/\0-1\0") == (ERROR, 1, b"EINVAL\0"), "DIRECTORY_PART with a bad offset")
    check(call(s, SET_PERMS, b"/alive\0q1\0") == (ERROR, 1, b"EINVAL\0"), "SET_PERMS with a bad perm")
    check(call(s, SET_PERMS, b"/alive\0r99999\0") == (ERROR, 1, b"EINVAL\0"), "SET_PERMS with a bad domid")
    check(call(s, WATCH, b"/w\0" + b"t" * 1100 + b"\0") == (ERROR, 1, b"E2BIG\0"),
          "a watch token too long for its events: E2BIG")
    typ, _, txid = call(s, TX_START, b"\0")
    check(typ == TX_START and txid.endswith(b"\0"), "TRANSACTION_START replies with an id")
    tx = int(txid[:-1])
    check(call(s, TX_START, b"\0", tx=tx) == (ERROR, 1, b"EBUSY\0"), "a nested transaction: EBUSY")
    check(call(s, TX_END, b"X\0", tx=tx) == (ERROR, 1, b"EINVAL\0"), "TRANSACTION_END with X: EINVAL")
    check(call(s, TX_END, b"F\0", tx=tx) == (TX_END, 1, b"OK\0"), "TRANSACTION_END F")
    check(call(s, TX_END, b"F\0", tx=tx) == (ERROR, 1, b"ENOENT\0"), "ending it twice: ENOENT")
    check(call(s, 8, b"5\0") == (ERROR, 1, b"EINVAL\0"), "INTRODUCE with too few arguments: EINVAL")
    check(call(s, 9, b"4000\0") == (ERROR, 1, b"ENOENT\0"), "RELEASE of an unknown domain: ENOENT")
    check(call(s, READ, b"/alive\0") == (READ, 1, b"yes"), "the connection survived all of it")
elif test == "pipeline":
    s = conn()
    s.sendall(b"".join(struct.pack("<IIII", READ, i, 0, 7) + b"/alive\0" for i in range(200)))
    ok = True
    for i in range(200):
        r = reply(s)
        ok = ok and r == (READ, i, b"yes")
    check(ok, "200 pipelined requests get 200 replies, in order")
elif test == "slow-reader":
    lazy = conn()
    token = b"t" * 1000
    check(call(lazy, WATCH, b"/flood\0" + token + b"\0") == (WATCH, 1, b"OK\0"), "a watch with a 1000-byte token")
    w = conn()
    for batch in range(10):
        w.sendall(b"".join(struct.pack("<IIII", WRITE, i, 0, 10) + b"/flood/x\0v" for i in range(1000)))
        for i in range(1000):
            r = reply(w)
            if r is None or r[0] != WRITE:
                check(False, "write %d of batch %d: %r" % (i, batch, r))
    print("ok: 10000 writes under a watch whose client never reads (10 MB of events)")
    alive("the daemon serves others meanwhile")
    # The lazy client now reads: what it gets is well-formed (some events were dropped).
    lazy.settimeout(2)
    n = 0
    try:
        while True:
            r = reply(lazy)
            if r is None:
                break
            check_ok = r[0] == WATCH_EVENT and r[2].split(b"\0")[1] == token
            if not check_ok:
                check(False, "a well-formed event, got %r" % (r[:2],))
            n += 1
    except socket.timeout:
        pass
    check(0 < n < 10001, "the slow client gets well-formed events (%d of 10001, the rest dropped)" % n)
elif test == "vanishing-watchers":
    # Watchers disappear while events for them are being sent: the daemon must not trip over
    # a client it closes in the middle of walking its watches.
    for rnd in range(5):
        watchers = []
        for i in range(20):
            c = conn()
            for j in range(5):
                check_r = call(c, WATCH, b"/v\0tok%d\0" % j)
                event = reply(c)  # the initial event
                if check_r != (WATCH, 1, b"OK\0") or event is None or event[0] != WATCH_EVENT:
                    check(False, "watch: %r, then %r" % (check_r, event))
            watchers.append(c)
        b = conn()
        b.sendall(b"".join(struct.pack("<IIII", WRITE, i, 0, 7) + b"/v/x\0" + b"%02d" % (i % 100) for i in range(300)))
        for c in watchers:
            c.close()
        for i in range(300):
            r = reply(b)
            if r is None or r[0] != WRITE:
                check(False, "write %d while watchers vanish: %r" % (i, r))
        b.close()
    print("ok: 5 rounds of 300 writes while 20 watching clients vanish")
    alive("the daemon survived vanishing watchers")
else:
    sys.exit("unknown test " + test)
PY

for t in garbage oversized midway malformed pipeline slow-reader vanishing-watchers; do
	python3 "$T/raw.py" "$t" || fail "raw protocol: $t"
done
expect_match "$(cat "$SIMXEN_DIR/xenstored.log")" "does not read its events" "dropped events are logged"

# several clients at once
for c in 1 2 3 4; do
	(for i in $(seq 1 30); do
		xenstore-write "/many/c$c/k$i" "$c-$i" && xenstore-read "/many/c$c/k$i" >/dev/null || exit 1
	done) &
done
rc=0
for c in 1 2 3 4; do wait -n || rc=1; done
expect_eq "$rc" 0 "4 clients writing and reading at once"
expect_eq "$(xenstore-read /many/c3/k30)" "3-30" "every client's writes landed"
expect_eq "$(xenstore-list /many/c1 | wc -l)" "30" "all 30 of one client's nodes exist"

# stop leaves nothing
kill -0 "$pid" || fail "the daemon died during the test"
expect_rc 0 "simxen stop (and xenstored reported no error)" "$SIMXEN" stop --dir "$SIMXEN_DIR"
if kill -0 "$pid" 2>/dev/null; then fail "simxen-xenstored (pid $pid) still runs after simxen stop"; fi
echo "ok: no simxen-xenstored left"
[ ! -e "$SIMXEN_DIR" ] || fail "$SIMXEN_DIR is still there"
echo "ok: the state directory is removed"
expect_rc 0 "simxen stop again is fine" "$SIMXEN" stop --dir "$SIMXEN_DIR"
