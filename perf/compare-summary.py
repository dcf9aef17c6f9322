#!/usr/bin/env python3
"""Summarise perf/compare-memcached's points: medians over rounds per
(server, offered rate), the highest rate each server sustains with
p99 <= 0.5 ms, the ratios, and a gnuplot script for the plot.

usage: compare-summary.py POINTS.jsonl OUT_PREFIX "machine description"
"""
import json
import os
import statistics
import sys
from collections import defaultdict

P99_BAR_US = 500.0
ANSWERED_MIN = 0.99   # of the offered rate, for the latency bar
CAPACITY_MIN = 0.999  # answered share that counts as "sustained"

def main():
    src, prefix, machine = sys.argv[1], sys.argv[2], sys.argv[3]
    pts = defaultdict(list)
    for line in open(src):
        p = json.loads(line)
        pts[(p["server"], p["rate"])].append(p["result"])
    servers = []
    for s, _ in pts:
        if s not in servers:
            servers.append(s)

    rows = {}
    for (s, rate), rs in sorted(pts.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        p99 = [r["latency_us"]["p99"] for r in rs]
        rows[(s, rate)] = {
            "n": len(rs),
            "answered": statistics.median(r["achieved_rate"] for r in rs),
            "p50": statistics.median(r["latency_us"]["p50"] for r in rs),
            "p90": statistics.median(r["latency_us"]["p90"] for r in rs),
            "late": statistics.median(r["late_sends"] / max(r["sent"], 1) for r in rs),
            "p99": statistics.median(p99),
            "p99_lo": min(p99), "p99_hi": max(p99),
            "p999": statistics.median(r["latency_us"]["p999"] for r in rs),
            "timeouts": statistics.median(r["timeouts"] for r in rs),
        }

    def highest(s, pred):
        """Highest rate meeting pred, and whether it is the top rate tried."""
        ok = [rate for (sv, rate), v in rows.items() if sv == s and pred(rate, v)]
        rates = sorted(rate for (sv, rate) in rows if sv == s)
        top = max(ok) if ok else 0
        return top, bool(rates) and top == rates[-1]

    criteria = [
        ("median p99 ≤ 0.5 ms and ≥ 99% answered",
         lambda rate, v: v["p99"] <= P99_BAR_US and v["answered"] >= ANSWERED_MIN * rate),
        ("median p90 ≤ 0.5 ms and ≥ 99% answered",
         lambda rate, v: v["p90"] <= P99_BAR_US and v["answered"] >= ANSWERED_MIN * rate),
        ("sustained: ≥ 99.9% answered and median p50 ≤ 0.5 ms",
         lambda rate, v: v["p50"] <= P99_BAR_US and v["answered"] >= CAPACITY_MIN * rate),
    ]

    with open(prefix + ".md", "w") as f:
        f.write("# ringcache vs memcached: latency against offered rate\n\n")
        f.write("Machine: %s. Command: `perf/compare-memcached`. Medians over "
                "rounds; p99 range in brackets.\n\n" % machine)
        f.write("| server | offered/s | answered/s | p50 µs | p90 µs | p99 µs [range] "
                "| p99.9 µs | timeouts | sends >1 ms late | rounds |\n"
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
        for s in servers:
            for (sv, rate), v in sorted(rows.items(), key=lambda kv: kv[0][1]):
                if sv != s:
                    continue
                f.write("| %s | %d | %.0f | %.1f | %.1f | %.1f [%.1f–%.1f] | %.1f | %d | %.2f%% | %d |\n"
                        % (s, rate, v["answered"], v["p50"], v["p90"], v["p99"], v["p99_lo"],
                           v["p99_hi"], v["p999"], v["timeouts"], 100 * v["late"], v["n"]))
        for title, pred in criteria:
            f.write("\nHighest offered rate with %s:\n\n" % title)
            best = {sv: highest(sv, pred) for sv in servers}
            for sv in servers:
                rate, top = best[sv]
                f.write("- %s: %s%d/s%s\n" % (sv, "≥ " if top else "", rate,
                        " (the highest rate tried)" if top else ""))
            mc = best.get("memcached-udp", (0, False))[0]
            for sv in servers:
                if sv == "memcached-udp" or not mc:
                    continue
                rate, top = best[sv]
                f.write("- %s / memcached-udp: %s%.1f×\n" % (sv, "≥ " if top else "", rate / mc))
            if "memcached-udp" in best and not mc:
                f.write("- memcached-udp met this at no rate tried\n")

    with open(prefix + ".dat", "w") as f:
        for i, s in enumerate(servers):
            f.write("# %s\n# offered answered p50 p99 p99_lo p99_hi\n" % s)
            for (sv, rate), v in sorted(rows.items(), key=lambda kv: kv[0][1]):
                if sv == s:
                    f.write("%d %.0f %.2f %.2f %.2f %.2f\n" % (
                        rate, v["answered"], v["p50"], v["p99"], v["p99_lo"], v["p99_hi"]))
            f.write("\n\n")

    with open(prefix + ".gp", "w") as f:
        f.write('set terminal pngcairo size 1000,600 font "sans,10"\n')
        f.write('set output "%s.png"\n' % os.path.basename(prefix))
        f.write('set title "ringcache vs memcached (%s; medians of rounds, bars = p99 range)"\n'
                % machine)
        f.write('set xlabel "offered rate (requests/s)"\nset ylabel "latency (µs)"\n')
        f.write('set logscale xy\nset grid\nset key top left\nset format x "%.0s%c"\n')
        f.write('set arrow from graph 0, first %g to graph 1, first %g nohead dt 2 lc rgb "red"\n'
                % (P99_BAR_US, P99_BAR_US))
        f.write('set label "0.5 ms" at graph 0.01, first %g offset 0,0.7 tc rgb "red"\n'
                % P99_BAR_US)
        plots = []
        for i, s in enumerate(servers):
            base = os.path.basename(prefix)
            plots.append('"%s.dat" index %d using 1:4:5:6 with yerrorlines lw 2 title "%s p99"'
                         % (base, i, s))
            plots.append('"%s.dat" index %d using 1:3 with linespoints dt 3 title "%s p50"'
                         % (base, i, s))
        f.write("plot " + ", \\\n     ".join(plots) + "\n")

if __name__ == "__main__":
    main()
