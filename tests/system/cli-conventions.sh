# Every installed program follows the command-line conventions: --help prints usage on stdout
# and exits 0; an unknown flag prints a message naming it on stderr and exits EINVAL (22) with
# nothing on stdout.
. "$(dirname "$0")/../lib/common.sh"

progs=("$BIN"/*)
[ -x "${progs[0]}" ] || fail "no programs built in $BIN"
for p in "${progs[@]}"; do
	n=$(basename "$p")
	expect_rc 0 "$n --help exits 0" "$p" --help
	expect_match "$(cat "$T/out")" "[Uu]sage: .*$n" "$n --help prints usage"
	expect_rc 22 "$n --no-such-flag exits EINVAL" "$p" --no-such-flag
	expect_match "$(cat "$T/err")" "no-such-flag" "$n names the bad flag"
	[ ! -s "$T/out" ] || fail "$n printed to stdout on a bad flag"
done
# install-deps too, which CI runs first
expect_rc 0 "install-deps --help" "$SRC/tools/install-deps" --help
expect_rc 22 "install-deps rejects unknown arguments" "$SRC/tools/install-deps" --bogus
expect_rc 0 "install-deps --check sees every package installed" "$SRC/tools/install-deps" --check
