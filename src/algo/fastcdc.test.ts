import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { GEAR, cdcMasks, chunkLengths, mayEndAt, nextCut, nextCutReference } from './fastcdc.js';

const params = { minSize: 2048, avgSize: 8192, maxSize: 32768, normalization: 2 };

describe('fastcdc', () => {
  it('the written-out gear table is the SHA-256 derivation of fastcdc-v1', () => {
    expect(GEAR.length).toBe(256);
    for (let i = 0; i < 256; i++) {
      expect(GEAR[i]).toBe(createHash('sha256').update(`ferry-fastcdc-v1 gear ${i}`).digest().readUInt32BE(0));
    }
  });

  it('the two-bytes-per-step loop cuts exactly where the one-byte reference does', () => {
    const buf = randomBytes(4 << 20);
    const m = cdcMasks(params);
    let pos = 0;
    let count = 0;
    while (pos < buf.length) {
      const a = nextCut(buf, pos, buf.length, m, true);
      const b = nextCutReference(buf, pos, buf.length, m, true);
      expect(a).toBe(b);
      pos += a;
      count++;
    }
    expect(count).toBeGreaterThan(200);
    // and for the default (MiB-scale) parameters on a 64 MiB buffer
    const big = randomBytes(64 << 20);
    const md = cdcMasks({ minSize: 256 << 10, avgSize: 1 << 20, maxSize: 4 << 20, normalization: 2 });
    pos = 0;
    while (pos < big.length) {
      const a = nextCut(big, pos, big.length, md, true);
      expect(a).toBe(nextCutReference(big, pos, big.length, md, true));
      pos += a;
    }
  });

  it('respects min, max and sums to the input length; sizes cluster around avg', () => {
    const buf = randomBytes(8 << 20);
    const lens = chunkLengths(buf, params);
    expect(lens.reduce((a, b) => a + b, 0)).toBe(buf.length);
    for (const l of lens.slice(0, -1)) {
      expect(l).toBeGreaterThanOrEqual(params.minSize);
      expect(l).toBeLessThanOrEqual(params.maxSize);
    }
    const mean = buf.length / lens.length;
    expect(mean).toBeGreaterThan(params.avgSize * 0.7);
    expect(mean).toBeLessThan(params.avgSize * 2);
  });

  it('is content-defined: an insertion shifts only nearby cut points', () => {
    const buf = randomBytes(2 << 20);
    const edited = Buffer.concat([buf.subarray(0, 1 << 20), Buffer.from('inserted bytes'), buf.subarray(1 << 20)]);
    const a = chunkLengths(buf, params);
    const b = chunkLengths(edited, params);
    const ends = (lens: number[]) => {
      let o = 0;
      return lens.map((l) => (o += l));
    };
    const endsA = new Set(ends(a).filter((e) => e > (1 << 20) + 64 * 1024).map((e) => e + 14));
    const endsB = ends(b).filter((e) => e > (1 << 20) + 64 * 1024);
    const shared = endsB.filter((e) => endsA.has(e)).length;
    expect(shared / endsB.length).toBeGreaterThan(0.9);
  });

  it('mayEndAt: true wherever the rule cut, false only where it cannot cut; rejects most shifted chunks', () => {
    for (const p of [params, { ...params, normalization: 0 }, { minSize: 64, avgSize: 256, maxSize: 1024, normalization: 1 }]) {
      const m = cdcMasks(p);
      const buf = randomBytes(2 << 20);
      let pos = 0;
      let rejected = 0;
      let tried = 0;
      while (pos < buf.length) {
        const len = nextCutReference(buf, pos, buf.length, m, true);
        if (pos + len < buf.length) expect(mayEndAt(buf, pos, len, m)).toBe(true);
        // The same chunk shifted by an edit before it: a range that starts or ends elsewhere.
        for (const shift of [1, 17, 300]) {
          if (pos + len + shift > buf.length || len === m.max) continue;
          tried++;
          if (!mayEndAt(buf, pos + shift, len, m)) {
            rejected++;
            expect(nextCutReference(buf, pos + shift, buf.length, m, true)).not.toBe(len);
          }
        }
        pos += len;
      }
      expect(rejected / tried).toBeGreaterThan(0.9);
    }
    const m = cdcMasks(params);
    const zeros = Buffer.alloc(params.maxSize);
    expect(mayEndAt(zeros, 0, params.maxSize, m)).toBe(true); // cut by the size limit
    expect(mayEndAt(zeros, 0, params.minSize, m)).toBe(true); // only a file's end cuts that short
  });

  it('needs more data (0) unless final or a whole max is available', () => {
    const m = cdcMasks(params);
    const buf = randomBytes(params.maxSize - 1);
    expect(nextCut(buf, 0, buf.length, m, false)).toBe(0);
    expect(nextCut(buf, 0, buf.length, m, true)).toBeGreaterThan(0);
    expect(nextCut(buf, 0, 0, m, true)).toBe(0);
    expect(nextCut(buf, 0, 10, m, true)).toBe(10);
  });
});
