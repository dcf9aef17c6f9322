#!/usr/bin/env bash
# `meson install --destdir` into a staging root: the service layout
# (daemon in sbin, ringctl in bin, the config under sysconfdir, the systemd
# unit, tmpfiles.d and sysusers.d entries, man pages), the demo and
# benchmark tools only under their own install tag, and the unit checked
# by `systemd-analyze verify` (skipped, saying so, where it cannot run).
#
#   install.sh BUILD_DIR
set -euo pipefail
BUILD=$(cd "$1" && pwd)
STAGE=$(mktemp -d /tmp/rcinstall.XXXXXX)
trap 'rm -rf "$STAGE"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
pass() { echo "ok: $*"; }

# Where this build installs (prefix /usr by default: /usr/sbin, /etc).
eval "$(meson introspect "$BUILD" --buildoptions | python3 -c '
import json, os, sys
o = {x["name"]: x["value"] for x in json.load(sys.stdin)}
p = o["prefix"]
for k in ("sbindir", "bindir", "sysconfdir", "mandir", "datadir"):
    print(f"{k.upper()}={os.path.join(p, o[k])}")
print(f"PREFIX={p}")')"
echo "prefix $PREFIX: sbin $SBINDIR, bin $BINDIR, etc $SYSCONFDIR, man $MANDIR"

meson install -C "$BUILD" --no-rebuild --quiet --destdir "$STAGE/svc" \
	--tags runtime,man >/dev/null
meson install -C "$BUILD" --no-rebuild --quiet --destdir "$STAGE/demo" \
	--tags demo >/dev/null

S=$STAGE/svc
UNIT=$S$PREFIX/lib/systemd/system/ringcached.service
for f in "$SBINDIR/ringcached" "$BINDIR/ringctl" "$SBINDIR/ringcache-host-prep"; do
	[ -x "$S$f" ] && pass "installed $f" || fail "missing $f"
done
"$S$SBINDIR/ringcache-host-prep" --version | grep -qx "host-prep (ringcache) $(
	meson introspect --projectinfo "$BUILD" | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')" &&
	pass "ringcache-host-prep knows its version" || fail "ringcache-host-prep --version"
for f in "$SYSCONFDIR/ringcache/ringcache.conf" \
	"$PREFIX/lib/systemd/system/ringcached.service" \
	"$PREFIX/lib/tmpfiles.d/ringcache.conf" \
	"$PREFIX/lib/sysusers.d/ringcache.conf" \
	"$MANDIR/man8/ringcached.8" "$MANDIR/man8/ringctl.8" \
	"$DATADIR/ringcache/monitoring/ringcache-alerts.yml" \
	"$DATADIR/ringcache/monitoring/ringcache-dashboard.json"; do
	[ -f "$S$f" ] && pass "installed $f" || fail "missing $f"
done
for f in ringbench ringdemo ringcached; do
	[ ! -e "$S$BINDIR/$f" ] && pass "$f not in the service install" || fail "$f in the service install"
done
for f in ringbench ringdemo; do
	[ -x "$STAGE/demo$BINDIR/$f" ] && pass "$f under the demo tag" || fail "$f missing under the demo tag"
done
[ ! -e "$STAGE/demo$SBINDIR/ringcached" ] && pass "demo tag holds no daemon" || fail "daemon under the demo tag"
cmp -s "$S$SYSCONFDIR/ringcache/ringcache.conf" "$(dirname "$0")/../config/ringcache.conf" &&
	pass "installed config is the reference config" || fail "installed config differs"

# The unit: what it runs and how systemd talks to it.
want() { grep -qx -- "$1" "$UNIT" && pass "unit: $1" || fail "unit lacks '$1'"; }
want "Type=notify"
want "ExecStart=$SBINDIR/ringcached -c $SYSCONFDIR/ringcache/ringcache.conf"
want 'ExecReload=/bin/kill -HUP $MAINPID'
want "RuntimeDirectory=ringcache"
want "Group=ringcache"
want "Restart=on-failure"
grep -qx "After=.*dpdk.service.*" "$UNIT" && pass "unit: after dpdk.service" || fail "unit not after dpdk.service"
grep -q "^d /run/ringcache 0750 root ringcache" "$S$PREFIX/lib/tmpfiles.d/ringcache.conf" &&
	pass "tmpfiles: /run/ringcache" || fail "tmpfiles entry"

# Man pages: generated from the binaries, and roff that man can render.
grep -q -- '--stats-on-exit' "$S$MANDIR/man8/ringcached.8" && pass "ringcached.8 has --help" || fail "ringcached.8 lacks --help text"
grep -q '^memory = ' "$S$MANDIR/man8/ringcached.8" && pass "ringcached.8 has the reference config" || fail "ringcached.8 lacks the reference"
grep -q '^\.SH SIGNALS' "$S$MANDIR/man8/ringcached.8" && pass "ringcached.8 has SIGNALS" || fail "ringcached.8 lacks SIGNALS"
grep -q 'config show | reload' "$S$MANDIR/man8/ringctl.8" && pass "ringctl.8 has the commands" || fail "ringctl.8 lacks the commands"
if command -v groff >/dev/null; then
	for m in ringcached ringctl; do
		w=$(groff -man -Tutf8 -ww -z "$S$MANDIR/man8/$m.8" 2>&1)
		[ -z "$w" ] && pass "$m.8 renders without warnings" || fail "$m.8: $w"
	done
fi

# systemd-analyze verify: first check it can run here at all.
if ! command -v systemd-analyze >/dev/null; then
	echo "SKIP: systemd-analyze verify (systemd-analyze not installed)"
else
	cat >"$STAGE/probe.service" <<'U'
[Service]
Type=oneshot
ExecStart=/bin/true
U
	if ! systemd-analyze verify "$STAGE/probe.service" >/dev/null 2>&1; then
		echo "SKIP: systemd-analyze verify cannot run in this environment:"
		systemd-analyze verify "$STAGE/probe.service" 2>&1 | head -3 | sed 's/^/  /'
	else
		# The binaries live in the staging root, not yet at their paths.
		sed "s|$SBINDIR/ringcached|$S$SBINDIR/ringcached|g" "$UNIT" >"$STAGE/ringcached.service"
		# --man=no: the man pages are not installed on this host (checked above).
		out=$(systemd-analyze verify --man=no "$STAGE/ringcached.service" 2>&1) && st=0 || st=$?
		# Units the host lacks (dpdk.service) are not the unit's fault.
		out=$(grep -v "dpdk.service" <<<"$out" || true)
		if [ "$st" -eq 0 ] && [ -z "$out" ]; then
			pass "systemd-analyze verify"
		else
			fail "systemd-analyze verify (status $st): $out"
		fi
	fi
fi

if [ "$fails" -ne 0 ]; then echo "$fails check(s) failed"; exit 1; fi
echo "all install checks passed"
