#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Summarise perf/memif-io-ratio's TSV: medians (and ranges) over rounds
per mode and offered rate, and the store/I-O ratio of the highest
achieved rate. Markdown on stdout."""
import collections
import platform
import statistics
import subprocess
import sys
import time


def med(xs):
    return statistics.median(xs)


def main(path):
    rows = collections.defaultdict(list)
    with open(path) as f:
        next(f)
        for line in f:
            rnd, mode, off, ach, p50, p99, to = line.split("\t")
            rows[(mode, int(off))].append((float(ach), float(p50), float(p99),
                                           int(to)))
    rates = sorted({k[1] for k in rows})
    n = max(len(v) for v in rows.values())
    cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | "
                          "cut -d: -f2"], capture_output=True,
                         text=True).stdout.strip()
    print("# ringcache vs its packet-I/O limit over memif\n")
    print("`perf/memif-io-ratio`, %s, %s, %d vCPU (%s), %d rounds, medians "
          "[min–max]. One worker; I/O-only = `dpdk.io_only` (requests "
          "reflected, store untouched). 95:5 get:set, 16 B keys, 64 B "
          "values, Zipf 0.99, 100K keys.\n" %
          (time.strftime("%Y-%m-%d"), platform.node(),
           int(subprocess.run(["nproc"], capture_output=True,
                              text=True).stdout), cpu, n))
    print("| offered | I/O-only achieved | p50 µs | p99 µs | store achieved "
          "| p50 µs | p99 µs | throughput ratio |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    best = {}
    sustained = {}
    for r in rates:
        cells = [f"{r:,}"]
        ach = {}
        for mode in ("io", "store"):
            v = rows.get((mode, r), [])
            if not v:
                cells += ["–"] * 3
                continue
            a = [x[0] for x in v]
            ach[mode] = med(a)
            best[mode] = max(best.get(mode, 0), med(a))
            # Sustained: answered at the offered rate with no queue
            # building up (median p50 under 20 us).
            if med(a) >= 0.99 * r and med([x[1] for x in v]) <= 20:
                sustained[mode] = max(sustained.get(mode, 0), r)
            cells.append(f"{med(a):,.0f} [{min(a):,.0f}–{max(a):,.0f}]")
            cells.append(f"{med([x[1] for x in v]):.1f}")
            cells.append(f"{med([x[2] for x in v]):.1f}")
        cells.append(f"{ach['store'] / ach['io']:.2f}" if len(ach) == 2
                     else "–")
        print("| " + " | ".join(cells) + " |")
    if len(sustained) == 2:
        top = max(rates)
        io_note = (" (the highest offered: the I/O limit is at least this)"
                   if sustained["io"] == top else "")
        print(f"\nHighest rate sustained (answered in full, median p50 "
              f"≤ 20 µs): I/O-only {sustained['io']:,}/s{io_note}, store "
              f"{sustained['store']:,}/s: **ratio "
              f"{sustained['store'] / sustained['io']:.2f}**"
              f"{' or more' if io_note else ''}.")


if __name__ == "__main__":
    main(sys.argv[1])
