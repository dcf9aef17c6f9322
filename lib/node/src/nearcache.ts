// Optional in-process L1 in front of the network: bounded by entries and
// bytes, entries live ttlMs at most, only items of allowed classes. It is
// eventually consistent: another client's write is seen here at most ttlMs
// late. This client's own set/delete/touch of a key drop its entry.
export interface NearCacheOptions {
  maxEntries?: number; // default 10000
  maxBytes?: number; // default 16 MiB (key + value bytes)
  ttlMs?: number; // default 1000; how stale a hit may be
  classes?: number[]; // class ids that may be cached; default: all
}

export interface NearEntry<T> {
  item: T;
  bytes: number;
  expires: number;
}

export class NearCache<T> {
  private readonly map = new Map<string, NearEntry<T>>(); // insertion order = LRU order
  private bytes = 0;
  readonly maxEntries: number;
  readonly maxBytes: number;
  readonly ttlMs: number;
  private readonly classes: Set<number> | null;

  constructor(o: NearCacheOptions, private readonly now: () => number = Date.now) {
    this.maxEntries = Math.max(1, o.maxEntries ?? 10000);
    this.maxBytes = Math.max(1, o.maxBytes ?? 16 << 20);
    this.ttlMs = Math.max(1, o.ttlMs ?? 1000);
    this.classes = o.classes ? new Set(o.classes) : null;
  }

  get size(): number {
    return this.map.size;
  }
  get byteSize(): number {
    return this.bytes;
  }

  get(k: string): T | undefined {
    const e = this.map.get(k);
    if (!e) return undefined;
    if (e.expires <= this.now()) {
      this.delete(k);
      return undefined;
    }
    this.map.delete(k); // refresh LRU position
    this.map.set(k, e);
    return e.item;
  }

  set(k: string, item: T, classId: number, bytes: number): void {
    if (this.classes && !this.classes.has(classId)) return;
    this.delete(k);
    if (bytes > this.maxBytes) return;
    this.map.set(k, { item, bytes, expires: this.now() + this.ttlMs });
    this.bytes += bytes;
    while (this.map.size > this.maxEntries || this.bytes > this.maxBytes) {
      const oldest = this.map.keys().next().value as string;
      this.delete(oldest);
    }
  }

  delete(k: string): void {
    const e = this.map.get(k);
    if (e) {
      this.bytes -= e.bytes;
      this.map.delete(k);
    }
  }

  clear(): void {
    this.map.clear();
    this.bytes = 0;
  }
}
