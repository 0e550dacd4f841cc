# Helpers for frontend system tests (libblkfront's blkfront-io, the fio engine): a VBD served by
# td-serve through tests/lib/vbd.sh, plus the backend's side of closing. Source after common.sh,
# simxen.sh and vbd.sh, once simxen_start has run.
#
#   bf_attach DOMID DEVID TYPE:PATH [vbd_attach options]
#       simxen vbd add + vbd_attach, and a helper playing the backend on close: when the
#       frontend says Closing (5) it stops td-serve and writes the backend's Closed (6), as Linux
#       blkback and tapback do, so the frontend's close does not wait for its timeout.
#   bf_guest DOMID CMD...   runs CMD as domain DOMID (its xenstore socket, SIMXEN_DOMID)
#   bf_fe DOMID DEVID       the frontend's xenstore path (what blkfront-io/fio take as device)
#   bf_expect_pattern DOMID DEVID IMAGE
#       after a detached guest run of `blkfront-io ... write 0 8M $T/pat read 0 8M $T/back.DEVID
#       read 16M 8M $T/other.DEVID info` (its output copied to $T/info.DEVID) on IMAGE, a copy of
#       $T/orig: persistent grants were in use, IMAGE holds the write, the reads hold the right
#       bytes, and td-serve answered no request with an error and had no grant error

bf_fe() { echo "/local/domain/$1/device/vbd/$2"; }

bf_expect_pattern() {
	local dom=$1 dev=$2 img=$3
	expect_eq "$(sed -n 's/^persistent=//p' "$T/info.$dev")" 1 "dev $dev: persistent grants in use"
	cmp -s -n 8M "$T/pat" "$img" || fail "dev $dev: the image does not hold the guest's write"
	cmp -s "$T/back.$dev" "$T/pat" || fail "dev $dev: the read back differs from the write"
	cmp -s -n 8M "$T/other.$dev" "$T/orig" 0 16M || fail "dev $dev: the read differs from the image"
	echo "ok: dev $dev: image and reads hold the guest's bytes"
	expect_eq "$(vbd_stat "$dom" "$dev" errors)/$(vbd_stat "$dom" "$dev" grant_errors)" 0/0 \
		"dev $dev: no request answered with an error, no grant error"
}

_bf_closer() {
	local dom=$1 dev=$2 fe be i
	fe=$(bf_fe "$dom" "$dev")
	be=$(vbd_be "$dom" "$dev")
	for ((i = 0; i < 6000; i++)); do
		[ "$(xenstore-read "$fe/state" 2>/dev/null)" = 5 ] && break
		sleep 0.05
	done
	vbd_detach "$dom" "$dev"
	echo "td-serve exit $?"
	xenstore-write "$be/state" 6
}

bf_attach() {
	local dom=$1 dev=$2
	shift 2
	simxen_vbd_add "$dom" --devid "$dev" >/dev/null
	vbd_attach "$dom" "$dev" "$@"
	_bf_closer "$dom" "$dev" >"$(vbd_dir "$dom" "$dev")/closer.log" 2>&1 &
	at_exit "kill $! 2>/dev/null"
}

bf_guest() {
	local dom=$1
	shift
	env $(simxen_guest_env "$dom") "$@"
}
