# The datapath end to end on simxen: a guest (blkfront-io) connects to td-serve through the
# xenstore handshake and reads, writes, flushes, barriers and discards; every write is checked
# against the image file's bytes, every read against what was written. Every ABI, ring orders
# 0-4, direct requests of 1 and 11 segments, indirect ones of 12, 256 and the configured
# maximum (4096), persistent grants on and off.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/simxen.sh"
. "$(dirname "$0")/../lib/vbd.sh"

[ -x "$TBIN/blkfront-io" ] || fail "blkfront-io is not built"
simxen_start
dom=$(simxen_domain_create guest)
img=$T/disk.img
truncate -s 96M "$img"

# image_bytes OFF LEN: the image file's bytes
image_bytes() { dd if="$img" bs=64K iflag=skip_bytes,count_bytes skip="$1" count="$2" 2>/dev/null; }

devid=51712
# round ABI ORDER PERSISTENT(0|1) MAXIND  SIZE...: one connection, one I/O per size at distinct
# offsets (write, read back), then a flush, a barrier write and a discard
round() {
	local abi=$1 order=$2 pers=$3 maxind=$4 what dev off=0 i=0 fe_opts=() be_opts=() cmds=()
	shift 4
	what="abi=$abi order=$order persistent=$pers max-indirect=$maxind"
	devid=$((devid + 1))
	dev=$(simxen_vbd_add "$dom" --devid "$devid")
	be_opts=(--max-indirect "$maxind")
	fe_opts=(--abi "$abi" --order "$order" --max-indirect "$maxind")
	if [ "$pers" = 0 ]; then
		be_opts+=(--no-persistent)
		fe_opts+=(--no-persistent)
	fi
	vbd_attach "$dom" "$dev" "aio:$img" "${be_opts[@]}"
	local offs=() lens=()
	for len in "$@"; do
		off=$(((i * 17 + 1) * 1024 * 1024 + i * 512)) # distinct, not page-aligned for i>0
		head -c "$len" /dev/urandom >"$T/w$i"
		cmds+=(write "$off" "$len" "$T/w$i" read "$off" "$len" "$T/r$i")
		offs+=("$off")
		lens+=("$len")
		i=$((i + 1))
	done
	head -c 45056 /dev/urandom >"$T/barrier"
	# a block written then discarded: reads back zeros
	head -c 1M /dev/urandom >"$T/disc"
	cmds+=(flush barrier $((90 * 1024 * 1024)) 45056 "$T/barrier"
		write $((92 * 1024 * 1024)) 1M "$T/disc" discard $((92 * 1024 * 1024)) 1M
		read $((92 * 1024 * 1024)) 1M "$T/disc.r")
	env $(simxen_guest_env "$dom") "$TBIN/blkfront-io" --device "$dev" "${fe_opts[@]}" \
		info "${cmds[@]}" >"$T/fe.out" 2>"$T/fe.err" ||
		fail "$what: blkfront-io failed: $(tail -3 "$T/fe.err") / $(tail -3 "$(vbd_dir "$dom" "$dev")/stderr")"
	grep -q "^ring_order=$order\$" "$T/fe.out" || fail "$what: ring order not $order: $(grep ring_order "$T/fe.out")"
	# blkif.h names the native ABI by its architecture (x86_64-abi here)
	local proto=$abi
	[ "$abi" = native ] && proto=$(uname -m | sed 's/^x86_64$/x86_64-abi/; s/^i.86$/x86_32-abi/')
	grep -q "^protocol=$proto\$" "$T/fe.out" || fail "$what: protocol $(grep protocol "$T/fe.out")"
	for ((j = 0; j < i; j++)); do
		cmp -s "$T/w$j" "$T/r$j" || fail "$what: read ${lens[$j]} at ${offs[$j]} differs from the write"
		cmp -s "$T/w$j" <(image_bytes "${offs[$j]}" "${lens[$j]}") ||
			fail "$what: image bytes at ${offs[$j]} (${lens[$j]}) differ from the write"
	done
	cmp -s "$T/barrier" <(image_bytes $((90 * 1024 * 1024)) 45056) || fail "$what: barrier data"
	cmp -s "$T/disc.r" <(head -c 1M /dev/zero) || fail "$what: discarded range does not read zeros"
	cmp -s <(image_bytes $((92 * 1024 * 1024)) 1048576) <(head -c 1M /dev/zero) ||
		fail "$what: discarded range is not zero in the image"
	vbd_detach "$dom" "$dev" || fail "$what: td-serve exit $?: $(tail -3 "$(vbd_dir "$dom" "$dev")/stderr")"
	expect_eq "$(vbd_stat "$dom" "$dev" errors)" 0 "$what: no error responses"
	expect_eq "$(vbd_stat "$dom" "$dev" invalid)" 0 "$what: nothing refused"
	expect_eq "$(vbd_stat "$dom" "$dev" barriers)" 1 "$what: one barrier"
	[ "$(vbd_stat "$dom" "$dev" flushes)" -ge 1 ] || fail "$what: no flush served"
	expect_eq "$(vbd_stat "$dom" "$dev" sectors_discarded)" 2048 "$what: discard"
	LAST_INDIRECT=$(vbd_stat "$dom" "$dev" indirect)
	LAST_PGRANT=$(vbd_stat "$dom" "$dev" pgrant_hits)$(vbd_stat "$dom" "$dev" pgrant_misses)
	if [ "$pers" = 1 ]; then
		[ "$LAST_PGRANT" != 00 ] || fail "$what: persistent grants unused"
	else
		expect_eq "$LAST_PGRANT" 00 "$what: no persistent grant without the feature"
	fi
	echo "ok: $what ($*)"
}

# direct only: 1 segment (512 B and 4 KiB) and 11 segments; no indirect request may appear
round native 0 1 0 512 4096 45056
expect_eq "$LAST_INDIRECT" 0 "direct-only ring sends no indirect request"
round x86_32-abi 1 0 0 4096 45056 131072
expect_eq "$LAST_INDIRECT" 0 "direct-only ring (x86_32) sends no indirect request"
# indirect: 12 and 256 segments, every ABI and the other orders
round x86_64-abi 2 1 256 49152 1048576 4096
[ "$LAST_INDIRECT" -ge 2 ] || fail "12- and 256-segment I/Os did not use indirect requests"
round x86_32-abi 3 0 256 49152 1048576
[ "$LAST_INDIRECT" -ge 2 ] || fail "x86_32: indirect requests not used"
round native 4 1 256 49152 1048576 45056
# the configured maximum: 4096 segments = 16 MiB in one request
round x86_64-abi 4 0 4096 16777216 49152
[ "$LAST_INDIRECT" -ge 2 ] || fail "16 MiB I/O did not use an indirect request"
echo "PASS"
