# Persistent-grant pages as io_uring fixed buffers, where the kernel pins them: simxen's guest
# memory on tmpfs (/dev/shm), which the kernel accepts, TAPDISK_URING_FIXED_BUFFERS=on.
# - td-serve (io_uring): a guest with persistent grants writes 8 MiB in 4 KiB I/Os (one segment:
#   one iovec inside one granted page), reads it back and reads 8 MiB elsewhere: the image and
#   the reads hold its bytes, and the engine counted READ_FIXED/WRITE_FIXED on grant pages
#   (fixed_page_ios); the same with a cache of 16 pages, smaller than the guest's working set:
#   entries evicted, their pages unregistered and the entries' slots registered again with
#   other pages, the bytes still right;
# - the real tapdisk behind tapback, fio (4 KiB random writes, crc32c-verified) as the guest:
#   `tap-ctl stats` shows images[0].driver_stats.fixed_page_ios > 0 and no error.
# pgrant-fixed-refused.sh: the same on a disk file system, which the kernel refuses.
. "$(dirname "$0")/../lib/common.sh"
. "$SRC/tests/lib/tapdisk.sh"
. "$SRC/tests/lib/simxen.sh"
. "$SRC/tests/lib/vbd.sh"
. "$SRC/tests/lib/blkfront.sh"
. "$SRC/tests/lib/pgrant_fixed.sh"

pf_need
[ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ] || skip "/dev/shm is not a tmpfs here"
shm=$(mktemp -d /dev/shm/ringtap-test.XXXXXX)
at_exit "rm -rf '$shm'" # after simxen stops (cleanups run last first)
simxen_start "$shm/simxen"
dom=$(simxen_domain_create guest)
pf_images

pf_run 1 ""
[ "$(vbd_stat "$dom" 1 fixed_page_ios)" -gt 0 ] ||
	fail "dev 1: no I/O went as READ_FIXED/WRITE_FIXED on a persistent-grant page"
[ "$(vbd_stat "$dom" 1 pgrant_hits)" -gt 0 ] || fail "dev 1: the grant mappings were never reused"
echo "ok: dev 1: $(vbd_stat "$dom" 1 fixed_page_ios) I/Os on fixed grant pages"

pf_run 2 "--pgrant-cache 16"
[ "$(vbd_stat "$dom" 2 pgrant_evictions)" -gt 0 ] ||
	fail "dev 2: a cache of 16 pages evicted nothing"
[ "$(vbd_stat "$dom" 2 fixed_page_ios)" -gt 0 ] ||
	fail "dev 2: no I/O went as READ_FIXED/WRITE_FIXED on a persistent-grant page"
echo "ok: dev 2: $(vbd_stat "$dom" 2 pgrant_evictions) evictions," \
	"$(vbd_stat "$dom" 2 fixed_page_ios) I/Os on fixed grant pages"
! grep -q "refuses to register a page" "$T"/vbd.*/stderr ||
	fail "the kernel refused a tmpfs page: $(grep -h "refuses to register" "$T"/vbd.*/stderr)"

# ---- the real tapdisk: tap-ctl stats --------------------------------------------------------
need_built "$TAPCTL" "$BIN/tapdisk" "$BIN/tapback" "$ENGINE"
tapdisk_env
export TAPDISK_IO_ENGINE=io_uring
"$BIN/tapback" --foreground 2>>"$T/tapback.log" &
tb=$!
at_exit "kill $tb 2>/dev/null; wait $tb 2>/dev/null"
minor=$("$TAPCTL" allocate | sed 's/.*tapdisk-//')
pid=$("$TAPCTL" spawn) || fail "tap-ctl spawn"
expect_rc 0 "tap-ctl attach" "$TAPCTL" attach -p "$pid" -m "$minor"
expect_rc 0 "tap-ctl open" "$TAPCTL" open -p "$pid" -m "$minor" -a "aio:$T/img"
tapdisk_vbd "$dom"
bf_guest "$dom" fio --name=job --ioengine=external:"$ENGINE" \
	--filename="$(bf_fe "$dom" "$devid")" --rw=randwrite --bs=4k --iodepth=8 --size=4M \
	--verify=crc32c --do_verify=1 >"$T/fio.log" 2>&1 && grep -q 'err= 0' "$T/fio.log" ||
	fail "fio writing and verifying 4 MiB failed: $(tail "$T/fio.log")"
echo "ok: fio wrote and verified 4 MiB"
# the image's driver_stats and the ring's errors, as SM reads `tap-ctl stats`
read -r fixed errs < <("$TAPCTL" stats -p "$pid" -m "$minor" | head -n 1 | python3 -c '
import json, sys
j = json.loads(sys.stdin.readline())
print(j["images"][0].get("driver_stats", {}).get("fixed_page_ios", 0),
      sum(r["errors"]["error"] + r["errors"]["grant"] for r in j["rings"]))')
[ "$fixed" -gt 0 ] || fail "tap-ctl stats: no fixed_page_ios in images[0].driver_stats"
expect_eq "$errs" 0 "tap-ctl stats: no request failed, no grant error"
echo "ok: tap-ctl stats: $fixed I/Os on fixed grant pages"
xs_wait "$be/state" 6 60
expect_rc 0 "tap-ctl close" "$TAPCTL" close -p "$pid" -m "$minor"
expect_rc 0 "tap-ctl detach" "$TAPCTL" detach -p "$pid" -m "$minor"
expect_rc 0 "tap-ctl free" "$TAPCTL" free -m "$minor"
check_sanitizers
echo PASS
