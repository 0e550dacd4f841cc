# A ring disconnected with requests in flight is quiesced, not paused: tapdisk drains them with
# the image left open, disconnects, and serves the next connection on the same open image.
#
# The write in flight is made certain, not left to timing: the disk is a loop device over a file
# on a small ext4 filesystem, and while that filesystem is frozen (fsfreeze) the loop device
# cannot finish a write, so tapdisk's write stays in flight for as long as the test wants. The
# guest (blkfront-reopen --hold) writes, waits for the freeze, sends a write, waits until tapdisk
# counts it outstanding, closes; tapdisk must log that it quiesces, the test thaws, and the
# guest's next connection reads back both writes. Then 300 reconnects with a write in flight at
# each close (whether tapdisk still has it is up to timing there) read back what they wrote.
# tapdisk opens the disk through a symlink that is removed once it is open, so a reopen by path
# (what a drain through pause and resume did) could only fail and leave the VBD paused: the VBD
# must end running, never reopened.
. "$(dirname "$0")/../lib/common.sh"
. "$SRC/tests/lib/tapdisk.sh"
. "$SRC/tests/lib/simxen.sh"

REOPENS=300
SECONDS_MAX=60
MIN_REOPENS=20
need_built "$TAPCTL" "$BIN/tapdisk" "$BIN/tapback" "$TBIN/blkfront-reopen"
[ "$(id -u)" -eq 0 ] || skip "loop devices and a mount need root"
for p in losetup mkfs.ext4 fsfreeze mount; do
	command -v "$p" >/dev/null || fail "$p is missing (util-linux, e2fsprogs: tools/install-deps)"
done

# the filesystem that can be frozen and the loop device over the disk's file; at exit (after
# tapdisk is killed, registered later so run earlier) they go once tapdisk has exited
release_disk() {
	local i
	for ((i = 0; i < 100; i++)); do [ -z "${pid:-}" ] || exited "$pid" && break; sleep 0.1; done
	[ -z "${loopdev:-}" ] || losetup -d "$loopdev"
	for ((i = 0; i < 50; i++)); do umount "$T/mnt" 2>/dev/null && return 0; sleep 0.1; done
	echo "warning: cannot unmount $T/mnt" >&2
}
truncate -s 96M "$T/fs.img"
mkfs.ext4 -q -F "$T/fs.img" || fail "mkfs.ext4"
mkdir "$T/mnt"
mount -o loop "$T/fs.img" "$T/mnt" 2>"$T/mount.err" ||
	skip "cannot mount an ext4 image on a loop device: $(cat "$T/mount.err")"
at_exit release_disk
truncate -s 64M "$T/mnt/disk.img"
loopdev=$(losetup --show -f "$T/mnt/disk.img") || skip "no free loop device"
ln -s "$loopdev" "$T/disk"

tapdisk_env
simxen_start
dom=$(simxen_domain_create guest1)
tapback_start
tapdisk_open "aio:$T/disk"
rm "$T/disk" # the path tapdisk opened leads nowhere now
at_exit "fsfreeze -u '$T/mnt' 2>/dev/null" # before tapdisk is killed and the mounts go

tapdisk_vbd "$dom"

outstanding() {
	"$TAPCTL" stats -p "$pid" -m "$minor" |
		python3 -c 'import json, sys; print(json.load(sys.stdin)["reqs_outstanding"])'
}

# 1. a close that certainly finds a write in flight
mkdir "$T/hold"
env $(simxen_guest_env "$dom") "$TBIN/blkfront-reopen" --device "$fe" --count 2 --inflight \
	--hold "$T/hold" --base 8192 >"$T/held.out" 2>"$T/held.err" &
guest=$!
at_exit "kill $guest 2>/dev/null"
wait_until 60 "the guest's first write" test -e "$T/hold/written"
fsfreeze -f "$T/mnt" || fail "fsfreeze"
touch "$T/hold/go"
wait_until 60 "the guest's second write" test -e "$T/hold/inflight"
wait_until 60 "tapdisk has the write in flight" test "$(outstanding)" -ge 1
touch "$T/hold/close"
wait_until 60 "tapdisk quiesces" grep -q "quiescing before the disconnect" "$T/tapdisk.log"
echo "ok: a disconnect with a write in flight quiesces"
expect_eq "$(outstanding)" 1 "the write stays in flight while the filesystem is frozen"
fsfreeze -u "$T/mnt" || fail "fsfreeze -u"
wait "$guest" || fail "the held guest: $(cat "$T/held.out" "$T/held.err"); tapdisk: $(tail -n 5 "$T/tapdisk.log")"
expect_match "$(cat "$T/held.out")" '^reopened 2 ' \
	"the next connection reads back the write before the close and the one in flight"

# 2. many closes with a write in flight
out=$(env $(simxen_guest_env "$dom") "$TBIN/blkfront-reopen" --device "$fe" --count "$REOPENS" \
	--seconds "$SECONDS_MAX" --base 4096 --inflight 2>"$T/reopen.err") ||
	fail "blkfront-reopen: $out; $(tail -n 5 "$T/reopen.err"); tapdisk: $(tail -n 5 "$T/tapdisk.log")"
n=$(echo "$out" | sed -n 's/^reopened \([0-9]*\) .*/\1/p')
[ -n "$n" ] && [ "$n" -ge "$MIN_REOPENS" ] || fail "only '$out' (at least $MIN_REOPENS wanted)"
echo "ok: $out, each reading back what the previous connection wrote"
kill -0 "$pid" 2>/dev/null || fail "tapdisk died"
echo "ok: $(grep -c "quiescing before the disconnect" "$T/tapdisk.log") disconnect(s) quiesced in all"

grep -q "reopen" "$T/tapdisk.log" && fail "tapdisk tried to reopen its image: $(grep reopen "$T/tapdisk.log" | head -3)"
echo "ok: the image was never reopened"
state=$("$TAPCTL" list -p "$pid" | sed -n 's/.*state=\([0-9a-fx]*\).*/\1/p')
expect_eq "$state" 0 "the VBD is running, not paused"
xs_wait "$be/state" 6
env $(simxen_guest_env "$dom") "$TBIN/blkfront-reopen" --device "$fe" --count 1 --base 12288 \
	>"$T/out" 2>&1 || fail "a last open after the disconnects: $(cat "$T/out")"
echo "ok: the VBD serves a fresh connection on its open image"
check_sanitizers
