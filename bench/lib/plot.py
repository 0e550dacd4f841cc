#!/usr/bin/env python3
"""Writes the data files and gnuplot scripts of bench/plot's pictures for one results directory
(bench/lib/results.py's layout) into PLOTDIR, and prints the scripts' names, one a line:

  iops.png      IOPS (MiB/s for 1 MiB jobs) per policy, a panel per placement and job
  latency.png   p50 and p99 completion latency per policy, same panels
  cdf.png       completion-latency CDFs (fio's clat percentiles), a line per policy
  qd.png        IOPS against queue depth (the sweep's records), a line per policy
  window.png    the polling window over time (tap-ctl stats samples), a line per policy

A picture whose data the results do not hold (no sweep, no samples) is not written.
Usage: plot.py RESULTS PLOTDIR
"""
import json
import math
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import results as R  # noqa: E402

ORDER = ("bare", "off", "fixed", "adaptive")
COLOR = {"bare": "#777777", "off": "#1f77b4", "fixed": "#ff7f0e", "adaptive": "#2ca02c"}


def sort_policies(ps):
    return sorted(ps, key=lambda p: (ORDER.index(p) if p in ORDER else 9, p))


def safe(s):
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in s)


def header(png, title, panels, load):
    cols = min(3, panels)
    rows = (panels + cols - 1) // cols
    return [
        "set terminal pngcairo size %d,%d font 'sans,10'" % (max(760, 500 * cols), 360 * rows + 50),
        "set output '%s'" % png,
        "set multiplot layout %d,%d title \"%s\\n{/:Normal=8 %s}\" enhanced" % (rows, cols, title, load),
        "set grid ytics",
        "set key top left",
    ]


def load_note(out, recs):
    la, psi = R.load_range(recs)
    try:
        run = json.load(open(os.path.join(out, "run.json")))
        c = (run.get("describe") or run.get("commit") or "?")[:20]
        h = run.get("host", {})
        host = "%s CPUs, Linux %s" % (h.get("nproc"), h.get("kernel"))
    except (OSError, ValueError):
        c, host = "?", "?"
    note = "commit %s, %s" % (c, host)
    if la:
        note += "; load average %.1f-%.1f, PSI cpu some %.0f-%.0f%%" % (
            min(la), max(la), min(psi or [0]), max(psi or [0]))
    return note


def representative(out, recs):
    """among the rounds of one (placement, job, policy), the record whose IOPS is the median"""
    ms = [(R.metrics(out, r), r) for r in recs]
    ms = [(m["iops"], r) for m, r in ms if m]
    if not ms:
        return None
    med = statistics.median(x for x, _ in ms)
    return min(ms, key=lambda x: abs(x[0] - med))[1]


def main(out, pd):
    os.makedirs(pd, exist_ok=True)
    allrecs = [r for r in R.rounds(out) if r.get("exit", 0) == 0]
    main_recs = [r for r in allrecs if not r.get("sweep")]
    sweep_recs = [r for r in allrecs if r.get("sweep")]
    scripts = []
    med, _ = R.medians(out, main_recs)
    panels = sorted({(k[0], k[1]) for k in med})
    note = load_note(out, allrecs)

    def panel_title(place, job):
        return "%s%s" % (job, "" if place == "-" else " (%s)" % place)

    if panels:
        # IOPS (or MiB/s) and latency bars
        gi = header(os.path.join(pd, "iops.png"), "IOPS per policy (median of the rounds)",
                    len(panels), note)
        gl = header(os.path.join(pd, "latency.png"),
                    "completion latency p50 / p99 per policy (median of the rounds)",
                    len(panels), note)
        gl += ["set logscale y", "set style data histograms",
               "set style histogram clustered gap 1", "set style fill solid 0.8 border -1"]
        gi += ["set style fill solid 0.8 border -1", "set boxwidth 0.6", "set yrange [0:*]",
               "set offsets 0, 0, graph 0.1, 0"]
        for place, job in panels:
            pols = sort_policies(p for (pl, j, p) in med if (pl, j) == (place, job))
            dat = os.path.join(pd, "bars-%s-%s.dat" % (safe(place), safe(job)))
            seq = job.startswith("seq")
            with open(dat, "w") as f:
                f.write("# policy iops_or_mibps p50_us p99_us color\n")
                for i, p in enumerate(pols):
                    m = med[(place, job, p)]
                    f.write("%s %.3f %.3f %.3f %s\n" % (
                        p, m["mibps"] if seq else m["iops"], m.get("p50") or 0,
                        m.get("p99") or 0, int(COLOR.get(p, "#9467bd")[1:], 16)))
            gi += ["set title '%s'" % panel_title(place, job),
                   "set ylabel '%s'" % ("MiB/s" if seq else "IOPS"),
                   "plot '%s' using 0:2:5:xtic(1) with boxes lc rgb variable notitle, "
                   "'' using 0:2:(sprintf('%%.0f', $2)) with labels offset 0,0.7 notitle" % dat]
            gl += ["set title '%s'" % panel_title(place, job), "set ylabel 'µs'",
                   "plot '%s' using 3:xtic(1) title 'p50' lc rgb '#4c72b0', "
                   "'' using 4 title 'p99' lc rgb '#dd8452'" % dat]
        for g, name in ((gi, "iops"), (gl, "latency")):
            g.append("unset multiplot")
            path = os.path.join(pd, name + ".gp")
            open(path, "w").write("\n".join(g) + "\n")
            scripts.append(path)

        # CDFs from the representative round of each policy
        gc = header(os.path.join(pd, "cdf.png"),
                    "completion latency CDF (fio's percentiles, the median round)",
                    len(panels), note)
        gc += ["set logscale x", "set xlabel 'latency µs'", "set ylabel 'percentile'",
               "set yrange [0:100]", "set key bottom right"]
        for place, job in panels:
            lines = []
            for p in sort_policies({r.get("policy") for r in main_recs}):
                recs = [r for r in main_recs if R.key_of(r) == (place, job, p)]
                r = representative(out, recs)
                side = R.fio_side(out, r) if r else None
                pts = R.percentiles(side) if side else []
                if not pts:
                    continue
                dat = os.path.join(pd, "cdf-%s-%s-%s.dat" % (safe(place), safe(job), safe(p)))
                with open(dat, "w") as f:
                    f.write("# latency_us percentile\n")
                    for pc, us in pts:
                        f.write("%.3f %.3f\n" % (max(us, 0.001), pc))
                lines.append("'%s' using 1:2 with linespoints lw 2 lc rgb '%s' title '%s'"
                             % (dat, COLOR.get(p, "#9467bd"), p))
            gc += ["set title '%s'" % panel_title(place, job),
                   "plot " + ", ".join(lines) if lines else "plot NaN notitle"]
        gc.append("unset multiplot")
        path = os.path.join(pd, "cdf.gp")
        open(path, "w").write("\n".join(gc) + "\n")
        scripts.append(path)

    # IOPS against queue depth
    smed, _ = R.medians(out, sweep_recs)
    if smed:
        byp = {}
        for (place, job, p), m in smed.items():
            r = next(r for r in sweep_recs if R.key_of(r) == (place, job, p))
            byp.setdefault((place, p), []).append((int(r.get("qd", 0)), m["iops"]))
        g = header(os.path.join(pd, "qd.png"), "4 KiB random read: IOPS against queue depth "
                   "(median of the rounds)", 1, note)
        g += ["set logscale x 2", "set xlabel 'queue depth'", "set ylabel 'IOPS'",
              "set yrange [0:*]", "set title ''"]
        lines = []
        for (place, p) in sorted(byp, key=lambda k: (k[0], sort_policies([k[1]]))):
            dat = os.path.join(pd, "qd-%s-%s.dat" % (safe(place), safe(p)))
            with open(dat, "w") as f:
                f.write("# qd iops\n")
                for qd, iops in sorted(byp[(place, p)]):
                    f.write("%d %.1f\n" % (qd, iops))
            lines.append("'%s' using 1:2 with linespoints lw 2 pt 7 lc rgb '%s' title '%s%s'" % (
                dat, COLOR.get(p, "#9467bd"), p, "" if place == "-" else " (%s)" % place))
        g += ["plot " + ", ".join(lines), "unset multiplot"]
        path = os.path.join(pd, "qd.gp")
        open(path, "w").write("\n".join(g) + "\n")
        scripts.append(path)

    # the polling window over time, from the median round's stats samples
    wpanels = []
    for place, job in panels:
        lines = []
        for p in sort_policies({r.get("policy") for r in main_recs}):
            recs = [r for r in main_recs if R.key_of(r) == (place, job, p) and r.get("stats")]
            r = representative(out, recs)
            if not r:
                continue
            pts, t0 = [], None
            try:
                for line in open(os.path.join(out, r["stats"])):
                    try:
                        s = json.loads(line)
                    except ValueError:
                        continue
                    st = s.get("stats", {}).get("polling", {}).get("stats")
                    if not st:
                        continue
                    t0 = s["t"] if t0 is None else t0
                    pts.append((s["t"] - t0, st["window_ns"] / 1000.0, 1 if st["polling"] else 0))
            except OSError:
                continue
            if not pts:
                continue
            dat = os.path.join(pd, "window-%s-%s-%s.dat" % (safe(place), safe(job), safe(p)))
            with open(dat, "w") as f:
                f.write("# seconds window_us polling\n")
                for t, w, on in pts:
                    f.write("%.3f %.3f %d\n" % (t, w, on))
            lines.append("'%s' using 1:($2 > 0 ? $2 : 0.5) with steps lw 2 lc rgb '%s' title '%s'"
                         % (dat, COLOR.get(p, "#9467bd"), p))
        if lines:
            wpanels.append((place, job, lines))
    if wpanels:
        g = header(os.path.join(pd, "window.png"),
                   "polling window over time (tap-ctl stats samples, the median round)",
                   len(wpanels), note)
        g += ["set xlabel 'seconds since the guest connected'",
              "set ylabel 'window µs (log; 0.5: no window)'", "set logscale y",
              "set yrange [0.4:*]", "set key top right"]
        for place, job, lines in wpanels:
            g += ["set title '%s'" % panel_title(place, job), "plot " + ", ".join(lines)]
        g.append("unset multiplot")
        path = os.path.join(pd, "window.gp")
        open(path, "w").write("\n".join(g) + "\n")
        scripts.append(path)
    for s in scripts:
        print(s)
    return 0 if scripts else 1


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        sys.exit(0 if len(sys.argv) == 2 else 22)
    sys.exit(main(sys.argv[1], sys.argv[2]))
