/**
 * The format of an encrypted object, and of an encrypted name: what the encryption decorator
 * (`encryption.ts`) writes into the backend it wraps. AES-256-GCM, AES-256-CTR and
 * HMAC-SHA-256/512 of the OpenSSL inside Node, so AES-NI does the work (the segments' GCM
 * through the ferry-gcm addon when it is built: `segment-cipher.ts`).
 *
 * An object is a header and segments (the STREAM construction of Hoang, Reyhanitabar, Rogaway
 * and Vizár, as age and Tink use it):
 *
 *   header   magic "FRY1" | key id (8) | salt (16) | name tag (16) | plain size (u64 BE) | header tag (16)
 *   segment  AES-256-GCM(≤ 64 KiB of plain bytes) | GCM tag (16), at least one, the last one flagged
 *
 * - Every object has its own key: HMAC-SHA-512(data key, salt) gives the segment key and the
 *   header's MAC key. A random 128-bit salt per object makes nonce reuse impossible (a random
 *   96-bit nonce under one key would not be safe past some billions of objects), so segment
 *   nonces are just the segment's index plus a last-segment flag.
 * - The key id names the data key (of the key ring) the object was written with: rotating the
 *   master key re-wraps data keys and leaves bodies alone.
 * - The name tag is a MAC of the object's (plain) key: an authentic object put under another
 *   name is told apart from a damaged one (FERRY_ERR_CRYPTO_SWAPPED).
 * - The plain size is known for every write that announces one (chunks); `UNKNOWN_SIZE` for the
 *   others (packs), whose end is then proven by the last-segment flag alone.
 * - The header is the associated data of every segment: nothing of it can be changed unseen.
 *
 * Segments of 64 KiB: a range read (a small chunk inside a pack) decrypts at most two of them,
 * and the tags cost 0.02 % of the size; 16 KiB segments measured no faster for whole reads.
 * ChaCha20-Poly1305 was measured as the alternative (2026-12, 2 × EPYC, Node 20, 64 KiB per
 * cipher): 1.3–1.5 GB per CPU second in Node against 1.1–1.7 for AES-256-GCM (`openssl speed`:
 * 3.1 against 2.6 GB/s): no gain worth a second format.
 *
 * Names are encrypted per path segment, deterministically (a synthetic IV, as SIV): the IV is
 * HMAC-SHA-256(name MAC key, segment), the segment is AES-256-CTR encrypted under it, and the
 * stored name is base32 of IV | ciphertext (lower case: safe on case-folding stores). Equal
 * names encrypt equally (so a key is found again without a lookup), decrypting checks the IV
 * (a name that is not ours does not decrypt), and the directory tree stays a tree, so listing
 * a prefix is listing one encrypted prefix. A stored segment is 26 + 1.6 × the plain length
 * characters; to stay within 255 a plain segment may have at most 143 bytes.
 */
import { createCipheriv, createDecipheriv, createHmac, randomFillSync, timingSafeEqual } from 'node:crypto';
import { CryptoSwappedError, CryptoTamperedError, CryptoTruncatedError, PathInvalidError } from '../../core/errors.js';
import { segmentCipher, type SegmentCipher } from './segment-cipher.js';

export const MAGIC = Buffer.from('FRY1', 'latin1');
export const KEY_ID_BYTES = 8;
const SALT_BYTES = 16;
export const TAG_BYTES = 16;
/** Header bytes before its own tag (what the tag covers). */
const HEADER_BODY_BYTES = MAGIC.length + KEY_ID_BYTES + SALT_BYTES + TAG_BYTES + 8;
export const HEADER_BYTES = HEADER_BODY_BYTES + TAG_BYTES;
export const SEGMENT_BYTES = 64 * 1024;
export const SEALED_SEGMENT_BYTES = SEGMENT_BYTES + TAG_BYTES;
/** The plain size field of objects written without a known size. */
export const UNKNOWN_SIZE = 0xffff_ffff_ffff_ffffn;
/** The longest plain name segment whose encrypted form fits in 255 characters. */
export const MAX_NAME_SEGMENT_BYTES = 143;

/** Random bytes that salts are cut from (see {@link newSalt}). */
const SALT_POOL_BYTES = 4096;
let saltPool = Buffer.alloc(0);
let saltAt = 0;

/**
 * A new object's salt. Cut from a pool filled by one call to the CSPRNG per 256 salts: a
 * `randomBytes(16)` per object cost 2 µs warm and about 14 µs in a fresh server, 3 ms per
 * 256 MiB upload (`perf`, 2026-12-05; each call also made OpenSSL check for a fork, one more
 * getpid per object). A salt is public (it is in the header); it only has to be
 * unpredictable and never repeat, as the pool's are.
 */
export function newSalt(): Buffer {
  if (saltAt + SALT_BYTES > saltPool.length) {
    saltPool = randomFillSync(Buffer.allocUnsafeSlow(SALT_POOL_BYTES));
    saltAt = 0;
  }
  return saltPool.subarray(saltAt, (saltAt += SALT_BYTES));
}

/** A data key of the key ring, with the keys derived from it once. */
export interface DataKey {
  id: Buffer;
  key: Buffer;
}

export interface ObjectHeader {
  keyId: Buffer;
  salt: Buffer;
  nameTag: Buffer;
  /** Plain size, or undefined when the writer did not know it. */
  plainSize: number | undefined;
  /** The whole header as stored: the associated data of each segment. */
  raw: Buffer;
}

/** Stored size of an object of `plain` bytes. */
export function sealedSize(plain: number): number {
  const segments = Math.max(1, Math.ceil(plain / SEGMENT_BYTES));
  return HEADER_BYTES + plain + segments * TAG_BYTES;
}

/** Plain size of a stored object of `sealed` bytes; undefined when no object can have that size (it was cut). */
export function plainSizeOf(sealed: number): number | undefined {
  const rest = sealed - HEADER_BYTES;
  if (rest < TAG_BYTES) return undefined;
  const segments = Math.ceil(rest / SEALED_SEGMENT_BYTES);
  const last = rest - (segments - 1) * SEALED_SEGMENT_BYTES;
  if (last < TAG_BYTES) return undefined;
  return rest - segments * TAG_BYTES;
}

/**
 * The per-object keys: segment encryption (a {@link SegmentCipher}: native when the ferry-gcm
 * addon loads, Node's cipher API otherwise; keyed once, it serves every segment) and header MAC.
 * `implementation` picks the cipher's (tests).
 */
export function objectKeys(dataKey: Buffer, salt: Buffer, implementation?: 'native' | 'js'): { enc: SegmentCipher; mac: Buffer } {
  const okm = createHmac('sha512', dataKey).update('ferry object v1\0').update(salt).digest();
  const enc = segmentCipher(okm.subarray(0, 32), implementation);
  // The cipher holds its own copy of the segment key.
  okm.fill(0, 0, 32);
  return { enc, mac: okm.subarray(32) };
}

export function buildHeader(keyId: Buffer, salt: Buffer, nameTag: Buffer, plainSize: number | undefined, macKey: Buffer): Buffer {
  const h = Buffer.alloc(HEADER_BYTES);
  let at = MAGIC.copy(h, 0);
  at += keyId.copy(h, at);
  at += salt.copy(h, at);
  at += nameTag.copy(h, at);
  h.writeBigUInt64BE(plainSize === undefined ? UNKNOWN_SIZE : BigInt(plainSize), at);
  createHmac('sha256', macKey).update(h.subarray(0, HEADER_BODY_BYTES)).digest().copy(h, HEADER_BODY_BYTES, 0, TAG_BYTES);
  return h;
}

/** The header's fields, unverified (the key id says which key verifies it). Undefined: not an encrypted object. */
export function parseHeader(h: Buffer): ObjectHeader | undefined {
  if (h.length < HEADER_BYTES || !h.subarray(0, MAGIC.length).equals(MAGIC)) return undefined;
  let at = MAGIC.length;
  const take = (n: number) => h.subarray(at, (at += n));
  const keyId = take(KEY_ID_BYTES);
  const salt = take(SALT_BYTES);
  const nameTag = take(TAG_BYTES);
  const size = h.readBigUInt64BE(at);
  return { keyId, salt, nameTag, plainSize: size === UNKNOWN_SIZE ? undefined : Number(size), raw: h.subarray(0, HEADER_BYTES) };
}

/**
 * Checks the header's MAC and that it belongs to `nameTag`'s object. The MAC first: only an
 * authentic header can tell "swapped" from "damaged".
 */
export function verifyHeader(header: ObjectHeader, macKey: Buffer, nameTag: Buffer, what: string): void {
  const expected = createHmac('sha256', macKey).update(header.raw.subarray(0, HEADER_BODY_BYTES)).digest().subarray(0, TAG_BYTES);
  if (!timingSafeEqual(expected, header.raw.subarray(HEADER_BODY_BYTES, HEADER_BYTES))) {
    throw new CryptoTamperedError(`${what}: the header of the encrypted object failed authentication`);
  }
  if (!timingSafeEqual(header.nameTag, nameTag)) throw new CryptoSwappedError(`${what}: the encrypted object stored here belongs to another name`);
}

/** Encrypts one segment (plain bytes → ciphertext | tag) into a buffer of its own. */
export function sealSegment(key: SegmentCipher, aad: Buffer, index: number, last: boolean, plain: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(plain.length + TAG_BYTES);
  key.seal(aad, index, last, plain, out, 0);
  return out;
}

/**
 * Seals `plain` as segments `firstIndex`, `firstIndex + 1`, … straight into `out` at `at`
 * (ciphertext then tag, segment after segment), the final one flagged last when `endsObject`
 * (then `plain` may be empty: an empty object is one empty last segment). Every other segment
 * must be full. Returns where the next byte goes.
 */
export function sealSegmentsInto(key: SegmentCipher, aad: Buffer, firstIndex: number, plain: Uint8Array, endsObject: boolean, out: Buffer, at: number): number {
  const count = endsObject ? Math.max(1, Math.ceil(plain.length / SEGMENT_BYTES)) : plain.length / SEGMENT_BYTES;
  for (let i = 0; i < count; i++) {
    at = key.seal(aad, firstIndex + i, endsObject && i === count - 1, plain.subarray(i * SEGMENT_BYTES, (i + 1) * SEGMENT_BYTES), out, at);
  }
  return at;
}

/**
 * Decrypts segment `index` into `out` at `at` (which may overlap `sealed`: see
 * {@link SegmentCipher.open}). `last`: true or false when the header's size says which segment
 * is the last; undefined (size unknown) tries "not last" first and then "last". Returns the
 * number of plain bytes and whether the segment was the last one. A segment that authenticates
 * only as "not last" where the object ends is a cut object: the caller reports that.
 */
export function openSegmentInto(key: SegmentCipher, aad: Buffer, index: number, last: boolean | undefined, sealed: Buffer, what: string, out: Buffer, at: number): { length: number; last: boolean } {
  const tries = last === undefined ? [false, true] : [last];
  for (const flag of tries) {
    const length = key.open(aad, index, flag, sealed, out, at);
    if (length >= 0) return { length, last: flag };
  }
  // Where the size is known, a segment that is complete but not flagged as the object's end
  // means what followed it is gone.
  if (last === true && key.open(aad, index, false, sealed, out, at) >= 0) throw new CryptoTruncatedError(`${what}: the encrypted object ends early`);
  throw new CryptoTamperedError(`${what}: segment ${index} of the encrypted object failed authentication`);
}

/** {@link openSegmentInto} a buffer of its own: the plain bytes and whether the segment was the last one. */
export function openSegment(key: SegmentCipher, aad: Buffer, index: number, last: boolean | undefined, sealed: Buffer, what: string): { plain: Buffer; last: boolean } {
  const plain = Buffer.allocUnsafe(Math.max(0, sealed.length - TAG_BYTES));
  const opened = openSegmentInto(key, aad, index, last, sealed, what, plain, 0);
  return { plain: plain.subarray(0, opened.length), last: opened.last };
}

// ---- names ---------------------------------------------------------------------------------

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';
const BASE32_INDEX = new Map([...BASE32].map((c, i) => [c, i]));

function base32(bytes: Buffer): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

function unbase32(text: string): Buffer | undefined {
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const c of text) {
    const v = BASE32_INDEX.get(c);
    if (v === undefined) return undefined;
    value = (value << 5) | v;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 255);
      bits -= 8;
    }
    value &= (1 << bits) - 1;
  }
  return Buffer.from(out);
}

/** Encrypted directory segments kept by a {@link NameCipher} (a chunk store has about 520: chunks/xx, packs/xx). */
const DIRECTORIES_CACHED = 1024;

/** Deterministic encryption of key names, one path segment at a time (see the module comment). */
export class NameCipher {
  /** Encrypted forms of recent directory segments (all of a key's segments but its last). */
  private readonly directories = new Map<string, string>();

  constructor(
    private readonly encKey: Buffer,
    private readonly macKey: Buffer,
  ) {}

  /** The MAC binding an object's content to its key (the header's name tag). */
  tag(key: string): Buffer {
    return createHmac('sha256', this.macKey).update('object\0').update(key, 'utf8').digest().subarray(0, TAG_BYTES);
  }

  encryptSegment(segment: string): string {
    const plain = Buffer.from(segment, 'utf8');
    if (plain.length > MAX_NAME_SEGMENT_BYTES) {
      throw new PathInvalidError(`a name of ${plain.length} bytes is too long for an encrypted store (at most ${MAX_NAME_SEGMENT_BYTES} bytes)`);
    }
    const iv = createHmac('sha256', this.macKey).update('name\0').update(plain).digest().subarray(0, 16);
    const c = createCipheriv('aes-256-ctr', this.encKey, iv);
    return base32(Buffer.concat([iv, c.update(plain), c.final()]));
  }

  /** The plain segment, or undefined when `stored` is not a name this cipher made. */
  decryptSegment(stored: string): string | undefined {
    const bytes = unbase32(stored);
    if (!bytes || bytes.length < 16 || base32(bytes) !== stored) return undefined;
    const iv = bytes.subarray(0, 16);
    const d = createDecipheriv('aes-256-ctr', this.encKey, iv);
    const plain = Buffer.concat([d.update(bytes.subarray(16)), d.final()]);
    const check = createHmac('sha256', this.macKey).update('name\0').update(plain).digest().subarray(0, 16);
    if (!timingSafeEqual(check, iv)) return undefined;
    return plain.toString('utf8');
  }

  /**
   * A key's stored name. Its directories repeat from key to key (`chunks/ab/…`) and are
   * taken from a bounded cache: each segment costs an HMAC and a cipher, and a new chunk's
   * three segments were about 20 ms per 256 MiB upload in a server (`perf`, 2026-12-05).
   */
  encryptKey(key: string): string {
    if (key === '') return '';
    const parts = key.split('/');
    for (let i = 0; i < parts.length - 1; i++) parts[i] = this.encryptDirectory(parts[i]);
    parts[parts.length - 1] = this.encryptSegment(parts[parts.length - 1]);
    return parts.join('/');
  }

  private encryptDirectory(segment: string): string {
    let stored = this.directories.get(segment);
    if (stored === undefined) {
      stored = this.encryptSegment(segment);
      // Bounded: emptied when full (directory names of a store are few).
      if (this.directories.size >= DIRECTORIES_CACHED) this.directories.clear();
      this.directories.set(segment, stored);
    }
    return stored;
  }

  /** The plain key, or undefined when any segment is not ours. */
  decryptKey(stored: string): string | undefined {
    const parts: string[] = [];
    for (const s of stored.split('/')) {
      const plain = this.decryptSegment(s);
      if (plain === undefined) return undefined;
      parts.push(plain);
    }
    return parts.join('/');
  }
}
