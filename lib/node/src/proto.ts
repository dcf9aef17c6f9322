// ringcache wire protocol v1 (docs/protocol.md): encode/decode on Buffers.
// Mirrors lib/proto/proto.c; tests/vectors/ holds frames both must agree on.

export const MAGIC = 0x5243;
export const VERSION = 1;
export const HDR_LEN = 20;
export const REQ_OP_LEN = 8;
export const REP_OP_LEN = 20;
export const MAX_KEY = 250;
export const MAX_OPS = 64;
export const MAX_DATAGRAM = 1472;
export const SEG_BODY = MAX_DATAGRAM - HDR_LEN; // 1452
export const MAX_SEGMENTS = 1024;
export const MAX_MESSAGE = HDR_LEN + SEG_BODY * MAX_SEGMENTS;
export const MAX_VALUE = 1 << 20;
export const CLASS_AUTO = 0xff;

export const F_REPLY = 0x01;
export const F_SEGMENTED = 0x02;
export const F_PADDED = 0x04;
export const F_DURABLE = 0x08;
export const F_KNOWN = F_REPLY | F_SEGMENTED | F_PADDED | F_DURABLE;
export const OPF_STALE = 0x01;
export const OPF_KNOWN = OPF_STALE;

export enum Op {
  NOOP = 0,
  GET = 1,
  SET = 2,
  DELETE = 3,
  TOUCH = 4,
}
export const OP_COUNT = 5;

export enum Status {
  OK = 0,
  NOT_FOUND = 1,
  EXISTS = 2,
  TOO_LARGE = 3,
  BAD_REQUEST = 4,
  THROTTLED = 5,
  NOT_PRIMARY = 6,
  SERVER_ERROR = 7,
  NO_MEMORY = 8,
  UNKNOWN_CLASS = 9,
  OVERFLOW = 10,
  WRONG_PARTITION = 11,
  READ_ONLY = 12,
  PAD_REQUIRED = 13,
  BUSY = 14,
  NOT_REPLICATED = 15,
}
export const STATUS_COUNT = 16;

/** Frame-level decode outcomes, named as the daemon's drop_<reason> counters. */
export type DecodeError =
  | 'short_header'
  | 'bad_magic'
  | 'bad_version'
  | 'bad_flags'
  | 'bad_segment'
  | 'no_ops'
  | 'too_many_ops'
  | 'truncated_op'
  | 'bad_opcode'
  | 'trailing_bytes'
  | 'reserved_nonzero';

export class ProtoError extends Error {
  constructor(readonly reason: DecodeError) {
    super(`ringcache protocol: ${reason}`);
    this.name = 'ProtoError';
  }
}

export interface Header {
  version: number;
  flags: number;
  requestId: number;
  epoch: number;
  nOps: number;
  segIndex: number;
  segCount: number;
  partitions: number;
}

export interface ReqOp {
  opcode: Op;
  classId: number;
  key: Uint8Array;
  value?: Uint8Array;
  flags?: number; // SET
  ttl?: number; // SET, TOUCH
  cas?: bigint; // SET, DELETE
}

export interface RepOp {
  opcode: number;
  status: number;
  classId: number;
  opFlags: number;
  flags: number;
  cas: bigint;
  value: Buffer; // empty unless a GET hit
}

export function extrasLen(opcode: number): number {
  switch (opcode) {
    case Op.SET:
      return 16;
    case Op.DELETE:
      return 8;
    case Op.TOUCH:
      return 4;
    default:
      return 0;
  }
}

export function reqOpSize(op: ReqOp): number {
  return REQ_OP_LEN + extrasLen(op.opcode) + op.key.length + (op.value ? op.value.length : 0);
}

export function segCount(msgLen: number): number {
  return msgLen <= MAX_DATAGRAM ? 1 : Math.ceil((msgLen - HDR_LEN) / SEG_BODY);
}

export function encodeHeader(buf: Buffer, h: Header, off = 0): void {
  buf.writeUInt16BE(MAGIC, off);
  buf[off + 2] = h.version;
  buf[off + 3] = h.flags;
  buf.writeUInt32BE(h.requestId >>> 0, off + 4);
  buf.writeUInt32BE(h.epoch >>> 0, off + 8);
  buf.writeUInt16BE(h.nOps, off + 12);
  buf.writeUInt16BE(h.segIndex, off + 14);
  buf.writeUInt16BE(h.segCount, off + 16);
  buf.writeUInt16BE(h.partitions, off + 18);
}

/** Parse and validate a frame header (segment fields, op count). */
export function decodeHeader(buf: Uint8Array): Header {
  if (buf.length < HDR_LEN) throw new ProtoError('short_header');
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.readUInt16BE(0) !== MAGIC) throw new ProtoError('bad_magic');
  if (b[2] !== VERSION) throw new ProtoError('bad_version');
  const flags = b[3];
  if (flags & ~F_KNOWN) throw new ProtoError('bad_flags');
  const h: Header = {
    version: b[2],
    flags,
    requestId: b.readUInt32BE(4),
    epoch: b.readUInt32BE(8),
    nOps: b.readUInt16BE(12),
    segIndex: b.readUInt16BE(14),
    segCount: b.readUInt16BE(16),
    partitions: b.readUInt16BE(18),
  };
  if (flags & F_SEGMENTED) {
    if (h.segCount < 2 || h.segCount > MAX_SEGMENTS || h.segIndex >= h.segCount)
      throw new ProtoError('bad_segment');
  } else if (h.segIndex !== 0 || h.segCount !== 1) {
    throw new ProtoError('bad_segment');
  }
  if (h.nOps === 0) throw new ProtoError('no_ops');
  if (h.nOps > MAX_OPS) throw new ProtoError('too_many_ops');
  return h;
}

/** Write one request op at off; returns the offset after it. */
export function encodeReqOp(buf: Buffer, off: number, op: ReqOp): number {
  const vlen = op.value ? op.value.length : 0;
  buf[off] = op.opcode;
  buf[off + 1] = op.classId;
  buf.writeUInt16BE(op.key.length, off + 2);
  buf.writeUInt32BE(vlen, off + 4);
  let p = off + REQ_OP_LEN;
  switch (op.opcode) {
    case Op.SET:
      buf.writeUInt32BE((op.flags ?? 0) >>> 0, p);
      buf.writeUInt32BE((op.ttl ?? 0) >>> 0, p + 4);
      buf.writeBigUInt64BE(op.cas ?? 0n, p + 8);
      break;
    case Op.DELETE:
      buf.writeBigUInt64BE(op.cas ?? 0n, p);
      break;
    case Op.TOUCH:
      buf.writeUInt32BE((op.ttl ?? 0) >>> 0, p);
      break;
    default:
      break;
  }
  p += extrasLen(op.opcode);
  buf.set(op.key, p);
  p += op.key.length;
  if (vlen) {
    buf.set(op.value!, p);
    p += vlen;
  }
  return p;
}

export interface EncodeOptions {
  requestId: number;
  epoch?: number;
  flags?: number; // extra header flags (DURABLE)
  pad?: number; // pad the message to at least this many bytes (sets PADDED)
}

/** Encode a whole request message (unsegmented form, may exceed a datagram). */
export function encodeRequest(ops: ReqOp[], o: EncodeOptions): Buffer {
  let len = HDR_LEN;
  for (const op of ops) len += reqOpSize(op);
  const total = o.pad && o.pad > len ? o.pad : len;
  const buf = Buffer.alloc(total);
  let off = HDR_LEN;
  for (const op of ops) off = encodeReqOp(buf, off, op);
  encodeHeader(buf, {
    version: VERSION,
    flags: (o.flags ?? 0) | (total > len ? F_PADDED : 0),
    requestId: o.requestId,
    epoch: o.epoch ?? 0,
    nOps: ops.length,
    segIndex: 0,
    segCount: 1,
    partitions: 0,
  });
  return buf;
}

/** Split an encoded message into datagrams (docs/protocol.md, Segmentation). */
export function segment(msg: Buffer): Buffer[] {
  const n = segCount(msg.length);
  if (n === 1) return [msg];
  if (n > MAX_SEGMENTS) throw new RangeError('message too large');
  const out: Buffer[] = [];
  const flags = msg[3] | F_SEGMENTED;
  for (let i = 0; i < n; i++) {
    const off = HDR_LEN + i * SEG_BODY;
    const end = Math.min(off + SEG_BODY, msg.length);
    const d = Buffer.allocUnsafe(HDR_LEN + end - off);
    msg.copy(d, 0, 0, HDR_LEN);
    d[3] = flags;
    d.writeUInt16BE(i, 14);
    d.writeUInt16BE(n, 16);
    msg.copy(d, HDR_LEN, off, end);
    out.push(d);
  }
  return out;
}

export interface Reply {
  header: Header;
  ops: RepOp[];
}

/** Decode a whole (unsegmented or reassembled) reply, as rc_proto_decode_reply. */
export function decodeReply(buf: Buffer): Reply {
  const h = decodeHeader(buf);
  if (h.flags & F_SEGMENTED) throw new ProtoError('bad_segment');
  if (!(h.flags & F_REPLY) || h.flags & (F_PADDED | F_DURABLE)) throw new ProtoError('bad_flags');
  const ops: RepOp[] = [];
  let off = HDR_LEN;
  for (let i = 0; i < h.nOps; i++) {
    if (buf.length - off < REP_OP_LEN) throw new ProtoError('truncated_op');
    const opcode = buf[off];
    if (opcode >= OP_COUNT) throw new ProtoError('bad_opcode');
    const opFlags = buf[off + 3];
    if (opFlags & ~OPF_KNOWN) throw new ProtoError('reserved_nonzero');
    const vlen = buf.readUInt32BE(off + 4);
    const op: RepOp = {
      opcode,
      status: buf[off + 1],
      classId: buf[off + 2],
      opFlags,
      flags: buf.readUInt32BE(off + 8),
      cas: buf.readBigUInt64BE(off + 12),
      value: Buffer.alloc(0),
    };
    off += REP_OP_LEN;
    if (buf.length - off < vlen) throw new ProtoError('truncated_op');
    op.value = buf.subarray(off, off + vlen);
    off += vlen;
    ops.push(op);
  }
  if (off !== buf.length) throw new ProtoError('trailing_bytes');
  return { header: h, ops };
}

export interface DecodedReqOp {
  opcode: number;
  classId: number;
  key: Buffer;
  value: Buffer;
  flags: number;
  ttl: number;
  cas: bigint;
}

/** Decode a whole request (for test servers and vectors), as rc_proto_decode_request. */
export function decodeRequest(buf: Buffer): { header: Header; ops: DecodedReqOp[] } {
  const h = decodeHeader(buf);
  if (h.flags & F_SEGMENTED) throw new ProtoError('bad_segment');
  if (h.flags & F_REPLY) throw new ProtoError('bad_flags');
  if (h.partitions !== 0) throw new ProtoError('reserved_nonzero');
  const ops: DecodedReqOp[] = [];
  let off = HDR_LEN;
  for (let i = 0; i < h.nOps; i++) {
    if (buf.length - off < REQ_OP_LEN) throw new ProtoError('truncated_op');
    const opcode = buf[off];
    if (opcode >= OP_COUNT) throw new ProtoError('bad_opcode');
    const classId = buf[off + 1];
    const klen = buf.readUInt16BE(off + 2);
    const vlen = buf.readUInt32BE(off + 4);
    const ex = extrasLen(opcode);
    off += REQ_OP_LEN;
    if (buf.length - off < ex + klen + vlen) throw new ProtoError('truncated_op');
    let flags = 0,
      ttl = 0,
      cas = 0n;
    if (opcode === Op.SET) {
      flags = buf.readUInt32BE(off);
      ttl = buf.readUInt32BE(off + 4);
      cas = buf.readBigUInt64BE(off + 8);
    } else if (opcode === Op.DELETE) {
      cas = buf.readBigUInt64BE(off);
    } else if (opcode === Op.TOUCH) {
      ttl = buf.readUInt32BE(off);
    }
    const k = off + ex;
    ops.push({
      opcode,
      classId,
      key: buf.subarray(k, k + klen),
      value: buf.subarray(k + klen, k + klen + vlen),
      flags,
      ttl,
      cas,
    });
    off = k + klen + vlen;
  }
  if (!(h.flags & F_PADDED) && off !== buf.length) throw new ProtoError('trailing_bytes');
  return { header: h, ops };
}

/** Encode a reply (test servers, vectors). */
export function encodeReply(
  h: { requestId: number; epoch: number; nOps: number; partitions: number; flags?: number },
  ops: Array<Partial<RepOp> & { opcode: number; status: number }>,
): Buffer {
  let len = HDR_LEN;
  for (const op of ops) len += REP_OP_LEN + (op.value ? op.value.length : 0);
  const buf = Buffer.alloc(len);
  encodeHeader(buf, {
    version: VERSION,
    flags: h.flags ?? F_REPLY,
    requestId: h.requestId,
    epoch: h.epoch,
    nOps: h.nOps,
    segIndex: 0,
    segCount: 1,
    partitions: h.partitions,
  });
  let off = HDR_LEN;
  for (const op of ops) {
    const v = op.value ?? Buffer.alloc(0);
    buf[off] = op.opcode;
    buf[off + 1] = op.status;
    buf[off + 2] = op.classId ?? CLASS_AUTO;
    buf[off + 3] = op.opFlags ?? 0;
    buf.writeUInt32BE(v.length, off + 4);
    buf.writeUInt32BE((op.flags ?? 0) >>> 0, off + 8);
    buf.writeBigUInt64BE(op.cas ?? 0n, off + 12);
    buf.set(v, off + REP_OP_LEN);
    off += REP_OP_LEN + v.length;
  }
  return buf;
}

export const STATUS_NAMES: readonly string[] = [
  'OK', 'NOT_FOUND', 'EXISTS', 'TOO_LARGE', 'BAD_REQUEST', 'THROTTLED', 'NOT_PRIMARY',
  'SERVER_ERROR', 'NO_MEMORY', 'UNKNOWN_CLASS', 'OVERFLOW', 'WRONG_PARTITION', 'READ_ONLY',
  'PAD_REQUIRED', 'BUSY', 'NOT_REPLICATED',
];
export const OPCODE_NAMES: readonly string[] = ['noop', 'get', 'set', 'delete', 'touch'];
