# shellcheck shell=bash
# A replicated pair for integration tests (sourced after netns.sh): two
# ringcached nodes in namespaces made here, each on its own veth
# (net_af_packet) into a client namespace where a bridge joins them (the
# data network), and a veth pair between the two nodes (the management
# network, kernel TCP). One topology for repl.sh, repl-auth.sh and
# repl-resync.sh.
#
# Before sourcing: BUILD (build dir), TAG (one letter, unique per test
# script: names of namespaces, links and DPDK prefixes), optionally
# PAIR_FLOOD=1 (the bridge learns nothing and floods every frame, so the
# client namespace sees the nodes' heartbeats) and PAIR_FAILOVER_MS
# (repl.failover_ms, 1000 unless a test measures client failover).
# Then: pair_up; pair_conf; pair_start a|b [--set k=v]...; ctl, rstat,
# is, wait_for, cli, load, jget, pass, fail; pair_stop a|b; stop_all
# (also run on exit).

ID=$$
WORK=$(mktemp -d "/tmp/rcpair$TAG.XXXXXX")
NSA=rc-${TAG}a$ID NSB=rc-${TAG}b$ID NSC=rc-${TAG}c$ID
PIDA= PIDB=
PFX_A=rc${TAG}a$ID PFX_B=rc${TAG}b$ID
NET=198.18.0
A=$NET.2 B=$NET.3
MA=198.19.$((ID % 200)).1 MB=198.19.$((ID % 200)).2
fails=0
PAIR_EXIT_HOOK=${PAIR_EXIT_HOOK:-}

PAIR_FAST_STOP=0
PAIR_DUMPED=
stop_all() {
	local p
	[ -n "$PAIR_EXIT_HOOK" ] && $PAIR_EXIT_HOOK
	# Killed from outside (meson's timeout sends TERM, then KILL soon
	# after): no clean stop, just leave nothing behind.
	[ "$PAIR_FAST_STOP" = 1 ] && for p in $PIDA $PIDB; do kill -KILL "$p" 2>/dev/null || true; done
	for p in $PIDA $PIDB; do kill -TERM "$p" 2>/dev/null || true; done
	for _ in $(seq 1 100); do
		kill -0 $PIDA 2>/dev/null || kill -0 $PIDB 2>/dev/null || break
		sleep 0.1
	done
	for p in $PIDA $PIDB; do kill -KILL "$p" 2>/dev/null || true; done
	rm -rf "/var/run/dpdk/$PFX_A" "/var/run/dpdk/$PFX_B"
}
# A test that stops on a failure (set -e, or an early exit) still says
# what the nodes said.
trap 'rc=$?; { [ "$rc" -ne 0 ] || [ "$fails" -ne 0 ]; } && [ -z "$PAIR_DUMPED" ] && pair_dump; stop_all; rc_cleanup; rm -rf "$WORK"' EXIT
trap 'PAIR_FAST_STOP=1; exit 130' INT TERM

fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
pass() { echo "ok: $*"; }
now() { date +%s.%N; }
ms_since() { echo "($(now) - $1) * 1000" | bc -l | xargs printf '%.0f'; }

pair_up() {
	local n ns
	rc_ns_create "$NSA"; rc_ns_create "$NSB"; rc_ns_create "$NSC"
	if [ "${PAIR_FLOOD:-0}" = 1 ]; then
		ip netns exec "$NSC" ip link add br0 type bridge ageing_time 0
		ip netns exec "$NSC" ip link set br0 promisc on up
	else
		ip netns exec "$NSC" ip link add br0 type bridge
		ip netns exec "$NSC" ip link set br0 up
	fi
	for n in a b; do
		ns=$NSA; [ $n = b ] && ns=$NSB
		ip link add "${TAG}d$n$ID" type veth peer name "${TAG}x$n$ID"
		ip link set "${TAG}d$n$ID" netns "$ns"
		ip link set "${TAG}x$n$ID" netns "$NSC"
		ip netns exec "$ns" ip link set "${TAG}d$n$ID" up
		ip netns exec "$NSC" ip link set "${TAG}x$n$ID" master br0 up
	done
	ip netns exec "$NSC" ip addr add $NET.1/24 dev br0
	ip link add "${TAG}ma$ID" type veth peer name "${TAG}mb$ID"
	ip link set "${TAG}ma$ID" netns "$NSA"
	ip link set "${TAG}mb$ID" netns "$NSB"
	ip netns exec "$NSA" ip addr add "$MA/30" dev "${TAG}ma$ID"
	ip netns exec "$NSB" ip addr add "$MB/30" dev "${TAG}mb$ID"
	ip netns exec "$NSA" ip link set "${TAG}ma$ID" up
	ip netns exec "$NSB" ip link set "${TAG}mb$ID" up
}

# The management link of node a|b: up or down.
pair_mlink() { # a|b up|down
	local ns=$NSA; [ "$1" = b ] && ns=$NSB
	ip netns exec "$ns" ip link set "${TAG}m$1$ID" "$2"
}

conf1() { # node-ip role listen peer peer-data-ip state-file
	cat <<CONF
[node]
ip = $1

[dpdk]
workers = 2
mbufs = 4095
idle_sleep_us = 10

[store]
memory = 64M
max_items = 262144
segment_size = 64K
max_value_size = 4K

[acl]
trusted = $NET.0/24

[scaling]
rules =

[repl]
# Failure detection at 1 s (the default is 150 ms): on two shared CPUs
# with two nodes' polling workers (sanitizer builds, a CI run beside), a
# node can miss its CPU for hundreds of ms, and a standby that hears
# neither network that long promotes; a test that measures promotion
# reports the time.
failover_ms = ${PAIR_FAILOVER_MS:-1000}
role = $2
listen = $3
peer = $4
peer_data_ip = $5
state_file = $6
key_file = $WORK/repl.key
CONF
}

# a.conf, b.conf (A prefers primary) and the pair's shared secret
# (repl.key_file: 32 random bytes, mode 600).
pair_conf() {
	head -c 32 /dev/urandom >"$WORK/repl.key"
	chmod 600 "$WORK/repl.key"
	conf1 $A primary "$MA:7700" "$MB:7700" $B "$WORK/a.state" >"$WORK/a.conf"
	conf1 $B standby "$MB:7700" "$MA:7700" $A "$WORK/b.state" >"$WORK/b.conf"
}

pair_start() { # a|b [ringcached options]...
	local n=$1 ns=$NSA conf=$WORK/a.conf log=$WORK/a.log pfx=$PFX_A
	shift
	[ "$n" = b ] && { ns=$NSB; conf=$WORK/b.conf; log=$WORK/b.log
		pfx=$PFX_B; }
	mkdir -p "$WORK/$n"
	ip netns exec "$ns" "$BUILD/app/ringcached/ringcached" -c "$conf" \
		--set "control.socket=$WORK/$n/ctl.sock" "$@" -- \
		$(rc_eal_lcores 2) --no-pci --no-huge -m 256 \
		--vdev "net_af_packet0,iface=${TAG}d$n$ID,qpairs=2,framecnt=4096" \
		--file-prefix "$pfx" >>"$log" 2>&1 &
	if [ "$n" = a ]; then PIDA=$!; else PIDB=$!; fi
	local pid=$!
	for _ in $(seq 1 600); do
		grep -q "ringcached: ready" "$log" 2>/dev/null && return 0
		kill -0 "$pid" 2>/dev/null || break # it exited: no wait
		sleep 0.1
	done
	echo "node $n not ready"; cat "$log"; return 1
}

# kill -9 one node (no clean stop: what a crash looks like).
pair_kill() { # a|b
	if [ "$1" = a ]; then kill -KILL "$PIDA"; wait "$PIDA" 2>/dev/null || true; PIDA=
	else kill -KILL "$PIDB"; wait "$PIDB" 2>/dev/null || true; PIDB=; fi
	rm -rf "/var/run/dpdk/$([ "$1" = a ] && echo "$PFX_A" || echo "$PFX_B")"
}

ctl() { # a|b args...
	local n=$1; shift
	"$BUILD/app/ringctl/ringctl" -s "$WORK/$n/ctl.sock" "$@"
}
# rstat a|b field   or   rstat a|b counters.name
rstat() {
	ctl "$1" --json repl status 2>/dev/null |
		python3 -c "
import json,sys
o=json.load(sys.stdin)['repl']
for k in '$2'.split('.'): o=o.get(k) if isinstance(o,dict) else None
print(o)" 2>/dev/null || echo none
}
rcount() { rstat "$1" "counters.$2"; } # a|b counter
at_least() { local v; v=$(rstat "$1" "$2"); [[ $v =~ ^[0-9]+$ ]] && [ "$v" -ge "$3" ]; }
wait_for() { # secs description command...
	local s=$1 d=$2 t0; t0=$(now); shift 2
	while [ "$(ms_since "$t0")" -lt $((s * 1000)) ]; do
		if "$@"; then echo "   ($d: $(ms_since "$t0") ms)"; return 0; fi
		sleep 0.05
	done
	fail "$d (waited ${s}s)"; return 1
}
is() { [ "$(rstat "$1" "$2")" = "$3" ]; }
cli() { ip netns exec "$NSC" "$BUILD/tests/integration/rc_cli" "$@"; }
load() { ip netns exec "$NSC" "$BUILD/tests/integration/rc_repl_load" "$@"; }
jget() { python3 -c "import json,sys; print(json.loads(sys.argv[1])['$2'])" "$1"; }

# Fail on what a node must never log; print its replication lines.
pair_logs_clean() { # extra-bad-regex
	local n bad="AddressSanitizer|runtime error|stream gap|malformed frame|cannot save${1:+|$1}"
	for n in a b; do
		[ -f "$WORK/$n.log" ] || continue
		if grep -E "$bad" "$WORK/$n.log" >/dev/null; then
			fail "node $n logged errors:"; grep -E "$bad" "$WORK/$n.log" | head
		fi
	done
	pair_dump
}

# Each node's replication lines, long control turns and host pauses
# (the last 40 of each).
pair_dump() {
	local n
	PAIR_DUMPED=1
	for n in a b; do
		[ -f "$WORK/$n.log" ] || continue
		echo "--- node $n log (replication, long control turns; last 40)"
		grep -E "repl:|control turn of" "$WORK/$n.log" | tail -40
	done
}
