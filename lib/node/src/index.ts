export * from './client';
export * from './errors';
export * from './codec';
export { NearCacheOptions } from './nearcache';
export { keyDigest, partitionOf, ringPosition, HashRing, Digest } from './hash';
export * as proto from './proto';
export { Status, Op, CLASS_AUTO, MAX_KEY, MAX_VALUE } from './proto';
