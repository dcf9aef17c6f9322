#!/usr/bin/env python3
"""Load N items (16-byte keys as ringbench/rc_store_bench make them, 64-byte
values) into a memcached on 127.0.0.1:PORT over TCP, pipelined with
noreply, then print its item count and resident memory as JSON.
Used by perf/memory-vs-memcached; bounded by N and a 600 s socket timeout."""
import json
import socket
import sys


def key(k):
    n = str(k)
    return "k:" + "0" * (16 - 2 - len(n)) + n


def stats(sock):
    sock.sendall(b"stats\r\n")
    buf = b""
    while not buf.endswith(b"END\r\n"):
        chunk = sock.recv(65536)
        if not chunk:
            raise SystemExit("memcached closed the connection")
        buf += chunk
    out = {}
    for line in buf.decode().splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "STAT":
            out[parts[1]] = parts[2]
    return out


def rss_of(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def main():
    if len(sys.argv) != 4:
        raise SystemExit("usage: mc_load.py PORT PID N")
    port, pid, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    value = b"v" * 64
    sock = socket.create_connection(("127.0.0.1", port), timeout=600)
    stats(sock)
    rss_empty = rss_of(pid)
    batch = 50000
    for start in range(0, n, batch):
        lines = []
        for k in range(start, min(n, start + batch)):
            lines.append(b"set %s 0 0 64 noreply\r\n%s\r\n"
                         % (key(k).encode(), value))
        sock.sendall(b"".join(lines))
    st = stats(sock)  # answered after every set before it: load is done
    rss = rss_of(pid)
    print(json.dumps({"items": int(st["curr_items"]),
                      "evictions": int(st["evictions"]),
                      "rss_bytes": rss, "rss_empty": rss_empty,
                      "rss_per_item": round(rss / n, 1),
                      "marginal_per_item": round((rss - rss_empty) / n, 1),
                      "version": st.get("version", "?")}))


if __name__ == "__main__":
    main()
