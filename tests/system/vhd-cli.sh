# vhd-util's command line: every sub-command has --help (exit 0), names unknown options and
# exits EINVAL, accepts --debug anywhere, and reports failures on stderr with errno exit codes;
# an unknown command exits 0 as blktap's; the 2 TiB limits; resize refuses foreign VHDs; fill.
. "$(dirname "$0")/../lib/common.sh"
V=$BIN/vhd-util
[ -x "$V" ] || fail "vhd-util not built"

cmds="create snapshot query read set modify key scan resize coalesce check revert repair fill"
expect_rc 0 "vhd-util --help" "$V" --help
for c in $cmds; do
	expect_match "$(cat "$T/out")" "$c" "global help lists $c"
done
for c in $cmds; do
	expect_rc 0 "$c --help" "$V" $c --help
	expect_match "$(head -n1 "$T/out")" "^Usage: vhd-util $c " "$c --help prints its usage"
	expect_rc 22 "$c rejects an unknown option" "$V" $c -Z
	expect_match "$(cat "$T/err")" "-Z" "$c names the bad option"
	[ ! -s "$T/out" ] || fail "$c printed to stdout on a bad option"
done
# blktap's vhd-util names an unknown command, prints its usage on stdout and exits 0
expect_rc 0 "unknown command exits 0, as blktap's" "$V" frobnicate
expect_match "$(cat "$T/err")" "frobnicate" "the unknown command is named"
expect_match "$(cat "$T/out")" "COMMAND := " "the usage follows on stdout"
expect_rc 0 "no command prints the usage and exits 0, as blktap's" "$V"
expect_match "$(cat "$T/out")" "COMMAND := " "the usage is on stdout"
expect_rc 22 "create without -s" "$V" create -n "$T/x.vhd"
expect_rc 22 "create with a bad size" "$V" create -n "$T/x.vhd" -s 12x
expect_rc 22 "create with -S below -s" "$V" create -n "$T/x.vhd" -s 20 -S 10
expect_rc 22 "create beyond 2 TiB" "$V" create -n "$T/x.vhd" -s 2097153
expect_rc 22 "create with -S beyond 2 TiB" "$V" create -n "$T/x.vhd" -s 8 -S 2097153
expect_rc 22 "create with a negative size" "$V" create -n "$T/x.vhd" -s -8
expect_rc 22 "create with a size of 0" "$V" create -n "$T/x.vhd" -s 0
expect_rc 22 "fill -f without -b" "$V" fill -n "$T/x.vhd" -f 0
expect_rc 22 "fill with a reversed range" "$V" fill -n "$T/x.vhd" -b -f 9 -t 1
[ ! -e "$T/x.vhd" ] || fail "a refused create left a file"

# --debug anywhere, as XAPI's storage manager passes it
expect_rc 0 "--debug before the options" "$V" create --debug -n "$T/a.vhd" -s 8
expect_rc 0 "--debug after the options" "$V" query -v -n "$T/a.vhd" --debug
expect_eq "$(cat "$T/out")" "8" "query -v with --debug prints only the size"
expect_rc 17 "create refuses an existing file (EEXIST)" "$V" create -n "$T/a.vhd" -s 8
expect_rc 2 "query of a missing file is ENOENT" "$V" query -v -n "$T/nope.vhd"
expect_match "$(cat "$T/err")" "Failed opening .*nope.vhd" "the failure names the file"
[ ! -s "$T/out" ] || fail "a failed query printed to stdout"
head -c 4096 /dev/urandom >"$T/junk"
expect_rc 22 "query of a non-VHD is EINVAL" "$V" query -v -n "$T/junk"
expect_match "$(cat "$T/err")" "not a valid VHD" "the failure says why"
expect_rc 22 "set hidden to 2" "$V" set -n "$T/a.vhd" -f hidden -v 2
expect_rc 22 "set an unknown field" "$V" set -n "$T/a.vhd" -f colour -v 1
expect_rc 22 "resize needs -j or -f" "$V" resize -n "$T/a.vhd" -s 16
# blktap resizes only VHDs a tapdisk tool created (creator "tap")
command -v qemu-img >/dev/null || fail "qemu-img missing (tools/install-deps installs qemu-utils)"
qemu-img create -q -f vpc "$T/q.vhd" 8M
cp "$T/q.vhd" "$T/q0.vhd"
expect_rc 22 "resize of a VHD qemu-img created" "$V" resize -n "$T/q.vhd" -s 16 -j "$T/qj"
expect_eq "$(cat "$T/out")" "$T/q.vhd not created by xen; resize not supported" "blktap's reason on stdout"
cmp -s "$T/q.vhd" "$T/q0.vhd" || fail "the refused resize changed the file"
expect_rc 0 "key -p" "$V" key -p -n "$T/a.vhd"
expect_eq "$(cat "$T/out")" "none" "no key hash"
expect_rc 95 "key -s is not supported (EOPNOTSUPP)" "$V" key -s -n "$T/a.vhd" -H abc
expect_rc 22 "coalesce of a dynamic disk" "$V" coalesce -n "$T/a.vhd"

# fill: the child then holds everything its parent held (a later change to the parent does not
# show through); -b allocates the blocks holding sectors -f..-t, whole blocks, clamped at the end
MiB=1048576
expect_rc 0 "create a parent" "$V" create -n "$T/fp.vhd" -s 16
head -c $((3 * MiB)) /dev/urandom >"$T/fdata"
"$TBIN/vhd-io" write "$T/fp.vhd" $((5 * MiB)) <"$T/fdata" || fail "vhd-io write"
expect_rc 0 "snapshot it" "$V" snapshot -n "$T/fc.vhd" -p "$T/fp.vhd"
expect_rc 0 "fill the child" "$V" fill -n "$T/fc.vhd"
expect_rc 0 "query -a" "$V" query -a -n "$T/fc.vhd"
expect_eq "$(cat "$T/out")" "8" "every block of the child allocated"
expect_rc 0 "check the filled child" "$V" check -n "$T/fc.vhd"
head -c $((3 * MiB)) /dev/zero | "$TBIN/vhd-io" write "$T/fp.vhd" $((5 * MiB)) || fail "vhd-io write"
"$TBIN/vhd-io" read "$T/fc.vhd" $((5 * MiB)) $((3 * MiB)) | cmp -s - "$T/fdata" ||
	fail "the filled child does not hold its parent's former data"
echo "ok: the filled child holds the data"
expect_rc 0 "create for fill -b" "$V" create -n "$T/fb.vhd" -s 64
expect_rc 0 "fill -b -f 8192 -t 16383 (blocks 2 and 3)" "$V" fill -n "$T/fb.vhd" -b -f 8192 -t 16383
expect_rc 0 "query -a" "$V" query -a -n "$T/fb.vhd"
expect_eq "$(cat "$T/out")" "2" "two blocks allocated"
expect_rc 0 "fill -b -t far past the end" "$V" fill -n "$T/fb.vhd" -b -f 4096 -t 99999999999999
expect_rc 0 "query -a" "$V" query -a -n "$T/fb.vhd"
expect_eq "$(cat "$T/out")" "31" "blocks 1 to 31 allocated, block 0 not"
expect_rc 0 "check after fill -b" "$V" check -n "$T/fb.vhd"
