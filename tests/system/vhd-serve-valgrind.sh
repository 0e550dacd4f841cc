# td-serve under valgrind serving a VHD chain (a differencing disk over a dynamic parent with
# data) through the vhd driver: allocating and partial-block writes, reads through the chain,
# flush (no discard offered); no memory error, no definite leak, clean exit; data verified.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/simxen.sh"
. "$(dirname "$0")/../lib/vbd.sh"

command -v valgrind >/dev/null || fail "valgrind is not installed (tools/install-deps)"
[ "${RINGTAP_SANITIZE:-}" != 1 ] || skip "valgrind cannot run ASan-built programs"
V=$BIN/vhd-util
MiB=1048576
cd "$T"
"$V" create -n p.vhd -s 16 || fail "create"
head -c $((3 * MiB)) /dev/urandom >pdata
"$TBIN/vhd-io" write p.vhd $((MiB)) <pdata || fail "vhd-io write"
"$V" snapshot -n c.vhd -p p.vhd || fail "snapshot"
head -c 1M /dev/urandom >data
head -c 12288 /dev/urandom >small

simxen_start
dom=$(simxen_domain_create guest)
dev=$(simxen_vbd_add "$dom" --devid 51712)
vbd_attach "$dom" "$dev" "vhd:$T/c.vhd" --valgrind
env $(simxen_guest_env "$dom") "$TBIN/blkfront-io" --device "$dev" --order 2 --timeout-ms 30000 \
	write 6M 1M data write $((MiB + 4096)) 12288 small flush read 0 8M back \
	>out 2>&1 || fail "I/O under valgrind: $(tail -3 out)"
d=$(vbd_dir "$dom" "$dev")
grep -q '^feature-discard=0' "$d/ready" || fail "a VHD must not offer discard: $(cat "$d/ready")"
vbd_detach "$dom" "$dev" >/dev/null 2>&1 || true
for i in $(seq 100); do [ -f "$d/rc" ] && break; sleep 0.1; done
expect_eq "$(cat "$d/rc")" 0 "td-serve under valgrind exits cleanly"
head -c 8M /dev/zero >model
dd if=pdata of=model bs=1M seek=1 conv=notrunc status=none
dd if=data of=model bs=1M seek=6 conv=notrunc status=none
dd if=small of=model bs=4096 seek=257 conv=notrunc status=none
cmp -s back model || fail "the chain read back differs from the model"
grep -q "ERROR SUMMARY: 0 errors" "$d/valgrind.log" ||
	fail "valgrind: $(grep -A5 'ERROR SUMMARY\|Invalid' "$d/valgrind.log" | head -20)"
if grep -q "definitely lost: [1-9]" "$d/valgrind.log"; then fail "valgrind: definite leak"; fi
grep -E "ERROR SUMMARY|definitely|indirectly" "$d/valgrind.log"
expect_rc 0 "vhd-util check of the child" "$V" check -n c.vhd
