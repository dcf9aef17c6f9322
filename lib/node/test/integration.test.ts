// Integration tests against real ringcached nodes, started by
// tests/integration/node.sh (RC_NODE_A: 2 workers, client untrusted;
// RC_NODE_B: 1 worker, client trusted). Skipped when those are not set.
import { test, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  RingcacheClient, ClientOptions, jsonCodec, ExistsError, TooLargeError, ThrottledError, ReadOnlyError, MAX_VALUE,
} from '../src/index';

const A = process.env.RC_NODE_A;
const B = process.env.RC_NODE_B;
const CLI = process.env.RC_CLI;
const LIMITED = process.env.RC_LIMITED_IP;
const CTL = process.env.RC_CTL;
const SOCK_B = process.env.RC_CTL_SOCK_B;
const skip = !A || !B ? 'RC_NODE_A/RC_NODE_B not set (run tests/integration/node.sh)' : false;
const T = { timeout: 60000, skip };
const clients: RingcacheClient<any>[] = [];
after(async () => {
  await Promise.all(clients.map((c) => c.close()));
});
function client<V = Buffer>(o: Partial<ClientOptions<V>> & { servers: string[] }): RingcacheClient<V> {
  const c = new RingcacheClient<V>({ timeoutMs: 200, retries: 3, backoffMs: 2, ...o });
  clients.push(c);
  return c;
}
const run = `r${process.pid}-${Date.now()}`;

test('single node: every call, partitions learnt from replies', T, async () => {
  const c = client({ servers: [A!] });
  assert.ok((await c.ping(0)) >= 0);
  const k = `${run}:wedding_42:timeline`;
  assert.equal(await c.get(k), null);
  const cas = await c.setString(k, '{"d":1}', { flags: 7, ttl: 3600 });
  const it = await c.getBuffer(k);
  assert.equal(it!.value.toString(), '{"d":1}');
  assert.equal(it!.flags, 7);
  assert.equal(it!.cas, cas);
  await assert.rejects(c.setString(k, 'x', { cas: cas + 1000n }), ExistsError);
  const cas2 = await c.setString(k, 'v2', { cas });
  assert.ok(cas2 !== cas);
  assert.equal(await c.touch(k, 60), true);
  assert.equal(await c.touch(`${run}:absent`, 60), false);
  await assert.rejects(c.delete(k, { cas }), ExistsError);
  assert.equal(await c.delete(k, { cas: cas2 }), true);
  assert.equal(await c.delete(k), false);
  await assert.rejects(c.setBuffer(`${run}:big`, Buffer.alloc(MAX_VALUE + 1)), TooLargeError);
  // 2 workers: P learnt (WRONG_PARTITION once at most), then direct
  for (let i = 0; i < 20; i++) await c.setString(`${run}:p:${i}`, `v${i}`);
  assert.equal(c.nodeState()[0].partitions, 2);
  assert.ok(c.stats().wrongPartition <= 1);
  const j = client({ servers: [A!], codec: jsonCodec<{ guests: string[] }>() });
  await j.set(`${run}:json`, { guests: ['ada', 'bob'] });
  assert.deepEqual((await j.get(`${run}:json`))!.value, { guests: ['ada', 'bob'] });
  assert.equal(c.stats().badReplies, 0);
});

test('single node: auto-batched multi-get of 1000 keys', T, async () => {
  const c = client({ servers: [A!] });
  const keys = Array.from({ length: 1000 }, (_, i) => `${run}:g:${i}`);
  await Promise.all(keys.map((k, i) => c.setString(k, `guest-${i}`)));
  const r0 = c.stats().requests;
  const got = await c.getMany([...keys, `${run}:g:none`]);
  keys.forEach((k, i) => assert.equal(got[i]!.value.toString(), `guest-${i}`));
  assert.equal(got[1000], null);
  const sent = c.stats().requests - r0;
  assert.ok(sent < 200, `${sent} datagrams for 1001 keys`);
  assert.ok(c.stats().batched > 0);
  assert.equal(c.stats().badReplies, 0);
});

test('large values in segments both ways; untrusted client pads once per key', T, async () => {
  const c = client({ servers: [A!], timeoutMs: 1000 });
  for (const n of [1000, 1500, 3000, 100 * 1024, MAX_VALUE]) {
    const v = Buffer.alloc(n);
    for (let i = 0; i < n; i++) v[i] = (i * 13 + n) & 0xff;
    const k = `${run}:large:${n}`;
    await c.setBuffer(k, v);
    const p0 = c.stats().padded;
    const it = await c.getBuffer(k);
    assert.ok(it!.value.equals(v), `value of ${n} bytes intact`);
    assert.equal(c.stats().padded - p0, 1, `node A does not trust us: one PAD_REQUIRED for ${n}`);
    const again = await c.getBuffer(k);
    assert.ok(again!.value.equals(v));
    assert.equal(c.stats().padded - p0, 1, 'padding remembered: no second PAD_REQUIRED');
  }
  assert.ok(c.stats().padHintHits >= 5);
  assert.equal(c.stats().badReplies, 0);
});

test('two nodes: keys spread by the consistent-hashing ring; trusted node B needs no padding', T, async () => {
  const both = client({ servers: [A!, B!] });
  const onlyA = client({ servers: [A!] });
  const onlyB = client({ servers: [B!] });
  const keys = Array.from({ length: 300 }, (_, i) => `${run}:h:${i}`);
  await Promise.all(keys.map((k) => both.setString(k, k)));
  let na = 0;
  for (const k of keys) {
    const owner = both.nodeFor(k);
    const [a, b] = await Promise.all([onlyA.getString(k), onlyB.getString(k)]);
    if (owner === 0) {
      na++;
      assert.equal(a, k);
      assert.equal(b, null);
    } else {
      assert.equal(b, k);
      assert.equal(a, null);
    }
  }
  assert.ok(na > 60 && na < 240, `node A owns ${na} of 300`);
  const got = await both.getMany(keys);
  got.forEach((it, i) => assert.equal(it!.value.toString(), keys[i]));
  const big = Buffer.alloc(5000, 5);
  const p0 = onlyB.stats().padded;
  await onlyB.setBuffer(`${run}:bigB`, big);
  assert.ok((await onlyB.getBuffer(`${run}:bigB`))!.value.equals(big));
  assert.equal(onlyB.stats().padded - p0, 0);
});

test('interoperates with libringcache (rc_cli) on the same node', { ...T, skip: skip || (!CLI && 'RC_CLI not set') }, async () => {
  const c = client({ servers: [A!] });
  for (let i = 0; i < 8; i++) {
    const k = `${run}:cli:${i}`;
    await c.setString(k, `from-node-${i}`);
    const out = execFileSync(CLI!, [A!, 'get', k], { encoding: 'utf8' });
    assert.match(out, new RegExp(`^OK from-node-${i} `));
    execFileSync(CLI!, [A!, 'set', `${k}:c`, `from-c-${i}`]);
    assert.equal(await c.getString(`${k}:c`), `from-c-${i}`);
  }
});

test('real statuses: THROTTLED for a rate-limited source, READ_ONLY, STALE (serve-stale mode)',
  { ...T, skip: skip || ((!LIMITED || !CTL || !SOCK_B) && 'RC_LIMITED_IP/RC_CTL/RC_CTL_SOCK_B not set') }, async () => {
  // 20 ops/s with a burst of 10 for this address, shared by A's 2 workers
  const lim = client({ servers: [A!], localAddress: LIMITED, retries: 0 });
  let throttled = 0,
    answered = 0;
  for (let i = 0; i < 500 && !(throttled > 0 && answered > 0); i++) {
    try {
      await lim.get(`${run}:t:${i}`);
      answered++;
    } catch (e) {
      assert.ok(e instanceof ThrottledError, String(e));
      throttled++;
    }
  }
  assert.ok(throttled > 0 && answered > 0, `throttled ${throttled}, answered ${answered}`);
  const ctl = (...a: string[]) => execFileSync(CTL!, ['-s', SOCK_B!, ...a], { encoding: 'utf8' });
  const b = client({ servers: [B!] });
  await b.setString(`${run}:ro`, 'before');
  ctl('mode', 'read-only', 'on');
  try {
    await assert.rejects(b.setString(`${run}:ro`, 'during'), ReadOnlyError);
    await assert.rejects(b.delete(`${run}:ro`), ReadOnlyError);
    assert.equal(await b.getString(`${run}:ro`), 'before', 'reads still served');
  } finally {
    ctl('mode', 'read-only', 'auto');
  }
  await b.setString(`${run}:ro`, 'after');
  // an item past its TTL is served, flagged STALE, in serve-stale mode
  await b.setString(`${run}:stale`, 'old', { ttl: 1 });
  ctl('mode', 'serve-stale', 'on');
  try {
    const end = Date.now() + 10000;
    let it = await b.getBuffer(`${run}:stale`);
    while (it && !it.stale && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 50));
      it = await b.getBuffer(`${run}:stale`);
    }
    assert.ok(it && it.stale, 'served stale after expiry');
    assert.equal(it!.value.toString(), 'old');
  } finally {
    ctl('mode', 'serve-stale', 'off');
  }
  assert.equal(await b.getString(`${run}:stale`), null, 'gone once serve-stale is off');
  assert.ok(b.stats().staleHits >= 1);
});
