# The vhd image driver behind td-serve, a guest on simxen: writes into a dynamic VHD (fio with
# crc32c verification, and blkfront-io at block-straddling, partial-block and unaligned offsets)
# read back through the ring and through `qemu-img convert -f vpc -O raw` against a model of the
# disk; images qemu-img created (dynamic and fixed) are served with their size and contents;
# flush makes the metadata durable (trailing footer and batmap valid after kill -9).
. "$(dirname "$0")/../lib/common.sh"
. "$SRC/tests/lib/simxen.sh"
. "$SRC/tests/lib/vbd.sh"
. "$SRC/tests/lib/blkfront.sh"
. "$SRC/tests/lib/vhdserve.sh"

V=$BIN/vhd-util
ENGINE=$RINGTAP_BUILD/lib/blkfront.so
command -v qemu-img >/dev/null || fail "qemu-img missing (tools/install-deps installs qemu-utils)"
command -v qemu-io >/dev/null || fail "qemu-io missing (qemu-utils)"
command -v fio >/dev/null || fail "fio missing (tools/install-deps)"
[ -f "$ENGINE" ] || fail "$ENGINE is not built"
MiB=1048576

simxen_start
dom=$(simxen_domain_create guest)

# bfio DEVID CMD...: blkfront-io on the VBD
bfio() {
	local dev=$1
	shift
	bf_guest "$dom" "$TBIN/blkfront-io" --device "$(bf_fe "$dom" "$dev")" --order 2 "$@" \
		>"$T/bfio.out" 2>"$T/bfio.err" ||
		fail "blkfront-io $*: $(tail -3 "$T/bfio.err") / $(tail -3 "$(vbd_dir "$dom" "$dev")/stderr")"
}
# model_write MODEL OFF FILE: what the disk must now hold
model_write() { dd if="$3" of="$1" bs=64K seek="$2" oflag=seek_bytes conv=notrunc status=none; }
qemu_raw() { qemu-img convert -f vpc -O raw "$1" "$2" || fail "qemu-img convert $1"; }

# ---- 1: a dynamic VHD written through the ring ----------------------------------------------
$V create -n "$T/dyn.vhd" -s 64 || fail "vhd-util create"
truncate -s 64M "$T/model"
bf_attach "$dom" 1 "vhd:$T/dyn.vhd"
cmds=()
i=0
# offsets: block-straddling (2 MiB - 4 KiB, 1 MiB long), one sector, unaligned 3 sectors, a
# whole block, inside an already written block, the last sector of the disk
for spec in $((2 * MiB - 4096)):$MiB 9437184:512 10486272:1536 $((20 * MiB)):$((2 * MiB)) \
	$((2 * MiB + 8192)):8192 $((64 * MiB - 512)):512; do
	off=${spec%%:*} len=${spec##*:}
	head -c "$len" /dev/urandom >"$T/w$i"
	model_write "$T/model" "$off" "$T/w$i"
	cmds+=(write "$off" "$len" "$T/w$i")
	i=$((i + 1))
done
bfio 1 "${cmds[@]}" flush read 0 64M "$T/all"
expect_eq "$(grep '^sectors=' "$(vbd_dir "$dom" 1)/ready")" "sectors=131072" "64 MiB disk"
cmp -s "$T/all" "$T/model" || fail "the disk read through the ring differs from the model"
echo "ok: reads through the ring match every write; unwritten areas read zeros"
served_ok "$dom" "1"
expect_rc 0 "vhd-util check after close" "$V" check -n "$T/dyn.vhd"
qemu_raw "$T/dyn.vhd" "$T/dyn.raw"
cmp -s "$T/dyn.raw" "$T/model" || fail "qemu-img reads the VHD differently from the model"
echo "ok: qemu-img convert -f vpc reads what was written"
"$V" query -n "$T/dyn.vhd" -a >"$T/out"
expect_eq "$(cat "$T/out")" 6 "six blocks allocated (blocks 0, 1, 4, 5, 10, 31)"

# ---- 2: fio with verification on the same image, reopened ----------------------------------
bf_attach "$dom" 2 "vhd:$T/dyn.vhd"
expect_rc 0 "fio randwrite 4k-64k QD16 verify=crc32c on the VHD" \
	bf_guest "$dom" fio --output-format=json --output="$T/fio.json" --name=job \
	--ioengine=external:"$ENGINE" --bf_ring_order=2 --filename="$(bf_fe "$dom" 2)" \
	--rw=randwrite --bsrange=4k-64k --iodepth=16 --size=48M --io_size=24M --offset=8M \
	--verify=crc32c --do_verify=1 --randseed=7
python3 -c "import json,sys; j=json.load(open('$T/fio.json'))['jobs'][0]; sys.exit(j['error'] or j['read']['io_bytes'] == 0)" ||
	fail "fio reports an error or verified nothing"
echo "ok: fio verified every block it wrote"
served_ok "$dom" "2"
expect_eq "$(vbd_stat "$dom" 2 io_errors)" 0 "no I/O error"
expect_rc 0 "vhd-util check after fio" "$V" check -n "$T/dyn.vhd"
# what the guest wrote is what qemu reads: compare the image through both readers
bf_attach "$dom" 3 "vhd:$T/dyn.vhd" --readonly
bfio 3 read 0 64M "$T/all3"
served_ok "$dom" 3
qemu_raw "$T/dyn.vhd" "$T/dyn2.raw"
cmp -s "$T/all3" "$T/dyn2.raw" || fail "ring and qemu-img disagree after fio"
cmp -s <(head -c $((8 * MiB)) "$T/all3") <(head -c $((8 * MiB)) "$T/model") ||
	fail "fio's writes leaked below its offset"
echo "ok: ring and qemu-img read the same 64 MiB"

# ---- 3: images qemu-img created -------------------------------------------------------------
for sub in dynamic fixed; do
	img=$T/q-$sub.vhd
	qemu-img create -q -f vpc -o subformat=$sub,force_size=on "$img" 24M || fail "qemu-img create $sub"
	qemu-io -f vpc -c "write -P 0x5c 1M 64k" -c "write -P 0xa3 $((23 * MiB)) 4k" "$img" >/dev/null ||
		fail "qemu-io write ($sub)"
	bf_attach "$dom" 10$i "vhd:$img"
	head -c 8192 /dev/urandom >"$T/qw"
	bfio 10$i read 0 24M "$T/q.r" write $((5 * MiB)) 8192 "$T/qw" flush
	expect_eq "$(grep '^sectors=' "$(vbd_dir "$dom" 10$i)/ready")" "sectors=$((24 * 2048))" \
		"qemu $sub VHD: 24 MiB"
	served_ok "$dom" "10$i"
	: >"$T/q.model" && truncate -s 24M "$T/q.model"
	head -c 65536 /dev/zero | tr '\0' '\134' >"$T/p1"
	head -c 4096 /dev/zero | tr '\0' '\243' >"$T/p2"
	model_write "$T/q.model" "$MiB" "$T/p1"
	model_write "$T/q.model" $((23 * MiB)) "$T/p2"
	cmp -s "$T/q.r" "$T/q.model" || fail "qemu $sub VHD: contents read through the ring"
	model_write "$T/q.model" $((5 * MiB)) "$T/qw"
	qemu_raw "$img" "$T/q.raw"
	cmp -s "$T/q.raw" "$T/q.model" || fail "qemu $sub VHD: qemu-img reads our write differently"
	echo "ok: qemu-img $sub VHD served: contents, and our write read back by qemu-img"
	i=$((i + 1))
done

# ---- 4: flush makes metadata durable ---------------------------------------------------------
$V create -n "$T/fl.vhd" -s 16 || fail "vhd-util create"
head -c $((2 * MiB)) /dev/urandom >"$T/full"
head -c 4096 /dev/urandom >"$T/part"
guest_then_kill "$dom" 20 "vhd:$T/fl.vhd" write $((4 * MiB)) 2M "$T/full" \
	write $((9 * MiB)) 4096 "$T/part" flush
expect_rc 0 "after flush and kill -9, vhd-util check passes (trailing footer there)" \
	"$V" check -n "$T/fl.vhd"
# the batmap (MSB first): block 2 (4 MiB) full, block 4 (9 MiB) partial
m=$("$V" read -n "$T/fl.vhd" -a | od -A n -t u1 -N 1 | tr -d ' ')
[ $((m & 0x20)) -ne 0 ] && [ $((m & 0x08)) -eq 0 ] || fail "batmap byte 0 is $m"
echo "ok: the batmap marks the full block only"
qemu_raw "$T/fl.vhd" "$T/fl.raw"
cmp -s <(dd if="$T/fl.raw" bs=1M skip=4 count=2 status=none) "$T/full" &&
	cmp -s <(dd if="$T/fl.raw" bs=4096 skip=$((9 * 256)) count=1 status=none) "$T/part" ||
	fail "flushed data missing after kill -9"
echo "ok: flushed data there after kill -9"
