# The real Xen test's dom0 side (bash, run by /init once xenstored and xenconsoled are up): starts
# the domU, and for every run makes an image, attaches it to the domU the way a toolstack does
# (xenopsd's vbd3 nodes, the hotplug step), waits for the domU's workload (domU-init), detaches,
# checks teardown and that the image holds what the guest wrote. Progress lines start with
# "xt:", the domU's console lines with "domU:", results with "SUMMARY". Exit 0 if all passed.
#
# Runs: (case, mode, polling) — case raw|vhd, mode full (functional workload + timed workload) or
# perf (timed workload only), polling off|adaptive|default (set with tap-ctl poll); and case lvhd
# (run_lvhd: a VHD on an LVM volume, as XAPI's LVHD SRs run it, filled past the volume's end).
set -uo pipefail
. /xen-test/config
export RINGTAP_BUILD=/opt/ringtap RINGTAP_SRC=/opt/ringtap
T=/tmp/xt
# vbd.sh starts $TBIN/td-serve: a wrapper adds the run's polling policy ($XT_POLL)
TBIN=$T/bin
mkdir -p "$TBIN"
cat >"$TBIN/td-serve" <<'EOF'
#!/bin/sh
exec /opt/ringtap/tests/bin/td-serve "$@" ${XT_POLL:+--poll "$XT_POLL"}
EOF
chmod +x "$TBIN/td-serve"
VHD_IO=/opt/ringtap/tests/bin/vhd-io
RUN_DIR=/run/blktap-control
export TAPDISK_RUN_DIR=$RUN_DIR
# check-xen's XEN_TEST_TAPDISK_ENV: VAR=VALUE words for tapback and the tapdisks (checked there)
for w in ${XEN_TEST_TAPDISK_ENV:-}; do export "$w"; done
mkdir -p "$T" /var/lib/images
DOMU_LOG=/var/log/xen/console/guest-guest.log
MiB=1048576
DISK_MIB=64

failures=0
summary=()
sum() { summary+=("$*"); }
log() { echo "xt: $*"; }
bad() {
	echo "xt: FAIL: $*"
	failures=$((failures + 1))
	sum "FAIL $*"
}
ok() { echo "xt: ok: $*"; }
uptime_s() { cut -d' ' -f1 /proc/uptime; }

# vbd.sh's helpers (td-serve behind a shell handshake) need common.sh's at_exit/fail and $T
at_exit() { :; }
fail() {
	bad "$*"
	return 1
}
. /opt/ringtap/tests/lib/vbd.sh
# shellcheck disable=SC2034 # (tests/lib/lvhd.sh reads them)
VHD_UTIL=vhd-util LVHD_BACKEND=lvm
. /opt/ringtap/tests/lib/lvhd.sh

# ---- the domU and its console -----------------------------------------------------------------
cat >/xen-test/guest.cfg <<EOF
name = "guest"
type = "pv"
kernel = "/xen-test/vmlinuz"
ramdisk = "/xen-test/domU.cpio.gz"
extra = "console=hvc0 rdinit=/init loglevel=4"
memory = 512
vcpus = 1
on_poweroff = "destroy"
on_reboot = "destroy"
on_crash = "destroy"
EOF

# domu_alive: the domU still exists (it is destroyed when it crashes)
domu_alive() { xl list guest >/dev/null 2>&1; }
# domu_wait REGEX SECONDS: until a line of the domU's console matches (prints it); fails at
# once when the domU is gone
domu_wait() {
	local i
	for ((i = 0; i < $2 * 5; i++)); do
		if grep -a -m1 -E "$1" "$DOMU_LOG" 2>/dev/null; then return 0; fi
		if ((i % 10 == 9)) && ! domu_alive; then
			bad "the domU died (see its console above)"
			return 1
		fi
		sleep 0.2
	done
	return 1
}
# domu_val REGEX: the last console line matching
domu_val() { grep -a -E "$1" "$DOMU_LOG" 2>/dev/null | tail -1 | tr -d '\r'; }
# domu_checks NAME XVD: the domU's "@ check XVD-..." lines as this run's results
domu_checks() {
	local line
	while read -r line; do
		case $line in
		*" ok") ok "$1: domU ${line#@ check }" ;;
		*) bad "$1: domU ${line#@ check }" ;;
		esac
	done < <(grep -a -E "^@ check $2-" "$DOMU_LOG" | tr -d '\r')
}

log "xl create (uptime $(uptime_s))"
if ! xl create /xen-test/guest.cfg >"$T/xl-create.log" 2>&1; then
	cat "$T/xl-create.log"
	bad "xl create failed"
	printf 'SUMMARY %s\n' "${summary[@]}"
	exit 1
fi
DOMID=$(xl domid guest)
log "domU is domain $DOMID"
# relay the domU's console to ours
(
	while [ ! -f "$DOMU_LOG" ]; do sleep 0.2; done
	tail -n +1 -F "$DOMU_LOG" 2>/dev/null | while IFS= read -r l; do echo "domU: ${l%$'\r'}"; done
) &
relay=$!

if ! domu_wait '^@ ready' 240 >/dev/null; then
	bad "the domU did not come up"
	xl list
	kill $relay
	printf 'SUMMARY %s\n' "${summary[@]}"
	exit 1
fi
log "domU userspace up (dom0 uptime $(uptime_s))"

if [ "$XEN_TEST_BACKEND" = tapback ]; then
	mkdir -p "$RUN_DIR"
	export TAPDISK_LOG_FILE=$T/tapdisk.log
	tapback -f -d >"$T/tapback.log" 2>&1 &
	tapback_pid=$!
	sleep 0.5
	kill -0 $tapback_pid 2>/dev/null || bad "tapback exited: $(cat "$T/tapback.log")"
fi

# ---- images -----------------------------------------------------------------------------------
# img_write TYPE PATH OFFSET < data ; img_read TYPE PATH OFFSET LENGTH > data
img_write() {
	if [ "$1" = vhd ]; then
		"$VHD_IO" write "$2" "$3"
	else
		dd of="$2" bs=512 seek=$(($3 / 512)) iflag=fullblock conv=notrunc 2>/dev/null
	fi
}
img_read() {
	if [ "$1" = vhd ]; then
		"$VHD_IO" read "$2" "$3" "$4"
	else
		dd if="$2" bs=512 skip=$(($3 / 512)) count=$(($4 / 512)) 2>/dev/null
	fi
}
img_md5() { img_read "$@" | md5sum | cut -d' ' -f1; }

# make_image CASE MODE NAME: the image with its header and dom0's pre-filled regions
make_image() {
	local type=$1 mode=$2 name=$3 img
	case $type in
	raw)
		img=/var/lib/images/$name.raw
		truncate -s $((DISK_MIB * MiB)) "$img" || return 1
		;;
	vhd)
		img=/var/lib/images/$name.vhd
		vhd-util create -n "$img" -s $DISK_MIB >"$T/vhd-create.log" 2>&1 ||
			{ cat "$T/vhd-create.log"; return 1; }
		;;
	esac
	{
		printf 'XT case=%s mode=%s\n' "$name" "$mode"
		dd if=/dev/zero bs=4096 count=1 2>/dev/null
	} | head -c 4096 | img_write "$type" "$img" 0 || return 1
	dd if=/dev/urandom bs=1M count=1 of="$T/pre1" 2>/dev/null
	dd if=/dev/urandom bs=1M count=4 of="$T/pre16" 2>/dev/null
	img_write "$type" "$img" $((1 * MiB)) <"$T/pre1" || return 1
	img_write "$type" "$img" $((16 * MiB)) <"$T/pre16" || return 1
	PRE1_MD5=$(md5sum <"$T/pre1" | cut -d' ' -f1)
	IMG=$img
}

# ---- attach / detach as a toolstack ---------------------------------------------------------
fe_path() { echo "/local/domain/$DOMID/device/vbd/$1"; }
be_path() { echo "/local/domain/0/backend/vbd3/$DOMID/$1"; }

# toolstack_nodes DEVID NAME PARAMS: xenopsd's nodes. xenopsd writes them, their permissions and
# both states in one transaction; the xenstore-* tools have no transaction across commands, so
# the permissions come first, on the parent directories (a node dom0 creates inherits its
# parent's): the frontend's owned by the domU with dom0 reading, the backend's owned by dom0 with
# the domU reading. Then one xenstore-write (one transaction) creates both trees with both states
# (frontend 1, backend 1): Linux's blkfront probes a device once its state reads Initialising and
# needs the backend readable then; tapback drops a backend whose frontend has no state.
toolstack_nodes() {
	local dev=$1 fe be fe_dir be_dir
	fe=$(fe_path "$dev")
	be=$(be_path "$dev")
	fe_dir=${fe%/*}
	be_dir=${be%/*}
	if ! xenstore-exists "$fe_dir" 2>/dev/null; then
		xenstore-write "$fe_dir" "" && xenstore-chmod "$fe_dir" "n$DOMID" r0 || return 1
	fi
	if ! xenstore-exists "$be_dir" 2>/dev/null; then
		xenstore-write "$be_dir" "" && xenstore-chmod "$be_dir" n0 "r$DOMID" || return 1
	fi
	xenstore-write "$fe/backend" "$be" "$fe/backend-id" 0 "$fe/virtual-device" "$dev" \
		"$fe/device-type" disk \
		"$be/frontend" "$fe" "$be/frontend-id" "$DOMID" "$be/online" 1 \
		"$be/removable" 0 "$be/dev" "$2" "$be/type" phy "$be/mode" w \
		"$be/params" "$3" "$be/device-type" disk \
		"$fe/state" 1 "$be/state" 1
}

# wait_node PATH VALUE SECONDS
wait_node() {
	local i
	for ((i = 0; i < $3 * 10; i++)); do
		[ "$(xenstore-read "$1" 2>/dev/null)" = "$2" ] && return 0
		sleep 0.1
	done
	return 1
}

TD_PID="" TD_MINOR=""
# attach DEVID TYPE IMAGE POLLING: the backend side, then the domU sees the disk
attach() {
	local dev=$1 type=$2 img=$3 polling=$4 line
	TD_PID="" TD_MINOR=""
	if [ "$XEN_TEST_BACKEND" = td-serve ]; then
		toolstack_nodes "$dev" "xvd" "$type:$img" || return 1
		[ "$type" = raw ] && type=aio
		if [ "$polling" = default ]; then unset XT_POLL; else export XT_POLL=$polling; fi
		vbd_attach "$DOMID" "$dev" "$type:$img" || return 1
		return 0
	fi
	# tapback flow: tap-ctl create, the toolstack's nodes, then the hotplug step
	[ "$type" = raw ] && type=aio
	tap-ctl create -a "$type:$img" >"$T/create.out" 2>"$T/create.err" ||
		{ bad "tap-ctl create -a $type:$img: $(cat "$T/create.err")"; return 1; }
	line=$(tap-ctl list | grep -F "args=$type:$img" | head -1)
	[[ $line =~ pid=([0-9]+)\ minor=([0-9]+) ]] ||
		{ bad "tap-ctl list has no $type:$img: $(tap-ctl list 2>&1)"; return 1; }
	TD_PID=${BASH_REMATCH[1]} TD_MINOR=${BASH_REMATCH[2]}
	log "tapdisk pid $TD_PID minor $TD_MINOR ($(cat "$T/create.out"))"
	if [ "$polling" != default ]; then
		tap-ctl poll -p "$TD_PID" -m "$TD_MINOR" -P "$polling" >"$T/poll.out" 2>&1 ||
			{ bad "tap-ctl poll -P $polling: $(cat "$T/poll.out")"; return 1; }
	fi
	toolstack_nodes "$dev" xvd "$type:$img" || return 1
	# the hotplug script: physical-device-path, then hotplug-status
	xenstore-write "$(be_path "$dev")/physical-device-path" "$RUN_DIR/nbd$TD_PID.$TD_MINOR" &&
		xenstore-write "$(be_path "$dev")/hotplug-status" connected
}

# snapshot_stats DEVID: the tapdisk's counters while the ring is still connected (tapback)
snapshot_stats() {
	[ "$XEN_TEST_BACKEND" = tapback ] || return 0
	tap-ctl stats -p "$TD_PID" -m "$TD_MINOR" >"$T/stats.json" 2>&1 ||
		{ bad "tap-ctl stats: $(cat "$T/stats.json")"; return 1; }
	jq -e '.rings[0].requests.total' "$T/stats.json" >/dev/null ||
		bad "tap-ctl stats has no connected ring: $(cat "$T/stats.json")"
	# what the engine did with the ring's buffers (io_uring's fixed buffers: grant pages too)
	log "$1: $(jq -r '[.images[] | "\(.engine // "-") fixed_ios=\(.driver_stats.fixed_ios // 0) fixed_page_ios=\(.driver_stats.fixed_page_ios // 0) fixed_pages=\(.driver_stats.fixed_pages // 0)"] | join("; ")' "$T/stats.json" 2>&1); persistent grants: $(jq -r '.rings[0].persistent_grants // "-" | tostring' "$T/stats.json" 2>&1)"
	# and what the kernel said to registering them (tapdisk's log: once per engine)
	grep -a -h "as a fixed buffer" "${TAPDISK_LOG_FILE:-/dev/null}" 2>/dev/null | sort -u | head -n 3 |
		while IFS= read -r l; do log "$1: tapdisk: $l"; done
}

# detach DEVID NAME: classic unplug (online=0 and state 5, the frontend closes, the backend
# follows, trees removed), then the tapdisk is destroyed as the storage manager does
detach() {
	local dev=$1 fe be rc=0 i st
	fe=$(fe_path "$dev")
	be=$(be_path "$dev")
	xenstore-exists "$fe" 2>/dev/null && xenstore-write "$be/online" 0 "$be/state" 5
	domu_alive || log "$2: the domU is gone; detaching anyway"
	if domu_alive && xenstore-exists "$fe" 2>/dev/null && ! wait_node "$fe/state" 6 60; then
		bad "$2: frontend did not close (state $(xenstore-read "$fe/state" 2>&1))"
		rc=1
	fi
	if [ "$XEN_TEST_BACKEND" = td-serve ]; then
		vbd_detach "$DOMID" "$dev" || { bad "$2: td-serve exit code $(cat "$(vbd_dir "$DOMID" "$dev")/rc" 2>/dev/null)"; rc=1; }
		sed 's/^/xt: td-serve: /' "$(vbd_dir "$DOMID" "$dev")/stdout"
		grep -v '^$' "$(vbd_dir "$DOMID" "$dev")/stderr" | tail -5 | sed 's/^/xt: td-serve stderr: /'
	elif [ -n "$TD_PID" ]; then
		# tapback disconnects the ring and says Closed (or removes the offline backend)
		for ((i = 0; i < 300; i++)); do
			st=$(xenstore-read "$be/state" 2>/dev/null) || break
			[ "$st" = 6 ] && break
			sleep 0.1
		done
		[ -z "$st" ] || [ "$st" = 6 ] || { bad "$2: tapback left backend state $st"; rc=1; }
		for ((i = 0; i < 100; i++)); do
			tap-ctl stats -p "$TD_PID" -m "$TD_MINOR" >"$T/stats-after.json" 2>&1 || break
			[ "$(jq '.rings | length' "$T/stats-after.json")" = 0 ] && break
			sleep 0.1
		done
		[ "$(jq '.rings | length' "$T/stats-after.json" 2>/dev/null)" = 0 ] ||
			{ bad "$2: the tapdisk still has the ring: $(cat "$T/stats-after.json")"; rc=1; }
		tap-ctl destroy -p "$TD_PID" -m "$TD_MINOR" >"$T/destroy.out" 2>&1 ||
			{ bad "$2: tap-ctl destroy: $(cat "$T/destroy.out")"; rc=1; }
		for ((i = 0; i < 100; i++)); do
			kill -0 "$TD_PID" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$TD_PID" 2>/dev/null; then
			bad "$2: tapdisk $TD_PID still running after destroy"
			rc=1
		else
			ok "$2: tapdisk $TD_PID exited after tap-ctl destroy"
		fi
		[ -z "$(tap-ctl list 2>&1)" ] || { bad "$2: tap-ctl list after destroy: $(tap-ctl list 2>&1)"; rc=1; }
		[ ! -e "$RUN_DIR/ctl$TD_PID" ] || { bad "$2: control socket $RUN_DIR/ctl$TD_PID left"; rc=1; }
	fi
	xenstore-rm "$fe" 2>/dev/null
	xenstore-rm "$be" 2>/dev/null
	return $rc
}

# stat_of KEY: a counter of the last run (td-serve's stats line, or tap-ctl stats' JSON)
stat_of() {
	local q
	if [ "$XEN_TEST_BACKEND" = td-serve ]; then
		vbd_stat "$DOMID" "$CUR_DEV" "$1"
		return
	fi
	case $1 in
	requests) q=".rings[0].requests.total" ;;
	reads | writes | discards) q=".rings[0].requests.${1%s}" ;;
	flushes) q=".rings[0].requests.flush" ;;
	indirect) q=".rings[0].requests.indirect" ;;
	errors) q=".rings[0].errors.error" ;;
	invalid) q=".rings[0].errors.invalid" ;;
	io_errors) q=".rings[0].errors.io" ;;
	grant_errors) q=".rings[0].errors.grant" ;;
	events | notifications | spurious_events) q=".rings[0].$1" ;;
	poll_cpu_us) q='.polling.stats.cpu_ns / 1000 | floor' ;;
	poll_requests | poll_completions) q=".polling.stats.polled_${1#poll_}" ;;
	poll_*) q=".polling.stats.${1#poll_}" ;;
	*) return 1 ;;
	esac
	jq -e "$q" "$T/stats.json" 2>/dev/null
}

# ---- one run ----------------------------------------------------------------------------------
run_no=0
# next_disk: DEV and XVD, the next run's devid and the domU's name for the disk
next_disk() {
	DEV=$((51712 + 16 * run_no))
	XVD=xvd$(printf "\\$(printf '%03o' $((97 + run_no)))")
	run_no=$((run_no + 1))
	CUR_DEV=$DEV
}

# run CASE MODE POLLING
run() {
	local type=$1 mode=$2 polling=$3 name dev xvd v vv n=$failures
	name=$type-$mode-$polling
	next_disk
	dev=$DEV xvd=$XVD
	domu_alive || { bad "$name: not run, the domU is gone"; return; }
	log "=== run $name: $xvd (devid $dev), $XEN_TEST_BACKEND backend (uptime $(uptime_s))"
	make_image "$type" "$mode" "$name" || { bad "$name: cannot make the image"; return; }
	local blocks0
	blocks0=$(stat -c %b "$IMG")
	attach "$dev" "$type" "$IMG" "$polling" || { bad "$name: attach failed"; detach "$dev" "$name"; return; }
	if ! domu_wait "^@ done $xvd" 180 >/dev/null; then
		bad "$name: the domU did not finish with $xvd (backend state $(xenstore-read "$(be_path "$dev")/state" 2>&1), frontend $(xenstore-read "$(fe_path "$dev")/state" 2>&1))"
		[ "$XEN_TEST_BACKEND" = td-serve ] && cat "$(vbd_dir "$DOMID" "$dev")"/{handshake.log,stderr} 2>/dev/null | tail -20
		[ "$XEN_TEST_BACKEND" = tapback ] && tail -20 "$T/tapback.log" "$T/tapdisk.log"
		detach "$dev" "$name"
		return
	fi
	# connected on both sides; tapback found the tapdisk from physical-device-path
	v=$(xenstore-read "$(be_path "$dev")/state" 2>&1)
	vv=$(xenstore-read "$(fe_path "$dev")/state" 2>&1)
	[ "$v/$vv" = 4/4 ] && ok "$name: backend and frontend Connected" ||
		bad "$name: states backend $v, frontend $vv while the guest did I/O"
	if [ "$XEN_TEST_BACKEND" = tapback ]; then
		v=$(xenstore-read "$(be_path "$dev")/kthread-pid" 2>&1)
		[ "$v" = "$TD_PID" ] && ok "$name: tapback wrote kthread-pid $v" ||
			bad "$name: kthread-pid '$v', the tapdisk is $TD_PID"
	fi
	snapshot_stats "$dev"
	detach "$dev" "$name" || true
	domu_wait "^@ gone $xvd" 30 >/dev/null || bad "$name: $xvd still present in the domU after detach"
	xenstore-exists "$(be_path "$dev")" 2>/dev/null && bad "$name: backend tree left behind"

	# the domU's own checks
	domu_checks "$name" "$xvd"
	grep -a -q -E "^@ check $xvd-header" "$DOMU_LOG" && return

	# what dom0 checks: the image holds what the guest wrote, and what dom0 wrote where the
	# guest only read; the datapath counters show each kind of request arrived
	if [ "$mode" = full ]; then
		local hdr
		hdr=$(img_read "$type" "$IMG" 0 512 | head -n1)
		[ "$hdr" = "XT case=$name mode=$mode" ] && ok "$name: header intact" ||
			bad "$name: header changed: '$hdr'"
		v=$(img_md5 "$type" "$IMG" $((1 * MiB)) $MiB)
		[ "$v" = "$PRE1_MD5" ] && ok "$name: dom0's region unchanged" || bad "$name: dom0's region changed"
		for kind in 4k:read4k-1M 1M:read1M-1M; do
			vv=$(domu_val "^@ md5 $xvd ${kind#*:} " | awk '{print $5}')
			[ "$vv" = "$PRE1_MD5" ] && ok "$name: guest read dom0's data (${kind%%:*} requests)" ||
				bad "$name: guest read '$vv' for dom0's data (${kind%%:*} requests), expected $PRE1_MD5"
		done
		for r in "4k:$((2 * MiB)):$MiB" "512:$((6147 * 512)):1536" "4M:$((4 * MiB)):$((8 * MiB))"; do
			IFS=: read -r k off len <<<"$r"
			v=$(img_md5 "$type" "$IMG" "$off" "$len")
			vv=$(domu_val "^@ md5 $xvd pattern-$k " | awk '{print $5}')
			[ -n "$vv" ] && [ "$v" = "$vv" ] && ok "$name: image holds the guest's $k writes" ||
				bad "$name: image has $v at $off+$len, the guest wrote $vv ($k writes)"
		done
		if grep -a -q -E "^@ check $xvd-blkdiscard ok" "$DOMU_LOG"; then
			v=$(img_md5 "$type" "$IMG" $((16 * MiB)) $((4 * MiB)))
			vv=$(dd if=/dev/zero bs=1M count=4 2>/dev/null | md5sum | cut -d' ' -f1)
			[ "$v" = "$vv" ] && ok "$name: discarded range reads zeros in the image" ||
				bad "$name: discarded range is not zero in the image"
			if [ "$type" = raw ]; then
				# The guest wrote 9 MiB + 8 KiB where the image had no blocks (domU-init's
				# layout: [2,3), the page at 3 MiB + 1.5 KiB, [4,12), a page at 12 MiB)
				# and discarded the 4 MiB dom0 had written at [16,20).
				local blocks1 grown=$(((9 * MiB + 8192) / 512)) punched=$((4 * MiB / 512))
				blocks1=$(stat -c %b "$IMG")
				[ $((blocks1 - blocks0)) -le $((grown - punched)) ] &&
					ok "$name: discard punched a hole ($blocks0 -> $blocks1 blocks)" ||
					bad "$name: discard freed no blocks ($blocks0 -> $blocks1, expected at most $((blocks0 + grown - punched)))"
			fi
			v=$(stat_of discards)
			[ "${v:-0}" -gt 0 ] && ok "$name: $v discard requests" || bad "$name: no discard request counted"
		elif [ "$type" = raw ]; then
			bad "$name: discard not advertised to the guest ($(domu_val "^@ discard $xvd"))"
		else
			log "$name: discard not advertised (the $type driver)"
			sum "NOTE $name: discard not advertised by the $type driver, not tested"
		fi
		v=$(stat_of indirect)
		[ "${v:-0}" -gt 0 ] && ok "$name: $v indirect requests" || bad "$name: no indirect request counted ($(domu_val "^@ info $xvd"))"
		v=$(stat_of flushes)
		[ "${v:-0}" -gt 0 ] && ok "$name: $v flushes" || bad "$name: no flush counted"
		for k in errors invalid io_errors grant_errors; do
			v=$(stat_of $k)
			[ "${v:-0}" -eq 0 ] || bad "$name: $v $k"
		done
	fi
	local notes="" k
	for k in requests reads writes events notifications; do
		v=$(stat_of $k) && notes+=" $k=$v"
	done
	sum "STAT $name: backend$notes; domU /sys/block/$xvd/stat: $(domu_val "^@ stat $xvd" | cut -d' ' -f4- | tr -s ' ')"
	# every request the guest's block layer completed was a ring request ringtap served (the
	# guest counts a flush also as an empty write: fields 5 and 16 of its stat)
	local gr gw gf
	read -r _ _ _ gr _ _ _ gw _ _ _ _ _ _ _ _ _ _ gf _ < <(domu_val "^@ stat $xvd")
	v=$(stat_of reads)
	[ "$v" = "$gr" ] && ok "$name: $v reads, as many as the guest's" ||
		bad "$name: ringtap served $v reads, the guest completed $gr"
	v=$(stat_of writes)
	[ -n "$gw" ] && [ "$v" = $((gw - gf)) ] && ok "$name: $v writes, as many as the guest's" ||
		bad "$name: ringtap served $v writes, the guest completed $gw (with $gf flushes)"
	# the timed workload, with the notification counts that show whether polling engaged
	if [ "$mode" = perf ]; then
		local perf="" label rc secs mbps
		while read -r _ _ _ label rc secs mbps; do
			[ "$rc" = rc=0 ] || bad "$name: the domU's timed $label failed ($rc)"
			perf+="$label ${mbps#MBps=} MB/s (${secs#seconds=} s), "
		done < <(grep -a -E "^@ perf $xvd " "$DOMU_LOG" | tr -d '\r')
		[ -n "$perf" ] || bad "$name: no timed workload results"
		notes="guest irqs from the backend $(domu_val "^@ irqs $xvd" | sed 's/.*=//')"
		# (under emulation a guest doing one request at a time answers a completion long
		# after any polling window: hits are mostly polled completions, not requests)
		for k in requests events notifications poll_entered poll_hits poll_misses poll_guarded \
			poll_requests poll_completions poll_notifications_suppressed poll_cpu_us; do
			label=${k#poll_}
			case $k in poll_requests | poll_completions) label=polled_$label ;; esac
			v=$(stat_of $k) && notes+=", $label $v"
		done
		sum "PERF $name: $perf$notes"
	fi
	if [ $failures -eq $n ]; then sum "PASS $name"; else sum "FAIL $name ($((failures - n)) checks)"; fi
}

# ---- LVHD -------------------------------------------------------------------------------------
# run_lvhd: a thin VDI as LVHDSR makes it (VG_XenStorage-<sr>/VHD-<vdi> on a loop device, the LV
# sized for the empty VHD, `vhd-util create -S`), inflated before attach to what SM gives an
# 8 MiB disk, so the domU's 32 MiB disk has room for a few blocks only. dom0 writes the header
# (block 0); the domU writes 2 MiB blocks from block 1 on until one fails (domU-init's lvhd).
# Expected: the first failure exactly where the LV is full (an I/O error, tapdisk still
# serving), then after detach a clean `vhd-util check`, the guest's blocks in the image and zeros
# beyond; the same after an inflate to the full size (as the next attach does) and after the
# deflate back to the used size (as a detach does); then a snapshot onto a new LV (offline) whose
# parent is named by its /dev/mapper node, as blktap and XAPI name it.
LVHD_DISK_MIB=32
run_lvhd() {
	local name=lvhd n=$failures sr vdi base lv short phys fit v vv t0 line
	t0=$(uptime_s)
	next_disk
	domu_alive || { bad "$name: not run, the domU is gone"; return; }
	log "=== run $name: $XVD (devid $DEV), $XEN_TEST_BACKEND backend (uptime $(uptime_s))"
	modprobe dm-mod && modprobe loop || { bad "$name: modprobe dm-mod, loop failed"; return; }
	sr=$(cat /proc/sys/kernel/random/uuid)
	vdi=$(cat /proc/sys/kernel/random/uuid)
	lvhd_vg_create "$sr" $((64 * MiB)) "$T/lvhd" && lvhd_vdi_create "$vdi" $LVHD_DISK_MIB ||
		{ lvhd_vg_remove; return; }
	lv=$(lvhd_lv_path "VHD-$vdi")
	short=$(lvhd_size_vhd_lv $((8 * MiB)))
	lvhd_inflate "$vdi" "$short" || { lvhd_vg_remove; return; }
	{
		printf 'XT case=%s mode=lvhd\n' "$name"
		dd if=/dev/zero bs=4096 count=1 2>/dev/null
	} | head -c 4096 | img_write vhd "$lv" 0 || { bad "$name: writing the header"; lvhd_vg_remove; return; }
	phys=$(vhd-util query -s -n "$lv")
	fit=$(lvhd_blocks_fit "$short" "$phys")
	ok "$name: $lv inflated to $short bytes, room for $fit more blocks (uptime $(uptime_s))"
	attach "$DEV" vhd "$lv" default || { bad "$name: attach failed"; detach "$DEV" "$name"; lvhd_vg_remove; return; }
	domu_wait "^@ done $XVD" 180 >/dev/null || bad "$name: the domU did not finish with $XVD"
	[ "$XEN_TEST_BACKEND" = tapback ] && { grep -q "No space left on device" "$T/tapdisk.log" &&
		ok "$name: tapdisk logged ENOSPC" || bad "$name: tapdisk logged no ENOSPC"; }
	detach "$DEV" "$name" || true
	domu_wait "^@ gone $XVD" 30 >/dev/null || bad "$name: $XVD still present in the domU after detach"
	domu_checks "$name" "$XVD"
	v=$(domu_val "^@ lvhd $XVD " | sed 's/.*failed-block=//')
	[ "$v" = $((1 + fit)) ] && ok "$name: the guest's first failed write is block $v, where the LV is full" ||
		bad "$name: the guest's first failed write is block '$v', expected $((1 + fit))"
	vv=$(domu_val "^@ md5 $XVD lvhd-written " | awk '{print $5}')
	# the disk as the guest left it, read once: the header, the guest's blocks, zeros after them
	img_read vhd "$lv" 0 $((LVHD_DISK_MIB * MiB)) >"$T/lvhd.disk" || bad "$name: vhd-io read"
	[ "$(head -n1 "$T/lvhd.disk")" = "XT case=$name mode=lvhd" ] && ok "$name: header intact" ||
		bad "$name: header changed"
	v=$(dd if="$T/lvhd.disk" bs=2M skip=1 count=$fit 2>/dev/null | md5sum | cut -d' ' -f1)
	[ -n "$vv" ] && [ "$v" = "$vv" ] && ok "$name: the image holds the guest's blocks" ||
		bad "$name: the image has $v for the guest's blocks, the guest wrote $vv"
	v=$(dd if="$T/lvhd.disk" bs=2M skip=$((1 + fit)) 2>/dev/null | tr -d '\0' | wc -c)
	[ "$v" = 0 ] && ok "$name: zeros past the LV's end" || bad "$name: $v non-zero bytes past the LV's end"
	vv=$(md5sum <"$T/lvhd.disk" | cut -d' ' -f1)
	rm -f "$T/lvhd.disk"
	for step in detached inflated deflated; do
		case $step in
		inflated) lvhd_inflate "$vdi" "$(lvhd_size_vhd_lv $((LVHD_DISK_MIB * MiB)))" || break ;;
		deflated)
			lvhd_deflate "$vdi" || break
			[ "$(lvhd_lv_bytes "VHD-$vdi")" = "$short" ] && ok "$name: deflated to $short bytes" ||
				bad "$name: the LV is $(lvhd_lv_bytes "VHD-$vdi") bytes after deflate, expected $short"
			;;
		esac
		vhd-util check -n "$lv" >"$T/check.out" 2>&1 && ok "$name: $step: vhd-util check" ||
			bad "$name: $step: vhd-util check: $(cat "$T/check.out")"
		v=$(vhd-util query -a -n "$lv")
		[ "$v" = $((1 + fit)) ] && ok "$name: $step: $v blocks allocated" ||
			bad "$name: $step: $v blocks allocated, expected $((1 + fit))"
		[ $step = detached ] && continue
		v=$(img_md5 vhd "$lv" 0 $((LVHD_DISK_MIB * MiB)))
		[ "$v" = "$vv" ] && ok "$name: $step: the disk reads the same" ||
			bad "$name: $step: the disk reads differently"
	done
	# an offline snapshot onto a new LV: the leaf names the read-only base by its mapper node, and
	# tapdisk opens the chain
	base=$(cat /proc/sys/kernel/random/uuid)
	if lvhd_snapshot "$vdi" "$base"; then
		v=$(vhd-util query -p -n "$lv")
		[ "$v" = "$(lvhd_lv_canonical "VHD-$base")" ] && ok "$name: snapshot: the leaf's parent is $v" ||
			bad "$name: snapshot: the leaf's parent is '$v', expected $(lvhd_lv_canonical "VHD-$base")"
		vhd-util check -n "$lv" >"$T/check.out" 2>&1 && ok "$name: snapshot: vhd-util check" ||
			bad "$name: snapshot: vhd-util check: $(cat "$T/check.out")"
		[ "$(img_md5 vhd "$lv" 0 $((LVHD_DISK_MIB * MiB)))" = "$vv" ] &&
			ok "$name: snapshot: the leaf reads the disk through the base" ||
			bad "$name: snapshot: the leaf reads differently"
		if tap-ctl create -a "vhd:$lv" >"$T/create.out" 2>&1; then
			line=$(tap-ctl list | grep -F "args=vhd:$lv")
			[[ $line =~ pid=([0-9]+)\ minor=([0-9]+) ]] &&
				v=$(tap-ctl stats -p "${BASH_REMATCH[1]}" -m "${BASH_REMATCH[2]}" | jq '.images | length') &&
				tap-ctl destroy -p "${BASH_REMATCH[1]}" -m "${BASH_REMATCH[2]}" >/dev/null 2>&1
			[ "$v" = 2 ] && ok "$name: snapshot: tapdisk opens the chain" ||
				bad "$name: snapshot: tapdisk's chain has '$v' images ($line)"
		else
			bad "$name: snapshot: tap-ctl create -a vhd:$lv: $(cat "$T/create.out")"
		fi
	fi
	lvhd_vg_remove
	[ -z "$(losetup -a)" ] || bad "$name: loop devices left: $(losetup -a)"
	log "$name: the run took $(echo "$t0 $(uptime_s)" | awk '{printf "%.0f", $2 - $1}') s of dom0's time"
	if [ $failures -eq $n ]; then sum "PASS $name"; else sum "FAIL $name ($((failures - n)) checks)"; fi
}

for c in $XEN_TEST_CASES; do
	case $c in
	raw | vhd) run "$c" full default ;;
	lvhd) run_lvhd ;;
	*) bad "unknown case $c" ;;
	esac
done
# polling off vs adaptive, same workload (tap-ctl poll -P, or td-serve --poll)
run raw perf off
run raw perf adaptive

domu_alive && { xl destroy guest >/dev/null 2>&1 || bad "xl destroy failed"; }
[ "$XEN_TEST_BACKEND" = tapback ] && { kill $tapback_pid 2>/dev/null; wait $tapback_pid 2>/dev/null; }
kill $relay 2>/dev/null
printf 'SUMMARY %s\n' "${summary[@]}"
log "dom0 test finished at uptime $(uptime_s) with $failures failure(s)"
[ $failures -eq 0 ]
