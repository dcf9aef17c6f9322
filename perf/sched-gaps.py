#!/usr/bin/env python3
"""Who held the CPU while our threads waited: reads an ftrace text dump
of sched:sched_switch and sched:sched_wakeup events (plus any others,
such as timer:hrtimer_expire_entry, that say who was running at a tick)
and reports every interval longer than a threshold in which one of the
watched threads was runnable (woken, or preempted) but another task had
its CPU, with the task(s) that ran instead, and the totals per culprit.

usage: sched-gaps.py TRACE.txt [--watch COMM_PREFIX ...] [--min-us N]
"""
import argparse
import re
from collections import defaultdict

EVENT = re.compile(r"^\s*(?P<task>.+?)-(?P<pid>\d+)\s+\[(?P<cpu>\d+)\]\s+\S+\s+"
                   r"(?P<ts>\d+\.\d+):\s+(?P<ev>\w+):\s+(?P<rest>.*)$")
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
    took = defaultdict(lambda: defaultdict(float))  # pid -> comm -> s
    current = {}            # cpu -> (comm, pid, since)
    waits = []              # (length, comm, since, {culprit: s})
    first = last = None

    def switch(cpu, ts, nxt, npid):
        """nxt takes cpu at ts: charge the task leaving with the part of
        its run that overlapped each wait on this CPU; end nxt's wait."""
        if cpu in current:
            comm, _, began = current[cpu]
            for pid, (since, _, wcpu) in waiting.items():
                if wcpu == cpu and ts > max(began, since):
                    took[pid][comm] += ts - max(began, since)
        current[cpu] = (nxt, npid, ts)
        if npid in waiting:
            since, comm, _ = waiting.pop(npid)
            charged = took.pop(npid, {})
            if ts - since > thr:
                waits.append((ts - since, comm, since, charged))

    for line in open(a.trace, errors="replace"):
        m = EVENT.match(line)
        if not m:
            continue
        ts, cpu, ev = float(m["ts"]), int(m["cpu"]), m["ev"]
        first = ts if first is None else first
        last = ts
        f = fields(m["rest"])
        # Every event names the task on the CPU. Some switches are never
        # traced (the VM agent's switches out, on these VMs): a task seen
        # running that we did not see switched in ends the run we believed
        # in here, so such a wait is an upper bound.
        tpid = int(m["pid"])
        if current.get(cpu, (0, -1))[1] != tpid:
            switch(cpu, ts, m["task"].strip(), tpid)
        if ev != "sched_switch" and ev != "sched_wakeup":
            continue  # timer ticks etc.: only who is running
        if ev == "sched_wakeup":
            pid = int(f.get("pid", -1))
            # A wakeup of a task still on its CPU (it had not yet slept)
            # is traced too; it waited for nothing.
            on_cpu = any(c[1] == pid for c in current.values())
            if watched(f.get("comm", "")) and not on_cpu:
                waiting.setdefault(pid, (ts, f["comm"], int(f.get("target_cpu", cpu))))
            continue
        prev, nxt = f.get("prev_comm", ""), f.get("next_comm", "")
        ppid, npid = int(f.get("prev_pid", -1)), int(f.get("next_pid", -1))
        # A watched thread switched out while still runnable was preempted.
        if watched(prev) and f.get("prev_state", "").startswith("R"):
            waiting.setdefault(ppid, (ts, prev, cpu))
        switch(cpu, ts, nxt, npid)

    span = (last - first) if first is not None else 0.0
    print("traced %.2f s; waits over %.0f us by watched threads (%s): %d"
          % (span, a.min_us, ", ".join(a.watch), len(waits)))
    by = defaultdict(lambda: [0, 0.0])
    for length, comm, since, charged in waits:
        for n, t in charged.items():
            by[n][0] += 1
            by[n][1] += t
    if by:
        print("%-28s %6s %10s" % ("ran instead", "waits", "ms of them"))
        for n, (cnt, tot) in sorted(by.items(), key=lambda kv: -kv[1][1]):
            print("%-28s %6d %10.2f" % (n, cnt, tot * 1e3))
    for length, comm, since, charged in sorted(waits, key=lambda w: -w[0])[:a.list]:
        names = ", ".join("%s %.2f ms" % (n, t * 1e3)
                          for n, t in sorted(charged.items(), key=lambda kv: -kv[1]))
        print("  %.3f ms  %-14s at %.6f  ran instead: %s" % (length * 1e3, comm, since,
                                                           names or "(nothing traced)"))

if __name__ == "__main__":
    main()
