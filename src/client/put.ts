/**
 * Uploads: one file (putFile), a stream of unknown size (putStream) and a directory tree
 * (putTree), all over upload sessions (docs/protocol.md, "Uploads").
 *
 * The server answers a manifest with the chunks it lacks, so dedup, resume and delta
 * upload are the same code path: a re-run re-chunks the file and sends only what is still
 * missing; an edited file shares most chunk boundaries with its old version and only the
 * changed chunks travel.
 */
import type { Stats } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { resolve } from 'node:path';
import { createHash } from 'node:crypto';
import { FerryError, PreconditionFailedError, ValidationError, fromSystemError, isFerryError, ferryErrorOf } from '../core/errors.js';
import { EMPTY_FILE_HASH, FileHasher, fileHashOf, type ChunkRef } from '../core/manifest.js';
import { joinPath, normalizePath } from '../core/path.js';
import type { Capabilities, Entry, UploadFileSpec, UploadStatus } from '../core/protocol.js';
import { chunkBytes, chunkFile, warmChunkWorkers } from '../algo/chunk-file.js';
import { chunkStream } from '../algo/chunk-stream.js';
import type { FerryApi } from './api.js';
import { me } from './account-api.js';
import { forEachConcurrent } from './concurrency.js';
import { chunkBuffer, fileHashOfFile } from '../algo/file-hash.js';
import { ReadBuffers, readAt, readSmallFile, walkLocalTree, type LocalFile } from './local-file.js';
import { FileProgress } from './progress.js';
import { CHUNKS_PER_FRAMES_REQUEST, ChunkSender, TransferContext, TreeFailures, isSessionLost, type CompareMode, type TransferOptions, type TransferResult } from './transfer.js';
import { MAX_COMMIT_ROUNDS, MAX_SESSION_RESTARTS, abortSpentSession, commitSafely, uploadFile, type ChunkSource, type UploadTarget } from './upload-flow.js';
import { SessionKeeper, type ResumeSpec, type SessionMemo } from './resume-session.js';
import { checkCompareMode } from '../core/compare-mode.js';
import { checkUploadMeta } from '../core/option-values.js';

export interface PutFileOptions extends TransferOptions {
  /** Fail with FERRY_ERR_ALREADY_EXISTS instead of replacing an existing remote file. */
  noOverwrite?: boolean;
  /**
   * Replace the remote file only if it still has this ETag (`"<hash>"` as downloads and
   * `stat` give it: {@link etagOfHash}), decided by the server in the commit's transaction:
   * FERRY_ERR_PRECONDITION_FAILED otherwise (`details.etag`: its ETag now, null when it is
   * gone), and nothing is replaced. Only if nothing is there: {@link noOverwrite}.
   */
  ifMatch?: string;
  /** The server deletes the file this many seconds after the upload (`ferry put --ttl`): an integer from 1 to ten years. */
  ttlSeconds?: number;
  /** Modification time to record, ms since the epoch, an integer of at least 0 (default: the local file's). */
  mtime?: number;
  /** Permission bits to record, an integer from 0 to 0o7777 (default: the local file's). */
  mode?: number;
  /** Threads for chunking, an integer from 0 (the calling thread) to 64 (default: up to 4). */
  chunkWorkers?: number;
  /**
   * Keep each file's upload session here for the next run: a put killed mid-way (kill -9,
   * Ctrl-C, a lost network), run again, continues its session rather than opening another
   * (./resume-session.ts). The CLI passes a FileSessionMemo; default: none kept.
   */
  sessions?: SessionMemo;
}

export interface PutStreamOptions extends TransferOptions {
  noOverwrite?: boolean;
  /** See {@link PutFileOptions.ifMatch}. */
  ifMatch?: string;
  ttlSeconds?: number;
  /** Default: now. */
  mtime?: number;
  mode?: number;
}

export interface PutTreeOptions extends TransferOptions {
  noOverwrite?: boolean;
  /** For every file uploaded (files the server already has are left as they are). */
  ttlSeconds?: number;
  /** How to find files the server already has (default: same size, mtime and mode); see {@link CompareMode}. */
  compare?: CompareMode;
  /** Told about each file that failed; the others go on and the call throws at the end. */
  onFileError?: (localPath: string, err: unknown) => void;
  /**
   * As {@link PutFileOptions.sessions}: each file sent in a session of its own (those past a
   * batch's size), and each batch session of small files (kept under its first file: a
   * re-run after a kill makes the same batches of the files not committed yet, and continues
   * their sessions).
   */
  sessions?: SessionMemo;
}

/**
 * Files up to this size are read once, whole, by `putFileIn` (the upload flow announces
 * their whole chunk list at creation up to 4 × maxSize, 16 MiB by default): before, each
 * was read twice, once into a chunking kernel's data area of its own size and again chunk
 * by chunk to send, and 200 clients of 4 MiB in one process made 200 kernels of 4 MiB
 * (benchmarks/results/issue-15-speed.md, branch w6).
 */
const WHOLE_FILE_BYTES = 16 * 1024 * 1024;

/** Bytes of small files read into memory for one batch session. */
const BATCH_BYTES = 64 * 1024 * 1024;
/** Batch sessions in flight at once (each one's chunks go through the shared slots). */
const BATCHES_IN_FLIGHT = 2;

const toRef = (r: { hash: string; size: number }): ChunkRef => ({ hash: r.hash, size: r.size });

async function statFile(path: string): Promise<Stats> {
  let st: Stats;
  try {
    st = await stat(path);
  } catch (err) {
    throw fromSystemError(err, path);
  }
  if (st.isDirectory()) throw ferryErrorOf('FERRY_ERR_IS_A_DIRECTORY', `${path} is a directory (use \`putTree\` to upload a tree)`);
  if (!st.isFile()) throw new ValidationError(`${path} is not a regular file`);
  return st;
}

/**
 * Uploads one local file to `remotePath` (replacing it unless `noOverwrite`).
 *
 * Chunking and sending overlap: the session is created at once, chunk records are appended
 * as the chunker produces them, and the chunks the server lacks are read back from the
 * file at their offsets and sent `parallel` at a time (small ones in packs). Memory stays
 * at about `parallel` chunks whatever the file size (a file of up to {@link WHOLE_FILE_BYTES}
 * is read whole once, and held until its commit). The commit records size, file hash,
 * mtime and mode. Resumable: after a crash, run it again; only missing chunks travel.
 */
export async function putFile(client: FerryApi<Buffer>, localPath: string, remotePath: string, options: PutFileOptions = {}): Promise<TransferResult> {
  checkUploadMeta(options);
  const ctx = new TransferContext(client, options);
  const st = await statFile(localPath);
  // The chunker's threads start while the requests before chunking go out.
  warmChunkWorkers(st.size, { workers: options.chunkWorkers });
  ctx.progress.addTotals(st.size, 1);
  await putFileIn(ctx, localPath, normalizePath(remotePath), st, options);
  return ctx.finish();
}

/**
 * Which session of `memo` is this upload's: the key names the upload (server, credentials,
 * local file, remote path); the stamp what must not have changed for its session to be continued (the
 * local file's identity, size and mtime, and what the commit records).
 */
async function resumeSpec(ctx: TransferContext<Buffer>, memo: SessionMemo, localPath: string, st: Stats, target: UploadTarget): Promise<ResumeSpec> {
  return {
    memo,
    key: await uploadKeyOf(ctx.client, localPath, target.path),
    stamp: JSON.stringify([st.dev, st.ino, st.size, st.mtimeMs, target.mtime, target.mode, target.noOverwrite === true, target.ttlSeconds ?? null]),
  };
}

/** The key a {@link SessionMemo} keeps the session of an upload of `localPath` to `remotePath` under: server, user, both paths. */
export async function uploadKeyOf(client: FerryApi<Buffer>, localPath: string, remotePath: string, kind = 'file'): Promise<string> {
  const key = [client.http.base.href, await whoOf(client), resolve(localPath), remotePath];
  return JSON.stringify(kind === 'file' ? key : [...key, kind]);
}

const WHO = new WeakMap<object, Promise<string>>();

/**
 * Whose sessions a memo entry holds: a hash of the user's name and their token's path prefix
 * (the server gives a session to any token of its user that reaches its paths), so that a
 * new token of the same user continues what an older one left, while another user's run on
 * this machine, or a narrower token's, neither finds nor forgets it. A server that does not
 * answer `/me` (or a caller it does not know): the credentials themselves.
 */
function whoOf(client: FerryApi<Buffer>): Promise<string> {
  let who = WHO.get(client.http);
  if (!who) {
    who = me(client).then(
      (m) => JSON.stringify(['user', m.user, m.pathPrefix]),
      async () => JSON.stringify(['credentials', (await client.http.authorizationNow()) ?? '']),
    ).then((w) => createHash('sha256').update(w).digest('hex').slice(0, 32));
    WHO.set(client.http, who);
  }
  return who;
}

/** @internal putFile within an operation (shared slots and progress); used by putTree. */
export async function putFileIn(ctx: TransferContext<Buffer>, localPath: string, remotePath: string, st: Stats, options: PutFileOptions): Promise<Entry> {
  let fh: FileHandle;
  try {
    fh = await open(localPath, 'r');
  } catch (err) {
    throw fromSystemError(err, localPath);
  }
  const checkUnchanged = async () => {
    const now = await fh.stat();
    if (now.size !== st.size || now.mtimeMs !== st.mtimeMs) throw new PreconditionFailedError(`${localPath} changed while it was being uploaded; run again`);
  };
  try {
    let source: ChunkSource;
    if (st.size <= WHOLE_FILE_BYTES) {
      // Read once: chunked from memory, and its chunks sent from the same buffer.
      let whole: Promise<Buffer> | undefined;
      const bytes = () => (whole ??= readAt(fh, 0, st.size, localPath, Buffer.allocUnsafeSlow(st.size)));
      source = {
        name: localPath,
        size: st.size,
        chunks: async function* (params) {
          yield chunkBytes(await bytes(), params);
        },
        read: async (r) => (await bytes()).subarray(r.offset, r.offset + r.size),
        checkUnchanged,
      };
    } else {
      // Chunk buffers reused once sent: at most `parallel` requests are in flight (each holds a
      // slot), each with up to CHUNKS_PER_FRAMES_REQUEST chunks.
      const buffers = new ReadBuffers(ctx.parallel * CHUNKS_PER_FRAMES_REQUEST);
      // The chunking workers compress what they cut, so this thread neither reads nor
      // compresses the chunks that pay (it did: ~0.4 s of zstd per 256 MiB of text, which set
      // an upload's pace). Not when the file replaces one (a guide): most of its chunks are
      // on the server already, their compression would be wasted.
      const zstd = await ctx.client.speaksZstd(ctx.signal);
      source = {
        name: localPath,
        size: st.size,
        chunks: (params, signal, guide) => chunkFile(localPath, params, { signal, workers: options.chunkWorkers, guide, compress: zstd && !guide?.length }),
        read: (r) => buffers.read(fh, r.offset, r.size, localPath),
        sent: (data) => {
          if (data instanceof Uint8Array) buffers.give(data);
        },
        checkUnchanged,
      };
    }
    const target = {
      path: remotePath,
      mtime: options.mtime ?? Math.round(st.mtimeMs),
      mode: options.mode ?? st.mode & 0o777,
      noOverwrite: options.noOverwrite,
      ...(options.ifMatch !== undefined ? { ifMatch: options.ifMatch } : {}),
      ttlSeconds: options.ttlSeconds,
    };
    return await uploadFile(ctx, source, target, options.sessions ? { resume: await resumeSpec(ctx, options.sessions, localPath, st, target) } : {});
  } finally {
    await fh.close();
  }
}

/**
 * Uploads a byte stream of unknown size (stdin) to `remotePath`. The stream is chunked as
 * it arrives; each batch of chunk records is appended to the session and the chunks the
 * server lacks are sent from memory, so memory is bounded by a few chunks per slot. Cannot
 * resume after the session is lost (the bytes are gone): that fails with
 * FERRY_ERR_UPLOAD_NOT_FOUND. For the same reason a put that fails (or is interrupted)
 * aborts its session at once rather than leave it, and its chunks, to the upload TTL: no
 * later run could resume it. A folder at `remotePath` fails before any byte is read.
 */
export async function putStream(client: FerryApi<Buffer>, source: AsyncIterable<Uint8Array>, remotePath: string, options: PutStreamOptions = {}): Promise<TransferResult> {
  checkUploadMeta(options);
  const ctx = new TransferContext(client, options);
  const { signal } = ctx;
  const path = normalizePath(remotePath);
  ctx.progress.addTotals(undefined, 1);
  const caps = await client.capabilities({ signal });
  const mtime = options.mtime ?? Date.now();
  // The commit would refuse it after the whole stream was read and sent.
  if ((await client.statIfExists(path, { signal }))?.type === 'dir') {
    // Named as the caller knows it: the CLI's `put - DEST` reads stdin, a program gives bytes or a stream.
    const what = source === (process.stdin as unknown) ? 'stdin needs' : 'bytes or a stream need';
    throw ferryErrorOf('FERRY_ERR_IS_A_DIRECTORY', `${path} is a folder: ${what} a file name, such as ${joinPath(path, 'NAME')}`, { details: { path } });
  }
  const session = await client.createUpload({ path, mtime, mode: options.mode, noOverwrite: options.noOverwrite ? true : undefined, ttlSeconds: options.ttlSeconds }, { signal });
  try {
    return await streamInto(ctx, client, caps, session.id, source, path, mtime, options);
  } catch (err) {
    // Not with the operation's signal: it may be the abort that brought us here.
    await client.abortUpload(session.id, { signal: AbortSignal.timeout(10_000) }).catch(() => undefined);
    throw err;
  }
}

/** putStream once its session exists: chunks, sends and commits. */
async function streamInto(
  ctx: TransferContext<Buffer>,
  client: FerryApi<Buffer>,
  caps: Capabilities,
  sessionId: string,
  source: AsyncIterable<Uint8Array>,
  path: string,
  mtime: number,
  options: PutStreamOptions,
): Promise<TransferResult> {
  const { signal } = ctx;
  const session = { id: sessionId };
  const sender = new ChunkSender(ctx, session.id, caps);
  const hasher = new FileHasher();
  // Chunks held in memory waiting for a slot: enough to keep every slot busy, no more.
  const maxHeld = Math.max(2 * ctx.parallel * caps.chunking.maxSize, 2 * caps.limits.maxPackBytes);
  const batchMax = Math.min(64, caps.limits.maxChunksPerRequest);
  let batch: Array<{ hash: string; size: number; data: Buffer }> = [];
  let batchBytes = 0;
  let chunks = 0;
  const flush = async () => {
    if (batch.length === 0) return;
    const current = batch;
    batch = [];
    batchBytes = 0;
    const { missing } = await client.appendChunks(session.id, current.map(toRef), { signal });
    const lacking = new Set(missing);
    for (const c of current) {
      const data = c.data;
      if (lacking.has(c.hash) && sender.add({ hash: c.hash, size: c.size, load: async () => data }, { held: true })) continue;
      ctx.progress.done(c.size);
      ctx.result.bytesReused += c.size;
    }
    await sender.waitForRoom(maxHeld);
  };
  try {
    for await (const c of chunkStream(source, caps.chunking, { signal })) {
      hasher.add(c.hash, c.size);
      chunks++;
      batch.push(c);
      batchBytes += c.size;
      if (batch.length >= batchMax || batchBytes >= 4 * caps.chunking.maxSize) await flush();
    }
    await flush();
    await sender.drain();
  } catch (err) {
    await sender.abandon();
    throw err;
  }
  const size = hasher.size;
  const hash = size === 0 ? EMPTY_FILE_HASH : hasher.digest();
  await commitSafely(
    client,
    session.id,
    { size, hash, mtime, mode: options.mode },
    async () => {
      const e = await client.statIfExists(path, { signal });
      return e && e.hash === hash ? { files: [e] } : undefined;
    },
    signal,
    options.ifMatch,
  );
  ctx.result.files = 1;
  ctx.result.bytes = size;
  ctx.result.chunks = chunks;
  ctx.progress.fileDone();
  return ctx.finish();
}

/**
 * Uploads the contents of local directory `localDir` into `remoteDir` (like `rclone copy`:
 * `localDir/a/b` becomes `remoteDir/a/b`; re-running it is idempotent).
 *
 * Small files (up to one maximum chunk) are gathered into batch sessions of up to
 * `limits.maxFilesPerUpload` files, their chunks sent in packs, each batch committed in one
 * transaction: a tree of 10,000 small files costs tens of requests, not tens of thousands.
 * Larger files go through {@link putFile}, several at once, sharing the `parallel` slots.
 * Empty directories are created; symbolic links are skipped with a warning. A file that
 * fails does not stop the others: the call throws at the end, naming how many failed.
 *
 * Why not sync's `copy` over the Ferry backend (one tree engine): measured on the bench's
 * 10,000 files of 1-64 KiB (2026-12-03, shared machine), the two cost the same (first upload
 * client CPU 4.6-5.4 s both ways, server 4.5-5.1 s; no-change re-run 1.1 s both), so a merge
 * would gain no speed, and `put -r` carries what the storage contract does not: `--ttl`,
 * `--no-clobber`, permission bits, empty directories, symlinks reported as skipped.
 */
export async function putTree(client: FerryApi<Buffer>, localDir: string, remoteDir: string, options: PutTreeOptions = {}): Promise<TransferResult> {
  checkCompareMode(options.compare);
  checkUploadMeta({ ttlSeconds: options.ttlSeconds });
  const ctx = new TransferContext(client, options);
  const { signal } = ctx;
  const root = normalizePath(remoteDir);
  const failures = new TreeFailures(signal, options.onFileError);
  const tree = await walkLocalTree(
    localDir,
    (path, reason) => {
      ctx.result.skipped.push({ path, reason });
      client.onWarning(`skipped ${path}: ${reason}`);
    },
    signal,
  );
  const caps = await client.capabilities({ signal });
  const { files, unchanged } = await selectUploads(ctx, caps, tree.files, root, options.compare ?? 'default', failures);
  for (const f of unchanged) {
    ctx.result.unchanged += 1;
    ctx.result.bytesReused += f.size;
  }
  let total = 0;
  for (const f of files) total += f.size;
  ctx.progress.addTotals(total, files.length);

  const small = files.filter((f) => f.size <= caps.chunking.maxSize);
  const large = files.filter((f) => f.size > caps.chunking.maxSize);
  const fail = (path: string, err: unknown) => failures.add(path, err);
  await Promise.all([
    forEachConcurrent(uploadBatches(small, caps), BATCHES_IN_FLIGHT, (b) => putBatchOrEach(ctx, caps, b, options, fail), signal),
    forEachConcurrent(
      large,
      Math.min(ctx.parallel, 4),
      async (f) => {
        try {
          await putFileIn(ctx, f.local, f.remote, await statFile(f.local), options);
        } catch (err) {
          fail(f.local, err);
        }
      },
      signal,
    ),
  ]);

  const dirsToMake = tree.emptyDirs.map((d) => joinPath(root, d));
  if (tree.files.length === 0 && tree.emptyDirs.length === 0) dirsToMake.push(root);
  await forEachConcurrent(
    dirsToMake,
    ctx.parallel,
    async (d) => {
      try {
        await client.mkdir(d, { parents: true, signal });
        ctx.result.dirs += 1;
      } catch (err) {
        fail(d, err);
      }
    },
    signal,
  );
  return failures.settle(ctx.finish(), tree.files.length);
}

type Upload = LocalFile & { remote: string };

/**
 * The files that must go: those the server lacks or holds differently (one listing of the
 * root, pages of up to 10,000); with `checksum`, same-sized ones are read and compared.
 * Remote paths are checked here, before anything is sent: a bad name must not sink a batch.
 */
async function selectUploads(
  ctx: TransferContext<Buffer>,
  caps: Capabilities,
  local: readonly LocalFile[],
  root: string,
  compare: CompareMode,
  failures: TreeFailures,
): Promise<{ files: Upload[]; unchanged: Upload[] }> {
  const { client, signal } = ctx;
  const remote = new Map<string, Entry>();
  if (compare !== 'ignore-times') {
    try {
      for await (const e of client.list(root, { recursive: true, signal })) if (e.type === 'file') remote.set(e.path, e);
    } catch (err) {
      if (!isFerryError(err, 'FERRY_ERR_NOT_FOUND')) throw err;
    }
  }
  const files: Upload[] = [];
  const unchanged: Upload[] = [];
  const candidates: Array<Upload & { hash: string }> = [];
  for (const f of local) {
    let remotePath: string;
    try {
      remotePath = joinPath(root, f.rel);
    } catch (err) {
      failures.add(f.local, err);
      continue;
    }
    const r = remote.get(remotePath);
    const same = r !== undefined && r.size === f.size && (r.mode === undefined || r.mode === f.mode);
    if (same && ((compare === 'default' && r.mtime === f.mtimeMs) || compare === 'size-only')) unchanged.push({ ...f, remote: remotePath });
    else if (same && compare === 'checksum' && r.hash) candidates.push({ ...f, remote: remotePath, hash: r.hash });
    else files.push({ ...f, remote: remotePath });
  }
  // checksum: read and chunk the candidates, several at once.
  await forEachConcurrent(
    candidates,
    8,
    async (f) => {
      if ((await fileHashOfFile(f.local, caps.chunking, signal)) === f.hash) unchanged.push(f);
      else files.push(f);
    },
    signal,
  );
  return { files, unchanged };
}

/** Small files in groups of one batch session each: within the server's file and chunk limits and {@link BATCH_BYTES}. */
function uploadBatches(small: readonly Upload[], caps: Capabilities): Upload[][] {
  const maxFiles = Math.max(1, caps.limits.maxFilesPerUpload);
  const maxChunks = caps.limits.maxChunksPerRequest;
  const batches: Upload[][] = [];
  let cur: Upload[] = [];
  let curBytes = 0;
  let curChunks = 0;
  for (const f of small) {
    // Upper bound on the chunks of a file: none is shorter than minSize but the last.
    const estChunks = Math.max(1, Math.ceil(f.size / caps.chunking.minSize));
    if (cur.length > 0 && (cur.length >= maxFiles || curBytes + f.size > BATCH_BYTES || curChunks + estChunks > maxChunks)) {
      batches.push(cur);
      cur = [];
      curBytes = 0;
      curChunks = 0;
    }
    cur.push(f);
    curBytes += f.size;
    curChunks += estChunks;
  }
  if (cur.length > 0) batches.push(cur);
  return batches;
}

/** A batch session; when it fails for one file's sake, its files one by one (a bad file must not sink its neighbours). */
async function putBatchOrEach(ctx: TransferContext<Buffer>, caps: Capabilities, batch: Upload[], options: PutTreeOptions, fail: (path: string, err: unknown) => void): Promise<void> {
  try {
    await putBatch(ctx, caps, batch, options);
  } catch (err) {
    // A network or server failure would fail each file alike: report the batch.
    if (batch.length === 1 || (isFerryError(err) && err.retryable) || ctx.signal.aborted) {
      for (const f of batch) fail(f.local, err);
      return;
    }
    for (const f of batch) {
      try {
        await putBatch(ctx, caps, [f], options);
      } catch (err1) {
        fail(f.local, err1);
      }
    }
  }
}

/** One batch session of small files: read, chunk in memory, create, send packs, commit. */
async function putBatch(ctx: TransferContext<Buffer>, caps: Capabilities, batch: Upload[], options: PutTreeOptions): Promise<void> {
  const { client, signal } = ctx;
  const specs: UploadFileSpec[] = new Array(batch.length);
  const data = new Map<string, Buffer>();
  const progresses: FileProgress[] = [];
  await forEachConcurrent(
    batch.keys(),
    8,
    async (i) => {
      const f = batch[i];
      const buf = await readSmallFile(f.local, caps.chunking.maxSize);
      const chunks = chunkBuffer(buf, caps.chunking);
      for (const c of chunks) data.set(c.hash, c.data);
      const refs = chunks.map(toRef);
      specs[i] = { path: f.remote, size: buf.length, hash: fileHashOf(refs), mtime: f.mtimeMs, mode: f.mode, chunks: refs };
      if (options.ttlSeconds !== undefined) specs[i].ttlSeconds = options.ttlSeconds;
    },
    signal,
  );
  // The batch's session is kept for a re-run: the same files with the same content make the same specs.
  const stamp = JSON.stringify([specs, options.noOverwrite === true]);
  const keeper = options.sessions ? new SessionKeeper(client, { memo: options.sessions, key: await uploadKeyOf(client, batch[0].local, batch[0].remote, 'batch'), stamp }, stamp) : undefined;
  for (let attempt = 0; ; attempt++) {
    for (const p of progresses.splice(0)) p.reset();
    let sender: ChunkSender | undefined;
    let session: UploadStatus | undefined;
    try {
      session = attempt === 0 ? await keeper?.recall(signal, specs.length) : undefined;
      if (!session) {
        session = await client.createUpload({ files: specs, noOverwrite: options.noOverwrite ? true : undefined }, { signal });
        await keeper?.remember(session.id);
      }
      sender = new ChunkSender(ctx, session.id, caps);
      const lacking = new Set(session.missing);
      let sent = 0;
      for (const spec of specs) {
        const p = new FileProgress(ctx.progress);
        progresses.push(p);
        for (const c of spec.chunks ?? []) {
          const bytes = data.get(c.hash)!;
          if (lacking.has(c.hash) && sender.add({ hash: c.hash, size: c.size, load: async () => bytes, progress: p })) {
            sent += c.size;
            continue;
          }
          p.done(c.size);
        }
      }
      await sender.drain();
      for (let round = 0; ; round++) {
        try {
          await commitSafely(client, session.id, {}, async () => undefined, signal);
          break;
        } catch (err) {
          if (!isFerryError(err, 'FERRY_ERR_UPLOAD_INCOMPLETE') || round >= MAX_COMMIT_ROUNDS) throw err;
          const missing = (err.details?.missing as string[] | undefined) ?? (await client.uploadStatus(session.id, { signal })).missing;
          for (const h of missing) {
            const bytes = data.get(h);
            if (bytes) sender.add({ hash: h, size: bytes.length, load: async () => bytes }, { force: true });
          }
          await sender.drain();
        }
      }
      await keeper?.forget();
      let bytes = 0;
      let chunks = 0;
      for (const s of specs) {
        bytes += s.size ?? 0;
        chunks += s.chunks?.length ?? 0;
        ctx.progress.fileDone();
      }
      ctx.result.files += specs.length;
      ctx.result.bytes += bytes;
      ctx.result.chunks += chunks;
      ctx.result.bytesReused += Math.max(0, bytes - sent);
      return;
    } catch (err) {
      await sender?.abandon();
      await abortSpentSession(client, session?.id, err);
      // A session gone is no use to a re-run; one cut off (a lost network, Ctrl-C) is (and one
      // aborted as spent is forgotten by the re-run, which the server tells it is gone).
      if (isSessionLost(err)) await keeper?.forget();
      if (!isSessionLost(err) || attempt >= MAX_SESSION_RESTARTS) throw err;
    }
  }
}
