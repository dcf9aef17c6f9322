// The ringcache client: routing (consistent hashing over nodes, partition
// by digest), auto-batching, request/reply matching, timeouts, retries with
// backoff and jitter, segmentation, PAD_REQUIRED, primary/standby failover.
// Behaviour follows libringcache (lib/client/client.c); where it differs
// (stricter reply matching, no blind resend of non-idempotent writes) the
// README says so.
import * as dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import * as P from './proto';
import { Digest, HashRing, keyDigest, partitionOf, ringPosition } from './hash';
import { Codec, bufferCodec } from './codec';
import { NearCache, NearCacheOptions } from './nearcache';
import {
  ClientClosedError,
  InvalidArgumentError,
  NotPrimaryError,
  ProtocolError,
  RingcacheError,
  TimeoutError,
  TooLargeError,
  statusError,
} from './errors';

export const DEFAULT_PORT = 7711;
const MAX_REROUTES = 3;
/** Largest reply to one GET: header, op, 1 MiB value. */
const MAX_REPLY_SEGMENTS = P.segCount(P.HDR_LEN + P.REP_OP_LEN + P.MAX_VALUE);
/** Reassembly bounds, as libringcache: 16 replies, 32 MiB. */
const REASM_MAX_ENTRIES = 16;
const REASM_MAX_BYTES = 32 << 20;
const PARTITIONS_MAX = 1024;

export type Key = string | Uint8Array;

export interface ClientOptions<V = Buffer> {
  /** "a.b.c.d" or "a.b.c.d:port" (default port 7711), in a fixed order:
   *  the ring depends on these strings, as in libringcache. */
  servers: string[];
  /** standbys[i], if set, is the standby paired with servers[i]. */
  standbys?: Array<string | null | undefined>;
  /** Per attempt, ms (default 100). */
  timeoutMs?: number;
  /** Extra attempts for idempotent calls (default 0, as libringcache). */
  retries?: number;
  /** First pause between attempts, doubled each time, jittered to 50..100%;
   *  0 = none (default). */
  backoffMs?: number;
  /** How long a pair's traffic may keep moving between its nodes (default 1000). */
  failoverMs?: number;
  /** GETs go to the standby of a pair (and to the primary if it does not answer). */
  readStandby?: boolean;
  /** Hard limit per call, ms; default derived from timeout, retries, backoff
   *  and failover (see README). Every call settles by it. */
  deadlineMs?: number;
  /** Calls in the same event-loop turn for one node partition share
   *  datagrams (default true). */
  batch?: boolean;
  /** Value codec (default: Buffer). */
  codec?: Codec<V>;
  /** In-process L1 cache; off unless given. */
  nearCache?: NearCacheOptions;
  /** Socket receive buffer asked for (default 8 MiB: a 1 MiB reply is ~720 datagrams). */
  recvBufferSize?: number;
  /** Local address to bind (default any). */
  localAddress?: string;
  /** How many keys' PAD_REQUIRED padding to remember (default 4096). */
  padHints?: number;
}

export interface CallOptions {
  timeoutMs?: number;
  retries?: number;
  deadlineMs?: number;
}

export interface SetOptions extends CallOptions {
  /** Opaque, returned by get (u32). */
  flags?: number;
  /** Seconds, 0 = never expires (u32). */
  ttl?: number;
  /** Nonzero: store only if the item has this CAS. Not retried on timeout. */
  cas?: bigint;
  /** Data class 0..15, or 'auto' (default) to let the server derive it. */
  classId?: number | 'auto';
  /** Answer only once the node's standby has applied it (NotReplicatedError otherwise). */
  durable?: boolean;
}

export interface DeleteOptions extends CallOptions {
  cas?: bigint;
}

export interface Item<V> {
  value: V;
  flags: number;
  cas: bigint;
  classId: number;
  /** Expired, served by a node in serve-stale mode within its grace. */
  stale: boolean;
}

export type GetOutcome<V> = { ok: true; item: Item<V> | null } | { ok: false; error: Error };

export interface ClientStats {
  requests: number; // datagrams sent, segments and retries included
  ops: number; // operations sent, retries included
  batched: number; // datagrams that carried more than one operation
  retries: number; // operations sent again after a timeout or BUSY
  timeouts: number; // operations whose attempt waited out its timeout
  stale: number; // replies for requests no longer waited for, discarded
  badReplies: number; // replies dropped as malformed or mismatched (see badReplyReasons)
  badReplyReasons: Record<string, number>;
  padded: number; // requests sent again padded (PAD_REQUIRED)
  padHintHits: number; // GETs padded up front from a remembered PAD_REQUIRED
  failovers: number; // a pair's traffic moved to its other node
  notPrimary: number; // NOT_PRIMARY answers seen
  wrongPartition: number; // WRONG_PARTITION answers (re-routed)
  staleHits: number; // GET hits flagged STALE
  nearHits: number;
  nearMisses: number;
}

export interface FailoverEvent {
  server: number;
  from: string;
  to: string;
  reason: 'not_primary' | 'timeout';
}
export interface TimeoutEvent {
  server: number;
  endpoint: string;
  requestId: number;
  ops: number;
  attempt: number;
}
export interface NodeStateEvent {
  server: number;
  endpoint: string;
  partitions: number;
  epoch: number;
  previousPartitions: number;
  previousEpoch: number;
}
export interface BadReplyEvent {
  reason: string;
  from: string;
}

interface Endpoint {
  host: string;
  port: number;
}

interface Server {
  name: string;
  primary: Endpoint; // believed primary of the pair (or the only node)
  other: Endpoint | null; // its pair
  partitions: number;
  epoch: number;
}

interface PendingOp {
  req: P.ReqOp;
  digest: Digest;
  srv: number;
  fixedPartition: number | null; // ping: partition 0
  durable: boolean;
  idempotent: boolean;
  attempts: number; // sends to the current node, this round
  totalSends: number;
  maxAttempts: number;
  timeoutMs: number;
  backoffMs: number;
  reroutes: number;
  pad: number; // request padded to at least this many bytes
  alone: boolean;
  standbyFailed: boolean;
  failoverUntil: number;
  size: number; // encoded op size
  settled: boolean;
  deadlineAt: number; // performance.now() by which the call settles
  resolve: (r: { op: P.RepOp; header: P.Header; server: string }) => void;
  reject: (e: Error) => void;
  padKey: string | null;
}

interface Flight {
  id: number;
  srv: number;
  ep: Endpoint; // node base endpoint
  host: string;
  port: number; // partition port
  toOther: boolean;
  ops: PendingOp[];
  timer: NodeJS.Timeout | null;
  segs: Map<number, Buffer> | null;
  segHdr: Buffer | null;
  segCount: number;
  segBytes: number;
  poisoned: boolean;
  expectSegments: boolean;
}

const EMPTY = Buffer.alloc(0);

function parseServer(s: string): Endpoint {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3})(?::(\d{1,5}))?$/.exec(s);
  if (!m) throw new InvalidArgumentError(`ringcache: cannot parse server address "${s}"`);
  const port = m[2] ? Number(m[2]) : DEFAULT_PORT;
  if (m[1].split('.').some((o) => Number(o) > 255) || port < 1 || port > 65535)
    throw new InvalidArgumentError(`ringcache: cannot parse server address "${s}"`);
  return { host: m[1], port };
}

const epName = (e: Endpoint) => `${e.host}:${e.port}`;

/** Errors made in timer and socket callbacks: their stack would only show
 *  Node's internals, and capturing it is the costliest part of a timeout
 *  under overload. */
function quiet<T>(mk: () => T): T {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return mk();
  } finally {
    Error.stackTraceLimit = limit;
  }
}

export class RingcacheClient<V = Buffer> extends EventEmitter {
  private readonly sock: dgram.Socket;
  private readonly servers: Server[];
  private readonly ring: HashRing;
  private readonly opts: Required<Omit<ClientOptions<V>, 'standbys' | 'nearCache' | 'localAddress' | 'codec' | 'deadlineMs'>> & {
    deadlineMs?: number;
  };
  readonly codec: Codec<V>;
  private readonly near: NearCache<Item<Buffer>> | null;
  private readonly inflight = new Map<number, Flight>();
  private readonly live = new Set<PendingOp>(); // every call not yet settled
  private readonly deadlines = new Map<number, { q: PendingOp[]; head: number; timer: NodeJS.Timeout | null }>();
  private queue: PendingOp[] = [];
  private flushScheduled = false;
  private readonly padHints = new Map<string, number>();
  private idPool = Buffer.alloc(0);
  private idPos = 0;
  private avgValue = 64;
  private reasmEntries = 0;
  private reasmBytes = 0;
  private closed = false;
  private bound: Promise<void>;
  private readonly st: ClientStats = {
    requests: 0, ops: 0, batched: 0, retries: 0, timeouts: 0, stale: 0, badReplies: 0,
    badReplyReasons: {}, padded: 0, padHintHits: 0, failovers: 0, notPrimary: 0,
    wrongPartition: 0, staleHits: 0, nearHits: 0, nearMisses: 0,
  };

  constructor(o: ClientOptions<V>) {
    super();
    if (!o || !Array.isArray(o.servers) || o.servers.length === 0 || o.servers.length > 1024)
      throw new InvalidArgumentError('ringcache: servers must list 1..1024 nodes');
    this.servers = o.servers.map((s, i) => {
      const sb = o.standbys?.[i];
      return {
        name: s,
        primary: parseServer(s),
        other: sb ? parseServer(sb) : null,
        partitions: 1,
        epoch: 0,
      };
    });
    this.ring = new HashRing(o.servers);
    const num = (v: number | undefined, d: number, name: string) => {
      const x = v ?? d;
      if (!Number.isFinite(x) || x < 0) throw new InvalidArgumentError(`ringcache: bad ${name}`);
      return x;
    };
    this.opts = {
      servers: o.servers,
      timeoutMs: num(o.timeoutMs, 100, 'timeoutMs') || 100,
      retries: Math.floor(num(o.retries, 0, 'retries')),
      backoffMs: num(o.backoffMs, 0, 'backoffMs'),
      failoverMs: num(o.failoverMs, 1000, 'failoverMs') || 1000,
      readStandby: !!o.readStandby,
      deadlineMs: o.deadlineMs,
      batch: o.batch ?? true,
      recvBufferSize: o.recvBufferSize ?? 8 << 20,
      padHints: o.padHints ?? 4096,
    };
    this.codec = (o.codec ?? bufferCodec) as unknown as Codec<V>;
    this.near = o.nearCache ? new NearCache<Item<Buffer>>(o.nearCache) : null;
    this.sock = dgram.createSocket({ type: 'udp4' });
    this.sock.on('message', (msg, rinfo) => this.onMessage(msg, rinfo));
    this.sock.on('error', (err) => this.countBad('socket_error', String(err.message)));
    this.bound = new Promise((resolve) => {
      this.sock.bind({ port: 0, address: o.localAddress, exclusive: true }, () => {
        try {
          this.sock.setRecvBufferSize(this.opts.recvBufferSize);
        } catch {
          /* capped by net.core.rmem_max: keep the default */
        }
        try {
          this.sock.setSendBufferSize(4 << 20);
        } catch {
          /* ditto */
        }
        resolve();
      });
    });
  }

  /** Resolves once the socket is bound (calls wait for it by themselves). */
  ready(): Promise<void> {
    return this.bound;
  }

  /** The local address:port replies come to. */
  address(): { address: string; port: number } {
    const a = this.sock.address();
    return { address: a.address, port: a.port };
  }

  stats(): ClientStats {
    return { ...this.st, badReplyReasons: { ...this.st.badReplyReasons } };
  }

  /** Node index (config order) owning a key: the same answer as libringcache. */
  nodeFor(key: Key): number {
    return this.routeNode(keyDigest(this.keyBytes(key)));
  }

  /** Partitions and epoch learnt from each node's replies. */
  nodeState(): Array<{ server: string; primary: string; standby: string | null; partitions: number; epoch: number }> {
    return this.servers.map((s) => ({
      server: s.name,
      primary: epName(s.primary),
      standby: s.other ? epName(s.other) : null,
      partitions: s.partitions,
      epoch: s.epoch,
    }));
  }

  // ---- public calls ------------------------------------------------

  async get(key: Key, o: CallOptions = {}): Promise<Item<V> | null> {
    const it = await this.getRaw(key, o);
    return it ? this.decodeItem(it) : null;
  }

  /** Like get, the value as a Buffer whatever the codec. */
  async getBuffer(key: Key, o: CallOptions = {}): Promise<Item<Buffer> | null> {
    return this.getRaw(key, o);
  }

  /** Like get, the value decoded as UTF-8 whatever the codec. */
  async getString(key: Key, o: CallOptions = {}): Promise<string | null> {
    const it = await this.getRaw(key, o);
    return it ? it.value.toString('utf8') : null;
  }

  /** Store a value; resolves with the item's new CAS. */
  async set(key: Key, value: V, o: SetOptions = {}): Promise<bigint> {
    return this.setRaw(key, this.codec.encode(value), o);
  }

  /** Store bytes whatever the codec. */
  async setBuffer(key: Key, value: Uint8Array, o: SetOptions = {}): Promise<bigint> {
    return this.setRaw(key, value, o);
  }

  /** Store a UTF-8 string whatever the codec. */
  async setString(key: Key, value: string, o: SetOptions = {}): Promise<bigint> {
    return this.setRaw(key, Buffer.from(value, 'utf8'), o);
  }

  /** true: deleted; false: no such key. ExistsError on CAS mismatch. An
   *  unconditional delete is retried, so a lost reply can turn true into false. */
  async delete(key: Key, o: DeleteOptions = {}): Promise<boolean> {
    const kb = this.keyBytes(key);
    const cas = o.cas ?? 0n;
    this.checkCas(cas);
    this.nearDrop(kb);
    const r = await this.submit(
      { opcode: P.Op.DELETE, classId: P.CLASS_AUTO, key: kb, cas }, o, cas === 0n, false);
    this.nearDrop(kb);
    if (r.op.status === P.Status.OK) return true;
    if (r.op.status === P.Status.NOT_FOUND) return false;
    throw statusError(r.op.status, r.server, r.header.epoch);
  }

  /** New TTL (seconds, 0 = never expires). true: done; false: no such key. */
  async touch(key: Key, ttl: number, o: CallOptions = {}): Promise<boolean> {
    const kb = this.keyBytes(key);
    this.checkU32(ttl, 'ttl');
    this.nearDrop(kb);
    const r = await this.submit({ opcode: P.Op.TOUCH, classId: P.CLASS_AUTO, key: kb, ttl }, o, true, false);
    if (r.op.status === P.Status.OK) return true;
    if (r.op.status === P.Status.NOT_FOUND) return false;
    throw statusError(r.op.status, r.server, r.header.epoch);
  }

  /** Round trip to server number idx (config order); resolves with the time in ms. */
  async ping(idx = 0, o: CallOptions = {}): Promise<number> {
    if (!Number.isInteger(idx) || idx < 0 || idx >= this.servers.length)
      throw new InvalidArgumentError('ringcache: no such server');
    const t0 = performance.now();
    const r = await this.submit(
      { opcode: P.Op.NOOP, classId: P.CLASS_AUTO, key: EMPTY }, o, true, false, idx);
    if (r.op.status !== P.Status.OK) throw statusError(r.op.status, r.server, r.header.epoch);
    return performance.now() - t0;
  }

  /** Many keys, as few datagrams as possible; null for a miss. Rejects with
   *  the first key's error if any key failed (getManySettled gives each). */
  async getMany(keys: Key[], o: CallOptions = {}): Promise<Array<Item<V> | null>> {
    const all = await this.getManySettled(keys, o);
    return all.map((r) => {
      if (!r.ok) throw r.error;
      return r.item;
    });
  }

  async getManySettled(keys: Key[], o: CallOptions = {}): Promise<Array<GetOutcome<V>>> {
    return Promise.all(
      keys.map((k) =>
        this.get(k, o).then(
          (item): GetOutcome<V> => ({ ok: true, item }),
          (error: Error): GetOutcome<V> => ({ ok: false, error }),
        ),
      ),
    );
  }

  /** Stop: every call still pending rejects with ClientClosedError. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const err = new ClientClosedError();
    this.queue = [];
    for (const f of [...this.inflight.values()]) this.endFlight(f);
    // queued, in flight, or waiting out a backoff
    for (const op of [...this.live]) this.fail(op, err);
    for (const l of this.deadlines.values()) if (l.timer) clearTimeout(l.timer);
    this.deadlines.clear();
    await this.bound;
    await new Promise<void>((resolve) => this.sock.close(() => resolve()));
  }

  // ---- call plumbing ------------------------------------------------

  private decodeItem(it: Item<Buffer>): Item<V> {
    return { ...it, value: this.codec.decode(it.value) };
  }

  private keyBytes(key: Key): Buffer {
    const b = typeof key === 'string' ? Buffer.from(key, 'utf8')
      : Buffer.isBuffer(key) ? key : Buffer.from(key.buffer, key.byteOffset, key.byteLength);
    if (b.length === 0) throw new InvalidArgumentError('ringcache: empty key');
    if (b.length > P.MAX_KEY) throw new TooLargeError(P.Status.TOO_LARGE, 'client', ' (key over 250 bytes)');
    return b;
  }

  private checkU32(v: number, name: string): void {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff)
      throw new InvalidArgumentError(`ringcache: ${name} must be a u32`);
  }

  private checkCas(cas: bigint): void {
    if (typeof cas !== 'bigint' || cas < 0n || cas > 0xffffffffffffffffn)
      throw new InvalidArgumentError('ringcache: cas must be a u64 bigint');
  }

  private nearKey(kb: Buffer): string {
    return kb.toString('latin1');
  }

  private nearDrop(kb: Buffer): void {
    if (this.near) this.near.delete(this.nearKey(kb));
  }

  private async getRaw(key: Key, o: CallOptions): Promise<Item<Buffer> | null> {
    const kb = this.keyBytes(key);
    if (this.near) {
      const hit = this.near.get(this.nearKey(kb));
      if (hit) {
        this.st.nearHits++;
        return hit;
      }
      this.st.nearMisses++;
    }
    const r = await this.submit({ opcode: P.Op.GET, classId: P.CLASS_AUTO, key: kb }, o, true, false);
    const op = r.op;
    if (op.status === P.Status.NOT_FOUND) return null;
    if (op.status !== P.Status.OK) throw statusError(op.status, r.server, r.header.epoch);
    const stale = (op.opFlags & P.OPF_STALE) !== 0;
    if (stale) this.st.staleHits++;
    // Own copy: the reply buffer may be a shared reassembly buffer.
    const item: Item<Buffer> = { value: Buffer.from(op.value), flags: op.flags, cas: op.cas, classId: op.classId, stale };
    this.avgValue = this.avgValue - Math.floor(this.avgValue / 8) + Math.floor(op.value.length / 8);
    if (this.near && !stale) this.near.set(this.nearKey(kb), item, item.classId, kb.length + item.value.length + 64);
    return item;
  }

  private async setRaw(key: Key, value: Uint8Array, o: SetOptions): Promise<bigint> {
    const kb = this.keyBytes(key);
    if (!(value instanceof Uint8Array)) throw new InvalidArgumentError('ringcache: value must be bytes');
    if (value.length > P.MAX_VALUE) throw new TooLargeError(P.Status.TOO_LARGE, 'client', ' (value over 1 MiB)');
    const flags = o.flags ?? 0;
    const ttl = o.ttl ?? 0;
    const cas = o.cas ?? 0n;
    this.checkU32(flags, 'flags');
    this.checkU32(ttl, 'ttl');
    this.checkCas(cas);
    let classId = P.CLASS_AUTO;
    if (o.classId !== undefined && o.classId !== 'auto') {
      if (!Number.isInteger(o.classId) || o.classId < 0 || o.classId > 255)
        throw new InvalidArgumentError('ringcache: classId must be 0..15 or "auto"');
      classId = o.classId;
    }
    this.nearDrop(kb);
    // A conditional set is not resent on timeout: the resend could report
    // EXISTS for its own earlier success. An unconditional one is, durable
    // or not (as libringcache): applied twice, it stores the same value and
    // the resend waits for the standby again.
    const r = await this.submit(
      { opcode: P.Op.SET, classId, key: kb, value, flags, ttl, cas }, o, cas === 0n, !!o.durable);
    this.nearDrop(kb);
    if (r.op.status === P.Status.OK) return r.op.cas;
    throw statusError(r.op.status, r.server, r.header.epoch, r.op.cas);
  }

  private deadlineFor(o: CallOptions, timeoutMs: number, retries: number, paired: boolean, size: number): number {
    if (o.deadlineMs !== undefined) return o.deadlineMs;
    if (this.opts.deadlineMs !== undefined) return this.opts.deadlineMs;
    let backoff = 0;
    for (let a = 1; a <= retries; a++) backoff += this.opts.backoffMs * 2 ** Math.min(a - 1, 10);
    const segBonus = Math.ceil(P.segCount(size + P.HDR_LEN) / 64) + (size > P.SEG_BODY ? 2 * timeoutMs : 0);
    // every attempt, its backoff, two extra round trips (padding, re-route),
    // and, for a pair, as long again after a failover
    const one = (retries + 1) * (timeoutMs + segBonus) + backoff + 2 * timeoutMs;
    return paired ? 2 * one + this.opts.failoverMs : one;
  }

  private submit(req: P.ReqOp, o: CallOptions, idempotent: boolean, durable: boolean, pingSrv?: number) {
    return new Promise<{ op: P.RepOp; header: P.Header; server: string }>((resolve, reject) => {
      if (this.closed) return reject(new ClientClosedError());
      const digest = pingSrv === undefined ? keyDigest(req.key) : { lo: 0n, hi: 0n };
      const srv = pingSrv ?? this.routeNode(digest);
      const timeoutMs = o.timeoutMs ?? this.opts.timeoutMs;
      const retries = Math.max(0, Math.floor(o.retries ?? this.opts.retries));
      const size = P.reqOpSize(req);
      if (P.HDR_LEN + size > P.MAX_MESSAGE) return reject(new TooLargeError(P.Status.TOO_LARGE, 'client'));
      const op: PendingOp = {
        req, digest, srv, fixedPartition: pingSrv === undefined ? null : 0, durable, idempotent,
        attempts: 0, totalSends: 0, maxAttempts: idempotent ? 1 + retries : 1, timeoutMs,
        backoffMs: this.opts.backoffMs, reroutes: 0, pad: P.HDR_LEN + P.REP_OP_LEN, alone: false,
        standbyFailed: false, failoverUntil: 0, size, settled: false, deadlineAt: 0, resolve, reject,
        padKey: null,
      };
      if (req.opcode === P.Op.GET && this.padHints.size) {
        op.padKey = (req.key as Buffer).toString('latin1');
        const hint = this.padHints.get(op.padKey);
        if (hint) {
          op.pad = hint;
          op.alone = true;
          this.st.padHintHits++;
        }
      }
      const deadline = this.deadlineFor(o, timeoutMs, retries, !!this.servers[srv].other, size);
      this.armDeadline(op, deadline);
      this.live.add(op);
      this.enqueue(op);
    });
  }

  /** Every call's hard deadline. Calls with the same deadline length
   *  expire in the order they were made, so one FIFO and one timer per
   *  length do (no timer per call). */
  private armDeadline(op: PendingOp, ms: number): void {
    op.deadlineAt = performance.now() + ms;
    let l = this.deadlines.get(ms);
    if (!l) this.deadlines.set(ms, (l = { q: [], head: 0, timer: null }));
    l.q.push(op);
    if (!l.timer) l.timer = setTimeout(() => this.sweepDeadlines(ms), ms);
  }

  private sweepDeadlines(ms: number): void {
    const l = this.deadlines.get(ms);
    if (!l) return;
    l.timer = null;
    const now = performance.now();
    while (l.head < l.q.length) {
      const op = l.q[l.head];
      if (!op.settled && op.deadlineAt > now) break;
      l.head++;
      if (!op.settled) this.fail(op, quiet(() => new TimeoutError(op.totalSends, this.servers[op.srv].name)));
    }
    if (l.head >= l.q.length) {
      this.deadlines.delete(ms);
      return;
    }
    if (l.head > 1024 && l.head * 2 > l.q.length) {
      l.q = l.q.slice(l.head);
      l.head = 0;
    }
    l.timer = setTimeout(() => this.sweepDeadlines(ms), Math.max(1, Math.ceil(l.q[l.head].deadlineAt - now)));
  }

  private fail(op: PendingOp, e: Error): void {
    if (op.settled) return;
    op.settled = true;
    this.live.delete(op);
    op.reject(e);
  }

  private succeed(op: PendingOp, r: { op: P.RepOp; header: P.Header; server: string }): void {
    if (op.settled) return;
    op.settled = true;
    this.live.delete(op);
    op.resolve(r);
  }

  private routeNode(d: Digest): number {
    return this.servers.length === 1 ? 0 : this.ring.lookup(ringPosition(d));
  }

  private enqueue(op: PendingOp): void {
    if (op.settled) return;
    if (this.closed) return this.fail(op, new ClientClosedError());
    this.queue.push(op);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => {
        this.flushScheduled = false;
        this.bound.then(() => this.flush());
      });
    }
  }

  private later(op: PendingOp, ms: number): void {
    if (ms <= 0) return this.enqueue(op);
    const t = setTimeout(() => this.enqueue(op), ms);
    t.unref?.();
  }

  /** Pause before attempt number a (1-based) of an op: backoff * 2^(a-1),
   *  jittered to 50..100%, as libringcache. */
  private backoffDelay(op: PendingOp, a: number): number {
    if (!op.backoffMs) return 0;
    const ms = op.backoffMs * 2 ** Math.min(a - 1, 10);
    return ms * 0.5 + Math.random() * ms * 0.5;
  }

  private flush(): void {
    if (this.closed) return;
    const q = this.queue;
    this.queue = [];
    const groups = new Map<string, { srv: number; toOther: boolean; part: number; ops: PendingOp[] }>();
    for (const op of q) {
      if (op.settled) continue;
      const sv = this.servers[op.srv];
      const toOther = this.opts.readStandby && !!sv.other && op.req.opcode === P.Op.GET && !op.standbyFailed;
      const part = op.fixedPartition ?? partitionOf(op.digest, sv.partitions);
      if (op.alone || !this.opts.batch || P.HDR_LEN + op.size > P.MAX_DATAGRAM || op.pad > P.MAX_DATAGRAM / 2) {
        this.send(op.srv, toOther, part, [op]);
        continue;
      }
      const gk = `${op.srv}|${toOther ? 1 : 0}|${part}|${op.durable ? 1 : 0}|${op.timeoutMs}`;
      let g = groups.get(gk);
      if (!g) groups.set(gk, (g = { srv: op.srv, toOther, part, ops: [] }));
      g.ops.push(op);
    }
    // Keys per datagram bounded as libringcache's multi-get: replies of
    // the usual size must fit one datagram, or the server answers OVERFLOW.
    const per = P.REP_OP_LEN + this.avgValue + Math.floor(this.avgValue / 4);
    const maxGets = Math.max(1, Math.min(P.MAX_OPS, Math.floor((P.MAX_DATAGRAM - P.HDR_LEN) / per)));
    for (const g of groups.values()) {
      let batch: PendingOp[] = [];
      let len = P.HDR_LEN;
      let gets = 0;
      let replyLen = P.HDR_LEN;
      for (const op of g.ops) {
        const isGet = op.req.opcode === P.Op.GET;
        const rlen = P.REP_OP_LEN + (isGet ? per : 0);
        if (batch.length && (batch.length >= P.MAX_OPS || len + op.size > P.MAX_DATAGRAM ||
            (isGet && gets >= maxGets) || replyLen + rlen > P.MAX_DATAGRAM + per)) {
          this.send(g.srv, g.toOther, g.part, batch);
          batch = [];
          len = P.HDR_LEN;
          gets = 0;
          replyLen = P.HDR_LEN;
        }
        batch.push(op);
        len += op.size;
        replyLen += rlen;
        if (isGet) gets++;
      }
      if (batch.length) this.send(g.srv, g.toOther, g.part, batch);
    }
  }

  private newId(): number {
    for (;;) {
      if (this.idPos + 4 > this.idPool.length) {
        this.idPool = randomBytes(4096);
        this.idPos = 0;
      }
      const id = this.idPool.readUInt32BE(this.idPos);
      this.idPos += 4;
      if (!this.inflight.has(id)) return id;
    }
  }

  private send(srv: number, toOther: boolean, part: number, ops: PendingOp[]): void {
    const sv = this.servers[srv];
    const ep = toOther && sv.other ? sv.other : sv.primary;
    const port = ep.port + part;
    if (port > 65535) {
      for (const op of ops) this.fail(op, new ProtocolError('ringcache: partition port out of range'));
      return;
    }
    let pad = P.HDR_LEN + P.REP_OP_LEN * ops.length;
    for (const op of ops) if (op.pad > pad) pad = op.pad;
    const id = this.newId();
    const msg = P.encodeRequest(ops.map((o) => o.req), {
      requestId: id, epoch: sv.epoch, flags: ops[0].durable ? P.F_DURABLE : 0, pad,
    });
    const segs = P.segment(msg);
    const f: Flight = {
      id, srv, ep, host: ep.host, port, toOther, ops, timer: null, segs: null, segHdr: null,
      segCount: 0, segBytes: 0, poisoned: false,
      expectSegments: ops.length === 1 && ops[0].req.opcode === P.Op.GET,
    };
    this.inflight.set(id, f);
    let timeout = 0;
    for (const op of ops) {
      op.attempts++;
      op.totalSends++;
      if (op.timeoutMs > timeout) timeout = op.timeoutMs;
    }
    // Big messages take longer on the wire (as libringcache).
    timeout += Math.floor(segs.length / 64);
    if (f.expectSegments && ops[0].pad > P.MAX_DATAGRAM) timeout += Math.floor(P.segCount(ops[0].pad) / 64);
    // On expiry, let the loop's poll phase run once more first
    // (setImmediate): a reply already waiting in the socket buffer behind a
    // busy loop is then taken, not timed out and resent.
    f.timer = setTimeout(() => {
      f.timer = null;
      setImmediate(() => {
        if (this.inflight.get(f.id) === f) this.onFlightTimeout(f);
      });
    }, timeout);
    this.st.requests += segs.length;
    this.st.ops += ops.length;
    if (ops.length > 1) this.st.batched++;
    for (const s of segs) {
      this.sock.send(s, port, ep.host, (err) => {
        if (err) this.countBad('send_error', `${ep.host}:${port}`);
      });
    }
  }

  private endFlight(f: Flight): void {
    if (this.inflight.get(f.id) === f) this.inflight.delete(f.id);
    if (f.timer) clearTimeout(f.timer);
    f.timer = null;
    this.dropSegments(f);
  }

  private dropSegments(f: Flight): void {
    if (f.segs) {
      this.reasmEntries--;
      this.reasmBytes -= f.segBytes;
      f.segs = null;
      f.segBytes = 0;
    }
  }

  private failover(f: Flight, reason: 'not_primary' | 'timeout'): void {
    const sv = this.servers[f.srv];
    if (!sv.other) return;
    // Only if the pair's traffic still goes where this request went: other
    // requests may already have moved it.
    if (f.toOther || sv.primary.host !== f.ep.host || sv.primary.port !== f.ep.port) return;
    const from = sv.primary;
    sv.primary = sv.other;
    sv.other = from;
    this.st.failovers++;
    this.emit('failover', { server: f.srv, from: epName(from), to: epName(sv.primary), reason } satisfies FailoverEvent);
  }

  private onFlightTimeout(f: Flight): void {
    f.timer = null;
    this.endFlight(f);
    const live = f.ops.filter((o) => !o.settled);
    if (!live.length) return;
    this.emit('timeout', {
      server: f.srv, endpoint: `${f.host}:${f.port}`, requestId: f.id, ops: live.length,
      attempt: live[0].attempts,
    } satisfies TimeoutEvent);
    const sv = this.servers[f.srv];
    const now = Date.now();
    for (const op of live) {
      this.st.timeouts++;
      this.retryOrFail(op, f, sv, now, () => new TimeoutError(op.totalSends, `${f.host}:${f.port}`), true);
    }
  }

  /** A timeout or a BUSY answer: send again if allowed. */
  private retryOrFail(op: PendingOp, f: Flight, sv: Server, now: number, err: () => Error, timedOut: boolean): void {
    if (f.toOther && timedOut) {
      // A standby that does not answer a read: ask the primary.
      op.standbyFailed = true;
      op.attempts = 0;
      return this.enqueue(op);
    }
    if (op.attempts < op.maxAttempts) {
      this.st.retries++;
      return this.later(op, this.backoffDelay(op, op.attempts));
    }
    if (timedOut && sv.other) {
      // The pair may be failing over: follow it, for a while.
      if (!op.failoverUntil) op.failoverUntil = now + this.opts.failoverMs;
      this.failover(f, 'timeout');
      if (op.idempotent && now < op.failoverUntil) {
        op.attempts = 0;
        this.st.retries++;
        return this.enqueue(op);
      }
    }
    this.fail(op, quiet(err));
  }

  // ---- replies --------------------------------------------------------

  private countBad(reason: string, from: string): void {
    this.st.badReplies++;
    this.st.badReplyReasons[reason] = (this.st.badReplyReasons[reason] ?? 0) + 1;
    if (this.listenerCount('badReply')) this.emit('badReply', { reason, from } satisfies BadReplyEvent);
  }

  private onMessage(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const from = `${rinfo.address}:${rinfo.port}`;
    let h: P.Header;
    try {
      h = P.decodeHeader(msg);
    } catch (e) {
      return this.countBad(e instanceof P.ProtoError ? e.reason : 'bad_header', from);
    }
    if (!(h.flags & P.F_REPLY) || h.flags & (P.F_PADDED | P.F_DURABLE)) return this.countBad('bad_flags', from);
    const f = this.inflight.get(h.requestId);
    if (!f) {
      this.st.stale++;
      return;
    }
    if (rinfo.address !== f.host || rinfo.port !== f.port) return this.countBad('wrong_source', from);
    if (h.nOps !== f.ops.length) return this.countBad('n_ops_mismatch', from);
    let whole = msg;
    if (h.flags & P.F_SEGMENTED) {
      const w = this.addSegment(f, h, msg, from);
      if (!w) return;
      whole = w;
    }
    let rep: P.Reply;
    try {
      rep = P.decodeReply(whole);
    } catch (e) {
      return this.countBad(e instanceof P.ProtoError ? e.reason : 'bad_reply', from);
    }
    const ops = rep.ops;
    const busy = ops.every((o) => o.status === P.Status.BUSY && o.opcode === P.Op.NOOP);
    for (let i = 0; i < ops.length && !busy; i++) {
      const r = ops[i];
      if (r.opcode !== f.ops[i].req.opcode) return this.countBad('opcode_mismatch', from);
      if (r.value.length && !(r.opcode === P.Op.GET && r.status === P.Status.OK))
        return this.countBad('unexpected_value', from);
      if (r.value.length > P.MAX_VALUE) return this.countBad('too_big', from);
      if (r.status >= P.STATUS_COUNT) return this.countBad('bad_status', from);
      if (r.status === P.Status.PAD_REQUIRED && r.flags > P.MAX_VALUE) return this.countBad('bad_pad', from);
      if (r.opFlags & P.OPF_STALE && !(r.opcode === P.Op.GET && r.status === P.Status.OK))
        return this.countBad('unexpected_stale', from);
    }
    if (h.partitions < 1 || h.partitions > PARTITIONS_MAX || f.ep.port + h.partitions - 1 > 65535)
      return this.countBad('bad_partitions', from);
    // Fully matched: this is the answer to the request in flight.
    this.endFlight(f);
    const sv = this.servers[f.srv];
    if (h.partitions !== sv.partitions || h.epoch > sv.epoch) {
      const ev: NodeStateEvent = {
        server: f.srv, endpoint: epName(f.ep), partitions: h.partitions, epoch: Math.max(h.epoch, sv.epoch),
        previousPartitions: sv.partitions, previousEpoch: sv.epoch,
      };
      sv.partitions = h.partitions;
      if (h.epoch > sv.epoch) sv.epoch = h.epoch;
      this.emit('nodeState', ev);
    }
    const now = Date.now();
    const server = `${f.host}:${f.port}`;
    for (let i = 0; i < f.ops.length; i++) {
      const op = f.ops[i];
      if (op.settled) continue;
      const r = ops[i];
      switch (r.status) {
        case P.Status.BUSY:
          this.retryOrFail(op, f, sv, now, () => statusError(r.status, server), false);
          break;
        case P.Status.WRONG_PARTITION:
          this.st.wrongPartition++;
          if (op.fixedPartition === null && ++op.reroutes <= MAX_REROUTES) {
            op.attempts--; // not an attempt: it was not executed
            this.enqueue(op);
          } else this.fail(op, quiet(() => statusError(r.status, server)));
          break;
        case P.Status.PAD_REQUIRED: {
          const need = P.HDR_LEN + P.REP_OP_LEN + r.flags;
          if (op.req.opcode === P.Op.GET && need > op.pad && need <= P.MAX_MESSAGE) {
            op.pad = need;
            op.alone = true;
            op.attempts--;
            this.st.padded++;
            this.rememberPad(op, need);
            this.enqueue(op);
          } else this.fail(op, quiet(() => statusError(r.status, server)));
          break;
        }
        case P.Status.OVERFLOW:
          if (f.ops.length > 1 && !op.alone) {
            op.alone = true;
            op.attempts--;
            this.enqueue(op);
          } else this.fail(op, quiet(() => statusError(r.status, server)));
          break;
        case P.Status.NOT_PRIMARY:
          this.st.notPrimary++;
          if (sv.other) {
            if (!op.failoverUntil) op.failoverUntil = now + this.opts.failoverMs;
            if (now < op.failoverUntil) {
              // Not executed there: safe to send again, CAS included.
              this.failover(f, 'not_primary');
              op.attempts = 0;
              this.later(op, 5 + Math.random() * 5);
              break;
            }
          }
          this.fail(op, quiet(() => new NotPrimaryError(r.status, server, h.epoch)));
          break;
        default:
          this.succeed(op, { op: r, header: h, server });
      }
    }
  }

  private rememberPad(op: PendingOp, need: number): void {
    if (this.opts.padHints <= 0) return;
    const k = (op.req.key as Buffer).toString('latin1');
    this.padHints.delete(k);
    this.padHints.set(k, need);
    if (this.padHints.size > this.opts.padHints) this.padHints.delete(this.padHints.keys().next().value as string);
  }

  /** Place one segment of the reply to f; the whole message once complete. */
  private addSegment(f: Flight, h: P.Header, msg: Buffer, from: string): Buffer | null {
    if (f.poisoned) {
      this.countBad('segment_dropped', from);
      return null;
    }
    if (!f.expectSegments) return this.countBad('unexpected_segment', from), null;
    if (h.segCount > MAX_REPLY_SEGMENTS) return this.countBad('too_big', from), null;
    const body = msg.length - P.HDR_LEN;
    const last = h.segIndex === h.segCount - 1;
    if (body === 0 || body > P.SEG_BODY || (!last && body !== P.SEG_BODY))
      return this.countBad('segment_mismatch', from), null;
    if (!f.segs) {
      if (this.reasmEntries >= REASM_MAX_ENTRIES) return this.countBad('reassembly_full', from), null;
      f.segs = new Map();
      f.segHdr = Buffer.from(msg.subarray(0, P.HDR_LEN));
      f.segCount = h.segCount;
      this.reasmEntries++;
    } else {
      // Every segment repeats the message's header but for seg_index.
      const sh = f.segHdr!;
      if (msg.compare(sh, 0, 14, 0, 14) !== 0 || msg.compare(sh, 16, 20, 16, 20) !== 0) {
        f.poisoned = true;
        this.dropSegments(f);
        return this.countBad('segment_mismatch', from), null;
      }
    }
    const prev = f.segs!.get(h.segIndex);
    if (prev) {
      if (prev.equals(msg.subarray(P.HDR_LEN))) {
        this.st.badReplyReasons.duplicate_segment = (this.st.badReplyReasons.duplicate_segment ?? 0) + 1;
        return null;
      }
      f.poisoned = true;
      this.dropSegments(f);
      return this.countBad('segment_conflict', from), null;
    }
    if (this.reasmBytes + body > REASM_MAX_BYTES) return this.countBad('reassembly_full', from), null;
    f.segs!.set(h.segIndex, Buffer.from(msg.subarray(P.HDR_LEN)));
    f.segBytes += body;
    this.reasmBytes += body;
    if (f.segs!.size < f.segCount) return null;
    const whole = Buffer.allocUnsafe(P.HDR_LEN + f.segBytes);
    f.segHdr!.copy(whole, 0);
    whole[3] &= ~P.F_SEGMENTED;
    whole.writeUInt16BE(0, 14);
    whole.writeUInt16BE(1, 16);
    for (let i = 0; i < f.segCount; i++) f.segs!.get(i)!.copy(whole, P.HDR_LEN + i * P.SEG_BODY);
    this.dropSegments(f);
    return whole;
  }
}

export { RingcacheError };
