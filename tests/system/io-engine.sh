# The I/O engine of each image, through the real tapdisk: with TAPDISK_IO_ENGINE=libaio and
# =io_uring a raw image and a VHD chain each serve a guest's fio with verification, and `tap-ctl
# stats` names the engine of every file; unset (auto) is io_uring; a bad value refuses the open.
# A tapdisk whose io_uring_setup is refused (deny-io-uring: a seccomp filter, as Docker's default
# profile or kernel.io_uring_disabled do) serves on libaio with one log line saying why, however
# many files it opens; asked for io_uring explicitly, it refuses the open.
. "$(dirname "$0")/../lib/common.sh"
. "$SRC/tests/lib/tapdisk.sh"
. "$SRC/tests/lib/simxen.sh"

V=$BIN/vhd-util
ENGINE=$RINGTAP_BUILD/lib/blkfront.so
DENY=$TBIN/deny-io-uring
need_built "$TAPCTL" "$BIN/tapdisk" "$BIN/tapback" "$ENGINE" "$DENY" "$V"
command -v fio >/dev/null || fail "fio missing (tools/install-deps)"
need_io_uring
tapdisk_env
cd "$T"
stats() { "$TAPCTL" stats -p "$pid" -m "$minor" | python3 -c "import json,sys; j=json.load(sys.stdin); print($1)"; }
engines() { stats "[i.get('engine') for i in j['images']]"; }

simxen_start
dom=$(simxen_domain_create guest)
"$BIN/tapback" --foreground 2>>tapback.log &
at_exit "kill $! 2>/dev/null"

truncate -s 64M raw.img
"$V" create -n p.vhd -s 64 || fail "vhd-util create"
"$V" snapshot -n c.vhd -p p.vhd || fail "vhd-util snapshot"

devid=0
# serve ENGINE IMAGE NFILES: tapdisk with TAPDISK_IO_ENGINE=ENGINE ("" for unset) serves IMAGE
# (NFILES files) to a guest's fio with verification; every file on ENGINE_SEEN
serve() {
	local eng=$1 image=$2 n=$3 seen=${ENGINE_SEEN:-$1} want
	devid=$((devid + 1))
	expect_rc 0 "create $image (engine '${eng:-unset}')" env ${eng:+TAPDISK_IO_ENGINE=$eng} \
		"$TAPCTL" create -a "$image"
	minor=$(sed 's/.*tapdisk-//' out)
	pid=$("$TAPCTL" list -m "$minor" | sed 's/pid=\([0-9]*\).*/\1/')
	want=$(python3 -c "print(['$seen'] * $n)")
	expect_eq "$(engines)" "$want" "stats: $image on $seen, every file"
	local be=/local/domain/0/backend/vbd3/$dom/$devid
	simxen_vbd_add "$dom" --devid "$devid" >/dev/null
	xenstore-write "$be/physical-device-path" "$TAPDISK_RUN_DIR/nbd$pid.$minor" \
		"$be/hotplug-status" connected
	expect_rc 0 "fio randwrite+verify through tapdisk on $image ($seen)" \
		env $(simxen_guest_env "$dom") fio --name=v --ioengine=external:"$ENGINE" \
		--filename="/local/domain/$dom/device/vbd/$devid" --rw=randwrite --bsrange=4k-128k \
		--iodepth=16 --offset=4M --size=16M --verify=crc32c --do_verify=1 \
		--output-format=json --output=fio.json
	python3 -c "import json,sys; j=json.load(open('fio.json'))['jobs'][0]; sys.exit(j['error'] or not j['read']['io_bytes'])" ||
		fail "fio on $image ($seen): an error, or nothing verified"
	expect_rc 0 "destroy" "$TAPCTL" destroy -p "$pid" -m "$minor"
}

for eng in libaio io_uring; do
	serve "$eng" "aio:$T/raw.img" 1
	serve "$eng" "vhd:$T/c.vhd" 2
	expect_rc 0 "the chain checks clean after $eng" "$V" check -n c.vhd
done
ENGINE_SEEN=io_uring serve "" "aio:$T/raw.img" 1
ENGINE_SEEN=io_uring serve auto "vhd:$T/c.vhd" 2

expect_rc 22 "TAPDISK_IO_ENGINE=bogus refuses the open" env TAPDISK_IO_ENGINE=bogus \
	"$TAPCTL" create -a "aio:$T/raw.img"
grep -q 'TAPDISK_IO_ENGINE=bogus: expected auto, libaio or io_uring' err ||
	fail "no reason for the refusal: $(cat err)"
echo "ok: the refusal says why"

# a host that refuses io_uring: tapdisk under a seccomp filter that fails io_uring_setup
printf '#!/bin/sh\nexec "%s" "%s" "$@"\n' "$DENY" "$BIN/tapdisk" >deny-tapdisk
chmod +x deny-tapdisk
export TAPDISK_BIN=$T/deny-tapdisk
line='I/O engine: io_uring is not available: Operation not permitted'
# new_lines FROM: the log's lines saying so after line FROM
new_lines() { tail -n +"$(($1 + 1))" "$TAPDISK_LOG_FILE" | grep -c "$line" || true; }
mark=$(wc -l <"$TAPDISK_LOG_FILE")
ENGINE_SEEN=libaio serve "" "vhd:$T/c.vhd" 2
expect_eq "$(new_lines "$mark")" 1 "one log line saying why io_uring is not used, for 2 files"
# in another tapdisk: a chain and a raw image, three files, still one line
mark=$(wc -l <"$TAPDISK_LOG_FILE")
minor=$("$TAPCTL" allocate | sed 's/.*tapdisk-//')
pid=$("$TAPCTL" spawn)
expect_rc 0 "attach" "$TAPCTL" attach -p "$pid" -m "$minor"
expect_rc 0 "open the chain (auto, io_uring refused)" "$TAPCTL" open -p "$pid" -m "$minor" -a "vhd:$T/c.vhd"
expect_eq "$(engines)" "['libaio', 'libaio']" "stats: the chain on libaio"
minor2=$("$TAPCTL" allocate | sed 's/.*tapdisk-//')
expect_rc 0 "attach a second minor" "$TAPCTL" attach -p "$pid" -m "$minor2"
expect_rc 0 "open a raw image on it" "$TAPCTL" open -p "$pid" -m "$minor2" -a "aio:$T/raw.img"
expect_eq "$(minor=$minor2 engines)" "['libaio']" "stats: the raw image on libaio"
expect_eq "$(new_lines "$mark")" 1 "one log line saying why io_uring is not used, for 3 files"
for m in "$minor" "$minor2"; do
	expect_rc 0 "close minor $m" "$TAPCTL" close -p "$pid" -m "$m"
	expect_rc 0 "detach minor $m" "$TAPCTL" detach -p "$pid" -m "$m"
	expect_rc 0 "free minor $m" "$TAPCTL" free -m "$m"
done
expect_rc 1 "TAPDISK_IO_ENGINE=io_uring, refused: the open fails (EPERM)" \
	env TAPDISK_IO_ENGINE=io_uring "$TAPCTL" create -a "aio:$T/raw.img"
grep -q "cannot open aio:$T/raw.img: Operation not permitted" "$TAPDISK_LOG_FILE" ||
	fail "the refused open is not logged: $(tail -3 "$TAPDISK_LOG_FILE")"
echo "ok: the refused open is logged"
check_sanitizers
