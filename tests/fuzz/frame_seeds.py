#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Seed inputs for fuzz_frame: valid frames of every kind the worker
handles, in fuzz_frame's input format (1 byte of clock advance in ms, then
[u16 length][frame] ...). Writes tests/fuzz/corpus/frame/*.

   python3 tests/fuzz/frame_seeds.py
"""
import os
import struct

NODE_MAC = bytes([2, 0, 0, 0, 0, 2])
PEER_MAC = bytes([2, 0, 0, 0, 0, 1])
NODE_IP = bytes([198, 18, 0, 2])
TRUSTED, UNTRUSTED, LIMITED = (bytes([198, 18, 0, n]) for n in (1, 4, 3))
HERE = os.path.dirname(os.path.abspath(__file__))


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ipv4(src, proto, payload, src_mac=PEER_MAC):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 0, 0x4000,
                    64, proto, 0, src, NODE_IP)
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return NODE_MAC + src_mac + b"\x08\x00" + h + payload


def udp(src, payload, sport=40000, dport=7711, src_mac=PEER_MAC, cks=0):
    return ipv4(src, 17, struct.pack("!HHHH", sport, dport, 8 + len(payload),
                                     cks) + payload, src_mac)


def hdr(n_ops, rid=1, flags=0, idx=0, count=1):
    return struct.pack("!HBBIIHHHH", 0x5243, 1, flags, rid, 0, n_ops, idx,
                       count, 0)


def op(code, key=b"", value=b"", extras=b"", cls=0xFF):
    return struct.pack("!BBHI", code, cls, len(key), len(value)) + extras \
        + key + value


def get(key):
    return op(1, key)


def setop(key, value, ttl=0, cas=0):
    return op(2, key, value, struct.pack("!IIQ", 0, ttl, cas))


def delete(key):
    return op(3, key, extras=struct.pack("!Q", 0))


def touch(key, ttl):
    return op(4, key, extras=struct.pack("!I", ttl))


def segments(body, rid, flags=0):
    n = (len(body) + 1451) // 1452
    return [hdr(1, rid, flags | 2, i, n) + body[i * 1452:(i + 1) * 1452]
            for i in range(n)]


def seed(name, frames, advance=0):
    data = bytes([advance]) + b"".join(struct.pack("!H", len(f)) + f
                                       for f in frames)
    with open(os.path.join(HERE, "corpus", "frame", name), "wb") as f:
        f.write(data)


def main():
    arp = (b"\xff" * 6 + PEER_MAC + b"\x08\x06" +
           struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, PEER_MAC,
                       TRUSTED, b"\0" * 6, NODE_IP))
    icmp = struct.pack("!BBHHH", 8, 0, 0, 1, 1) + b"ping"
    icmp = icmp[:2] + struct.pack("!H", csum(icmp)) + icmp[4:]
    seed("arp_icmp", [arp, ipv4(TRUSTED, 1, icmp)])
    seed("set_get", [udp(TRUSTED, hdr(1, 1) + setop(b"wedding_1", b"v" * 64)),
                     udp(TRUSTED, hdr(1, 2) + get(b"wedding_1"))])
    seed("multi", [udp(TRUSTED, hdr(5, 3) + setop(b"k1", b"a" * 100, 5) +
                       get(b"k1") + touch(b"k1", 9) + get(b"k1") +
                       delete(b"k1"))])
    seed("untrusted_pad", [
        udp(TRUSTED, hdr(1, 4) + setop(b"thumb_9", b"t" * 900)),
        udp(UNTRUSTED, hdr(1, 5, 4) + get(b"thumb_9") + b"\0" * 40),
        udp(UNTRUSTED, hdr(1, 6, 4) + get(b"thumb_9") + b"\0" * 940)])
    big = setop(b"photo_big", bytes(range(256)) * 16)
    seed("segmented_set", [udp(TRUSTED, s) for s in segments(big, 7)] +
         [udp(TRUSTED, hdr(1, 8) + get(b"photo_big"))])
    seed("segment_lost", [udp(TRUSTED, s) for s in segments(big, 9)[:2]], 60)
    seed("throttled", [udp(LIMITED, hdr(1, 10 + i, 4) + get(b"x") + b"\0" * 20)
                       for i in range(30)])
    # Never answered to a group: broadcast and multicast sources, UDP
    # and ICMP; a group source address.
    bcast, mcast = b"\xff" * 6, bytes([1, 0, 0x5E, 0, 0, 1])
    seed("group_source", [
        udp(TRUSTED, hdr(1, 40) + get(b"k"), src_mac=bcast),
        udp(TRUSTED, hdr(1, 41) + get(b"k"), src_mac=mcast),
        ipv4(TRUSTED, 1, icmp, bcast),
        udp(bytes([224, 0, 0, 1]), hdr(1, 42) + get(b"k")),
        udp(bytes([255, 255, 255, 255]), hdr(1, 43) + get(b"k"))])
    # A wrong UDP checksum (software verifies on devices that do not).
    seed("bad_udp_checksum", [udp(TRUSTED, hdr(1, 44) + get(b"k"),
                                  cks=0x1234)])
    # One untrusted source floods unfinished segmented messages.
    seed("segment_flood", [udp(UNTRUSTED, segments(big, 100 + i)[0])
                           for i in range(20)] +
         [udp(TRUSTED, s) for s in segments(big, 200)])


if __name__ == "__main__":
    main()
