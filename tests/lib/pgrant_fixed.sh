# Helpers of the tests of persistent-grant pages as io_uring fixed buffers (pgrant-fixed*.sh).
# Source after common.sh, tapdisk.sh, simxen.sh, vbd.sh and blkfront.sh.
#
#   pf_need             skips without io_uring (this build or this kernel), fails without fio;
#                       exports TAPDISK_URING_FIXED_BUFFERS=on (td-serve and tapdisk read it)
#   pf_images           $T/img (32 MiB of random bytes, a copy in $T/orig) and $T/pat (8 MiB)
#   pf_run DEV "OPTS"   a VBD DEV of $dom on $T/img served by td-serve on io_uring (OPTS: more
#                       td-serve options); the guest, with persistent grants, writes $T/pat at 0
#                       in 4 KiB I/Os, reads it back, reads 8 MiB at 16M, and closes: the image
#                       and the reads hold its bytes, no request failed (td-serve's counters:
#                       vbd_stat "$dom" DEV ...)

ENGINE=$RINGTAP_BUILD/lib/blkfront.so

pf_need() {
	[ -f "$ENGINE" ] || fail "$ENGINE is not built"
	command -v fio >/dev/null || fail "fio is not installed (tools/install-deps)"
	need_io_uring
	export TAPDISK_URING_FIXED_BUFFERS=on
}

pf_images() {
	head -c 32M /dev/urandom >"$T/img"
	head -c 8M /dev/urandom >"$T/pat"
	cp "$T/img" "$T/orig"
}

pf_run() {
	local dev=$1 opts=$2
	# 2048 pieces of 8 MiB: 4 KiB each, one segment: one iovec inside one granted page
	bf_attach "$dom" "$dev" "aio:$T/img" --serve "--engine io_uring $opts"
	expect_rc 0 "dev $dev: the guest's I/O succeeds" \
		bf_guest "$dom" "$TBIN/blkfront-io" --device "$(bf_fe "$dom" "$dev")" --pieces 2048 \
		write 0 8M "$T/pat" read 0 8M "$T/back.$dev" read 16M 8M "$T/other.$dev" info
	cp "$T/out" "$T/info.$dev"
	vbd_detach "$dom" "$dev" ||
		fail "dev $dev: td-serve failed: $(cat "$(vbd_dir "$dom" "$dev")/stderr")"
	bf_expect_pattern "$dom" "$dev" "$T/img"
}
