# shellcheck shell=bash
# Helpers to run ringcached on a DPDK virtual device inside network
# namespaces this project creates, and to clean every trace of it up.
# Addresses come from 198.18.0.0/15 (RFC 2544, benchmarking) and exist
# only inside those namespaces. Sourced by scripts/demo and tests.

RC_NS_LIST=()
RC_DAEMON_PID=
RC_FILE_PREFIX=

rc_log() { printf '%s\n' "$*" >&2; }

rc_ns_create() { # name
	ip netns add "$1"
	RC_NS_LIST+=("$1")
	ip netns exec "$1" ip link set lo up
	# Keep IPv6 router/neighbour chatter off the test links.
	ip netns exec "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
		net.ipv6.conf.default.disable_ipv6=1 >/dev/null || true
}

# Start ringcached in namespace $1 with config file $2, log to $3; the
# remaining arguments are EAL's. Waits for the "ready" log line.
rc_daemon_start() { # ns config log eal-args...
	local ns=$1 conf=$2 log=$3
	shift 3
	RC_FILE_PREFIX="rc$$_${RANDOM}"
	# Each node its own control socket, beside its log.
	RC_CTL_SOCK="$(cd "$(dirname "$log")" && pwd)/ringcached.sock"
	# shellcheck disable=SC2086  # RC_DAEMON_OPTS: more ringcached options
	ip netns exec "$ns" "$RC_BIN/app/ringcached/ringcached" -c "$conf" \
		--set "control.socket=$RC_CTL_SOCK" ${RC_DAEMON_OPTS:-} -- \
		"$@" --file-prefix "$RC_FILE_PREFIX" >"$log" 2>&1 &
	RC_DAEMON_PID=$!
	for _ in $(seq 1 200); do
		if grep -q "ringcached: ready" "$log" 2>/dev/null; then
			return 0
		fi
		if ! kill -0 "$RC_DAEMON_PID" 2>/dev/null; then
			rc_log "ringcached exited during start-up:"
			cat "$log" >&2
			RC_DAEMON_PID=
			return 1
		fi
		sleep 0.1
	done
	rc_log "ringcached not ready after 20 s:"
	cat "$log" >&2
	return 1
}

# SIGTERM, then SIGKILL if it has not gone in 10 s. Returns non-zero if
# it had to be killed or exited with an error (sanitizer reports included);
# the exit status is left in RC_DAEMON_STATUS.
rc_daemon_stop() {
	local pid=$RC_DAEMON_PID
	[ -n "$pid" ] || return 0
	RC_DAEMON_PID=
	RC_DAEMON_STATUS=0
	if kill -TERM "$pid" 2>/dev/null; then
		for _ in $(seq 1 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			rc_log "ringcached did not stop on SIGTERM; killing it"
			RC_DAEMON_STATUS=killed
			kill -KILL "$pid" 2>/dev/null
		fi
		local st=0
		wait "$pid" 2>/dev/null || st=$?
		[ "$RC_DAEMON_STATUS" = killed ] || RC_DAEMON_STATUS=$st
	fi
	# Its EAL runtime directory goes with it (a script that starts
	# several daemons in turn leaves none behind).
	rm -rf "/var/run/dpdk/$RC_FILE_PREFIX"
	[ "$RC_DAEMON_STATUS" = 0 ]
}

rc_cleanup() {
	rc_daemon_stop || true
	local ns
	for ns in "${RC_NS_LIST[@]}"; do
		ip netns del "$ns" 2>/dev/null || true
	done
	RC_NS_LIST=()
	[ -n "$RC_FILE_PREFIX" ] && rm -rf "/var/run/dpdk/$RC_FILE_PREFIX"
	return 0
}

# Topology "tap": one namespace; the daemon's net_tap interface is the
# kernel side, where the client lives. Sets RC_NS_SRV, RC_NS_CLI, RC_EAL_VDEV.
rc_topo_tap() { # id
	RC_NS_SRV="rc-$1"
	RC_NS_CLI=$RC_NS_SRV
	RC_TAP_IF="rct$1"
	rc_ns_create "$RC_NS_SRV"
	RC_EAL_VDEV="net_tap0,iface=$RC_TAP_IF"
}

# After the daemon is up: give the tap's kernel side its address.
rc_topo_tap_up() { # client-ip/prefix
	ip netns exec "$RC_NS_CLI" ip addr add "$1" dev "$RC_TAP_IF"
	ip netns exec "$RC_NS_CLI" ip link set "$RC_TAP_IF" up
}

# The start of a test on one tap node: root or skip (77), $WORK (a
# directory removed on exit, with every namespace and daemon rc_* made,
# failure or not), and the topology (rc_topo_tap).
rc_tap_test() { # name (of the work directory)
	[ "$(id -u)" -eq 0 ] || {
		echo "integration tests need root (netns, DPDK)"
		exit 77
	}
	WORK=$(mktemp -d "/tmp/rc$1.XXXXXX")
	trap 'rc_cleanup; rm -rf "$WORK"' EXIT
	trap 'exit 130' INT TERM
	rc_topo_tap "$$"
}

# A small test node's config on stdout (198.18.0.2, 64 MiB in 64 KiB
# segments, the /24 trusted, no calendar): a test appends the sections it
# needs; a key given again later wins.
rc_node_conf() { # workers
	cat <<CONF
[node]
ip = 198.18.0.2

[dpdk]
workers = $1
mbufs = 4095
idle_sleep_us = 20

[store]
memory = 64M
memory_cap = 64M
max_items = 65536
segment_size = 64K
max_value_size = 4K

[acl]
trusted = 198.18.0.0/24

[scaling]
rules =
CONF
}

# Start ringcached on the tap topology (rc_topo_tap) at 198.18.0.2, give
# the kernel side 198.18.0.1, and wait until it answers. Sets what
# rc_daemon_start sets (RC_CTL_SOCK, RC_DAEMON_PID, ...).
rc_tap_node_up() { # config log workers
	# shellcheck disable=SC2046
	rc_daemon_start "$RC_NS_SRV" "$1" "$2" $(rc_eal_lcores "$3") \
		--no-pci --no-huge -m 512 --vdev "$RC_EAL_VDEV"
	rc_topo_tap_up 198.18.0.1/24
	ip netns exec "$RC_NS_CLI" "$RC_BIN/app/ringdemo/ringdemo" \
		-s 198.18.0.2:7711 --wait-ready 60 >/dev/null
}

# Topology "veth": daemon on one end of a veth pair (net_af_packet),
# client in a second namespace on the other end.
rc_topo_veth() { # id client-ip/prefix qpairs
	RC_NS_SRV="rc-s$1"
	RC_NS_CLI="rc-c$1"
	rc_ns_create "$RC_NS_SRV"
	rc_ns_create "$RC_NS_CLI"
	ip link add "rcs$1" type veth peer name "rcc$1"
	ip link set "rcs$1" netns "$RC_NS_SRV"
	ip link set "rcc$1" netns "$RC_NS_CLI"
	ip netns exec "$RC_NS_SRV" ip link set "rcs$1" up
	ip netns exec "$RC_NS_CLI" ip addr add "$2" dev "rcc$1"
	ip netns exec "$RC_NS_CLI" ip link set "rcc$1" up
	RC_EAL_VDEV="net_af_packet0,iface=rcs$1,qpairs=$3"
}

# EAL lcore map for N workers on a small machine: the control core on CPU
# 0, every worker on CPU 1 (tests may share a CPU between workers).
rc_eal_lcores() { # workers
	local m="0@0" i
	for i in $(seq 1 "$1"); do m="$m,$i@1"; done
	printf -- '--lcores %s' "$m"
}

# Run a memif ringbench (with --json) in namespace $2, output to $1; once
# it has printed its summary, stop the daemon, then let ringbench exit:
# the server closes the link, never the client under a polling worker
# (DPDK 22.11's memif PMD can crash the server otherwise). Returns
# ringbench's status; the daemon's is in RC_DAEMON_STATUS.
rc_memif_bench() { # out ns ringbench-command...
	local out=$1 ns=$2 pid i st=0
	shift 2
	ip netns exec "$ns" "$@" --linger 30 >"$out" &
	pid=$!
	for i in $(seq 1 1800); do
		grep -q '}$' "$out" 2>/dev/null && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	RC_DAEMON_STATUS=0
	rc_daemon_stop || true
	wait "$pid" || st=$?
	return $st
}
