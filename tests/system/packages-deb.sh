# The Debian package: tools/build-packages deb (dpkg-buildpackage -b on a copy of the tree)
# builds ringtap_<VERSION>_<arch>.deb; lintian finds no error in it; it holds exactly what
# make install PREFIX=/usr installs (man pages compressed); apt accepts `apt install ./x.deb`
# (simulated: its dependencies resolve on this host); its programs print VERSION.
. "$(dirname "$0")/../lib/common.sh"
. "$SRC/tests/lib/install.sh"

version=$(cat "$SRC/VERSION")
"$SRC/tools/build-packages" deb "$T/out" >"$T/build.log" 2>&1 ||
	fail "build-packages deb: $(tail -20 "$T/build.log")"
deb=$T/out/ringtap_${version}_$(dpkg --print-architecture).deb
[ -f "$deb" ] || fail "no $(basename "$deb") in: $(ls "$T/out")"
echo "ok: built $(basename "$deb")"
expect_eq "$(dpkg-deb -f "$deb" Version)" "$version" "the package's version is VERSION"

lintian --fail-on error "$T/out"/ringtap_*.changes >"$T/lintian" 2>&1 ||
	fail "lintian errors: $(cat "$T/lintian")"
echo "ok: lintian, no error ($(grep -c '^W:' "$T/lintian" || true) warnings)"
sed 's/^/    /' "$T/lintian"

# the same files as make install PREFIX=/usr (the unit in Debian's /lib/systemd/system)
ringtap_make print-installed PREFIX=/usr | sed 's#/share/man/man8/\(.*\)#/share/man/man8/\1.gz#' |
	sort >"$T/want"
dpkg-deb -c "$deb" | awk '$1 !~ /^d/ { sub(/^\./, "", $6); print $6 }' |
	grep -v '^/usr/share/doc/' | sort >"$T/got"
diff "$T/want" "$T/got" >"$T/diff" || fail "package contents differ from make install: $(cat "$T/diff")"
echo "ok: the package installs what make install does ($(wc -l <"$T/got") files)"

# what the README says: apt install ./ringtap_*.deb (simulated: the host is not changed)
apt-get install --simulate -q "$deb" >"$T/apt" 2>&1 || fail "apt would not install it: $(cat "$T/apt")"
grep -q '^Inst ringtap ' "$T/apt" || fail "apt's plan does not install ringtap: $(cat "$T/apt")"
echo "ok: apt install ./$(basename "$deb") resolves its dependencies"

dpkg-deb -x "$deb" "$T/x"
for p in $(installed_programs); do
	f=$(find "$T/x/usr" -name "$p" -type f)
	[ -n "$f" ] || fail "$p missing from the package"
	expect_eq "$("$f" --version)" "$p (ringtap) $version" "packaged $p --version"
done
