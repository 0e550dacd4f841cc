# fio drives the guest through the `blkfront` external ioengine against td-serve on simxen:
# verify=crc32c through the ring; fio's JSON output stays valid and free of the engine's
# counters (those go to stderr or the bf_stats file); written bytes land in the image; the engine
# options (ABI, ring order, persistent, polling); two jobs as threads on two VBDs; fsync, trim.
. "$(dirname "$0")/../lib/common.sh"
. "$SRC/tests/lib/simxen.sh"
. "$SRC/tests/lib/vbd.sh"
. "$SRC/tests/lib/blkfront.sh"

ENGINE=$RINGTAP_BUILD/lib/blkfront.so
[ -f "$ENGINE" ] || fail "$ENGINE is not built"
command -v fio >/dev/null || fail "fio is not installed (tools/install-deps)"

simxen_start
dom=$(simxen_domain_create guest)
head -c 16M /dev/zero >"$T/img1"
head -c 16M /dev/zero >"$T/img2"

# bf_fio DEVID ENGINE-OPTIONS... -- FIO-OPTIONS...: one job on the VBD, JSON on $T/fio.json
bf_fio() {
	local dev=$1 eopts=()
	shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		eopts+=("$1")
		shift
	done
	shift
	bf_guest "$dom" fio --output-format=json --output="$T/fio.json" --name=job \
		--ioengine=external:"$ENGINE" "${eopts[@]}" --filename="$(bf_fe "$dom" "$dev")" "$@"
}

# json_get EXPR: a value from $T/fio.json (python3 expression on `j`)
json_get() { python3 -c "import json,sys; j=json.load(open('$T/fio.json')); print($1)"; }

# 1: random writes with crc32c verification, counters in a file
bf_attach "$dom" 1 "aio:$T/img1"
expect_rc 0 "randwrite 4k QD16 with verify=crc32c" bf_fio 1 --bf_ring_order=2 \
	--bf_stats="$T/counters.json" -- --rw=randwrite --bs=4k --iodepth=16 --size=8M \
	--verify=crc32c --do_verify=1
python3 -m json.tool "$T/fio.json" >/dev/null || fail "fio's JSON output does not parse"
echo "ok: fio's JSON output parses"
expect_eq "$(json_get "j['jobs'][0]['error']")" 0 "the job reports no error"
expect_eq "$(json_get "j['jobs'][0]['write']['io_bytes']")" 8388608 "8 MiB written"
expect_eq "$(json_get "j['jobs'][0]['read']['io_bytes']")" 8388608 "8 MiB read back and verified"
! grep -q notifications_sent "$T/fio.json" || fail "the engine's counters leaked into fio's JSON"
echo "ok: no engine counter in fio's JSON"
python3 -m json.tool "$T/counters.json" >/dev/null || fail "the counters file is not JSON"
sent=$(python3 -c "import json; print(json.load(open('$T/counters.json'))['blkfront']['notifications_sent'])")
[ "$sent" -gt 0 ] || fail "no notification counted"
echo "ok: the engine counted $sent notifications sent"
vbd_detach "$dom" 1 || true
expect_eq "$(vbd_stat "$dom" 1 errors)" 0 "td-serve saw no bad request"

# 2: a known pattern, sequentially in 1 MiB requests (indirect), lands in the image; counters on
# stderr, fio's JSON on its own
bf_attach "$dom" 2 "aio:$T/img2"
expect_rc 0 "seq write 1M QD8, x86_32 ABI, order 4, no persistent grants" bf_fio 2 \
	--bf_abi=x86_32-abi --bf_ring_order=4 --bf_persistent=0 -- --rw=write --bs=1M \
	--iodepth=8 --size=12M --buffer_pattern=0x5aa5c33c
grep -q '"notifications_sent"' "$T/err" || fail "no engine counters on stderr"
echo "ok: the engine's counters went to stderr"
python3 -m json.tool "$T/fio.json" >/dev/null || fail "fio's JSON output does not parse"
python3 - "$T/img2" <<'PY' || fail "the image does not hold fio's pattern"
import sys
data = open(sys.argv[1], "rb").read()
want = bytes.fromhex("5aa5c33c") * (12 * 1048576 // 4)
assert data[: len(want)] == want, "pattern mismatch"
assert data[len(want):] == bytes(len(data) - len(want)), "bytes past 12 MiB changed"
PY
echo "ok: the image holds fio's 12 MiB pattern and zeros after it"
vbd_detach "$dom" 2 || true
expect_eq "$(vbd_stat "$dom" 2 writes)" 12 "twelve 1 MiB write requests"
expect_eq "$(vbd_stat "$dom" 2 indirect)" 12 "each of them indirect"

# 3: mixed random I/O with fsyncs, polling mode, two jobs as threads on two VBDs
bf_attach "$dom" 3 "aio:$T/img1"
bf_attach "$dom" 4 "aio:$T/img2"
expect_rc 0 "two threads, randrw with verify, polling" bf_guest "$dom" fio \
	--output-format=json --output="$T/fio.json" --thread --ioengine=external:"$ENGINE" \
	--bf_poll=1 --bf_ring_order=1 --rw=randrw --bs=4k-64k --iodepth=8 --size=4M \
	--verify=crc32c --fsync=16 --bf_stats="$T/poll.json" \
	--name=a --filename="$(bf_fe "$dom" 3)" --name=b --filename="$(bf_fe "$dom" 4)"
expect_eq "$(json_get "len(j['jobs'])")" 2 "two jobs reported"
expect_eq "$(json_get "j['jobs'][0]['error'] + j['jobs'][1]['error']")" 0 "both jobs without error"
expect_eq "$(python3 -c "import json; print(json.load(open('$T/poll.json'))['blkfront']['mode'])")" \
	poll "the engine polled"
vbd_detach "$dom" 3 || true
vbd_detach "$dom" 4 || true
[ "$(vbd_stat "$dom" 3 flushes)" -gt 0 ] || fail "fio's fsyncs did not reach the backend as flushes"
echo "ok: fsyncs reached the backend as flushes"

# 4: trims become discards
bf_attach "$dom" 5 "aio:$T/img1"
expect_rc 0 "randtrim 64k" bf_fio 5 -- --rw=randtrim --bs=64k --iodepth=4 --size=2M
vbd_detach "$dom" 5 || true
expect_eq "$(vbd_stat "$dom" 5 discards)" 32 "32 trims reached the backend as discards"
