import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { GENERATED_PATH, generate } from '../../scripts/build-wasm.mjs';
import { CdcKernel } from './cdc-kernel.js';
import { cdcMasks, nextCutReference, type CdcParams } from './fastcdc.js';

const PARAM_SETS: CdcParams[] = [
  { minSize: 2048, avgSize: 8192, maxSize: 32768, normalization: 2 },
  { minSize: 256 << 10, avgSize: 1 << 20, maxSize: 4 << 20, normalization: 2 },
  // odd sizes exercise the one-byte tails of the two-byte loops
  { minSize: 3001, avgSize: 4096, maxSize: 20001, normalization: 1 },
  { minSize: 64, avgSize: 256, maxSize: 1001, normalization: 3 },
  { minSize: 4096, avgSize: 4096, maxSize: 16384, normalization: 0 },
];

describe('fastcdc wasm', () => {
  it('the committed fastcdc-wasm.ts is a fresh assembly of fastcdc.wat', async () => {
    expect(await readFile(GENERATED_PATH, 'utf8')).toBe(await generate());
  });

  for (const p of PARAM_SETS) {
    it(`cuts where nextCutReference cuts (min ${p.minSize}, avg ${p.avgSize}, max ${p.maxSize}, norm ${p.normalization})`, () => {
      const size = Math.min(64 << 20, Math.max(4 << 20, 200 * p.avgSize));
      const kernel = new CdcKernel(p, size);
      const m = cdcMasks(p);
      kernel.data.set(randomBytes(size));
      const buf = kernel.data;
      let pos = 0;
      let chunks = 0;
      while (pos < size) {
        const len = kernel.cut(pos, size, true);
        expect(len).toBe(nextCutReference(buf, pos, size, m, true));
        pos += len;
        chunks++;
      }
      expect(chunks).toBeGreaterThan(size / p.maxSize);
    });
  }

  it('keeps the nextCut contract for every amount of available data', () => {
    const p = PARAM_SETS[0];
    const m = cdcMasks(p);
    const kernel = new CdcKernel(p, 4 * p.maxSize);
    kernel.data.set(randomBytes(kernel.data.length));
    const buf = kernel.data;
    const ends = [0, 1, p.minSize - 1, p.minSize, p.minSize + 1, p.avgSize - 1, p.avgSize, p.avgSize + 1, p.maxSize - 1, p.maxSize, p.maxSize + 1];
    for (let i = 0; i < 300; i++) ends.push(Math.floor(Math.random() * 2 * p.maxSize));
    for (const start of [0, 1, 777]) {
      for (const len of ends) {
        for (const final of [false, true]) {
          expect(kernel.cut(start, start + len, final), `start ${start} len ${len} final ${final}`).toBe(nextCutReference(buf, start, start + len, m, final));
        }
      }
    }
    expect(kernel.cut(0, 10, false)).toBe(0);
    expect(kernel.cut(5, 5, true)).toBe(0);
    expect(() => kernel.cut(0, kernel.data.length + 1, true)).toThrow(RangeError);
  });
});
