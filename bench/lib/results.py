#!/usr/bin/env python3
"""What every bench script records, and the tables and plot data made from it.

A results directory holds:
  run.json       the commit (and whether the tree was dirty), host facts, the command line
  rounds.jsonl   one record per measured run: job, policy, round, placement, engine...,
                 load average and PSI before and after, fio's JSON (fio/...), stats samples
  fio/           fio's raw JSON output of every run (bare and guest)
  stats/         `tap-ctl stats` samples taken while a guest ran (JSON lines: t, stats)

Subcommands (bench/lib/bench.sh calls them):
  snapshot                         load average and PSI now, one JSON line
  run-json OUT SCRIPT ARG...       writes OUT/run.json
  round OUT BEFORE AFTER [--fio F] [--stats F] [--extra F] [KEY=VALUE...]
                                   copies F into OUT and appends a record to OUT/rounds.jsonl
  table OUT                        medians over the rounds, ratios to `off` and to `bare`
"""
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time


def snapshot():
    s = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    try:
        f = open("/proc/loadavg").read().split()
        s["loadavg"] = [float(x) for x in f[:3]]
        s["runnable"] = f[3]
    except OSError:
        pass
    psi = {}
    for res in ("cpu", "io", "memory"):
        try:
            lines = open("/proc/pressure/" + res).read().split("\n")
        except OSError:
            continue
        psi[res] = {}
        for line in lines:
            w = line.split()
            if not w:
                continue
            kv = dict(x.split("=", 1) for x in w[1:])
            psi[res][w[0]] = {"avg10": float(kv["avg10"]), "total_us": int(kv["total"])}
    s["psi"] = psi
    return s


def git(src, *args):
    try:
        return subprocess.run(["git", "-C", src, *args], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def run_json(out, script, args):
    src = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    status = git(src, "status", "--porcelain", "--untracked-files=no")
    r = {
        "script": script,
        "command": [script] + args,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "commit": git(src, "rev-parse", "HEAD"),
        "describe": git(src, "describe", "--always", "--dirty"),
        "dirty": bool(status) if status is not None else None,
        "version": open(os.path.join(src, "VERSION")).read().strip(),
        "host": {
            "nproc": os.cpu_count(),
            "kernel": platform.release(),
            "cpu_model": cpu_model(),
            "hostname": platform.node(),
        },
        "start": snapshot(),
    }
    with open(os.path.join(out, "run.json"), "w") as f:
        json.dump(r, f, indent=1)
        f.write("\n")


def value(v):
    """a number or true/false as such; anything else (a driver named null too) a string"""
    if v in ("true", "false"):
        return v == "true"
    try:
        return int(v)
    except ValueError:
        pass
    try:
        return float(v)
    except ValueError:
        return v


def record(out, before, after, opts):
    path = os.path.join(out, "rounds.jsonl")
    n = sum(1 for _ in open(path)) + 1 if os.path.exists(path) else 1
    r = {}
    for k, v in opts["set"]:
        r[k] = value(v)
    tag = "%03d-%s-%s" % (n, r.get("job", "job"), r.get("policy", "run"))
    for k in ("placement", "engine", "driver"):
        if r.get(k):
            tag += "-" + str(r[k])
    tag += "-r%s" % r.get("round", 1)
    tag = "".join(c if c.isalnum() or c in "-_." else "_" for c in tag)  # td-serve/auto
    for kind, sub, ext in (("fio", "fio", ".json"), ("stats", "stats", ".jsonl")):
        src = opts.get(kind)
        if not src:
            continue
        os.makedirs(os.path.join(out, sub), exist_ok=True)
        dst = os.path.join(sub, tag + ext)
        if os.path.exists(src):
            shutil.copyfile(src, os.path.join(out, dst))
            r[kind] = dst
        else:
            r[kind] = None
    if r.get("stats"):
        s = last_stats(out, r)
        images = s.get("images") if s else None
        if images and images[0].get("engine"):
            r["engine_used"] = images[0]["engine"]  # what `auto` chose
    if opts.get("extra") and os.path.exists(opts["extra"]):
        try:
            r.update(json.load(open(opts["extra"])))
        except ValueError:
            pass
    r["before"], r["after"] = json.loads(before), json.loads(after)
    with open(path, "a") as f:
        f.write(json.dumps(r, sort_keys=True) + "\n")


# ---- reading a results directory --------------------------------------------------------------

def rounds(out):
    path = os.path.join(out, "rounds.jsonl")
    return [json.loads(x) for x in open(path) if x.strip()] if os.path.exists(path) else []


def fio_side(out, r):
    """the fio job's busiest side (read, write or trim) of a record, or None"""
    if not r.get("fio"):
        return None
    try:
        jobs = json.load(open(os.path.join(out, r["fio"])))["jobs"]
    except (OSError, ValueError, KeyError):
        return None
    if not jobs:
        return None
    j = jobs[0]
    sides = [j[k] for k in ("read", "write", "trim") if k in j]
    return max(sides, key=lambda s: s.get("io_bytes", 0)) if sides else None


def percentiles(side):
    """[(percent, latency µs)]: fio's total latency (submission to completion) when the job
    asked for its percentiles (--lat_percentiles=1), else its completion latency (clat)"""
    for key in ("lat_ns", "clat_ns"):
        p = side.get(key, {}).get("percentile")
        if p:
            return sorted((float(k), v / 1000.0) for k, v in p.items())
    return []


def last_stats(out, r):
    """the last `tap-ctl stats` sample that had the ring's polling counters, or None"""
    if not r.get("stats"):
        return None
    last = None
    try:
        for line in open(os.path.join(out, r["stats"])):
            try:
                s = json.loads(line)["stats"]
            except (ValueError, KeyError):
                continue
            if s.get("polling", {}).get("stats"):
                last = s
    except OSError:
        return None
    return last


def metrics(out, r):
    """{iops, mibps, p50, p99, cpu_us_per_io, polled} of one record (missing ones absent)"""
    side = fio_side(out, r)
    if not side:
        return None
    m = {"iops": side["iops"], "mibps": side["bw_bytes"] / 1048576.0}
    pct = dict(percentiles(side))
    m["p50"], m["p99"] = pct.get(50.0), pct.get(99.0)
    ios = side.get("total_ios") or 0
    if r.get("tapdisk_cpu_s") is not None and ios:
        m["cpu_us_per_io"] = 1e6 * r["tapdisk_cpu_s"] / ios
    s = last_stats(out, r)
    if s:
        p = s["polling"]["stats"]
        seen = p["hits"] + p["wakeups"]
        m["polled"] = 100.0 * p["hits"] / seen if seen else 0.0
    return m


def key_of(r):
    """(placement, job, policy); the job named with its driver and frontend mode, if any"""
    job = r.get("job", "?")
    if r.get("driver"):
        job += "/" + r["driver"]
    if r.get("frontend") and r["frontend"] != "event":
        job += "/fe-" + r["frontend"]
    return (r.get("placement") or "-", job, r.get("policy", "?"))


def medians(out, recs):
    """{(placement, job, policy): {metric: median}} and per-round values"""
    per = {}
    for r in recs:
        m = metrics(out, r)
        if m:
            per.setdefault(key_of(r), {})[r.get("round", 1)] = m
    med = {}
    for k, v in per.items():
        med[k] = {}
        for name in ("iops", "mibps", "p50", "p99", "cpu_us_per_io", "polled"):
            xs = [m[name] for m in v.values() if m.get(name) is not None]
            if xs:
                med[k][name] = statistics.median(xs)
    return med, per


def ratio(per, k, ref, name="iops"):
    a, b = per.get(k, {}), per.get(ref, {})
    q = [a[rd][name] / b[rd][name] for rd in a if rd in b and b[rd].get(name)]
    return statistics.median(q) if q else None


def load_range(recs):
    la = [x["loadavg"][0] for r in recs for x in (r.get("before"), r.get("after"))
          if x and "loadavg" in x]
    psi = [x["psi"]["cpu"]["some"]["avg10"] for r in recs for x in (r.get("before"), r.get("after"))
           if x and "cpu" in x.get("psi", {})]
    return la, psi


def table(out):
    recs = [r for r in rounds(out) if not r.get("sweep")]
    med, per = medians(out, recs)
    la, psi = load_range(recs)
    if la:
        print("load average (1 min) during the rounds: %.1f to %.1f; PSI cpu some avg10: %.0f%% to %.0f%%"
              % (min(la), max(la), min(psi or [0]), max(psi or [0])))
    print("\n| placement | job | policy | IOPS | MiB/s | p50 µs | p99 µs | tapdisk CPU µs/IO | polled | IOPS vs off | IOPS vs bare |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    order = {p: i for i, p in enumerate(("bare", "off", "fixed", "adaptive"))}
    for k in sorted(med, key=lambda k: (k[0], k[1], order.get(k[2], 9), k[2])):
        m = med[k]
        off, bare = ratio(per, k, (k[0], k[1], "off")), ratio(per, k, (k[0], k[1], "bare"))
        def f(x, fmt):
            return fmt % x if x is not None else "-"
        print("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            k[0], k[1], k[2], f(m.get("iops"), "%.0f"), f(m.get("mibps"), "%.1f"),
            f(m.get("p50"), "%.1f"), f(m.get("p99"), "%.1f"), f(m.get("cpu_us_per_io"), "%.1f"),
            f(m.get("polled"), "%.0f%%"), f(off, "%.2f×"),
            f(100 * bare if bare is not None else None, "%.0f%%")))
    print("\n(medians over the rounds; each ratio is the median of the rounds' ratios)")


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        return 0
    cmd = argv[1]
    if cmd == "snapshot":
        print(json.dumps(snapshot(), sort_keys=True))
    elif cmd == "run-json":
        run_json(argv[2], argv[3], argv[4:])
    elif cmd == "round":
        out, before, after = argv[2:5]
        opts, rest, i = {"set": []}, argv[5:], 0
        while i < len(rest):
            a = rest[i]
            if a in ("--fio", "--stats", "--extra"):
                opts[a[2:]] = rest[i + 1]
                i += 2
                continue
            if "=" not in a:
                print("results.py round: expected KEY=VALUE, got %r" % a, file=sys.stderr)
                return 22
            opts["set"].append(tuple(a.split("=", 1)))
            i += 1
        record(out, before, after, opts)
    elif cmd == "table":
        table(argv[2])
    else:
        print("results.py: unknown subcommand %r" % cmd, file=sys.stderr)
        return 22
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
