/**
 * An end-to-end encrypted upload of a Blob (a file a person picked or dropped in the web
 * app), in the format `ferry put --encrypt` writes (docs/e2e.md, "A stored file"): the
 * same content-defined chunker as plain browser uploads (../blob-upload.ts: the FastCDC
 * WebAssembly kernel with the server's parameters, the maximum lowered by the 16-byte
 * tag), each chunk encrypted under its convergent key once and sent as it is cut, then the
 * stored file (header + those chunks) committed (./single-pass.ts): chunks the server has
 * are not sent (dedup within the user key).
 *
 * Memory: the Blob is read in windows and slices (Blob.slice), never whole; a few chunks
 * are held at once (read ahead, encrypted, waiting for a slot: at most about four maximum
 * chunks), and the table of chunk keys grows by about 150 bytes a chunk.
 *
 * Imports nothing of Node.js (the web app bundles it; Node.js runs it in tests).
 */
import type { Entry } from '../../core/protocol.js';
import type { ChunkingParams } from '../../core/chunk-refs.js';
import type { FerryApi } from '../api.js';
import { chunkBlob } from '../blob-upload.js';
import type { Sha256 } from '../hashing.js';
import { TransferContext, type TransferOptions, type TransferResult } from '../transfer.js';
import type { UploadHooks } from '../upload-flow.js';
import type { E2eKeys, KdfParams } from './format.js';
import { plainChunking, uploadEncryptedOnce, type PlainChunk } from './single-pass.js';

/** Chunk reads from the Blob in flight ahead of the encryption. */
const READ_AHEAD = 2;

export interface EncryptedBlobTarget {
  keys: E2eKeys;
  /** The KDF parameters of the marker the keys come from (written into the header). */
  kdf: KdfParams;
  /** Where the stored file goes: its encrypted path (locate.ts, serverPathOf). */
  serverPath: string;
  /** The plain name, sealed in the header's table. */
  name: string;
}

export interface EncryptedBlobOptions extends TransferOptions, UploadHooks {
  noOverwrite?: boolean;
  /** Replace the stored file only if it still has this ETag (EncryptOnceOptions.ifMatch). */
  ifMatch?: string;
}

const readSlice = async (blob: Blob, offset: number, size: number): Promise<Uint8Array> => new Uint8Array(await blob.slice(offset, offset + size).arrayBuffer());

/**
 * The plain chunks of `blob` with their bytes: cut and hashed in windows by the chunker,
 * each chunk's bytes then read as a slice of the Blob (a few ahead), so that no more than
 * a window and a few chunks are in memory.
 */
async function* blobChunks(blob: Blob, params: ChunkingParams, sha: Sha256, signal: AbortSignal): AsyncGenerator<PlainChunk> {
  const ahead: Array<{ hash: string; size: number; data: Promise<Uint8Array> }> = [];
  // Windows of two maximum chunks (not the plain upload's 16 MiB): with the chunks read
  // ahead, gathered and waiting for slots, the page holds about 30 MiB at most.
  for await (const batch of chunkBlob(blob, params, sha, signal, 2 * params.maxSize)) {
    for (const r of batch) {
      const data = readSlice(blob, r.offset, r.size);
      data.catch(() => undefined); // awaited in order below
      ahead.push({ hash: r.hash, size: r.size, data });
      if (ahead.length >= READ_AHEAD) {
        const c = ahead.shift()!;
        yield { hash: c.hash, size: c.size, data: await c.data };
      }
    }
  }
  for (const c of ahead.splice(0)) yield { hash: c.hash, size: c.size, data: await c.data };
}

/**
 * Uploads `blob` end-to-end encrypted to `target.serverPath`, reading and encrypting each
 * chunk once. The server records the upload time and mode 0600 (as `ferry put --encrypt`
 * does); the real name, size and mtime are in the sealed table. Resolves with the
 * committed entry (stored size) and the figures (plain bytes; what travelled).
 */
export async function uploadEncryptedBlob(api: FerryApi, blob: Blob, target: EncryptedBlobTarget, options: EncryptedBlobOptions = {}): Promise<{ entry: Entry; result: TransferResult }> {
  const ctx = new TransferContext(api, options);
  const caps = await api.capabilities({ signal: ctx.signal });
  ctx.progress.addTotals(blob.size, 1);
  const lastModified = (blob as Blob & { lastModified?: number }).lastModified;
  const entry = await uploadEncryptedOnce(
    ctx,
    blobChunks(blob, plainChunking(caps), api.sha, ctx.signal),
    { keys: target.keys, kdf: target.kdf, serverPath: target.serverPath, name: target.name, mtime: lastModified ?? Date.now() },
    {
      noOverwrite: options.noOverwrite,
      ifMatch: options.ifMatch,
      onSession: options.onSession,
      // A picked File is a snapshot of the file: it can be read again (a file changed on
      // disk fails to read, NotReadableError).
      reread: (offset, size) => readSlice(blob, offset, size),
      // A page's heap: a maximum chunk's worth gathered, as much ciphertext waiting for slots.
      batchBytes: caps.chunking.maxSize,
      heldBytes: caps.chunking.maxSize,
    },
  );
  return { entry, result: ctx.finish() };
}
