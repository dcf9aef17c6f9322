#!/usr/bin/env bash
# The monitoring files in config/monitoring/, without a node: the alert
# rules load (`promtool check rules`) and fire as tests/monitoring/
# alerts-test.yml says (`promtool test rules`); the Grafana dashboard is
# JSON whose every panel query parses as PromQL (checked as recording
# rules). That every metric they name exists is checked against a live
# node by tests/integration/metrics.sh.
#
#   check.sh SOURCE_ROOT
set -euo pipefail
SRC=$(cd "$1" && pwd)
MON=$SRC/config/monitoring
HERE=$SRC/tests/monitoring
command -v promtool >/dev/null || {
	echo "FAIL: promtool missing (Debian package prometheus; scripts/deps installs it)"
	exit 1
}
TMP=$(mktemp -d /tmp/rcmon.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
fails=0
step() { # what command...
	local what=$1
	shift
	if "$@" >"$TMP/out" 2>&1; then
		echo "ok: $what"
	else
		echo "FAIL: $what"
		sed 's/^/  /' "$TMP/out"
		fails=$((fails + 1))
	fi
}
step "alert rules load" promtool check rules "$MON/ringcache-alerts.yml"
step "alert rules fire as tested" promtool test rules "$HERE/alerts-test.yml"
step "dashboard queries parse" sh -c \
	"python3 '$HERE/promql_names.py' as-rules '$MON/ringcache-dashboard.json' '$TMP/dash.json' &&
	 promtool check rules '$TMP/dash.json'"
# The name extraction finds the metrics (a broken extractor would make
# the live check vacuous): a few that must be there.
python3 "$HERE/promql_names.py" names "$MON/ringcache-dashboard.json" \
	"$MON/ringcache-alerts.yml" >"$TMP/names"
for n in ringcache_worker_busy_seconds_total ringcache_repl_role_state \
	ringcache_request_duration_seconds_bucket process_start_time_seconds \
	ringcache_build_info up; do
	grep -qx "$n" "$TMP/names" && echo "ok: names $n" ||
		{ echo "FAIL: the name extraction misses $n"; fails=$((fails + 1)); }
done
[ "$fails" -eq 0 ] || { echo "$fails check(s) failed"; exit 1; }
