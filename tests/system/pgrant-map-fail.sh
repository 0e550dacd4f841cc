# A persistent-grant map the hypervisor refuses (its maptrack table full on a crowded host) costs
# the guest nothing: the segment is grant-copied instead. simxen refuses every 3rd map of the
# backend (SIMXEN_GNTTAB_MAP_FAIL, tools/simxen/README.md); a guest with persistent grants writes
# and reads 8 MiB, direct and indirect, many I/Os at once: no error reaches it, the image and the
# reads hold its bytes, and td-serve counts the fallbacks (pgrant_map_fallbacks, which
# `tap-ctl stats` reports as rings[].persistent_grants.map_fallbacks).
. "$(dirname "$0")/../lib/common.sh"
. "$SRC/tests/lib/simxen.sh"
. "$SRC/tests/lib/vbd.sh"
. "$SRC/tests/lib/blkfront.sh"

simxen_start
dom=$(simxen_domain_create guest)
img=$T/img
head -c 32M /dev/urandom >"$img"
head -c 8M /dev/urandom >"$T/pat"
cp "$img" "$T/orig"

# run DEVID "FRONTEND OPTIONS": writes the pattern at 0, reads it back and reads 8 MiB at 16M
run() {
	local dev=$1 fopts=$2
	VBD_SERVE_PREFIX="env SIMXEN_GNTTAB_MAP_FAIL=3" bf_attach "$dom" "$dev" "aio:$img"
	expect_rc 0 "dev $dev ($fopts): the guest's I/O succeeds while maps are refused" \
		bf_guest "$dom" "$TBIN/blkfront-io" --device "$(bf_fe "$dom" "$dev")" $fopts \
		write 0 8M "$T/pat" read 0 8M "$T/back.$dev" read 16M 8M "$T/other.$dev" \
		write 0 8M "$T/pat" info
	cp "$T/out" "$T/info.$dev"
	vbd_detach "$dom" "$dev" || fail "dev $dev: td-serve failed: $(cat "$(vbd_dir "$dom" "$dev")/stderr")"
	expect_eq "$(sed -n 's/^persistent=//p' "$T/info.$dev")" 1 "dev $dev: persistent grants in use"
	cmp -s -n 8M "$T/pat" "$img" || fail "dev $dev: the image does not hold the guest's write"
	cmp -s "$T/back.$dev" "$T/pat" || fail "dev $dev: the read back differs from the write"
	cmp -s -n 8M "$T/other.$dev" "$T/orig" 0 16M || fail "dev $dev: the read differs from the image"
	echo "ok: dev $dev: image and reads hold the guest's bytes"
	expect_eq "$(vbd_stat "$dom" "$dev" errors)/$(vbd_stat "$dom" "$dev" grant_errors)" 0/0 \
		"dev $dev: no request answered with an error, no grant error"
	[ "$(vbd_stat "$dom" "$dev" pgrant_map_fallbacks)" -gt 0 ] ||
		fail "dev $dev: no map was refused, or the refusals were not counted"
	[ "$(vbd_stat "$dom" "$dev" pgrant_hits)" -gt 0 ] ||
		fail "dev $dev: the mappings that did succeed were never reused"
	echo "ok: dev $dev: $(vbd_stat "$dom" "$dev" pgrant_map_fallbacks) segments fell back to grant copy"
}

run 1 "--order 2 --pieces 32"                # indirect requests (up to 256 segments), concurrent
run 2 "--order 0 --max-indirect 0 --pieces 8" # direct requests of at most 11 segments
