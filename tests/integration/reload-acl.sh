#!/usr/bin/env bash
# Runtime changes without losing the cache (issue 20): on a running node
# (net_tap, two workers) holding data, acl.allow, acl.trusted, the rate
# limits and the class prefix rules change by a config-file edit and
# SIGHUP or `ringctl config reload`, and every item stays. Also: describe
# says what still needs a restart, a value the node cannot take changes
# nothing, and the workers' old tables are freed (the sanitizer build
# reports any leak at the clean stop).
#
#   reload-acl.sh BUILD_DIR
set -euo pipefail
BUILD=$(cd "$1" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
RC_BIN=$BUILD
# shellcheck source=../../scripts/lib/netns.sh
. "$HERE/../../scripts/lib/netns.sh"
# shellcheck source=../lib/check.sh
. "$HERE/../lib/check.sh"



rc_tap_test reload
NET=198.18.0
SRV=$NET.2:7711

# The node's settings that this test changes while it runs.
ALLOW="$NET.0/24"
TRUSTED=""
RATE=""
CLASSES="wedding_data:40:protected, vendor_responses:25, guest_interactions:20, photo_thumbnails:10, system_cache:5"
PREFIXES="wedding_=wedding_data,vendor_=vendor_responses,guest_=guest_interactions"
MIN_GETS=20
write_conf() {
	cat >"$WORK/rc.conf" <<CONF
[node]
ip = $NET.2
stats_file = $WORK/stats
stats_interval_ms = 50

[dpdk]
workers = 2
mbufs = 4095
idle_sleep_us = 20

[store]
memory = 64M
max_items = 65536
segment_size = 64K
max_value_size = 4K
classes = $CLASSES
class_prefixes = $PREFIXES
default_class = system_cache

[acl]
allow = $ALLOW
trusted = $TRUSTED
rate_limits = $RATE

[control]
metrics_listen =

[alerts]
min_gets = $MIN_GETS
CONF
}
write_conf

rc_tap_node_up "$WORK/rc.conf" "$WORK/daemon.log" 2
SOCK=$RC_CTL_SOCK
CTL() { "$BUILD/app/ringctl/ringctl" -s "$SOCK" "$@"; }
J() { CTL --json "$@"; }
CLI() { ip netns exec "$RC_NS_CLI" "$BUILD/tests/integration/rc_cli" "$SRV" "$@"; }
py() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
mono_ns() { python3 -c 'import time; print(time.monotonic_ns())'; }

# A counter from the stats file, once it has been written after now (the
# daemon shares this clock): every request answered so far is in it.
stat() { # name
	local t0 t=0
	t0=$(mono_ns)
	while [ $t -lt 300 ]; do
		local p
		p=$(awk '$1 == "stats_published_ns" {print $2}' "$WORK/stats" 2>/dev/null || true)
		[ -n "$p" ] && [ "$p" -gt "$t0" ] && break
		sleep 0.05
		t=$((t + 1))
	done
	awk -v n="$1" '$1 == n {v = $2} END {print v + 0}' "$WORK/stats"
}

# The control core's own gauges reach the file at its next tick (once a
# second): wait for the value, 10 s at most.
expect_stat() { # what name want
	local v t=0
	while :; do
		v=$(awk -v n="$2" '$1 == n {v = $2} END {print v + 0}' "$WORK/stats")
		[ "$v" = "$3" ] || [ $t -ge 100 ] && break
		sleep 0.1
		t=$((t + 1))
	done
	expect "$1" "$v" "$3"
}

# Reloads answer at once; the workers take the new tables on their next
# loop turn, and the control core logs when all have. Wait for the n-th
# such line.
TABLES=0
wait_tables() {
	local t=0
	TABLES=$((TABLES + 1))
	while [ $t -lt 100 ]; do
		[ "$(grep -c 'workers use the new ACL' "$WORK/daemon.log" || true)" -ge $TABLES ] && return 0
		sleep 0.1
		t=$((t + 1))
	done
	fail "workers did not take reload $TABLES's tables within 10 s"
}
hup() {
	local n
	n=$(grep -c "SIGHUP: reload:" "$WORK/daemon.log" || true)
	kill -HUP "$RC_DAEMON_PID"
	for _ in $(seq 1 100); do
		[ "$(grep -c "SIGHUP: reload:" "$WORK/daemon.log" || true)" -gt "$n" ] && return 0
		sleep 0.1
	done
	fail "SIGHUP not answered within 10 s"
}

# The hex GET example of docs/protocol.md (key wedding_42, a 38-byte
# request), sent raw: an untrusted source gets no answer (a reply is at
# least 40 bytes), a trusted one the value. Prints the reply's length or
# "none".
raw_get() {
	ip netns exec "$RC_NS_CLI" python3 - "$HERE/../../docs/protocol.md" "$NET.2" <<'PY'
import re, socket, sys
doc = open(sys.argv[1]).read()
block = re.search(r"### GET request \(key `wedding_42`\)\n\n```\n(.*?)```", doc, re.S).group(1)
req = bytes.fromhex("".join(l.split(None, 1)[1] for l in block.splitlines()))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(0.5)
n = "none"
for _ in range(3):
    s.sendto(req, (sys.argv[2], 7711))
    try:
        n = len(s.recv(2048))
        break
    except socket.timeout:
        pass
print(n)
PY
}


# --- data: 300 items through the control socket ------------------------------
python3 - "$WORK/warm.jsonl" "$WORK/items" <<'PY'
import json, sys
with open(sys.argv[1], "w") as w, open(sys.argv[2], "w") as v:
    for i in range(300):
        k = f"{['wedding_', 'vendor_', 'guest_'][i % 3]}{i // 3}"
        w.write(json.dumps({"key": k, "value": f"v{i}"}) + "\n")
        v.write(f"{k} v{i}\n")
PY
expect "warm stored" "$(J warm "$WORK/warm.jsonl" | py 'd["stored"]')" 300
expect "every item served" "$(CLI verify "$WORK/items")" "present 300 missing 0 wrong 0 failed 0"

# --- describe: what a reload changes, what needs a restart -------------------
runtime() { J describe | py "[o['runtime'] for o in d['options'] if o['section'] + '.' + o['name'] == '$1'][0]"; }
for o in acl.allow acl.trusted acl.rate_limits acl.rate_network_prefix \
	acl.rate_max_networks store.class_prefixes store.default_class alerts.min_gets; do
	expect "describe: $o changes on reload" "$(runtime $o)" True
done
for o in store.classes store.memory dpdk.workers; do
	expect "describe: $o needs a restart" "$(runtime $o)" False
done
CTL describe | grep -q "^store.classes .* restart " && pass "describe prints restart" || fail "describe table lacks 'restart'"
CTL describe | grep -q "options need a restart to change" && pass "describe sums up" || fail "describe summary"

# --- acl.allow: the client's subnet out (file + SIGHUP) ----------------------
ALLOW="10.0.0.0/8"
write_conf
hup
wait_tables
grep -q 'SIGHUP: reload: .*"acl.allow"' "$WORK/daemon.log" && pass "SIGHUP applied acl.allow" ||
	fail "SIGHUP did not apply acl.allow: $(grep 'SIGHUP: reload:' "$WORK/daemon.log" | tail -1)"
d0=$(stat drop_acl)
expect "outside acl.allow: no answer" "$(CLI get wedding_1 | head -1)" "timed out"
d1=$(stat drop_acl)
[ "$d1" -gt "$d0" ] && pass "dropped requests counted (drop_acl $d0 -> $d1)" ||
	fail "drop_acl did not grow ($d0 -> $d1)"
expect "the item is still there (control socket)" "$(J get wedding_1 | py 'd["value"]')" v3
expect "no item lost" "$(J classes | py 'sum(c["items"] for c in d["classes"])')" 300

# --- acl.allow: back in (file + ringctl config reload) -----------------------
ALLOW="$NET.0/24"
write_conf
expect "reload applies acl.allow" "$(J config reload | py '"acl.allow" in d["applied"]')" True
wait_tables
expect "served again, every item present" "$(CLI verify "$WORK/items")" "present 300 missing 0 wrong 0 failed 0"

# --- acl.trusted: the docs' hex GET --------------------------------------------
a0=$(stat drop_amplification)
expect "untrusted: the 38-byte hex GET gets no answer" "$(raw_get)" none
a1=$(stat drop_amplification)
[ "$a1" -gt "$a0" ] && pass "counted as drop_amplification" || fail "drop_amplification $a0 -> $a1"
TRUSTED="$NET.0/24"
write_conf
expect "reload applies acl.trusted" "$(J config reload | py '"acl.trusted" in d["applied"]')" True
wait_tables
expect "trusted: the hex GET gets the value (40 + 4 bytes, v126)" "$(raw_get)" 44
TRUSTED=""
write_conf
hup
wait_tables
expect "untrusted again (SIGHUP)" "$(raw_get)" none

# --- a prefix -> class rule ----------------------------------------------------
class_items() { J classes | py "[c['items'] for c in d['classes'] if c['name'] == '$1'][0]"; }
expect "set evt_1" "$(CLI set evt_1 a)" OK
expect "no rule for evt_: the default class" "$(J get evt_1 | py 'd["class"]')" system_cache
PREFIXES="$PREFIXES,evt_=vendor_responses"
write_conf
expect "reload applies store.class_prefixes" "$(J config reload | py '"store.class_prefixes" in d["applied"]')" True
wait_tables
v0=$(class_items vendor_responses)
expect "set evt_2" "$(CLI set evt_2 b)" OK
expect "evt_ now vendor_responses" "$(J get evt_2 | py 'd["class"]')" vendor_responses
expect "per-class stats count it" "$(class_items vendor_responses)" $((v0 + 1))
expect "the earlier item keeps its class" "$(J get evt_1 | py 'd["class"]')" system_cache

# --- values the running node cannot take: refused, nothing changes ------------
MIN_GETS=33
ALLOW="10.0.0.1/8"
write_conf
out=$(CTL config reload 2>&1 || true)
expect "bad acl.allow: exit 1" "$(rc_of CTL config reload)" 1
echo "$out" | grep -q "host bits" && pass "bad acl.allow: says why ($out)" || fail "bad acl.allow message: $out"
ALLOW="$NET.0/24"
CLASSES="wedding_data:40:protected, vendor_responses:25, guest_interactions:20, photo_thumbnails:10, system_cache:4, events:1"
PREFIXES="$PREFIXES,ev_=events"
write_conf
out=$(CTL config reload 2>&1 || true)
echo "$out" | grep -q "running store.classes" && pass "a rule for a class the node lacks: refused ($out)" ||
	fail "new-class rule message: $out"
expect "refused reloads changed nothing" "$(J config show | py 'd["config"]["alerts.min_gets"], d["config"]["acl.allow"]')" "20 $NET.0/24"
expect "still served after refusals" "$(CLI get wedding_1)" "OK v3 stale=0"
grep -q "config reload refused" "$WORK/daemon.log" && pass "refusal logged" || fail "refusal not logged"
expect_stat "refusals counted (config_reloads{result=refused})" config_reloads_refused 3
expect_stat "the last reload failed: config_last_reload_successful" config_last_reload_successful 0

# --- rate limits ---------------------------------------------------------------
CLASSES="wedding_data:40:protected, vendor_responses:25, guest_interactions:20, photo_thumbnails:10, system_cache:5"
PREFIXES="wedding_=wedding_data,vendor_=vendor_responses,guest_=guest_interactions,evt_=vendor_responses"
MIN_GETS=20
RATE="$NET.0/24=20/2"
write_conf
expect "reload applies acl.rate_limits" "$(J config reload | py '"acl.rate_limits" in d["applied"]')" True
wait_tables
expect_stat "applied again: config_last_reload_successful" config_last_reload_successful 1
hits=$(CLI gets wedding_1 100 0 | awk '{print $2}')
[ "$hits" -lt 100 ] && pass "rate limit in force: $hits of 100 GETs served" || fail "rate limit: $hits of 100 served"
t1=$(stat rate_throttled_ops)
[ "$t1" -gt 0 ] && pass "throttled ops counted ($t1)" || fail "no throttled ops counted"
RATE=""
write_conf
expect "reload removes acl.rate_limits" "$(J config reload | py '"acl.rate_limits" in d["applied"]')" True
wait_tables
expect "no limit: every GET served" "$(CLI gets wedding_1 100 0)" "hits 100 misses 0"
t2=$(stat rate_throttled_ops)
[ "$t2" -ge "$t1" ] && pass "throttled count kept across the reload ($t1 -> $t2)" ||
	fail "throttled count went back ($t1 -> $t2)"

# --- after it all --------------------------------------------------------------
expect "every item still present" "$(CLI verify "$WORK/items")" "present 300 missing 0 wrong 0 failed 0"
expect "reloading the same file changes nothing" \
	"$(J config reload | py 'd["applied"], d["restart_needed"]')" "[] []"
# Applied: 2 by SIGHUP and 6 by ringctl above, this one included.
expect_stat "applied reloads counted (config_reloads{result=applied})" config_reloads 8
# How long the workers took to switch tables, reload by reload.
grep -o 'workers use the new ACL.*' "$WORK/daemon.log" | sed 's/^/info: /'
rc_daemon_stop && pass "clean stop (no leak reported)" ||
	{ fail "stop: status $RC_DAEMON_STATUS"; tail -30 "$WORK/daemon.log"; }

checks_done reload-acl
