# Persistent-grant pages on a disk file system, which the kernel refuses to pin for long (the
# guests' memory is a file in simxen's directory, here under $T), with
# TAPDISK_URING_FIXED_BUFFERS=on: the guest's I/O through td-serve on io_uring holds its bytes,
# nothing fails, no I/O went as fixed on a grant page, and the refusal is said once (not once
# per page), also with a cache of 16 pages that keeps mapping pages again. A kernel that does
# pin such pages (older than 6.5?) serves them fixed instead: then no refusal may be said.
# pgrant-fixed.sh: the accepted case (tmpfs).
. "$(dirname "$0")/../lib/common.sh"
. "$SRC/tests/lib/tapdisk.sh"
. "$SRC/tests/lib/simxen.sh"
. "$SRC/tests/lib/vbd.sh"
. "$SRC/tests/lib/blkfront.sh"
. "$SRC/tests/lib/pgrant_fixed.sh"

pf_need
simxen_start
dom=$(simxen_domain_create guest)
pf_images
line="refuses to register a page at"
for dev in 1 2; do
	opts=""
	[ "$dev" = 2 ] && opts="--pgrant-cache 16"
	pf_run "$dev" "$opts"
	said=$(grep -c "$line" "$(vbd_dir "$dom" "$dev")/stderr" || true)
	fixed=$(vbd_stat "$dom" "$dev" fixed_page_ios)
	if [ "$said" = 0 ] && [ "$fixed" -gt 0 ]; then
		echo "ok: dev $dev: this kernel pins pages of $(stat -f -c %T "$T"): $fixed I/Os fixed"
		continue
	fi
	expect_eq "$said" 1 "dev $dev: the refusal said once, on $(stat -f -c %T "$T")"
	expect_eq "$fixed/$(vbd_stat "$dom" "$dev" fixed_pages)" 0/0 \
		"dev $dev: no I/O on a fixed grant page, none registered"
	[ "$(vbd_stat "$dom" "$dev" pgrant_hits)" -gt 0 ] ||
		fail "dev $dev: the grant mappings were never reused"
	[ "$(vbd_stat "$dom" "$dev" fixed_ios)" -gt 0 ] || [ "$dev" = 1 ] ||
		fail "dev $dev: the bounce pool's fixed buffer was not used for the cache's overflow"
done
echo PASS
