// The shared vectors (tests/vectors/, written from lib/proto by
// gen_vectors.c and checked against it by tests/unit/proto/test_vectors.c)
// against this package's codec, digest and ring; and docs/protocol.md's
// hex examples against the vectors.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as P from '../src/proto';
import { HashRing, keyDigest, partitionOf, ringPosition } from '../src/hash';
import { VECTORS, PROTOCOL_MD } from './paths';

const load = (f: string) => JSON.parse(fs.readFileSync(path.join(VECTORS, f), 'utf8'));
const frames = load('frames.json');
const hex = (s: string) => Buffer.from(s, 'hex');

function hdrOf(j: any): P.Header {
  return {
    version: 1, flags: j.flags, requestId: j.request_id, epoch: j.epoch, nOps: j.n_ops,
    segIndex: j.seg_index, segCount: j.seg_count, partitions: j.partitions,
  };
}

test('every request vector decodes to its fields and encodes to its bytes', () => {
  let n = 0;
  for (const f of frames.frames.filter((f: any) => f.dir === 'request')) {
    const b = hex(f.hex);
    const d = P.decodeRequest(b);
    assert.deepEqual(d.header, hdrOf(f.header), f.name);
    assert.equal(d.ops.length, f.ops.length);
    const ops: P.ReqOp[] = f.ops.map((o: any, i: number) => {
      const got = d.ops[i];
      assert.equal(got.opcode, o.opcode, f.name);
      assert.equal(got.classId, o.class);
      assert.equal(got.flags, o.flags);
      assert.equal(got.ttl, o.ttl);
      assert.equal(got.cas, BigInt(o.cas));
      assert.equal(got.key.toString('hex'), o.key);
      assert.equal(got.value.toString('hex'), o.value);
      return { opcode: o.opcode, classId: o.class, key: hex(o.key), value: hex(o.value),
        flags: o.flags, ttl: o.ttl, cas: BigInt(o.cas) };
    });
    const pad = f.header.flags & P.F_PADDED ? b.length : undefined;
    const enc = P.encodeRequest(ops, { requestId: f.header.request_id, epoch: f.header.epoch,
      flags: f.header.flags & P.F_DURABLE, pad });
    assert.equal(enc.toString('hex'), f.hex, f.name);
    n++;
  }
  assert.ok(n >= 11);
});

test('every reply vector decodes to its fields and encodes to its bytes', () => {
  const seen = new Set<number>();
  for (const f of frames.frames.filter((f: any) => f.dir === 'reply')) {
    const b = hex(f.hex);
    const r = P.decodeReply(b);
    assert.deepEqual(r.header, hdrOf(f.header), f.name);
    f.ops.forEach((o: any, i: number) => {
      const g = r.ops[i];
      assert.equal(g.opcode, o.opcode);
      assert.equal(g.status, o.status);
      assert.equal(g.classId, o.class);
      assert.equal(g.opFlags, o.op_flags);
      assert.equal(g.flags, o.flags);
      assert.equal(g.cas, BigInt(o.cas));
      assert.equal(g.value.toString('hex'), o.value);
      seen.add(o.status);
    });
    const enc = P.encodeReply(
      { requestId: f.header.request_id, epoch: f.header.epoch, nOps: f.header.n_ops,
        partitions: f.header.partitions },
      f.ops.map((o: any) => ({ opcode: o.opcode, status: o.status, classId: o.class,
        opFlags: o.op_flags, flags: o.flags, cas: BigInt(o.cas), value: hex(o.value) })));
    assert.equal(enc.toString('hex'), f.hex, f.name);
  }
  assert.equal(seen.size, P.STATUS_COUNT, 'a reply vector for every status');
});

test('header vectors', () => {
  for (const f of frames.frames.filter((f: any) => f.dir === 'header')) {
    const h = P.decodeHeader(hex(f.hex));
    assert.deepEqual(h, hdrOf(f.header));
    const b = Buffer.alloc(20);
    P.encodeHeader(b, h);
    assert.equal(b.toString('hex'), f.hex);
  }
});

test('segmentation vectors split byte-exactly', () => {
  for (const s of frames.segmented) {
    const msg = hex(s.message);
    const segs = P.segment(msg).map((b) => b.toString('hex'));
    assert.deepEqual(segs, s.segments);
    const d = P.decodeRequest(msg);
    assert.equal(d.ops[0].value.length, 3000);
    for (let i = 0; i < 3000; i++) assert.equal(d.ops[0].value[i], (i * 7 + 1) & 0xff);
  }
});

test('digests and partitions match lib/proto (XXH3-128)', () => {
  const v = load('digests.json').digests;
  assert.ok(v.length >= 30);
  for (const d of v) {
    const g = keyDigest(hex(d.key));
    assert.equal(g.lo.toString(16).padStart(16, '0'), d.lo, d.key);
    assert.equal(g.hi.toString(16).padStart(16, '0'), d.hi, d.key);
    for (const [p, want] of Object.entries(d.partition)) assert.equal(partitionOf(g, Number(p)), want);
  }
});

test('ring: same points and owners as lib/client/hashring.c', () => {
  for (const r of load('ring.json').rings) {
    const ring = new HashRing(r.servers);
    r.first_points.forEach(([h, n]: [number, number], i: number) => {
      assert.equal(ring.hashes[i], h);
      assert.equal(ring.nodes[i], n);
    });
    for (const k of r.keys) {
      const d = keyDigest(Buffer.from(k.key));
      assert.equal(ringPosition(d), k.position);
      assert.equal(r.servers.length === 1 ? 0 : ring.lookup(ringPosition(d)), k.node, k.key);
    }
  }
});

// docs/protocol.md: "### title" followed by an offset-hex block, or a
// bare header line ("52 43 ...") inside a fenced block after a section.
function docExamples(): Map<string, string> {
  const md = fs.readFileSync(PROTOCOL_MD, 'utf8');
  const out = new Map<string, string>();
  let section = '';
  let title = '';
  const lines = md.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i];
    if (l.startsWith('## ')) section = l.slice(3).trim();
    if (l.startsWith('### ')) title = l.slice(4).trim();
    if (l.trim() !== '```') continue;
    const block: string[] = [];
    for (i++; i < lines.length && lines[i].trim() !== '```'; i++) block.push(lines[i]);
    if (block.length && /^[0-9a-f]{4}  /.test(block[0])) {
      out.set(title, block.map((b) => b.slice(6).replace(/ /g, '')).join(''));
    } else if (block.length && /^52 43 /.test(block[0])) {
      out.set(section, block[0].replace(/ /g, ''));
    }
    title = '';
  }
  return out;
}

test('docs/protocol.md hex examples equal the vectors', () => {
  const ex = docExamples();
  const withDoc = frames.frames.filter((f: any) => f.doc);
  assert.equal(withDoc.length, 14);
  assert.equal(ex.size, 14, `examples found in the doc: ${[...ex.keys()].join(' | ')}`);
  for (const f of withDoc) {
    assert.ok(ex.has(f.doc), `doc example "${f.doc}" missing`);
    assert.equal(ex.get(f.doc), f.hex, `doc example "${f.doc}" differs from the vector ${f.name}`);
  }
});
