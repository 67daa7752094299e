/**
 * Uploads of Blobs (a file a person picked or dropped in a browser): cut with the same
 * FastCDC WebAssembly kernel as the CLI (src/algo/cdc-kernel.ts), each chunk named by
 * SHA-256 (Web Crypto in browsers), then the same upload flow (./upload-flow.ts): the server
 * answers with the chunks it lacks, only those travel, several at once, small ones in
 * packs. A file uploaded from a browser dedups against the same bytes uploaded by the CLI,
 * and an interrupted upload, started again, sends only what the server does not have yet.
 *
 * Imports nothing of Node.js.
 */
import { throwIfAborted } from '../core/errors.js';
import type { ChunkingParams } from '../core/chunk-refs.js';
import { normalizePath } from '../core/path.js';
import { checkUploadMeta } from '../core/option-values.js';
import type { Entry } from '../core/protocol.js';
import { CdcKernel, cdcParamsOf } from '../algo/cdc-kernel.js';
import type { FerryApi } from './api.js';
import type { Sha256 } from './hashing.js';
import { TransferContext, type TransferOptions, type TransferResult } from './transfer.js';
import { uploadFile, type ChunkRecord, type ChunkSource, type UploadHooks } from './upload-flow.js';

const MiB = 1024 * 1024;

/**
 * The chunks of `blob`, in batches (one per window of the file read). Reads windows of
 * `window` bytes (default 16 MiB, at least 4 maximum chunks; never less than 2) into the kernel's memory; the chunks of a window are
 * hashed concurrently (Web Crypto works off the page's thread).
 */
export async function* chunkBlob(blob: Blob, params: ChunkingParams, sha: Sha256, signal?: AbortSignal, window = Math.max(4 * params.maxSize, 16 * MiB)): AsyncGenerator<ChunkRecord[]> {
  const cdc = cdcParamsOf(params);
  const size = blob.size;
  if (size === 0) return;
  const area = Math.min(Math.max(window, 2 * cdc.maxSize), Math.max(size, 64 * 1024));
  const kernel = new CdcKernel(cdc, area);
  const data = kernel.data;
  let base = 0; // file offset of data[0]
  let filled = 0; // bytes of data holding file content
  let next = 0; // file offset of the next chunk
  while (next < size) {
    throwIfAborted(signal);
    // Keep the unfinished tail, then fill the rest of the window from the file.
    const keep = next - base;
    if (keep > 0) {
      data.copyWithin(0, keep, filled);
      filled -= keep;
      base = next;
    }
    const want = Math.min(area - filled, size - (base + filled));
    if (want > 0) {
      const bytes = new Uint8Array(await blob.slice(base + filled, base + filled + want).arrayBuffer());
      data.set(bytes, filled);
      filled += bytes.length;
    }
    const final = base + filled >= size;
    const records: ChunkRecord[] = [];
    const hashes: Array<string | Promise<string>> = [];
    for (;;) {
      const at = next - base;
      const len = kernel.cut(at, filled, final);
      if (len === 0) break;
      // digest() copies its input before returning: the window may be refilled afterwards.
      hashes.push(sha.digest([data.subarray(at, at + len)]));
      records.push({ offset: next, size: len, hash: '' });
      next += len;
      if (next >= size) break;
    }
    const done = await Promise.all(hashes);
    for (let i = 0; i < records.length; i++) records[i].hash = done[i];
    if (records.length > 0) yield records;
  }
}

/** A picked file as the upload flow's source: its chunks, and slices of it as chunk bodies. */
export function blobSource(blob: Blob, name: string, sha: Sha256): ChunkSource {
  return {
    name,
    size: blob.size,
    chunks: (params, signal) => chunkBlob(blob, params, sha, signal),
    read: async (r) => blob.slice(r.offset, r.offset + r.size),
    // A browser's File is a snapshot: if the file on disk changes, reading it fails
    // (NotReadableError) and the server's hash check refuses any chunk that differs.
    checkUnchanged: async () => {},
  };
}

export interface BlobUploadOptions extends TransferOptions, UploadHooks {
  /** Modification time to record, ms (default: the File's lastModified, else now). */
  mtime?: number;
  noOverwrite?: boolean;
  /** Replace the file there only if it still has this ETag (PutFileOptions.ifMatch). */
  ifMatch?: string;
  ttlSeconds?: number;
}

/** Uploads a Blob to `remotePath`; resolves with the committed entry and the transfer's figures. */
export async function uploadBlob(api: FerryApi, blob: Blob, remotePath: string, options: BlobUploadOptions = {}): Promise<{ entry: Entry; result: TransferResult }> {
  checkUploadMeta({ mtime: options.mtime, ttlSeconds: options.ttlSeconds });
  const ctx = new TransferContext(api, options);
  ctx.progress.addTotals(blob.size, 1);
  const path = normalizePath(remotePath);
  const lastModified = (blob as Blob & { lastModified?: number }).lastModified;
  const entry = await uploadFile(ctx, blobSource(blob, path, api.sha), { path, mtime: options.mtime ?? lastModified ?? Date.now(), noOverwrite: options.noOverwrite, ...(options.ifMatch !== undefined ? { ifMatch: options.ifMatch } : {}), ttlSeconds: options.ttlSeconds }, options);
  return { entry, result: ctx.finish() };
}
