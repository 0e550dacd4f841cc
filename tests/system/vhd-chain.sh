# Snapshot chains three deep with writes at every level, checked against a model through
# vhd-util read, librtvhd and libvhdi; coalescing down the chain; reparenting; raw parents; the
# outputs XAPI's storage manager parses, parsed the way it parses them.
. "$(dirname "$0")/../lib/common.sh"
V=$BIN/vhd-util
IO=$TBIN/vhd-io
PY=/usr/bin/python3
$PY -c 'import pyvhdi' 2>/dev/null || fail "python3-libvhdi missing (tools/install-deps)"
command -v qemu-img >/dev/null || fail "qemu-img missing (qemu-utils)"
MiB=1048576
SIZE=40
cd "$T"

# write LEN bytes of fresh random data at OFF (bytes, 4 KiB-aligned: libvhdi 20210425 misreads
# bitmaps at finer grain) into IMG, and into the model file
put() {
	local img=$1 off=$2 len=$3
	head -c "$len" /dev/urandom >chunk
	"$IO" write "$img" "$off" <chunk || fail "vhd-io write $img $off $len"
	dd if=chunk of=model bs=4096 seek=$((off / 4096)) conv=notrunc status=none
}
# the whole disk through a chain, by three readers
same_as_model() {
	local img=$1 what=$2
	"$V" read -r 0 -c $((SIZE * 2048)) -n "$img" >got || fail "$what: vhd-util read -r"
	cmp -s got model || fail "$what: vhd-util read -r differs from the model"
	"$IO" read "$img" 0 $((SIZE * MiB)) | cmp -s - model || fail "$what: vhd-io read differs"
	shift 2
	$PY - model "$@" <<'PYEOF' || fail "$what: libvhdi reads differently"
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
	echo "ok: $what: chain reads as the model (vhd-util, librtvhd, libvhdi)"
}

head -c $((SIZE * MiB)) /dev/zero >model
expect_rc 0 "create the base" "$V" create -n p.vhd -s $SIZE
put p.vhd 0 $((6 * MiB))
put p.vhd $((30 * MiB)) $((1 * MiB))
expect_rc 0 "hide the base" "$V" set -n p.vhd -f hidden -v 1
expect_rc 0 "snapshot 1" "$V" snapshot -n c1.vhd -p p.vhd
put c1.vhd $((1 * MiB + 8192)) 8192  # partial block over parent data
put c1.vhd $((4 * MiB)) $((2 * MiB)) # a whole block
put c1.vhd $((20 * MiB)) 4096        # where the parent has nothing
same_as_model c1.vhd "two deep" c1.vhd p.vhd
expect_rc 0 "hide snapshot 1" "$V" set -n c1.vhd -f hidden -v 1
expect_rc 0 "snapshot 2" "$V" snapshot -n c2.vhd -p c1.vhd
put c2.vhd $((1 * MiB)) 4096
put c2.vhd $((5 * MiB + 4096)) $((12 * 4096))
put c2.vhd $((39 * MiB)) $((1 * MiB))
c2_sectors=$(((4096 + 12 * 4096 + MiB) / 512))
same_as_model c2.vhd "three deep" c2.vhd c1.vhd p.vhd
for f in p c1 c2; do expect_rc 0 "check $f" "$V" check -p -n $f.vhd; done

# what XAPI's storage manager parses (drivers/vhdutil.py), parsed its way
expect_rc 0 "query -vsafp" "$V" query --debug -vsafp -n c2.vhd
$PY - "$T" "$V" <<'PYEOF' || fail "XAPI-style parsing of query/read/scan"
import os, re, subprocess, sys
T, V = sys.argv[1], sys.argv[2]
def run(*args):
    return subprocess.run([V] + list(args), check=True, capture_output=True, text=True).stdout
fields = run("query", "--debug", "-vsafp", "-n", T + "/c2.vhd").strip().split('\n')
assert int(fields[0]) * 1024 * 1024 == 40 << 20, fields
assert int(fields[1]) == os.path.getsize(T + "/c2.vhd"), fields
assert fields[2] == os.path.realpath(T + "/c1.vhd"), fields
assert int(fields[3].replace("hidden: ", "")) == 0, fields
# getAllocatedSize: query -a times the block size read -pn prints
alloc = int(run("query", "--debug", "-a", "-n", T + "/c2.vhd"))
block = [int(l.split(':')[1].lstrip().split()[0]) for l in run("read", "-pn", T + "/c2.vhd").split('\n')
         if l.lstrip().startswith("Block size")][0]
assert (alloc, block) == (3, 2 << 20), (alloc, block)
# getVHDInfo with -vsaf: allocated follows hidden
f = run("query", "--debug", "-vsaf", "-n", T + "/c1.vhd").strip().split('\n')
assert f[2] == "hidden: 1" and int(f[3]) == 3, f
# getDepth, hasParent, getParent, getMaxResizeSize
assert run("query", "-d", "-n", T + "/c2.vhd").startswith("chain depth: 3")
m = re.match(r".*Disk type\s+: (\S+) hard disk.*", run("read", "--debug", "-p", "-n", T + "/c2.vhd"), flags=re.S)
assert m.group(1) == "Differencing"
m = re.match(r".*Disk type\s+: (\S+) hard disk.*", run("read", "-p", "-n", T + "/p.vhd"), flags=re.S)
assert m.group(1) == "Dynamic"
assert "no parent" in run("query", "-p", "-n", T + "/p.vhd")
assert int(run("query", "-S", "-n", T + "/p.vhd")) == 40
# _getVHDParentNoCheck: the first "decoded name :" line
names = [l.split(':')[1].strip() for l in run("read", "-p", "-n", T + "/c2.vhd").split('\n') if "decoded name :" in l]
assert names and names[0] == "./c1.vhd", names
# scan (getAllVHDs), -c and -a as SM passes them
lines = [l for l in run("scan", "-f", "-c", "-m", T + "/*.vhd").split('\n') if l.strip()]
info = {}
for line in lines:
    kv = dict(x.split('=') for x in line.split())
    info[kv["vhd"]] = kv
assert set(info) == {"p.vhd", "c1.vhd", "c2.vhd"}, info
assert info["c2.vhd"]["parent"] == "c1.vhd" and info["c1.vhd"]["parent"] == "p.vhd"
assert info["p.vhd"]["parent"] == "none" and info["p.vhd"]["hidden"] == "1"
assert int(info["c2.vhd"]["capacity"]) == 40 << 20
assert int(info["c2.vhd"]["size"]) == os.path.getsize(T + "/c2.vhd")
lines = [l for l in run("scan", "-f", "-a", "-m", T + "/c2.vhd").split('\n') if l.strip()]
assert [l.split()[0] for l in lines] == ["vhd=c2.vhd", "vhd=c1.vhd", "vhd=p.vhd"], lines
# read -B: one bit per block, set for allocated ones (blocks 0, 2, 19 in c2)
bits = subprocess.run([V, "read", "-B", "-n", T + "/c2.vhd"], check=True, capture_output=True).stdout
assert bits == bytes([0xa0, 0x00, 0x10]), bits
PYEOF
echo "ok: query, read, scan outputs parse the way XAPI parses them"

# coalesce down the chain, as the garbage collector does
expect_rc 0 "coalesce c2 into c1" "$V" coalesce --debug -n c2.vhd
expect_eq "$(cat "$T/out")" "Coalesced $c2_sectors sectors" "coalesce reports the sectors copied"
expect_rc 0 "check c1 after coalesce" "$V" check -n c1.vhd
same_as_model c1.vhd "c1 holds c2's data" c1.vhd p.vhd
expect_rc 0 "coalesce c1 into p" "$V" coalesce -n c1.vhd
expect_match "$(cat "$T/out")" "^Coalesced [0-9]+ sectors$" "coalesce output"
expect_rc 0 "check p after coalesce" "$V" check -n p.vhd
qemu-img convert -f vpc -O raw p.vhd p.raw
cmp -s p.raw model || fail "the base differs from the model after coalescing everything"
echo "ok: the base alone holds everything (read by qemu-img)"
# then the children move up to the base
expect_rc 0 "reparent c2 onto p" "$V" modify -n c2.vhd -p p.vhd
expect_rc 0 "query -p after reparenting" "$V" query -p -n c2.vhd
expect_eq "$(cat "$T/out")" "$(realpath p.vhd)" "c2's parent is now p"
same_as_model c2.vhd "c2 over p" c2.vhd p.vhd
expect_rc 0 "chain depth" "$V" query -d -n c2.vhd
expect_eq "$(cat "$T/out")" "chain depth: 2" "depth after reparenting"

# snapshot of an empty snapshot links to the first non-empty ancestor unless -e
expect_rc 0 "empty snapshot" "$V" snapshot -n e1.vhd -p p.vhd
expect_rc 0 "snapshot of it" "$V" snapshot -n e2.vhd -p e1.vhd
expect_rc 0 "e2's parent" "$V" query -p -n e2.vhd
expect_eq "$(cat "$T/out")" "$(realpath p.vhd)" "the empty e1 was skipped"
expect_rc 0 "snapshot -e" "$V" snapshot -n e3.vhd -p e1.vhd -e
expect_rc 0 "e3's parent" "$V" query -p -n e3.vhd
expect_eq "$(cat "$T/out")" "$(realpath e1.vhd)" "with -e the named parent is kept"
expect_rc 28 "snapshot depth limit (ENOSPC)" "$V" snapshot -n e4.vhd -p e3.vhd -e -l 3

# a raw parent
head -c $((8 * MiB)) /dev/urandom >raw.img
cp raw.img model
truncate -s $((SIZE * MiB)) model
expect_rc 0 "snapshot of a raw file" "$V" snapshot -n r1.vhd -p raw.img -m
expect_rc 0 "query -v of the raw child" "$V" query -v -n r1.vhd
expect_eq "$(cat "$T/out")" 8 "the child takes the raw parent's size"
SIZE=8
truncate -s $((SIZE * MiB)) model
put r1.vhd $((2 * MiB + 4096)) 65536
"$V" read -r 0 -c $((SIZE * 2048)) -n r1.vhd | cmp -s - model || fail "raw chain read"
echo "ok: reads through a raw parent"
expect_rc 0 "coalesce into the raw parent" "$V" coalesce -n r1.vhd
expect_eq "$(cat "$T/out")" "Coalesced 128 sectors" "sectors into the raw parent"
cmp -s raw.img model || fail "raw parent after coalesce"
echo "ok: the raw parent holds the child's data"
