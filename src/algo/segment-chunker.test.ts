import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isFerryError } from '../core/errors.js';
import { CdcKernel } from './cdc-kernel.js';
import { chunkLengths, type CdcParams } from './fastcdc.js';
import { SegmentChunker, type ChunkRecord } from './segment-chunker.js';

const P: CdcParams = { minSize: 2048, avgSize: 8192, maxSize: 32768, normalization: 2 };

/** Runs a chunker over an in-memory "file", reading through its read requests. */
function run(file: Uint8Array, start: number, end: number, dataSize = 4 * P.maxSize): { records: ChunkRecord[]; endOffset: number } {
  const kernel = new CdcKernel(P, dataSize);
  const c = new SegmentChunker(kernel, start, end, file.length);
  const records: ChunkRecord[] = [];
  for (;;) {
    c.process(records);
    if (c.done) return { records, endOffset: c.endOffset };
    const r = c.nextRead();
    const piece = file.subarray(r.position, r.position + r.length);
    kernel.data.set(piece, r.offset);
    c.fed(piece.length);
  }
}

function cutsFrom(file: Uint8Array, start: number): Set<number> {
  const cuts = new Set<number>([start]);
  let pos = start;
  for (const len of chunkLengths(file.subarray(start), P)) cuts.add((pos += len));
  return cuts;
}

describe('SegmentChunker', () => {
  it('ends a segment at the first of its cuts past the end that the next segment also has', () => {
    const file = randomBytes(1 << 20);
    for (const end of [1, 1000, 5000, 100_000, 300_001]) {
      const { records, endOffset } = run(file, 0, end);
      const own = cutsFrom(file, 0);
      const next = cutsFrom(file, end);
      expect(endOffset).toBeGreaterThanOrEqual(end);
      expect(own.has(endOffset) && next.has(endOffset)).toBe(true);
      // and it is the first such cut
      for (const r of records) if (r.offset >= end) expect(next.has(r.offset)).toBe(false);
      const last = records[records.length - 1];
      expect(last.offset + last.size).toBe(endOffset);
    }
  });

  it('chunks the last segment to the end of the file', () => {
    const file = randomBytes(200_000);
    const { records, endOffset } = run(file, 0, file.length);
    expect(endOffset).toBe(file.length);
    expect(records.map((r) => r.size)).toEqual(chunkLengths(file, P));
  });

  it('fails with FERRY_ERR_IO when a file of known size ends early', () => {
    const kernel = new CdcKernel(P, 4 * P.maxSize);
    const c = new SegmentChunker(kernel, 0, 1000, 1000);
    c.nextRead();
    let err: unknown;
    try {
      c.fed(0);
    } catch (e) {
      err = e;
    }
    expect(isFerryError(err, 'FERRY_ERR_IO')).toBe(true);
  });

  it('wants room for two chunkings when it must follow the next segment', () => {
    const small = new CdcKernel(P, 2 * P.maxSize);
    expect(() => new SegmentChunker(small, 0, 10, 1 << 20)).toThrow(RangeError);
    expect(() => new SegmentChunker(small, 0, 1 << 20, 1 << 20)).not.toThrow();
    // a last segment that fits whole needs no more than itself
    expect(() => new SegmentChunker(new CdcKernel(P, 5000), 0, 5000, 5000)).not.toThrow();
  });
});
