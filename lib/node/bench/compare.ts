// Open-loop benchmark of one Node process against one cache server:
// 95:5 get:set, Zipf 0.99 over N keys of 16 bytes, 64-byte values, at
// fixed offered rates. Latency is measured from each request's scheduled
// send time (no coordinated omission). Driven by perf/compare-node.
//
//   node dist/bench/compare.js --target ringcache|redis|memcached \
//     --server HOST:PORT --rates 5000,10000 --duration 3 [--keys 100000]
//
// One JSON line per rate on stdout.
import { RingcacheClient } from '../src/index';

interface Target {
  get(k: string): Promise<unknown>;
  set(k: string, v: Buffer): Promise<unknown>;
  close(): Promise<void>;
}

function arg(name: string, def?: string): string {
  const i = process.argv.indexOf(`--${name}`);
  if (i >= 0 && i + 1 < process.argv.length) return process.argv[i + 1];
  if (def === undefined) {
    console.error(`missing --${name}`);
    process.exit(2);
  }
  return def;
}

const target = arg('target');
const server = arg('server');
const rates = arg('rates', '5000,10000,20000').split(',').map(Number);
const duration = Number(arg('duration', '3'));
const nKeys = Number(arg('keys', '100000'));
const zipfS = Number(arg('zipf', '0.99'));
const getRatio = Number(arg('get-ratio', '0.95'));
const valueSize = Number(arg('value-size', '64'));
const maxInflight = Number(arg('max-inflight', '20000'));
if (duration > 60 || rates.some((r) => !(r > 0 && r <= 1e6))) {
  console.error('bounded runs only: duration <= 60 s, rates <= 1e6');
  process.exit(2);
}

async function makeTarget(): Promise<Target> {
  const [host, port] = server.split(':');
  if (target === 'ringcache') {
    const c = new RingcacheClient({ servers: [server], timeoutMs: 200, retries: 1, backoffMs: 1 });
    await c.ready();
    return { get: (k) => c.getBuffer(k), set: (k, v) => c.setBuffer(k, v), close: () => c.close() };
  }
  if (target === 'redis') {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const Redis = require('ioredis');
    const r = new Redis({ host, port: Number(port), enableAutoPipelining: true, maxRetriesPerRequest: 1 });
    return { get: (k) => r.getBuffer(k), set: (k, v) => r.set(k, v), close: async () => void r.disconnect() };
  }
  if (target === 'memcached') {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const memjs = require('memjs');
    const m = memjs.Client.create(server, { timeout: 0.5, retries: 1, logger: { log: () => {} } });
    return { get: (k) => m.get(k), set: (k, v) => m.set(k, v, { expires: 0 }), close: async () => m.close() };
  }
  throw new Error(`unknown target ${target}`);
}

// Zipf(s) over ranks 0..n-1: inverse CDF by binary search.
const cdf = new Float64Array(nKeys);
{
  let sum = 0;
  for (let i = 0; i < nKeys; i++) cdf[i] = sum += 1 / Math.pow(i + 1, zipfS);
  for (let i = 0; i < nKeys; i++) cdf[i] /= sum;
}
function zipf(): number {
  const u = Math.random();
  let lo = 0,
    hi = nKeys - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (cdf[mid] < u) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
const keyOf = (i: number) => `k${String(i).padStart(15, '0')}`; // 16 bytes
const VALUE = Buffer.alloc(valueSize, 0x61);

function pct(sorted: Float64Array, p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function runRate(t: Target, rate: number): Promise<object> {
  const total = Math.round(rate * duration);
  const lat = new Float64Array(total);
  let nLat = 0,
    errors = 0,
    inflight = 0,
    shed = 0,
    issued = 0,
    lastDone = 0;
  const start = performance.now();
  await new Promise<void>((resolve) => {
    let finished = false;
    const maybeEnd = () => {
      if (!finished && issued >= total && inflight === 0) {
        finished = true;
        resolve();
      }
    };
    const drainDeadline = setTimeout(() => {
      finished = true;
      resolve();
    }, (duration + 5) * 1000);
    const tick = () => {
      const now = performance.now();
      const due = Math.min(total, Math.floor(((now - start) * rate) / 1000));
      while (issued < due) {
        const sched = start + (issued * 1000) / rate;
        issued++;
        if (inflight >= maxInflight) {
          shed++;
          continue;
        }
        inflight++;
        const k = keyOf(zipf());
        const p = Math.random() < getRatio ? t.get(k) : t.set(k, VALUE);
        p.then(
          () => {
            lastDone = performance.now();
            lat[nLat++] = lastDone - sched;
          },
          () => {
            errors++;
          },
        ).finally(() => {
          inflight--;
          if (issued >= total) maybeEnd();
        });
      }
      if (issued < total) setImmediate(tick);
      else {
        maybeEnd();
        if (finished) clearTimeout(drainDeadline);
      }
    };
    tick();
  });
  const sorted = lat.subarray(0, nLat).sort();
  const us = (ms: number) => Math.round(ms * 1000);
  return {
    target, server, offered: rate, duration_s: duration,
    completed: nLat, errors, shed, unfinished: inflight,
    ops_per_s: Math.round(nLat / ((lastDone - start) / 1000)),
    p50_us: us(pct(sorted, 50)), p99_us: us(pct(sorted, 99)), p999_us: us(pct(sorted, 99.9)),
    max_us: us(sorted[sorted.length - 1] ?? NaN),
  };
}

async function main(): Promise<void> {
  const t = await makeTarget();
  // load every key once (bounded concurrency)
  for (let i = 0; i < nKeys; i += 500) {
    const batch: Promise<unknown>[] = [];
    for (let j = i; j < Math.min(nKeys, i + 500); j++) batch.push(t.set(keyOf(j), VALUE));
    await Promise.all(batch);
  }
  for (const r of rates) {
    const res = await runRate(t, r);
    console.log(JSON.stringify(res));
  }
  await t.close();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
