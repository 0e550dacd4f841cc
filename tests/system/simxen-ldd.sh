# Under the simxen environment (LD_LIBRARY_PATH=<build>/lib) a program linked against Debian's Xen
# libraries loads simxen's, which export exactly Debian's symbols with Debian's version nodes.
. "$(dirname "$0")/../lib/common.sh"

prog=$TBIN/simxen-evtchn-test
lib=$RINGTAP_BUILD/lib
# "VERSION NAME" of every symbol a library defines, version nodes included
exported() {
	objdump -T "$1" | awk '$2 == "g" && $0 !~ /\*UND\*/ { print $(NF - 1), $NF }' | sort
}

out=$(LD_LIBRARY_PATH=$lib ldd "$prog")
for l in libxengnttab libxenevtchn; do
	expect_match "$out" "$l\.so\.1 => $lib/$l\.so\.1 " "ldd shows simxen's $l"
	debian=$(env -u LD_LIBRARY_PATH ldd "$prog" | awk -v l="$l.so.1" '$1 == l { print $3 }')
	[ -f "$debian" ] && [[ $debian != "$lib"/* ]] || fail "no Debian $l for $prog: '$debian'"
	exported "$debian" >"$T/debian"
	exported "$lib/$l.so.1" >"$T/simxen"
	[ "$(wc -l <"$T/debian")" -ge 10 ] || fail "few symbols in $debian: $(cat "$T/debian")"
	diff -u "$T/debian" "$T/simxen" || fail "$l exports differ from Debian's"
	echo "ok: $l exports Debian's $(wc -l <"$T/debian") symbols and version nodes"
	expect_match "$(objdump -p "$lib/$l.so.1")" "SONAME +$l\.so\.1" "$l soname"
done
