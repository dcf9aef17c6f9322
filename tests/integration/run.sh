#!/usr/bin/env bash
# Integration test: start the real ringcached on a DPDK virtual device in
# namespaces created here, run the CUnit client tests (itest) against it
# over real UDP, stop it, check it stopped cleanly, remove everything.
#
#   run.sh BUILD_DIR tap|veth WORKERS [basic|large]
#
# basic: the protocol, limits, garbage, ACL, amplification, throttling
# and eviction on a small store; large: values up to 1 MiB in segments,
# segment loss and reassembly limits. The tap runs treat the client as
# untrusted (it pads), the veth runs trust it.
set -euo pipefail
BUILD=$(cd "$1" && pwd)
TOPO=$2
WORKERS=${3:-1}
SUITE=${4:-basic}
HERE=$(cd "$(dirname "$0")" && pwd)
RC_BIN=$BUILD
# shellcheck source=../../scripts/lib/netns.sh
. "$HERE/../../scripts/lib/netns.sh"

[ "$(id -u)" -eq 0 ] || { echo "integration tests need root (netns, DPDK)"; exit 77; }

ID=$$
WORK=$(mktemp -d "/tmp/rcit.$TOPO.XXXXXX")
trap 'rc_cleanup; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM

case $TOPO in
tap)
	rc_topo_tap "$ID"
	NET=198.18.0
	TRUSTED=
	;;
veth)
	rc_topo_veth "$ID" 198.18.1.1/24 "$WORKERS"
	NET=198.18.1
	TRUSTED=$NET.1/32
	;;
*) echo "unknown topology $TOPO"; exit 2 ;;
esac
SERVER_IP=$NET.2
# .1 is the client; .100 is rate-limited; .200 is outside acl.allow.
LIMITED_IP=$NET.100
DENIED_IP=$NET.200
# .50 is allowed, untrusted and not rate-limited: the reassembly flooder.
FLOOD_IP=$NET.50

if [ "$SUITE" = large ]; then
	MAX_KEY=250
	MAX_VALUE=1048576
	MEMORY=$((96 * WORKERS))
	STORE="memory = ${MEMORY}M
memory_cap = ${MEMORY}M
max_items = $((4096 * WORKERS))
segment_size = 2M"
	# Room in the packet rings for a 1 MiB value arriving at once.
	[ "$TOPO" = veth ] && RC_EAL_VDEV="$RC_EAL_VDEV,framecnt=4096"
else
	MAX_KEY=200
	MAX_VALUE=1024
	MEMORY=$((4 * WORKERS))
	STORE="; small on purpose: the eviction test fills it many times over
memory = ${MEMORY}M
; a fixed budget: the utilisation rule may not grow it under the tests
memory_cap = ${MEMORY}M
max_items = $((4096 * WORKERS))
; 64 segments per partition, as a real node has hundreds
segment_size = 64K"
fi
cat >"$WORK/test.conf" <<CONF
[node]
ip = $SERVER_IP
base_port = 7711
stats_file = $WORK/stats
stats_interval_ms = 50

[dpdk]
workers = $WORKERS
mbufs = 4095
idle_sleep_us = $([ "$WORKERS" -gt 1 ] && echo 20 || echo 0)

[store]
$STORE
max_key_size = $MAX_KEY
max_value_size = $MAX_VALUE

[acl]
allow = $NET.0/25
trusted = $TRUSTED
; 20 ops/s and a burst of 10 for one source, shared by the workers
rate_limits = $LIMITED_IP/32=20/10

[reassembly]
max_entries = 4
max_entries_per_source = 2
; long enough that a starved machine does not expire the entries a test
; is still building (itest waits for the timeout by the node's counters)
timeout_ms = 2000

[scaling]
; no calendar: budgets and TTLs must not depend on the day the test runs
rules =
; evaluated every second, so the eviction test sees that it changes nothing
interval_s = 1
CONF

# shellcheck disable=SC2046
# The counters at exit go to the log: printed below when a test fails.
RC_DAEMON_OPTS=--stats-on-exit
rc_daemon_start "$RC_NS_SRV" "$WORK/test.conf" "$WORK/daemon.log" \
	$(rc_eal_lcores "$WORKERS") --no-pci --no-huge -m 512 \
	--vdev "$RC_EAL_VDEV"
[ "$TOPO" = tap ] && rc_topo_tap_up $NET.1/24
CLI_IF=$(ip netns exec "$RC_NS_CLI" ip -o -4 addr show | awk -v a="$NET.1/24" '$4==a{print $2}')
ip netns exec "$RC_NS_CLI" ip addr add "$LIMITED_IP/24" dev "$CLI_IF"
ip netns exec "$RC_NS_CLI" ip addr add "$DENIED_IP/24" dev "$CLI_IF"
ip netns exec "$RC_NS_CLI" ip addr add "$FLOOD_IP/24" dev "$CLI_IF"

ip netns exec "$RC_NS_CLI" "$BUILD/app/ringdemo/ringdemo" \
	-s "$SERVER_IP:7711" --wait-ready 60

status=0
# ICMP echo is answered by the node itself.
if ! ip netns exec "$RC_NS_CLI" ping -c 3 -i 0.2 -w 30 -q "$SERVER_IP" >/dev/null; then
	echo "FAIL: no ICMP echo reply from $SERVER_IP"
	status=1
fi
ip netns exec "$RC_NS_CLI" env RC_SERVER="$SERVER_IP:7711" \
	RC_STATS="$WORK/stats" RC_MAX_KEY=$MAX_KEY RC_MAX_VALUE=$MAX_VALUE \
	RC_WORKERS="$WORKERS" RC_MEMORY=$((MEMORY << 20)) RC_SUITE="$SUITE" RC_TRUSTED=$([ -n "$TRUSTED" ] && echo 1 || echo 0) \
	RC_LIMITED_IP=$LIMITED_IP RC_DENIED_IP=$DENIED_IP RC_FLOOD_IP=$FLOOD_IP \
	"$BUILD/tests/integration/itest" || status=$?

if ! rc_daemon_stop; then
	echo "FAIL: ringcached did not stop cleanly on SIGTERM (status ${RC_DAEMON_STATUS:-killed})"
	status=1
fi
if grep -qE "runtime error|AddressSanitizer|LeakSanitizer" "$WORK/daemon.log"; then
	echo "FAIL: sanitizer report from ringcached:"
	grep -A20 -E "runtime error|AddressSanitizer|LeakSanitizer" "$WORK/daemon.log"
	status=1
fi
echo "--- daemon log (non-zero counters) ---"
grep -v ' 0$' "$WORK/daemon.log" || true
icmp=$(awk '$1=="icmp_replies"{print $2}' "$WORK/stats")
if [ "${icmp:-0}" -lt 3 ]; then
	echo "FAIL: icmp_replies is ${icmp:-0}, expected >= 3"
	status=1
fi
if [ "$WORKERS" -gt 1 ]; then
	# af_packet spreads flows over queues by hash, not by port: requests
	# reach the wrong worker and must be handed to the owner.
	handoffs=$(awk '$1=="handoff_in"{print $2}' "$WORK/stats")
	lost=$(awk '$1=="handoff_dropped"{print $2}' "$WORK/stats")
	echo "requests handed between workers: ${handoffs:-0} (dropped ${lost:-0})"
	if [ "${handoffs:-0}" -eq 0 ] || [ "${lost:-0}" -ne 0 ]; then
		echo "FAIL: expected hand-offs between $WORKERS workers and none dropped"
		status=1
	fi
fi
exit $status
