#!/usr/bin/env bash
# Warm restart (store.save_file) on a real ringcached (net_tap) in a
# namespace made here: a clean stop saves every item; the next start, with
# another number of workers, loads them (values intact, a TTL that ended
# while down not loaded) and removes the file; a node killed after that
# starts empty (no old copy comes back); a truncated file is refused with
# one clear line, set aside, and the node starts empty.
#
#   warm.sh BUILD_DIR
set -euo pipefail
BUILD=$(cd "$1" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
RC_BIN=$BUILD
# shellcheck source=../../scripts/lib/netns.sh
. "$HERE/../../scripts/lib/netns.sh"
# shellcheck source=../lib/check.sh
. "$HERE/../lib/check.sh"



rc_tap_test warm
NET=198.18.0
SRV=$NET.2:7711
SAVE=$WORK/store.save
N=200
CLI() { ip netns exec "$RC_NS_CLI" "$BUILD/tests/integration/rc_cli" "$SRV" "$@"; }

start() { # workers log
	{ rc_node_conf "$1"; printf '[store]\nsave_file = %s\n' "$SAVE"; } \
		>"$WORK/w.conf"
	rc_tap_node_up "$WORK/w.conf" "$2" "$1"
}
all_back() { # how many of k0..k(N-1) read back with their values
	local i ok=0 got
	for i in $(seq 0 $((N - 1))); do
		got=$(CLI get "k$i" 2>&1 || true)
		if [ "$got" = "OK value-$i-$((i * 7919)) stale=0" ]; then
			ok=$((ok + 1))
		else
			echo "k$i: $got" >&2
		fi
	done
	echo $ok
}

# --- a clean stop saves; the next start (one worker fewer) loads ------------
start 2 "$WORK/d1.log"
for i in $(seq 0 $((N - 1))); do CLI set "k$i" "value-$i-$((i * 7919))" >/dev/null; done
CLI set short "gone by then" 2 >/dev/null
T_SHORT=$(date +%s)
CLI set long "still here" 3600 >/dev/null
expect "items stored" "$(all_back)" $N
rc_daemon_stop || fail "clean stop (status $RC_DAEMON_STATUS)"
# Every item; the 2 s one too unless it ended before the stop (a slow
# machine, a sanitizer build).
SAVED=$(sed -n "s|.*warm restart: saved \([0-9]*\) items to $SAVE,.*|\1|p" "$WORK/d1.log")
[ "$SAVED" = $((N + 2)) ] || [ "$SAVED" = $((N + 1)) ] &&
	pass "the stop saved every live item ($SAVED)" || { fail "save line: '$SAVED' items"; grep warm "$WORK/d1.log" || true; }
[ -s "$SAVE" ] && pass "save file written" || fail "no save file"
# The 2 s TTL ends while the node is down (a wall-clock condition).
while [ "$(date +%s)" -lt $((T_SHORT + 3)) ]; do sleep 0.2; done

start 1 "$WORK/d2.log"
grep -E "warm restart: loaded $((N + 1)) items from $SAVE \($((SAVED - N - 1)) expired while down, 0 refused" "$WORK/d2.log" >/dev/null &&
	pass "loaded; a TTL that ended while down not loaded" || { fail "load line"; grep warm "$WORK/d2.log" || true; }
expect "every item back, values intact" "$(all_back)" $N
expect "TTL item alive" "$(CLI get long)" "OK still here stale=0"
expect "TTL that ended while down" "$(CLI get short || true)" "not found"
[ ! -e "$SAVE" ] && pass "the loaded file is removed" || fail "the loaded file is still there"

# --- a crash saves nothing, and no old copy comes back -----------------------
kill -KILL "$RC_DAEMON_PID"; wait "$RC_DAEMON_PID" 2>/dev/null || true
RC_DAEMON_PID=
rm -rf "/var/run/dpdk/$RC_FILE_PREFIX"
start 2 "$WORK/d3.log"
grep -q "warm restart: no $SAVE, starting empty" "$WORK/d3.log" &&
	pass "after a crash: starting empty, said so" || fail "no 'starting empty' line"
expect "after a crash: the cache is empty" "$(CLI get k0 || true)" "not found"

# --- a truncated file is refused ---------------------------------------------
CLI set k0 again >/dev/null
rc_daemon_stop || fail "clean stop (status $RC_DAEMON_STATUS)"
truncate -s -5 "$SAVE"
start 2 "$WORK/d4.log"
grep -q "warm restart: $SAVE: truncated.*starting empty (the file is now $SAVE.refused)" "$WORK/d4.log" &&
	pass "a truncated file refused in one line" || { fail "no refusal line"; grep warm "$WORK/d4.log" || true; }
expect "refused: nothing loaded" "$(CLI get k0 || true)" "not found"
[ -e "$SAVE.refused" ] && [ ! -e "$SAVE" ] && pass "set aside as .refused" || fail "refused file not set aside"
rc_daemon_stop || fail "clean stop (status $RC_DAEMON_STATUS)"

for f in "$WORK"/d*.log; do
	if grep -qE "runtime error|AddressSanitizer|LeakSanitizer" "$f"; then
		fail "sanitizer report in $f"; grep -A20 -E "runtime error|AddressSanitizer|LeakSanitizer" "$f"
	fi
done
[ "$fails" -eq 0 ] || { echo "$fails check(s) failed"; exit 1; }
