#!/usr/bin/env bash
# Integration tests of the TypeScript client (lib/node) against real
# ringcached nodes on net_tap, in one network namespace made here:
#   node A 198.18.0.2, 2 workers (partitions learnt from replies), the
#          client NOT trusted (PAD_REQUIRED, padded requests);
#   node B 198.18.2.2, 1 worker, the client trusted.
# 198.18.0.100, a second client address, is rate-limited on node A (20
# ops/s, burst 10); read-only and serve-stale modes are switched on node
# B with ringctl.
# lib/node/test/integration.test.ts runs single-node (A), two-node (A+B,
# consistent hashing), large-value and padding cases, and cross-checks
# with libringcache (rc_cli). Everything made here is removed on exit,
# failure included.
#   node.sh BUILD_DIR
set -euo pipefail
BUILD=$(cd "$1" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
RC_BIN=$BUILD
# shellcheck source=../../scripts/lib/netns.sh
. "$ROOT/scripts/lib/netns.sh"

[ "$(id -u)" -eq 0 ] || { echo "integration tests need root (netns, DPDK)"; exit 77; }

ID=$$
WORK=$(mktemp -d "/tmp/rcnode.XXXXXX")
NS=rc-n$ID
PIDS=() PREFIXES=()
stop_nodes() {
	local p
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do
		for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	for p in "${PREFIXES[@]}"; do rm -rf "/var/run/dpdk/$p"; done
	PIDS=()
}
trap 'stop_nodes; RC_DAEMON_PID=; rc_cleanup; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM

conf() { # ip workers trusted rate-limits
	cat <<CONF
[node]
ip = $1
base_port = 7711

[dpdk]
workers = $2
mbufs = 4095
idle_sleep_us = 50

[store]
memory = $((96 * $2))M
max_items = $((4096 * $2))
segment_size = 2M
max_key_size = 250
max_value_size = 1048576

[acl]
allow = 198.18.0.0/16
trusted = $3
rate_limits = ${4:-}

[scaling]
rules =

[control]
metrics_listen =
CONF
}

rc_ns_create "$NS"
# node name ip kernel-side workers trusted [rate-limits]
start_node() {
	local n=$1 ip=$2 kside=$3 w=$4 tr=$5 rl=${6:-}
	mkdir -p "$WORK/$n"   # each node its own control socket, beside its log
	conf "$ip" "$w" "$tr" "$rl" >"$WORK/$n/node.conf"
	# shellcheck disable=SC2046
	rc_daemon_start "$NS" "$WORK/$n/node.conf" "$WORK/$n/node.log" \
		$(rc_eal_lcores "$w") --no-pci --no-huge -m 512 \
		--vdev "net_tap$n,iface=rcn$n$ID" || exit 1
	PIDS+=("$RC_DAEMON_PID") PREFIXES+=("$RC_FILE_PREFIX")
	RC_DAEMON_PID=
	ip netns exec "$NS" ip addr add "$kside/24" dev "rcn$n$ID"
	ip netns exec "$NS" ip link set "rcn$n$ID" up
	ip netns exec "$NS" "$BUILD/app/ringdemo/ringdemo" -s "$ip:7711" --wait-ready 60 >/dev/null
}
start_node 0 198.18.0.2 198.18.0.1 2 "" 198.18.0.100/32=20/10
ip netns exec "$NS" ip addr add 198.18.0.100/24 dev "rcn0$ID"
start_node 1 198.18.2.2 198.18.2.1 1 198.18.2.1/32

if [ ! -f "$ROOT/lib/node/dist/test/integration.test.js" ] ||
	[ -n "$(find "$ROOT/lib/node/src" "$ROOT/lib/node/test" -newer "$ROOT/lib/node/dist/test/integration.test.js" -name '*.ts')" ]; then
	(cd "$ROOT/lib/node" && npm run --silent build)
fi
status=0
ip netns exec "$NS" env RC_NODE_A=198.18.0.2:7711 RC_NODE_B=198.18.2.2:7711 \
	RC_CLI="$BUILD/tests/integration/rc_cli" RC_LIMITED_IP=198.18.0.100 \
	RC_CTL="$BUILD/app/ringctl/ringctl" RC_CTL_SOCK_B="$WORK/1/ringcached.sock" \
	node --test --test-concurrency=1 "$ROOT/lib/node/dist/test/integration.test.js" || status=$?
for p in "${PIDS[@]}"; do
	kill -0 "$p" 2>/dev/null || { echo "FAIL: a ringcached died during the tests"; status=1; }
done
for n in 0 1; do
	if grep -qE "runtime error|AddressSanitizer" "$WORK/$n/node.log"; then
		echo "FAIL: sanitizer report from node $n"; status=1
	fi
done
exit $status
