#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Seed inputs for fuzz_client, in its input format (fuzz_client.c): byte
0 the call, byte 1 the client config, then records [kind][u16 len][bytes].
One seed per call with a plain answer, and the hostile replies of issue 22
(stitched segments, wrong opcode, partition claims, stale segments).
Writes tests/fuzz/corpus/client/*.

   python3 tests/fuzz/client_seeds.py
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus", "client")
GET, SET, DELETE, TOUCH, NOOP = 1, 2, 3, 4, 0
CALLS = {"get": 0, "set": 1, "cas_set": 2, "cas_delete": 3, "mget": 4,
         "durable_set": 5, "touch": 6, "ping": 7}
REPLY, SEGMENTED = 0x01, 0x02
SEG_BODY = 1452
# Raw-record kind bits: patch id, from its destination, patch n_ops.
PATCH_ALL = 0x07


def rec(kind, payload):
    return struct.pack("!BH", kind, len(payload)) + payload


def answer(status, value=b""):
    return rec(0x40, bytes([status]) + value)


def timeout():
    return rec(0x80, b"")


def hdr(flags=REPLY, rid=0, epoch=1, n_ops=1, idx=0, count=1, parts=1):
    return struct.pack("!HBBIIHHHH", 0x5243, 1, flags, rid, epoch, n_ops,
                       idx, count, parts)


def rep_op(opcode, status=0, value=b"", cas=1):
    return struct.pack("!BBBBIIQ", opcode, status, 0, 0, len(value), 0,
                       cas) + value


def reply(ops, parts=1, n_ops=None):
    return hdr(n_ops=len(ops) if n_ops is None else n_ops,
               parts=parts) + b"".join(ops)


def segments(msg):
    body = msg[20:]
    n = (len(body) + SEG_BODY - 1) // SEG_BODY
    out = []
    for i in range(n):
        h = bytearray(msg[:20])
        h[3] |= SEGMENTED
        h[14:16] = struct.pack("!H", i)
        h[16:18] = struct.pack("!H", n)
        out.append(bytes(h) + body[i * SEG_BODY:(i + 1) * SEG_BODY])
    return out


def seed(name, call, conf, records):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(bytes([CALLS[call], conf]) + b"".join(records))


def main():
    os.makedirs(OUT, exist_ok=True)
    for call in CALLS:
        seed(call + "-ok", call, 0, [answer(0, b"hello")])
        seed(call + "-retry", call, 2 << 3, [timeout(), answer(0, b"v")])
    seed("get-big", "get", 0, [answer(0, bytes(range(256)) * 12)])
    seed("set-pair-not-primary", "set", 1 | (1 << 3),
         [answer(6), answer(0)])
    seed("get-wrong-partition-4", "get", 0,
         [rec(PATCH_ALL, reply([rep_op(GET, 11)], parts=4)),
          answer(0, b"x")])
    seed("get-wrong-partition-4096", "get", 1 << 3,
         [rec(PATCH_ALL, reply([rep_op(GET, 11)], parts=4096)),
          answer(0, b"x")])
    seed("get-unsolicited-partitions", "get", 0,
         [rec(0x02, reply([rep_op(GET, 0, b"evil")], parts=4096)),
          timeout()])
    seed("get-pad-required", "get", 0,
         [rec(PATCH_ALL, reply([struct.pack("!BBBBIIQ", GET, 13, 0, 0, 0,
                                            100, 0)])),
          answer(0, b"p" * 100)])
    seed("two-nodes", "get", 4 | (1 << 3), [answer(0, b"n")])
    seed("mget-wrong-opcode", "mget", 0,
         [rec(PATCH_ALL, reply([rep_op(DELETE, 0, b"evil")] * 3))])
    seed("mget-overflow", "mget", 0,
         [rec(PATCH_ALL, reply([rep_op(GET, 10)] * 3)),
          answer(0, b"a"), answer(0, b"b"), answer(0, b"k")])
    # Two versions of segment 0, then the rest of one of them.
    good = reply([rep_op(GET, 0, b"A" * 3000)])
    evil = reply([rep_op(GET, 0, b"B" * 3000)])
    sg, se = segments(good), segments(evil)
    seed("get-stitched", "get", 1 << 3,
         [rec(PATCH_ALL, se[0])] + [rec(PATCH_ALL, s) for s in sg] +
         [answer(0, b"A" * 3000)])
    seed("get-duplicate-segment", "get", 0,
         [rec(PATCH_ALL, sg[0]), rec(PATCH_ALL, sg[0])] +
         [rec(PATCH_ALL, s) for s in sg[1:]])
    seed("get-stale-segments", "get", 1 << 3,
         [rec(0x02, hdr(flags=REPLY | SEGMENTED, rid=1, count=2) +
              b"\x77" * SEG_BODY), answer(0, b"s")])
    seed("get-huge-claim", "get", 0,
         [rec(PATCH_ALL, hdr(flags=REPLY | SEGMENTED, count=1024) +
              b"\x66" * SEG_BODY), answer(0, b"m")])
    seed("get-reply-from-elsewhere", "get", 0,
         [rec(0x05, reply([rep_op(GET, 0, b"evil")])), answer(0, b"ok")])


if __name__ == "__main__":
    main()
