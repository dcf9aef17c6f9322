#!/usr/bin/env bash
# The shell blocks of docs/operations.md, run as an operator would type
# them, against a real node (net_tap, --no-huge) in a namespace. Blocks
# carry a marker (tests/integration/doc_blocks.py): run, run allowing
# some exit statuses, skip with a reason, printed here, or run on a
# replicated pair by docs-pair.sh; a block without one fails the test.
# /etc is an overlay (tests/lib/etc_overlay.sh): a block that writes
# /etc/ringcache writes into the test's directory, never the host's.
# The node reads /etc/ringcache/ringcache.conf (the reference config, as
# `meson install` lays it down); ringctl finds it through RINGCTL_SOCKET.
#
#   docs.sh BUILD_DIR
set -euo pipefail
BUILD=$(cd "$1" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
DOC=docs/operations.md

[ "$(id -u)" -eq 0 ] || { echo "integration tests need root (netns, DPDK)"; exit 77; }

# shellcheck source=../lib/etc_overlay.sh
. "$HERE/../lib/etc_overlay.sh"
rc_etc_overlay "$0" "$@"
WORK=$RC_ETC_WORK

RC_BIN=$BUILD
# shellcheck source=../../scripts/lib/netns.sh
. "$SRC/scripts/lib/netns.sh"
trap 'rc_cleanup' EXIT
trap 'exit 130' INT TERM

# The installed names, from the build.
mkdir -p "$WORK/bin" "$WORK/blocks" /etc/ringcache
for b in app/ringcached/ringcached app/ringctl/ringctl app/ringdemo/ringdemo app/ringbench/ringbench; do
	ln -s "$BUILD/$b" "$WORK/bin/$(basename "$b")"
done
"$BUILD/app/ringcached/ringcached" --print-reference >/etc/ringcache/ringcache.conf

rc_topo_tap "$$"
# What a VM needs besides the reference config: a smaller store, and
# workers that nap when idle on a shared CPU.
RC_DAEMON_OPTS="--set store.memory=64M --set store.max_items=65536 --set dpdk.mbufs=4095 --set dpdk.idle_sleep_us=20"
# shellcheck disable=SC2046
rc_daemon_start "$RC_NS_SRV" /etc/ringcache/ringcache.conf "$WORK/daemon.log" \
	$(rc_eal_lcores 1) --no-pci --no-huge -m 512 --vdev "$RC_EAL_VDEV"
rc_topo_tap_up 198.18.0.1/24

python3 "$HERE/doc_blocks.py" --extract "$SRC/$DOC" "$WORK/blocks"
run=0 skipped=0 failed=0
now() { date +%s.%N; }
while IFS=$'\t' read -r n line mode statuses why; do
	where="$DOC:$line"
	case $mode in
	skip)
		echo "skip: $where: $why"
		skipped=$((skipped + 1))
		continue
		;;
	pair:*)
		echo "pair: $where: on the ${mode#pair:} (docs-pair.sh)"
		skipped=$((skipped + 1))
		continue
		;;
	run) ;;
	*)
		echo "FAIL: $where: $mode"
		failed=$((failed + 1))
		continue
		;;
	esac
	t0=$(now)
	st=0
	# As typed at a root shell on the node: from the source tree (for
	# scripts/), the installed names first in PATH, stop at the first
	# failing command.
	out=$(cd "$SRC" && ip netns exec "$RC_NS_SRV" env PATH="$WORK/bin:$PATH" \
		RINGCTL_SOCKET="$RC_CTL_SOCK" bash -e -o pipefail "$WORK/blocks/$n.sh" 2>&1) || st=$?
	secs=$(echo "$(now) - $t0" | bc)
	if [[ ",$statuses," == *",$st,"* ]]; then
		printf 'run: %s: exit %s in %.2f s%s\n' "$where" "$st" "$secs" \
			"$([ "$why" != - ] && echo " ($why)")"
		run=$((run + 1))
	else
		printf 'FAIL: %s: exit %s (want %s) in %.2f s\n' "$where" "$st" "$statuses" "$secs"
		failed=$((failed + 1))
	fi
	[ -z "$out" ] || sed 's/^/    | /' <<<"$out"
done <"$WORK/blocks/blocks.tsv"

# What the blocks made must be what the node takes: the replication key.
if [ -f /etc/ringcache/repl.key ]; then
	if "$BUILD/app/ringcached/ringcached" --check -c /etc/ringcache/ringcache.conf \
		--set repl.role=primary --set repl.listen=127.0.0.1:7700 \
		--set repl.peer=127.0.0.2:7700 --set repl.key_file=/etc/ringcache/repl.key 2>"$WORK/check.err"; then
		echo "after: the guide's repl.key passes ringcached --check"
	else
		echo "FAIL: the guide's repl.key is refused: $(cat "$WORK/check.err")"
		failed=$((failed + 1))
	fi
else
	echo "after: no /etc/ringcache/repl.key made by the guide: its key check not run"
fi

kill -0 "$RC_DAEMON_PID" 2>/dev/null || { echo "FAIL: the node died"; failed=$((failed + 1)); tail -20 "$WORK/daemon.log"; }
rc_daemon_stop || { echo "FAIL: unclean stop ($RC_DAEMON_STATUS)"; failed=$((failed + 1)); }
echo "docs: $run blocks run, $skipped skipped (reasons above), $failed failed"
[ $failed -eq 0 ]
