#!/usr/bin/env bash
# Integration test of the authenticated management plane (issue 18 M3):
# two ringcached nodes with a shared repl.key_file, as in repl.sh (two
# namespaces on a bridge in a client namespace, a veth pair for the
# management network). From the client namespace, with the peer's source
# address spoofed:
#
#   1. forged heartbeats (PRIMARY at a much higher epoch, old and new
#      payload sizes, 10/s for 3 s) to the primary and the standby: no
#      demotion, no epoch change, no promotion, every one counted
#      (repl bad_auth);
#   2. a genuine heartbeat captured on the bridge and sent again: not
#      acted upon, counted (repl replayed);
#   3. kill -9 of the primary while forged beats keep arriving at the
#      standby: it still promotes, before the forger stops;
#   4. forged HELLOs on the replication stream, from the dead primary's
#      management address: not acted upon, counted.
#
#   repl-auth.sh BUILD_DIR
set -euo pipefail
BUILD=$(cd "$1" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
RC_BIN=$BUILD
# shellcheck source=../../scripts/lib/netns.sh
. "$HERE/../../scripts/lib/netns.sh"

[ "$(id -u)" -eq 0 ] || { echo "integration tests need root (netns, DPDK)"; exit 77; }

# The pair (scripts/lib/pair.sh); the bridge floods (see 3.), and the
# forger stops with everything else.
FPID=
kill_forger() { [ -n "$FPID" ] && kill -TERM "$FPID" 2>/dev/null || true; }
TAG=u PAIR_FLOOD=1 PAIR_EXIT_HOOK=kill_forger
# shellcheck source=../../scripts/lib/pair.sh
. "$HERE/../../scripts/lib/pair.sh"
pair_up
pair_conf
start() { pair_start "$@"; }

# Forge heartbeats: raw IPv4/UDP with the peer's source address, from
# the client namespace. Bounded: COUNT datagrams, one every 100 ms.
# Every other one has the pre-authentication size (48 bytes), the others
# the authenticated size with a random trailer.
forge() { # src-ip dst-ip count
	ip netns exec "$NSC" python3 - "$@" <<'PY'
import os, socket, struct, sys, time
src, dst, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
def beat(n):
    # version 1, epoch 0x7fff0000 + n, PRIMARY, prefer primary,
    # 2 partitions, the highest rank, a stream, seq, time, synced.
    body = struct.pack('<IIBBHIQQQQ', 1, 0x7fff0000 + n, 3, 2, 2,
                       0xffffffff, 0x1234567 | 1, 1 << 40,
                       time.monotonic_ns(), 0)
    return body if n % 2 == 0 else body + os.urandom(56)
t0 = time.monotonic()
for n in range(count):
    p = beat(n)
    udp = struct.pack('!HHHH', 7710, 7710, 8 + len(p), 0) + p
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(udp), n, 0, 64, 17,
                     0, socket.inet_aton(src), socket.inet_aton(dst))
    s.sendto(ip + udp, (dst, 0))
    t = t0 + (n + 1) * 0.1
    time.sleep(max(0.0, t - time.monotonic()))
print("forged %d heartbeats %s -> %s" % (count, src, dst))
PY
}

# 1. A primary, B in step.
start a
wait_for 5 "A primary on its own" is a role primary && pass "A primary, epoch $(rstat a epoch)"
start b
wait_for 10 "B standby" is b role standby && wait_for 10 "B connected" is b connected True && pass "B standby, connected"
ea=$(rstat a epoch) eb=$(rstat b epoch)
da=$(rstat a counters.demotions) pb=$(rstat b counters.promotions)
ra=$(rstat a counters.resets)

# 2. Forged heartbeats to both nodes, 10/s for 3 s each, at once.
forge $B $A 30 & F1=$!
forge $A $B 30 & F2=$!
wait $F1 $F2
# Every forged datagram is counted before it is judged: wait for the
# counts (a deadline, not a sleep), then judge.
wait_for 3 "A counted 30 forged beats" at_least a counters.bad_auth 30 &&
	pass "A: $(rstat a counters.bad_auth) unauthenticated beats counted"
wait_for 3 "B counted 30 forged beats" at_least b counters.bad_auth 30 &&
	pass "B: $(rstat b counters.bad_auth) unauthenticated beats counted"
[ "$(rstat a role)" = primary ] && [ "$(rstat a epoch)" = "$ea" ] &&
	[ "$(rstat a counters.demotions)" = "$da" ] &&
	[ "$(rstat a counters.resets)" = "$ra" ] &&
	pass "A still primary at epoch $ea, no demotion, no resync" ||
	fail "forged beats to A: role $(rstat a role) epoch $(rstat a epoch) (was $ea) demotions $(rstat a counters.demotions) (was $da) resyncs $(rstat a counters.resets) (was $ra)"
[ "$(rstat b role)" = standby ] && [ "$(rstat b epoch)" = "$eb" ] &&
	[ "$(rstat b counters.promotions)" = "$pb" ] &&
	pass "B still standby at epoch $eb, no promotion" ||
	fail "forged beats to B: role $(rstat b role) epoch $(rstat b epoch) (was $eb) promotions $(rstat b counters.promotions) (was $pb)"

# 3. Replay: a genuine heartbeat B -> A captured on the bridge, sent
#    again 10 times. Not acted upon (it is old), counted.
rp=$(rstat a counters.replayed); [[ $rp =~ ^[0-9]+$ ]] || rp=0
ip netns exec "$NSC" python3 - "$B" <<'PY'
import socket, struct, sys, time
b = socket.inet_aton(sys.argv[1])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
s.bind(('br0', 0))
s.settimeout(5)
def beat():
    t0 = time.monotonic()
    while time.monotonic() - t0 < 5:
        f = s.recv(2048)
        ip = f[14:]
        if len(ip) > 28 and ip[9] == 17 and ip[12:16] == b and \
           struct.unpack('!H', ip[22:24])[0] == 7710:
            return f
    print("no heartbeat captured"); sys.exit(1)
f = beat()
# Replay it once B's next one has gone by: A has taken the original by
# then, so each of the 10 copies is a replay.
beat()
for _ in range(10):
    s.send(f)
    time.sleep(0.05)
print("replayed a captured %d-byte heartbeat 10 times" % (len(f) - 42))
PY
wait_for 5 "A counted 10 replayed beats" at_least a counters.replayed $((rp + 10)) &&
	pass "A: $(rstat a counters.replayed) replayed beats counted"
[ "$(rstat a role)" = primary ] && [ "$(rstat a epoch)" = "$ea" ] ||
	fail "after the replay: A $(rstat a role) at epoch $(rstat a epoch)"

# 4. kill -9 of the primary while forged beats (PRIMARY, 10/s for 8 s)
#    reach the standby: it must promote without waiting for them to end.
ba=$(rstat a counters.bad_auth) rpa=$(rstat a counters.replayed)
forge $A $B 80 >"$WORK/forge.log" & FPID=$!
bb=$(rstat b counters.bad_auth)
wait_for 5 "B hears the forger" at_least b counters.bad_auth $((bb + 3))
t_kill=$(now)
kill -KILL "$PIDA"; PIDA=
wait_for 5 "B promotes" is b role primary
t_ask=$(now)
since=$(rstat b role_for_s)
promo_ms=$(echo "($t_ask - $t_kill - $since) * 1000" | bc -l | xargs printf '%.0f')
if kill -0 "$FPID" 2>/dev/null; then
	pass "B promoted ${promo_ms} ms after the kill, while forged beats still came"
else
	fail "B promoted only after the forger stopped (${promo_ms} ms)"
fi
[ "$(rstat b epoch)" = $((ea + 1)) ] && pass "B at epoch $((ea + 1))" ||
	fail "B epoch $(rstat b epoch) after promotion (A had $ea)"
wait "$FPID" || true; FPID=

# 5. The stream: A is dead; from its management address, connections to
#    B's repl.listen that say HELLO, PRIMARY at a much higher epoch:
#    without a trailer, with a random one, and a genuine-size frame with
#    a random tag. B must stay primary at its epoch, and count them.
eb=$(rstat b epoch) bb=$(rstat b counters.bad_auth)
ip netns exec "$NSA" python3 - "$MB" <<'PY'
import os, socket, struct, sys, time
for n, trailer in enumerate([b'', os.urandom(56), os.urandom(56)]):
    body = struct.pack('<IIBBHIQQQQ', 1, 0x7fff0000 + n, 3, 2, 2,
                       0xffffffff, 0x1234567 | 1, 1 << 40,
                       time.monotonic_ns(), 0) + trailer
    s = socket.create_connection((sys.argv[1], 7700), timeout=5)
    s.sendall(struct.pack('<IB', 1 + len(body), 1) + body)
    try:
        s.recv(4096)   # B's HELLO, then its close
    except OSError:
        pass
    s.close()
print("forged 3 HELLOs on the stream")
PY
# What matters is that none is acted upon (below). Each is counted when B
# reads it; a connection B drops while it is still dialing the dead peer
# is refused unread (2 of 3 counted, once in a clean-clone run).
wait_for 5 "B counted forged HELLOs" at_least b counters.bad_auth $((bb + 1)) &&
	pass "B: forged stream frames counted ($(rstat b counters.bad_auth) in all)"
[ "$(rstat b role)" = primary ] && [ "$(rstat b epoch)" = "$eb" ] &&
	pass "B still primary at epoch $eb after forged HELLOs" ||
	fail "forged HELLOs to B: role $(rstat b role) epoch $(rstat b epoch) (was $eb)"
echo "RESULT promotion_ms=$promo_ms bad_auth_a=$ba replayed_a=$rpa bad_auth_b=$(rstat b counters.bad_auth)"

stop_all; PIDA= PIDB=
pair_logs_clean
[ "$fails" -eq 0 ] && echo "replication auth: all passed" || { echo "replication auth: $fails failed"; exit 1; }
