# Differencing chains served by the vhd driver: a guest's reads fall through the child to the
# parent (and to a raw parent), its writes land in the child only (the parent files' bytes never
# change), partial-block writes keep the parent's other sectors (no copy-up: the child's bitmap
# says which sectors are its own); three deep with writes at every level; libvhdi and vhd-util
# read every chain back as the model the test keeps.
. "$(dirname "$0")/../lib/common.sh"
. "$SRC/tests/lib/simxen.sh"
. "$SRC/tests/lib/vbd.sh"
. "$SRC/tests/lib/blkfront.sh"
. "$SRC/tests/lib/vhdserve.sh"

V=$BIN/vhd-util
IO=$TBIN/vhd-io
PY=/usr/bin/python3
$PY -c 'import pyvhdi' 2>/dev/null || fail "python3-libvhdi missing (tools/install-deps)"
MiB=1048576
SIZE=24
cd "$T"

simxen_start
dom=$(simxen_domain_create guest)
dev=0

# guest TYPE:PATH CMD...: one connection of a guest running blkfront-io CMD... on the image
guest() {
	local image=$1
	shift
	dev=$((dev + 1))
	bf_attach "$dom" "$dev" "$image"
	bf_guest "$dom" "$TBIN/blkfront-io" --device "$(bf_fe "$dom" "$dev")" --order 2 "$@" \
		>"$T/g.out" 2>"$T/g.err" ||
		fail "guest $*: $(tail -3 "$T/g.err") / $(tail -3 "$(vbd_dir "$dom" "$dev")/stderr")"
	served_ok "$dom" "$dev"
}

# gwrite IMG OFF LEN: fresh random data written by the guest at OFF, and into the model
gwrite() {
	local img=$1 off=$2 len=$3
	head -c "$len" /dev/urandom >"chunk.$off"
	guest "vhd:$img" write "$off" "$len" "chunk.$off"
	dd if="chunk.$off" of=model bs=512 seek=$((off / 512)) conv=notrunc status=none
}

# verify WHAT LEAF [PARENTS...]: the guest, vhd-util and libvhdi read the chain as the model
verify() {
	local what=$1 leaf=$2
	shift 2
	guest "vhd:$leaf" read 0 "${SIZE}M" ring.r
	cmp -s ring.r model || fail "$what: the guest reads the chain differently from the model"
	"$V" read -n "$leaf" -r 0 -c $((SIZE * 2048)) >util.r 2>/dev/null ||
		fail "$what: vhd-util read"
	cmp -s util.r model || fail "$what: vhd-util reads the chain differently"
	$PY - model "$leaf" "$@" <<'PYEOF' || fail "$what: libvhdi reads the chain differently"
import pyvhdi, sys
files = []
for path in sys.argv[2:]:
    f = pyvhdi.file()
    f.open(path)
    files.append(f)
for child, parent in zip(files, files[1:]):
    child.set_parent(parent)
assert files[0].read_buffer_at_offset(files[0].get_media_size(), 0) == open(sys.argv[1], 'rb').read()
PYEOF
	echo "ok: $what: guest, vhd-util and libvhdi read the model"
}

# ---- parent with data, child snapshot --------------------------------------------------------
head -c $((SIZE * MiB)) /dev/zero >model
expect_rc 0 "create the parent" "$V" create -n p.vhd -s $SIZE
gwrite p.vhd 0 $((5 * MiB))
gwrite p.vhd $((10 * MiB)) $((2 * MiB))
gwrite p.vhd $((17 * MiB + 4096)) 65536
expect_rc 0 "snapshot" "$V" snapshot -n c.vhd -p p.vhd
psum=$(md5sum <p.vhd)
verify "fresh snapshot (every read from the parent)" c.vhd p.vhd

# child writes: partial blocks over parent data (4 KiB-aligned for libvhdi), a whole block,
# one straddling two blocks, one where the parent has nothing
gwrite c.vhd $((1 * MiB + 8192)) 4096
gwrite c.vhd $((4 * MiB)) $((2 * MiB))
gwrite c.vhd $((10 * MiB - 8192)) 16384
gwrite c.vhd $((20 * MiB)) 12288
expect_eq "$(md5sum <p.vhd)" "$psum" "the parent file is unchanged by the child's writes"
verify "child with partial-block writes" c.vhd p.vhd
expect_rc 0 "vhd-util check of the child" "$V" check -n c.vhd -p

# the child holds only what was written to it: its block 0 bitmap has 8 sectors set
"$V" read -n c.vhd -m 0 >bm0 2>/dev/null || fail "vhd-util read -m 0"
set=$($PY -c "import sys; print(sum(bin(b).count('1') for b in open('bm0','rb').read()))")
expect_eq "$set" 8 "block 0 of the child: 8 sectors its own, the rest the parent's (no copy-up)"

# unaligned sub-page writes in the child: verified by the guest and vhd-util (libvhdi would
# misdecode them), then overwritten 4 KiB-aligned again for the next levels
head -c 1536 /dev/urandom >odd
guest "vhd:c.vhd" write $((2 * MiB + 512)) 1536 odd read $((2 * MiB)) 4096 odd.r
dd if=odd of=model bs=512 seek=$((4096 + 1)) conv=notrunc status=none
cmp -s odd.r <(dd if=model bs=512 skip=4096 count=8 status=none) ||
	fail "a 3-sector child write: the page read back is not parent + write + parent"
"$V" read -n c.vhd -r 4096 -c 8 2>/dev/null | cmp -s - odd.r || fail "vhd-util reads it differently"
echo "ok: a 3-sector child write keeps the parent's sectors around it"
gwrite c.vhd $((2 * MiB)) 4096

# ---- three deep, writes at every level -------------------------------------------------------
expect_rc 0 "snapshot of the child" "$V" snapshot -n g.vhd -p c.vhd
csum=$(md5sum <c.vhd)
gwrite g.vhd $((1 * MiB)) 4096
gwrite g.vhd $((11 * MiB)) $((1 * MiB))
gwrite g.vhd $((23 * MiB)) $((1 * MiB))
expect_eq "$(md5sum <p.vhd)$(md5sum <c.vhd)" "$psum$csum" "parents unchanged by the grandchild"
verify "three deep" g.vhd c.vhd p.vhd

# ---- a raw parent ----------------------------------------------------------------------------
head -c $((SIZE * MiB)) /dev/urandom >base.raw
cp base.raw model
expect_rc 0 "snapshot of a raw file" "$V" snapshot -n r.vhd -p "$T/base.raw" -m
rsum=$(md5sum <base.raw)
gwrite r.vhd $((3 * MiB + 4096)) 8192
gwrite r.vhd $((12 * MiB)) $((3 * MiB))
guest "vhd:r.vhd" read 0 "${SIZE}M" ring.r
cmp -s ring.r model || fail "raw parent: the guest reads the chain differently from the model"
expect_eq "$(md5sum <base.raw)" "$rsum" "the raw parent is unchanged"
echo "ok: raw parent: reads fall through, writes land in the child"

# ---- a missing parent is refused at open, clearly -------------------------------------------
mv p.vhd p.moved
expect_rc 2 "td-serve refuses a chain whose parent is missing" "$TBIN/td-serve" \
	--image "vhd:$T/c.vhd" --domid 1 --ring-ref 8 --port 1
grep -q 'vhd: cannot open' "$T/err" && grep -qi 'p.vhd' "$T/err" ||
	fail "no clear error for the missing parent: $(cat "$T/err")"
echo "ok: missing parent: $(grep 'vhd: cannot open' "$T/err" | head -1)"
mv p.moved p.vhd
