# Persistent-grant pages as io_uring fixed buffers, where the kernel pins them: simxen's guest
# memory on tmpfs (/dev/shm), which the kernel accepts, TAPDISK_URING_FIXED_BUFFERS=on.
# - td-serve (io_uring): a guest with persistent grants writes 8 MiB in 4 KiB I/Os (one segment:
#   one iovec inside one granted page), reads it back and reads 8 MiB elsewhere: the image and
#   the reads hold its bytes, and the engine counted READ_FIXED/WRITE_FIXED on grant pages
#   (fixed_page_ios); the same with a cache of 16 pages, smaller than the guest's working set:
#   entries evicted, their pages unregistered and the entries' slots registered again with
#   other pages, the bytes still right;
# - the real tapdisk behind tapback on a VHD chain: the guest writes and reads back 4 MiB in
#   4 KiB I/Os, holds its connection while the VBD is paused and unpaused, then writes and reads
#   back 4 MiB more: `tap-ctl stats` shows fixed_page_ios > 0 on the leaf and grant pages
#   registered on both files (driver_stats.fixed_pages); right after the unpause, before any
#   new I/O, the new files have the ring's mapped pages registered again; the data reads back.
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
"$BIN/vhd-util" create -n "$T/p.vhd" -s 64 || fail "vhd-util create"
"$BIN/vhd-util" snapshot -n "$T/c.vhd" -p "$T/p.vhd" || fail "vhd-util snapshot"
expect_rc 0 "tap-ctl open" "$TAPCTL" open -p "$pid" -m "$minor" -a "vhd:$T/c.vhd"
tapdisk_vbd "$dom"
# fixed_page_ios of the leaf, fixed_pages of the leaf and of its parent, and the ring's
# failed requests and grant errors, as SM reads `tap-ctl stats` (json.loads of the first line)
fixed_counts() {
	"$TAPCTL" stats -p "$pid" -m "$minor" | head -n 1 | python3 -c '
import json, sys
j = json.loads(sys.stdin.readline())
d = [i.get("driver_stats", {}) for i in j["images"]]
print(d[0].get("fixed_page_ios", 0), d[0].get("fixed_pages", 0),
      d[1].get("fixed_pages", 0) if len(d) > 1 else 0,
      sum(r["errors"]["error"] + r["errors"]["grant"] for r in j["rings"]))'
}
pages_on_both() { read -r ios leaf parent errs < <(fixed_counts) && [ "$leaf" -gt 0 ] && [ "$parent" -gt 0 ]; }
head -c 4M /dev/urandom >"$T/d1"
head -c 4M /dev/urandom >"$T/d2"
(cd "$T" && bf_guest "$dom" "$TBIN/blkfront-io" --device "$(bf_fe "$dom" "$devid")" \
	--pieces 1024 write 4M 4M d1 read 4M 4M b1 wait-for go read 4M 4M b1again \
	write 12M 4M d2 read 12M 4M b2 >guest.out 2>&1) &
guest=$!
wait_until 60 "the guest's first write read back" test -s "$T/b1"
pages_on_both || fail "tap-ctl stats: no grant page registered on both files ($leaf, $parent)"
[ "$ios" -gt 0 ] || fail "tap-ctl stats: no fixed_page_ios on the leaf"
expect_eq "$errs" 0 "tap-ctl stats: no request failed, no grant error"
echo "ok: tap-ctl stats: $ios I/Os on fixed grant pages; $leaf and $parent pages registered"
expect_rc 0 "pause" "$TAPCTL" pause -p "$pid" -m "$minor"
expect_rc 0 "unpause" "$TAPCTL" unpause -p "$pid" -m "$minor"
# no I/O since: what is registered came from the ring's cache at the resume
pages_on_both || fail "after the unpause, the ring's mapped pages are not registered ($leaf, $parent)"
expect_eq "$ios" 0 "the new files have done no fixed I/O yet"
echo "ok: after the unpause, $leaf and $parent mapped pages registered again"
touch "$T/go"
wait "$guest" || fail "the guest's I/O failed: $(tail -3 "$T/guest.out")"
cmp -s "$T/d1" "$T/b1" && cmp -s "$T/d1" "$T/b1again" && cmp -s "$T/d2" "$T/b2" ||
	fail "the guest read back other data"
echo "ok: the guest's data through fixed grant pages, before and after the pause"
read -r ios leaf parent errs < <(fixed_counts)
[ "$ios" -gt 0 ] || fail "tap-ctl stats: no fixed_page_ios after the unpause"
xs_wait "$be/state" 6 60
expect_rc 0 "tap-ctl close" "$TAPCTL" close -p "$pid" -m "$minor"
expect_rc 0 "tap-ctl detach" "$TAPCTL" detach -p "$pid" -m "$minor"
expect_rc 0 "tap-ctl free" "$TAPCTL" free -m "$minor"
expect_rc 0 "the chain checks clean" "$BIN/vhd-util" check -n "$T/c.vhd"
check_sanitizers
echo PASS
