# Image locking (QEMU's, on open-file-description locks): a second read-write open of a served
# raw or VHD image, by the same path, a symlink or a hard link, fails with EBUSY (16) naming the
# tapdisk that serves it; read-only openers of a parent share it; a read-write open of another
# VBD's parent is refused; -L off and TAPDISK_IMAGE_LOCKING=off let a second writer through; the
# kernel drops the locks of a tapdisk killed with -9; pause releases the locks and an unpause
# that cannot take them back fails with EBUSY, leaving the VBD paused; QEMU honours the locks
# (same bytes); a writable block device is also claimed (O_EXCL) across device nodes.
. "$(dirname "$0")/../lib/common.sh"
. "$SRC/tests/lib/tapdisk.sh"

V=$BIN/vhd-util
for b in tap-ctl tapdisk vhd-util; do [ -x "$BIN/$b" ] || fail "$b not built"; done
tapdisk_env
cd "$T"

# create ARGS...: tap-ctl create; sets pid and minor of the new VBD
create() {
	expect_rc 0 "create $*" "$TAPCTL" create "$@"
	minor=$(sed 's/.*tapdisk-//' out)
	pid=$("$TAPCTL" list -m "$minor" | sed 's/pid=\([0-9]*\).*/\1/')
	[ -n "$pid" ] || fail "no tapdisk serves minor $minor"
}
# refused WHAT PID MINOR ARGS...: create fails with EBUSY and names tapdisk PID, minor MINOR
refused() {
	local what=$1 hpid=$2 hminor=$3
	shift 3
	expect_rc 16 "$what: EBUSY" "$TAPCTL" create "$@"
	grep -q "is in use by tapdisk pid $hpid minor $hminor (" err ||
		fail "$what: the message does not name tapdisk $hpid minor $hminor: $(cat err)"
}
# gone PID: the process has exited (a zombie counts: its descriptors, and locks, are gone)
gone() {
	local st
	st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || st=""
	[ -z "$st" ] || [ "$st" = Z ]
}
destroy() { expect_rc 0 "destroy minor $2" "$TAPCTL" destroy -p "$1" -m "$2"; }
nvbds() { "$TAPCTL" list | grep -c "args=" || true; }

# ---- raw images: same path, symlink, hard link, bind mount ----------------------------------
truncate -s 8M raw.img
ln -s raw.img raw.sym
ln raw.img raw.hard
create -a "aio:$T/raw.img"
rpid=$pid rminor=$minor
refused "second open of raw.img" "$rpid" "$rminor" -a "aio:$T/raw.img"
grep -q "aio:$T/raw.img is in use by tapdisk pid $rpid minor $rminor (it has $T/raw.img open read-write)" err ||
	fail "the message: $(cat err)"
refused "open by a symlink" "$rpid" "$rminor" -a "aio:$T/raw.sym"
refused "open by a hard link" "$rpid" "$rminor" -a "aio:$T/raw.hard"
refused "read-only open of a written image" "$rpid" "$rminor" -R -a "aio:$T/raw.img"
refused "-L on" "$rpid" "$rminor" -L on -a "aio:$T/raw.img"
mkdir bind
if mount --bind "$T" bind 2>/dev/null; then
	at_exit "umount '$T/bind' 2>/dev/null"
	refused "open through a bind mount" "$rpid" "$rminor" -a "aio:$T/bind/raw.img"
	umount bind
else
	echo "(no bind mount here: skipped that case)"
fi
expect_eq "$(nvbds)" 1 "the refused creates left no VBD behind"

# QEMU takes the same bytes: it cannot write the served image, and may read it (as vhd-util)
if command -v qemu-io >/dev/null; then
	expect_rc 1 "qemu-io cannot open the served image read-write" \
		qemu-io -f raw -c "write 0 512" raw.img
	grep -q 'Failed to get "write" lock' err || fail "qemu-io: $(cat err)"
fi

# ---- opting out --------------------------------------------------------------------------
expect_rc 22 "-L with a bad mode" "$TAPCTL" create -L maybe -a "aio:$T/raw.img"
grep -q "expected on, off or auto" err || fail "-L maybe: $(cat err)"
create -L off -a "aio:$T/raw.img"
echo "ok: -L off lets a second writer in (unsafe, as documented)"
destroy "$pid" "$minor"
TAPDISK_IMAGE_LOCKING=off create -a "aio:$T/raw.hard"
echo "ok: TAPDISK_IMAGE_LOCKING=off is tapdisk's default when -L is not given"
destroy "$pid" "$minor"
TAPDISK_IMAGE_LOCKING=off refused "-L on beats the environment" "$rpid" "$rminor" \
	-L on -a "aio:$T/raw.img"
TAPDISK_IMAGE_LOCKING=sometimes expect_rc 22 "a bad TAPDISK_IMAGE_LOCKING" \
	"$TAPCTL" create -a "aio:$T/raw.img"
grep -q "TAPDISK_IMAGE_LOCKING=sometimes: expected on, off or auto" err || fail "$(cat err)"

# ---- kill -9: the kernel drops the holder's locks --------------------------------------------
kill -9 "$rpid"
wait_until 20 "tapdisk $rpid gone after kill -9" gone "$rpid"
create -a "aio:$T/raw.img"
echo "ok: after kill -9 of the holder, a new open succeeds"
destroy "$pid" "$minor"

# ---- VHD: leaf exclusive, parents shared -------------------------------------------------
"$V" create -n base.vhd -s 16 || fail "vhd-util create"
"$V" snapshot -n a.vhd -p base.vhd || fail "snapshot a"
"$V" snapshot -n b.vhd -p base.vhd || fail "snapshot b"
ln -s a.vhd a.sym
ln a.vhd a.hard
create -a "vhd:$T/a.vhd"
apid=$pid aminor=$minor
refused "second open of a VHD leaf" "$apid" "$aminor" -a "vhd:$T/a.vhd"
refused "a VHD leaf by a symlink" "$apid" "$aminor" -a "vhd:$T/a.sym"
refused "a VHD leaf by a hard link" "$apid" "$aminor" -a "vhd:$T/a.hard"
create -a "vhd:$T/b.vhd"
bpid=$pid bminor=$minor
echo "ok: two leaves share their parent"
create -R -a "vhd:$T/base.vhd"
ropid=$pid rominor=$minor
echo "ok: a read-only VBD of the parent shares it too"
expect_rc 16 "read-write open of other VBDs' parent: EBUSY" "$TAPCTL" create -a "vhd:$T/base.vhd"
grep -Eq "vhd:$T/base.vhd is in use by tapdisk pid ($apid|$bpid|$ropid) minor [0-9]+ \(it has $T/base.vhd open read-only" err ||
	fail "the parent's holder: $(cat err)"
# a new child of the served leaf (-e: even though it is empty): its parent is written
"$V" snapshot -n c.vhd -p a.vhd -e || fail "snapshot c"
refused "a child of a served leaf (its parent is written)" "$apid" "$aminor" -a "vhd:$T/c.vhd"
expect_rc 0 "vhd-util query of the served leaf" "$V" query -vsaf -n a.vhd
expect_rc 0 "vhd-util check of the shared parent" "$V" check -n base.vhd
destroy "$ropid" "$rominor"
destroy "$bpid" "$bminor"

# ---- pause releases, unpause relocks (or fails, staying paused) ------------------------------
expect_rc 0 "pause a.vhd's VBD" "$TAPCTL" pause -p "$apid" -m "$aminor"
create -a "vhd:$T/a.vhd"
opid=$pid ominor=$minor
echo "ok: a paused VBD holds no lock"
expect_rc 16 "unpause while another tapdisk has the leaf: EBUSY" \
	"$TAPCTL" unpause -p "$apid" -m "$aminor"
grep -q "vhd:$T/a.vhd is in use by tapdisk pid $opid minor $ominor (" err ||
	fail "unpause's message: $(cat err)"
state=$("$TAPCTL" list -m "$aminor" | sed 's/.*state=\([0-9a-fx]*\).*/\1/')
(((state & 0x20) != 0)) || fail "the VBD is not paused after the failed unpause (state $state)"
echo "ok: the VBD stays paused (state $state)"
destroy "$opid" "$ominor"
expect_rc 0 "unpause once the other tapdisk is gone" "$TAPCTL" unpause -p "$apid" -m "$aminor"
refused "the unpaused VBD holds its lock again" "$apid" "$aminor" -a "vhd:$T/a.vhd"
# -L off is the VBD's across pause/unpause; -L on at unpause takes it back
expect_rc 0 "pause" "$TAPCTL" pause -p "$apid" -m "$aminor"
expect_rc 0 "unpause -L off" "$TAPCTL" unpause -p "$apid" -m "$aminor" -L off
create -a "vhd:$T/a.vhd"
echo "ok: after unpause -L off the VBD holds no lock"
expect_rc 0 "pause again" "$TAPCTL" pause -p "$apid" -m "$aminor"
expect_rc 0 "unpause without -L: still off" "$TAPCTL" unpause -p "$apid" -m "$aminor"
destroy "$pid" "$minor"
expect_rc 0 "pause" "$TAPCTL" pause -p "$apid" -m "$aminor"
expect_rc 0 "unpause -L on" "$TAPCTL" unpause -p "$apid" -m "$aminor" -L on
refused "after unpause -L on the VBD locks again" "$apid" "$aminor" -a "vhd:$T/a.vhd"
destroy "$apid" "$aminor"
expect_rc 0 "vhd-util check a.vhd" "$V" check -n a.vhd

# ---- a block device: O_EXCL claim across device nodes ------------------------------------
if command -v losetup >/dev/null && dev=$(losetup -f --show raw.img 2>/dev/null); then
	at_exit "losetup -d $dev"
	create -a "aio:$dev"
	dpid=$pid dminor=$minor
	refused "second open of the device" "$dpid" "$dminor" -a "aio:$dev"
	mknod node b "$(stat -c '0x%t' "$dev")" "$(stat -c '0x%T' "$dev")"
	refused "another node of the same device (the kernel's exclusive claim)" "$dpid" "$dminor" \
		-a "aio:$T/node"
	grep -q "open read-write" err || fail "the claim's holder: $(cat err)"
	destroy "$dpid" "$dminor"
	create -a "aio:$T/node"
	echo "ok: once closed, the device opens by its other node"
	destroy "$pid" "$minor"
else
	echo "(no loop device here: skipped the block device case)"
fi
expect_eq "$(nvbds)" 0 "nothing left served"
check_sanitizers
