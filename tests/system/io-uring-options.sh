# io_uring's options through the real tapdisk (TAPDISK_IO_ENGINE=io_uring):
# - tapdisk.conf's uring-fixed-buffers = on and uring-batch = 4: while a guest is connected to
#   a VHD chain, each file's ring has the VBD's bounce pool registered (io_uring's fdinfo:
#   UserBufs 1); a pause closes the chain and the unpause's new rings have it again; the
#   guest's data reads back; once the guest has gone, no ring keeps a buffer;
# - TAPDISK_URING_SQPOLL=on: a kernel SQ thread (iou-sqp-*) serves the tapdisk, fio verifies;
# - SQPOLL on a CPU the kernel refuses: one log line for the chain's two files, and the guest's
#   I/O works without it.
. "$(dirname "$0")/../lib/common.sh"
. "$SRC/tests/lib/tapdisk.sh"
. "$SRC/tests/lib/simxen.sh"

V=$BIN/vhd-util
ENGINE=$RINGTAP_BUILD/lib/blkfront.so
need_built "$TAPCTL" "$BIN/tapdisk" "$BIN/tapback" "$ENGINE" "$V"
command -v fio >/dev/null || fail "fio missing (tools/install-deps)"
need_io_uring
tapdisk_env
export TAPDISK_IO_ENGINE=io_uring
cd "$T"
simxen_start
tapback_start
truncate -s 64M raw.img
"$V" create -n p.vhd -s 64 || fail "vhd-util create"
"$V" snapshot -n c.vhd -p p.vhd || fail "vhd-util snapshot"

# ring_bufs PID: the UserBufs count of each of PID's io_uring descriptors, one per line
ring_bufs() {
	local f
	for f in /proc/"$1"/fdinfo/*; do
		[ "$(readlink "/proc/$1/fd/${f##*/}" 2>/dev/null)" = "anon_inode:[io_uring]" ] || continue
		sed -n 's/^UserBufs:[[:space:]]*\([0-9]*\).*/\1/p' "$f"
	done
}
# rings_with_bufs PID N: true when PID has N io_uring rings, each with one registered buffer
rings_with_bufs() { [ "$(ring_bufs "$1" | grep -c '^1$')" = "$2" ] && [ "$(ring_bufs "$1" | wc -l)" = "$2" ]; }
rings_without_bufs() { [ -z "$(ring_bufs "$1" | grep -v '^0$')" ]; }

# fio_start: the guest's fio (8 MiB of random writes, verified) on the VBD, in the background
fio_start() {
	env $(simxen_guest_env "$dom") fio --name=v --ioengine=external:"$ENGINE" \
		--filename="$fe" --rw=randwrite --bsrange=4k-64k --iodepth=8 --offset=4M --size=8M \
		--verify=crc32c --do_verify=1 \
		--output-format=json --output=fio.json &
	fio=$!
}
fio_check() { # WHAT
	wait "$fio" || fail "$1: fio exit $? ($(tail -3 fio.json 2>/dev/null))"
	python3 -c "import json,sys; j=json.load(open('fio.json'))['jobs'][0]; sys.exit(j['error'] or not j['write']['io_bytes'] or not j['read']['io_bytes'])" ||
		fail "$1: fio reported an error, or wrote or verified nothing"
	echo "ok: $1: fio wrote and verified"
}
# vbd_up NAME: a new guest NAME with a VBD on $minor of $pid (connected when its fio opens it)
vbd_up() {
	dom=$(simxen_domain_create "$1")
	tapdisk_vbd "$dom"
}

# ---- fixed buffers and a batch size from tapdisk.conf; pause and unpause --------------------
# the guest (without persistent grants: every segment through the bounce pool) writes and reads
# back 4 MiB, holds the connection while the test pauses and unpauses the VBD, then writes and
# reads back another 4 MiB
printf 'uring-fixed-buffers = on\nuring-batch = 4\n' >uring.conf
head -c 4M /dev/urandom >d1
head -c 4M /dev/urandom >d2
TAPDISK_CONF=$T/uring.conf tapdisk_open "vhd:$T/c.vhd"
grep -q "TAPDISK_URING_FIXED_BUFFERS=on (the configuration file)" "$TAPDISK_LOG_FILE" ||
	fail "tapdisk did not take uring-fixed-buffers from its configuration file"
expect_rc 0 "no buffer registered before a guest connects" rings_without_bufs "$pid"
vbd_up guest1
env $(simxen_guest_env "$dom") "$TBIN/blkfront-io" --device "$fe" --no-persistent \
	write 4M 4M d1 read 4M 4M b1 wait-for go read 4M 4M b1again write 12M 4M d2 read 12M 4M b2 \
	>guest.out 2>&1 &
guest=$!
wait_until 60 "both files' rings have the bounce pool registered" rings_with_bufs "$pid" 2
wait_until 60 "the guest's first write read back" test -s b1
expect_rc 0 "pause" "$TAPCTL" pause -p "$pid" -m "$minor"
expect_eq "$(ring_bufs "$pid" | wc -l)" 0 "paused: the chain's rings are closed"
expect_rc 0 "unpause" "$TAPCTL" unpause -p "$pid" -m "$minor"
wait_until 30 "after the unpause, the new rings have the pool registered" rings_with_bufs "$pid" 2
touch go
wait "$guest" || fail "the guest's I/O failed: $(tail -3 guest.out)"
cmp -s d1 b1 && cmp -s d1 b1again && cmp -s d2 b2 || fail "the guest read back other data"
echo "ok: the guest's data through fixed buffers, before and after the pause"
wait_until 30 "the guest gone, no ring keeps a buffer" rings_without_bufs "$pid"
expect_rc 0 "destroy" "$TAPCTL" destroy -p "$pid" -m "$minor"
expect_rc 0 "the chain checks clean" "$V" check -n c.vhd

# ---- SQPOLL ----------------------------------------------------------------------------------
sq_threads() { cat /proc/"$1"/task/*/comm 2>/dev/null | grep -c '^iou-sqp-' || true; }
has_sq_thread() { [ "$(sq_threads "$1")" -ge 1 ]; }
TAPDISK_URING_SQPOLL=on tapdisk_open "aio:$T/raw.img"
wait_until 30 "a kernel SQ thread serves the tapdisk" has_sq_thread "$pid"
vbd_up guest2
fio_start
fio_check "SQPOLL"
expect_rc 0 "destroy" "$TAPCTL" destroy -p "$pid" -m "$minor"

line='io_uring: the kernel refuses SQPOLL on that CPU: Invalid argument; submitting without it'
mark=$(wc -l <"$TAPDISK_LOG_FILE")
TAPDISK_URING_SQPOLL=on TAPDISK_URING_SQPOLL_CPU=4095 tapdisk_open "vhd:$T/c.vhd"
vbd_up guest3
fio_start
fio_check "SQPOLL refused (CPU 4095)"
expect_eq "$(sq_threads "$pid")" 0 "no SQ thread when the kernel refuses SQPOLL"
expect_eq "$(tail -n +"$((mark + 1))" "$TAPDISK_LOG_FILE" | grep -c "$line" || true)" 1 \
	"one log line saying SQPOLL is refused, for the chain's 2 files"
expect_rc 0 "destroy" "$TAPCTL" destroy -p "$pid" -m "$minor"
expect_rc 0 "the chain checks clean" "$V" check -n c.vhd
check_sanitizers
echo PASS
