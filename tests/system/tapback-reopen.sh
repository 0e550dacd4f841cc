# A guest closes its disk and opens it again at once, through libblkfront's own close and open
# (Closing, wait for the backend's Closing, Closed, then Initialising right away): tapback, with
# the real tapdisk behind it, must offer InitWait again every time, even when it never saw the
# frontend's Closed (backend still Closing when the frontend says Initialising: the wedge this
# test was written for). Counts: 1000 reopens with no I/O in flight, then 1000 with a write in
# flight at each close (about 30 s each on a quiet 2-core machine). On a busy host each phase
# stops after 40 s but must reach $MIN_REOPENS: slowness is no wedge, which shows as an open
# that does not connect within 20 s and fails the test. Every reconnect reads back what the
# previous connection wrote; the write that was in flight holds its old or its new bytes,
# nothing else; tapback and tapdisk stay up and log no error; the VBD ends Closed on both sides.
. "$(dirname "$0")/../lib/common.sh"
. "$SRC/tests/lib/tapdisk.sh"
. "$SRC/tests/lib/simxen.sh"

REOPENS=1000
PHASE_SECONDS=40
MIN_REOPENS=20
need_built "$TAPCTL" "$BIN/tapdisk" "$BIN/tapback" "$TBIN/blkfront-reopen"
tapdisk_env
simxen_start
dom=$(simxen_domain_create guest1)
tapback_start

truncate -s 64M "$T/disk.img"
tapdisk_open "aio:$T/disk.img"

tapdisk_vbd "$dom"

# reopen ARGS...: one phase; prints its count, fails below MIN_REOPENS
reopen() {
	local out n
	out=$(env $(simxen_guest_env "$dom") "$TBIN/blkfront-reopen" --device "$fe" \
		--count "$REOPENS" --seconds "$PHASE_SECONDS" "$@" 2>"$T/reopen.err") ||
		fail "blkfront-reopen $*: $out; $(tail -n 5 "$T/reopen.err")"
	n=$(echo "$out" | sed -n 's/^reopened \([0-9]*\) .*/\1/p')
	[ -n "$n" ] && [ "$n" -ge "$MIN_REOPENS" ] ||
		fail "blkfront-reopen $*: only '$out' (at least $MIN_REOPENS wanted)"
	echo "ok: $out${*:+ ($*)}"
	kill -0 "$tb" 2>/dev/null || fail "tapback died"
	kill -0 "$pid" 2>/dev/null || fail "tapdisk died"
}

reopen --base 1
reopen --base 4096 --inflight

# the frontend's last close leaves both sides Closed and no ring in tapdisk; the VBD still
# serves a fresh guest open
xs_wait "$be/state" 6
expect_eq "$(xenstore-read "$fe/state")" 6 "the frontend ended Closed"
env $(simxen_guest_env "$dom") "$TBIN/blkfront-reopen" --device "$fe" --count 1 --base 8192 \
	>"$T/out" 2>&1 || fail "a last open after the loops: $(cat "$T/out")"
echo "ok: opens again after the loops"
missed=$(grep -c "frontend 1 backend 5 " "$T/tapback.log" || true)
echo "tapback saw Initialising while still Closing $missed times"

kill -0 "$tb" 2>/dev/null || fail "tapback died"
if grep -E "ERROR|error|AddressSanitizer|runtime error" "$T/tapback.log" | head -5 | grep .; then
	fail "tapback logged errors"
fi
"$TAPCTL" close -p "$pid" -m "$minor" || fail "tap-ctl close"
"$TAPCTL" detach -p "$pid" -m "$minor" || fail "tap-ctl detach"
"$TAPCTL" free -m "$minor" || fail "tap-ctl free"
wait_until 20 "tapdisk exits after its last detach" exited "$pid"
check_sanitizers
