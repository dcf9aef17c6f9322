#!/usr/bin/env bash
# Integration test: start the real ringcached on a DPDK virtual device in
# namespaces created here, run the CUnit client tests (itest) against it
# over real UDP, stop it, check it stopped cleanly, remove everything.
#
#   run.sh BUILD_DIR tap|veth WORKERS
set -euo pipefail
BUILD=$(cd "$1" && pwd)
TOPO=$2
WORKERS=${3:-1}
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
	SERVER_IP=198.18.0.2
	;;
veth)
	rc_topo_veth "$ID" 198.18.1.1/24 "$WORKERS"
	SERVER_IP=198.18.1.2
	;;
*) echo "unknown topology $TOPO"; exit 2 ;;
esac

MAX_KEY=200
MAX_VALUE=1024
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
; small on purpose: the eviction test fills it many times over
memory = $((4 * WORKERS))M
max_items = $((4096 * WORKERS))
max_key_size = $MAX_KEY
max_value_size = $MAX_VALUE
; 64 segments per partition, as a real node has hundreds
segment_size = 64K
CONF

# shellcheck disable=SC2046
rc_daemon_start "$RC_NS_SRV" "$WORK/test.conf" "$WORK/daemon.log" \
	$(rc_eal_lcores "$WORKERS") --no-pci --no-huge -m 512 \
	--vdev "$RC_EAL_VDEV"
[ "$TOPO" = tap ] && rc_topo_tap_up 198.18.0.1/24

ip netns exec "$RC_NS_CLI" "$BUILD/app/ringdemo/ringdemo" \
	-s "$SERVER_IP:7711" --wait-ready 10

status=0
# ICMP echo is answered by the node itself.
if ! ip netns exec "$RC_NS_CLI" ping -c 3 -i 0.2 -W 1 -q "$SERVER_IP" >/dev/null; then
	echo "FAIL: no ICMP echo reply from $SERVER_IP"
	status=1
fi
ip netns exec "$RC_NS_CLI" env RC_SERVER="$SERVER_IP:7711" \
	RC_STATS="$WORK/stats" RC_MAX_KEY=$MAX_KEY RC_MAX_VALUE=$MAX_VALUE \
	RC_WORKERS="$WORKERS" "$BUILD/tests/integration/itest" || status=$?

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
	handoffs=$(awk '$1=="handoff_in"{print $2}' "$WORK/stats")
	echo "requests handed between workers: ${handoffs:-0}"
fi
exit $status
