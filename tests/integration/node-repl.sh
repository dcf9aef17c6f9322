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

# The pair (scripts/lib/pair.sh) at the default failover_ms: the client's
# failover is what this test measures.
TAG=n PAIR_FAILOVER_MS=150
# shellcheck source=../../scripts/lib/pair.sh
. "$ROOT/scripts/lib/pair.sh"
pair_up
pair_conf
wait_is() { # secs node field value
	wait_for "$1" "node $2 $3 is $4" is "$2" "$3" "$4"
}

pair_start a
wait_is 5 a role primary
# something to snapshot (the standby's first sync)
for i in 1 2 3; do
	cli $A:7711 set "warm:$i" x >/dev/null
done
pair_start b
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
[ "$fails" -eq 0 ] || status=1
exit $status
