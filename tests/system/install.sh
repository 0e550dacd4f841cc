# make install puts every program where blktap's packages put it (README, "Installing"), the
# installed tap-ctl spawns the installed tapdisk (../libexec from its own directory), and make
# uninstall removes exactly what install wrote.
. "$(dirname "$0")/../lib/common.sh"
. "$SRC/tests/lib/tapdisk.sh"
. "$SRC/tests/lib/install.sh"

# blktap's paths (its RPM: %{_sbindir}, %{_bindir}, %{_libexecdir}); a new program installed
# in sbin needs no line here
declare -A where=([tapdisk]=libexec [tapback]=bin [vhd-util]=bin [tap-ctl]=sbin [td-util]=sbin)

install_to "$T/root/usr"
progs=$(installed_programs)
[ -n "$progs" ] || fail "make print-installed lists no program"
for p in $progs; do
	dir=${where[$p]:-sbin}
	[ -x "$T/root/usr/$dir/$p" ] || fail "$p is not in $dir"
	[ -f "$T/root/usr/share/man/man8/$p.8" ] || fail "$p has no man page installed"
done
for p in "${!where[@]}"; do
	grep -qx "$p" <<<"$progs" || fail "$p is not installed"
done
echo "ok: $(wc -w <<<"$progs") programs at blktap's paths, each with its man page"
[ -f "$T/root/usr/unit/tapback.service" ] || fail "tapback.service not installed"
expect_eq "$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$T/root/usr/unit/tapback.service")" \
	"$T/root/usr/bin/tapback" "the unit runs the installed tapback"

# the installed tap-ctl finds the installed tapdisk by itself (no TAPDISK_BIN)
tapdisk_env
unset TAPDISK_BIN
TAPCTL=$T/root/usr/sbin/tap-ctl
expect_rc 0 "installed tap-ctl spawns" "$TAPCTL" spawn
pid=$(cat "$T/out")
expect_match "$pid" '^[0-9]+$' "spawn printed a pid"
expect_eq "$(readlink "/proc/$pid/exe")" "$T/root/usr/libexec/tapdisk" \
	"the tapdisk it started is the installed one"
kill "$pid"
wait_until 30 "the spawned tapdisk exits on SIGTERM" exited "$pid"

# uninstall leaves no file behind (directories stay, as with any make uninstall)
ringtap_make uninstall PREFIX="$T/root/usr" UNITDIR="$T/root/usr/unit" >"$T/uninstall.log" 2>&1 ||
	fail "make uninstall: $(tail -5 "$T/uninstall.log")"
left=$(find "$T/root" -not -type d)
expect_eq "$left" "" "make uninstall removed every installed file"
