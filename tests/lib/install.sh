# Helpers for tests of what `make install` and the packages install. Source after common.sh.
#   ringtap_make TARGET [VAR=VALUE...]  make TARGET in the source tree on this test's build
#                                       ($RINGTAP_BUILD, its SANITIZE), quietly
#   install_to PREFIX [VAR=VALUE...]    make install with PREFIX (absolute, no DESTDIR: the
#                                       installed unit's ExecStart then names a real file),
#                                       the units in PREFIX/unit
#   installed_programs                  the names of the installed programs, one a line (from
#                                       make print-installed: sbin, bin and libexec)
ringtap_make() {
	local target=$1
	shift
	make -s --no-print-directory -C "$SRC" BUILD="$RINGTAP_BUILD" \
		SANITIZE="${RINGTAP_SANITIZE:-}" "$target" "$@"
}

install_to() {
	local prefix=$1
	shift
	ringtap_make install PREFIX="$prefix" UNITDIR="$prefix/unit" "$@" >"$T/install.log" 2>&1 ||
		fail "make install PREFIX=$prefix: $(tail -5 "$T/install.log")"
}

installed_programs() {
	ringtap_make print-installed PREFIX=/P | sed -n 's#^/P/\(s\{0,1\}bin\|libexec\)/##p'
}
