# The installed systemd units: `systemd-analyze verify` accepts each (its ExecStart exists, its
# man page too, its dependencies load), and `systemd-analyze security --offline` rates each
# sandbox at an exposure of 3.0 or less, with device access limited to /dev/xen/*.
. "$(dirname "$0")/../lib/common.sh"
. "$SRC/tests/lib/install.sh"

command -v systemd-analyze >/dev/null || skip "systemd-analyze is not installed (Debian: systemd)"
MAX_EXPOSURE=3.0

install_to "$T/root/usr"
units=("$T"/root/usr/unit/*.service)
[ -f "${units[0]}" ] || fail "make install installed no unit"
for u in "${units[@]}"; do
	n=$(basename "$u")
	# Documentation=man:… is checked against the installed man pages
	MANPATH=$T/root/usr/share/man systemd-analyze verify "$u" >"$T/verify" 2>&1 ||
		fail "systemd-analyze verify $n: $(cat "$T/verify")"
	[ ! -s "$T/verify" ] || fail "systemd-analyze verify $n warns: $(cat "$T/verify")"
	echo "ok: $n passes systemd-analyze verify"

	systemd-analyze security --offline=true --no-pager "$u" >"$T/security" 2>&1 ||
		fail "systemd-analyze security $n: $(tail -5 "$T/security")"
	score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' "$T/security")
	[ -n "$score" ] || fail "no exposure level for $n: $(tail -3 "$T/security")"
	awk -v s="$score" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(s <= m) }' ||
		fail "$n: exposure $score > $MAX_EXPOSURE: $(grep '✗' "$T/security")"
	echo "ok: $n exposure $score (at most $MAX_EXPOSURE)"

	grep -qx 'DevicePolicy=closed' "$u" || fail "$n: devices not closed by default"
	devs=$(sed -n 's/^DeviceAllow=\([^ ]*\).*/\1/p' "$u")
	for d in $devs; do
		[[ $d == /dev/xen/* ]] || fail "$n allows device $d (only /dev/xen/* wanted)"
	done
	echo "ok: $n opens only ${devs:-no devices}"
done

# ordering: works on Debian 12 (xen.service from /etc/init.d/xen) and XCP-ng/XenServer
# (xenstored.service, proc-xen.mount); nothing hard-required that either lacks
u=$T/root/usr/unit/tapback.service
for dep in xen.service xenstored.service proc-xen.mount; do
	grep -Eq "^After=.*\b$dep\b" "$u" || fail "tapback.service is not ordered after $dep"
done
! grep -Eq '^(Requires|Requisite|BindsTo)=' "$u" || fail "tapback.service hard-requires a unit"
echo "ok: tapback.service ordered after Debian's and XCP-ng's xenstore units, requiring none"
