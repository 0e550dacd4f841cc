# simxen-xenstored through Debian's libxenstore (xs-client-test): transactions with a real
# conflict, watches, @releaseDomain fired by `simxen domain destroy`, and what a guest domain's
# connection may and may not do.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/simxen.sh"
simxen_start
client=$TBIN/xs-client-test

expect_rc 0 "transactions (isolation, abort, conflict, retry)" "$client" tx
cat "$T/out"
expect_rc 0 "watches (initial event, descendants, removal, commit, unwatch)" "$client" watch
cat "$T/out"

# An unprivileged domain, with a VBD dom0 wrote for it.
dom=$(simxen_domain_create guest)
simxen_vbd_add "$dom" >/dev/null
env $(simxen_guest_env "$dom") "$client" guest "$dom" >"$T/guest.out" 2>&1 &
gpid=$!
at_exit "kill $gpid 2>/dev/null"
for i in $(seq 1 100); do grep -q '^ready' "$T/guest.out" && break; sleep 0.1; done
grep -q '^ready' "$T/guest.out" || fail "guest client: $(cat "$T/guest.out")"
xenstore-write /local/domain/0/name Domain-0 # the guest may not read it: no event
xenstore-write "/local/domain/$dom/device/vbd/51712/state" 4
rc=0
wait $gpid || rc=$?
cat "$T/guest.out"
expect_eq "$rc" 0 "the guest connection's permission checks"
expect_eq "$(xenstore-read "/local/domain/$dom/data/hello")" "from-guest" "dom0 reads what the guest wrote"
expect_match "$(xenstore-ls -p "/local/domain/$dom/data")" 'hello = "from-guest".*\(n'"$dom"',r0\)' \
	"the guest's node is the guest's"

# @releaseDomain, fired by simxen domain destroy
"$client" release "$dom" >"$T/release.out" 2>&1 &
rpid=$!
at_exit "kill $rpid 2>/dev/null"
for i in $(seq 1 100); do grep -q '^ready' "$T/release.out" && break; sleep 0.1; done
grep -q '^ready' "$T/release.out" || fail "release client: $(cat "$T/release.out")"
simxen_domain_destroy "$dom"
rc=0
wait $rpid || rc=$?
cat "$T/release.out"
expect_eq "$rc" 0 "@releaseDomain fired by simxen domain destroy"
expect_rc 1 "the domain's nodes are gone" xenstore-exists "/local/domain/$dom"
[ ! -e "$SIMXEN_DIR/xenstored.d$dom.sock" ] || fail "the domain's socket is still there"
echo "ok: the domain's socket is gone"
simxen_stop
echo "ok: simxen stopped cleanly"
