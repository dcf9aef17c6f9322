#!/usr/bin/env bash
# The control loop under abuse (issue 21): a real ringcached (net_tap, two
# workers) in a namespace made here. Each abuse runs while a prober asks
# `status` every 20 ms on its own connection (its own process). For each:
# - no control-loop turn slept (ringcache_control_turns_blocked_total):
#   nothing waits on a client, a worker or a lock inside a turn (printed
#   only under ASan, whose allocator locks are shared between threads);
# - the most CPU one turn used (ringcache_control_turn_cpu_seconds) is
#   under TURN_MAX_S (generous, 50 ms, for a loaded 2-CPU VM; the target
#   is ~1 ms). CPU time, not wall clock: on a shared VM the host takes
#   the CPU away for longer than that (the wall-clock histogram,
#   ringcache_control_turn_seconds, is printed beside it);
# - every status probe is answered, none waits over PROBE_MAX_MS.
#
#   ctl-abuse.sh BUILD_DIR [N_FLUSH_KEYS]
#
# Abuses: a reader that never reads (large get, stats); request lines of
# 8, 32 and 70 MiB; a line at control.max_line and one byte over; one
# 100k-record warm request line; `ringctl warm` of 100k records (exact
# count); a flush of N_FLUSH_KEYS (default 1,000,000) keys; 10 idle
# connections then `ringctl status`; ringctl against a node that closes
# the connection (no SIGPIPE); warm under a slow worker (exact count).
set -euo pipefail
BUILD=$(cd "$1" && pwd)
N_FLUSH=${2:-1000000}
HERE=$(cd "$(dirname "$0")" && pwd)
RC_BIN=$BUILD
# shellcheck source=../../scripts/lib/netns.sh
. "$HERE/../../scripts/lib/netns.sh"
# shellcheck source=../lib/check.sh
. "$HERE/../lib/check.sh"

[ "$(id -u)" -eq 0 ] || { echo "integration tests need root (netns, DPDK)"; exit 77; }

WORK=$(mktemp -d "/tmp/rcabuse.XXXXXX")
FAKE=
trap 'rc_cleanup; [ -n "$FAKE" ] && kill "$FAKE" 2>/dev/null; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM

# CPU time of the longest turn: ≤ 0.5 ms on a quiet VM for every abuse;
# once, with a sanitizer build compiling beside it, an 8 MiB line's
# turn took 0.12–0.24 s of CPU (page faults of a starved machine count
# as the thread's). The bound catches the old loop (seconds per line),
# not the host; each figure is printed.
TURN_MAX_S=${TURN_MAX_S:-0.5}
PROBE_MAX_MS=${PROBE_MAX_MS:-2000}
MAX_LINE=$((4 << 20))
rc_topo_tap "$$"
NET=198.18.0
py() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

write_conf() { # extra [dpdk] lines
	cat >"$WORK/abuse.conf" <<CONF
[node]
ip = $NET.2

[dpdk]
workers = 2
mbufs = 4095
idle_sleep_us = 20
$1

[store]
memory = 512M
max_items = 2097152
segment_size = 2M
max_value_size = 1M

[control]
max_clients = 8
idle_timeout_s = 30
CONF
}

start() {
	# shellcheck disable=SC2046
	rc_daemon_start "$RC_NS_SRV" "$WORK/abuse.conf" "$WORK/daemon.log" \
		$(rc_eal_lcores 2) --no-pci --no-huge -m 1024 --vdev "$RC_EAL_VDEV"
	SOCK=$RC_CTL_SOCK
}
write_conf ""
start
CTL() { "$BUILD/app/ringctl/ringctl" -s "$SOCK" "$@"; }
ABUSE() { ip netns exec "$RC_NS_SRV" python3 "$HERE/ctl_abuse.py" "$SOCK" 127.0.0.1:9711 "$@"; }

# check NAME JSON: the prober was answered every time, and the longest
# turn during the abuse is under TURN_MAX_S. Prints the numbers.
RESULTS=$WORK/results
check() {
	local name=$1 r=$2
	echo "$name: $r" >>"$RESULTS"
	local le cpu bl max pm pf
	le=$(echo "$r" | py 'd["turn_le_s"]')
	cpu=$(echo "$r" | py 'd["cpu_le_s"]')
	bl=$(echo "$r" | py 'd["blocked_turns"]')
	max=$(echo "$r" | py 'd["turn_max_s"]')
	pm=$(echo "$r" | py 'd["probe_max_ms"]')
	pf=$(echo "$r" | py 'd["probe_failed"]')
	echo "  $name: longest turn: CPU <= ${cpu} s, wall clock <= ${le} s (max since start ${max} s); turns that slept: ${bl}; status probe max ${pm} ms, ${pf} failed"
	if [ "$cpu" = None ] || [ "$bl" = None ]; then
		fail "$name: no ringcache_control_turn_cpu_seconds / turns_blocked"
	elif ! python3 -c "import sys; sys.exit(0 if $cpu <= $TURN_MAX_S else 1)"; then
		fail "$name: a control turn used up to $cpu s of CPU (bound $TURN_MAX_S s)"
	elif python3 -c "import sys; sys.exit(0 if $bl > 2 else 1)" && [ -z "${ASAN_OPTIONS:-}" ]; then
		# Up to two are the 1 s tick's stats-file write (a file system
		# call may sleep: seen once in a 1M-item flush, with the turn's
		# wall clock still <= 0.5 ms); a waiting loop sleeps in many.
		# (Not under the sanitizers: their allocator takes locks the
		# JSON thread shares.)
		fail "$name: $bl control turn(s) slept"
	else
		pass "$name: no turn slept, longest <= $cpu s of CPU"
	fi
	if [ "$pf" != 0 ]; then
		fail "$name: $pf status probe(s) failed: $(echo "$r" | py 'd["probe_errors"]')"
	fi
	# Answered meanwhile (bounded generously: a shared VM stalls too).
	python3 -c "import sys; sys.exit(0 if $pm < $PROBE_MAX_MS else 1)" ||
		fail "$name: a status probe waited $pm ms"
}
metric() { # name{labels}
	ip netns exec "$RC_NS_SRV" python3 - "$1" <<'PY'
import sys, urllib.request
t = urllib.request.urlopen("http://127.0.0.1:9711/metrics", timeout=10).read().decode()
v = [l.rsplit(" ", 1)[1] for l in t.splitlines() if l.startswith(sys.argv[1] + " ")]
print(int(float(v[0])) if v else "absent")
PY
}

# A large value to read back: 1 MiB (store.max_value_size).
python3 -c "
import json
print(json.dumps({'key': 'big', 'value': 'x' * (1 << 20)}))" >"$WORK/big.jsonl"
CTL warm "$WORK/big.jsonl" >/dev/null || fail "warm the 1 MiB value"

# --- a reader that never reads ------------------------------------------------
check "stuck reader of a 1 MiB get" "$(ABUSE stuck get 4)"
check "stuck reader of stats" "$(ABUSE stuck stats 4)"

# --- huge request lines -------------------------------------------------------
for mib in 8 32 70; do
	r=$(ABUSE line $mib)
	check "a ${mib} MiB request line" "$r"
	echo "$r" | py 'd["answer"]' | grep -q '"code":"too_long"' &&
		pass "${mib} MiB line refused as too long" ||
		fail "${mib} MiB line: $(echo "$r" | py 'd["answer"]')"
done

# --- the edge of control.max_line ---------------------------------------------
edge() { # bytes (without the newline) -> the answer's code
	ip netns exec "$RC_NS_SRV" python3 - "$SOCK" "$1" <<'PY'
import json, socket, sys
n = int(sys.argv[2])
head = b'{"cmd":"status","pad":"'
line = head + b"p" * (n - len(head) - 2) + b'"}'
assert len(line) == n
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(30)
s.connect(sys.argv[1])
s.sendall(line + b"\n")
buf = b""
while not buf.endswith(b"\n"):
    k = s.recv(65536)
    if not k:
        break
    buf += k
d = json.loads(buf)
print("ok" if d.get("ok") else d.get("code"))
PY
}
tl0=$(metric 'ringcache_control_refused_total{reason="too_long"}')
expect_eq() { if [ "$2" = "$3" ]; then pass "$1"; else fail "$1: got '$2', want '$3'"; fi; }
expect_eq "a line of control.max_line bytes is served" "$(edge $MAX_LINE)" ok
expect_eq "a line one byte over control.max_line is refused" "$(edge $((MAX_LINE + 1)))" too_long
# (the counters are published each 1 s tick: wait for it, 5 s at most)
for _ in $(seq 1 50); do
	tl1=$(metric 'ringcache_control_refused_total{reason="too_long"}')
	[ "$tl1" != "$tl0" ] && break
	sleep 0.1
done
[ "$tl0" != absent ] && [ "$tl1" = $((tl0 + 1)) ] &&
	pass "the refused line is counted ($tl0 -> $tl1)" ||
	fail "too_long counter: $tl0 -> $tl1"

# --- warm: one 100k-record line, then ringctl warm of 100k records -------------
r=$(ABUSE warmline 100000)
check "one 100k-record warm request line" "$r"
echo "$r" | py 'd["answer"]' | grep -q '"code":"too_long"' &&
	pass "the 100k-record line is refused unparsed" ||
	fail "100k-record line: $(echo "$r" | py 'd["answer"]')"
python3 - "$WORK/warm100k.jsonl" <<'PY'
import json, sys
with open(sys.argv[1], "w") as f:
    for i in range(100000):
        f.write(json.dumps({"key": "warm_%06d" % i, "value": "v%d" % i}) + "\n")
PY
r=$(ABUSE cmd '{"cmd":"status"}' 10)   # baseline buckets for the next one
t0=$(date +%s.%N)
ip netns exec "$RC_NS_SRV" python3 - "$HERE/ctl_abuse.py" "$SOCK" "$BUILD/app/ringctl/ringctl" "$WORK/warm100k.jsonl" >"$WORK/warm.json" <<'PY' || true
# The prober and metric deltas of ctl_abuse.py around `ringctl warm`.
import json, subprocess, sys, time
sys.argv = [sys.argv[1], sys.argv[2], "127.0.0.1:9711", "none"] + sys.argv[3:]
src = open(sys.argv[0]).read().replace("\nmain()\n", "\n")
exec(compile(src, sys.argv[0], "exec"))
g0, b0 = scrape()
pr = Prober(); pr.start()
p = subprocess.run([sys.argv[4], "-s", sys.argv[1], "--json", "warm", sys.argv[5]],
                   capture_output=True, text=True, timeout=240)
pr.stop_join(); time.sleep(1.1)
g1, b1 = scrape()
out = {"rc": p.returncode, "stderr": p.stderr[-300:]}
out.update(measures(pr, g1, b0, b1))
try:
    out["warm"] = json.loads(p.stdout)
except ValueError:
    out["warm"] = p.stdout[-300:]
print(json.dumps(out))
PY
t1=$(date +%s.%N)
r=$(cat "$WORK/warm.json")
check "ringctl warm of 100k records" "$r"
echo "  (ringctl warm of 100k records took $(python3 -c "print(round($t1 - $t0, 1))") s)"
expect_eq "ringctl warm stored exactly 100000" \
	"$(echo "$r" | py 'd["warm"]["stored"] if isinstance(d["warm"], dict) else d["warm"]')" 100000
expect_eq "ringctl warm exit status" "$(echo "$r" | py 'd["rc"]')" 0

# --- flush of a large store -----------------------------------------------------
python3 - "$WORK/flush.jsonl" "$N_FLUSH" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    for i in range(int(sys.argv[2])):
        f.write('{"key":"f%07d","value":"%d"}\n' % (i, i))
PY
t0=$(date +%s.%N)
CTL warm "$WORK/flush.jsonl" >"$WORK/flushload.out" 2>&1 || fail "loading $N_FLUSH keys: $(tail -2 "$WORK/flushload.out")"
t1=$(date +%s.%N)
items=$(CTL --json status | py 'd["memory"]["items"]')
echo "  loaded $N_FLUSH keys in $(python3 -c "print(round($t1 - $t0, 1))") s; items $items"
r=$(ABUSE cmd '{"cmd":"flush"}' 300)
check "flush of $items items" "$r"
echo "$r" | py 'd["answer"]' | grep -q '"ok":true' &&
	pass "flush answered: $(echo "$r" | py 'd["answer"]') in $(echo "$r" | py 'd["answer_s"]') s" ||
	fail "flush: $(echo "$r" | py 'd["answer"]')"

# --- idle connections ----------------------------------------------------------
r=$(ABUSE idle 10 1)
check "10 idle connections" "$r"
expect_eq "status beside 10 idle connections" "$(echo "$r" | py 'd["status_ok"]')" True

# --- ringctl and a node that closes the connection -----------------------------
# A fake node reads a little, then closes; ringctl is writing a warm
# chunk larger than the socket buffer: EPIPE, not death by SIGPIPE (141).
python3 -c "
import json
for i in range(8):
    print(json.dumps({'key': 'p%d' % i, 'value': 'y' * 400000}))" >"$WORK/pipe.jsonl"
python3 - "$WORK/fake.sock" <<'PY' &
import os, socket, sys
l = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
l.bind(sys.argv[1]); l.listen(1); l.settimeout(60)
c, _ = l.accept()
c.recv(100)
c.close(); l.close(); os.unlink(sys.argv[1])
PY
FAKE=$!
for _ in $(seq 1 100); do [ -S "$WORK/fake.sock" ] && break; sleep 0.05; done
set +e
"$BUILD/app/ringctl/ringctl" -s "$WORK/fake.sock" warm "$WORK/pipe.jsonl" >"$WORK/pipe.out" 2>"$WORK/pipe.err"
st=$?
set -e
wait "$FAKE" 2>/dev/null || true
FAKE=
expect_eq "ringctl exit status when the node closes the connection" "$st" 3
[ "$(wc -l <"$WORK/pipe.err")" = 1 ] && grep -q "closed the connection\|Broken pipe\|connection" "$WORK/pipe.err" &&
	pass "one clear line: $(cat "$WORK/pipe.err")" || fail "ringctl's error: '$(cat "$WORK/pipe.err")'"

# --- warm under a slow worker counts exactly ------------------------------------
# dpdk.test_command_delay_ms: each worker leaves a control command queued
# this long (a worker busy elsewhere); 10.5 s is past the 10 s after which
# a warm batch used to be reported invalid although stored (issue 20).
rc_daemon_stop || fail "daemon stop (status ${RC_DAEMON_STATUS:-killed})"
cp "$WORK/daemon.log" "$WORK/daemon.log.1"
write_conf "test_command_delay_ms = 10500"
start
python3 - "$WORK/slow.jsonl" <<'PY'
import json, sys
with open(sys.argv[1], "w") as f:
    for i in range(40):
        f.write(json.dumps({"key": "slow_%03d" % i, "value": "s%d" % i}) + "\n")
    f.write("not json\n")
    f.write(json.dumps({"key": "", "value": "empty key"}) + "\n")
PY
set +e
CTL --json warm "$WORK/slow.jsonl" >"$WORK/slow.out" 2>"$WORK/slow.err"
st=$?
set -e
expect_eq "slow worker: warm exit status (1: two records were invalid)" "$st" 1
expect_eq "slow worker: exact counts (stored, invalid)" \
	"$(py '(d["stored"], d["invalid"])' <"$WORK/slow.out" 2>/dev/null || cat "$WORK/slow.out" "$WORK/slow.err")" "(40, 2)"
# (a get would wait 10.5 s on the slow worker too: the store's item
# count says the records are there, within a few 1 s ticks)
items=
for _ in $(seq 1 50); do
	items=$(CTL --json status | py 'd["memory"]["items"]')
	[ "$items" = 40 ] && break
	sleep 0.1
done
expect_eq "slow worker: the 40 records are in the store" "$items" 40

# --- stop -------------------------------------------------------------------------
rc_daemon_stop || fail "ringcached did not stop cleanly (status ${RC_DAEMON_STATUS:-killed})"
grep -qE "runtime error|AddressSanitizer|LeakSanitizer" "$WORK/daemon.log" &&
	fail "sanitizer report: $(grep -m3 -E "runtime error|AddressSanitizer|LeakSanitizer" "$WORK/daemon.log")"
echo "--- the daemon's long-turn log lines (wall clock over 10 ms, with CPU)"
grep -h "control turn of" "$WORK"/*.log* 2>/dev/null || echo "(none)"
echo "--- measured (JSON per abuse)"
cat "$RESULTS"
if [ "$fails" -ne 0 ]; then
	echo "--- daemon log (tail)"; tail -40 "$WORK/daemon.log"
	echo "ctl-abuse: $fails check(s) failed"; exit 1
fi
echo "ctl-abuse: all passed"
