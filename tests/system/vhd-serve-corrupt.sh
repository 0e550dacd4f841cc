# A damaged VHD is refused when td-serve opens it through the vhd driver: an errno exit code and a
# message naming the file and the broken rule, no crash (ASan/UBSan under `make check
# SANITIZE=1`), and a good image next to it still opens. td-serve opens the image before it
# touches the ring, so no simxen is needed.
. "$(dirname "$0")/../lib/common.sh"
V=$BIN/vhd-util
IO=$TBIN/vhd-io
MiB=1048576
cd "$T"

cat >patch.py <<'PYEOF'
import struct, sys
path, ops = sys.argv[1], sys.argv[2:]
b = bytearray(open(path, 'rb').read())
while ops:
    what, arg = ops[0], ops[1]
    if what == 'bat':  # BAT entry N := V (the header's BAT at 1536)
        struct.pack_into('>I', b, 1536 + 4 * int(arg), int(ops[2], 0))
        ops = ops[1:]
    elif what == 'byte':  # flip a byte (negative: from the end)
        at = int(arg); at = at if at >= 0 else len(b) + at
        b[at] ^= 0xff
    elif what == 'truncate':
        b = b[:int(arg)]
    ops = ops[2:]
open(path, 'wb').write(b)
PYEOF

"$V" create -n good.vhd -s 16 || fail "create"
head -c $((3 * MiB)) /dev/urandom | "$IO" write good.vhd $((MiB)) || fail "write"

# serve IMAGE: td-serve up to opening the image (a bogus ring: it never gets that far if the open
# fails; if it opens, the connect fails on the bogus grant reference)
serve() { "$TBIN/td-serve" --image "$1" --domid 1 --ring-ref 8 --port 1; }

# refused NAME ERRNO REGEX PATCH...: a copy of good.vhd damaged by PATCH is refused
refused() {
	local name=$1 errno=$2 re=$3
	shift 3
	cp good.vhd "$name.vhd"
	python3 patch.py "$name.vhd" "$@" || fail "patch $*"
	expect_rc "$errno" "$name: refused at open" serve "vhd:$T/$name.vhd"
	grep -q "vhd: cannot open $T/$name.vhd" "$T/err" || fail "$name: no clear error: $(cat "$T/err")"
	grep -Eqi "$re" "$T/err" || fail "$name: the message does not say why: $(cat "$T/err")"
	! grep -qi 'sanitizer\|runtime error' "$T/err" || fail "$name: sanitizer report: $(cat "$T/err")"
	echo "   $(grep 'vhd: cannot open' "$T/err" | head -1)"
}

refused truncated 22 'too small|outside the file|not a valid VHD' truncate 700
refused both-footers 22 'checksum' byte 70 byte -442
refused header-checksum 22 'checksum' byte 600
refused bat-past-end 22 'past the end' bat 1 0x7fffff00
refused bat-over-header 22 'overlap' bat 1 2
refused bat-overlap 22 'overlapping' bat 3 "$(python3 -c "import struct; b=open('good.vhd','rb').read(); print(struct.unpack_from('>I', b, 1536)[0] + 1)")"
refused not-vhd 22 'not a valid VHD|cookie' byte 0 byte -512

# a parent loop: a child whose parent is itself (its own UUID recorded as the parent's)
"$V" create -n loopp.vhd -s 16 || fail "create"
"$V" snapshot -n loopc.vhd -p loopp.vhd || fail "snapshot"
mv loopc.vhd loopp.vhd.tmp && mv loopp.vhd loopc.vhd.parent && mv loopp.vhd.tmp loopp.vhd
# loopp.vhd is now the child, naming loopp.vhd (itself) as its parent
"$V" modify -n loopp.vhd -p "$T/loopp.vhd" >/dev/null 2>&1 || true
expect_rc 40 "a self-parented disk (ELOOP)" serve "vhd:$T/loopp.vhd"
grep -q "vhd: cannot open.*parent loop" "$T/err" || fail "self-parented disk: no clear error: $(cat "$T/err")"

# a missing file, a directory, an empty path
expect_rc 2 "a missing file" serve "vhd:$T/none.vhd"
expect_rc 21 "a directory (EISDIR)" serve "vhd:$T"
expect_rc 22 "an empty path" serve "vhd:"

# the good image opens (and only the bogus ring fails afterwards)
rc=0
serve "vhd:$T/good.vhd" >"$T/out" 2>"$T/err" || rc=$?
! grep -q 'vhd: cannot open' "$T/err" || fail "the good image was refused: $(cat "$T/err")"
grep -q 'cannot connect the ring' "$T/err" || fail "good image: unexpected failure: $(cat "$T/err")"
expect_rc 0 "the good image is untouched by the attempts" "$V" check -n good.vhd
