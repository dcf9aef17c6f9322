#!/usr/bin/env bash
# Failover of the TypeScript client (lib/node) between a primary/standby
# pair of real ringcached nodes: the topology of repl.sh (two node
# namespaces on a bridge in a client namespace, a management link between
# the nodes), made here and removed on exit, failure included. The node
# test (lib/node/test/failover.test.ts) writes through the pair, kills the
# primary with SIGKILL itself, and checks that its writes follow the
# standby's promotion and that every acknowledged durable write survived.
# Before the kill, a client that believes the standby is primary must
# follow its NOT_PRIMARY answers (and an unpaired one gets the typed error
# with the epoch).
#   node-repl.sh BUILD_DIR
set -euo pipefail
BUILD=$(cd "$1" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
RC_BIN=$BUILD
# shellcheck source=../../scripts/lib/netns.sh
. "$ROOT/scripts/lib/netns.sh"

[ "$(id -u)" -eq 0 ] || { echo "integration tests need root (netns, DPDK)"; exit 77; }

ID=$$
WORK=$(mktemp -d "/tmp/rcnrepl.XXXXXX")
NSA=rc-na$ID NSB=rc-nb$ID NSC=rc-nc$ID
PIDA= PIDB=
PFX_A=rcna$ID PFX_B=rcnb$ID
stop_all() {
	local p
	for p in $PIDA $PIDB; do kill -TERM "$p" 2>/dev/null || true; done
	for _ in $(seq 1 100); do
		kill -0 $PIDA 2>/dev/null || kill -0 $PIDB 2>/dev/null || break
		sleep 0.1
	done
	for p in $PIDA $PIDB; do kill -KILL "$p" 2>/dev/null || true; done
	rm -rf "/var/run/dpdk/$PFX_A" "/var/run/dpdk/$PFX_B"
}
trap 'stop_all; rc_cleanup; [ -n "${KEEP_LOGS:-}" ] && cp -r "$WORK" /tmp/rcnrepl-last; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM

NET=198.18.0
A=$NET.2 B=$NET.3
MA=198.19.$((ID % 200)).5 MB=198.19.$((ID % 200)).6

rc_ns_create "$NSA"; rc_ns_create "$NSB"; rc_ns_create "$NSC"
ip netns exec "$NSC" ip link add br0 type bridge
ip netns exec "$NSC" ip link set br0 up
for n in a b; do
	ns=$NSA; [ $n = b ] && ns=$NSB
	ip link add "nd$n$ID" type veth peer name "nx$n$ID"
	ip link set "nd$n$ID" netns "$ns"
	ip link set "nx$n$ID" netns "$NSC"
	ip netns exec "$ns" ip link set "nd$n$ID" up
	ip netns exec "$NSC" ip link set "nx$n$ID" master br0 up
done
ip netns exec "$NSC" ip addr add $NET.1/24 dev br0
ip link add "nma$ID" type veth peer name "nmb$ID"
ip link set "nma$ID" netns "$NSA"
ip link set "nmb$ID" netns "$NSB"
ip netns exec "$NSA" ip addr add "$MA/30" dev "nma$ID"
ip netns exec "$NSB" ip addr add "$MB/30" dev "nmb$ID"
ip netns exec "$NSA" ip link set "nma$ID" up
ip netns exec "$NSB" ip link set "nmb$ID" up

conf() { # node-ip role listen peer peer-data-ip state-file
	cat <<CONF
[node]
ip = $1

[dpdk]
workers = 2
mbufs = 4095
idle_sleep_us = 20

[store]
memory = 64M
max_items = 262144
segment_size = 64K
max_value_size = 4K

[acl]
trusted = $NET.0/24

[scaling]
rules =

[control]
metrics_listen =

[repl]
role = $2
listen = $3
peer = $4
peer_data_ip = $5
state_file = $6
key_file = $WORK/repl.key
CONF
}
# The pair's shared secret (repl.key_file): 32 random bytes, mode 600.
head -c 32 /dev/urandom >"$WORK/repl.key"
chmod 600 "$WORK/repl.key"
conf $A primary "$MA:7700" "$MB:7700" $B "$WORK/a.state" >"$WORK/a.conf"
conf $B standby "$MB:7700" "$MA:7700" $A "$WORK/b.state" >"$WORK/b.conf"

start() { # a|b
	local ns=$NSA conf=$WORK/a.conf log=$WORK/a.log pfx=$PFX_A ifc=nda$ID
	[ "$1" = b ] && { ns=$NSB; conf=$WORK/b.conf; log=$WORK/b.log
		pfx=$PFX_B; ifc=ndb$ID; }
	mkdir -p "$WORK/$1"
	# shellcheck disable=SC2046
	ip netns exec "$ns" "$BUILD/app/ringcached/ringcached" -c "$conf" \
		--set "control.socket=$WORK/$1/ctl.sock" -- \
		$(rc_eal_lcores 2) --no-pci --no-huge -m 256 \
		--vdev "net_af_packet0,iface=$ifc,qpairs=2,framecnt=4096" \
		--file-prefix "$pfx" >>"$log" 2>&1 &
	if [ "$1" = a ]; then PIDA=$!; else PIDB=$!; fi
	for _ in $(seq 1 200); do
		grep -q "ringcached: ready" "$log" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "FAIL: node $1 not ready"; cat "$log"; return 1
}
rstat() { # a|b field
	"$BUILD/app/ringctl/ringctl" -s "$WORK/$1/ctl.sock" --json repl status 2>/dev/null |
		python3 -c "import json,sys; print(json.load(sys.stdin)['repl'].get('$2'))" 2>/dev/null || echo none
}
wait_is() { # secs node field value
	local i
	for i in $(seq 1 $(($1 * 20))); do
		[ "$(rstat "$2" "$3")" = "$4" ] && return 0
		sleep 0.05
	done
	echo "FAIL: node $2 $3 is $(rstat "$2" "$3"), not $4, after $1 s"; return 1
}

start a
wait_is 5 a role primary
# something to snapshot (the standby's first sync)
for i in 1 2 3; do
	ip netns exec "$NSC" "$BUILD/tests/integration/rc_cli" $A:7711 set "warm:$i" x >/dev/null
done
start b
wait_is 10 b phase streaming

if [ ! -f "$ROOT/lib/node/dist/test/failover.test.js" ] ||
	[ -n "$(find "$ROOT/lib/node/src" "$ROOT/lib/node/test" -newer "$ROOT/lib/node/dist/test/failover.test.js" -name '*.ts')" ]; then
	(cd "$ROOT/lib/node" && npm run --silent build)
fi
status=0
ip netns exec "$NSC" env RC_PRIMARY=$A:7711 RC_STANDBY=$B:7711 RC_PRIMARY_PID="$PIDA" \
	node --test --test-concurrency=1 "$ROOT/lib/node/dist/test/failover.test.js" || status=$?
kill -0 "$PIDA" 2>/dev/null && { echo "FAIL: the primary was not killed"; status=1; }
wait "$PIDA" 2>/dev/null || true
PIDA=
[ "$(rstat b role)" = primary ] || { echo "FAIL: B is $(rstat b role) after the kill"; status=1; }
echo "B: role $(rstat b role), epoch $(rstat b epoch)"
exit $status
