/**
 * An end-to-end encrypted upload of a Blob (a file a person picked or dropped in the web
 * app), in the format `ferry put --encrypt` writes (docs/e2e.md, "A stored file"): the
 * same content-defined chunker as plain browser uploads (../blob-upload.ts: the FastCDC
 * WebAssembly kernel with the server's parameters, the maximum lowered by the 16-byte
 * tag), each chunk encrypted under its convergent key, then header + ciphertext chunks
 * uploaded over an ordinary upload session (the shared ../upload-flow.ts): chunks the
 * server has are not sent (dedup within the user key, and resume after an interruption).
 *
 * Memory: the Blob is read in windows and slices (Blob.slice), never whole. The first pass
 * keeps only each chunk's records (plain hash, key, size and ciphertext name: about 150
 * bytes a chunk); the chunks the server lacks are read and encrypted again when sent.
 *
 * Imports nothing of Node.js (the web app bundles it; Node.js runs it in tests).
 */
import type { Entry } from '../../core/protocol.js';
import type { FerryApi } from '../api.js';
import { chunkBlob } from '../blob-upload.js';
import { fromHex } from '../hashing.js';
import { TransferContext, type TransferOptions, type TransferResult } from '../transfer.js';
import { uploadFile, type ChunkRecord, type ChunkSource, type UploadHooks } from '../upload-flow.js';
import { E2E_CHUNK_OVERHEAD, encryptChunk, sealHeader, type E2eKeys, type KdfParams, type PlainChunkKey } from './format.js';

/** Chunks encrypted at once in the first pass (Web Crypto works off the page's thread). */
const ENCRYPT_AHEAD = 4;

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
  /** The first pass (chunk and encrypt to learn the stored chunk names): plain bytes done. */
  onEncrypted?(done: number, total: number): void;
}

interface Piece {
  plain: ChunkRecord;
  key: PlainChunkKey;
  stored: ChunkRecord;
}

/** Encrypts a plain chunk read from the Blob (its plain hash known from the chunker). */
async function sealSlice(blob: Blob, keys: E2eKeys, r: ChunkRecord, hash: Uint8Array): Promise<Uint8Array> {
  const plain = new Uint8Array(await blob.slice(r.offset, r.offset + r.size).arrayBuffer());
  return (await encryptChunk(keys, plain, hash)).ciphertext;
}

/** The first pass: every chunk's plain record, its key, and the name and size of its ciphertext. */
async function encryptPass(api: FerryApi, blob: Blob, keys: E2eKeys, ctx: TransferContext, onEncrypted?: (done: number, total: number) => void): Promise<Piece[]> {
  const caps = await api.capabilities({ signal: ctx.signal });
  const maxSize = caps.chunking.maxSize - E2E_CHUNK_OVERHEAD;
  const params = { ...caps.chunking, maxSize, avgSize: Math.min(caps.chunking.avgSize, maxSize), minSize: Math.min(caps.chunking.minSize, maxSize) };
  const pieces: Piece[] = [];
  let done = 0;
  for await (const batch of chunkBlob(blob, params, api.sha, ctx.signal)) {
    for (let i = 0; i < batch.length; i += ENCRYPT_AHEAD) {
      const group = batch.slice(i, i + ENCRYPT_AHEAD);
      const sealed = await Promise.all(
        group.map(async (r) => {
          const hash = fromHex(r.hash);
          const plain = new Uint8Array(await blob.slice(r.offset, r.offset + r.size).arrayBuffer());
          const c = await encryptChunk(keys, plain, hash);
          return { plain: r, key: { hash: c.hash, key: c.key, size: c.size }, stored: { offset: 0, size: c.ciphertext.length, hash: await api.sha.digest([c.ciphertext]) } };
        }),
      );
      pieces.push(...sealed);
      for (const r of group) done += r.size;
      onEncrypted?.(done, blob.size);
    }
  }
  return pieces;
}

/**
 * Uploads `blob` end-to-end encrypted to `target.serverPath`. The server records the upload
 * time and mode 0600 (as `ferry put --encrypt` does); the real name, size and mtime are in
 * the sealed table. Resolves with the committed entry (stored size) and the figures.
 */
export async function uploadEncryptedBlob(api: FerryApi, blob: Blob, target: EncryptedBlobTarget, options: EncryptedBlobOptions = {}): Promise<{ entry: Entry; result: TransferResult }> {
  const ctx = new TransferContext(api, options);
  const { keys } = target;
  const pieces = await encryptPass(api, blob, keys, ctx, options.onEncrypted);
  const lastModified = (blob as Blob & { lastModified?: number }).lastModified;
  const header = await sealHeader(keys, target.kdf, { name: target.name, size: blob.size, mtime: lastModified ?? Date.now() }, pieces.map((p) => p.key));
  const maxSize = (await api.capabilities({ signal: ctx.signal })).chunking.maxSize;
  const records: ChunkRecord[] = [];
  const headerParts = new Map<number, Uint8Array>();
  let at = 0;
  for (let o = 0; o < header.bytes.length; o += maxSize) {
    const part = header.bytes.subarray(o, o + maxSize);
    headerParts.set(at, part);
    records.push({ offset: at, size: part.length, hash: await api.sha.digest([part]) });
    at += part.length;
  }
  const byOffset = new Map<number, Piece>();
  for (const p of pieces) {
    p.stored.offset = at;
    byOffset.set(at, p);
    records.push(p.stored);
    at += p.stored.size;
  }
  const source: ChunkSource = {
    name: target.name,
    size: at,
    chunks: async function* () {
      yield records;
    },
    read: async (r) => {
      const h = headerParts.get(r.offset);
      if (h) return h;
      const p = byOffset.get(r.offset)!;
      // Encrypted again (the same bytes: the key and IV are fixed by the plain chunk); the
      // server checks the ciphertext against its name.
      return sealSlice(blob, keys, p.plain, p.key.hash);
    },
    // A browser's File is a snapshot: a file changed on disk fails to read (NotReadableError).
    checkUnchanged: async () => {},
  };
  ctx.progress.addTotals(at, 1);
  const entry = await uploadFile(ctx, source, { path: target.serverPath, mtime: Date.now(), mode: 0o600, noOverwrite: options.noOverwrite }, options);
  return { entry, result: ctx.finish() };
}
