/**
 * The Ferry file hash (`sha256-tree-v1`, core/manifest.ts) of bytes held in one of the three
 * shapes a caller may have them in: a buffer, a stream, a local file. One module so that
 * every side of a comparison (an upload, a download's "already in place?" check, the sync
 * engine's `ferry-tree` hash) computes it the same way, with the chunker uploads use.
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { FileHasher, type ChunkingParams, type ChunkRef } from '../core/manifest.js';
import { chunkFile } from './chunk-file.js';
import { chunkStream } from './chunk-stream.js';
import { chunkLengths } from './fastcdc.js';

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Chunks an in-memory buffer (small files only): the refs and their slices of `buf` (views, not copies). */
export function chunkBuffer(buf: Buffer, params: ChunkingParams): Array<ChunkRef & { data: Buffer }> {
  const out: Array<ChunkRef & { data: Buffer }> = [];
  let o = 0;
  for (const len of chunkLengths(buf, params)) {
    const data = buf.subarray(o, o + len);
    out.push({ hash: sha256(data), size: len, data });
    o += len;
  }
  return out;
}

/** The file hash of a whole buffer. */
export function fileHashOfBuffer(data: Uint8Array, params: ChunkingParams): string {
  const file = new FileHasher();
  let o = 0;
  for (const len of chunkLengths(data, params)) {
    file.add(sha256(data.subarray(o, o + len)), len);
    o += len;
  }
  return file.digest();
}

/** The file hash of a byte stream, chunked as it arrives (the cuts do not depend on how the bytes come). */
export async function fileHashOfStream(stream: Readable | AsyncIterable<Uint8Array>, params: ChunkingParams, signal?: AbortSignal): Promise<string> {
  const file = new FileHasher();
  for await (const c of chunkStream(stream as AsyncIterable<Uint8Array>, params, { signal })) file.add(c.hash, c.size);
  return file.digest();
}

/** The file hash of a local file (chunked in worker threads when it is large). */
export async function fileHashOfFile(path: string, params: ChunkingParams, signal?: AbortSignal): Promise<string> {
  const file = new FileHasher();
  for await (const batch of chunkFile(path, params, { signal })) for (const r of batch) file.add(r.hash, r.size);
  return file.digest();
}
