# SM's storage flows keep working with image locks (SM's command lines, tests/lib/xapi.py's
# vocabulary): vhd-util, which takes no lock, queries and reads the served leaf and its parents;
# a snapshot (pause, vhd-util snapshot, unpause onto the new leaf), a coalesce of the hidden
# parent into its grandparent while the leaf is served (then pause, modify -p, unpause), a leaf
# coalesce (pause, coalesce the leaf into its parent, unpause onto the parent). After each step
# the bytes read through the VBD's NBD export (what qemu and SM's tools see) are the model's,
# vhd-util check passes, and a second writer is still refused.
. "$(dirname "$0")/../lib/common.sh"
. "$SRC/tests/lib/tapdisk.sh"

V=$BIN/vhd-util
for b in tap-ctl tapdisk vhd-util; do [ -x "$BIN/$b" ] || fail "$b not built"; done
[ -x "$TBIN/vhd-io" ] || fail "vhd-io not built"
for tool in qemu-io nbdcopy python3; do command -v $tool >/dev/null || skip "$tool missing"; done
tapdisk_env
cd "$T"
M=$((1 << 20))

passed=0
dump_log() { [ "$passed" = 1 ] || tail -n 25 "$TAPDISK_LOG_FILE" >&2 2>/dev/null || true; }
at_exit dump_log

# the guest's view: a 16 MiB model, updated with every write made through the VBD
truncate -s $((16 * M)) model
# write OFF MiB: NBD write of MiB random MiBs at OFF MiB, mirrored into the model
write() {
	head -c $(($2 * M)) /dev/urandom >chunk
	expect_rc 0 "NBD write of $2 MiB at $1 MiB" qemu-io -f raw \
		-c "write -s $T/chunk $(($1 * M)) $(($2 * M))" "nbd+unix:///?socket=$sock"
	dd if=chunk of=model bs=1M seek="$1" conv=notrunc status=none
}
# sees WHAT: every byte read through the VBD is the model's
sees() {
	rm -f seen
	expect_rc 0 "nbdcopy of the VBD ($1)" nbdcopy "nbd+unix:///?socket=$sock" seen
	cmp -s seen model || fail "$1: the VBD reads other bytes than were written"
	echo "ok: $1: the VBD reads what was written"
}
chain() { "$TAPCTL" stats -p "$pid" -m "$minor" | python3 -c "import json,sys; print(' '.join(i['name'].rsplit('/',1)[1] for i in json.load(sys.stdin)['images']))"; }
pause() { expect_rc 0 "pause" "$TAPCTL" pause -p "$pid" -m "$minor"; }
unpause() { expect_rc 0 "unpause $*" "$TAPCTL" unpause -p "$pid" -m "$minor" "$@"; }
# still_exclusive FILE: a second writer of the served leaf is refused
still_exclusive() {
	expect_rc 16 "a second writer of $1 is refused" "$TAPCTL" create -a "vhd:$T/$1"
	grep -q "is in use by tapdisk pid $pid minor $minor (" err || fail "$(cat err)"
}

# base.vhd holds 4 MiB; leaf.vhd, a snapshot of it, is served
"$V" create -n base.vhd -s 16 || fail "create"
head -c $((4 * M)) /dev/urandom >d0
"$TBIN/vhd-io" write base.vhd 0 <d0 || fail "vhd-io write"
dd if=d0 of=model conv=notrunc status=none
"$V" snapshot -n leaf.vhd -p base.vhd || fail "snapshot"
expect_rc 0 "create -a vhd:leaf.vhd" "$TAPCTL" create -a "vhd:$T/leaf.vhd"
minor=$(sed 's/.*tapdisk-//' out)
pid=$("$TAPCTL" list -m "$minor" | sed 's/pid=\([0-9]*\).*/\1/')
sock=$TAPDISK_RUN_DIR/nbd$pid.$minor
write 4 2
sees "the leaf served"

# vhd-util reads and queries while the chain is served (it takes no lock)
expect_rc 0 "query -vsaf of the served leaf" "$V" query --debug -vsafp -n leaf.vhd
expect_eq "$(sed -n 3p out)" "$T/base.vhd" "query -p of the served leaf names its parent"
expect_rc 0 "query -vsaf of the served parent" "$V" query --debug -vsaf -n base.vhd
expect_rc 0 "read -p of the served parent" "$V" read --debug -p -n base.vhd
grep -Eq 'Disk type +: Dynamic hard disk' out || fail "read -p: $(head -5 out)"
expect_rc 0 "check of the served parent" "$V" check --debug -n base.vhd
still_exclusive leaf.vhd

# ---- snapshot: pause, vhd-util snapshot, hide the old leaf, unpause onto the new one ----------
pause
expect_rc 0 "check of the paused leaf" "$V" check --debug -n leaf.vhd
expect_rc 0 "snapshot -n s1.vhd -p leaf.vhd" "$V" snapshot --debug -n s1.vhd -p leaf.vhd
expect_rc 0 "set hidden on the old leaf" "$V" set --debug -n leaf.vhd -f hidden -v 1
unpause -a "vhd:$T/s1.vhd"
expect_eq "$(chain)" "s1.vhd leaf.vhd base.vhd" "the VBD serves the new leaf on the old chain"
sees "after the snapshot"
write 1 1
sees "after a write to the new leaf"
still_exclusive s1.vhd
expect_rc 16 "the hidden parent cannot be opened read-write either" \
	"$TAPCTL" create -a "vhd:$T/leaf.vhd"

# ---- coalesce the hidden parent into its grandparent while the leaf is served -----------------
expect_rc 0 "coalesce the hidden leaf.vhd into base.vhd, s1.vhd served" \
	"$V" coalesce --debug -n leaf.vhd
grep -Eq '^Coalesced [0-9]+ sectors' out || fail "coalesce: $(cat out)"
sees "after the coalesce (the old chain still open)"
expect_rc 0 "check of the coalesced base" "$V" check --debug -n base.vhd
pause
expect_rc 0 "reparent s1.vhd onto base.vhd" "$V" modify --debug -p "$T/base.vhd" -n s1.vhd
unpause
expect_eq "$(chain)" "s1.vhd base.vhd" "the VBD reopened the shorter chain"
rm leaf.vhd
sees "after the reparent"
write 10 2
sees "after a write past the coalesced data"
expect_rc 0 "query of the served leaf's parent" "$V" query --debug -p -n s1.vhd
expect_eq "$(cat out)" "$T/base.vhd" "s1.vhd's parent"

# ---- leaf coalesce: pause, coalesce the leaf into its parent, unpause onto the parent ---------
pause
expect_rc 0 "check of the paused leaf" "$V" check --debug -n s1.vhd
expect_rc 0 "coalesce the leaf s1.vhd into base.vhd" "$V" coalesce --debug -n s1.vhd
unpause -a "vhd:$T/base.vhd"
expect_eq "$(chain)" "base.vhd" "the VBD serves the parent alone"
rm s1.vhd
sees "after the leaf coalesce"
write 14 2
sees "after a write to the parent, now the leaf"
still_exclusive base.vhd
expect_rc 0 "destroy" "$TAPCTL" destroy -p "$pid" -m "$minor"
expect_rc 0 "check after destroy" "$V" check --debug -n base.vhd
"$TBIN/vhd-io" read base.vhd 0 $((16 * M)) >offline || fail "vhd-io read"
cmp -s offline model || fail "the VHD read offline differs from what the guest wrote"
echo "ok: the VHD read offline is what the guest wrote"
expect_eq "$("$TAPCTL" list | grep -c args= || true)" 0 "nothing left served"
check_sanitizers
passed=1
