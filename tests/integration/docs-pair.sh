#!/usr/bin/env bash
# docs/operations.md's replicated pair, built as the guide builds it: the
# key its key block makes, its [repl] snippet (<!-- config: repl -->) on
# both nodes with the addresses mapped to this test's networks, the
# primary started, then the standby; then every block marked
# <!-- test: pair primary|standby --> run on the node that has that role
# when its turn comes, as an operator would type it there. After them:
# the hand-over the guide does must have happened, and the new primary
# must take a write. /etc is an overlay (tests/lib/etc_overlay.sh).
#
#   docs-pair.sh BUILD_DIR
set -euo pipefail
BUILD=$(cd "$1" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
DOC=docs/operations.md

[ "$(id -u)" -eq 0 ] || { echo "integration tests need root (netns, DPDK)"; exit 77; }

# shellcheck source=../lib/etc_overlay.sh
. "$HERE/../lib/etc_overlay.sh"
rc_etc_overlay "$0" "$@"
OV=$RC_ETC_WORK

# shellcheck disable=SC2034 # pair.sh's
TAG=g
RC_BIN=$BUILD
# shellcheck source=../../scripts/lib/netns.sh
. "$SRC/scripts/lib/netns.sh"
# shellcheck source=../../scripts/lib/pair.sh
. "$SRC/scripts/lib/pair.sh"

mkdir -p "$OV/bin" "$OV/blocks" /etc/ringcache
for b in app/ringcached/ringcached app/ringctl/ringctl; do
	ln -s "$BUILD/$b" "$OV/bin/$(basename "$b")"
done
python3 "$HERE/doc_blocks.py" --extract "$SRC/$DOC" "$OV/blocks"

# 1. The key, by the guide's own block (the first that writes it).
key_block=
while IFS=$'\t' read -r n line mode _ _; do
	if [ -z "$key_block" ] && [ "$mode" = run ] &&
		grep -q '> */etc/ringcache/repl.key$' "$OV/blocks/$n.sh"; then
		key_block=$n key_line=$line
	fi
done <"$OV/blocks/blocks.tsv"
[ -n "$key_block" ] || { echo "FAIL: no block of $DOC writes /etc/ringcache/repl.key"; exit 1; }
(cd "$SRC" && bash -e -o pipefail "$OV/blocks/$key_block.sh") ||
	{ echo "FAIL: $DOC:$key_line: the key block failed"; exit 1; }
echo "run: $DOC:$key_line: the key"

# 2. The [repl] snippet on both nodes. Its addresses become this test's;
#    every other line is used as written. Before it, what pair.sh's
#    nodes need on a VM (small store, failure detection at 1 s).
python3 "$HERE/doc_blocks.py" --config "$SRC/$DOC" repl >"$OV/repl.ini"
map() { # role listen peer peer-data-ip state-file
	awk -v role="$1" -v listen="$2" -v peer="$3" -v pdi="$4" -v st="$5" \
		-v sip="$NET.10" '
	/^[ \t]*[a-z_]+[ \t]*=/ {
		k = $1
		v = ""
		if (k == "role") v = role
		else if (k == "listen") v = listen
		else if (k == "peer") v = peer
		else if (k == "peer_data_ip") v = pdi
		else if (k == "state_file") v = st
		else if (k == "service_ip") v = sip
		if (v != "") {
			# the value, keeping whatever follows it (a comment)
			sub(/=[ \t]*[^ \t;#]+/, "= " v)
		}
	}
	{ print }' "$OV/repl.ini"
}
pair_up
for n in a b; do
	if [ $n = a ]; then
		ip=$A role=primary listen=$MA:7700 peer=$MB:7700 pdi=$B
	else
		ip=$B role=standby listen=$MB:7700 peer=$MA:7700 pdi=$A
	fi
	{
		conf1 "$ip" x x x x x | sed '/^\[repl\]/,$d'
		printf '[repl]\nfailover_ms = %s\n' "${PAIR_FAILOVER_MS:-1000}"
		map $role "$listen" "$peer" "$pdi" "$OV/$n.state"
	} >"$WORK/$n.conf"
done
echo "the guide's [repl] on the primary, mapped:"
sed -n '/^\[repl\]/,$p' "$WORK/a.conf" | sed 's/^/    | /'
t0=$(now)
pair_start a || { echo "FAIL: the primary does not start with the guide's [repl]"; exit 1; }
pair_start b || { echo "FAIL: the standby does not start with the guide's [repl]"; exit 1; }
wait_for 60 "the standby in step" is b phase streaming ||
	echo "   (the standby's phase: $(rstat b phase))"
echo "pair up and in step in $(ms_since "$t0") ms"
cli "$A:7711" set docs-pair before >/dev/null || fail "a write on the primary"

# 3. The guide's pair blocks, each on the node with the role it names.
run=0
node_of() { # primary|standby -> a|b
	if [ "$(rstat a role)" = "$1" ]; then echo a; else echo b; fi
}
while IFS=$'\t' read -r n line mode _ _; do
	case $mode in pair:*) ;; *) continue ;; esac
	role=${mode#pair:} node=$(node_of "${mode#pair:}")
	ns=$NSA; [ "$node" = b ] && ns=$NSB
	t1=$(now) st=0
	out=$(cd "$SRC" && ip netns exec "$ns" env PATH="$OV/bin:$PATH" \
		RINGCTL_SOCKET="$WORK/$node/ctl.sock" \
		bash -e -o pipefail "$OV/blocks/$n.sh" 2>&1) || st=$?
	if [ $st = 0 ]; then
		echo "run: $DOC:$line: on the $role (node $node) in $(ms_since "$t1") ms"
		run=$((run + 1))
	else
		fail "$DOC:$line: exit $st on the $role (node $node)"
	fi
	[ -z "$out" ] || sed 's/^/    | /' <<<"$out"
done <"$OV/blocks/blocks.tsv"
[ $run -gt 0 ] || fail "no <!-- test: pair ... --> block in $DOC"

# 4. What the blocks did: the guide hands the role over; the new primary
#    has the write made before it and takes new ones; the old one
#    follows it in step.
wait_for 10 "node b primary" is b role primary || echo "   (after the guide: b is $(rstat b role))"
wait_for 30 "node a in step" is a phase streaming ||
	echo "   (after the guide: a is $(rstat a role), phase $(rstat a phase))"
out=$(cli "$B:7711" get docs-pair || true)
case $out in *before*) pass "the new primary has the write made before the hand-over" ;;
	*) fail "the new primary lacks the earlier write: $out" ;; esac
out=$(cli "$B:7711" set docs-pair after || true)
case $out in *OK*) pass "the new primary takes writes" ;; *) fail "a write on the new primary: $out" ;; esac
pair_logs_clean
echo "docs-pair: $run pair blocks run, $fails failed"
[ $fails -eq 0 ]
