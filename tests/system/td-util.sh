# td-util as XAPI's FileSR/EXTSR/NFSSR run it (libs/sm/drivers/FileSR.py: _create, _snap,
# _query_v, _query_p_uuid, _query_info; facts in our own words): create, a snapshot taken the
# way FileSR takes one (hard link, snapshot under a temporary name, rename), queries parsed as
# FileSR parses them, the images checked by vhd-util and the data read back through the chain;
# query -b reads the footer copy; raw ("aio") images; hostile command lines.
. "$(dirname "$0")/../lib/common.sh"
TD=$BIN/td-util
V=$BIN/vhd-util
[ -x "$TD" ] || fail "td-util not built"
MiB=1048576
SR=$T/sr
mkdir "$SR"
cd "$SR" # FileSR runs td-util from the SR directory (parent names may be relative)
u() { python3 -c 'import uuid; print(uuid.uuid4())'; }

# ---- FileSR._create and _query_v -----------------------------------------------------------
vdi=$(u)
expect_rc 0 "td-util create vhd MiB PATH" "$TD" create vhd 100 "$SR/$vdi.vhd"
expect_rc 0 "check of the new image" "$V" check -n "$SR/$vdi.vhd"
expect_rc 0 "td-util query vhd -v" "$TD" query vhd -v "$SR/$vdi.vhd"
expect_eq "$(($(cat "$T/out") * MiB))" "$((100 * MiB))" "_query_v: int(stdout) MiB"
head -c $((3 * MiB)) /dev/urandom >"$T/data"
"$TBIN/vhd-io" write "$SR/$vdi.vhd" $((5 * MiB)) <"$T/data" || fail "vhd-io write"

# ---- FileSR._snapshot (SNAPSHOT_DOUBLE): link src to the new parent, snapshot under a temporary
#      name with the parent named relative to the SR, rename over src, the clone too ----------
base=$(u) clone=$(u)
src=$SR/$vdi.vhd
ln "$src" "$SR/$base.vhd"
expect_rc 0 "td-util snapshot vhd TMP PARENT (relative parent name)" \
	"$TD" snapshot vhd "$src.new" "$base.vhd"
mv "$src.new" "$src"
expect_rc 0 "td-util snapshot vhd CLONE PARENT" "$TD" snapshot vhd "$SR/$clone.vhd" "$base.vhd"
expect_rc 0 "vhd-util set hidden (FileSR._mark_hidden)" "$V" set --debug -n "$SR/$base.vhd" -f hidden -v 1
for f in "$vdi" "$clone" "$base"; do
	expect_rc 0 "check $f" "$V" check -n "$SR/$f.vhd"
done
# _query_p_uuid: drop the newline, last path component, ".vhd" removed
expect_rc 0 "td-util query vhd -p" "$TD" query vhd -p "$src"
expect_eq "$(python3 -c 'import sys; p=open(sys.argv[1]).read()[:-1]; print(p.split("/")[-1].replace(".vhd", ""))' "$T/out")" \
	"$base" "_query_p_uuid: the new parent's uuid"
expect_rc 0 "td-util query vhd -p of the base" "$TD" query vhd -p "$SR/$base.vhd"
expect_eq "$(cat "$T/out")" "$SR/$base.vhd has no parent" "the base has no parent"
# _query_info(use_bkp_footer=True): size, parent uuid (if it is one), hidden
query_info() {
	python3 - "$@" <<'PY'
import re, sys
txt = open(sys.argv[1]).read().split("\n")
lst = [txt[1].split("/")[-1].replace(".vhd", "")]
parent = [v for v in lst if re.match(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", v)]
print(txt[0], parent[0] if parent else "-", txt[2].split()[1])
PY
}
expect_rc 0 "td-util query vhd -vpfb (the leaf)" "$TD" query vhd -vpfb "$src"
expect_eq "$(query_info "$T/out")" "100 $base 0" "_query_info of the leaf: size, parent, hidden"
expect_rc 0 "td-util query vhd -vpfb (the base)" "$TD" query vhd -vpfb "$SR/$base.vhd"
expect_eq "$(query_info "$T/out")" "100 - 1" "_query_info of the base: no parent, hidden"
expect_rc 0 "td-util query vhd -vpfd" "$TD" query vhd -vpfd "$SR/$clone.vhd"
expect_eq "$(tail -n1 "$T/out")" "chain depth: 2" "-d: chain depth"
"$TBIN/vhd-io" read "$src" $((5 * MiB)) $((3 * MiB)) | cmp -s - "$T/data" ||
	fail "the leaf does not read the data its parent holds"
"$TBIN/vhd-io" read "$SR/$clone.vhd" $((5 * MiB)) $((3 * MiB)) | cmp -s - "$T/data" ||
	fail "the clone does not read the data its parent holds"
echo "ok: both children read the parent's data"
expect_rc 0 "td-util set vhd FILE hidden 0" "$TD" set vhd "$SR/$base.vhd" hidden 0
expect_rc 0 "td-util query vhd -f" "$TD" query vhd -f "$SR/$base.vhd"
expect_eq "$(cat "$T/out")" "hidden: 0" "set cleared the hidden flag"

# ---- snapshot of an empty snapshot links to the non-empty ancestor; -l limits the depth ------
expect_rc 0 "snapshot of an empty leaf" "$TD" snapshot vhd "$SR/s2.vhd" "$SR/$clone.vhd"
expect_rc 0 "its parent" "$TD" query vhd -p "$SR/s2.vhd"
expect_eq "$(cat "$T/out")" "$SR/$base.vhd" "the empty parent is skipped, as vhd-util snapshot does"
expect_rc 28 "snapshot -l 1 beyond the limit is ENOSPC" "$TD" snapshot vhd -l 1 "$SR/s3.vhd" "$src"
expect_eq "$(cat "$T/out")" "snapshot depth exceeded: current depth: 1, limit: 1" "the reason on stdout"
[ ! -e "$SR/s3.vhd" ] || fail "a refused snapshot left a file"

# ---- query -b: the footer copy at offset 0 (the end of a file in use may be data) -----------
# make the copy say hidden=1 while the trailing footer says 0
python3 - "$SR/$clone.vhd" <<'PY'
import struct, sys
with open(sys.argv[1], "r+b") as f:
    b = bytearray(f.read(512))
    b[85] = 1
    b[64:68] = b"\0\0\0\0"
    b[64:68] = struct.pack(">I", ~sum(b) & 0xffffffff)
    f.seek(0)
    f.write(b)
PY
expect_rc 0 "query -f reads the trailing footer" "$TD" query vhd -f "$SR/$clone.vhd"
expect_eq "$(cat "$T/out")" "hidden: 0" "trailing footer: hidden 0"
expect_rc 0 "query -fb reads the copy" "$TD" query vhd -fb "$SR/$clone.vhd"
expect_eq "$(cat "$T/out")" "hidden: 1" "footer copy: hidden 1"
# a trailing footer overwritten (a block written where it was): -b still answers
printf 'garbage%.0s' $(seq 80) | dd of="$SR/$clone.vhd" bs=512 count=1 conv=notrunc \
	seek=$(($(stat -c %s "$SR/$clone.vhd") / 512 - 1)) status=none
expect_rc 0 "query -vpfb with the trailing footer gone" "$TD" query vhd -vpfb "$SR/$clone.vhd"
expect_eq "$(query_info "$T/out")" "100 $base 1" "_query_info from the copy"

# ---- raw images ("aio") ----------------------------------------------------------------------
expect_rc 22 "create aio without -r (blktap: cannot create sparse)" "$TD" create aio 4 "$SR/r.raw"
expect_rc 0 "create aio -r" "$TD" create aio -r 4 "$SR/r.raw"
expect_eq "$(stat -c %s "$SR/r.raw")" "$((4 * MiB))" "the raw file's size"
expect_rc 0 "query aio -vpf" "$TD" query aio -vpf "$SR/r.raw"
expect_eq "$(tr '\n' '|' <"$T/out")" "4|$SR/r.raw has no parent|hidden: 0|" "raw: size, no parent, not hidden"
expect_rc 22 "snapshot aio is refused" "$TD" snapshot aio "$SR/x" "$SR/r.raw"

# ---- 2 TiB, as vhd-util ------------------------------------------------------------------------
expect_rc 0 "create vhd 2097152 (2 TiB)" "$TD" create vhd 2097152 "$SR/big.vhd"
expect_rc 0 "check of the 2 TiB image" "$V" check -n "$SR/big.vhd"
expect_rc 22 "create vhd 2097153" "$TD" create vhd 2097153 "$SR/bigger.vhd"

# ---- the command line: --help, errors named on stderr with nothing on stdout ----------------
expect_rc 0 "td-util --help" "$TD" --help
expect_match "$(cat "$T/out")" "Usage: td-util" "--help prints the usage"
expect_rc 0 "td-util query vhd --help" "$TD" query vhd --help
expect_match "$(cat "$T/out")" "Usage: td-util query" "a command's --help"
bad() { # bad RC WHAT ARGS...: exit RC, a message on stderr, nothing on stdout
	local rc=$1 what=$2
	shift 2
	expect_rc "$rc" "$what" "$TD" "$@"
	[ -s "$T/err" ] || fail "$what: no message on stderr"
	[ ! -s "$T/out" ] || fail "$what: printed to stdout: $(cat "$T/out")"
}
bad 22 "no arguments" 
bad 22 "an unknown option" --bogus
bad 22 "an unknown command" frobnicate vhd x
bad 22 "no type" query
bad 22 "an unknown type" query qcow2 "$src"
bad 22 "an unknown query option" query vhd -Z "$src"
bad 22 "a missing operand" snapshot vhd "$SR/only.vhd"
bad 22 "an extra operand" query vhd -v "$src" "$src"
bad 22 "a size that is not a number" create vhd 12x "$SR/n.vhd"
bad 22 "a negative size" create vhd -- -5 "$SR/n.vhd"
bad 22 "a size past 64 bits" create vhd 99999999999999999999999 "$SR/n.vhd"
bad 22 "a size of 0" create vhd 0 "$SR/n.vhd"
bad 17 "create over an existing file (EEXIST)" create vhd 8 "$src"
bad 2 "snapshot of a missing parent (ENOENT)" snapshot vhd "$SR/n.vhd" "$SR/nope.vhd"
bad 22 "a bad depth limit" snapshot vhd -l x "$SR/n.vhd" "$src"
bad 22 "set of an unknown field" set vhd "$src" colour 1
bad 22 "set hidden 2" set vhd "$src" hidden 2
bad 22 "a type name of 4 KiB" query "$(head -c 4096 /dev/zero | tr '\0' v)" "$src"
bad 22 "query of a non-VHD" query vhd -v "$SR/r.raw"
[ ! -e "$SR/n.vhd" ] || fail "a refused command left a file"
cmp -s <("$TBIN/vhd-io" read "$src" $((5 * MiB)) $((3 * MiB))) "$T/data" ||
	fail "a refused command changed the leaf"
echo "ok: the leaf is untouched"
