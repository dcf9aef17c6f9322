// Value codecs: how values of type V become bytes and back.
export interface Codec<V> {
  encode(value: V): Uint8Array;
  decode(bytes: Buffer): V;
}

/** Default: Buffer in (any Uint8Array accepted), Buffer out. */
export const bufferCodec: Codec<Buffer> = {
  encode: (v) => v,
  decode: (b) => b,
};

export const stringCodec: Codec<string> = {
  encode: (v) => Buffer.from(v, 'utf8'),
  decode: (b) => b.toString('utf8'),
};

/** JSON.stringify / JSON.parse over UTF-8. A value that does not parse
 *  makes the get reject with the SyntaxError. */
export function jsonCodec<T = unknown>(): Codec<T> {
  return {
    encode: (v) => Buffer.from(JSON.stringify(v), 'utf8'),
    decode: (b) => JSON.parse(b.toString('utf8')) as T,
  };
}
