# tapback works within tapback.service's sandbox, as far as it can be reproduced without systemd
# as PID 1: root without any capability (CapabilityBoundingSet= empty), no new privileges, in a
# network namespace of its own (PrivateNetwork=yes; xenstore's and tapdisks' sockets are files,
# reached all the same). A guest's VBD served by a real tapdisk connects and its writes read
# back; tapback's own capabilities are checked to be none, and every system call it made
# (strace) is one the unit's SystemCallFilter= lines allow.
. "$(dirname "$0")/../lib/common.sh"
. "$SRC/tests/lib/tapdisk.sh"
. "$SRC/tests/lib/simxen.sh"

[ "$(id -u)" = 0 ] || skip "needs root: the unit runs tapback as root without capabilities"
command -v setpriv >/dev/null || fail "setpriv (util-linux) is missing"
command -v unshare >/dev/null || fail "unshare (util-linux) is missing"
command -v strace >/dev/null || fail "strace is missing"
command -v systemd-analyze >/dev/null || fail "systemd-analyze (systemd) is missing"
unshare --net true 2>/dev/null || skip "the kernel refuses a new network namespace here"
u=$SRC/systemd/tapback.service
grep -qx 'CapabilityBoundingSet=' "$u" || fail "the unit no longer drops every capability"
grep -qx 'PrivateNetwork=yes' "$u" || fail "the unit no longer has PrivateNetwork=yes"
grep -qx 'NoNewPrivileges=yes' "$u" || fail "the unit no longer sets NoNewPrivileges=yes"

need_built "$TAPCTL" "$BIN/tapdisk" "$BIN/tapback" "$TBIN/blkfront-io"
tapdisk_env
simxen_start
dom=$(simxen_domain_create guest1)
mkdir "$T/strace"
TAPBACK_PREFIX="unshare --net strace -f -ff -qq -o $T/strace/t setpriv --inh-caps=-all
	--ambient-caps=-all --bounding-set=-all --no-new-privs --"
tapback_start # $tb is strace; tapback is its child
tapback_pid() { tb=$(pgrep -P "$strace" -x tapback); }
strace=$tb
wait_until 30 "tapback did not start under strace" tapback_pid
at_exit "kill $tb 2>/dev/null" # strace leaves what it started running
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

# the system calls tapback made (from its execve on, its threads too) against the unit's filter
python3 - "$u" "$T/strace/t" "$tb" <<'PY' || fail "tapback makes system calls its unit forbids"
import re, subprocess, sys

unit, prefix, pid = sys.argv[1:]

def expand(name):
    out = set()
    txt = subprocess.run(["systemd-analyze", "syscall-filter", name], capture_output=True,
                         text=True, check=True).stdout
    for line in txt.splitlines()[1:]:
        s = line.strip()
        if s and not s.startswith("#"):
            out |= expand(s) if s.startswith("@") and s != name else {s}
    return out

allowed, denied = set(), set()
for line in open(unit):
    if line.startswith("SystemCallFilter="):
        v = line.split("=", 1)[1].strip()
        target = denied if v.startswith("~") else allowed
        for item in v.lstrip("~").split():
            target |= expand(item) if item.startswith("@") else {item}
allowed -= denied
CALL = re.compile(r"([a-z0-9_]+)\(")
lines = open(f"{prefix}.{pid}").read().splitlines()
start = next(i for i, l in enumerate(lines) if re.search(r'execve\("[^"]*/tapback"', l))
calls, threads = set(), []
for l in lines[start + 1:]:
    m = CALL.match(l)
    if m:
        calls.add(m.group(1))
    m = re.match(r"clone3?\(.*\)\s*=\s*(\d+)", l)
    if m:
        threads.append(m.group(1))
for t in threads:
    for l in open(f"{prefix}.{t}"):
        m = CALL.match(l)
        if m:
            calls.add(m.group(1))
if not calls:
    sys.exit("no system call traced")
bad = sorted(calls - allowed)
if bad:
    sys.exit(f"forbidden: {bad}")
print(f"ok: tapback's {len(calls)} distinct system calls are all in its unit's filter")
PY
