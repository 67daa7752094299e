/**
 * FastCDC content-defined chunking ("fastcdc-v1"), normalized, with a 32-bit gear hash.
 *
 * Imports nothing of the project: the chunker is the format. Two peers dedup only if they
 * cut identically, so everything that decides a cut point is fixed here and versioned by
 * the algorithm name: the gear table (derived from SHA-256, below), the mask layout and the
 * normalization rule. Changing any of it requires a new algorithm name.
 *
 * Cut rule (Xia et al., "The Design of Fast Content-Defined Chunking", 2020):
 *   - never cut before `minSize` (those bytes are not even hashed: cut-point skipping);
 *   - from minSize to avgSize, cut where `(h & maskS) == 0` (more bits: cuts unlikely);
 *   - from avgSize to maxSize, cut where `(h & maskL) == 0` (fewer bits: cuts likely);
 *   - cut at maxSize regardless.
 * `h` is the gear hash `h = (h << 1) + GEAR[byte]` (mod 2^32), so bit k depends on the
 * last k+1 bytes. The masks use the highest bits below bit 31 (widest window, up to 31
 * bytes); bit 31 is left out so that the two-bytes-per-step loop, which tests `h << 1`
 * against `mask << 1`, tests exactly the same bits.
 */
import { createHash } from 'node:crypto';

export interface CdcParams {
  minSize: number;
  avgSize: number;
  maxSize: number;
  /** Bits added to (below avg) and removed from (above avg) the mask; 0 disables normalization. */
  normalization: number;
}

/** 256 pseudo-random 32-bit values, fixed for fastcdc-v1. */
export const GEAR: Uint32Array = (() => {
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    table[i] = createHash('sha256').update(`ferry-fastcdc-v1 gear ${i}`).digest().readUInt32BE(0);
  }
  return table;
})();

// The same table pre-shifted left by one: lets the loop below consume two bytes per step.
const GEAR_LS: Uint32Array = GEAR.map((v) => (v << 1) >>> 0);

/** A mask of `bits` consecutive set bits ending at bit 30 (bit 31 stays clear). */
function highBits(bits: number): number {
  if (bits <= 0) return 0;
  const b = Math.min(bits, 31);
  return (((2 ** b - 1) * 2 ** (31 - b)) >>> 0);
}

export function validateCdcParams(p: CdcParams): void {
  const ok =
    Number.isSafeInteger(p.minSize) &&
    Number.isSafeInteger(p.avgSize) &&
    Number.isSafeInteger(p.maxSize) &&
    Number.isInteger(p.normalization) &&
    p.minSize >= 64 &&
    p.minSize <= p.avgSize &&
    p.avgSize <= p.maxSize &&
    p.maxSize <= 64 * 1024 * 1024 &&
    p.normalization >= 0 &&
    p.normalization <= 8 &&
    (p.avgSize & (p.avgSize - 1)) === 0;
  if (!ok) throw new RangeError(`invalid chunking parameters ${JSON.stringify(p)}: need 64 <= min <= avg (a power of two) <= max <= 64 MiB`);
}

/** Precomputed masks for a parameter set. */
export interface CdcMasks {
  readonly min: number;
  readonly avg: number;
  readonly max: number;
  readonly maskS: number;
  readonly maskL: number;
  readonly maskSLs: number;
  readonly maskLLs: number;
}

export function cdcMasks(p: CdcParams): CdcMasks {
  validateCdcParams(p);
  const bits = Math.round(Math.log2(p.avgSize));
  const maskS = highBits(bits + p.normalization);
  const maskL = highBits(bits - p.normalization);
  return {
    min: p.minSize,
    avg: p.avgSize,
    max: p.maxSize,
    maskS,
    maskL,
    maskSLs: (maskS << 1) >>> 0,
    maskLLs: (maskL << 1) >>> 0,
  };
}

/**
 * Length of the next chunk of `buf[start, end)`. With `final` false the caller promises
 * that `end - start >= maxSize` or that more data may follow; when fewer than maxSize
 * bytes remain and more may follow, returns 0 ("need more data"). With `final` true the
 * remaining bytes are the end of the stream and the last chunk may be short.
 */
export function nextCut(buf: Uint8Array, start: number, end: number, m: CdcMasks, final: boolean): number {
  const available = end - start;
  if (available <= 0) return 0;
  if (available < m.max && !final) return 0;
  if (available <= m.min) return available;
  const n = available > m.max ? m.max : available;
  const normal = n < m.avg ? n : m.avg;

  // The hash needs no warm-up: bits above the 32-byte window are shifted out anyway.
  // Two bytes per iteration (FastCDC 2020, "rolling two bytes"): the even byte uses the
  // pre-shifted table and mask, so the check tests the same bits as the one-byte loop.
  let h = 0;
  let i = start + m.min;
  const normalEnd = start + normal;
  const end2 = start + n;
  const maskS = m.maskS;
  const maskSLs = m.maskSLs;
  const maskL = m.maskL;
  const maskLLs = m.maskLLs;
  // Align the two-byte loops to even distances from `i`.
  for (; i + 1 < normalEnd; i += 2) {
    h = ((h << 2) + GEAR_LS[buf[i]]) >>> 0;
    if ((h & maskSLs) === 0) return i - start + 1;
    h = (h + GEAR[buf[i + 1]]) >>> 0;
    if ((h & maskS) === 0) return i - start + 2;
  }
  if (i < normalEnd) {
    h = ((h << 1) + GEAR[buf[i]]) >>> 0;
    if ((h & maskS) === 0) return i - start + 1;
    i++;
  }
  for (; i + 1 < end2; i += 2) {
    h = ((h << 2) + GEAR_LS[buf[i]]) >>> 0;
    if ((h & maskLLs) === 0) return i - start + 1;
    h = (h + GEAR[buf[i + 1]]) >>> 0;
    if ((h & maskL) === 0) return i - start + 2;
  }
  if (i < end2) {
    h = ((h << 1) + GEAR[buf[i]]) >>> 0;
    if ((h & maskL) === 0) return i - start + 1;
  }
  return n;
}

/**
 * Reference one-byte-per-step implementation of the same rule; used by tests to check that
 * the two-byte loop cuts at exactly the same places.
 */
export function nextCutReference(buf: Uint8Array, start: number, end: number, m: CdcMasks, final: boolean): number {
  const available = end - start;
  if (available <= 0) return 0;
  if (available < m.max && !final) return 0;
  if (available <= m.min) return available;
  const n = Math.min(available, m.max);
  const normal = Math.min(n, m.avg);
  let h = 0;
  let i = m.min;
  for (; i < normal; i++) {
    h = ((h << 1) + GEAR[buf[start + i]]) >>> 0;
    if ((h & m.maskS) === 0) return i + 1;
  }
  for (; i < n; i++) {
    h = ((h << 1) + GEAR[buf[start + i]]) >>> 0;
    if ((h & m.maskL) === 0) return i + 1;
  }
  return n;
}

/** Cut points of a whole in-memory buffer: the chunk lengths, in order. */
export function chunkLengths(buf: Uint8Array, params: CdcParams): number[] {
  const m = cdcMasks(params);
  const out: number[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const len = nextCut(buf, pos, buf.length, m, true);
    out.push(len);
    pos += len;
  }
  return out;
}
