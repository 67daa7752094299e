/**
 * FastCDC content-defined chunking ("fastcdc-v1"), normalized, with a 32-bit gear hash.
 *
 * Imports nothing of the project: the chunker is the format. Two peers dedup only if they
 * cut identically, so everything that decides a cut point is fixed here and versioned by
 * the algorithm name: the gear table (derived from SHA-256, written out below), the mask layout and the
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
export interface CdcParams {
  minSize: number;
  avgSize: number;
  maxSize: number;
  /** Bits added to (below avg) and removed from (above avg) the mask; 0 disables normalization. */
  normalization: number;
}

/**
 * 256 pseudo-random 32-bit values, fixed for fastcdc-v1: entry i is the first four bytes
 * (big-endian) of SHA-256("ferry-fastcdc-v1 gear " + i). Written out rather than computed
 * at load so that this module needs no hash function and runs unchanged in browsers;
 * fastcdc.test.ts recomputes the derivation and checks every entry.
 */
export const GEAR: Uint32Array = Uint32Array.from([
  0xf2496214, 0xa35343e2, 0xfd914a1d, 0xa45c8dbf, 0x4cbc5279, 0x0c29c0d0, 0x8a220119, 0x7e58fe09,
  0x2057f5c4, 0x2cc4ee6e, 0xcca4f906, 0x35a4c550, 0x57369ccc, 0x8e45d68b, 0xfeecf275, 0x31a555f5,
  0x436f75b8, 0x19afe672, 0x55fc83d2, 0xdf37613d, 0x5b9bae1e, 0xd0b999d0, 0xe323448d, 0x5d964322,
  0x3934e594, 0xe3b8ef46, 0x6f26f7f5, 0xb7d75d3a, 0xfcf98829, 0xd05c98af, 0x55c46668, 0x7ea81d68,
  0x0ad437d7, 0xc43a9abf, 0x87476510, 0xcce09288, 0x628f00a9, 0x3c88e9d1, 0x383affd1, 0xcd81bc05,
  0xc5f026ff, 0x6d1bb0bb, 0x97109a4f, 0x1c8aa4b4, 0xdaf30fda, 0xca41810b, 0x44026f6e, 0x670977b8,
  0xc60b4d0a, 0x0afe5783, 0xed28c3aa, 0x0d45bdd4, 0x78f0c825, 0x863fb1b7, 0x6a6b0a7a, 0x1de05b46,
  0x32d2b1d1, 0xb8f9f350, 0x2753d094, 0x7b76bd72, 0x4c75c228, 0xe76ac096, 0x3c1ed874, 0x7803cc67,
  0xc5b700ed, 0xb49ba981, 0x08b82430, 0x938846b4, 0xcbc63f0a, 0x31718e2a, 0x59bb4d99, 0x60ca0b58,
  0x44d5cbee, 0x1729f682, 0x42725a34, 0xaa0b2eeb, 0x2aa10964, 0x4e876efc, 0x7f0a29d0, 0x16b976fe,
  0x945336ce, 0xdf33d57e, 0xc1cb6cf6, 0xa2f1a2c6, 0xf2a6ac95, 0xd76cc91a, 0xd984f445, 0x23ae5398,
  0x2062cd71, 0x525e1fd4, 0x5be14c62, 0x164f72d6, 0x4b460c46, 0x7ef9c499, 0xd4907a0d, 0x421e7af4,
  0xd94c5556, 0x35d49c46, 0x9b885c9e, 0x75c9bb88, 0xdab7c91b, 0x89d72c55, 0xa34a2eff, 0xdb092a8a,
  0x0477d725, 0x0f73b3d0, 0xf8b31dda, 0xd3057317, 0x994cbbd1, 0xe74f6c34, 0x6cff0736, 0x68af9fbd,
  0x6733d93b, 0x274b2e18, 0x8bf0fee0, 0xe1c674e9, 0xfdf0a721, 0xd740c277, 0x49a5f809, 0x609dd0bc,
  0xada34249, 0xa74bde42, 0x61eed9e5, 0xcbc73fcb, 0x07a2cc1e, 0x384bfa42, 0xd866f79b, 0xf5a3a35e,
  0xc3f2a2e9, 0xcfcb3cbe, 0xc0d65747, 0x0dfc2794, 0x2e47b72d, 0x507916e6, 0xb445afa0, 0xaaf15e91,
  0x55cd721e, 0x2132558c, 0xb43d9958, 0x4769e2a9, 0xcafd95d2, 0xe3af05ad, 0xcf23644c, 0x2e68fd17,
  0x0707f24b, 0x6e1d93ff, 0x7b3c0ce2, 0x49032ce5, 0x8ef343d2, 0x03c23478, 0x04b45d65, 0x09363a82,
  0x40300d2e, 0xcb64b030, 0xc4d71018, 0x1295dd23, 0x7f0b5609, 0x32f793ed, 0x9f5a357b, 0xae94b389,
  0x096e356a, 0xc6dce7c3, 0xa648984a, 0xa5c54c7d, 0x5bd9ddb2, 0x27e3394a, 0x5a188143, 0xabc7166a,
  0x23e1255f, 0xb8a2d5af, 0xdc9277f6, 0x2227e529, 0xf5e92658, 0x94be3f5e, 0xe3518bd8, 0xa45ed2a6,
  0xcbaf019a, 0x12f24f4d, 0x2f3fb058, 0xc76fb346, 0xb3aeb6e8, 0x10762880, 0x46f6e8b7, 0x45bb94dc,
  0x697b1fd2, 0x13f30d36, 0x411aae4e, 0xd57a20f8, 0x14808c58, 0x1db261bb, 0xebc68645, 0x733a5179,
  0x4ccdee96, 0x6842d01f, 0x3d3f0c5e, 0xb38d0c15, 0x4ec953d5, 0xd8bdc853, 0xaad0e294, 0x79d26cb2,
  0xba19ee1c, 0x174eccac, 0x412dbb4a, 0x0ec1a77a, 0x46db3d78, 0xe5efd0ba, 0x984491d2, 0x9ac81584,
  0x00a4d7a1, 0x29bb26b8, 0x02ea25c3, 0x11ef172d, 0x7aa2b836, 0x78adf8ab, 0x0fcb2a8c, 0x710d742e,
  0x47f6f8ed, 0xd51dab31, 0xe545f6a5, 0x4b451410, 0x3d65f446, 0xe55ab69b, 0xd1814302, 0x97e5bb8b,
  0x3898e750, 0xcb7240d0, 0xac53a659, 0x0f5fc8d7, 0xa2e955f8, 0xa5c78e8d, 0x07dbcdb6, 0x103ed0d6,
  0xdd8b0884, 0x8b9ce88c, 0x3aad610d, 0xc9e17b8e, 0xaed0e5db, 0xbba59621, 0x6c6c8494, 0x0639408e,
  0x9c1a9042, 0x3c61f241, 0x27359bf9, 0xd362eb12, 0x371f7973, 0x9c40a439, 0x5c7d6324, 0xba0a284d,
  0xa501bba8, 0xc5a55104, 0x90ee6418, 0x9ba38dc9, 0x623ef5de, 0xce9d6d38, 0xf8aec18c, 0xec1f2602,
]);

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

/**
 * Whether the cut rule could have ended a chunk of `len` bytes that starts at `start`
 * where it ends: false only when it surely could not (the gear hash at its last byte fails
 * the mask that applies there). True for chunks of maxSize or less than minSize, which the
 * size limits or a file's end may cut whatever their bytes. A chunk list's guide
 * (chunk-guide.ts) checks this before it SHA-256s a range: a chunk that an edit shifted
 * costs 31 bytes of gear hash to reject, not a hash of the whole chunk.
 */
export function mayEndAt(buf: Uint8Array, start: number, len: number, m: CdcMasks): boolean {
  if (len >= m.max || len <= m.min) return true;
  // Bits 0-30 of the hash, those the masks test, depend on the last 31 bytes only.
  const end = start + len;
  let h = 0;
  for (let i = Math.max(start + m.min, end - 31); i < end; i++) h = ((h << 1) + GEAR[buf[i]]) >>> 0;
  return (h & (len <= m.avg ? m.maskS : m.maskL)) === 0;
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
