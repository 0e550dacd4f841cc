# A hostile guest against td-serve: malformed requests written straight into the ring
# (hostile-front) each get their status (BLKIF_RSP_ERROR / EOPNOTSUPP) and a valid read still
# works after each; a producer index beyond the ring halts that ring; the daemon stays alive, its
# image is untouched, and a second VBD served by another td-serve to another guest keeps doing
# correct I/O throughout. Every ABI.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/simxen.sh"
. "$(dirname "$0")/../lib/vbd.sh"

[ -x "$TBIN/hostile-front" ] || fail "hostile-front is not built"
simxen_start
bad=$(simxen_domain_create hostile)
good=$(simxen_domain_create victim)
other=$(simxen_domain_create bystander) # the foreign-grant case grants to it

imga=$T/hostile.img
imgb=$T/victim.img
head -c 16M /dev/urandom >"$imga"
truncate -s 64M "$imgb"
sum_a=$(sha256sum <"$imga")

# the victim: a second VBD, another td-serve, busy while the hostile guest runs
devb=$(simxen_vbd_add "$good" --devid 51712)
vbd_attach "$good" "$devb" "aio:$imgb"
head -c 4M /dev/urandom >"$T/vdata"
victim_cmds=()
for i in $(seq 0 15); do
	victim_cmds+=(write $((i * 4 * 1024 * 1024)) 4M "$T/vdata" read $((i * 4 * 1024 * 1024)) 4M "$T/vback$i")
done
env $(simxen_guest_env "$good") "$TBIN/blkfront-io" --device "$devb" --order 1 \
	"${victim_cmds[@]}" >"$T/victim.out" 2>&1 &
victim=$!
at_exit "kill $victim 2>/dev/null"

run_hostile() { # DEVID ABI CASE [td-serve options]: hostile-front's exit status
	local dev=$1 abi=$2 case=$3 rc=0
	shift 3
	vbd_attach "$bad" "$dev" "aio:$imga" "$@"
	env $(simxen_guest_env "$bad") "$TBIN/hostile-front" --device "$dev" --abi "$abi" \
		--order 1 --case "$case" --other-domid "$other" --timeout-ms 5000 \
		>"$T/hostile.$dev.out" 2>&1 || rc=$?
	cat "$T/hostile.$dev.out"
	return $rc
}

dev=100
for abi in native x86_32-abi x86_64-abi; do
	dev=$((dev + 1))
	simxen_vbd_add "$bad" --devid $dev >/dev/null
	run_hostile $dev "$abi" all --max-indirect 256 || fail "$abi: a hostile case got the wrong answer"
	[ -n "$(vbd_pid "$bad" $dev)" ] || fail "$abi: no td-serve"
	vbd_detach "$bad" $dev || fail "$abi: td-serve did not exit cleanly (exit $?)"
	# nine refused by validation, the foreign grant when its data is copied
	expect_eq "$(vbd_stat "$bad" $dev invalid)" 9 "$abi: malformed requests refused and counted"
	expect_eq "$(vbd_stat "$bad" $dev errors)" 9 "$abi: BLKIF_RSP_ERROR answers"
	expect_eq "$(vbd_stat "$bad" $dev eopnotsupp)" 1 "$abi: the unknown operation answered EOPNOTSUPP"
	[ "$(vbd_stat "$bad" $dev grant_errors)" -ge 1 ] || fail "$abi: the foreign grant was not refused"
	expect_eq "$(vbd_stat "$bad" $dev halted)" 0 "$abi: ring still running"
	[ "$(vbd_stat "$bad" $dev reads)" -ge 10 ] || fail "$abi: the follow-up reads were not served"
done

# a write, a bare flush and a write barrier to a read-only VBD: BLKIF_RSP_ERROR, as blkback
for case in write-readonly flush-readonly barrier-readonly; do
	dev=$((dev + 1))
	simxen_vbd_add "$bad" --devid $dev --mode r >/dev/null
	run_hostile $dev native $case --readonly || fail "$case: not refused on a read-only VBD"
	vbd_detach "$bad" $dev || fail "$case: read-only td-serve exit $?"
	expect_eq "$(vbd_stat "$bad" $dev errors)" 1 "$case: answered BLKIF_RSP_ERROR"
	expect_eq "$(vbd_stat "$bad" $dev writes)" 0 "$case: no write reached the read-only image"
	expect_eq "$(vbd_stat "$bad" $dev bytes_written)" 0 "$case: nothing written to the image"
done

# a producer index beyond the ring: the ring halts, the daemon stays up and exits cleanly
dev=$((dev + 1))
simxen_vbd_add "$bad" --devid $dev >/dev/null
run_hostile $dev x86_32-abi prod-overflow || fail "prod-overflow case failed to run"
for ((i = 0; i < 50; i++)); do
	grep -q "ring halted" "$(vbd_dir "$bad" $dev)/stderr" && break
	sleep 0.1
done
grep -q "ring halted" "$(vbd_dir "$bad" $dev)/stderr" || fail "the ring was not halted"
expect_eq "$(grep -c "ring halted" "$(vbd_dir "$bad" $dev)/stderr")" 1 "halt logged once"
vbd_detach "$bad" $dev || fail "halted td-serve exit $?"
# alive until the guest closed the device: it stopped on the handshake's SIGTERM, cleanly
grep -q "signal 15: draining" "$(vbd_dir "$bad" $dev)/stderr" || fail "td-serve did not survive the overflow"
expect_eq "$(vbd_stat "$bad" $dev halted)" 1 "ring reported halted"

expect_eq "$(sha256sum <"$imga")" "$sum_a" "the hostile guest's image is unchanged"

# the victim finished its I/O correctly, against its image's bytes
wait $victim || fail "the victim's I/O failed: $(tail -3 "$T/victim.out")"
for i in $(seq 0 15); do
	cmp -s "$T/vdata" "$T/vback$i" || fail "victim read $i differs"
	cmp -s "$T/vdata" <(dd if="$imgb" bs=1M skip=$((i * 4)) count=4 2>/dev/null) ||
		fail "victim image bytes at $((i * 4)) MiB differ"
done
vbd_detach "$good" "$devb" || true
expect_eq "$(vbd_stat "$good" "$devb" errors)" 0 "the victim saw no error"
echo PASS
