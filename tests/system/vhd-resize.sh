# Growing VHDs (fast within the reserved BAT; with a journal when blocks must move) and undoing
# an interrupted resize; the field edits XAPI makes (hidden, parent, physical size, zeroing);
# preallocated creation.
. "$(dirname "$0")/../lib/common.sh"
V=$BIN/vhd-util
IO=$TBIN/vhd-io
MiB=1048576
cd "$T"
command -v qemu-img >/dev/null || fail "qemu-img missing (qemu-utils)"

head -c $((3 * MiB)) /dev/urandom >data
readback() { # IMG SIZE_MIB: the image's first 3 MiB must be `data`, the rest zeros
	qemu-img convert -f vpc -O raw "$1" out.raw
	expect_eq "$(stat -c %s out.raw)" $(($2 * MiB)) "$1: qemu sees $2 MiB"
	cmp -s <(head -c $((3 * MiB)) out.raw) data || fail "$1: data changed"
	cmp -s <(tail -c +$((3 * MiB + 1)) out.raw) <(head -c $((($2 - 3) * MiB)) /dev/zero) ||
		fail "$1: the rest is not zero"
	echo "ok: $1: qemu-img reads the same data at $2 MiB"
}

# fast resize within the BAT reserved with -S
expect_rc 0 "create with metadata for 100 MiB" "$V" create -n fast.vhd -s 20 -S 100
expect_rc 0 "query -S" "$V" query -S -n fast.vhd
expect_eq "$(cat "$T/out")" 100 "fast resize limit"
"$IO" write fast.vhd 0 <data || fail "write"
expect_rc 0 "resize -f to 100 MiB" "$V" resize -n fast.vhd -s 100 -f
expect_rc 0 "check" "$V" check -n fast.vhd
readback fast.vhd 100
expect_rc 22 "resize -f beyond the reserve" "$V" resize -n fast.vhd -s 102 -f
expect_match "$(cat "$T/err")" "not enough metadata space" "says why"
expect_rc 22 "shrinking is refused" "$V" resize -n fast.vhd -s 50 -j j0

# journalled resize that moves blocks out of the way of a bigger BAT
expect_rc 0 "create 20 MiB" "$V" create -n grow.vhd -s 20
"$IO" write grow.vhd 0 <data || fail "write"
cp grow.vhd grow0.vhd
first=$("$V" read -b 0 -n grow.vhd)
expect_rc 0 "resize -j to 1000 MiB" "$V" resize -n grow.vhd -s 1000 -j grow.journal
[ ! -e grow.journal ] || fail "the journal was left behind after success"
[ "$("$V" read -b 0 -n grow.vhd)" != "$first" ] || fail "block 0 did not move"
echo "ok: block 0 moved to make room for the BAT"
expect_rc 0 "check after growing" "$V" check -n grow.vhd
readback grow.vhd 1000
expect_rc 0 "query -vsa" "$V" query -v -a -n grow.vhd
expect_eq "$(tr '\n' ' ' <"$T/out")" "1000 2 " "size and allocated blocks"

# an interrupted resize (the final truncate fails) is undone by revert, byte for byte
command -v strace >/dev/null || fail "strace missing (tools/install-deps) for the revert test"
cp grow0.vhd torn.vhd
# (LeakSanitizer cannot run under ptrace: off for this one command in sanitizer builds)
expect_rc 5 "resize fails half-way (EIO injected)" \
	env ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" strace -qq -o /dev/null -e trace=ftruncate -e inject=ftruncate:error=EIO:when=1 \
	"$V" resize -n torn.vhd -s 1000 -j torn.journal
[ -e torn.journal ] || fail "no journal after a failed resize"
cmp -s torn.vhd grow0.vhd && fail "the failed resize did not modify anything: not a real test"
expect_rc 0 "revert" "$V" revert -n torn.vhd -j torn.journal
cmp -s torn.vhd grow0.vhd || fail "revert did not restore the original bytes"
[ ! -e torn.journal ] || fail "revert left the journal"
echo "ok: revert restored the file byte for byte"
expect_rc 2 "revert without a journal is ENOENT" "$V" revert -n torn.vhd -j torn.journal

# fixed disks: preallocated, grown with a journal
expect_rc 0 "create -r" "$V" create -n fixed.vhd -s 8 -r
expect_eq "$(stat -c %s fixed.vhd)" $((8 * MiB + 512)) "fixed file size"
[ "$(stat -c %b fixed.vhd)" -ge $((8 * 2048)) ] || fail "the fixed disk is not preallocated"
echo "ok: fixed disk blocks are allocated"
"$IO" write fixed.vhd 0 <data || fail "write fixed"
expect_rc 0 "resize a fixed disk" "$V" resize -n fixed.vhd -s 16 -j fixed.journal
expect_rc 0 "check fixed" "$V" check -n fixed.vhd
readback fixed.vhd 16

# field edits
expect_rc 0 "set hidden" "$V" set -n grow.vhd -f hidden -v 1
expect_rc 0 "query -f" "$V" query -f -n grow.vhd
expect_eq "$(cat "$T/out")" "hidden: 1" "hidden set"
expect_eq "$(od -An -tu1 -j 85 -N1 grow.vhd | tr -d ' ')" 1 "hidden is footer byte 85 (the copy at 0)"
expect_eq "$(od -An -tu1 -j $(($(stat -c %s grow.vhd) - 512 + 85)) -N1 grow.vhd | tr -d ' ')" 1 \
	"and in the trailing footer"
expect_rc 0 "check after set" "$V" check -n grow.vhd
expect_rc 0 "unset hidden" "$V" set -n grow.vhd -f hidden -v 0
expect_rc 0 "query -f" "$V" query -f -n grow.vhd
expect_eq "$(cat "$T/out")" "hidden: 0" "hidden cleared"

expect_rc 0 "modify -z drops all data" "$V" modify -z -n grow.vhd
expect_rc 0 "query -a" "$V" query -a -s -n grow.vhd
expect_eq "$(head -n1 "$T/out")" "$(stat -c %s grow.vhd)" "query -s (before -a): the file shrank to its metadata"
expect_eq "$(tail -n1 "$T/out")" 0 "no block allocated after -z"
expect_rc 0 "check after -z" "$V" check -n grow.vhd
qemu-img convert -f vpc -O raw grow.vhd out.raw
cmp -s out.raw <(head -c $((1000 * MiB)) /dev/zero) || fail "data left after modify -z"
echo "ok: the disk reads as zeros"

phys=$("$V" query -s -n fast.vhd)
expect_rc 22 "modify -s below the data" "$V" modify -s 4096 -n fast.vhd
expect_rc 0 "modify -s grows the physical size" "$V" modify -s $((phys + 8 * MiB)) -n fast.vhd
expect_eq "$(stat -c %s fast.vhd)" $((phys + 8 * MiB)) "file size"
expect_rc 0 "check after modify -s" "$V" check -n fast.vhd
readback fast.vhd 100
