// kill -9 of a pair's primary under write load, against real ringcached
// nodes started by tests/integration/node-repl.sh (RC_PRIMARY, RC_STANDBY,
// RC_PRIMARY_PID). Skipped when those are not set.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { RingcacheClient, FailoverEvent, NotPrimaryError } from '../src/index';

const PRIMARY = process.env.RC_PRIMARY;
const STANDBY = process.env.RC_STANDBY;
const PID = Number(process.env.RC_PRIMARY_PID ?? 0);
const skip = !PRIMARY || !STANDBY || !PID ? 'RC_PRIMARY/RC_STANDBY/RC_PRIMARY_PID not set (run tests/integration/node-repl.sh)' : false;

test('primary killed with SIGKILL: writes follow the promoted standby; durable writes survive', { timeout: 60000, skip }, async () => {
  const c = new RingcacheClient({
    servers: [PRIMARY!], standbys: [STANDBY!], timeoutMs: 50, retries: 2, backoffMs: 2, failoverMs: 3000,
  });
  const evs: FailoverEvent[] = [];
  c.on('failover', (e) => evs.push(e));
  try {
    // A client that believes the standby is primary: writes answered
    // NOT_PRIMARY (not executed, so a CAS write too) move it to the primary.
    const wrong = new RingcacheClient({ servers: [STANDBY!], standbys: [PRIMARY!], timeoutMs: 200, retries: 2 });
    const wevs: FailoverEvent[] = [];
    wrong.on('failover', (e) => wevs.push(e));
    try {
      await wrong.getString('np'); // reads are served by a standby
      assert.equal(wevs.length, 0);
      const cas = await wrong.setString('np', 'v');
      assert.ok(wrong.stats().notPrimary >= 1, 'NOT_PRIMARY seen');
      assert.equal(wevs[0]?.reason, 'not_primary');
      assert.equal(wrong.nodeState()[0].primary, PRIMARY);
      assert.ok(wrong.nodeState()[0].epoch >= 1, 'epoch learnt');
      await wrong.setString('np', 'v2', { cas });
    } finally {
      await wrong.close();
    }
    const alone = new RingcacheClient({ servers: [STANDBY!], timeoutMs: 200 });
    try {
      const e = await alone.setString('x', 'y').catch((x) => x);
      assert.ok(e instanceof NotPrimaryError, String(e));
      assert.ok((e as NotPrimaryError).epoch >= 1);
    } finally {
      await alone.close();
    }
    // durable writes, acknowledged once the standby has them
    const durable = Array.from({ length: 200 }, (_, i) => `d:${i}`);
    // (their replies wait for the standby's ack: a timeout well above it)
    await Promise.all(durable.map((k) => c.setString(k, k, { durable: true, timeoutMs: 1000 })));
    // sequential plain writes (idempotent, so retried across the failover)
    let acked = 0;
    let errors = 0;
    let lastAck = performance.now();
    let maxGap = 0;
    let afterKill = 0;
    let killedAt = 0;
    const end = Date.now() + 20000;
    for (let i = 0; Date.now() < end; i++) {
      if (i === 300) {
        process.kill(PID, 'SIGKILL');
        killedAt = performance.now();
        lastAck = killedAt;
      }
      try {
        await c.setString(`p:${i}`, `v${i}`);
        const t = performance.now();
        if (killedAt) {
          maxGap = Math.max(maxGap, t - lastAck);
          afterKill++;
        }
        lastAck = t;
        acked++;
      } catch {
        errors++;
      }
      if (afterKill >= 300) break;
    }
    console.log(`# failover: ${acked} writes acknowledged, ${errors} failed, client-visible gap ${maxGap.toFixed(0)} ms, ` +
      `${c.stats().failovers} failover(s), ${c.stats().notPrimary} NOT_PRIMARY, ${c.stats().timeouts} timeouts`);
    assert.ok(afterKill >= 300, `only ${afterKill} writes acknowledged after the kill`);
    assert.ok(evs.length >= 1, 'a failover event');
    assert.equal(c.nodeState()[0].primary, STANDBY, 'traffic now goes to the old standby');
    assert.ok(c.nodeState()[0].epoch >= 1);
    assert.ok(errors <= 5, `${errors} writes failed across the failover`);
    // every acknowledged durable write is on the new primary
    const b = new RingcacheClient({ servers: [STANDBY!], timeoutMs: 100, retries: 3 });
    try {
      const got = await b.getMany(durable);
      const missing = durable.filter((k, i) => got[i]?.value.toString() !== k);
      assert.deepEqual(missing, [], 'durable writes lost');
    } finally {
      await b.close();
    }
  } finally {
    await c.close();
  }
});

