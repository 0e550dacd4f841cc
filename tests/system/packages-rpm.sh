# The RPM for XenServer/XCP-ng: tools/build-packages rpm (rpmbuild -bb rpm/ringtap.spec from
# Debian's rpm, with --nodeps because the BuildRequires name RPM packages that Debian's rpm
# database does not hold; see the script) builds ringtap-<VERSION>-1.<arch>.rpm holding what
# make install installs at the RPM's paths, conflicting with blktap whose paths it takes.
. "$(dirname "$0")/../lib/common.sh"
. "$SRC/tests/lib/install.sh"

version=$(cat "$SRC/VERSION")
"$SRC/tools/build-packages" rpm "$T/out" >"$T/build.log" 2>&1 ||
	fail "build-packages rpm: $(tail -20 "$T/build.log")"
rpms=("$T/out"/ringtap-"$version"-1*.rpm)
[ -f "${rpms[0]}" ] || fail "no ringtap-$version-1*.rpm in: $(ls "$T/out")"
rpmf=${rpms[0]}
echo "ok: built $(basename "$rpmf")"
q() { rpm -qp "$@" "$rpmf" 2>/dev/null; }
expect_eq "$(q --queryformat '%{VERSION}')" "$version" "the package's version is VERSION"
q --conflicts | grep -qx blktap || fail "the RPM does not conflict with blktap"
echo "ok: conflicts with blktap"

unitdir=$(rpm --eval '%{?_unitdir}%{!?_unitdir:/usr/lib/systemd/system}')
ringtap_make print-installed PREFIX=/usr UNITDIR="$unitdir" | sort >"$T/want"
q -l | grep -Ev '^/usr/lib/\.build-id|^/usr/share/(doc|licenses)/' | sort >"$T/listed"
comm -23 "$T/want" "$T/listed" >"$T/missing"
[ ! -s "$T/missing" ] || fail "missing from the RPM: $(cat "$T/missing")"
comm -13 "$T/want" "$T/listed" >"$T/extra"
[ ! -s "$T/extra" ] || fail "in the RPM but not installed by make install: $(cat "$T/extra")"
echo "ok: the RPM installs what make install does ($(wc -l <"$T/want") files)"
q --scripts | grep -q 'postinstall' || fail "the RPM has no %post (systemd_post)"
echo "ok: %post/%preun/%postun present"
