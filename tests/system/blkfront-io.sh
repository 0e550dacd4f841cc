# libblkfront against tapdisk's datapath (td-serve) on simxen: every operation, every ABI, ring
# orders 0-4, persistent grants on and off, direct and indirect requests of 1, 11, 12, 256, 300
# and 4096 segments; data checked against the image file's bytes; flush, barrier, discard (a
# hole: blocks drop, zeros read back); a read-only VBD refuses writes.
. "$(dirname "$0")/../lib/common.sh"
. "$SRC/tests/lib/simxen.sh"
. "$SRC/tests/lib/vbd.sh"
. "$SRC/tests/lib/blkfront.sh"

simxen_start
dom=$(simxen_domain_create guest)
img=$T/img
head -c 32M /dev/urandom >"$img"
head -c 16M /dev/urandom >"$T/pat"

# run_variant DEVID "FRONTEND OPTIONS" "VBD OPTIONS" SEGS...: writes SEGS pages at distinct
# offsets, reads other regions back, then checks image bytes and td-serve's request counters.
run_variant() {
	local dev=$1 fopts=$2 vopts=$3 segs off=0 cmds=() s
	shift 3
	segs=("$@")
	bf_attach "$dom" "$dev" "aio:$img" $vopts
	for s in "${segs[@]}"; do
		cmds+=(write $off $((s * 4096)) "$T/pat" read $((off + 16 * 1048576)) $((s * 4096))
			"$T/read.$dev.$s")
		off=$((off + s * 4096))
	done
	expect_rc 0 "dev $dev ($fopts; $vopts): I/O of ${segs[*]} segments" \
		bf_guest "$dom" "$TBIN/blkfront-io" --device "$(bf_fe "$dom" "$dev")" $fopts \
		"${cmds[@]}" info
	cp "$T/out" "$T/info.$dev"
	off=0
	for s in "${segs[@]}"; do
		cmp -s -n $((s * 4096)) "$T/pat" "$img" 0 $off ||
			fail "dev $dev: image bytes at $off differ from the $s-segment write"
		cmp -s -n $((s * 4096)) "$T/read.$dev.$s" "$img" 0 $((off + 16 * 1048576)) ||
			fail "dev $dev: the $s-segment read differs from the image"
		off=$((off + s * 4096))
	done
	echo "ok: dev $dev: image bytes match every write and read"
	vbd_detach "$dom" "$dev" || true
}

# info KEY of a variant
info() { sed -n "s/^$2=//p" "$T/info.$1"; }

# native, one page ring, persistent grants, indirect up to 256: 300 segments split in 2
run_variant 1 "--abi native --order 0" "" 1 11 12 256 300
expect_eq "$(info 1 ring_order)/$(info 1 ring_size)/$(info 1 persistent)" "0/32/1" \
	"order 0: 32 slots, persistent"
expect_eq "$(vbd_stat "$dom" 1 writes)" 6 "1+1+1+1+2 write requests"
expect_eq "$(vbd_stat "$dom" 1 indirect)" 8 "12, 256, 256+44 segments went indirect both ways"

run_variant 2 "--abi x86_32-abi --order 1 --no-persistent" "" 1 11 12 256
expect_eq "$(info 2 protocol)/$(info 2 ring_size)/$(info 2 persistent)" "x86_32-abi/64/0" \
	"x86_32 ABI, order 1, no persistent grants"
expect_eq "$(vbd_stat "$dom" 2 pgrant_hits)" 0 "no persistent grant used without the feature"

run_variant 3 "--abi x86_64-abi --order 2" "" 1 12 256
expect_eq "$(info 3 protocol)/$(info 3 ring_size)" "x86_64-abi/128" "x86_64 ABI, order 2"
[ "$(vbd_stat "$dom" 3 pgrant_hits)" -gt 0 ] || fail "persistent grants never reused"
echo "ok: persistent grants reused by the backend"

# direct requests only: 256 pages take 24 requests of at most 11 segments
run_variant 4 "--order 3 --no-persistent --max-indirect 0" "" 256
expect_eq "$(info 4 ring_size)/$(info 4 max_segs)" "256/11" "order 3, direct only"
expect_eq "$(vbd_stat "$dom" 4 writes)/$(vbd_stat "$dom" 4 indirect)" "24/0" \
	"256 pages in 24 direct requests"

# the largest request: 4096 segments (16 MiB) in one indirect request, on a 16-page ring
run_variant 5 "--abi x86_32-abi --order 4 --max-indirect 4096" "--max-indirect 4096" 4096
expect_eq "$(info 5 ring_size)/$(info 5 max_segs)" "512/4096" "order 4, 4096 segments"
expect_eq "$(vbd_stat "$dom" 5 writes)/$(vbd_stat "$dom" 5 indirect)" "1/2" \
	"16 MiB in one indirect request each way"

# concurrency, polling: 1 MiB as 64 concurrent I/Os, completions by polling the ring
bf_attach "$dom" 6 "aio:$img"
expect_rc 0 "64 concurrent I/Os, polling" bf_guest "$dom" "$TBIN/blkfront-io" \
	--device "$(bf_fe "$dom" 6)" --order 2 --pieces 64 --poll \
	write 20M 1M "$T/pat" read 20M 1M "$T/read.6"
cmp -s -n 1M "$T/pat" "$img" 0 20M || fail "concurrent writes: image bytes differ"
cmp -s -n 1M "$T/read.6" "$T/pat" || fail "concurrent reads differ from what was written"
echo "ok: concurrent writes and reads match the image"
vbd_detach "$dom" 6 || true

# flush after writes, a barrier write, discard punching a hole
bf_attach "$dom" 7 "aio:$img"
blocks_before=$(stat -c %b "$img")
expect_rc 0 "write, flush, barrier, discard, read back" bf_guest "$dom" "$TBIN/blkfront-io" \
	--device "$(bf_fe "$dom" 7)" write 24M 64K "$T/pat" flush barrier 25M 40K "$T/pat" \
	discard 26M 4M read 26M 4M "$T/zeros.read"
vbd_detach "$dom" 7 || true
expect_eq "$(vbd_stat "$dom" 7 flushes)/$(vbd_stat "$dom" 7 barriers)/$(vbd_stat "$dom" 7 discards)" \
	"1/1/1" "one flush, one barrier, one discard reached the backend"
cmp -s -n 64K "$T/pat" "$img" 0 24M || fail "the write before the flush is not in the image"
cmp -s -n 40K "$T/pat" "$img" 0 25M || fail "the barrier write is not in the image"
head -c 4M /dev/zero >"$T/zeros"
cmp -s "$T/zeros.read" "$T/zeros" || fail "the discarded range does not read back as zeros"
cmp -s -n 4M "$T/zeros" "$img" 0 26M || fail "the discarded range of the image is not zeros"
blocks_after=$(stat -c %b "$img")
[ "$blocks_after" -lt "$blocks_before" ] ||
	fail "discard left no hole: $blocks_before blocks before, $blocks_after after"
echo "ok: discard punched a hole ($blocks_before -> $blocks_after blocks), reads zeros"

# a read-only VBD: the frontend sees VDISK_READONLY and refuses writes itself; reads work
bf_attach "$dom" 8 "aio:$img" --readonly
cp "$img" "$T/img.before"
expect_rc 30 "read-only VBD: reads work, a write is refused (EROFS)" bf_guest "$dom" \
	"$TBIN/blkfront-io" --device "$(bf_fe "$dom" 8)" read 0 64K "$T/ro.read" info write 0 4K "$T/pat"
expect_eq "$(sed -n 's/^readonly=//p' "$T/out")" 1 "the frontend sees the VBD read-only"
cmp -s -n 64K "$T/ro.read" "$img" || fail "the read from the read-only VBD differs from the image"
cmp -s "$img" "$T/img.before" || fail "the read-only image changed"
echo "ok: the read-only image is unchanged"
