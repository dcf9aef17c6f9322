#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Abuse clients for tests/integration/ctl-abuse.sh, one abuse per call:
#
#   ctl_abuse.py SOCK METRICS ABUSE [ARGS]
#
# While the abuse runs, a prober sends {"cmd":"status"} on its own
# connection every 20 ms and times each answer. Prints one JSON line:
#   {"abuse":..., "probes":N, "probe_max_ms":X, "probe_failed":N,
#    "turn_max_s":T, "turn_le_s":L, ...abuse's own fields}
# turn_max_s is ringcache_control_turn_max_seconds after the abuse (the
# longest turn since the node started); turn_le_s is the upper bound of
# the highest ringcache_control_turn_seconds bucket that grew during the
# abuse (the longest turn of this abuse), null where the node has no
# such histogram. Every abuse is bounded in time; nothing here waits
# without a deadline.
import json
import multiprocessing
import socket
import sys
import time
import urllib.request

SOCK, METRICS, ABUSE = sys.argv[1], sys.argv[2], sys.argv[3]
ARGS = sys.argv[4:]


def scrape():
    with urllib.request.urlopen("http://%s/metrics" % METRICS, timeout=10) as r:
        text = r.read().decode()
    gauge, buckets = None, {"wall": {}, "cpu": {}, "blocked": None}
    for line in text.splitlines():
        if line.startswith("ringcache_control_turn_max_seconds "):
            gauge = float(line.split()[1])
        elif line.startswith("ringcache_control_turns_blocked_total "):
            buckets["blocked"] = float(line.split()[1])
        for k, name in (("wall", "ringcache_control_turn_seconds_bucket{"),
                        ("cpu", "ringcache_control_turn_cpu_seconds_bucket{")):
            if line.startswith(name):
                le = line.split('le="')[1].split('"')[0]
                buckets[k][le] = float(line.split()[-1])
    return gauge, buckets


def grown_le(before, after):
    """Upper bound of the highest bucket whose count grew."""
    if not after:
        return None
    edges = sorted((float("inf") if k == "+Inf" else float(k), k)
                   for k in after)
    prev_b = prev_a = 0.0
    top = 0.0
    for v, k in edges:
        a, b = after[k], before.get(k, 0.0)
        if a - prev_a > b - prev_b:   # this bucket alone grew
            top = v
        prev_a, prev_b = a, b
    return top


def probe(stop, out):
    """In its own process: the abuse's own CPU work (building a 70 MiB
    line) must not be what delays the probes (one interpreter lock)."""
    s = None
    lat, failed, errors = [], 0, []
    while not stop.is_set():
        t0 = time.monotonic()
        try:
            if s is None:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.settimeout(60)
                s.connect(SOCK)
                f = s.makefile("rb")
            s.sendall(b'{"cmd":"status"}\n')
            line = f.readline()
            if not json.loads(line).get("ok"):
                raise OSError("refused: %r" % line[:200])
            lat.append(time.monotonic() - t0)
        except (OSError, ValueError) as e:
            failed += 1
            errors.append(str(e)[:200])
            lat.append(time.monotonic() - t0)
            if s:
                s.close()
            s = None
        stop.wait(0.02)
    if s:
        s.close()
    out.send((lat, failed, errors))


class Prober:
    def __init__(self):
        self.ev = multiprocessing.Event()
        self.rx, tx = multiprocessing.Pipe(False)
        self.p = multiprocessing.Process(target=probe, args=(self.ev, tx),
                                         daemon=True)
        self.lat, self.failed, self.errors = [], 0, []

    def start(self):
        self.p.start()

    def stop_join(self):
        self.ev.set()
        if self.rx.poll(120):
            self.lat, self.failed, self.errors = self.rx.recv()
        self.p.join(10)


def connect():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(SOCK)
    return s


def readline(s, limit=64 << 20):
    buf = b""
    while not buf.endswith(b"\n") and len(buf) < limit:
        k = s.recv(1 << 20)
        if not k:
            break
        buf += k
    return buf


def abuse_stuck(what, seconds):
    """A reader that never reads: large answers pile up on its side."""
    req = {"get": b'{"cmd":"get","key":"big"}\n',
           "stats": b'{"cmd":"stats"}\n'}[what]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(SOCK)
    s.setblocking(False)
    sent, t0, closed = 0, time.monotonic(), False
    while time.monotonic() - t0 < seconds:
        try:
            sent += s.send(req * 16)
        except BlockingIOError:
            time.sleep(0.01)
        except OSError:
            closed = True       # the node dropped us: allowed
            break
    s.close()
    return {"sent_bytes": sent, "dropped_by_node": closed}


def make_line(mib):
    """One request line of mib MiB: a warm array of tiny records."""
    rec = b'{"key":"l%07d","value":"v"},'
    head = b'{"cmd":"warm","records":['
    n = (mib << 20) // len(rec % 0)
    body = head + b"".join(rec % i for i in range(n))
    return body[:-1] + b"]}\n"


def abuse_line(body):
    s = connect()
    s.settimeout(120)
    t0 = time.monotonic()
    out = {"line_bytes": len(body)}
    try:
        s.sendall(body)
        ans = readline(s)
        out["answer"] = ans[:200].decode(errors="replace").strip()
    except OSError as e:
        out["answer"] = "connection: %s" % e
    out["answer_s"] = round(time.monotonic() - t0, 3)
    s.close()
    return out


def make_warm_line(n):
    """n records in one warm request line (what the issue sent)."""
    recs = ",".join('{"key":"w%06d","value":"value-%d"}' % (i, i)
                    for i in range(n))
    return ('{"cmd":"warm","records":[%s]}\n' % recs).encode()


def abuse_idle(n, seconds):
    """n connections that never send a byte; then a status must answer."""
    socks = [connect() for _ in range(n)]
    time.sleep(seconds)
    t0 = time.monotonic()
    s = connect()
    s.sendall(b'{"cmd":"status"}\n')
    ans = readline(s)
    out = {"idle": n, "status_ok": b'"ok":true' in ans,
           "status_s": round(time.monotonic() - t0, 3),
           "answer": ans[:120].decode(errors="replace").strip()}
    for x in socks + [s]:
        x.close()
    return out


def abuse_cmd(line, timeout):
    """One request (flush, warm...) on its own connection."""
    s = connect()
    s.settimeout(timeout)
    t0 = time.monotonic()
    s.sendall(line.encode() + b"\n")
    ans = readline(s)
    out = {"answer": ans[:300].decode(errors="replace").strip(),
           "answer_s": round(time.monotonic() - t0, 3)}
    s.close()
    return out


def measures(pr, g1, b0, b1):
    blocked = None
    if b0["blocked"] is not None and b1["blocked"] is not None:
        blocked = b1["blocked"] - b0["blocked"]
    return {"probes": len(pr.lat),
            "probe_max_ms": round(1000 * max(pr.lat or [0]), 2),
            "probe_failed": pr.failed, "probe_errors": pr.errors[:3],
            "turn_max_s": g1,
            "turn_le_s": grown_le(b0["wall"], b1["wall"]),
            "cpu_le_s": grown_le(b0["cpu"], b1["cpu"]),
            "blocked_turns": blocked}


def main():
    body = None
    if ABUSE == "line":
        body = make_line(int(ARGS[0]))
    elif ABUSE == "warmline":
        body = make_warm_line(int(ARGS[0]))
    g0, b0 = scrape()
    pr = Prober()
    pr.start()
    time.sleep(0.1)
    if ABUSE == "stuck":
        res = abuse_stuck(ARGS[0], float(ARGS[1]))
    elif ABUSE in ("line", "warmline"):
        res = abuse_line(body)
    elif ABUSE == "idle":
        res = abuse_idle(int(ARGS[0]), float(ARGS[1]))
    elif ABUSE == "cmd":
        res = abuse_cmd(ARGS[0], float(ARGS[1]))
    else:
        sys.exit("unknown abuse " + ABUSE)
    time.sleep(0.1)
    pr.stop_join()
    time.sleep(1.1)   # one tick: the gauges are published each second
    g1, b1 = scrape()
    res.update({"abuse": " ".join([ABUSE] + ARGS)})
    res.update(measures(pr, g1, b0, b1))
    print(json.dumps(res))


main()
