# VHDs and foreign readers/writers: qemu-img's fixed and dynamic images are read by vhd-util
# with the right size and contents; images vhd-util creates and librtvhd writes read back
# identically through qemu-img (always -f vpc) and libvhdi.
. "$(dirname "$0")/../lib/common.sh"
V=$BIN/vhd-util
IO=$TBIN/vhd-io
PY=/usr/bin/python3
command -v qemu-img >/dev/null || fail "qemu-img missing (tools/install-deps installs qemu-utils)"
command -v qemu-io >/dev/null || fail "qemu-io missing (qemu-utils)"
command -v vhdiinfo >/dev/null || fail "vhdiinfo missing (libvhdi-utils)"
$PY -c 'import pyvhdi' 2>/dev/null || fail "python3-libvhdi missing"
MiB=1048576

# 1. qemu's images: sizes, allocation, contents
for sub in dynamic fixed; do
	img=$T/q-$sub.vhd
	qemu-img create -q -f vpc -o subformat=$sub "$img" 100M
	qemu-io -f vpc -c "write -P 0xa5 3M 1M" -c "write -P 0x3c 7680k 512k" "$img" >/dev/null
	expect_rc 0 "check of qemu's $sub image" "$V" check -n "$img"
	expect_rc 0 "query of qemu's $sub image" "$V" query -v -s -f -a -n "$img"
	mapfile -t q <"$T/out"
	# qemu sizes its images by CHS: 100M becomes 1004 cyl x 12 heads x 17 sectors
	expect_eq "${q[0]}" 100 "$sub: virtual size in MiB"
	expect_eq "${q[2]}" "hidden: 0" "$sub: hidden"
	footer_size=$(od -An -tx1 -j $(($(stat -c %s "$img") - 512 + 48)) -N8 "$img" | tr -d ' \n')
	expect_eq "$footer_size" "0000000006402000" "$sub: qemu wrote the CHS size in the footer"
	expect_rc 0 "scan of qemu's $sub image" "$V" scan -f -m "$img"
	expect_eq "$(cat "$T/out")" \
		"vhd=q-$sub.vhd capacity=104865792 size=$(stat -c %s "$img") hidden=0 parent=none" \
		"$sub: scan line"
	if [ $sub = dynamic ]; then
		expect_eq "${q[3]}" 2 "dynamic: allocated blocks (3M-4M, 7.5M-8M: blocks 1 and 3)"
		expect_eq "${q[1]}" "$(stat -c %s "$img")" "dynamic: physical size is the file size"
	fi
	"$IO" read "$img" 0 $((10 * MiB)) >"$T/ours"
	qemu-img convert -f vpc -O raw "$img" "$T/theirs"
	cmp -s "$T/ours" <(head -c $((10 * MiB)) "$T/theirs") || fail "$sub: contents differ from qemu's"
	echo "ok: $sub: contents as qemu reads them"
	expect_eq "$(od -An -tx1 -j $((3 * MiB)) -N1 "$T/ours" | tr -d ' ')" a5 "$sub: written byte"
done

# 2. our images, written by librtvhd, read by qemu and libvhdi
head -c $((5 * MiB)) /dev/urandom >"$T/data"
expect_rc 0 "create dynamic" "$V" create -n "$T/d.vhd" -s 64
expect_rc 0 "create fixed (preallocated)" "$V" create -n "$T/f.vhd" -s 64 -r
for img in d f; do
	"$IO" write "$T/$img.vhd" $((3 * MiB + 4096)) <"$T/data" || fail "vhd-io write $img"
	"$IO" write "$T/$img.vhd" $((60 * MiB)) < <(head -c 512 "$T/data") || fail "vhd-io write $img"
	expect_rc 0 "check $img after writes" "$V" check -n "$T/$img.vhd"
	head -c $((64 * MiB)) /dev/zero >"$T/expect"
	dd if="$T/data" of="$T/expect" bs=4096 seek=$((3 * 256 + 1)) conv=notrunc status=none
	dd if="$T/data" of="$T/expect" bs=512 count=1 seek=$((60 * 2048)) conv=notrunc status=none
	qemu-img convert -f vpc -O raw "$T/$img.vhd" "$T/qraw"
	cmp -s "$T/qraw" "$T/expect" || fail "$img: qemu-img reads different bytes"
	echo "ok: $img: qemu-img convert -f vpc reads back what was written"
	vsize=$(qemu-img info -f vpc --output=json "$T/$img.vhd" | $PY -c 'import json,sys; print(json.load(sys.stdin)["virtual-size"])')
	expect_eq "$vsize" $((64 * MiB)) "$img: qemu's virtual size"
	# qemu 7.2 cannot check vpc images ("does not support checks", exit 63): nothing to run
	$PY - "$T/$img.vhd" "$T/expect" <<'PYEOF' || fail "$img: libvhdi reads different bytes"
import pyvhdi, sys
f = pyvhdi.file()
f.open(sys.argv[1])
assert f.get_media_size() == 64 << 20, f.get_media_size()
assert f.read_buffer_at_offset(64 << 20, 0) == open(sys.argv[2], 'rb').read()
PYEOF
	echo "ok: $img: libvhdi reads back what was written"
	vhdiinfo "$T/$img.vhd" >"$T/info" || fail "vhdiinfo $img"
	expect_match "$(cat "$T/info")" "Media size.*67108864 bytes" "$img: vhdiinfo size"
done
# the data areas of allocated blocks are 4 KiB-aligned
"$V" read -b 0 -c 32 -n "$T/d.vhd" >"$T/bat"
while read -r _ blk _ off; do
	[ "$off" = "not allocated" ] && continue
	[ $(((off + 512) % 4096)) -eq 0 ] || fail "block $blk data at $((off + 512)) is not 4 KiB-aligned"
done < <(sed 's/://g' "$T/bat")
echo "ok: data areas are 4 KiB-aligned"
# the footer fields blktap writes
expect_rc 0 "read -p" "$V" read -p -n "$T/d.vhd"
expect_match "$(cat "$T/out")" "Creator Application : 'tap'" "creator tap"
expect_match "$(cat "$T/out")" "Creator version     : Major: 1, Minor: 3" "creator version 1.3"
expect_match "$(cat "$T/out")" "Creator OS          : Windows" "creator host Wi2k"
expect_match "$(cat "$T/out")" "Block size          : 2097152 \(2 MB\)" "2 MiB blocks"
expect_match "$(cat "$T/out")" "Batmap version      : 0x00010002" "tdbatmap 1.2"
