# XAPI's storage flows replayed on simxen with XAPI's exact command lines, their output parsed by
# XAPI's rules (tests/lib/xapi.py mirrors SM's blktap2.py and vhdutil.py).
# Built up as the pieces land. Waiting, and left out until they exist (nothing here is faked):
#   - the tapdisk daemon (src/daemon.c): spawn/attach/open, list, stats, pause/unpause,
#     close/detach, the /dev/shm statistics;
#   - the NBD server per VBD (lib/nbd + src hooks): the block hotplug step writes
#     physical-device-path from the socket's real path, so tapback and guest I/O wait for it;
#   - the VHD image driver (drivers/vhd.c): snapshot and coalesce under a live leaf.
. "$(dirname "$0")/../lib/common.sh"

for b in tap-ctl vhd-util; do [ -x "$BIN/$b" ] || fail "$b not built"; done
export TAPDISK_RUN_DIR=$T/run TAPDISK_SHM_DIR=$T/shm TAPDISK_BIN=$BIN/tapdisk
export XAPI_TAP_CTL=$BIN/tap-ctl XAPI_VHD_UTIL=$BIN/vhd-util XAPI_LOG=$T/xapi.log
mkdir -p "$TAPDISK_SHM_DIR" "$T/sr"
xapi() { python3 "$SRC/tests/lib/xapi.py" "$@"; }

# ---- 1. the XAPI-side parsers against canned output -------------------------------------------
xapi selftest

# ---- 2. SM's activate starts with a lookup by path and a minor (no tapdisk needed yet) --------
vdi=3f2b1c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d
base=$T/sr/$vdi.vhd
"$BIN/vhd-util" create --debug -n "$base" -s 64 # vhdutil.create(path, 64 MiB, static=False)
expect_eq "$(xapi vhd-info "$base")" "$((64 << 20)) $(stat -c %s "$base")  0" "vhdutil.getVHDInfo of the new VDI"
: >"$XAPI_LOG"
expect_eq "$(xapi list -f "$base")" "" "Tapdisk.find_by_path finds nothing"
minor=$(xapi allocate) || fail "Blktap.allocate"
[ -f "$TAPDISK_RUN_DIR/tapdisk/tapdisk-$minor" ] || fail "minor $minor not allocated"
xapi free "$minor"
[ ! -e "$TAPDISK_RUN_DIR/tapdisk/tapdisk-$minor" ] || fail "minor $minor not freed"
expect_eq "$(cat "$XAPI_LOG")" "$BIN/tap-ctl list -f $base
$BIN/tap-ctl allocate
$BIN/tap-ctl free -m $minor" "SM's command lines"
