#!/usr/bin/env bash
# Integration test of the control core: a real ringcached (net_tap, two
# workers) in namespaces made here, driven by ringctl over its control
# socket and by libringcache clients over UDP; the Prometheus endpoint is
# scraped and parsed. Every ringctl subcommand, the multiplier schedule at
# injected dates, the override, read-only and serve-stale, alert
# transitions with the hook, and config reload are checked.
#
#   ctl.sh BUILD_DIR
set -euo pipefail
BUILD=$(cd "$1" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
RC_BIN=$BUILD
# shellcheck source=../../scripts/lib/netns.sh
. "$HERE/../../scripts/lib/netns.sh"
# shellcheck source=../lib/check.sh
. "$HERE/../lib/check.sh"



rc_tap_test ctl
NET=198.18.0
SRV=$NET.2:7711

write_conf() { # min_gets
	cat >"$WORK/ctl.conf" <<CONF
[node]
ip = $NET.2
stats_file = $WORK/stats

[dpdk]
workers = 2
mbufs = 4095
idle_sleep_us = 20

[store]
memory = 64M
memory_cap = 192M
max_items = 65536
segment_size = 64K
max_value_size = 4K

[acl]
trusted = $NET.0/24

[control]
socket_mode = 0660
test_clock = true

[scaling]
timezone = UTC
rules = wedding_day: sat x2.0 ttl x2.0; season: may-oct x1.5
interval_s = 1

[protect]
stale_grace_s = 60

[alerts]
window_s = 2
clear_after_s = 2
min_gets = $1
hook = echo "\$RC_ALERT \$RC_ALERT_PREVIOUS \$RC_ALERT_LEVEL \$RC_ALERT_VALUE" >> $WORK/hook.log
CONF
}
write_conf 20

rc_tap_node_up "$WORK/ctl.conf" "$WORK/daemon.log" 2
SOCK=$RC_CTL_SOCK
CTL() { "$BUILD/app/ringctl/ringctl" -s "$SOCK" "$@"; }
J() { CTL --json "$@"; }
CLI() { ip netns exec "$RC_NS_CLI" "$BUILD/tests/integration/rc_cli" "$SRV" "$@"; }
# py EXPR: evaluate with the JSON on stdin as `d`; prints the result.
py() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
expect() { # what got want
	if [ "$2" = "$3" ]; then pass "$1"; else fail "$1: got '$2', want '$3'"; fi
}
rc_of() { set +e; "$@" >/dev/null 2>&1; local r=$?; set -e; echo $r; }
# eventually what want cmd...: the control core acts on its own ticks, so
# wait (up to 15 s) for the condition instead of sleeping a guess.
eventually() {
	local what=$1 want=$2 got= t=0
	shift 2
	while [ $t -lt 150 ]; do
		got=$("$@" 2>/dev/null || true)
		[ "$got" = "$want" ] && { pass "$what"; return; }
		sleep 0.1
		t=$((t + 1))
	done
	fail "$what: got '$got', want '$want' (15 s)"
}
alert_level() { J status | py "[a['level'] for a in d['alerts'] if a['name']=='$1'][0]"; }


# --- the CLI's own contract -------------------------------------------------
expect "ringctl --help exits 0" "$(rc_of CTL --help)" 0
expect "ringctl status --help exits 0" "$(rc_of CTL status --help)" 0
expect "unknown command is a usage error" "$(rc_of CTL frobnicate)" 2
expect "bad arguments are a usage error" "$(rc_of CTL quota set)" 2
expect "no daemon: exit 3" "$(rc_of "$BUILD/app/ringctl/ringctl" -s "$WORK/none.sock" status)" 3
expect "socket permissions" "$(stat -c %a "$SOCK")" 660

# --- status, describe, config show -----------------------------------------
CTL clock set "2026-11-18 12:00" >/dev/null   # a Wednesday in November
s=$(J status)
expect "status role" "$(echo "$s" | py 'd["role"]')" standalone
expect "status workers" "$(echo "$s" | py 'd["workers"]')" 2
expect "no rule on a November Wednesday" "$(echo "$s" | py 'd["multiplier"]["effective"]')" 1.0
expect "describe lists every option" \
	"$(J describe | py 'len(d["options"])')" \
	"$("$BUILD/app/ringcached/ringcached" --print-reference | grep -c '^[a-z_]* = ')"
expect "describe marks runtime options" \
	"$(J describe | py '[o["runtime"] for o in d["options"] if o["section"]=="alerts" and o["name"]=="window_s"][0]')" True
expect "config show" "$(J config show | py 'd["config"]["scaling.interval_s"]')" 1
CTL status | grep -q "^multiplier " && pass "status prints a table" || fail "status table"

# --- warm, get, del, classes ------------------------------------------------
python3 - "$WORK/warm.jsonl" <<'PY'
import json, sys
with open(sys.argv[1], "w") as f:
    for i in range(300):
        p = ["wedding_", "vendor_", "guest_"][i % 3]
        f.write(json.dumps({"key": f"{p}{i}", "value": f"v{i}", "ttl": 3600}) + "\n")
    f.write(json.dumps({"key": "sys_bin", "value_hex": "00ff10", "class": "system_cache"}) + "\n")
    f.write("this is not json\n")
    f.write(json.dumps({"key": "sys_badhex", "value_hex": "0g"}) + "\n")
PY
w=$(J warm "$WORK/warm.jsonl" || true)
expect "warm stored" "$(echo "$w" | py 'd["stored"]')" 301
expect "warm counts the bad line and the bad hex" "$(echo "$w" | py 'd["invalid"]')" 2
expect "warm with a bad line exits 1" "$(rc_of CTL warm "$WORK/warm.jsonl")" 1
expect "get a warmed key" "$(J get wedding_3 | py 'd["value"], d["class"]')" "v3 wedding_data"
expect "get binary value" "$(J get sys_bin | py 'd["value_hex"]')" 00ff10
expect "client reads a warmed key" "$(CLI get vendor_4)" "OK v4 stale=0"
class_items() { J classes | py "[c['items'] for c in d['classes'] if c['name']=='$1'][0]"; }
eventually "classes count items" 100 class_items wedding_data
CTL classes | grep -q "^wedding_data" && pass "classes table" || fail "classes table"
expect "del" "$(rc_of CTL del wedding_3)" 0
expect "get after del: exit 1" "$(rc_of CTL get wedding_3)" 1
expect "del of a missing key: exit 1" "$(rc_of CTL del wedding_3)" 1

# --- flush -----------------------------------------------------------------
expect "flush by prefix" "$(J flush --prefix vendor_ | py 'd["removed"]')" 100
expect "flush by class" "$(J flush --class guest_interactions | py 'd["removed"]')" 100
expect "flushed keys are gone" "$(CLI get guest_5 || true)" "not found"
expect "other keys stay" "$(CLI get wedding_6)" "OK v6 stale=0"
expect "flush needs a target" "$(rc_of CTL flush)" 2
expect "flush of an unknown class: exit 1" "$(rc_of CTL flush --class nope)" 1

# --- quotas ----------------------------------------------------------------
expect "quota set" "$(J quota set photo_thumbnails 5 | py 'd["share_pct"]')" 5.0
expect "quota shown" \
	"$(J classes | py '[c["share_pct"] for c in d["classes"] if c["name"]=="photo_thumbnails"][0]')" 5.0
expect "quota over 100% refused" "$(rc_of CTL quota set wedding_data 90)" 1

# --- multipliers at injected dates -------------------------------------------
mult() { CTL clock set "$1" >/dev/null; J status | py "d['multiplier']['$2']"; }
expect "Saturday: x2" "$(mult '2026-11-21 12:00' effective)" 2.0
expect "Saturday: TTL x2" "$(mult '2026-11-21 12:00' ttl)" 2.0
expect "Saturday reason" "$(J status | py '"wedding_day" in d["multiplier"]["reason"]')" True
expect "Saturday budget" "$(J status | py 'd["multiplier"]["budget_bytes"]')" $((128 << 20))
expect "June Wednesday: x1.5" "$(mult '2026-06-10 12:00' effective)" 1.5
expect "June Saturday: x3 composed" "$(mult '2026-06-13 12:00' effective)" 3.0
J multiplier set 1.25 --for 1h >/dev/null
expect "override replaces the calendar" "$(J multiplier show | py 'd["multiplier"]["source"], d["multiplier"]["effective"]')" "override 1.25"
expect "override has an expiry" "$(J multiplier show | py '0 < d["multiplier"]["override"]["expires_in_s"] <= 3600')" True
CTL clock set "2026-06-13 14:00" >/dev/null     # two hours on: expired
expect "override expires" "$(J multiplier show | py 'd["multiplier"]["source"]')" calendar
J multiplier set 4 --for 10m >/dev/null
expect "override capped at memory_cap" "$(J status | py 'd["multiplier"]["capped"], d["multiplier"]["budget_bytes"]')" "True $((192 << 20))"
expect "multiplier clear" "$(J multiplier clear | py 'd["multiplier"]["source"]')" calendar
expect "multiplier beyond max_factor refused" "$(rc_of CTL multiplier set 9 --for 1h)" 1
expect "bad duration is a usage error" "$(rc_of CTL multiplier set 2 --for soon)" 2
grep -q "memory budget .* wedding_day" "$WORK/daemon.log" && pass "budget changes are logged with the reason" || fail "no budget log line"
CTL clock set "2026-11-18 12:00" >/dev/null

# --- read-only and serve-stale -------------------------------------------
expect "write before read-only" "$(CLI set rw1 a)" OK
expect "read-only on" "$(J mode read-only on | py 'd["modes"]["read_only"]["on"]')" True
expect "writes refused" "$(CLI set rw2 a || true)" "read-only"
expect "reads still served" "$(CLI get rw1)" "OK a stale=0"
J mode read-only auto >/dev/null
expect "writes again" "$(CLI set rw2 a)" OK
CLI set st1 old 1 >/dev/null
CLI set st2 old 1 >/dev/null
J mode serve-stale on >/dev/null
sleep 2.2
expect "expired item served stale" "$(CLI get st1)" "OK old stale=1"
expect "ringctl sees it stale" "$(J get st1 | py 'd["stale"]')" True
J mode serve-stale off >/dev/null
expect "serve-stale off: gone" "$(CLI get st2 || true)" "not found"
expect "mode show" "$(J mode | py 'd["modes"]["serve_stale"]["source"]')" ringctl

# --- alerts with hysteresis and the hook -------------------------------------
CLI gets nosuchkey 200 1000 >/dev/null      # 0% hits
eventually "hit-rate alert raised" emergency alert_level hit_rate
CLI set hot v >/dev/null
CLI gets hot 1500 2000 >/dev/null           # ~3 s of hits
eventually "hit-rate alert cleared" ok alert_level hit_rate
grep -q "^hit_rate ok emergency" "$WORK/hook.log" && pass "hook ran on the rise" || { fail "hook on the rise"; cat "$WORK/hook.log" || true; }
# The fall may pass through critical or warning on its way to ok: the
# level it drops to is the worst the window showed while it waited to
# clear, which depends on when evaluations fall (a loaded machine).
grep -qE "^hit_rate (emergency|critical|warning) ok" "$WORK/hook.log" && pass "hook ran on the fall" || { fail "hook on the fall"; cat "$WORK/hook.log" || true; }
grep -q "alert hit_rate: ok -> emergency" "$WORK/daemon.log" && pass "alert logged" || fail "alert log line"

# status counts operations, not datagrams: 200 multi-gets of 16 keys are
# 3,200 ops in ~400 datagrams (keys of one partition share one), so over
# the 2 s window at least 1,000 ops/s where datagrams would give ~200.
expect "multi-gets answered" "$(CLI mgets mg 16 200)" "answered 3200"
eventually "ops_per_s counts each key of a multi-get (>= 1000)" True \
	sh -c "\"$BUILD/app/ringctl/ringctl\" -s '$SOCK' --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"ops_per_s\"] >= 1000)'"

# --- stats --------------------------------------------------------------------
expect "stats counters" "$(J stats | py 'd["counters"]["op_get"] > 1000')" True
expect "stats latency by op and class" "$(J stats | py 'any(l["op"]=="get" and l["total"]["count"]>0 for l in d["latency"])')" True
expect "stats --watch repeats" "$(CTL stats --watch 0.3 --count 2 | grep -c '^rx_packets')" 2
expect "stats --watch: rates from the second report" "$(CTL stats --watch 0.3 --count 2 | grep -cE '^rx_packets +[0-9]+ +[0-9.]+/s$')" 1
expect "stats --watch redraws in place on a terminal" \
	"$(script -qec "'$BUILD/app/ringctl/ringctl' -s '$SOCK' stats --watch 0.3 --count 2" /dev/null | grep -c $'\e\\[H\e\\[2J')" 2

# --- metrics endpoint -------------------------------------------------------
ip netns exec "$RC_NS_SRV" python3 - <<'PY' && pass "metrics scrape parses" || fail "metrics scrape"
import re, sys, urllib.request
body = urllib.request.urlopen("http://127.0.0.1:9711/metrics", timeout=5).read().decode()
types, samples = {}, {}
line_re = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$')
for line in body.splitlines():
    if line.startswith("# TYPE "):
        _, _, name, t = line.split(" ", 3)
        assert name not in types, "TYPE twice: " + name
        types[name] = t
        continue
    if line.startswith("#"):
        continue
    m = line_re.match(line)
    assert m, "bad line: " + line
    name, labels, v = m.group(1), m.group(2) or "", float(m.group(3))
    base = re.sub(r'_(bucket|sum|count)$', '', name)
    assert name in types or base in types, "no TYPE for " + name
    samples[name + labels] = v
assert all(n.startswith(("ringcache_", "process_")) for n in types)
assert all(n.endswith("_total") for n, t in types.items() if t == "counter"), "counter without _total"
assert samples['ringcache_ops_total{op="get"}'] > 1000
assert 'ringcache_dropped_total{reason="acl"}' in samples
assert samples['ringcache_multiplier'] == 1.0
assert 'ringcache_alert_level{alert="hit_rate"}' in samples
assert samples['ringcache_class_budget_bytes{class="wedding_data"}'] > 0
assert 'ringcache_nic_packets_total{dir="rx"}' in samples
# histogram: buckets rise to +Inf == count
bk = [(k, v) for k, v in samples.items() if k.startswith('ringcache_request_duration_seconds_bucket{op="get",class="system_cache"')]
assert len(bk) > 5, bk
vals = [v for _, v in bk]
assert vals == sorted(vals), "buckets not cumulative"
assert vals[-1] == samples['ringcache_request_duration_seconds_count{op="get",class="system_cache"}']
print("scraped", len(samples), "samples")
PY

# --- operators are never locked out ------------------------------------------
# Every control connection taken by idle clients (control.max_clients =
# 8): a new operator still gets an answer, the quietest is closed for it.
python3 - "$SOCK" "$WORK/idle.ready" <<'PY' &
import socket, sys, time
held = []
for _ in range(8):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[1])
    held.append(s)
open(sys.argv[2], "w").close()
time.sleep(10)  # held open, silent (bounded; killed when done)
PY
IDLE=$!
for _ in $(seq 1 200); do [ -e "$WORK/idle.ready" ] && break; sleep 0.05; done
[ -e "$WORK/idle.ready" ] || fail "idle control clients did not connect"
expect "ringctl status beside 8 idle control connections" "$(rc_of CTL status)" 0
kill "$IDLE" 2>/dev/null; wait "$IDLE" 2>/dev/null || true

# --- monitoring is never blinded ----------------------------------------------
# 16 slow clients (from 127.0.0.2) hold connections open with a partial
# request; a scraper on 127.0.0.1 must still be answered, every time.
ip netns exec "$RC_NS_SRV" python3 - <<'PY' && pass "metrics scrapes answered beside 16 slow clients" || fail "metrics blinded by slow clients"
import socket, time, urllib.request
slow = []
for _ in range(16):
    s = socket.socket()
    s.bind(("127.0.0.2", 0))
    s.settimeout(1)
    try:
        s.connect(("127.0.0.1", 9711))
        s.send(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
    except OSError:
        pass
    slow.append(s)
t0, ok = time.monotonic(), 0
for _ in range(10):
    body = urllib.request.urlopen("http://127.0.0.1:9711/metrics", timeout=3).read()
    assert b"ringcache_metrics_http_total" in body
    ok += 1
    time.sleep(0.3)
for s in slow:
    s.close()
print("%d scrapes answered in %.1f s beside 16 slow clients" % (ok, time.monotonic() - t0))
PY
# metric NAME: its value in a scrape now (0 if absent).
metric() {
	ip netns exec "$RC_NS_SRV" python3 - "$1" <<'PY'
import sys, urllib.request
body = urllib.request.urlopen("http://127.0.0.1:9711/metrics", timeout=3).read().decode()
v = [float(l.rsplit(" ", 1)[1]) for l in body.splitlines() if l.startswith(sys.argv[1] + " ")]
print(int(v[0]) if v else 0)
PY
}
timed_out_cut() { [ "$(metric 'ringcache_metrics_http_total{outcome="closed_unanswered"}')" -ge 4 ] && echo yes || echo no; }
eventually "the slow metrics clients were cut and counted" yes timed_out_cut

# --- config reload ----------------------------------------------------------
write_conf 50
sed -i 's/^mbufs = 4095/mbufs = 8191/' "$WORK/ctl.conf"
r=$(J config reload)
expect "reload applies runtime options" "$(echo "$r" | py '"alerts.min_gets" in d["applied"]')" True
expect "reload lists restart-only options" "$(echo "$r" | py 'd["restart_needed"]')" "['dpdk.mbufs']"
expect "reloaded value in force" "$(J config show | py 'd["config"]["alerts.min_gets"]')" 50
sed -i 's/^rules = .*/rules = garbage/' "$WORK/ctl.conf"
expect "bad config refused" "$(rc_of CTL config reload)" 1
expect "old rules kept" "$(J config show | py 'd["config"]["scaling.rules"]')" "wedding_day: sat x2.0 ttl x2.0; season: may-oct x1.5"

# --- stop ---------------------------------------------------------------------
if ! rc_daemon_stop; then
	fail "ringcached did not stop cleanly (status ${RC_DAEMON_STATUS:-killed})"
fi
if grep -qE "runtime error|AddressSanitizer|LeakSanitizer" "$WORK/daemon.log"; then
	fail "sanitizer report"; grep -A20 -E "runtime error|AddressSanitizer|LeakSanitizer" "$WORK/daemon.log"
fi
[ ! -e "$SOCK" ] && pass "socket removed on exit" || fail "socket left behind"
if [ "$fails" -ne 0 ]; then
	echo "--- daemon log ---"; cat "$WORK/daemon.log"
	echo "$fails check(s) failed"; exit 1
fi
echo "all control checks passed"
