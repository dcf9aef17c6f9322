#!/usr/bin/env python3
"""Who held the CPU while our threads waited: reads an ftrace text dump
of sched:sched_switch and sched:sched_wakeup events and reports every
interval longer than a threshold in which one of the watched threads was
runnable (woken, or preempted) but another task had its CPU, with the
task(s) that ran instead, and the totals per culprit.

usage: sched-gaps.py TRACE.txt [--watch COMM_PREFIX ...] [--min-us N]
"""
import argparse
import re
from collections import defaultdict

EVENT = re.compile(r"^\s*(?P<task>.+?)-(?P<pid>\d+)\s+\[(?P<cpu>\d+)\]\s+\S+\s+"
                   r"(?P<ts>\d+\.\d+):\s+(?P<ev>sched_switch|sched_wakeup):\s+(?P<rest>.*)$")
FIELD = re.compile(r"(\w+)=(\S+)")


def fields(rest):
    # comm may hold spaces in theory; ours and the kernel's do not.
    return dict(FIELD.findall(rest))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("trace")
    ap.add_argument("--watch", nargs="+", default=["ringbench", "rte-worker"])
    ap.add_argument("--min-us", type=float, default=500.0)
    ap.add_argument("--list", type=int, default=10, help="longest waits to print")
    a = ap.parse_args()
    thr = a.min_us / 1e6

    watched = lambda comm: any(comm.startswith(w) for w in a.watch)
    waiting = {}            # pid -> (since, comm, cpu)
    ran = defaultdict(list)  # pid -> tasks that ran on its cpu while it waited
    current = {}            # cpu -> comm
    waits = []              # (length, comm, since, culprits)
    first = last = None
    for line in open(a.trace, errors="replace"):
        m = EVENT.match(line)
        if not m:
            continue
        ts, cpu, ev = float(m["ts"]), int(m["cpu"]), m["ev"]
        first = ts if first is None else first
        last = ts
        f = fields(m["rest"])
        if ev == "sched_wakeup":
            if watched(f.get("comm", "")):
                pid = int(f["pid"])
                tcpu = int(f.get("target_cpu", cpu))
                waiting.setdefault(pid, (ts, f["comm"], tcpu))
                if current.get(tcpu):
                    ran[pid].append(current[tcpu])
            continue
        prev, nxt = f.get("prev_comm", ""), f.get("next_comm", "")
        ppid, npid = int(f.get("prev_pid", -1)), int(f.get("next_pid", -1))
        current[cpu] = nxt
        # A watched thread switched out while still runnable was preempted.
        if watched(prev) and f.get("prev_state", "").startswith("R"):
            waiting.setdefault(ppid, (ts, prev, cpu))
        for pid, (since, comm, wcpu) in waiting.items():
            if wcpu == cpu and pid != npid and not nxt.startswith("swapper"):
                ran[pid].append(nxt)
        if npid in waiting:
            since, comm, _ = waiting.pop(npid)
            culprits = ran.pop(npid, [])
            if ts - since > thr:
                waits.append((ts - since, comm, since, culprits))
        else:
            ran.pop(npid, None)

    span = (last - first) if first is not None else 0.0
    print("traced %.2f s; waits over %.0f us by watched threads (%s): %d"
          % (span, a.min_us, ", ".join(a.watch), len(waits)))
    by = defaultdict(lambda: [0, 0.0])
    for length, comm, since, culprits in waits:
        names = sorted(set(c for c in culprits if not watched(c))) or ["(none seen)"]
        for n in names:
            by[n][0] += 1
            by[n][1] += length / len(names)
    if by:
        print("%-28s %6s %10s" % ("ran instead", "waits", "total ms"))
        for n, (cnt, tot) in sorted(by.items(), key=lambda kv: -kv[1][1]):
            print("%-28s %6d %10.2f" % (n, cnt, tot * 1e3))
    for length, comm, since, culprits in sorted(waits, reverse=True)[:a.list]:
        names = ", ".join(sorted(set(culprits))) or "(none seen)"
        print("  %.3f ms  %-14s at %.6f  ran instead: %s" % (length * 1e3, comm, since, names))


if __name__ == "__main__":
    main()
