/**
 * Binary form of a chunk list, as manifests are stored in the metadata store:
 * 36 bytes per chunk, `32-byte raw SHA-256 | uint32 big-endian size`. A 10 GiB file of
 * ~1 MiB chunks is ~360 KB, a third of its JSON form.
 */
import type { ChunkRef } from '../core/manifest.js';

const ENTRY = 36;

export function encodeChunkList(chunks: readonly ChunkRef[]): Buffer {
  const out = Buffer.allocUnsafe(chunks.length * ENTRY);
  for (let i = 0; i < chunks.length; i++) {
    const o = i * ENTRY;
    out.write(chunks[i].hash, o, 32, 'hex');
    out.writeUInt32BE(chunks[i].size, o + 32);
  }
  return out;
}

export function decodeChunkList(buf: Uint8Array): ChunkRef[] {
  const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const n = Math.floor(b.length / ENTRY);
  const out = new Array<ChunkRef>(n);
  for (let i = 0; i < n; i++) {
    const o = i * ENTRY;
    out[i] = { hash: b.toString('hex', o, o + 32), size: b.readUInt32BE(o + 32) };
  }
  return out;
}
