// Key digests and the consistent-hashing ring, identical to lib/proto
// (rc_proto_key_digest) and lib/client/hashring.c.
import { xxh3, xxh64 } from '@node-rs/xxhash';

export const RING_POINTS = 160;
export const RING_SEED = 0x72637269n;
const M64 = (1n << 64n) - 1n;

export interface Digest {
  lo: bigint; // low 64 bits of XXH3-128 (partition = lo mod P)
  hi: bigint; // high 64 bits (ring position = hi >> 32)
}

export function keyDigest(key: Uint8Array): Digest {
  const h = xxh3.xxh128(key);
  return { lo: h & M64, hi: h >> 64n };
}

/** partition = lo mod P (P <= 1 -> 0). */
export function partitionOf(d: Digest, partitions: number): number {
  return partitions <= 1 ? 0 : Number(d.lo % BigInt(partitions));
}

/** Position of a key on the ring: the digest's high 32 bits. */
export function ringPosition(d: Digest): number {
  return Number(d.hi >> 32n);
}

export class HashRing {
  readonly hashes: Uint32Array;
  readonly nodes: Uint32Array;

  /** names[i] identifies node i ("ip:port"), as in the C client's config. */
  constructor(names: readonly string[]) {
    const pts: Array<[number, number]> = [];
    names.forEach((name, i) => {
      for (let p = 0; p < RING_POINTS; p++) {
        const h = Number(xxh64(Buffer.from(`${name}#${p}`), RING_SEED) & 0xffffffffn);
        pts.push([h, i]);
      }
    });
    pts.sort((a, b) => (a[0] !== b[0] ? a[0] - b[0] : a[1] - b[1]));
    this.hashes = Uint32Array.from(pts, (x) => x[0]);
    this.nodes = Uint32Array.from(pts, (x) => x[1]);
  }

  /** Node owning position h: the first point at or after h, wrapping. */
  lookup(h: number): number {
    let lo = 0,
      hi = this.hashes.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.hashes[mid] < h) lo = mid + 1;
      else hi = mid;
    }
    return this.nodes[lo === this.hashes.length ? 0 : lo];
  }
}
