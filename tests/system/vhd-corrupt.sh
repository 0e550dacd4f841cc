# Damaged VHDs: every kind of corruption the library refuses makes vhd-util check fail with a
# clear message and an errno exit code, and no sub-command crashes on them (run it under
# `make check SANITIZE=1` for ASan/UBSan). Lost trailing footers are repaired.
. "$(dirname "$0")/../lib/common.sh"
V=$BIN/vhd-util
IO=$TBIN/vhd-io
MiB=1048576
cd "$T"

# a small tool to damage files precisely, recomputing checksums where asked
cat >patch.py <<'PYEOF'
import struct, sys
path, what = sys.argv[1], sys.argv[2]
b = bytearray(open(path, 'rb').read())
def csum(buf, off):
    return (~(sum(buf) - sum(buf[off:off + 4]))) & 0xffffffff
def fix_header():
    h = b[512:1536]
    struct.pack_into('>I', b, 512 + 36, csum(h, 36))
def fix_footers():
    for at in (0, len(b) - 512):
        struct.pack_into('>I', b, at + 64, csum(b[at:at + 512], 64))
if what == 'bat':
    struct.pack_into('>I', b, 1536 + 4 * int(sys.argv[3]), int(sys.argv[4], 0))
elif what == 'header32':
    struct.pack_into('>I', b, 512 + int(sys.argv[3]), int(sys.argv[4], 0)); fix_header()
elif what == 'footers64':
    for at in (0, len(b) - 512):
        struct.pack_into('>Q', b, at + int(sys.argv[3]), int(sys.argv[4], 0))
    fix_footers()
elif what == 'byte':
    at = int(sys.argv[3]); at = at if at >= 0 else len(b) + at
    b[at] ^= 0xff
elif what == 'batmapbit':
    max_bat = struct.unpack_from('>I', b, 512 + 28)[0]
    hdr = 1536 + ((max_bat * 4 + 511) // 512) * 512
    off = struct.unpack_from('>Q', b, hdr + 8)[0]
    blk = int(sys.argv[3]); b[off + blk // 8] |= 0x80 >> (blk % 8)
    size = struct.unpack_from('>Q', b, 48)[0]
    n = max(1, ((size >> 24) + 511) // 512) * 512
    struct.pack_into('>I', b, hdr + 24, (~sum(b[off:off + n])) & 0xffffffff)
elif what == 'locators':  # replace a name in the locator data, UTF-8 and UTF-16LE
    old, new = sys.argv[3], sys.argv[4]
    assert len(old) == len(new)
    for o, n in ((old.encode(), new.encode()), (old.encode('utf-16-le'), new.encode('utf-16-le'))):
        b[1536:] = b[1536:].replace(o, n)
open(path, 'wb').write(b)
PYEOF
patch() { python3 patch.py "$@" || fail "patch $*"; }

# a good dynamic disk: blocks 0 (half written) and 1 (full)
"$V" create -n good.vhd -s 16 || fail "create"
head -c $((3 * MiB)) /dev/urandom >data
"$IO" write good.vhd $((MiB)) <data || fail "write"
expect_rc 0 "the good disk checks" "$V" check -n good.vhd
expect_match "$(cat "$T/out")" "good.vhd is valid" "check says valid"


# damage NAME ERRNO MESSAGE-REGEX [check options]: check fails with that errno and says so;
# the other sub-commands survive the file
damaged() {
	local f=$1 rc=$2 msg=$3
	shift 3
	expect_rc "$rc" "check refuses $f" "$V" check -n "$f" "$@"
	expect_match "$(cat "$T/err")" "$msg" "$f: the message says why"
	for cmd in "query -vsafpdS" "read -p -B" "scan -c -f -m" "coalesce -n" "repair -n" "set -f hidden -v 1 -n" "resize -f -s 64 -n" "modify -z -n"; do
		local out st=0
		out=$("$V" $cmd "$f" 2>&1 >/dev/null) || st=$?
		[ $st -lt 128 ] || fail "vhd-util $cmd $f died (status $st): $out"
		[[ $out != *Sanitizer* && $out != *"runtime error"* ]] || fail "vhd-util $cmd $f: $out"
	done
	echo "ok: $f: no sub-command crashes"
}

cp good.vhd truncated.vhd
truncate -s -$MiB truncated.vhd
damaged truncated.vhd 22 "block at byte [0-9]+ extends past the end of the file"
: >empty.vhd
damaged empty.vhd 22 "file too small to be a VHD"
head -c 65536 /dev/urandom >junk.vhd
damaged junk.vhd 22 "not a valid VHD: bad footer cookie"
cp good.vhd bad-checksums.vhd
patch bad-checksums.vhd byte 100
patch bad-checksums.vhd byte -412
damaged bad-checksums.vhd 22 "footer checksum mismatch"
cp good.vhd bad-header.vhd
patch bad-header.vhd byte 1000
damaged bad-header.vhd 22 "dynamic header checksum mismatch"
cp good.vhd bat-past-eof.vhd
patch bat-past-eof.vhd bat 1 0x00800000
damaged bat-past-eof.vhd 22 "BAT entry 1: block at byte 4294967296 extends past the end"
cp good.vhd bat-overlap.vhd
patch bat-overlap.vhd bat 2 15 # inside block 0 (sector 7)
damaged bat-overlap.vhd 22 "point to overlapping blocks"
cp good.vhd bat-on-header.vhd
patch bat-on-header.vhd bat 0 1
damaged bat-on-header.vhd 22 "block at byte 512 overlaps the dynamic header"
cp good.vhd block-size.vhd
patch block-size.vhd header32 32 0x40000000
damaged block-size.vhd 22 "block size is not a power of two between 512 B and 256 MiB"
cp good.vhd huge-bat.vhd
patch huge-bat.vhd header32 28 0xffffffff
damaged huge-bat.vhd 22 "BAT has more than 4194304 entries"
cp good.vhd huge-size.vhd
patch huge-size.vhd footers64 48 $((16 << 40))
damaged huge-size.vhd 22 "virtual size exceeds 2 TiB"
cp good.vhd batmap.vhd
patch batmap.vhd byte 2560
damaged batmap.vhd 22 "batmap checksum mismatch"
cp good.vhd batmap-lies.vhd
patch batmap-lies.vhd batmapbit 0
damaged batmap-lies.vhd 22 "batmap marks block 0 full but its sector bitmap is not"
expect_rc 0 "check -B does not read bitmaps" "$V" check -B -n batmap-lies.vhd

# parents: a loop, a missing parent, a stranger in the parent's place
"$V" create -n p1.vhd -s 16 || fail "create p1"
"$V" snapshot -n c1.vhd -p p1.vhd || fail "snapshot c1"
"$V" snapshot -n p2.vhd -p c1.vhd -e || fail "snapshot p2"
patch c1.vhd locators p1.vhd p2.vhd # now c1 -> p2 -> c1
damaged p2.vhd 40 "parent loop"
expect_rc 40 "query -d on the loop is ELOOP" "$V" query -d -n p2.vhd
"$V" create -n gone.vhd -s 16 || fail "create gone"
"$V" snapshot -n orphan.vhd -p gone.vhd || fail "snapshot orphan"
rm gone.vhd
expect_rc 0 "check without -p accepts an absent parent (an LV not active)" "$V" check -n orphan.vhd
damaged orphan.vhd 2 "parent ./gone.vhd not found" -p
"$V" create -n gone.vhd -s 16 || fail "create the stranger"
damaged orphan.vhd 22 "has a different UUID than recorded"

# a crash lost the trailing footer: the copy at offset 0 stands in; repair rewrites it
cp good.vhd lost-footer.vhd
truncate -s -300 lost-footer.vhd
expect_rc 22 "check notices the lost footer" "$V" check -n lost-footer.vhd
expect_match "$(cat "$T/err")" "missing or invalid.*repair" "and suggests repair"
expect_rc 0 "check -i accepts it" "$V" check -i -n lost-footer.vhd
expect_rc 0 "query works from the copy" "$V" query -v -n lost-footer.vhd
expect_eq "$(cat "$T/out")" 16 "size from the copy"
expect_rc 0 "repair" "$V" repair -n lost-footer.vhd
expect_rc 0 "check after repair" "$V" check -n lost-footer.vhd
cmp -s lost-footer.vhd good.vhd || fail "the repaired file differs from the original"
echo "ok: repair restored the file byte for byte"
