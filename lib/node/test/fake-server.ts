// A fake ringcache node on loopback for unit tests: P consecutive UDP
// ports, an in-memory store with CAS, partition checks (WRONG_PARTITION),
// optional amplification rule (PAD_REQUIRED), reassembly of segmented
// requests and segmentation of long replies; and a hook to answer, drop,
// duplicate or corrupt anything.
import * as dgram from 'node:dgram';
import * as P from '../src/proto';
import { keyDigest, partitionOf } from '../src/hash';

export interface Req {
  header: P.Header;
  ops: P.DecodedReqOp[];
  raw: Buffer; // whole (reassembled) request
  rinfo: dgram.RemoteInfo;
  partition: number; // port index it arrived on
}

export interface Stored {
  value: Buffer;
  flags: number;
  cas: bigint;
  classId: number;
}

type ReplyOp = Partial<P.RepOp> & { opcode: number; status: number };
/** Return undefined to let the default behaviour answer, null to stay
 *  silent, or reply ops (or raw datagrams) to send instead. */
export type Hook = (req: Req, srv: FakeServer) => ReplyOp[] | Buffer[] | null | undefined;

export class FakeServer {
  readonly socks: dgram.Socket[] = [];
  readonly store = new Map<string, Stored>();
  readonly received: Req[] = [];
  datagrams = 0;
  casSeq = 100n;
  epoch = 1;
  trusted = true;
  standby = false;
  hook: Hook | null = null;
  private reasm = new Map<string, Map<number, Buffer>>();

  private constructor(readonly host: string, readonly basePort: number, readonly partitions: number) {}

  static async start(o: { host?: string; partitions?: number; basePort?: number } = {}): Promise<FakeServer> {
    const host = o.host ?? '127.0.0.1';
    const parts = o.partitions ?? 1;
    for (let tries = 0; tries < 50; tries++) {
      const base = o.basePort ?? 20000 + Math.floor(Math.random() * 40000);
      const s = new FakeServer(host, base, parts);
      try {
        for (let i = 0; i < parts; i++) await s.bindOne(i);
        return s;
      } catch (e) {
        await s.close();
        if (o.basePort) throw e;
      }
    }
    throw new Error('no free ports');
  }

  get address(): string {
    return `${this.host}:${this.basePort}`;
  }

  private bindOne(i: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const s = dgram.createSocket('udp4');
      s.once('error', reject);
      s.bind(this.basePort + i, this.host, () => {
        s.removeListener('error', reject);
        s.on('error', () => {});
        s.setRecvBufferSize(8 << 20);
        s.setSendBufferSize(8 << 20);
        s.on('message', (m, r) => this.onDatagram(i, m, r));
        this.socks.push(s);
        resolve();
      });
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.socks.map((s) => new Promise<void>((r) => s.close(() => r()))));
    this.socks.length = 0;
  }

  send(part: number, rinfo: dgram.RemoteInfo, buf: Buffer): void {
    this.socks[part]?.send(buf, rinfo.port, rinfo.address);
  }

  private onDatagram(part: number, m: Buffer, rinfo: dgram.RemoteInfo): void {
    this.datagrams++;
    let h: P.Header;
    try {
      h = P.decodeHeader(m);
    } catch {
      return;
    }
    let whole = m;
    if (h.flags & P.F_SEGMENTED) {
      const k = `${rinfo.address}:${rinfo.port}:${h.requestId}`;
      let e = this.reasm.get(k);
      if (!e) this.reasm.set(k, (e = new Map()));
      e.set(h.segIndex, m.subarray(P.HDR_LEN));
      if (e.size < h.segCount) return;
      this.reasm.delete(k);
      const parts = [m.subarray(0, P.HDR_LEN)];
      for (let i = 0; i < h.segCount; i++) parts.push(e.get(i)!);
      whole = Buffer.concat(parts);
      whole[3] &= ~P.F_SEGMENTED;
      whole.writeUInt16BE(0, 14);
      whole.writeUInt16BE(1, 16);
    }
    let d;
    try {
      d = P.decodeRequest(whole);
    } catch {
      return;
    }
    const req: Req = { header: d.header, ops: d.ops, raw: whole, rinfo, partition: part };
    this.received.push(req);
    const hooked = this.hook ? this.hook(req, this) : undefined;
    if (hooked === null) return;
    if (hooked && hooked.length && Buffer.isBuffer(hooked[0])) {
      for (const b of hooked as Buffer[]) this.send(part, rinfo, b);
      return;
    }
    const ops = (hooked as ReplyOp[] | undefined) ?? this.execute(req);
    this.answer(req, ops);
  }

  /** Encode and send a reply to req (segmented if long). */
  answer(req: Req, ops: ReplyOp[], over: Partial<{ epoch: number; partitions: number; requestId: number; nOps: number }> = {}): void {
    const buf = P.encodeReply({
      requestId: over.requestId ?? req.header.requestId,
      epoch: over.epoch ?? this.epoch,
      nOps: over.nOps ?? ops.length,
      partitions: over.partitions ?? this.partitions,
    }, ops);
    for (const s of P.segment(buf)) this.send(req.partition, req.rinfo, s);
  }

  execute(req: Req): ReplyOp[] {
    const out: ReplyOp[] = [];
    let budget = req.raw.length; // untrusted: reply no larger than the request
    let replySize = P.HDR_LEN + P.REP_OP_LEN * req.ops.length;
    for (const op of req.ops) {
      const none = { opcode: op.opcode, classId: op.classId };
      if (op.opcode === P.Op.NOOP) {
        out.push({ ...none, status: P.Status.OK });
        continue;
      }
      if (partitionOf(keyDigest(op.key), this.partitions) !== req.partition) {
        out.push({ ...none, status: P.Status.WRONG_PARTITION });
        continue;
      }
      const k = op.key.toString('latin1');
      const it = this.store.get(k);
      if (this.standby && op.opcode !== P.Op.GET) {
        out.push({ ...none, status: P.Status.NOT_PRIMARY });
        continue;
      }
      switch (op.opcode) {
        case P.Op.GET:
          if (!it) out.push({ ...none, status: P.Status.NOT_FOUND });
          else if (!this.trusted && replySize + it.value.length > budget)
            out.push({ ...none, status: P.Status.PAD_REQUIRED, flags: it.value.length });
          else if (req.ops.length > 1 && replySize + it.value.length > P.MAX_DATAGRAM)
            out.push({ ...none, status: P.Status.OVERFLOW });
          else {
            replySize += it.value.length;
            out.push({ opcode: op.opcode, status: 0, classId: it.classId, flags: it.flags, cas: it.cas, value: it.value });
          }
          break;
        case P.Op.SET:
          if (op.cas && (!it || it.cas !== op.cas)) {
            out.push({ ...none, status: it ? P.Status.EXISTS : P.Status.NOT_FOUND });
            break;
          }
          this.casSeq++;
          this.store.set(k, {
            value: Buffer.from(op.value), flags: op.flags, cas: this.casSeq,
            classId: op.classId === P.CLASS_AUTO ? 0 : op.classId,
          });
          out.push({ opcode: op.opcode, status: 0, classId: op.classId === P.CLASS_AUTO ? 0 : op.classId, cas: this.casSeq });
          break;
        case P.Op.DELETE:
          if (!it) out.push({ ...none, status: P.Status.NOT_FOUND });
          else if (op.cas && it.cas !== op.cas) out.push({ ...none, status: P.Status.EXISTS });
          else {
            this.store.delete(k);
            out.push({ ...none, status: 0 });
          }
          break;
        case P.Op.TOUCH:
          if (!it) out.push({ ...none, status: P.Status.NOT_FOUND });
          else out.push({ ...none, status: 0, cas: it.cas });
          break;
      }
    }
    void budget;
    return out;
  }
}

/** Wait for a condition (polling the event loop), or fail after ms. */
export async function waitFor(cond: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}
