# Helpers for the storage-migration (SXM) system tests: XAPI's steps around two tapdisks on one
# host. Source after common.sh, tapdisk.sh and simxen.sh, once tapdisk_env and simxen_start
# have run.
#   sxm_pass SRC_PID DEST_PID DEST_MINOR DATAPATH [new]
#       a connected socket pair, one end to the destination's nbdserver<pid>.<minor> (with
#       `new`: nbdserver-new<pid>.<minor>), the other to the source's nbdclient<pid> under the
#       name DATAPATH, as XAPI's mirror_pass_fds does
#   sxm_guest_vbd DOMID PID MINOR   a writable vbd3 VBD of the guest served by tapdisk PID's
#       MINOR through tapback (hotplug written as XAPI's script does); echoes the frontend path
#   sxm_stat PID MINOR EXPR   a value of `tap-ctl stats` (python3 expression on `j`)
#   sxm_mirror_writes_above PID MINOR N   true once the mirror acknowledged more than N writes
#       (for wait_until)
#   sxm_fio DOMID FRONTEND OUT FIO-OPTIONS...   fio as the guest (the blkfront engine), JSON on
#       OUT; sxm_fio_verified OUT: it ended without error and verified all it wrote
SXM_ENGINE=$RINGTAP_BUILD/lib/blkfront.so

sxm_pass() {
	local recv=nbdserver
	[ "${5:-}" = new ] && recv=nbdserver-new
	python3 "$SRC/tests/lib/sxm.py" "$TAPDISK_RUN_DIR/$recv$2.$3" "vbd/dest/$3" \
		"$TAPDISK_RUN_DIR/nbdclient$1" "$4" || fail "passing the migration's sockets"
}

sxm_guest_vbd() {
	local dom=$1 p=$2 m=$3 devid be
	devid=$(simxen_vbd_add "$dom" --devid $((51712 + 16 * m)) --mode w)
	be=/local/domain/0/backend/vbd3/$dom/$devid
	xs_wait "$be/state" 2
	xenstore-write "$be/physical-device-path" "$(readlink -f "$TAPDISK_RUN_DIR/nbd$p.$m")" \
		"$be/hotplug-status" connected
	echo "/local/domain/$dom/device/vbd/$devid"
}

sxm_stat() {
	"$TAPCTL" stats -p "$1" -m "$2" | python3 -c "import json,sys; j=json.load(sys.stdin); print($3)"
}

sxm_mirror_writes_above() {
	[ "$(sxm_stat "$1" "$2" "j.get('mirror', {}).get('writes', 0)")" -gt "$3" ]
}

# fio_verified JSON: fio's job ended without error and read back (verified) all it wrote
sxm_fio_verified() {
	python3 -c "import json,sys; j=json.load(open('$1'))['jobs'][0]; w=j['write']['io_bytes']; sys.exit(j['error'] != 0 or w == 0 or j['read']['io_bytes'] != w)"
}

sxm_fio() {
	local dom=$1 fe=$2 out=$3
	shift 3
	env $(simxen_guest_env "$dom") fio --output-format=json --output="$out" --name=guest \
		--ioengine=external:"$SXM_ENGINE" --filename="$fe" "$@"
}
