#!/usr/bin/env python3
"""perf/sched-gaps.py on a hand-made trace: who is charged for a wait,
a wakeup of a task still running, and a switch out that was never traced
(the run ends at the first event that shows someone else running)."""
import os
import subprocess
import sys
import tempfile

TRACE = """\
# tracer: nop
 rte-worker-1-20 [001] d..2. 100.000000: sched_switch: prev_comm=rte-worker-1 prev_pid=20 prev_prio=120 prev_state=R ==> next_comm=kdamond.0 next_pid=76 next_prio=120
 ringbench-30 [000] d.h2. 100.000100: sched_wakeup: comm=ringbench pid=30 prio=120 target_cpu=000
 kdamond.0-76 [001] d..2. 100.002000: sched_switch: prev_comm=kdamond.0 prev_pid=76 prev_prio=120 prev_state=I ==> next_comm=rte-worker-1 next_pid=20 next_prio=120
 <idle>-0 [000] d..2. 100.003000: sched_switch: prev_comm=swapper/0 prev_pid=0 prev_prio=120 prev_state=R ==> next_comm=tokio-rt-worker next_pid=68 next_prio=120
 tokio-rt-worker-68 [000] dNh3. 100.003100: sched_wakeup: comm=ringbench pid=30 prio=120 target_cpu=000
 ringbench-30 [000] d.h2. 100.004100: hrtimer_expire_entry: hrtimer=0 function=tick_sched_timer now=1
 rte-worker-1-20 [001] d..2. 100.005000: sched_switch: prev_comm=rte-worker-1 prev_pid=20 prev_prio=120 prev_state=R ==> next_comm=kworker/1:0 next_pid=99 next_prio=120
 kworker/1:0-99 [001] d..2. 100.005200: sched_switch: prev_comm=kworker/1:0 prev_pid=99 prev_prio=120 prev_state=I ==> next_comm=rte-worker-1 next_pid=20 next_prio=120
"""


def main():
    script = sys.argv[1]
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write(TRACE)
    try:
        out = subprocess.run([sys.executable, script, f.name], check=True,
                             capture_output=True, text=True).stdout
    finally:
        os.unlink(f.name)
    print(out)
    lines = out.splitlines()
    # The ringbench wakeup at 100.000100 came while it was running: no wait.
    # The worker waited 2 ms for kdamond; ringbench 1 ms for the agent,
    # whose switch out is missing; the 0.2 ms kworker wait is under the bar.
    assert "waits over 500 us by watched threads (ringbench, rte-worker): 2" in lines[0], lines[0]
    assert any(l.startswith("kdamond.0 ") and l.split()[1:] == ["1", "2.00"] for l in lines), out
    assert any(l.startswith("tokio-rt-worker ") and l.split()[1:] == ["1", "1.00"] for l in lines), out
    assert not any(l.startswith("kworker") for l in lines), out
    assert "2.000 ms  rte-worker-1" in out and "1.000 ms  ringbench" in out, out


if __name__ == "__main__":
    main()
