/**
 * SHA-256 for the client, wherever it runs. The transfer code asks a {@link Sha256} for the
 * digest of a chunk given as the pieces it arrived in; Node.js answers with node:crypto
 * (synchronous, ./node-hashing.ts), browsers with Web Crypto (asynchronous, here). Chunk
 * names and the file hash (sha256-tree-v1, core/manifest.ts) are the same either way.
 */
import type { ChunkRef } from '../core/chunk-refs.js';

export interface Sha256 {
  /** Hex SHA-256 of the concatenation of `pieces`. */
  digest(pieces: readonly Uint8Array[]): string | Promise<string>;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

export function toHex(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += HEX[bytes[i]];
  return s;
}

/** `hex` must be well-formed (even length, hex digits); callers validate hashes first. */
export function fromHex(hex: string, out: Uint8Array = new Uint8Array(hex.length >> 1), at = 0): Uint8Array {
  for (let i = 0; i < hex.length; i += 2) out[at + (i >> 1)] = parseInt(hex.slice(i, i + 2), 16);
  return out;
}

/** One buffer holding `pieces` back to back (the piece itself when there is one). */
export function concatBytes(pieces: readonly Uint8Array[]): Uint8Array {
  if (pieces.length === 1) return pieces[0];
  let n = 0;
  for (const p of pieces) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of pieces) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * Web Crypto's SHA-256 (`crypto.subtle.digest`): native code, off the page's thread in
 * Chromium. `digest` takes a copy of its input when called, so a caller may reuse the
 * memory (the chunker's data area) as soon as the call has returned its promise.
 */
export const webSha256: Sha256 = {
  async digest(pieces) {
    const data = concatBytes(pieces);
    return toHex(new Uint8Array(await crypto.subtle.digest('SHA-256', data as Uint8Array<ArrayBuffer>)));
  },
};

/** The file hash (sha256-tree-v1): SHA-256 of the raw chunk hashes, in order. */
export async function fileHashOf(chunks: readonly ChunkRef[], sha: Sha256): Promise<string> {
  const raw = new Uint8Array(32 * chunks.length);
  for (let i = 0; i < chunks.length; i++) fromHex(chunks[i].hash, raw, 32 * i);
  return sha.digest([raw]);
}
