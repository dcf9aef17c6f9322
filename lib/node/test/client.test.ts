// Client unit tests against fake nodes on 127.0.0.x (test/fake-server.ts).
// No sleeps: conditions are awaited, and every test has a timeout so a
// call that never settles fails the test instead of hanging it.
import { test, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import * as P from '../src/proto';
import {
  RingcacheClient, ClientOptions, jsonCodec, stringCodec, TimeoutError, ExistsError, NotFoundError,
  ThrottledError, NotPrimaryError, BusyError, ReadOnlyError, WrongPartitionError, TooLargeError,
  BadRequestError, ServerError, NoMemoryError, UnknownClassError, NotReplicatedError, OverflowError,
  PadRequiredError, RingcacheStatusError, InvalidArgumentError, ClientClosedError, FailoverEvent, RingcacheError,
} from '../src/index';
import { HashRing, keyDigest, partitionOf, ringPosition } from '../src/hash';
import { NearCache } from '../src/nearcache';
import { FakeServer, waitFor } from './fake-server';

const T = { timeout: 20000 };
const clients: RingcacheClient<any>[] = [];
const servers: FakeServer[] = [];
after(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all(servers.map((s) => s.close()));
});

async function server(o: Parameters<typeof FakeServer.start>[0] = {}) {
  const s = await FakeServer.start(o);
  servers.push(s);
  return s;
}
function client<V = Buffer>(o: ClientOptions<V>): RingcacheClient<V> {
  const c = new RingcacheClient<V>({ timeoutMs: 1000, ...o }); // generous: tests that need timeouts set their own
  clients.push(c);
  return c;
}

test('get/set/delete/touch/ping round trips, CAS as bigint', T, async () => {
  const s = await server();
  const c = client({ servers: [s.address] });
  assert.equal(await c.get('nope'), null);
  const cas = await c.set('wedding_42:timeline', Buffer.from('hello'), { flags: 7, ttl: 60, classId: 2 });
  assert.equal(typeof cas, 'bigint');
  const it = await c.get('wedding_42:timeline');
  assert.ok(it);
  assert.equal(it.value.toString(), 'hello');
  assert.equal(it.flags, 7);
  assert.equal(it.cas, cas);
  assert.equal(it.classId, 2);
  assert.equal(it.stale, false);
  const sent = s.received.at(-1)!;
  assert.equal(sent.ops[0].classId, P.CLASS_AUTO, 'get asks with class ff');
  await assert.rejects(c.set('wedding_42:timeline', Buffer.from('x'), { cas: cas + 1n }), ExistsError);
  await assert.rejects(c.set('absent', Buffer.from('x'), { cas: 5n }), NotFoundError);
  const cas2 = await c.set('wedding_42:timeline', Buffer.from('v2'), { cas });
  assert.ok(cas2 > cas);
  assert.equal(await c.touch('wedding_42:timeline', 3600), true);
  assert.equal(await c.touch('absent', 1), false);
  await assert.rejects(c.delete('wedding_42:timeline', { cas: cas }), ExistsError);
  assert.equal(await c.delete('wedding_42:timeline', { cas: cas2 }), true);
  assert.equal(await c.delete('wedding_42:timeline'), false);
  assert.ok((await c.ping(0)) >= 0);
  assert.equal(await c.getString('nope'), null);
  await c.setString('s', 'héllo');
  assert.equal(await c.getString('s'), 'héllo');
  await c.set('u8', new Uint8Array([1, 2, 3]) as Buffer);
  assert.deepEqual([...(await c.get('u8'))!.value], [1, 2, 3]);
  const st = c.stats();
  assert.equal(st.badReplies, 0);
  assert.equal(st.timeouts, 0);
});

test('codecs: JSON and string; bad arguments rejected locally', T, async () => {
  const s = await server();
  const j = client({ servers: [s.address], codec: jsonCodec<{ d: number[] }>() });
  await j.set('j', { d: [1, 2] });
  assert.deepEqual((await j.get('j'))!.value, { d: [1, 2] });
  const t = client({ servers: [s.address], codec: stringCodec });
  await t.set('t', 'wedding');
  assert.equal((await t.get('t'))!.value, 'wedding');
  assert.throws(() => j.nodeFor(''), InvalidArgumentError);
  await assert.rejects(t.get(''), InvalidArgumentError);
  await assert.rejects(t.get('k'.repeat(251)), TooLargeError);
  await assert.rejects(t.setBuffer('k', Buffer.alloc(P.MAX_VALUE + 1)), TooLargeError);
  await assert.rejects(t.set('k', 'v', { ttl: -1 }), InvalidArgumentError);
  await assert.rejects(t.set('k', 'v', { cas: 1n << 64n }), InvalidArgumentError);
  assert.throws(() => new RingcacheClient({ servers: ['nohost'] }), InvalidArgumentError);
  assert.throws(() => new RingcacheClient({ servers: [] }), InvalidArgumentError);
});

test('every status is a typed result or error', T, async () => {
  const s = await server();
  const c = client({ servers: [s.address], timeoutMs: 300 });
  let forced = -1;
  s.hook = (req) => (forced < 0 ? undefined : req.ops.map((o) => ({
    opcode: forced === P.Status.BUSY ? 0 : o.opcode, status: forced, classId: 0xff,
    flags: forced === P.Status.PAD_REQUIRED ? 10 : 0,
  })));
  const expect: Array<[number, any]> = [
    [P.Status.NOT_FOUND, null], [P.Status.EXISTS, ExistsError], [P.Status.TOO_LARGE, TooLargeError],
    [P.Status.BAD_REQUEST, BadRequestError], [P.Status.THROTTLED, ThrottledError],
    [P.Status.NOT_PRIMARY, NotPrimaryError], [P.Status.SERVER_ERROR, ServerError],
    [P.Status.NO_MEMORY, NoMemoryError], [P.Status.UNKNOWN_CLASS, UnknownClassError],
    [P.Status.OVERFLOW, OverflowError], [P.Status.WRONG_PARTITION, WrongPartitionError],
    [P.Status.READ_ONLY, ReadOnlyError], [P.Status.PAD_REQUIRED, PadRequiredError],
    [P.Status.BUSY, BusyError], [P.Status.NOT_REPLICATED, NotReplicatedError],
  ];
  for (const [st, want] of expect) {
    forced = st;
    const op = st === P.Status.NOT_FOUND ? c.get('k') : c.setString('k', 'v', { retries: 1 });
    if (want === null) assert.equal(await op, null);
    else {
      const e = await op.then(() => assert.fail(`status ${st} resolved`), (e) => e);
      assert.ok(e instanceof want, `status ${st}: got ${e}`);
      assert.ok(e instanceof RingcacheStatusError);
      assert.equal(e.status, st);
    }
  }
  forced = 3;
  await assert.rejects(c.ping(0), TooLargeError);
  // NOT_PRIMARY carries the header's epoch.
  forced = P.Status.NOT_PRIMARY;
  s.epoch = 77;
  const np = await c.setString('k', 'v').catch((e) => e);
  assert.equal(np.epoch, 77);
  // THROTTLED / READ_ONLY are not retried; BUSY is, and WRONG_PARTITION is re-routed (3 times).
  forced = P.Status.THROTTLED;
  let n0 = s.received.length;
  await assert.rejects(c.get('k', { retries: 3 }), ThrottledError);
  assert.equal(s.received.length - n0, 1);
  forced = P.Status.BUSY;
  n0 = s.received.length;
  await assert.rejects(c.get('k', { retries: 2 }), BusyError);
  assert.equal(s.received.length - n0, 3);
  forced = P.Status.WRONG_PARTITION;
  n0 = s.received.length;
  await assert.rejects(c.get('k'), WrongPartitionError);
  assert.equal(s.received.length - n0, 4);
  // STALE hit
  forced = -1;
  await c.setString('old', 'v');
  s.hook = (req) => [{ opcode: 1, status: 0, classId: 1, opFlags: P.OPF_STALE, value: Buffer.from('v'), cas: 9n }];
  const it = await c.get('old');
  assert.equal(it!.stale, true);
  assert.equal(c.stats().staleHits, 1);
});

test('partition count learnt from replies; WRONG_PARTITION re-routed; nodeState event', T, async () => {
  const s = await server({ partitions: 4 });
  const c = client({ servers: [s.address] });
  const states: any[] = [];
  c.on('nodeState', (e) => states.push(e));
  // find a key not in partition 0
  let k = 0;
  while (partitionOf(keyDigest(Buffer.from(`key:${k}`)), 4) === 0) k++;
  await c.setString(`key:${k}`, 'v');
  assert.equal(c.nodeState()[0].partitions, 4);
  assert.equal(states.length, 1);
  assert.equal(states[0].partitions, 4);
  assert.equal(c.stats().wrongPartition, 1);
  const n0 = s.received.length;
  for (let i = 0; i < 20; i++) {
    await c.setString(`key:${i}`, `v${i}`);
    assert.equal(await c.getString(`key:${i}`), `v${i}`);
  }
  assert.equal(c.stats().wrongPartition, 1, 'no more re-routes once P is known');
  for (const r of s.received.slice(n0))
    for (const o of r.ops) assert.equal(partitionOf(keyDigest(o.key), 4), r.partition);
});

test('auto-batching: same-turn calls share datagrams within op and size limits', T, async () => {
  const s = await server();
  const c = client({ servers: [s.address] });
  await Promise.all(Array.from({ length: 200 }, (_, i) => c.setString(`b:${i}`, `value-${i}`)));
  const n0 = s.received.length;
  const got = await c.getMany(Array.from({ length: 200 }, (_, i) => `b:${i}`).concat(['b:none']));
  assert.equal(got.length, 201);
  got.slice(0, 200).forEach((it, i) => assert.equal(it!.value.toString(), `value-${i}`));
  assert.equal(got[200], null);
  const reqs = s.received.slice(n0);
  assert.ok(reqs.length < 20, `${reqs.length} datagrams for 201 keys`);
  for (const r of reqs) {
    assert.ok(r.ops.length <= P.MAX_OPS);
    assert.ok(r.raw.length <= P.MAX_DATAGRAM);
    assert.ok(r.raw.length >= P.HDR_LEN + P.REP_OP_LEN * r.ops.length, 'padded to the smallest answer');
  }
  assert.ok(c.stats().batched > 0);
  // OVERFLOW: big values asked together are asked again alone
  await Promise.all([0, 1, 2].map((i) => c.setBuffer(`big:${i}`, Buffer.alloc(1000, i))));
  const big = await c.getMany(['big:0', 'big:1', 'big:2']);
  big.forEach((it, i) => assert.ok(it!.value.equals(Buffer.alloc(1000, i))));
  // getManySettled: per-key outcome
  s.hook = (req) => req.ops.map((o) => ({ opcode: o.opcode, classId: 0xff,
    status: o.key.toString() === 'bad' ? P.Status.SERVER_ERROR : P.Status.NOT_FOUND }));
  const settled = await c.getManySettled(['x', 'bad']);
  assert.deepEqual(settled[0], { ok: true, item: null });
  assert.ok(!settled[1].ok && settled[1].error instanceof ServerError);
  await assert.rejects(c.getMany(['x', 'bad']), ServerError);
  // batch: false sends one op per datagram
  s.hook = null;
  const u = client({ servers: [s.address], batch: false });
  const n1 = s.received.length;
  await u.getMany(['b:1', 'b:2', 'b:3']);
  assert.equal(s.received.length - n1, 3);
});

test('lost replies: idempotent calls retried with fresh random ids; CAS writes are not', T, async () => {
  const s = await server();
  const c = client({ servers: [s.address], timeoutMs: 150, retries: 3, backoffMs: 2 });
  await c.setString('k', 'v');
  let drop = 2;
  s.hook = () => (drop-- > 0 ? null : undefined);
  const n0 = s.received.length;
  assert.equal(await c.getString('k'), 'v');
  const ids = s.received.slice(n0).map((r) => r.header.requestId);
  assert.equal(ids.length, 3);
  assert.equal(new Set(ids).size, 3, 'a fresh id per attempt');
  assert.equal(c.stats().retries, 2);
  assert.equal(c.stats().timeouts, 2);
  // never answered: TimeoutError after 1 + retries attempts
  s.hook = () => null;
  const n1 = s.received.length;
  const e = await c.get('k').catch((x) => x);
  assert.ok(e instanceof TimeoutError);
  assert.equal(s.received.length - n1, 4);
  // CAS set and CAS delete: one attempt only; an unconditional durable set
  // is retried like any unconditional set, DURABLE in every attempt
  const n2 = s.received.length;
  await assert.rejects(c.setString('k', 'w', { cas: 5n }), TimeoutError);
  assert.equal(s.received.length - n2, 1);
  await assert.rejects(c.delete('k', { cas: 5n }), TimeoutError);
  assert.equal(s.received.length - n2, 2);
  await assert.rejects(c.setString('k', 'w', { durable: true }), TimeoutError);
  assert.equal(s.received.length - n2, 6);
  assert.ok(s.received.slice(-4).every((r) => r.header.flags & P.F_DURABLE));
  await assert.rejects(c.setString('k', 'w', { durable: true, cas: 7n }), TimeoutError);
  assert.equal(s.received.length - n2, 7);
  // a plain set and a delete are retried
  const n3 = s.received.length;
  await assert.rejects(c.setString('k', 'w'), TimeoutError);
  await assert.rejects(c.delete('k'), TimeoutError);
  assert.equal(s.received.length - n3, 8);
  // ids are not sequential: unpredictable
  const all = s.received.map((r) => r.header.requestId);
  let seq = 0;
  for (let i = 1; i < all.length; i++) if (all[i] === (all[i - 1] + 1) >>> 0) seq++;
  assert.ok(seq <= 1, 'request ids look sequential');
});

test('duplicate and late replies are discarded, counted stale', T, async () => {
  const s = await server();
  const c = client({ servers: [s.address] });
  await c.setString('k', 'v1');
  s.hook = (req, srv) => {
    const ops = srv.execute(req);
    srv.answer(req, ops);
    srv.answer(req, ops); // duplicate
    return null;
  };
  assert.equal(await c.getString('k'), 'v1');
  await waitFor(() => c.stats().stale >= 1, 5000, 'duplicate counted');
  // a late reply for an earlier attempt never answers the retry
  let first: any = null;
  s.hook = (req, srv) => {
    if (!first) {
      first = req;
      return null;
    }
    // answer the first (timed-out) attempt with a wrong value, then nothing
    srv.answer(first, [{ opcode: 1, status: 0, classId: 0, value: Buffer.from('WRONG') }]);
    return undefined;
  };
  assert.equal(await c.getString('k', { retries: 1, timeoutMs: 200 }), 'v1');
});

test('hostile replies: wrong ids, truncated frames, other sources, mismatched ops: never a wrong value, always settled', T, async () => {
  const s = await server();
  const evil = await server({ host: '127.0.0.2' });
  const c = client({ servers: [s.address], timeoutMs: 150, retries: 1 });
  await c.setString('k', 'good');
  const attacks: Array<(req: any, srv: FakeServer) => void> = [
    // random id
    (req, srv) => srv.answer(req, [{ opcode: 1, status: 0, value: Buffer.from('evil') }], { requestId: (req.header.requestId ^ 0x5a5a) >>> 0 }),
    // truncated: header only, and cut mid-op
    (req, srv) => {
      const b = P.encodeReply({ requestId: req.header.requestId, epoch: 1, nOps: 1, partitions: 1 },
        [{ opcode: 1, status: 0, value: Buffer.from('evil') }]);
      srv.send(0, req.rinfo, b.subarray(0, 20));
      srv.send(0, req.rinfo, b.subarray(0, 30));
      srv.send(0, req.rinfo, b.subarray(0, b.length - 1));
      srv.send(0, req.rinfo, Buffer.concat([b, Buffer.from([0])]));
      srv.send(0, req.rinfo, Buffer.from('garbage'));
    },
    // from another address, right id
    (req) => evil.send(0, req.rinfo, P.encodeReply({ requestId: req.header.requestId, epoch: 1, nOps: 1, partitions: 1 },
      [{ opcode: 1, status: 0, value: Buffer.from('evil') }])),
    // wrong n_ops, wrong opcode, value on a miss, bad partitions, request flags
    (req, srv) => {
      srv.answer(req, [{ opcode: 1, status: 0, value: Buffer.from('evil') }, { opcode: 1, status: 1 }]);
      srv.answer(req, [{ opcode: 2, status: 0, value: Buffer.alloc(0) }]);
      srv.answer(req, [{ opcode: 1, status: 1, value: Buffer.from('evil') }]);
      srv.answer(req, [{ opcode: 1, status: 0, value: Buffer.from('evil') }], { partitions: 0 });
      srv.answer(req, [{ opcode: 1, status: 0, value: Buffer.from('evil') }], { partitions: 60000 });
      const b = P.encodeReply({ requestId: req.header.requestId, epoch: 1, nOps: 1, partitions: 1, flags: 0 },
        [{ opcode: 1, status: 0, value: Buffer.from('evil') }]);
      srv.send(0, req.rinfo, b);
      srv.answer(req, [{ opcode: 1, status: 99 }]);
      srv.answer(req, [{ opcode: 1, status: 0, opFlags: 0x80, value: Buffer.from('evil') }]);
    },
  ];
  for (const attack of attacks) {
    // attack, then the genuine answer: the genuine value wins
    s.hook = (req, srv) => {
      attack(req, srv);
      return undefined;
    };
    assert.equal(await c.getString('k'), 'good');
    // attack only: the call times out, never resolves with the attacker's value
    s.hook = (req, srv) => {
      attack(req, srv);
      return null;
    };
    await assert.rejects(c.getString('k'), TimeoutError);
  }
  const st = c.stats();
  assert.ok(st.badReplies >= 10);
  for (const r of ['wrong_source', 'n_ops_mismatch', 'opcode_mismatch', 'unexpected_value', 'short_header', 'truncated_op', 'trailing_bytes', 'bad_partitions', 'bad_flags', 'bad_status', 'reserved_nonzero'])
    assert.ok(st.badReplyReasons[r] > 0, `reason ${r} counted: ${JSON.stringify(st.badReplyReasons)}`);
  assert.equal(c.nodeState()[0].partitions, 1, 'routing state untouched by hostile replies');
});

test('segment bombs and conflicting duplicate segments: dropped, bounded, settled', T, async () => {
  const s = await server();
  const c = client({ servers: [s.address], timeoutMs: 200, retries: 1 });
  const value = Buffer.alloc(5000, 7);
  await c.setBuffer('seg', value);
  const segsOf = (req: any, v: Buffer) => P.segment(P.encodeReply(
    { requestId: req.header.requestId, epoch: 1, nOps: 1, partitions: 1 },
    [{ opcode: 1, status: 0, classId: 0, value: v }]));
  const attacks: Array<(req: any, srv: FakeServer) => void> = [
    // a claimed 1024-segment reply (above a 1 MiB GET's 723), right id
    (req, srv) => {
      for (let i = 0; i < 50; i++) {
        const b = Buffer.alloc(P.MAX_DATAGRAM);
        P.encodeHeader(b, { version: 1, flags: P.F_REPLY | P.F_SEGMENTED, requestId: req.header.requestId, epoch: 1, nOps: 1, segIndex: i, segCount: 1024, partitions: 1 });
        srv.send(0, req.rinfo, b);
      }
    },
    // many unknown ids
    (req, srv) => {
      for (let i = 0; i < 200; i++) {
        const b = Buffer.alloc(P.MAX_DATAGRAM);
        P.encodeHeader(b, { version: 1, flags: P.F_REPLY | P.F_SEGMENTED, requestId: (req.header.requestId + 1 + i) >>> 0, epoch: 1, nOps: 1, segIndex: 0, segCount: 700, partitions: 1 });
        srv.send(0, req.rinfo, b);
      }
    },
    // a duplicate segment that differs: the message is dropped
    (req, srv) => {
      const bad = segsOf(req, Buffer.alloc(5000, 9));
      srv.send(0, req.rinfo, bad[0]);
    },
    // short non-last segment, segment header disagreeing
    (req, srv) => {
      const g = segsOf(req, Buffer.alloc(5000, 9));
      srv.send(0, req.rinfo, g[1].subarray(0, 100));
      const h = Buffer.from(g[2]);
      h.writeUInt32BE(99, 8); // epoch differs
      srv.send(0, req.rinfo, h);
    },
  ];
  // identical duplicates are fine
  s.hook = (req, srv) => {
    const g = segsOf(req, value);
    for (const x of g) srv.send(0, req.rinfo, x);
    for (const x of g.reverse()) srv.send(0, req.rinfo, x);
    return null;
  };
  assert.ok((await c.getBuffer('seg'))!.value.equals(value));
  for (const attack of attacks) {
    s.hook = (req, srv) => {
      attack(req, srv);
      return null;
    };
    await assert.rejects(c.getBuffer('seg'), TimeoutError);
    s.hook = (req, srv) => {
      attack(req, srv);
      for (const x of segsOf(req, value)) srv.send(0, req.rinfo, x);
      return null;
    };
    // the genuine segments after a conflict are dropped with the message;
    // the retry (fresh id) gets the value
    let attempt = 0;
    s.hook = (req, srv) => {
      if (attempt++ === 0) attack(req, srv);
      for (const x of segsOf(req, value)) srv.send(0, req.rinfo, x);
      return null;
    };
    const it = await c.getBuffer('seg');
    assert.ok(it!.value.equals(value));
  }
  const st = c.stats();
  for (const r of ['too_big', 'segment_conflict', 'segment_mismatch'])
    assert.ok(st.badReplyReasons[r] > 0, `reason ${r} counted: ${JSON.stringify(st.badReplyReasons)}`);
  assert.ok(st.stale >= 200);
});

test('1 MiB values travel in segments both ways', T, async () => {
  const s = await server();
  const c = client({ servers: [s.address], timeoutMs: 1000 });
  const v = Buffer.alloc(P.MAX_VALUE);
  for (let i = 0; i < v.length; i++) v[i] = (i * 31 + 7) & 0xff;
  await c.setBuffer('huge', v);
  const req = s.received.at(-1)!;
  assert.equal(req.ops[0].value.length, P.MAX_VALUE);
  assert.ok(s.datagrams > 700);
  const it = await c.getBuffer('huge');
  assert.ok(it!.value.equals(v));
  const mid = Buffer.alloc(3000, 3);
  await c.setBuffer('mid', mid);
  assert.ok((await c.getBuffer('mid'))!.value.equals(mid));
});

test('PAD_REQUIRED: padded resend, and the padding is remembered per key', T, async () => {
  const s = await server();
  s.trusted = false;
  const c = client({ servers: [s.address] });
  await c.setBuffer('photo:1', Buffer.alloc(300, 1));
  await c.setBuffer('photo:2', Buffer.alloc(3000, 2));
  const n0 = s.received.length;
  assert.equal((await c.getBuffer('photo:1'))!.value.length, 300);
  assert.equal(s.received.length - n0, 2);
  assert.equal(s.received.at(-1)!.raw.length, 40 + 300);
  assert.ok(s.received.at(-1)!.header.flags & P.F_PADDED);
  assert.equal(c.stats().padded, 1);
  // second time: one round trip, padded up front
  const n1 = s.received.length;
  assert.equal((await c.getBuffer('photo:1'))!.value.length, 300);
  assert.equal(s.received.length - n1, 1);
  assert.equal(c.stats().padded, 1);
  assert.equal(c.stats().padHintHits, 1);
  // a padded request larger than a datagram is segmented
  assert.ok((await c.getBuffer('photo:2'))!.value.equals(Buffer.alloc(3000, 2)));
  assert.equal(s.received.at(-1)!.raw.length, 40 + 3000);
  // a value smaller than the request (key 20 bytes) never needs it
  await c.setString('tiny-key-long-enough', 'x');
  const n2 = s.received.length;
  assert.equal(await c.getString('tiny-key-long-enough'), 'x');
  assert.equal(s.received.length - n2, 1);
});

test('two nodes: keys routed by the same ring as libringcache', T, async () => {
  const a = await server({ host: '127.0.0.1' });
  const b = await server({ host: '127.0.0.3', basePort: a.basePort });
  const names = [a.address, b.address];
  const c = client({ servers: names });
  const ring = new HashRing(names);
  const keys = Array.from({ length: 100 }, (_, i) => `guest:${i}`);
  await Promise.all(keys.map((k) => c.setString(k, k)));
  for (const k of keys) {
    const want = ring.lookup(ringPosition(keyDigest(Buffer.from(k))));
    assert.equal(c.nodeFor(k), want);
    assert.ok((want === 0 ? a : b).store.has(k), `${k} on node ${want}`);
    assert.ok(!(want === 0 ? b : a).store.has(k));
  }
  assert.ok(a.store.size > 20 && b.store.size > 20);
  const got = await c.getMany(keys);
  got.forEach((it, i) => assert.equal(it!.value.toString(), keys[i]));
});

test('primary/standby: NOT_PRIMARY moves the pair (CAS write resent once not executed); timeouts fail over idempotent calls', T, async () => {
  const a = await server({ host: '127.0.0.1' });
  const b = await server({ host: '127.0.0.4', basePort: a.basePort });
  a.standby = true; // a was demoted: b is primary
  a.epoch = 3;
  b.epoch = 3;
  const c = client({ servers: [a.address], standbys: [b.address], timeoutMs: 150, retries: 1, failoverMs: 1000 });
  const evs: FailoverEvent[] = [];
  c.on('failover', (e) => evs.push(e));
  const cas = await c.setString('w', 'v1');
  assert.ok(b.store.has('w'));
  assert.equal(evs.length, 1);
  assert.equal(evs[0].reason, 'not_primary');
  assert.equal(c.nodeState()[0].primary, b.address);
  assert.equal(c.stats().notPrimary, 1);
  // CAS write answered NOT_PRIMARY is resent on the other node (not executed)
  b.standby = true;
  a.standby = false;
  a.store.set('w', { ...b.store.get('w')! });
  await c.setString('w', 'v2', { cas });
  assert.equal(a.store.get('w')!.value.toString(), 'v2');
  assert.equal(c.nodeState()[0].primary, a.address);
  // the primary dies (never answers): an idempotent write follows the pair
  b.standby = false;
  a.hook = () => null;
  await c.setString('x', 'v3');
  assert.ok(b.store.has('x'));
  assert.equal(evs.at(-1)!.reason, 'timeout');
  // a CAS write that times out is not resent anywhere
  b.hook = () => null;
  const nA = a.received.length, nB = b.received.length;
  await assert.rejects(c.setString('x', 'v4', { cas: 1n }), TimeoutError);
  assert.equal(a.received.length - nA + b.received.length - nB, 1);
  // no node answers at all: settles with NotPrimary/Timeout by the deadline
  a.hook = () => null;
  await assert.rejects(c.getString('x'), TimeoutError);
});

test('readStandby: GETs go to the standby, then to the primary if it is silent', T, async () => {
  const a = await server({ host: '127.0.0.1' });
  const b = await server({ host: '127.0.0.5', basePort: a.basePort });
  const c = client({ servers: [a.address], standbys: [b.address], readStandby: true, timeoutMs: 250 });
  b.store.set('r', { value: Buffer.from('from-standby'), flags: 0, cas: 1n, classId: 0 });
  a.store.set('r', { value: Buffer.from('from-primary'), flags: 0, cas: 1n, classId: 0 });
  assert.equal(await c.getString('r'), 'from-standby');
  b.hook = () => null;
  assert.equal(await c.getString('r'), 'from-primary');
  await c.setString('w', 'x');
  assert.ok(a.store.has('w'), 'writes go to the primary');
});

test('every call settles by its deadline, and close() settles the rest', T, async () => {
  const s = await server();
  s.hook = () => null;
  const c = client({ servers: [s.address], timeoutMs: 20, retries: 50, deadlineMs: 150 });
  const t0 = Date.now();
  const rs = await Promise.allSettled(Array.from({ length: 300 }, (_, i) => c.getString(`k${i}`)));
  assert.ok(rs.every((r) => r.status === 'rejected' && r.reason instanceof TimeoutError));
  assert.ok(Date.now() - t0 < 150 * 20, 'settled by the deadline, not after all retries');
  // mixed deadline lengths: each settles by its own
  const order: string[] = [];
  const long = c.getString('long', { deadlineMs: 400 }).catch(() => order.push('long'));
  const short = c.getString('short', { deadlineMs: 30 }).catch(() => order.push('short'));
  await Promise.all([long, short]);
  assert.deepEqual(order, ['short', 'long']);
  const c2 = client({ servers: [s.address], timeoutMs: 10000 });
  const p = c2.getString('k');
  await waitFor(() => s.received.length > 0 && c2.stats().requests > 0, 5000, 'sent');
  // one waiting out a long backoff settles on close too
  const c3 = client({ servers: [s.address], timeoutMs: 5, retries: 3, backoffMs: 60000 });
  const p3 = c3.getString('k');
  await waitFor(() => c3.stats().timeouts > 0, 5000, 'first attempt timed out');
  await c3.close();
  await assert.rejects(p3, ClientClosedError);
  await c2.close();
  await assert.rejects(p, ClientClosedError);
  await assert.rejects(c2.getString('k'), ClientClosedError);
});

test('near cache: off by default; bounded; hits counted; own writes invalidate; class allowlist', T, async () => {
  const s = await server();
  const plain = client({ servers: [s.address] });
  await plain.setString('n', 'v1');
  await plain.getString('n');
  const n0 = s.received.length;
  await plain.getString('n');
  assert.equal(s.received.length - n0, 1, 'no L1 by default');
  const c = client({ servers: [s.address], nearCache: { maxEntries: 2, ttlMs: 60000, classes: [0] } });
  assert.equal(await c.getString('n'), 'v1');
  const n1 = s.received.length;
  assert.equal(await c.getString('n'), 'v1');
  assert.equal(s.received.length, n1, 'served from L1');
  assert.equal(c.stats().nearHits, 1);
  await c.setString('n', 'v2');
  assert.equal(await c.getString('n'), 'v2', 'own write invalidates');
  await c.setString('k3', 'x', { classId: 3 });
  await c.getString('k3');
  const n2 = s.received.length;
  await c.getString('k3');
  assert.equal(s.received.length - n2, 1, 'class 3 not cached');
  // NearCache bounds with an injected clock
  let now = 0;
  const nc = new NearCache<string>({ maxEntries: 3, maxBytes: 100, ttlMs: 10 }, () => now);
  nc.set('a', 'A', 0, 10);
  nc.set('b', 'B', 0, 10);
  nc.set('c', 'C', 0, 10);
  nc.get('a');
  nc.set('d', 'D', 0, 10);
  assert.equal(nc.get('b'), undefined, 'LRU evicted');
  assert.equal(nc.get('a'), 'A');
  nc.set('e', 'E', 0, 95);
  assert.ok(nc.byteSize <= 100);
  now = 11;
  assert.equal(nc.get('e'), undefined, 'expired after ttl');
});

test('random and mutated datagrams: the decoder only ever rejects, the client never crashes or accepts them', T, async () => {
  const frames = JSON.parse(require('node:fs').readFileSync(require('node:path').join(require('./paths').VECTORS, 'frames.json'), 'utf8'));
  const seeds: Buffer[] = frames.frames.filter((f: any) => f.dir === 'reply').map((f: any) => Buffer.from(f.hex, 'hex'));
  let seed = 12345;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed % n;
  };
  const mutate = (b: Buffer) => {
    const m = Buffer.from(b);
    const k = 1 + rnd(4);
    for (let i = 0; i < k; i++) m[rnd(m.length)] = rnd(256);
    return rnd(8) === 0 ? m.subarray(0, rnd(m.length + 1)) : m;
  };
  // decoder: ProtoError or a value, nothing else
  for (let i = 0; i < 20000; i++) {
    const m = mutate(seeds[rnd(seeds.length)]);
    try {
      P.decodeReply(m);
    } catch (e) {
      assert.ok(e instanceof P.ProtoError, String(e));
    }
  }
  // client: mutated replies carrying the live request id, then the genuine one
  const s = await server();
  const c = client({ servers: [s.address], timeoutMs: 300, retries: 2 });
  await c.setString('fz', 'genuine');
  for (let round = 0; round < 20; round++) {
    s.hook = (req, srv) => {
      for (let i = 0; i < 200; i++) {
        const m = mutate(seeds[rnd(seeds.length)]);
        if (m.length >= 8 && rnd(2)) m.writeUInt32BE(req.header.requestId, 4);
        srv.send(0, req.rinfo, m);
      }
      return undefined;
    };
    const it = await c.getString('fz').catch((e) => e);
    // a mutation can be a well-formed reply to this GET (e.g. a miss or a
    // hit with other bytes): the only thing that must never happen is a crash
    // or a reply accepted that does not match the request
    assert.ok(it === null || typeof it === 'string' || it instanceof RingcacheError, String(it));
  }
  s.hook = null;
  assert.equal(await c.getString('fz'), 'genuine');
  assert.ok(c.stats().badReplies > 1000);
});
