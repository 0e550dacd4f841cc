# Changed block tracking through XAPI's storage manager's flows (tests/lib/sm_cbt.py mirrors
# SM's cbtutil.py and VDI.py): enable on a detached VDI, activate (the log marked inconsistent,
# tapdisk opened with -C), a guest writing through the ring, three snapshots (each one's log
# renamed to the snapshot's, a new log per snapshot given to tapdisk with unpause -c), delete
# with coalesce (into a snapshot's log, and into the attached VDI's log with its tapdisk paused),
# unpause without -c dropping the log, deactivate; then list_changed_blocks, computed as XAPI's
# storage manager does, between snapshots equals exactly the blocks the guest wrote in between.
# Writes through the VBD's NBD export are marked too. A log left inconsistent by a tapdisk killed
# with -9 is found by the next activate. A log shorter than the disk needs is refused at open and
# at unpause, with a reason.
. "$(dirname "$0")/../lib/common.sh"
. "$SRC/tests/lib/tapdisk.sh"
. "$SRC/tests/lib/simxen.sh"

need_built "$TAPCTL" "$BIN/tapdisk" "$BIN/tapback" "$BIN/cbt-util" "$BIN/vhd-util" "$TBIN/blkfront-io"
command -v qemu-io >/dev/null || fail "qemu-io (qemu-utils) is not installed: run tools/install-deps"
tapdisk_env
export XAPI_TAP_CTL=$TAPCTL XAPI_VHD_UTIL=$BIN/vhd-util XAPI_CBT_UTIL=$BIN/cbt-util
xapi() { python3 "$SRC/tests/lib/xapi.py" "$@"; }
sm() { python3 "$SRC/tests/lib/sm_cbt.py" "$@"; }
SR=$T/sr
mkdir -p "$SR"
V=3f2b1c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d
S1=11111111-1111-4111-8111-111111111111
S2=22222222-2222-4222-8222-222222222222
S3=33333333-3333-4333-8333-333333333333
VLOG=$SR/$V.cbtlog
SIZE=$((64 << 20)) # 1024 blocks of 64 KiB

passed=0
dump_logs() {
	[ "$passed" = 1 ] && return 0
	for f in "$T/tapdisk.log" "$T/tapback.log" "$T"/g*.err; do
		[ -s "$f" ] && { echo "--- $f"; tail -n 25 "$f"; }
	done >&2
	return 0
}
at_exit dump_logs

# logblocks LOG: the blocks a log's bitmap marks (bit n % 8 of byte n / 8 after the header)
logblocks() {
	local i=0 byte bit out=()
	for byte in $(od -An -v -tu1 -j48 "$1"); do
		for ((bit = 0; bit < 8; bit++)); do ((byte >> bit & 1)) && out+=($((i * 8 + bit))); done
		i=$((i + 1))
	done
	echo "${out[*]}"
}
# blocks OFF:LEN...: the 64 KiB blocks byte ranges touch, sorted
blocks() {
	local r b marked=()
	for r; do
		for ((b = ${r%:*} / 65536; b <= (${r%:*} + ${r#*:} - 1) / 65536; b++)); do marked[b]=$b; done
	done
	echo "${marked[*]}"
}
# lcb FROM TO: list_changed_blocks as XAPI's storage manager computes it, as block numbers
lcb() {
	local b64
	local i=0 byte bit out=()
	b64=$(sm list-changed-blocks "$SR" "$1" "$2") || fail "list_changed_blocks $1 $2"
	expect_eq "$(printf %s "$b64" | base64 -d | wc -c)" 128 "list_changed_blocks $1 → $2 covers 1024 blocks" >&2
	# XAPI's bitmap is most significant bit first: block n is bit 7 - n % 8 of byte n / 8
	for byte in $(printf %s "$b64" | base64 -d | od -An -v -tu1); do
		for ((bit = 0; bit < 8; bit++)); do ((byte >> (7 - bit) & 1)) && out+=($((i * 8 + bit))); done
		i=$((i + 1))
	done
	echo "${out[*]}"
}
# field consistency|size|parent|child LOG: a header field (tests/system/cbt-util.sh checks that
# SM parses cbt-util's output)
field() {
	case $1 in consistency) set -- -f "$2" ;; size) set -- -s "$2" ;; parent) set -- -p "$2" ;; child) set -- -c "$2" ;; esac
	"$BIN/cbt-util" get -n "$2" "$1" || fail "cbt-util get -n $2 $1"
}
stats_cbt() { xapi stats "$pid" "$minor" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("cbt_log", "absent"))'; }
feed() { timeout 60 dd if="$2" of="$1" bs=1M status=none || fail "the guest never took $1"; }
drain() { timeout 60 cat "$1" >/dev/null || fail "the guest never reached $1"; }

simxen_start
dom=$(simxen_domain_create vm1)
tapback_start
head -c 1M /dev/urandom >"$T/D"
head -c 4K /dev/urandom >"$T/D4"

# ---- enable on a detached VDI, activate, open with -C -------------------------------------------
leaf0=$SR/leaf0.vhd
"$BIN/vhd-util" create -n "$leaf0" -s 64 || fail "vhd-util create"
sm enable "$SR" "$V" "$SIZE" || fail "enable"
expect_eq "$(field consistency "$VLOG") $(field size "$VLOG") $(field parent "$VLOG")" \
	"1 $SIZE 00000000-0000-0000-0000-000000000000" "a new log: consistent, the VDI's size, no parent"
log=$(sm activate "$SR" "$V") || fail "activate"
expect_eq "$log" "$VLOG" "activate gives the VDI's log"
expect_eq "$(field consistency "$VLOG")" 0 "activate marks the log inconsistent while attached"
read -r pid minor < <(xapi launch vhd "$leaf0" --cbtlog "$log") || fail "tap-ctl open -C"
expect_eq "$(stats_cbt)" "$VLOG" "tap-ctl stats shows the log in use"
expect_eq "$(xapi stats "$pid" "$minor" | python3 -c 'import json,sys; print([i["name"] for i in json.load(sys.stdin)["images"]])')" \
	"['$leaf0']" "the images are the disk's"
grep -q "cbt log $VLOG: tracking 1024 blocks" "$T/tapdisk.log" || fail "no log line for the CBT log"

# ---- the guest, kept connected: each phase starts when the test feeds its gate FIFO and ends
# with a read into its barrier FIFO (reads mark nothing); each gate is a 4 KiB write
tapdisk_vbd "$dom"
for p in A B C D E F; do mkfifo "$T/g$p" "$T/b$p"; done
M=$((1 << 20)) K=1024
A="0:4096 $((60 * K)):$((8 * K)) $((10 * M)):$M"
B="$((32 * M)):$((64 * K)) $((SIZE - 4 * K)):$((4 * K)) $((5 * M + 512)):$K $((20 * M)):$((4 * K))"
C="0:4096 $((48 * M)):$((128 * K))"
Dw="$((40 * M)):4096" Ew="$((900 * 64 * K)):4096" Fw="$((901 * 64 * K)):4096"
env $(simxen_guest_env "$dom") "$TBIN/blkfront-io" --device "$fe" --order 2 --timeout-ms 60000 \
	write 0 4K "$T/gA" write $((60 * K)) $((8 * K)) "$T/D" write $((10 * M)) $M "$T/D" \
	read 0 4K "$T/bA" \
	write $((SIZE - 4 * K)) $((4 * K)) "$T/gB" write $((32 * M)) $((64 * K)) "$T/D" \
	write $((5 * M + 512)) $K "$T/D" barrier $((20 * M)) $((4 * K)) "$T/D" read 0 4K "$T/bB" \
	write 0 4K "$T/gC" write $((48 * M)) $((128 * K)) "$T/D" read 0 4K "$T/bC" \
	write $((40 * M)) 4K "$T/gD" read 0 4K "$T/bD" \
	write $((900 * 64 * K)) 4K "$T/gE" read 0 4K "$T/bE" \
	write $((901 * 64 * K)) 4K "$T/gF" read 0 4K "$T/bF" \
	>"$T/g1.out" 2>"$T/g1.err" &
guest=$!
at_exit "kill $guest 2>/dev/null"
phase() { feed "$T/g$1" "$T/D4"; drain "$T/b$1"; }

# snapshot SNAP NEWLEAF OLDLEAF: FileSR's snapshot of the attached VDI with its CBT part
snapshot() {
	xapi pause "$pid" "$minor" || fail "pause"
	expect_eq "$(stats_cbt)" None "a paused tapdisk has no log mapped"
	xapi vhd-snapshot "$2" "$3" && xapi vhd-set-hidden "$3" 1 || fail "vhd snapshot"
	sm snapshot "$SR" "$V" "$1" 1 || fail "CBT snapshot"
	xapi unpause "$pid" "$minor" vhd "$2" --cbtlog "$VLOG" || fail "unpause -c"
	expect_eq "$(stats_cbt)" "$VLOG" "tapdisk marks the VDI's new log after the snapshot"
}

phase A
expect_eq "$(logblocks "$VLOG")" "$(blocks $A)" "the log marks exactly the blocks written (phase A)"
snapshot "$S1" "$SR/leaf1.vhd" "$leaf0"
expect_eq "$(logblocks "$SR/$S1.cbtlog")" "$(blocks $A)" "the snapshot's log holds phase A"
expect_eq "$(logblocks "$VLOG")" "" "the new log starts empty"
expect_eq "$(field consistency "$SR/$S1.cbtlog") $(field consistency "$VLOG")" "1 0" \
	"the snapshot's log is consistent, the attached VDI's is not"
phase B
snapshot "$S2" "$SR/leaf2.vhd" "$SR/leaf1.vhd"
phase C
snapshot "$S3" "$SR/leaf3.vhd" "$SR/leaf2.vhd"
expect_eq "$(logblocks "$SR/$S2.cbtlog")" "$(blocks $B)" "S2's log: phase B (reads and flushes mark nothing)"
expect_eq "$(logblocks "$SR/$S3.cbtlog")" "$(blocks $C)" "S3's log: phase C"
expect_eq "$(field parent "$SR/$S2.cbtlog") $(field child "$SR/$S2.cbtlog")" "$S1 $S3" "S2's links"
expect_eq "$(field parent "$VLOG") $(field child "$SR/$S3.cbtlog")" "$S3 $V" "the VDI's log follows S3"

# ---- list_changed_blocks between snapshots: exactly the blocks the guest wrote between them
expect_eq "$(lcb "$S1" "$S2")" "$(blocks $B)" "list_changed_blocks S1 → S2"
expect_eq "$(lcb "$S2" "$S3")" "$(blocks $C)" "list_changed_blocks S2 → S3"
expect_eq "$(lcb "$S1" "$S3")" "$(blocks $B $C)" "list_changed_blocks S1 → S3"

# ---- delete S2: its bits coalesce into S3's log (consistent: no tapdisk to pause)
sm delete "$SR" "$S2" || fail "delete S2"
[ ! -e "$SR/$S2.cbtlog" ] || fail "S2's log was not removed"
expect_eq "$(field child "$SR/$S1.cbtlog") $(field parent "$SR/$S3.cbtlog")" "$S3 $S1" "S1 ↔ S3 relinked"
expect_eq "$(lcb "$S1" "$S3")" "$(blocks $B $C)" "list_changed_blocks S1 → S3 after deleting S2"

# ---- delete S3: its child is the attached VDI's log, so its tapdisk is paused for the coalesce
# and unpaused with the log again (-c); what the guest writes next is marked on top
sm delete "$SR" "$S3" "$pid" "$minor" vhd "$SR/leaf3.vhd" || fail "delete S3"
expect_eq "$(logblocks "$VLOG")" "$(blocks $B $C)" "S3's bits coalesced into the VDI's log"
expect_eq "$(stats_cbt)" "$VLOG" "tapdisk still marks the VDI's log"
phase D
expect_eq "$(logblocks "$VLOG")" "$(blocks $B $C $Dw)" "a write after the coalesce is marked too"
expect_eq "$(lcb "$S1" "$V")" "$(blocks $B $C $Dw)" "list_changed_blocks S1 → the VDI"

# ---- unpause without -c drops the log (blktap3's behaviour); with -c it comes back
xapi pause "$pid" "$minor" && xapi unpause "$pid" "$minor" vhd "$SR/leaf3.vhd" || fail "pause/unpause"
expect_eq "$(stats_cbt)" None "unpause without -c: no log in use"
phase E
expect_eq "$(logblocks "$VLOG")" "$(blocks $B $C $Dw)" "a write without a log marks nothing"
xapi pause "$pid" "$minor" && xapi unpause "$pid" "$minor" vhd "$SR/leaf3.vhd" --cbtlog "$VLOG" || fail "unpause -c"
phase F
expect_eq "$(logblocks "$VLOG")" "$(blocks $B $C $Dw $Fw)" "with the log again, the write is marked"

# ---- a short log is refused at unpause (the VBD stays paused) and at open ----------------------
"$BIN/cbt-util" create -n "$T/short.cbtlog" -s $((SIZE / 2)) || fail "create"
xapi pause "$pid" "$minor" || fail "pause"
expect_rc 22 "unpause -c with a log for half the disk" "$TAPCTL" unpause -p "$pid" -m "$minor" \
	-a "vhd:$SR/leaf3.vhd" -c "$T/short.cbtlog"
expect_match "$(cat "$T/err")" "CBT log $T/short.cbtlog: the log is 112 bytes, a $SIZE-byte disk needs 176" \
	"the toolstack is told why"
expect_eq "$(xapi list -m "$minor" | cut -d' ' -f3)" 0x20 "the VBD stays paused"
expect_rc 2 "unpause -c with a missing log" "$TAPCTL" unpause -p "$pid" -m "$minor" -c "$T/missing.cbtlog"
expect_match "$(cat "$T/err")" "CBT log $T/missing.cbtlog" "which log is missing"
xapi unpause "$pid" "$minor" vhd "$SR/leaf3.vhd" --cbtlog "$VLOG" || fail "unpause -c after refusals"
grep -q "CBT log $T/short.cbtlog: the log is 112 bytes" "$T/tapdisk.log" || fail "no log line for the refused log"
wait "$guest" || fail "the guest failed: $(cat "$T/g1.err")"

# ---- detach: deactivate marks the log consistent ------------------------------------------------
simxen_vbd_remove "$dom" "$devid"
xs_wait_gone "$be"
xapi shutdown "$pid" "$minor" || fail "shutdown"
wait_until 60 "tapdisk $pid did not exit" exited "$pid"
sm deactivate "$SR" "$V"
expect_eq "$(field consistency "$VLOG")" 1 "deactivate marks the log consistent"
expect_eq "$(logblocks "$VLOG")" "$(blocks $B $C $Dw $Fw)" "the marks survive close"

# ---- open -C refuses a short log (tapdisk does not map past the file) ---------------------------
expect_rc 0 "allocate" "$TAPCTL" allocate
minor=$(sed 's/.*tapdisk-//' "$T/out")
pid=$("$TAPCTL" spawn) && "$TAPCTL" attach -p "$pid" -m "$minor" || fail "spawn, attach"
expect_rc 22 "open -C with a log for half the disk" "$TAPCTL" open -p "$pid" -m "$minor" \
	-a "vhd:$SR/leaf3.vhd" -C "$T/short.cbtlog"
expect_match "$(cat "$T/err")" "the log is 112 bytes, a $SIZE-byte disk needs 176" "open says why"
head -c 100 "$VLOG" >"$T/cut.cbtlog"
expect_rc 22 "open -C with a log cut short" "$TAPCTL" open -p "$pid" -m "$minor" \
	-a "vhd:$SR/leaf3.vhd" -C "$T/cut.cbtlog"
expect_rc 0 "open -C with the good log" "$TAPCTL" open -p "$pid" -m "$minor" -a "vhd:$SR/leaf3.vhd" -C "$VLOG"
# the VBD's NBD export (dom0's access, qemu's) goes through the log too: writes and write-zeroes
# are marked, reads are not
qemu-io -f raw -c 'write -P 0x5a 2M 64k' -c 'write -z 3M 4k' -c 'read 6M 64k' -c flush \
	"nbd+unix:///$V?socket=$TAPDISK_RUN_DIR/nbd$pid.$minor" >"$T/qio.out" 2>&1 ||
	fail "qemu-io: $(cat "$T/qio.out")"
expect_eq "$(logblocks "$VLOG")" "$(blocks $B $C $Dw $Fw $((2 * M)):65536 $((3 * M)):4096)" \
	"NBD writes and write-zeroes are marked"
expect_rc 0 "close" "$TAPCTL" close -p "$pid" -m "$minor"
"$TAPCTL" detach -p "$pid" -m "$minor" && "$TAPCTL" free -m "$minor" || fail "detach, free"
wait_until 60 "tapdisk $pid did not exit" exited "$pid"

# ---- a crash leaves the log inconsistent: the next activate finds it and drops the log -------------
log=$(sm activate "$SR" "$V") || fail "activate"
read -r pid minor < <(xapi launch vhd "$SR/leaf3.vhd" --cbtlog "$log") || fail "launch -C"
kill -9 "$pid"
wait_until 30 "tapdisk $pid did not die" exited "$pid"
expect_eq "$(sm activate "$SR" "$V")" VDI_CBT_METADATA_INCONSISTENT "the next activate raises SM's alert"
[ ! -e "$VLOG" ] || fail "SM's activate keeps an inconsistent log"
"$TAPCTL" list >/dev/null 2>&1 # reaps the dead tapdisk's entries
"$TAPCTL" free -m "$minor" 2>/dev/null || true

# ---- enable and disable on the detached VDI: the log is removed, the parent's child nulled --------
sm enable "$SR" "$V" "$SIZE" && sm cbtutil set_cbt_parent "$VLOG" "$S1" && sm cbtutil set_cbt_child "$SR/$S1.cbtlog" "$V" || fail "enable"
sm disable "$SR" "$V" || fail "disable"
[ ! -e "$VLOG" ] || fail "disable keeps the log"
expect_eq "$(field child "$SR/$S1.cbtlog")" 00000000-0000-0000-0000-000000000000 "the parent's child is nulled"

check_sanitizers
passed=1
echo PASS
