/** References for chunking tests: deterministic bytes, and what plain content-defined chunking makes of them. */
import { createHash } from 'node:crypto';
import type { ChunkRecord } from '../../src/algo/chunk-file.js';
import { cdcMasks, nextCutReference } from '../../src/algo/fastcdc.js';
import type { ChunkingParams } from '../../src/core/manifest.js';

/** Deterministic bytes (xorshift32): a failure replays exactly. */
export function xorshiftBytes(n: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  let x = Math.imul(seed, 0x9e3779b1) | 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** The records of plain content-defined chunking: a one-byte-at-a-time reference chunker and node:crypto. */
export function referenceRecords(buf: Uint8Array, params: ChunkingParams): ChunkRecord[] {
  const m = cdcMasks(params);
  const out: ChunkRecord[] = [];
  for (let pos = 0; pos < buf.length; ) {
    const size = nextCutReference(buf, pos, buf.length, m, true);
    out.push({ offset: pos, size, hash: createHash('sha256').update(buf.subarray(pos, pos + size)).digest('hex') });
    pos += size;
  }
  return out;
}
