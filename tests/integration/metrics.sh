#!/usr/bin/env bash
# The metrics endpoint as an SRE uses it, on a real ringcached (net_tap,
# two workers) in a namespace made here: `promtool check metrics` is clean
# on a live scrape; build_info and the process metrics are this process's;
# the per-worker series add up to the node's totals and the busy polls
# follow the requests; the state sets agree with the numeric role, phase
# and alert levels, also after an alert is raised; and every metric that
# the Grafana dashboard or an alert rule in config/monitoring/ uses is in
# the scrape.
#
#   metrics.sh BUILD_DIR
set -euo pipefail
BUILD=$(cd "$1" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
RC_BIN=$BUILD
# shellcheck source=../../scripts/lib/netns.sh
. "$SRC/scripts/lib/netns.sh"
# shellcheck source=../lib/check.sh
. "$HERE/../lib/check.sh"

command -v promtool >/dev/null || {
	echo "FAIL: promtool missing (Debian package prometheus; scripts/deps installs it)"
	exit 1
}


rc_tap_test metrics
NET=198.18.0

{ rc_node_conf 2; printf '[alerts]\nwindow_s = 2\nmin_gets = 20\n'; } >"$WORK/m.conf"

T0=$(date +%s)
rc_tap_node_up "$WORK/m.conf" "$WORK/daemon.log" 2

# One namespace (tap): the client and the scraper run side by side.
ip netns exec "$RC_NS_SRV" python3 - "$BUILD" "$NET.2:7711" "$T0" \
	"$WORK" <<'PY' || fails=$((fails + 1))
import re, subprocess, sys, time, urllib.request
build, server, t0, work = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
bad = 0
def check(what, ok, detail=""):
    global bad
    print(("ok: " if ok else "FAIL: ") + what + ("" if ok else " " + str(detail)))
    bad += not ok

line_re = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})? (\S+)$')
def scrape():
    body = urllib.request.urlopen("http://127.0.0.1:9711/metrics", timeout=5).read().decode()
    out = {}
    for line in body.splitlines():
        if line.startswith("#"):
            continue
        m = line_re.match(line)
        labels = tuple(sorted(re.findall(r'(\w+)="([^"]*)"', m.group(2) or "")))
        out[(m.group(1), labels)] = float(m.group(3))
    return body, out
def series(s, name, **want):
    return {l: v for (n, l), v in s.items() if n == name and
            all(dict(l).get(k) == x for k, x in want.items())}
def total(s, name, **want):
    return sum(series(s, name, **want).values())
def one(s, name, **want):
    v = series(s, name, **want)
    assert len(v) == 1, (name, want, v)
    return next(iter(v.values()))
def wait(what, cond, timeout=30):
    """Scrape until cond(scrape) holds (the control core gathers once a
    second); the deadline only bounds a failure."""
    end = time.monotonic() + timeout
    while True:
        body, s = scrape()
        if cond(s):
            return body, s
        if time.monotonic() > end:
            check(what, False, "(not within %d s)" % timeout)
            return body, s
        time.sleep(0.2)
def cli(*args):
    return subprocess.run([build + "/tests/integration/rc_cli", server] + list(args),
                          check=False, capture_output=True, text=True).stdout.strip()

_, s0 = scrape()

# --- build and process ------------------------------------------------------
ver = subprocess.run([build + "/app/ringcached/ringcached", "--version"],
                     capture_output=True, text=True).stdout
m = re.match(r'ringcached (\S+) \(DPDK (\S+)\)', ver)
bi = series(s0, "ringcache_build_info")
check("build_info is the binary's --version", list(bi.keys()) ==
      [(("dpdk", m.group(2)), ("version", m.group(1)))] and list(bi.values()) == [1.0], (bi, ver))
st = one(s0, "process_start_time_seconds")
check("process_start_time_seconds is when this node started",
      t0 - 2 <= st <= time.time(), (t0, st))
pid = int(subprocess.run(["pgrep", "-f", "-o", "ringcached -c " + work],
                         capture_output=True, text=True).stdout.split()[0])
rss = int(open("/proc/%d/statm" % pid).read().split()[1]) * 4096
check("process_resident_memory_bytes near the node's RSS",
      0.5 * rss < one(s0, "process_resident_memory_bytes") < 2 * rss,
      (rss, one(s0, "process_resident_memory_bytes")))
import os
fds = len(os.listdir("/proc/%d/fd" % pid))
check("process_open_fds near the node's open fds",
      abs(one(s0, "process_open_fds") - fds) <= 4 and
      one(s0, "process_open_fds") <= one(s0, "process_max_fds"),
      (fds, one(s0, "process_open_fds")))
check("process_cpu_seconds_total counts", one(s0, "process_cpu_seconds_total") > 0)

# --- an alert raised: the state set follows the numeric level ---------------
cli("gets", "no-such-key", "300", "1000")   # 0% hits over the window
_, s = wait("hit-rate alert raised",
            lambda s: one(s, "ringcache_alert_level", alert="hit_rate") > 0)
names = ["ok", "warning", "critical", "emergency"]
for a in ("latency", "hit_rate", "memory"):
    lvl = int(one(s, "ringcache_alert_level", alert=a))
    ss = {dict(l)["level"]: v for l, v in series(s, "ringcache_alert_state", alert=a).items()}
    check("alert_state of %s: 1 at %s only" % (a, names[lvl]),
          ss == {n: float(n == names[lvl]) for n in names}, ss)
check("the raised alert shows in alert_state",
      one(s, "ringcache_alert_state", alert="hit_rate", level="ok") == 0)
roles = ["standalone", "joining", "standby", "primary"]
role = int(one(s, "ringcache_repl_role"))
rs = {dict(l)["role"]: v for l, v in series(s, "ringcache_repl_role_state").items()}
check("repl_role_state: 1 at standalone only", role == 0 and
      rs == {r: float(r == "standalone") for r in roles}, rs)
ps = {dict(l)["phase"]: v for l, v in series(s, "ringcache_repl_phase_state").items()}
check("repl_phase_state: 1 at none only",
      ps == {"none": 1.0, "snapshot": 0.0, "streaming": 0.0}, ps)

# --- per-worker series ------------------------------------------------------
_, s1 = scrape()
cli("set", "k1", "v1")
n = 400
out = cli("gets", "k1", str(n), "0")
check("%d sequential GETs hit" % n, out == "hits %d misses 0" % n, out)
body, s2 = wait("per-worker requests counted",
                lambda s: total(s, "ringcache_worker_requests_total") >=
                          total(s1, "ringcache_worker_requests_total") + n + 1)
workers = sorted(dict(l)["worker"] for l in series(s2, "ringcache_worker_requests_total"))
check("one series per worker", workers == ["0", "1"], workers)
# One snapshot: the workers' own series add up to the node's exactly.
for w, node, lab in (("ringcache_worker_requests_total", "ringcache_requests_total", {}),
                     ("ringcache_worker_rx_packets_total", "ringcache_rx_packets_total", {})):
    check("%s sums to %s" % (w, node), total(s2, w) == total(s2, node),
          (total(s2, w), total(s2, node)))
for op in ("get", "set", "delete", "touch", "noop"):
    check("worker_ops_total{op=%s} sums to ops_total" % op,
          total(s2, "ringcache_worker_ops_total", op=op) ==
          one(s2, "ringcache_ops_total", op=op))
d = lambda name, s, t, **k: total(t, name, **k) - total(s, name, **k)
dreq = d("ringcache_worker_requests_total", s1, s2)
dbusy = d("ringcache_worker_polls_total", s1, s2, busy="true")
# Each request of a one-at-a-time client arrives in a turn of its own.
check("busy polls follow the requests", dbusy >= dreq / 2, (dbusy, dreq))
check("busy cycles grow with the requests",
      d("ringcache_worker_busy_cycles_total", s1, s2) > 0)
up = time.time() - st
for w in workers:
    check("worker %s polls while idle" % w,
          d("ringcache_worker_polls_total", s1, s2, worker=w, busy="false") > 0)
    bs = one(s2, "ringcache_worker_busy_seconds_total", worker=w)
    check("worker %s busy time within its life" % w, 0 <= bs <= up, (bs, up))
open(work + "/scrape.txt", "w").write(body)
sys.exit(1 if bad else 0)
PY

# --- the scrape against promtool and the monitoring files --------------------
if promtool check metrics <"$WORK/scrape.txt" >"$WORK/lint" 2>&1 && [ ! -s "$WORK/lint" ]; then
	pass "promtool check metrics: clean"
else
	fail "promtool check metrics:"; cat "$WORK/lint"
fi
if python3 "$SRC/tests/monitoring/promql_names.py" check "$WORK/scrape.txt" \
	"$SRC/config/monitoring/ringcache-dashboard.json" \
	"$SRC/config/monitoring/ringcache-alerts.yml"; then
	pass "every metric of the dashboard and the rules is in the scrape"
else
	fail "the dashboard or the rules use metrics the node does not export"
fi

if ! rc_daemon_stop; then
	fail "ringcached did not stop cleanly (status ${RC_DAEMON_STATUS:-killed})"
fi
if grep -qE "runtime error|AddressSanitizer|LeakSanitizer" "$WORK/daemon.log"; then
	fail "sanitizer report from ringcached:"
	grep -A20 -E "runtime error|AddressSanitizer|LeakSanitizer" "$WORK/daemon.log"
fi
[ "$fails" -eq 0 ] || { echo "$fails check(s) failed"; exit 1; }
