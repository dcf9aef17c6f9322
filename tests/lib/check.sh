# shellcheck shell=bash
# The shell tests' checks: each prints one "ok: WHAT" or "FAIL: WHAT ..."
# line and failures are counted in $fails, so that a test runs every
# check and ends with `checks_done NAME` (exit status 1 if any failed).

fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
pass() { echo "ok: $*"; }
expect() { # what got want
	if [ "$2" = "$3" ]; then pass "$1"; else fail "$1: got '$2', want '$3'"; fi
}
# The exit status of a command, its output dropped.
rc_of() { set +e; "$@" >/dev/null 2>&1; local r=$?; set -e; echo $r; }
checks_done() { # name
	echo "$1: $fails failures"
	[ "$fails" -eq 0 ]
}
