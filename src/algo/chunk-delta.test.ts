import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { applyDelta, DELTA_CDC, DeltaFormatError, makeDelta, pieceLengths, signatureOf } from './chunk-delta.js';
import { chunkLengths } from './fastcdc.js';

/** Text that cuts like source code does (long runs of low-entropy bytes), not like random bytes. */
function textLike(size: number): Buffer {
  const words = ['export', 'const', 'function', 'return', 'value', 'module', '{', '}', '(', ')', ';', '\n', '  ', 'require'];
  const out = Buffer.alloc(size);
  const picks = randomBytes(size);
  for (let at = 0, i = 0; at < size; i++) at += out.write(words[picks[i] % words.length] + ' ', at);
  return out;
}

/** The signature as the first version of the format made it: JavaScript cuts, one Hash object per piece. */
function referenceSignature(base: Buffer): Buffer {
  const lengths = chunkLengths(base, DELTA_CDC);
  const out = Buffer.alloc(4 + lengths.length * 12);
  out.writeUInt32BE(lengths.length, 0);
  let at = 0;
  lengths.forEach((n, i) => {
    out.writeUInt32BE(n, 4 + i * 12);
    createHash('sha256').update(base.subarray(at, at + n)).digest().copy(out, 8 + i * 12, 0, 8);
    at += n;
  });
  return out;
}

describe('chunk deltas', () => {
  it('cut pieces exactly where the JavaScript FastCDC loop does, across window edges and sizes', () => {
    const sizes = [0, 1, 1023, 1024, 16_384, 256 * 1024 - 1, 256 * 1024, 256 * 1024 + 1, 700_001, 3 << 20];
    for (const size of sizes) {
      for (const data of [randomBytes(size), textLike(size)]) {
        const lengths = pieceLengths(data);
        expect(lengths).toEqual(chunkLengths(data, DELTA_CDC));
        expect(lengths.reduce((a, b) => a + b, 0)).toBe(size);
      }
    }
  });

  it('make the same signature bytes as the format always had (the other end may be an older build)', () => {
    for (const base of [textLike(2_500_000), randomBytes(1 << 20), textLike(5000)]) {
      expect(signatureOf(base).equals(referenceSignature(base))).toBe(true);
    }
  });

  it('rebuild an edited chunk from a delta of its edited pieces only', () => {
    const base = textLike(2_000_000);
    const edit = Buffer.from('// a line inserted by the test\n');
    const at = 1_234_567;
    const target = Buffer.concat([base.subarray(0, at), edit, base.subarray(at, 1_500_000), base.subarray(1_600_000)]);
    const { delta, literal } = makeDelta(target, signatureOf(base), 4 << 20);
    expect(literal).toBeGreaterThanOrEqual(edit.length);
    expect(literal).toBeLessThan(64 * 1024);
    expect(delta.length).toBeLessThan(literal + 1024);
    expect(applyDelta(base, delta, target.length).equals(target)).toBe(true);
  });

  it('copy a piece only when its size and all 8 bytes of its name match', () => {
    const base = textLike(300_000);
    const target = Buffer.from(base);
    const sig = signatureOf(base);
    expect(makeDelta(target, sig, 1 << 20).literal).toBe(0);
    // The last 2 bytes of every name changed (the index looks up the first 6): nothing to copy.
    const tails = Buffer.from(sig);
    for (let o = 4; o < tails.length; o += 12) tails[o + 11] ^= 1;
    expect(makeDelta(target, tails, 1 << 20).literal).toBe(target.length);
    // The sizes changed, the names kept: nothing either.
    const sizes = Buffer.from(sig);
    for (let o = 4; o < sizes.length; o += 12) sizes.writeUInt32BE(sizes.readUInt32BE(o) + 1, o);
    expect(makeDelta(target, sizes, 1 << 20).literal).toBe(target.length);
    // A name repeated (identical pieces): the first is copied from, and the delta rebuilds the target.
    const twice = Buffer.concat([base.subarray(0, 100_000), base.subarray(0, 100_000)]);
    const { delta, literal } = makeDelta(twice, signatureOf(twice), 1 << 20);
    expect(literal).toBe(0);
    expect(applyDelta(twice, delta, twice.length).equals(twice)).toBe(true);
  });

  it('refuse deltas that reach past the base or build another size', () => {
    const base = textLike(100_000);
    const { delta } = makeDelta(base, signatureOf(base), 1 << 20);
    expect(() => applyDelta(base.subarray(0, 50_000), delta, base.length)).toThrow(DeltaFormatError);
    expect(() => applyDelta(base, delta, base.length - 1)).toThrow(DeltaFormatError);
    expect(() => makeDelta(base, signatureOf(base), 10_000)).toThrow(DeltaFormatError);
  });
});
