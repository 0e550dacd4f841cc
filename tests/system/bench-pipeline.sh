# The benchmark pipeline end to end, tiny: bench/production (the guest's fio through a tapdisk
# spawned by tap-ctl, tapback's handshake and XAPI's polling nodes; the bare file beside it) for
# 1 s, 1 round, one workload and a 2-point queue-depth sweep, then bench/plot on its results.
# Asserts what the results must hold, never a speed: run.json names the commit; every run has the
# load average and PSI before and after; every fio JSON parses and counts I/O; every guest run has
# tap-ctl stats samples with the ring's polling counters; the five pictures are PNGs; the
# benchmark's tapdisks, tapback and simulated host are gone afterwards.
. "$(dirname "$0")/../lib/common.sh"
. "$SRC/tests/lib/tapdisk.sh" # exited

need_built "$BIN/tapdisk" "$BIN/tapback" "$BIN/tap-ctl" "$RINGTAP_BUILD/lib/blkfront.so"
command -v fio >/dev/null || fail "fio is not installed (tools/install-deps)"
command -v gnuplot >/dev/null || fail "gnuplot is not installed (tools/install-deps)"

out=$T/results
# the image on a real filesystem (tmpfs has no O_DIRECT for the bare run): the test's own
# directory, or /var/tmp where /tmp is a tmpfs
imgdir=$T
if [ "$(stat -f -c %T "$T")" = tmpfs ]; then
	imgdir=$(mktemp -d /var/tmp/ringtap-bench-pipeline.XXXXXX) || fail "cannot create a directory in /var/tmp"
	at_exit "rm -rf '$imgdir'"
	[ "$(stat -f -c %T "$imgdir")" != tmpfs ] ||
		skip "both $T and /var/tmp are on tmpfs (no O_DIRECT for the bare run)"
fi
commit=$(git -C "$SRC" rev-parse HEAD 2>/dev/null || echo None) # the tree as the run starts
"$SRC/bench/production" --runtime 1 --ramp 0 --rounds 1 --size 32M --dir "$imgdir" \
	--workloads rand4k-qd1 --sweep "2 4" --sample-ms 100 --out "$out" \
	>"$T/bench.out" 2>"$T/bench.err" &
bp=$!
wait $bp || fail "bench/production failed: $(tail -n 15 "$T/bench.err")"
echo "ok: bench/production ran"
grep -q '| unpinned | rand4k-qd1 | adaptive |' "$T/bench.out" ||
	fail "no ratio table row for adaptive: $(cat "$T/bench.out")"
echo "ok: it printed the ratio table"

expect_eq "$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['commit'])" "$out/run.json")" \
	"$commit" "run.json names the commit"

# the rounds: 4 policies of the workload, 2 QDs x 2 sweep policies
python3 - "$out" <<'PY' || fail "the rounds' records are incomplete (above)"
import json, os, sys
out = sys.argv[1]
run = json.load(open(os.path.join(out, "run.json")))
assert run["command"][0] == "bench/production" and "--runtime" in run["command"], run["command"]
for k in ("nproc", "kernel", "cpu_model"):
    assert run["host"].get(k), "run.json: host.%s missing" % k
assert isinstance(run["dirty"], bool) or run["commit"] is None, "run.json: dirty flag missing"
recs = [json.loads(l) for l in open(os.path.join(out, "rounds.jsonl"))]
seen = sorted((r["job"], r["policy"]) for r in recs)
want = sorted([("rand4k-qd1", p) for p in ("bare", "off", "fixed", "adaptive")] +
              [("rand4k-qd%d" % q, p) for q in (2, 4) for p in ("off", "adaptive")])
assert seen == want, "runs recorded: %s, expected %s" % (seen, want)
psi = os.path.exists("/proc/pressure/cpu")
for r in recs:
    name = "%s/%s" % (r["job"], r["policy"])
    assert r["exit"] == 0, name + ": fio failed"
    for when in ("before", "after"):
        s = r[when]
        assert len(s["loadavg"]) == 3 and all(x >= 0 for x in s["loadavg"]), name + " " + when
        if psi:
            for res in ("cpu", "io", "memory"):
                some = s["psi"][res]["some"]
                assert some["avg10"] >= 0 and some["total_us"] >= 0, "%s %s psi %s" % (name, when, res)
    assert r["after"]["time"] >= r["before"]["time"], name + ": after is before before"
    fio = json.load(open(os.path.join(out, r["fio"])))
    rd = fio["jobs"][0]["read"]
    assert rd["iops"] > 0 and rd["total_ios"] > 0, name + ": fio counted no I/O"
    assert fio["jobs"][0]["jobname"] == r["job"], name + ": fio ran another job"
    if r["policy"] == "bare":
        continue
    assert r["tapdisk_cpu_s"] >= 0 and r["tapdisk_pid"] > 0, name + ": tapdisk's CPU time"
    samples = [json.loads(l) for l in open(os.path.join(out, r["stats"]))]
    polled = [s for s in samples if s["stats"]["polling"].get("stats")]
    assert polled, name + ": no tap-ctl stats sample while the guest was connected"
    assert all(s["stats"]["polling"]["policy"] == r["policy"] for s in samples), \
        name + ": the tapdisk did not run the policy asked for"
    assert all(s["stats"]["polling"]["duration_us"] == 8000 for s in polled), \
        name + ": XAPI's polling-duration node did not reach tapdisk"
    print("ok: %s: %.0f IOPS, %d stats samples, load %.1f -> %.1f" % (
        name, rd["iops"], len(samples), r["before"]["loadavg"][0], r["after"]["loadavg"][0]))
PY
echo "ok: every run has load, PSI, fio's JSON and (through ringtap) stats samples"

# nothing of the benchmark left: its tapdisks, its tapback, its simulated host
pids=$(python3 -c 'import json,sys
r=[json.loads(l) for l in open(sys.argv[1])]
print(" ".join(sorted({str(x[k]) for x in r for k in ("tapdisk_pid","tapback_pid") if k in x})))' "$out/rounds.jsonl")
# (a pid still alive counts only if it is a tapdisk or tapback of this build: not a reused pid)
for p in $pids; do
	exited "$p" && continue
	case $(cat "/proc/$p/comm" 2>/dev/null) in tapdisk | tapback) ;; *) continue ;; esac
	grep -qz "^RINGTAP_BUILD=$RINGTAP_BUILD\$" "/proc/$p/environ" 2>/dev/null || continue
	fail "the benchmark left process $p ($(cat "/proc/$p/comm")) running"
done
[ ! -e "/dev/shm/ringtap-bench-production.$bp" ] || fail "the simulated host's state is left in /dev/shm"
if pgrep -f "ringtap-bench-production.$bp" >/dev/null; then
	fail "a process of the benchmark's simulated host is left running"
fi
echo "ok: nothing of the benchmark is left running"

expect_rc 0 "bench/plot draws the results" "$SRC/bench/plot" "$out"
for png in iops latency cdf qd window; do
	f=$out/plots/$png.png
	grep -qx "$f" "$T/out" || fail "bench/plot did not report $png.png"
	python3 - "$f" <<'PY' || fail "$f is not a valid PNG"
import struct, sys
d = open(sys.argv[1], "rb").read()
assert d[:8] == b"\x89PNG\r\n\x1a\n", "signature"
assert d[12:16] == b"IHDR", "no IHDR chunk"
w, h = struct.unpack(">II", d[16:24])
assert w > 0 and h > 0, "zero size"
assert d[-8:-4] == b"IEND", "truncated"
PY
	echo "ok: $png.png is a PNG ($(stat -c %s "$f") bytes)"
done
expect_rc 2 "bench/plot refuses a directory without results" "$SRC/bench/plot" "$T"
