/**
 * Uploads of many small Blobs in one upload session (docs/protocol.md, "Uploads": the batch
 * form `{files}`), as `ferry put -r` sends small files (./put.ts, putBatch): every file's
 * manifest announced at creation, the chunks the server lacks sent in packs, one commit
 * making every file visible at once. A browser's 1,000 small files cost a few requests a
 * hundred files, not three a file (a session, a pack, a commit each).
 *
 * Memory: a file is read once to be cut and hashed, then dropped; its chunks are sliced
 * from the Blob again when their pack is built (at most `parallel` packs of
 * `limits.maxPackBytes` at once), so a batch holds its chunk records, not its bytes.
 *
 * Imports nothing of Node.js.
 */
import { ValidationError, isFerryError } from '../core/errors.js';
import { normalizePath } from '../core/path.js';
import type { Entry, UploadFileSpec, UploadStatus } from '../core/protocol.js';
import type { FerryApi } from './api.js';
import { chunkBlob } from './blob-upload.js';
import { fileHashOf } from './hashing.js';
import type { ProgressTracker } from '../core/progress.js';
import { FileProgress } from './progress.js';
import { ChunkSender, TransferContext, isSessionLost, type TransferOptions, type TransferResult } from './transfer.js';
import { MAX_COMMIT_ROUNDS, MAX_SESSION_RESTARTS, commitSafely } from './upload-flow.js';

export interface BlobBatchFile {
  blob: Blob;
  path: string;
  /** Modification time to record, ms (default: the File's lastModified, else now). */
  mtime?: number;
}

export interface BlobBatchOptions extends TransferOptions {
  /** No file of the batch replaces one: the commit fails with FERRY_ERR_ALREADY_EXISTS (and commits none) if one is taken. */
  noOverwrite?: boolean;
  /** The session was created (an attempt's; a lost session is replaced by a new one). */
  onSession?(id: string): void;
  /** Bytes of file `index` that the server holds now (sent, or held already), and of those the bytes sent. */
  onFileProgress?(index: number, bytesDone: number, bytesSent: number): void;
}

/** One file's progress, told to the caller as it grows. */
class BatchFileProgress extends FileProgress {
  private bytes = 0;
  private heldBytes = 0;

  constructor(
    tracker: ProgressTracker,
    private readonly tell: (bytesDone: number, bytesSent: number) => void,
  ) {
    super(tracker);
  }

  override done(bytes: number): void {
    super.done(bytes);
    this.bytes += bytes;
    this.tell(this.bytes, this.bytes - this.heldBytes);
  }

  /** Bytes the server had already: done without travelling. */
  held(bytes: number): void {
    this.heldBytes += bytes;
    this.done(bytes);
  }

  override reset(): void {
    super.reset();
    this.bytes = 0;
    this.heldBytes = 0;
    this.tell(0, 0);
  }
}

/**
 * Uploads `files` in one session and one commit: all of them are committed, or none (any
 * refusal, of one file or of the batch, fails the call; a caller that wants per-file answers
 * sends the files of a refused batch one by one). The caller keeps the batch within the
 * server's `limits.maxFilesPerUpload` and `maxChunksPerRequest` (FERRY_ERR_VALIDATION here
 * otherwise). Resolves with the committed entries, in the order of `files`.
 */
export async function uploadBlobBatch(api: FerryApi, files: readonly BlobBatchFile[], options: BlobBatchOptions = {}): Promise<{ entries: Entry[]; result: TransferResult }> {
  const ctx = new TransferContext(api, options);
  const { signal } = ctx;
  const caps = await api.capabilities({ signal });
  if (files.length === 0 || files.length > caps.limits.maxFilesPerUpload) {
    throw new ValidationError(`a batch holds 1 to ${caps.limits.maxFilesPerUpload} files, not ${files.length}`);
  }
  let total = 0;
  for (const f of files) total += f.blob.size;
  ctx.progress.addTotals(total, files.length);

  const specs: UploadFileSpec[] = [];
  const places = new Map<string, { file: number; offset: number; size: number }>();
  let chunkCount = 0;
  for (const [i, f] of files.entries()) {
    const chunks: Array<{ hash: string; size: number }> = [];
    for await (const batch of chunkBlob(f.blob, caps.chunking, api.sha, signal)) {
      for (const r of batch) {
        chunks.push({ hash: r.hash, size: r.size });
        if (!places.has(r.hash)) places.set(r.hash, { file: i, offset: r.offset, size: r.size });
      }
    }
    chunkCount += chunks.length;
    const lastModified = (f.blob as Blob & { lastModified?: number }).lastModified;
    specs.push({ path: normalizePath(f.path), size: f.blob.size, hash: await fileHashOf(chunks, api.sha), mtime: f.mtime ?? lastModified ?? Date.now(), chunks });
  }
  if (chunkCount > caps.limits.maxChunksPerRequest) throw new ValidationError(`a batch holds at most ${caps.limits.maxChunksPerRequest} chunks, not ${chunkCount}`);
  const slice = (hash: string) => {
    const p = places.get(hash)!;
    return { size: p.size, load: async () => files[p.file].blob.slice(p.offset, p.offset + p.size) };
  };

  for (let attempt = 0; ; attempt++) {
    let sender: ChunkSender | undefined;
    let session: UploadStatus | undefined;
    const progresses = files.map((_, i) => new BatchFileProgress(ctx.progress, (bytes, sent) => options.onFileProgress?.(i, bytes, sent)));
    try {
      session = await api.createUpload({ files: specs, ...(options.noOverwrite ? { noOverwrite: true } : {}) }, { signal });
      options.onSession?.(session.id);
      const lacking = new Set(session.missing);
      sender = new ChunkSender(ctx, session.id, caps);
      for (const [i, spec] of specs.entries()) {
        for (const c of spec.chunks ?? []) {
          // A chunk two files share travels once; the second counts as held.
          if (lacking.has(c.hash) && sender.add({ hash: c.hash, ...slice(c.hash), progress: progresses[i] })) continue;
          progresses[i].held(c.size);
        }
      }
      await sender.drain();
      let committed: Entry[] | undefined;
      for (let round = 0; !committed; round++) {
        try {
          committed = (await commitSafely(api, session.id, {}, async () => undefined, signal)).files;
        } catch (err) {
          if (!isFerryError(err, 'FERRY_ERR_UPLOAD_INCOMPLETE') || round >= MAX_COMMIT_ROUNDS) throw err;
          const missing = (err.details?.missing as string[] | undefined) ?? (await api.uploadStatus(session.id, { signal })).missing;
          for (const h of missing) if (places.has(h)) sender.add({ hash: h, ...slice(h) }, { force: true });
          await sender.drain();
        }
      }
      ctx.result.files += files.length;
      ctx.result.bytes += total;
      ctx.result.chunks += chunkCount;
      ctx.result.bytesReused += Math.max(0, total - ctx.result.bytesTransferred);
      for (let i = 0; i < files.length; i++) ctx.progress.fileDone();
      return { entries: committed, result: ctx.finish() };
    } catch (err) {
      await sender?.abandon();
      for (const p of progresses) p.reset();
      // Nothing keeps a batch's session for later (a page cannot pick its files again as
      // they were): one that failed is aborted, so that it holds no session slot nor quota.
      if (session && !isSessionLost(err)) await api.abortUpload(session.id, { signal: AbortSignal.timeout(10_000) }).catch(() => undefined);
      if (!isSessionLost(err) || attempt >= MAX_SESSION_RESTARTS) throw err;
    }
  }
}
