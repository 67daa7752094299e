/**
 * The AES-256-GCM of one object's segments (the format is in `encryption-format.ts`): sealing
 * and opening a segment into a buffer the caller gives, at a position it gives. Two
 * implementations of one contract, byte for byte the same (test/backends/segment-cipher.test.ts):
 *
 * - native: the `ferry-gcm` addon (native/gcm, built by `npm install`): its own AES-256-GCM
 *   for VAES + VPCLMULQDQ where the processor has them, else the OpenSSL inside Node
 *   (FERRY_GCM_IMPL=openssl forces OpenSSL's). The output goes where the caller says and the
 *   key schedule is made once per object. Measured (2026-12, 2 × EPYC, Node 20, 256 MiB in
 *   64 KiB segments): 0.07 s of CPU to seal or to open through OpenSSL, about 0.03 s with the
 *   VAES code, against 0.16–0.21 s through Node's cipher API, whose every update returns a
 *   fresh buffer (page faults, garbage collection) that was then copied where it belonged.
 * - js: Node's cipher API (createCipheriv with a KeyObject made once per object), the fallback
 *   where the addon was not built or cannot load, and what FERRY_NATIVE_GCM=0 forces.
 *
 * A cipher serves one object, one segment at a time: `begin`/`update`/`final` seal a segment
 * given piece by piece and must not be interleaved with another segment of the same cipher.
 */
import { createCipheriv, createDecipheriv, createSecretKey, type CipherGCM, type KeyObject } from 'node:crypto';
import { InternalError } from '../../core/errors.js';
import { ferryNative, nativeDebug, type FerryNativeAddon } from '../../core/native-addon.js';

export const GCM_KEY_BYTES = 32;
const GCM_TAG_BYTES = 16;

export interface SegmentCipher {
  /** Which implementation this is. */
  readonly implementation: 'native' | 'js';
  /** Seals one whole segment (ciphertext, then tag) into `out` at `at`; returns where the next byte goes. */
  seal(aad: Buffer, index: number, last: boolean, plain: Uint8Array, out: Buffer, at: number): number;
  /** Starts a segment whose plain bytes come in pieces ({@link update}, then {@link final}). */
  begin(aad: Buffer, index: number, last: boolean): void;
  /** Encrypts a piece of the segment begun into `out` at `at`; returns where the next byte goes. */
  update(plain: Uint8Array, out: Buffer, at: number): number;
  /** Ends the segment begun: its tag into `out` at `at`; returns where the next byte goes. */
  final(out: Buffer, at: number): number;
  /**
   * Opens one sealed segment (ciphertext | tag) into `out` at `at`. Returns the number of plain
   * bytes, or -1 when the segment does not authenticate with that index and last flag: then no
   * byte of it is left in `out`, and `sealed` is unchanged (another flag may be tried). `out`
   * may overlap `sealed` (decryption in place, the plain bytes at or before their ciphertext).
   */
  open(aad: Buffer, index: number, last: boolean, sealed: Uint8Array, out: Buffer, at: number): number;
}

/** A segment's nonce: its index and whether it is the object's last (the STREAM construction). */
export function segmentNonce(index: number, last: boolean): Buffer {
  const n = Buffer.alloc(12);
  n.writeUInt32BE(index, 7);
  n[11] = last ? 1 : 0;
  return n;
}

class JsSegmentCipher implements SegmentCipher {
  readonly implementation = 'js';
  private readonly key: KeyObject;
  private cipher?: CipherGCM;

  constructor(key: Buffer) {
    // A KeyObject made once serves every segment's cipher without importing the key again (25 % less CPU per segment, measured).
    this.key = createSecretKey(key);
  }

  seal(aad: Buffer, index: number, last: boolean, plain: Uint8Array, out: Buffer, at: number): number {
    this.begin(aad, index, last);
    return this.final(out, this.update(plain, out, at));
  }

  begin(aad: Buffer, index: number, last: boolean): void {
    this.cipher = createCipheriv('aes-256-gcm', this.key, segmentNonce(index, last));
    this.cipher.setAAD(aad);
  }

  update(plain: Uint8Array, out: Buffer, at: number): number {
    return at + this.cipher!.update(plain).copy(out, at);
  }

  final(out: Buffer, at: number): number {
    this.cipher!.final();
    const end = at + this.cipher!.getAuthTag().copy(out, at);
    this.cipher = undefined;
    return end;
  }

  open(aad: Buffer, index: number, last: boolean, sealed: Uint8Array, out: Buffer, at: number): number {
    if (sealed.length < GCM_TAG_BYTES) return -1;
    const d = createDecipheriv('aes-256-gcm', this.key, segmentNonce(index, last));
    d.setAAD(aad);
    d.setAuthTag(sealed.subarray(sealed.length - GCM_TAG_BYTES));
    if (at < 0 || out.length - at < sealed.length - GCM_TAG_BYTES) throw new RangeError('the output buffer is too small at that position');
    const plain = d.update(sealed.subarray(0, sealed.length - GCM_TAG_BYTES));
    try {
      d.final();
    } catch {
      return -1;
    }
    return plain.copy(out, at);
  }
}

class NativeSegmentCipher implements SegmentCipher {
  readonly implementation = 'native';
  /** The addon's key: two OpenSSL contexts, keyed once, wiped when this is collected. */
  private readonly handle: object;

  constructor(
    private readonly addon: FerryNativeAddon,
    key: Buffer,
  ) {
    this.handle = addon.newKey(key);
  }

  seal(aad: Buffer, index: number, last: boolean, plain: Uint8Array, out: Buffer, at: number): number {
    return this.addon.seal(this.handle, index, last, aad, plain, out, at);
  }

  begin(aad: Buffer, index: number, last: boolean): void {
    this.addon.sealBegin(this.handle, index, last, aad);
  }

  update(plain: Uint8Array, out: Buffer, at: number): number {
    return this.addon.sealUpdate(this.handle, plain, out, at);
  }

  final(out: Buffer, at: number): number {
    return this.addon.sealFinal(this.handle, out, at);
  }

  open(aad: Buffer, index: number, last: boolean, sealed: Uint8Array, out: Buffer, at: number): number {
    return this.addon.open(this.handle, index, last, aad, sealed, out, at);
  }
}

let told = false;

/** The addon for segments; undefined (and why, logged once: NODE_DEBUG=ferry) when it is not used. */
function nativeAddon(): FerryNativeAddon | undefined {
  const { addon, why } = ferryNative();
  if (!told) {
    told = true;
    nativeDebug('AES-256-GCM segments: %s', addon ? `native (ferry-gcm, ${addon.implementation ?? 'openssl'})` : `Node's cipher API (the ferry-gcm addon is not used: ${why})`);
  }
  return addon;
}

/** Which implementation {@link segmentCipher} gives, and why not the native one when it is not. */
export function segmentCipherImplementation(): { implementation: 'native' | 'js'; why?: string } {
  return nativeAddon() ? { implementation: 'native' } : { implementation: 'js', why: ferryNative().why };
}

/**
 * A cipher for one object's segments under `key` (32 bytes, copied: the caller may wipe it).
 * `implementation` picks one (tests); by default the native one when it loads.
 */
export function segmentCipher(key: Buffer, implementation?: 'native' | 'js'): SegmentCipher {
  if (key.length !== GCM_KEY_BYTES) throw new RangeError(`a segment key is ${GCM_KEY_BYTES} bytes`);
  if (implementation === 'js') return new JsSegmentCipher(key);
  const addon = nativeAddon();
  if (addon) return new NativeSegmentCipher(addon, key);
  if (implementation === 'native') throw new InternalError(`the ferry-gcm addon is not available: ${ferryNative().why}`);
  return new JsSegmentCipher(key);
}
