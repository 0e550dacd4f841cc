# A tapdisk killed with -9 in the middle of a guest's writes and discards, with changed block
# tracking on, leaves every acknowledged write's and discard's blocks marked in the CBT log (the
# log is a shared mapping: what tapdisk marked before submitting is in the file's page cache when
# it dies), and marks no block the guest never touched. The guest (blkfront-io --acked) records
# each I/O once its response arrived.
. "$(dirname "$0")/../lib/common.sh"
. "$SRC/tests/lib/tapdisk.sh"
. "$SRC/tests/lib/simxen.sh"

need_built "$TAPCTL" "$BIN/tapdisk" "$BIN/tapback" "$BIN/cbt-util" "$TBIN/blkfront-io"
tapdisk_env
simxen_start
dom=$(simxen_domain_create guest1)
devid=51712
be=/local/domain/0/backend/vbd3/$dom/$devid
fe=/local/domain/$dom/device/vbd/$devid
tapback_start

SIZE=$((256 << 20)) # 4096 blocks
img=$T/disk.img
log=$T/disk.cbtlog
truncate -s "$SIZE" "$img"
"$BIN/cbt-util" create -n "$log" -s "$SIZE" && "$BIN/cbt-util" set -n "$log" -f 0 || fail "cbt-util"
head -c 64K /dev/urandom >"$T/noise"

expect_rc 0 "allocate" "$TAPCTL" allocate
minor=$(sed 's/.*tapdisk-//' "$T/out")
expect_rc 0 "spawn" "$TAPCTL" spawn
pid=$(cat "$T/out")
expect_rc 0 "attach" "$TAPCTL" attach -p "$pid" -m "$minor"
expect_rc 0 "open -C" "$TAPCTL" open -p "$pid" -m "$minor" -a "aio:$img" -C "$log"
simxen_vbd_add "$dom" --devid "$devid" --mode w >/dev/null
xs_wait "$be/state" 2
xenstore-write "$be/physical-device-path" "$(readlink -f "$TAPDISK_RUN_DIR/nbd$pid.$minor")" \
	"$be/hotplug-status" connected

# writes of 512 B to 64 KiB at scattered offsets (some across a block boundary) and discards of
# whole blocks, each to its own blocks (1237 is prime to 4096: block i * 1237 % 4096 is new for
# every i < 4096)
cmds=()
for ((i = 0; i < 3000; i++)); do
	b=$(((i * 1237) % 4096))
	if ((i % 7 == 3)); then
		cmds+=(discard $((b * 65536)) 65536)
	else
		len=$((512 << (i % 8))) off=$((b * 65536 + (i % 2) * (65536 - 512)))
		((off + len <= SIZE)) || off=$((SIZE - len))
		cmds+=(write "$off" "$len" "$T/noise")
	fi
done
env $(simxen_guest_env "$dom") "$TBIN/blkfront-io" --device "$fe" --order 1 --timeout-ms 30000 \
	--acked "$T/acked" "${cmds[@]}" >"$T/writer.log" 2>&1 &
writer=$!
at_exit "kill $writer 2>/dev/null"
acked() { [ -s "$T/acked" ] && [ "$(wc -l <"$T/acked")" -ge "$1" ]; }
wait_until 120 "the guest's writes did not start" acked 300
kill -9 "$pid"
wait_until 30 "tapdisk $pid did not die" exited "$pid"
wait_until 120 "the guest hangs on a dead tapdisk" exited "$writer"
if wait $writer; then fail "the guest finished every I/O: the kill came too late to test anything"; fi
n=$(wc -l <"$T/acked")
grep -q "^discard " "$T/acked" || fail "no discard was acknowledged: $(tail -2 "$T/writer.log")"
echo "ok: tapdisk killed with -9 after $n acknowledged I/Os"

# every acknowledged I/O's blocks are marked; every marked block was touched by an I/O issued
python3 - "$log" "$T/acked" "${cmds[@]}" <<'PY' || fail "the log does not match the acknowledged I/Os"
import sys
log, acked, cmds = sys.argv[1], sys.argv[2], sys.argv[3:]
bm = open(log, "rb").read()[48:]
marked = {n for n in range(len(bm) * 8) if bm[n // 8] >> (n % 8) & 1}

def blocks(off, length):
    return set(range(off // 65536, (off + length - 1) // 65536 + 1))

must = set()
for line in open(acked):
    op, off, length = line.split()
    must |= blocks(int(off), int(length))
issued, i = set(), 0
while i < len(cmds):
    issued |= blocks(int(cmds[i + 1]), int(cmds[i + 2]))
    i += 3 if cmds[i] == "discard" else 4
missing, stray = must - marked, marked - issued
print("acknowledged blocks %d, marked %d, issued %d" % (len(must), len(marked), len(issued)))
if missing:
    print("acknowledged but not marked: %s" % sorted(missing)[:20], file=sys.stderr)
if stray:
    print("marked but never written: %s" % sorted(stray)[:20], file=sys.stderr)
sys.exit(1 if missing or stray else 0)
PY
echo "ok: every acknowledged write's and discard's blocks are marked, nothing else"
expect_eq "$("$BIN/cbt-util" get -n "$log" -f)" 0 "the header is left as the toolstack set it"

simxen_vbd_remove "$dom" "$devid"
xs_wait_gone "$be"
"$TAPCTL" list >/dev/null # reaps the dead tapdisk's entries
"$TAPCTL" free -m "$minor" 2>/dev/null || true
check_sanitizers
echo PASS
