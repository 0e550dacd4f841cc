# cbt-util as XAPI's storage manager runs it (tests/lib/sm_cbt.py mirrors SM's cbtutil.py): each
# sub-command's output in blktap's format, parsed as SM parses it; the log's bytes in blktap's
# layout (48-byte header: parent, child, int32 consistent, padding, uint64 size; a bitmap of
# 64 KiB blocks); set -s growing the bitmap and keeping its marks; coalesce; hostile command
# lines and files answered with an errno exit, a message on stderr and nothing on stdout.
. "$(dirname "$0")/../lib/common.sh"

U=$BIN/cbt-util
need_built "$U"
export XAPI_CBT_UTIL=$U XAPI_TAP_CTL=$BIN/tap-ctl
sm() { python3 "$SRC/tests/lib/sm_cbt.py" cbtutil "$@"; }
# layout LOG: the header's fields and the file's length, read with Python's struct
layout() {
	python3 - "$1" <<'PY'
import struct, sys, uuid
b = open(sys.argv[1], "rb").read()
p, c, f, pad, size = struct.unpack_from("<16s16si4sQ", b)
print(uuid.UUID(bytes=p), uuid.UUID(bytes=c), f, pad.hex(), size, len(b))
PY
}
hex() { od -An -v -tx1 | tr -d ' \n'; }
# bad RC WHAT ARGS...: cbt-util fails with RC, says something on stderr, nothing on stdout
bad() {
	local rc=$1 what=$2
	shift 2
	expect_rc "$rc" "$what" "$U" "$@"
	[ -s "$T/err" ] || fail "$what: no message on stderr"
	[ ! -s "$T/out" ] || fail "$what: printed on stdout: $(head -c 200 "$T/out")"
}
Z=00000000-0000-0000-0000-000000000000
P=6f0e4c1a-2b3d-4e5f-8a9b-0c1d2e3f4a5b
C=0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d
L=$T/a.cbtlog

# ---- create and get: blktap's layout and output formats ----------------------------------------
size=$((100 * 65536 + 512)) # 101 blocks: a partial last block, 13 bitmap bytes
expect_rc 0 "create" "$U" create -n "$L" -s "$size"
[ ! -s "$T/out" ] || fail "create printed something"
expect_eq "$(layout "$L")" "$Z $Z 0 00000000 $size $((48 + 13))" "a new log: null uuids, not consistent, size, 48 + 13 bytes"
expect_eq "$(head -c 48 "$L" | hex | cut -c 65-)" "00000000000000000002640000000000" \
	"the flag (int32) at byte 32, padding, the size (little-endian uint64) at byte 40"
expect_eq "$(tail -c 13 "$L" | hex)" "00000000000000000000000000" "no block marked"
expect_rc 0 "get -p" "$U" get -n "$L" -p
expect_eq "$(od -c "$T/out" | head -3 | tr -s ' ')" "$(printf '%s\n' "$Z" | od -c | head -3 | tr -s ' ')" "get -p: the uuid and a newline"
expect_rc 0 "get -c" "$U" get -n "$L" -c
expect_eq "$(cat "$T/out")" "$Z" "get -c"
expect_rc 0 "get -f" "$U" get -n "$L" -f
expect_eq "$(cat "$T/out")" 0 "get -f"
expect_rc 0 "get -s" "$U" get -n "$L" -s
expect_eq "$(cat "$T/out")" "$size" "get -s: bytes"
# SM's parsers
expect_eq "$(sm get_cbt_parent "$L")" "$Z" "cbtutil.get_cbt_parent"
expect_eq "$(sm get_cbt_child "$L")" "$Z" "cbtutil.get_cbt_child"
expect_eq "$(sm get_cbt_consistency "$L")" False "cbtutil.get_cbt_consistency"
expect_eq "$(sm get_cbt_size "$L")" "$size" "cbtutil.get_cbt_size"

# ---- set: fields, then the bitmap through get -b ----------------------------------------------
expect_rc 0 "set -p -c -f" "$U" set -n "$L" -p "${P^^}" -c "$C" -f 1
expect_eq "$(layout "$L")" "$P $C 1 00000000 $size 61" "set wrote parent, child (raw bytes) and the flag"
expect_eq "$(sm get_cbt_parent "$L") $(sm get_cbt_child "$L") $(sm get_cbt_consistency "$L")" \
	"$P $C True" "SM reads them back (an upper-case uuid is printed lower-case)"
python3 "$SRC/tests/lib/sm_cbt.py" cbtutil set_cbt_consistency "$L" "" || fail "set_cbt_consistency False"
expect_eq "$(sm get_cbt_consistency "$L")" False "cbtutil.set_cbt_consistency(False)"
sm set_cbt_parent "$L" "$C" && sm set_cbt_child "$L" "$Z"
expect_eq "$(sm get_cbt_parent "$L") $(sm get_cbt_child "$L")" "$C $Z" "cbtutil.set_cbt_parent / set_cbt_child"
# blocks 0, 9, 63 and 100 (the last) marked, as tapdisk marks them
python3 - "$L" <<'PY'
import sys
f = open(sys.argv[1], "r+b")
for n in (0, 9, 63, 100):
    f.seek(48 + n // 8); b = f.read(1)[0]; f.seek(48 + n // 8); f.write(bytes([b | 1 << n % 8]))
PY
want=$(tail -c 13 "$L" | hex)
expect_eq "$want" "01020000000000800000000010" "blocks 0, 9, 63, 100: bit n % 8 of byte n / 8"
expect_rc 0 "get -b" "$U" get -n "$L" -b
expect_eq "$(hex <"$T/out")" "$want" "get -b: the raw bitmap, no newline"
expect_rc 0 "get -b -E" "$U" get -n "$L" -b -E
expect_eq "$(cat "$T/out")" "$(tail -c 13 "$L" | base64)" "get -b -E: base64 and a newline"
expect_eq "$(sm get_cbt_bitmap "$L")" "$want" "cbtutil.get_cbt_bitmap decodes it"

# ---- set -s: grows, keeps the marks; never shrinks -----------------------------------------------
sum=$(sha256sum <"$L")
bad 22 "set -s smaller" set -n "$L" -s $((size - 1))
expect_match "$(cat "$T/err")" "Size smaller than current file size \($size\)" "blktap's message"
expect_eq "$(sha256sum <"$L")" "$sum" "a refused set changes nothing"
expect_rc 0 "set -s 0 changes nothing" "$U" set -n "$L" -s 0
expect_eq "$(sha256sum <"$L")" "$sum" "set -s 0 is ignored, as blktap's"
# garbage past the bitmap (a longer file) must not become marks
printf '\xff\xff\xff\xff' >>"$L"
big=$((300 * 65536))
sm set_cbt_size "$L" "$big"
expect_eq "$(sm get_cbt_size "$L")" "$big" "cbtutil.set_cbt_size"
expect_eq "$(stat -c %s "$L")" $((48 + 38)) "the bitmap grew to 38 bytes"
expect_eq "$(tail -c 38 "$L" | hex)" "${want}$(printf '%050d' 0)" \
	"the old marks are kept, the new blocks unmarked"
expect_eq "$(layout "$L" | cut -d' ' -f1-3)" "$C $Z 0" "the other fields are kept"

# ---- coalesce: child |= parent -------------------------------------------------------------------
PL=$T/p.cbtlog CL=$T/c.cbtlog
"$U" create -n "$PL" -s $((16 * 65536)) && "$U" create -n "$CL" -s $((24 * 65536)) || fail "create"
printf '\x81\x40' | dd of="$PL" bs=1 seek=48 conv=notrunc status=none
printf '\x02\x00\x01' | dd of="$CL" bs=1 seek=48 conv=notrunc status=none
"$U" set -n "$CL" -p "$P" -f 1 || fail "set"
chdr=$(head -c 48 "$CL" | sha256sum)
sm coalesce_bitmap "$PL" "$CL"
expect_eq "$(tail -c 3 "$CL" | hex)" "834001" "coalesce ORs the parent into the child"
expect_eq "$(head -c 48 "$CL" | sha256sum)" "$chdr" "coalesce leaves the child's header"
expect_eq "$(tail -c 2 "$PL" | hex)" "8140" "the parent is unchanged"
sum=$(sha256sum <"$PL")
bad 22 "coalesce into a smaller child" coalesce -p "$CL" -c "$PL"
expect_eq "$(sha256sum <"$PL")" "$sum" "the refused coalesce changed nothing"

# ---- hostile command lines -------------------------------------------------------------------------
expect_rc 0 "--help" "$U" --help
expect_match "$(cat "$T/out")" "create \| set \| get \| coalesce" "usage lists the commands"
for c in create get set coalesce; do
	expect_rc 0 "$c -h" "$U" "$c" -h
	expect_match "$(cat "$T/out")" "Usage: cbt-util $c " "$c -h prints its usage"
done
bad 22 "no command" 
bad 22 "unknown command" frobnicate -n "$L"
bad 22 "a long unknown command" "$(head -c 5000 /dev/zero | tr '\0' x)"
bad 22 "unknown option" get -n "$L" -f --bogus
bad 22 "unknown short option" get -n "$L" -q
bad 22 "missing value" get -f -n
bad 22 "get without -n" get -f
bad 22 "get with two fields" get -n "$L" -p -c
bad 22 "get with no field" get -n "$L"
bad 22 "get -E without -b" get -n "$L" -f -E
bad 22 "stray operand" get -n "$L" -f extra
bad 22 "set without a field" set -n "$L"
bad 22 "create without -s" create -n "$T/x.log"
bad 22 "coalesce without -c" coalesce -p "$PL"
sum=$(sha256sum <"$L")
for s in "" 0 -1 1x 0x10 " 5" 18446744073709551616 $(((1 << 50) + 1)); do
	bad 22 "create -s '$s'" create -n "$T/s.log" -s "$s"
done
[ ! -e "$T/s.log" ] || fail "a refused create made a file"
for u in "" nonsense "$P-" "${P:0:35}" "${P//-/}" "g${P:1}" "$P$P"; do
	bad 22 "set -p '$u'" set -n "$L" -p "$u"
	bad 22 "set -c '$u'" set -n "$L" -c "$u"
done
for f in "" x 1.5 0x1 2147483648 -2147483649 "1 "; do
	bad 22 "set -f '$f'" set -n "$L" -f "$f"
done
bad 22 "set -s junk" set -n "$L" -s 12ab
expect_eq "$(sha256sum <"$L")" "$sum" "no refused set changed the log"
expect_rc 0 "set -f takes any int32" "$U" set -n "$L" -f -7
expect_eq "$(sm get_cbt_consistency "$L")" True "... which SM reads as bool(int())"

# ---- hostile files ----------------------------------------------------------------------------------
bad 2 "a missing log" get -n "$T/missing" -f
expect_match "$(cat "$T/err")" "Failed to open log file $T/missing" "blktap's message"
bad 36 "a path too long" get -n "/$(head -c 5000 /dev/zero | tr '\0' x)" -f
bad 21 "a directory" set -n "$T" -f 1
expect_rc 21 "a directory, read" "$U" get -n "$T" -f
head -c 20 "$L" >"$T/short"
bad 5 "a header cut short" get -n "$T/short" -s
bad 5 "set on a header cut short" set -n "$T/short" -f 1
expect_eq "$(stat -c %s "$T/short")" 20 "... left as it was"
head -c 60 "$L" >"$T/cut"
bad 5 "a bitmap cut short" get -n "$T/cut" -b
bad 5 "growing a bitmap cut short" set -n "$T/cut" -s $((big * 2))
bad 5 "coalescing from a cut bitmap" coalesce -p "$T/cut" -c "$L"
: >"$T/empty"
bad 5 "an empty file" get -n "$T/empty" -p
# a huge size in a header: get -b fails cleanly instead of allocating it
cp "$L" "$T/huge" && printf '\xff\xff\xff\xff\xff\xff\xff\x7f' | dd of="$T/huge" bs=1 seek=40 conv=notrunc status=none
bad 5 "a header claiming an enormous disk" get -n "$T/huge" -b -E
expect_rc 0 "its size is still printed" "$U" get -n "$T/huge" -s
expect_eq "$(cat "$T/out")" 9223372036854775807 "get -s"
# create truncates an existing file, as blktap's
head -c 100000 /dev/urandom >"$T/old"
expect_rc 0 "create over an existing file" "$U" create -n "$T/old" -s 65536
expect_eq "$(layout "$T/old")" "$Z $Z 0 00000000 65536 49" "the old content is gone"
echo PASS
