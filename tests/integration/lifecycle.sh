#!/usr/bin/env bash
# Lifecycle of ringcached as a service manager sees it: versions and
# per-command help; readiness (READY=1 on a NOTIFY_SOCKET only once the
# workers, the control socket and the metrics endpoint serve); EAL
# arguments from the config kept whole (config show, reload); SIGHUP
# reloads like `ringctl config reload` (RELOADING=1 ... READY=1);
# SIGTERM and SIGQUIT stop it cleanly and quickly (STOPPING=1), without a
# counter dump unless --stats-on-exit; a start that fails (metrics port
# taken) exits non-zero, never says ready, and leaves no socket and no
# runtime directory behind.
#
#   lifecycle.sh BUILD_DIR
set -euo pipefail
BUILD=$(cd "$1" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
RC_BIN=$BUILD
# shellcheck source=../../scripts/lib/netns.sh
. "$HERE/../../scripts/lib/netns.sh"

[ "$(id -u)" -eq 0 ] || { echo "integration tests need root (netns, DPDK)"; exit 77; }

RCD=$BUILD/app/ringcached/ringcached
RINGCTL=$BUILD/app/ringctl/ringctl
WORK=$(mktemp -d "/tmp/rclife.XXXXXX")
HELPERS=()
cleanup() {
	local p
	for p in "${HELPERS[@]}"; do kill "$p" 2>/dev/null || true; done
	rc_cleanup
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
pass() { echo "ok: $*"; }
expect() { # what got want
	if [ "$2" = "$3" ]; then pass "$1"; else fail "$1: got '$2', want '$3'"; fi
}
py() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
now() { date +%s.%N; }
# wait_for DEADLINE_S CMD...: poll CMD every 50 ms until it succeeds.
wait_for() {
	local end
	end=$(echo "$(now) + $1" | bc)
	shift
	until "$@" 2>/dev/null; do
		[ "$(echo "$(now) > $end" | bc)" = 1 ] && return 1
		sleep 0.05
	done
}

# --- the command lines ------------------------------------------------------
v=$("$RCD" --version)
[[ $v =~ ^ringcached\ [0-9]+\.[0-9]+\.[0-9]+\ \(DPDK\ [0-9]+\.[0-9]+(\.[0-9]+)?\)$ ]] &&
	pass "ringcached --version: $v" || fail "ringcached --version: '$v'"
v=$("$RINGCTL" --version 2>&1 || true)
[[ $v =~ ^ringctl\ [0-9]+\.[0-9]+\.[0-9]+$ ]] && pass "ringctl --version" || fail "ringctl --version: '$v'"
v=$("$BUILD/app/ringbench/ringbench" --version 2>&1 || true)
[[ $v =~ ^ringbench\ [0-9]+\.[0-9]+\.[0-9]+$ ]] && pass "ringbench --version" || fail "ringbench --version: '$v'"
h=$("$RINGCTL" quota --help 2>&1 || true)
[[ $h == "Usage: ringctl [OPTIONS] quota set CLASS SHARE%"* ]] &&
	! grep -q "^Commands:" <<<"$h" && pass "ringctl quota --help is quota's own" ||
	fail "ringctl quota --help: $(head -3 <<<"$h")"
h=$("$RCD" --help)
grep -q -- "--stats-on-exit" <<<"$h" && pass "--stats-on-exit in --help" || fail "--stats-on-exit not in --help"

# --- a node whose EAL arguments come from its config ------------------------
rc_topo_tap "l$$"
NS=$RC_NS_SRV
RUN=$WORK/run            # the daemon makes it (as when run by hand)
SOCK=$RUN/ringcached.sock
NOTIFY=$WORK/notify.sock
CTL() { "$RINGCTL" -s "$SOCK" "$@"; }
J() { CTL --json "$@"; }

write_conf() { # min_gets [log_level]
	RC_FILE_PREFIX="rcl$$_${RANDOM}"
	EAL="--lcores 0@0,1@1 --no-pci --no-huge -m 512 --vdev $RC_EAL_VDEV --file-prefix $RC_FILE_PREFIX"
	cat >"$WORK/rc.conf" <<CONF
[node]
ip = 198.18.0.2
log_level = ${2:-info}

[dpdk]
eal_args = $EAL
mbufs = 4095
idle_sleep_us = 20

[store]
memory = 64M
max_items = 65536
segment_size = 64K
max_value_size = 4K

[control]
socket = $SOCK
socket_group = daemon
metrics_listen = 127.0.0.1:9711

[alerts]
min_gets = $1
CONF
}

# A stand-in for systemd's notification socket: every datagram, one line.
python3 - "$NOTIFY" "$WORK/notify.log" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as f:
    while True:
        f.write(s.recv(4096).decode().replace("\n", " ") + "\n")
PY
HELPERS+=($!)
wait_for 10 test -S "$NOTIFY" || { echo "notify listener did not start"; exit 1; }
: >"$WORK/notify.log"

start() { # log extra-options...
	local log=$1
	shift
	ip netns exec "$NS" env NOTIFY_SOCKET="$NOTIFY" "$RCD" -c "$WORK/rc.conf" "$@" >"$log" 2>&1 &
	RC_DAEMON_PID=$!
}
# READY=1 arrived, or the daemon is gone (the caller tells which).
ready() { grep -q "^READY=1" "$WORK/notify.log" || ! kill -0 "$RC_DAEMON_PID"; }
metrics_up() {
	ip netns exec "$NS" python3 -c 'import urllib.request; urllib.request.urlopen("http://127.0.0.1:9711/metrics", timeout=2).read()'
}
# stop SIGNAL: send it, wait (10 s) for the exit; sets ST and SECS.
stop() {
	local pid=$RC_DAEMON_PID t0
	t0=$(now)
	ST=0
	kill -"$1" "$pid"
	if ! wait_for 10 eval "! kill -0 $pid"; then
		kill -KILL "$pid"
		ST=killed
	fi
	wait "$pid" || { [ "$ST" = killed ] || ST=$?; }
	SECS=$(printf '%.2f' "$(echo "$(now) - $t0" | bc)")
	RC_DAEMON_PID=
	EAL_DIR_LEFT=0
	[ -e "/var/run/dpdk/$RC_FILE_PREFIX" ] && EAL_DIR_LEFT=1
	rm -rf "/var/run/dpdk/$RC_FILE_PREFIX"
}
line_of() { grep -n "$1" "$2" | head -1 | cut -d: -f1; }

write_conf 20
t0=$(now)
start "$WORK/d1.log"
# Serving, by READY=1 or (a daemon without it) by its log line and socket.
serving() { ready && { grep -q "^READY=1" "$WORK/notify.log" || { grep -q "ringcached: ready" "$WORK/d1.log" && [ -S "$SOCK" ]; }; }; }
wait_for 30 serving || true
kill -0 "$RC_DAEMON_PID" 2>/dev/null || { fail "ringcached exited during start-up"; cat "$WORK/d1.log"; exit 1; }
printf 'start-to-ready %.2f s\n' "$(echo "$(now) - $t0" | bc)"
if grep -q "^READY=1" "$WORK/notify.log"; then
	pass "READY=1 sent"
	# READY=1 came last: everything must already serve.
	[ -S "$SOCK" ] && pass "control socket there at READY=1" || fail "no control socket at READY=1"
	expect "control.socket_group" "$(stat -c %G "$SOCK")" daemon
	metrics_up && pass "metrics serve at READY=1" || fail "metrics do not serve at READY=1"
else
	fail "no READY=1 within 30 s"
	wait_for 10 metrics_up || true
fi
grep -q "ringcached: ready" "$WORK/d1.log" && pass "ready logged" || fail "ready not logged"
m=$(line_of "metrics at" "$WORK/d1.log")
c=$(line_of "control socket" "$WORK/d1.log")
r=$(line_of "ringcached: ready" "$WORK/d1.log")
[ -n "$m" ] && [ -n "$c" ] && [ -n "$r" ] && [ "$r" -gt "$m" ] && [ "$r" -gt "$c" ] &&
	pass "ready logged after the control socket and metrics lines" ||
	fail "ready logged at line $r, control socket at $c, metrics at $m"

rc_topo_tap_up 198.18.0.1/24
ip netns exec "$NS" ping -c1 -W5 198.18.0.2 >/dev/null && pass "the data plane answers ping" || fail "no ping reply"

# --- dpdk.eal_args survives, and is not a change on reload ------------------
expect "config show: dpdk.eal_args whole" "$(J config show | py 'd["config"]["dpdk.eal_args"]')" "$EAL"
expect "reload: nothing needs a restart" "$(J config reload | py 'd["restart_needed"]')" "[]"

# --- SIGHUP reloads ----------------------------------------------------------
sed -i 's/^min_gets = 20/min_gets = 77/' "$WORK/rc.conf"
: >"$WORK/notify.log"
kill -HUP "$RC_DAEMON_PID"
min_gets() { [ "$(J config show | py 'd["config"]["alerts.min_gets"]')" = 77 ]; }
wait_for 10 min_gets && pass "SIGHUP applied alerts.min_gets" || fail "SIGHUP did not reload"
kill -0 "$RC_DAEMON_PID" 2>/dev/null && pass "alive after SIGHUP" ||
	{ fail "SIGHUP killed it"; cat "$WORK/d1.log"; exit 1; }
wait_for 10 grep -q "^READY=1" "$WORK/notify.log" || true
expect "RELOADING=1 then READY=1" "$(cut -d' ' -f1 "$WORK/notify.log" | tr '\n' ' ')" "RELOADING=1 READY=1 "
grep -q "SIGHUP: reload: .*\"alerts.min_gets\"" "$WORK/d1.log" && pass "reload logged" || fail "reload not logged"

# --- SIGTERM: clean, quick, quiet --------------------------------------------
: >"$WORK/notify.log"
stop TERM
echo "stop (SIGTERM) took $SECS s"
grep -E "stopped and closed|stopped in" "$WORK/d1.log" || true
expect "SIGTERM: exit 0" "$ST" 0
expect "STOPPING=1 sent" "$(head -1 "$WORK/notify.log" | cut -d' ' -f1)" STOPPING=1
expect "no counter dump by default" "$(grep -c '^ *rx_packets' "$WORK/d1.log" || true)" 0
[ ! -e "$SOCK" ] && pass "socket removed" || fail "socket left behind"
[ ! -e "$RUN" ] && pass "runtime directory it made removed" || fail "runtime directory left behind"
expect "EAL runtime directory removed" "$EAL_DIR_LEFT" 0
[ "$(echo "$SECS < 5" | bc)" = 1 ] && pass "stopped in under 5 s" || fail "stop took $SECS s"

# --- SIGQUIT, with --stats-on-exit; node.log_level ----------------------------
write_conf 20 notice
: >"$WORK/notify.log"
start "$WORK/d2.log" --stats-on-exit
wait_for 30 ready && grep -q "^READY=1" "$WORK/notify.log" ||
	{ fail "second start not ready"; cat "$WORK/d2.log"; exit 1; }
expect "log_level notice: no info lines" "$(grep -c 'ringcached: worker 0 on lcore' "$WORK/d2.log" || true)" 0
grep -q "ringcached: ready" "$WORK/d2.log" && pass "log_level notice: notices kept" || fail "no ready line at notice"
sed -i 's/^log_level = notice/log_level = debug/' "$WORK/rc.conf"
expect "reload applies node.log_level" "$(J config reload | py '"node.log_level" in d["applied"]')" True
stop QUIT
echo "stop (SIGQUIT) took $SECS s"
expect "SIGQUIT: exit 0" "$ST" 0
expect "--stats-on-exit prints the counters" "$(grep -c '^ *rx_packets' "$WORK/d2.log" || true)" 1

# --- a start that fails: metrics port taken ----------------------------------
ip netns exec "$NS" python3 -c '
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 9711)); s.listen(1)
open(sys.argv[1], "w").close()
time.sleep(600)' "$WORK/port-taken" &
HELPERS+=($!)
wait_for 10 test -e "$WORK/port-taken" || { echo "could not take the port"; exit 1; }
write_conf 20
: >"$WORK/notify.log"
start "$WORK/d3.log"
pid=$RC_DAEMON_PID
if wait_for 30 eval "! kill -0 $pid"; then
	st=0; wait "$pid" || st=$?
	RC_DAEMON_PID=
	[ ! -e "/var/run/dpdk/$RC_FILE_PREFIX" ] && pass "failed start: no EAL runtime directory left" ||
		fail "failed start left /var/run/dpdk/$RC_FILE_PREFIX"
	[ "$st" -ne 0 ] && pass "failed start exits non-zero ($st)" || fail "failed start exited 0"
else
	fail "still running with its metrics port taken"
	stop KILL
fi
rm -rf "/var/run/dpdk/$RC_FILE_PREFIX"
expect "never ready" "$(grep -c 'ringcached: ready' "$WORK/d3.log" || true)" 0
expect "no READY=1" "$(grep -c '^READY=1' "$WORK/notify.log" || true)" 0
grep -q "metrics endpoint: cannot listen on 127.0.0.1:9711" "$WORK/d3.log" && pass "says why" || fail "no reason logged"
grep 9711 "$WORK/d3.log" || true
expect "says it in one line" "$(grep -c '9711' "$WORK/d3.log" || true)" 1
[ ! -e "$SOCK" ] && pass "no socket left" || fail "socket left behind"
[ ! -e "$RUN" ] && pass "no runtime directory left" || fail "runtime directory left behind"

if grep -lE "runtime error|AddressSanitizer|LeakSanitizer" "$WORK"/d?.log; then
	fail "sanitizer report"
	grep -hA20 -E "runtime error|AddressSanitizer|LeakSanitizer" "$WORK"/d?.log | head -60
fi
if [ "$fails" -ne 0 ]; then
	for f in d1 d2 d3; do echo "--- $f.log ---"; cat "$WORK/$f.log" 2>/dev/null || true; done
	echo "$fails check(s) failed"; exit 1
fi
echo "all lifecycle checks passed"
