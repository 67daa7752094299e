/**
 * Chunks, manifests and the file hash.
 *
 * A chunk is named by the SHA-256 of its bytes (64 lowercase hex digits).
 * A manifest is the ordered list of a file's chunks.
 *
 * The file hash ("sha256-tree") is the SHA-256 of the concatenated raw 32-byte chunk
 * hashes, in order. It is what ETag, `ferry stat` and the sync engine call a file's hash.
 * Why not SHA-256 of the whole content: that is a second full pass over every byte on the
 * client (1 core-second per 1.8 GB here) on top of the chunk hashes, and it cannot be
 * parallelized; the tree hash costs nothing beyond the chunk hashes, identifies the content
 * just as well (the chunk list is unambiguous: fixed-width entries), and lets the server
 * check a client's claim from the manifest alone. The price: the value depends on the
 * chunking parameters, which are fixed per server and reported in its capabilities.
 */
import { createHash } from 'node:crypto';
import type { ChunkRef } from './chunk-refs.js';

// The node-free half (types, parameters, validation, offsets) lives in chunk-refs.ts, which
// browsers load too; this module adds the synchronous hashing that needs node:crypto.
export * from './chunk-refs.js';

/** Incremental computation of the file hash over chunk hashes, in order. */
export class FileHasher {
  private readonly h = createHash('sha256');
  private bytes = 0;
  private count = 0;

  add(chunkHash: string, size: number): void {
    this.h.update(Buffer.from(chunkHash, 'hex'));
    this.bytes += size;
    this.count += 1;
  }

  get size(): number {
    return this.bytes;
  }

  get chunkCount(): number {
    return this.count;
  }

  digest(): string {
    return this.h.digest('hex');
  }
}

/** The file hash of a chunk list. */
export function fileHashOf(chunks: readonly ChunkRef[]): string {
  const h = new FileHasher();
  for (const c of chunks) h.add(c.hash, c.size);
  return h.digest();
}
