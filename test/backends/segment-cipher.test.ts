/**
 * The two implementations of a segment cipher (segment-cipher.ts): the ferry-gcm addon and
 * Node's cipher API give byte-identical segments, each opens the other's, both refuse what
 * does not authenticate without leaving plain bytes behind, both decrypt in place. Whole
 * objects written through one open with the other (objects stored before the addon still
 * read). The addon is built by `npm install`: here it must have loaded.
 */
import { createCipheriv, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { HEADER_BYTES, SEALED_SEGMENT_BYTES, SEGMENT_BYTES, buildHeader, objectKeys, openSegment, sealSegmentsInto, sealedSize } from '../../src/backends/decorators/encryption-format.js';
import { segmentCipher, segmentCipherImplementation, segmentNonce, type SegmentCipher } from '../../src/backends/decorators/segment-cipher.js';

const IMPLEMENTATIONS = ['native', 'js'] as const;
const SIZES = [0, 1, 15, 16, 17, 4095, SEGMENT_BYTES - 1, SEGMENT_BYTES];

/** The reference: Node's cipher API used directly, as the format describes a segment. */
function reference(key: Buffer, aad: Buffer, index: number, last: boolean, plain: Buffer): Buffer {
  const c = createCipheriv('aes-256-gcm', key, segmentNonce(index, last));
  c.setAAD(aad);
  return Buffer.concat([c.update(plain), c.final(), c.getAuthTag()]);
}

function sealWith(cipher: SegmentCipher, aad: Buffer, index: number, last: boolean, plain: Buffer): Buffer {
  const out = Buffer.alloc(plain.length + 16 + 7);
  const end = cipher.seal(aad, index, last, plain, out, 7);
  expect(end).toBe(7 + plain.length + 16);
  return out.subarray(7, end);
}

describe('segment ciphers: native (ferry-gcm) and Node cipher API', () => {
  it('the addon was built and loads (npm install builds it)', () => {
    expect(segmentCipherImplementation()).toEqual({ implementation: 'native' });
    expect(segmentCipher(randomBytes(32)).implementation).toBe('native');
  });

  it('seal the same bytes as the reference, whole or piece by piece, for every size, index and last flag', () => {
    const key = randomBytes(32);
    const aad = randomBytes(HEADER_BYTES);
    for (const impl of IMPLEMENTATIONS) {
      const cipher = segmentCipher(key, impl);
      expect(cipher.implementation).toBe(impl);
      for (const size of SIZES) {
        for (const [index, last] of [[0, true], [0, false], [1, false], [0x01020304, true]] as const) {
          const plain = randomBytes(size);
          const expected = reference(key, aad, index, last, plain);
          expect(sealWith(cipher, aad, index, last, plain).equals(expected), `${impl} ${size} ${index} ${last}`).toBe(true);
          // Piece by piece, pieces of uneven sizes (an empty one included).
          const out = Buffer.alloc(size + 16);
          cipher.begin(aad, index, last);
          let at = 0;
          for (const cut of [0, 0, 3, 1000, size]) at = cipher.update(plain.subarray(Math.min(at, size), Math.min(Math.max(at, cut), size)), out, at);
          expect(cipher.final(out, at)).toBe(size + 16);
          expect(out.equals(expected), `${impl} pieces ${size}`).toBe(true);
        }
      }
    }
  });

  it('each opens the other\'s segments; a wrong index, flag, header or byte is refused and leaves no plain byte', () => {
    const key = randomBytes(32);
    const aad = randomBytes(HEADER_BYTES);
    const [native, js] = IMPLEMENTATIONS.map((i) => segmentCipher(key, i));
    const plain = randomBytes(SEGMENT_BYTES);
    for (const [sealer, opener] of [[native, js], [js, native], [native, native], [js, js]]) {
      const sealed = sealWith(sealer, aad, 3, false, plain);
      const out = Buffer.alloc(SEGMENT_BYTES + 5);
      expect(opener.open(aad, 3, false, sealed, out, 5)).toBe(SEGMENT_BYTES);
      expect(out.subarray(5).equals(plain)).toBe(true);
      const flipped = Buffer.from(sealed);
      flipped[100] ^= 1;
      const wrongAad = Buffer.from(aad);
      wrongAad[0] ^= 1;
      for (const [a, index, last, s] of [[aad, 4, false, sealed], [aad, 3, true, sealed], [wrongAad, 3, false, sealed], [aad, 3, false, flipped], [aad, 3, false, sealed.subarray(0, 15)]] as const) {
        const target = Buffer.alloc(SEGMENT_BYTES, 0xaa);
        expect(opener.open(a, index, last, s, target, 0)).toBe(-1);
        expect(target.includes(plain.subarray(0, 64)), `${opener.implementation} left plain bytes`).toBe(false);
      }
    }
  });

  it('decrypts in place (plain bytes before their ciphertext), also after a try with the wrong flag', () => {
    const key = randomBytes(32);
    const aad = randomBytes(HEADER_BYTES);
    for (const impl of IMPLEMENTATIONS) {
      const cipher = segmentCipher(key, impl);
      const plains = [randomBytes(SEGMENT_BYTES), randomBytes(1234)];
      // Two segments after a header, as a chunk read into the caller's buffer holds them.
      const buf = Buffer.alloc(HEADER_BYTES + 2 * SEALED_SEGMENT_BYTES);
      let at = sealWith(cipher, aad, 0, false, plains[0]).copy(buf, HEADER_BYTES) + HEADER_BYTES;
      at += sealWith(cipher, aad, 1, true, plains[1]).copy(buf, at);
      const seg0 = buf.subarray(HEADER_BYTES, HEADER_BYTES + SEALED_SEGMENT_BYTES);
      const seg1 = buf.subarray(HEADER_BYTES + SEALED_SEGMENT_BYTES, at);
      expect(cipher.open(aad, 0, true, seg0, buf, 0)).toBe(-1);
      expect(cipher.open(aad, 0, false, seg0, buf, 0)).toBe(SEGMENT_BYTES);
      expect(cipher.open(aad, 1, false, seg1, buf, SEGMENT_BYTES)).toBe(-1);
      expect(cipher.open(aad, 1, true, seg1, buf, SEGMENT_BYTES)).toBe(1234);
      expect(buf.subarray(0, SEGMENT_BYTES + 1234).equals(Buffer.concat(plains)), impl).toBe(true);
    }
  });

  it('whole objects sealed through one implementation open segment by segment with the other', () => {
    const dataKey = randomBytes(32);
    const salt = randomBytes(16);
    const tag = randomBytes(16);
    const body = randomBytes(3 * SEGMENT_BYTES + 777);
    const sealedBy = new Map<string, Buffer>();
    for (const impl of IMPLEMENTATIONS) {
      const keys = objectKeys(dataKey, salt, impl);
      const header = buildHeader(randomBytes(8).fill(1), salt, tag, body.length, keys.mac);
      const out = Buffer.alloc(sealedSize(body.length));
      header.copy(out);
      // Half whole-buffer sealing, half the streaming sealer: both write paths.
      let at = sealSegmentsInto(keys.enc, header, 0, body.subarray(0, 2 * SEGMENT_BYTES), false, out, HEADER_BYTES);
      keys.enc.begin(header, 2, false);
      at = keys.enc.update(body.subarray(2 * SEGMENT_BYTES, 2 * SEGMENT_BYTES + 1000), out, at);
      at = keys.enc.final(out, keys.enc.update(body.subarray(2 * SEGMENT_BYTES + 1000, 3 * SEGMENT_BYTES), out, at));
      at = sealSegmentsInto(keys.enc, header, 3, body.subarray(3 * SEGMENT_BYTES), true, out, at);
      expect(at).toBe(out.length);
      sealedBy.set(impl, out);
    }
    // A fresh salt makes every object's bytes its own; the same salt, the same bytes.
    expect(sealedBy.get('native')!.equals(sealedBy.get('js')!)).toBe(true);
    for (const impl of IMPLEMENTATIONS) {
      const keys = objectKeys(dataKey, salt, impl);
      const sealed = sealedBy.get(impl === 'native' ? 'js' : 'native')!;
      const header = sealed.subarray(0, HEADER_BYTES);
      const parts: Buffer[] = [];
      for (let i = 0; i < 4; i++) {
        const segment = sealed.subarray(HEADER_BYTES + i * SEALED_SEGMENT_BYTES, HEADER_BYTES + (i + 1) * SEALED_SEGMENT_BYTES);
        parts.push(openSegment(keys.enc, header, i, i === 3, segment, 'x').plain);
      }
      expect(Buffer.concat(parts).equals(body), impl).toBe(true);
    }
  });

  it('both refuse an output too small to open into; the native cipher also a key that is not 32 bytes, an output too small to seal into and bytes outside a begun segment, with an error, not a crash', () => {
    expect(() => segmentCipher(randomBytes(16))).toThrow(RangeError);
    const js = segmentCipher(randomBytes(32), 'js');
    expect(() => js.open(randomBytes(10), 0, true, randomBytes(200), Buffer.alloc(100), 0)).toThrow(/too small/);
    const cipher = segmentCipher(randomBytes(32), 'native');
    const out = Buffer.alloc(200);
    expect(() => cipher.update(randomBytes(10), out, 0)).toThrow(/no segment is begun/);
    cipher.begin(randomBytes(10), 0, true);
    cipher.final(out, cipher.update(randomBytes(10), out, 0));
    // Ended: no more bytes under that nonce.
    expect(() => cipher.update(randomBytes(10), out, 0)).toThrow(/no segment is begun/);
    expect(() => cipher.final(out, 0)).toThrow(/no segment is begun/);
    expect(() => cipher.seal(randomBytes(10), 0, true, randomBytes(100), Buffer.alloc(100), 0)).toThrow(/too small/);
    expect(() => cipher.open(randomBytes(10), 0, true, randomBytes(200), Buffer.alloc(100), 0)).toThrow(/too small/);
  });
});
