/**
 * Downloads: one file (getFile), a file to a stream (getStream), a directory tree (getTree).
 *
 * The client fetches the manifest and only the chunks it does not already hold. What it
 * holds is indexed first: ranges of an interrupted download (`DEST.ferry-part`, written at
 * manifest offsets, each range verified against its hash) and chunks of an older copy at
 * DEST (chunked with the server's parameters and indexed by hash). The chunks it lacks come
 * in runs of neighbours, one ranged `GET /files` per run and several runs at once: one
 * request per chunk cost the server more than reading, verifying and sending the chunk.
 * Every fetched chunk is verified; the file appears at DEST only when complete (fsync, then
 * an atomic rename).
 */
import { once } from 'node:events';
import { constants, createWriteStream, type Stats } from 'node:fs';
import { chmod, link, lstat, mkdir, open, rename, stat, unlink, utimes, type FileHandle } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
import type { Writable } from 'node:stream';
import { AbortedError, AlreadyExistsError, HashMismatchError, IsADirectoryError, NotADirectoryError, NotFoundError, FerryError, PathInvalidError, fromSystemError, isFerryError } from '../core/errors.js';
import { FileHasher, chunkOffsets, fileHashOf, type ChunkRef, type ChunkingParams } from '../core/manifest.js';
import { baseName, isWithin, normalizePath, relativePath } from '../core/path.js';
import { E2E_NAME_SUFFIX, isE2eMarkerPath, isE2eName } from '../core/e2e-layout.js';
import type { Capabilities, Entry, ManifestResponse } from '../core/protocol.js';
import { chunkFile } from '../algo/chunk-file.js';
import { syncDir } from '../backends/local/index.js';
import type { FerryApi } from './api.js';
import { forEachConcurrent } from './concurrency.js';
import { DestGuard } from './dest-guard.js';
import { openPartFile, partPathOf, settlePart } from './part-file.js';
import { fileHashOfBuffer, fileHashOfFile, sha256 } from '../algo/file-hash.js';
import { readAt, writeAt, writevAt } from './local-file.js';
import { FileProgress } from './progress.js';
import { replacedRun } from './replaced-chunks.js';
import { fetchMissingChunks } from './download-flow.js';
import { TransferContext, TreeFailures, type CompareMode, type TransferOptions, type TransferResult } from './transfer.js';
import { checkCompareMode } from '../core/compare-mode.js';

export interface GetFileOptions extends TransferOptions {
  /** Do not look for reusable chunks in an older copy at the destination. Default false. */
  noReuse?: boolean;
  /**
   * Never replace a local file: a destination that exists fails the file with
   * `FERRY_ERR_ALREADY_EXISTS` (checked before anything travels, and again, atomically, when
   * the finished file is put in place). In a tree, files already in place count as unchanged.
   */
  noOverwrite?: boolean;
  /**
   * Make `localPath`'s missing parent folders, as `mkdir -p` would. Default false: as cp(1)
   * and `ferry get`, a parent folder that does not exist is FERRY_ERR_NOT_FOUND naming it,
   * checked before anything travels (a typo in `~/Dowloads/x.iso` is not a new folder tree).
   */
  makeParents?: boolean;
}

export type GetStreamOptions = TransferOptions;

export interface GetTreeOptions extends GetFileOptions {
  /** How to find files already in place locally (default: same size and mtime); see {@link CompareMode}. */
  compare?: CompareMode;
  /** Told about each file that failed; the others go on and the call throws at the end. */
  onFileError?: (remotePath: string, err: unknown) => void;
  /**
   * Files of `put --encrypt` (end-to-end encrypted names, `.fe2e`) in the tree: without this
   * they are written as stored, encrypted (with a warning); with it they are left out and
   * handed to it, for a caller that holds the key to fetch them decrypted.
   */
  onEncrypted?: (entry: Entry) => void;
}

/** Suffix of a download in progress; kept when interrupted, reused by the next attempt. */
export const PART_SUFFIX = '.ferry-part';

/** Whether `path` is a symbolic link. */
async function isLink(path: string): Promise<boolean> {
  return (await lstat(path).catch(() => undefined))?.isSymbolicLink() === true;
}

/** `path` opened for reading, or undefined when it is a symbolic link. */
async function openUnlessLink(path: string): Promise<FileHandle | undefined> {
  try {
    return await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOOP') return undefined;
    throw err;
  }
}

async function statIfExists(path: string): Promise<Stats | undefined> {
  try {
    return await stat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw fromSystemError(err, path);
  }
}

/** A download that would replace a local file under `--no-clobber`. */
export function clobberError(dest: string): FerryError {
  return new AlreadyExistsError(`${dest} exists (\`noOverwrite\`)`);
}

/** Under `--no-clobber`, refuses a local destination that exists (before anything travels). */
export async function refuseClobber(dest: string): Promise<void> {
  if ((await statIfExists(dest)) !== undefined) throw clobberError(dest);
}

/**
 * Renames a finished part file to its destination; under `noOverwrite`, links it there
 * instead (a hard link fails if the name exists, where a rename would replace it: nothing is
 * replaced even when another program made the file during the download) and drops the part.
 */
export async function putInPlace(part: string, dest: string, noOverwrite: boolean): Promise<void> {
  if (!noOverwrite) return rename(part, dest);
  try {
    await link(part, dest);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    await unlink(part).catch(() => {});
    throw clobberError(dest);
  }
  await unlink(part);
}

/**
 * The local mode of a file whose server copy has `mode`: its permission bits under the umask,
 * as `cp`, `tar` (for a user who is not root) and `rsync` without `-p` do. A mode is whatever
 * the uploader said (a drop box's anonymous visitor, another user with write access, the
 * server itself): taken as it was, `ferry get` wrote a visitor's `invoice.pdf` as
 * `-rwxrwxrwx`, executable and writable by every local user.
 */
export function localModeOf(mode: number): number {
  return mode & 0o777 & ~process.umask();
}

/**
 * The mode of a download whose file has none on the server (uploaded from stdin, WebDAV, tus,
 * a browser): that of the file it replaces, as `cp` and `curl -o` keep it, else the default
 * for a new file under the umask. The part file itself is 0600 while it is incomplete.
 */
async function modeWithoutOne(dest: string): Promise<number> {
  const existing = await statIfExists(dest);
  return existing?.isFile() ? existing.mode : 0o666 & ~process.umask();
}

/**
 * Sets times and mode on the open part file (part-file.ts: never by its name) and closes it,
 * then renames it over the destination, and makes the rename durable (fsync of the
 * directory) — or, within a tree, notes the directory in `dirsToSync` so that each directory
 * is synced once at the end, not once per file.
 */
export async function finishPart(fh: FileHandle, part: string, dest: string, mtime: number, mode: number | undefined, dirsToSync?: Set<string>, noOverwrite = false): Promise<void> {
  let localMode: number;
  try {
    localMode = mode === undefined ? (await modeWithoutOne(dest)) & 0o777 : localModeOf(mode);
  } catch (err) {
    await fh.close().catch(() => undefined);
    throw fromSystemError(err, dest);
  }
  await settlePart(fh, part, new Date(mtime), localMode);
  try {
    await putInPlace(part, dest, noOverwrite);
  } catch (err) {
    throw isFerryError(err) ? err : fromSystemError(err, dest);
  }
  if (dirsToSync) dirsToSync.add(dirname(dest));
  else await syncDir(dirname(dest));
}

/**
 * Downloads the file at `remotePath` to `localPath`, fetching only chunks not already
 * present locally (see the module comment). An interrupted call leaves
 * `localPath.ferry-part`; calling again reuses it.
 */
export async function getFile(client: FerryApi<Buffer>, remotePath: string, localPath: string, options: GetFileOptions = {}): Promise<TransferResult> {
  if (!options.makeParents) await refuseMissingParent(localPath);
  // Anything but a regular file or a directory is never replaced by a renamed part file: a
  // device or FIFO (`/dev/null`, a named pipe) is written to in order; a socket cannot be
  // opened, so that is an error.
  const existing = await statIfExists(localPath);
  if (existing !== undefined && options.noOverwrite) throw clobberError(localPath);
  if (existing !== undefined && !existing.isFile() && !existing.isDirectory()) return getIntoSpecial(client, remotePath, localPath, options);
  const ctx = new TransferContext(client, options);
  ctx.noOverwrite = options.noOverwrite === true;
  const manifest = await client.manifest(normalizePath(remotePath), { signal: ctx.signal });
  ctx.progress.addTotals(manifest.size, 1);
  await getFileIn(ctx, manifest, localPath, options);
  return ctx.finish();
}

async function getIntoSpecial(client: FerryApi<Buffer>, remotePath: string, localPath: string, options: GetFileOptions): Promise<TransferResult> {
  const out = createWriteStream(localPath, { flags: 'w' });
  try {
    await once(out, 'open');
    const result = await getStream(client, remotePath, out, options);
    await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
    return result;
  } catch (err) {
    out.destroy();
    throw isFerryError(err) ? err : fromSystemError(err, localPath);
  }
}

/** Chunks smaller than this are fetched whole, not as deltas (as uploads: see FerryApi.putChunk). */
const MIN_DELTA_BYTES = 64 * 1024;

/**
 * For each chunk still missing, the bytes of the older local copy that it replaces serve as
 * the base of a delta (FerryApi.getChunkDelta), `ctx.parallel` at a time: the local chunk
 * covering the middle of its place and the neighbours the place overlaps too
 * (./replaced-chunks.ts), at most the largest chunk in all (what the server takes a
 * signature of); each chunk rebuilt and verified is handed to `write` and marked in `have`.
 * Returns the bytes obtained so (counted as reused: they did not travel). Chunks whose
 * delta is not to be had are left to the ordinary fetch.
 */
async function fetchDeltas(
  ctx: TransferContext<Buffer>,
  manifest: ManifestResponse,
  dest: string,
  destChunks: readonly { offset: number; size: number }[],
  have: Uint8Array,
  offsets: number[],
  write: (data: Buffer, i: number) => Promise<void>,
): Promise<number> {
  const { client, signal } = ctx;
  const chunks = manifest.chunks;
  if (!client.deltas || destChunks.length === 0) return 0;
  const todo: number[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < chunks.length; i++) {
    if (have[i] || chunks[i].size < MIN_DELTA_BYTES || seen.has(chunks[i].hash)) continue;
    seen.add(chunks[i].hash);
    todo.push(i);
  }
  if (todo.length === 0) return 0;
  const tail = destChunks[destChunks.length - 1];
  const localOffsets = [...destChunks.map((c) => c.offset), tail.offset + tail.size];
  const maxBase = (await client.capabilities({ signal })).limits.maxChunkSize;
  const baseFor = (i: number) => {
    const run = replacedRun(localOffsets, offsets[i], chunks[i].size, destChunks.length, maxBase)!;
    const end = destChunks[run.last].offset + destChunks[run.last].size;
    return { offset: destChunks[run.first].offset, size: end - destChunks[run.first].offset };
  };
  let got = 0;
  const old = await open(dest, 'r');
  try {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < todo.length) {
        const i = todo[next++];
        const b = baseFor(i);
        const base = await readAt(old, b.offset, b.size, dest);
        const data = await client.getChunkDelta(chunks[i].hash, chunks[i].size, base, { path: manifest.path, signal, onWire: ctx.onWire });
        if (!data) continue;
        // the same chunk at every place it occupies
        for (let j = i; j < chunks.length; j++) {
          if (have[j] || chunks[j].hash !== chunks[i].hash) continue;
          await write(data, j);
          have[j] = 1;
          got += chunks[j].size;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(ctx.parallel, todo.length) }, worker));
  } finally {
    await old.close();
  }
  return got;
}

/**
 * FERRY_ERR_NOT_FOUND (or NOT_A_DIRECTORY) naming the local folder `dest` would go into, when
 * it is not one: the one rule of getFile and getVersionFile (`makeParents` skips it).
 */
export async function refuseMissingParent(dest: string, caller = 'getFile'): Promise<void> {
  const parent = dirname(dest);
  const st = await statIfExists(parent);
  if (!st) throw new NotFoundError(`${parent}: no such local directory (${caller} makes it with { makeParents: true })`, { details: { path: parent } });
  if (!st.isDirectory()) throw new NotADirectoryError(`${parent}: not a directory`);
}

/** @internal getFile within an operation; used by getTree. */
export async function getFileIn(ctx: TransferContext<Buffer>, manifest: ManifestResponse, dest: string, options: GetFileOptions): Promise<void> {
  const destStat = await statIfExists(dest);
  if (destStat?.isDirectory()) throw new IsADirectoryError(`${dest} is a directory`);
  await mkdir(dirname(dest), { recursive: true }).catch((err) => {
    throw fromSystemError(err, dirname(dest));
  });
  const part = partPathOf(dest, PART_SUFFIX);
  const fh = await openPartFile(part, true, dest);
  const d = new PartDownload(ctx, manifest, fh, part, dest);
  try {
    await d.reusePart();
    // A link at DEST is replaced by the file, never read or changed through (part-file.ts).
    if (!options.noReuse && destStat?.isFile() && destStat.size > 0 && !(await isLink(dest)) && (await d.reuseOldCopy())) {
      // DEST already is this file: nothing to copy or fetch; only times and mode may differ.
      await fh.close();
      await unlink(part).catch(() => {});
      await d.keepDestination();
      return;
    }
    await d.fetchMissing();
  } catch (err) {
    await fh.close().catch(() => {});
    throw isFerryError(err) ? err : fromSystemError(err, part);
  }
  await finishPart(fh, part, dest, manifest.mtime, manifest.mode, ctx.dirsToSync, ctx.noOverwrite);
  d.count(d.reused);
}

/**
 * One file being downloaded into its part file: which chunks are in place (`have`), from the
 * part an interrupted attempt left or from an older copy at the destination, and the rest
 * fetched.
 */
class PartDownload {
  readonly chunks: readonly ChunkRef[];
  readonly offsets: number[];
  readonly have: Uint8Array;
  readonly progress: FileProgress;
  reused = 0;

  constructor(
    private readonly ctx: TransferContext<Buffer>,
    private readonly manifest: ManifestResponse,
    private readonly fh: FileHandle,
    private readonly part: string,
    private readonly dest: string,
  ) {
    this.chunks = manifest.chunks;
    this.offsets = chunkOffsets(this.chunks);
    this.have = new Uint8Array(this.chunks.length);
    this.progress = new FileProgress(ctx.progress);
  }

  private got(i: number): void {
    this.have[i] = 1;
    this.reused += this.chunks[i].size;
    this.progress.done(this.chunks[i].size);
  }

  /** 1. What an interrupted attempt left at the manifest's offsets, verified range by range. */
  async reusePart(): Promise<void> {
    const { chunks, offsets, fh } = this;
    const signal = this.ctx.signal;
    const partSize = (await fh.stat()).size;
    for (let i = 0; i < chunks.length; i++) {
      if (offsets[i + 1] > partSize) break;
      if (signal?.aborted) throw new AbortedError('aborted', { cause: signal.reason });
      if (sha256(await readAt(fh, offsets[i], chunks[i].size, this.part)) === chunks[i].hash) this.got(i);
    }
    // Drop anything past the end (a part of a longer older version). A shorter part is not
    // extended: parallel writes land roughly in file order, so the part's length tells an
    // interrupted run how far it got, and the next run verifies only up to there.
    if (partSize > this.manifest.size) await fh.truncate(this.manifest.size);
  }

  /**
   * 2. Chunks of an older copy at DEST, found by content wherever they moved to. True when
   * DEST already is the file (its file hash is the manifest's).
   */
  async reuseOldCopy(): Promise<boolean> {
    const { chunks, manifest, dest } = this;
    const needed = new Set<string>();
    for (let i = 0; i < chunks.length; i++) if (!this.have[i]) needed.add(chunks[i].hash);
    if (needed.size === 0) return false;
    const found = new Map<string, number>(); // hash -> offset in DEST
    const destHash = new FileHasher();
    const destChunks: { offset: number; size: number }[] = [];
    for await (const batch of chunkFile(dest, manifest.chunking, { signal: this.ctx.signal })) {
      for (const r of batch) {
        destHash.add(r.hash, r.size);
        destChunks.push({ offset: r.offset, size: r.size });
        if (needed.has(r.hash) && !found.has(r.hash)) found.set(r.hash, r.offset);
      }
    }
    if (destHash.size === manifest.size && destHash.digest() === manifest.hash) return true;
    if (found.size > 0) {
      const old = await open(dest, 'r');
      try {
        for (let i = 0; i < chunks.length; i++) {
          const at = this.have[i] ? undefined : found.get(chunks[i].hash);
          if (at === undefined) continue;
          const data = await readAt(old, at, chunks[i].size, dest);
          if (sha256(data) !== chunks[i].hash) continue; // DEST changed under us: fetch it instead
          await writeAt(this.fh, data, this.offsets[i]);
          this.got(i);
        }
      } finally {
        await old.close();
      }
    }
    // 2b. Chunks edited since: each as a delta against the older copy's chunk at its place.
    this.reused += await fetchDeltas(this.ctx, manifest, dest, destChunks, this.have, this.offsets, async (data, i) => {
      await writeAt(this.fh, data, this.offsets[i]);
      this.progress.done(chunks[i].size);
    });
    return false;
  }

  /** DEST is the file already: its times and mode are set, and it counts as reused whole. */
  async keepDestination(): Promise<void> {
    const { manifest, dest } = this;
    try {
      const fh = await open(dest, constants.O_RDONLY | constants.O_NOFOLLOW);
      try {
        await fh.utimes(new Date(manifest.mtime), new Date(manifest.mtime));
        if (manifest.mode !== undefined) await fh.chmod(localModeOf(manifest.mode));
      } finally {
        await fh.close();
      }
    } catch (err) {
      throw fromSystemError(err, dest);
    }
    this.progress.done(manifest.size - this.reused);
    this.count(manifest.size);
  }

  /**
   * 3. The rest: each distinct chunk once, where it first occurs, in runs of neighbours (one
   * ranged request each, several at once), written at every offset it occupies; then the
   * part is cut to the file's length and made durable.
   */
  async fetchMissing(): Promise<void> {
    const { fh, manifest, progress } = this;
    const flusher = new Flusher(fh);
    await fetchMissingChunks(
      this.ctx,
      manifest,
      this.have,
      async (pieces, at, size) => {
        for (const o of at) {
          await writevAt(fh, pieces, o);
          flusher.wrote(size);
        }
      },
      (bytes) => progress.done(bytes),
      // the pieces are written (awaited) before the callback returns: their buffers may be reused
      { lent: true },
    );
    // Exactly the file's length (a trailing run of zero-length writes cannot extend it).
    await fh.truncate(manifest.size);
    await flusher.finish();
  }

  /** The file is done: it counts in the result, `reused` of its bytes found in place. */
  count(reused: number): void {
    const r = this.ctx.result;
    r.files += 1;
    r.bytes += this.manifest.size;
    r.chunks += this.chunks.length;
    r.bytesReused += reused;
    this.ctx.progress.fileDone();
  }
}

/** Bytes written between two flushes of {@link Flusher}. */
const FLUSH_EVERY_BYTES = 64 * 1024 * 1024;

/**
 * Flushes a file being downloaded to disk as it grows (`fdatasync` in the background, every
 * {@link FLUSH_EVERY_BYTES} written), so that the fsync that makes it durable before its
 * rename has little left to do. With memory to spare the kernel otherwise keeps a whole
 * download dirty until that fsync: 0.6 s at the end of a 1 GiB download, measured.
 */
class Flusher {
  private unflushed = 0;
  private running?: Promise<void>;
  private failure?: { err: unknown };

  constructor(private readonly fh: FileHandle) {}

  wrote(bytes: number): void {
    this.unflushed += bytes;
    if (this.unflushed < FLUSH_EVERY_BYTES || this.running) return;
    this.unflushed = 0;
    this.running = this.fh
      .datasync()
      // kept for finish(): a write error reported here may not be reported again by the next fsync
      .catch((err: unknown) => void (this.failure ??= { err }))
      .finally(() => (this.running = undefined));
  }

  /** Makes the file durable (fsync), or throws what a background flush met. */
  async finish(): Promise<void> {
    await this.running;
    if (this.failure) throw this.failure.err;
    await this.fh.sync();
  }
}

/**
 * Writes the bytes of `remotePath` to `out` in order, each chunk verified before it is
 * written. Up to `parallel` chunks are fetched ahead, so memory is bounded by that many chunks.
 * Waits for `out` to drain (backpressure); does not end `out`.
 */
export async function getStream(client: FerryApi<Buffer>, remotePath: string, out: Writable, options: GetStreamOptions = {}): Promise<TransferResult> {
  const ctx = new TransferContext(client, options);
  const { signal } = ctx;
  const manifest = await client.manifest(normalizePath(remotePath), { signal });
  ctx.progress.addTotals(manifest.size, 1);
  const chunks = manifest.chunks;
  const window: Array<Promise<Buffer>> = [];
  let next = 0;
  const launch = () => {
    while (window.length < ctx.parallel && next < chunks.length) {
      const c = chunks[next++];
      const p = client.getChunk(c.hash, c.size, { signal, path: manifest.path, onWire: ctx.onWire });
      p.catch(() => {}); // awaited in order below; this only silences "unhandled" while it waits its turn
      window.push(p);
    }
  };
  try {
    launch();
    for (let i = 0; i < chunks.length; i++) {
      const data = await window.shift()!;
      launch();
      ctx.result.bytesTransferred += data.length;
      ctx.result.chunksTransferred += 1;
      ctx.progress.transferred(data.length);
      if (!out.write(data)) await once(out, 'drain', { signal });
      ctx.progress.done(data.length);
    }
  } catch (err) {
    const aborted = signal.aborted;
    ctx.abort(err); // the chunks fetched ahead are no longer wanted
    if (aborted) throw new AbortedError('aborted', { cause: signal.reason });
    throw isFerryError(err) ? err : fromSystemError(err, 'output');
  }
  ctx.result.files = 1;
  ctx.result.bytes = manifest.size;
  ctx.result.chunks = chunks.length;
  ctx.progress.fileDone();
  return ctx.finish();
}

/**
 * Bytes of small files' chunks asked for in one batch request: enough that the cost per
 * request vanishes (dozens of files), small enough that several batches keep the
 * connections busy and the batches being written hold a few MiB, not hundreds.
 */
const BATCH_TARGET_BYTES = 1024 * 1024;
/** Files of one batch written at once: their fsyncs gain from company (the journal commits them together). */
const BATCH_FILE_WRITES = 8;

/** A small file of a tree, fetched with others in one batch of chunks. */
interface BatchedFile {
  entry: Entry;
  dest: string;
  chunks: ChunkRef[];
}

/**
 * Entries of the listing a tree download takes at once (each file's carries its chunk list):
 * folders made, local state checked and fetches batched per window, so that memory follows
 * the window and not the tree (the whole listing of 100,000 files took 212 MB).
 */
const TREE_WINDOW = 1000;

/** What the windows of one tree download share. */
interface TreeRun {
  ctx: TransferContext<Buffer>;
  caps: Capabilities;
  options: GetTreeOptions;
  root: string;
  localDir: string;
  links: DestGuard;
  fail: (path: string, err: unknown) => void;
  /** Files listed (not left out), entries refused, files written as stored though encrypted. */
  counts: { files: number; refused: number; encrypted: number };
}

/**
 * Downloads the contents of remote directory `remoteDir` into `localDir` (`remoteDir/a/b`
 * becomes `localDir/a/b`), several files at once sharing the `parallel` slots.
 *
 * The recursive listing says what there is, and is taken a window of entries at a time
 * (progress counts the files listed so far until it ends: `totalsSoFar`); files already in
 * place are skipped (see `compare`), and an identical local copy is left alone. Small files
 * come many at once: the listing carries their chunk lists, and their chunks are fetched in
 * batches (`POST /chunks/batch`, about a MiB each), verified chunk by chunk, and written file
 * by file. Against a server without batches, each small file is one `GET /files` verified
 * against its file hash. Larger files go through {@link getFile}. A file that fails does
 * not stop the others: the call throws at the end.
 *
 * Why not sync's `copy` from the Ferry backend to a local one (one tree engine): this is
 * faster. Measured on the bench's 10,000 files of 1-64 KiB (2026-12-03, shared machine):
 * into an empty directory `get -r` took 4.2-4.3 s of client user CPU, `sync` 9.0-9.9 s (the
 * local backend's confined, atomic writes cost more per small file than a part file renamed
 * here); no-change re-runs cost the same (0.8-1.0 s). Also `get -r` keeps permission bits and
 * reuses interrupted downloads (`.ferry-part`) and older local copies chunk by chunk.
 */
export async function getTree(client: FerryApi<Buffer>, remoteDir: string, localDir: string, options: GetTreeOptions = {}): Promise<TransferResult> {
  checkCompareMode(options.compare);
  const ctx = new TransferContext(client, options);
  ctx.noOverwrite = options.noOverwrite === true;
  const { signal } = ctx;
  const root = normalizePath(remoteDir);
  const caps = await client.capabilities({ signal });
  // A directory that is a symbolic link inside the destination is not written through (see
  // DestGuard): the directories at or below one are not made, and count as failed entries.
  ctx.dirsToSync = new Set();
  const failures = new TreeFailures(signal, options.onFileError);
  const run: TreeRun = {
    ctx,
    caps,
    options,
    root,
    localDir,
    links: new DestGuard(localDir, ctx.dirsToSync),
    fail: (path, err) => failures.add(path, err),
    counts: { files: 0, refused: 0, encrypted: 0 },
  };
  ctx.progress.totalsGrowing();
  // The jobs of a window are taken while the next window is read and sorted: the connections
  // stay busy across windows, and no more than one window waits.
  await forEachConcurrent(treeJobs(run), 4 * ctx.parallel, (job) => job(), signal);
  await forEachConcurrent(ctx.dirsToSync, ctx.parallel, syncDir);
  const { files, refused } = run.counts;
  return refused > 0 ? failures.settle(ctx.finish(), files + refused, 'entry', 'entries') : failures.settle(ctx.finish(), files);
}

/** The listing of the tree, in windows of up to `size` entries (the first even when there are none). */
async function* listingWindows(run: TreeRun, size: number): AsyncGenerator<Entry[]> {
  const { ctx, caps, root } = run;
  const pageSize = Math.min(size, caps.limits.maxListLimit || size);
  let window: Entry[] = [];
  let first = true;
  for await (const e of ctx.client.list(root, { recursive: true, chunks: canBatch(caps), pageSize, signal: ctx.signal })) {
    window.push(e);
    if (window.length < size) continue;
    yield window;
    window = [];
    first = false;
  }
  if (first || window.length > 0) yield window;
}

/** Every job of the tree's download, window after window; the root is made once the listing has begun. */
async function* treeJobs(run: TreeRun): AsyncGenerator<() => Promise<void>> {
  let rootMade = false;
  for await (const window of listingWindows(run, TREE_WINDOW)) {
    if (!rootMade) await makeLocalRoot(run.localDir);
    rootMade = true;
    yield* windowJobs(run, window);
  }
  const { encrypted } = run.counts;
  if (encrypted > 0) {
    run.ctx.client.onWarning(`${encrypted === 1 ? '1 file' : `${encrypted} files`} below ${run.root} ${encrypted === 1 ? 'is' : 'are'} end-to-end encrypted (put --encrypt; names ending ${E2E_NAME_SUFFIX}): written as stored, encrypted; get each by its plain name with the passphrase to decrypt it`);
  }
  run.ctx.progress.totalsKnown();
}

/**
 * One window of the listing: the entries to refuse (each a failed entry), its directories
 * made (parents first; a parent listed in an earlier window is there already: the listing
 * is in byte order, a directory before what it holds), its files in place left alone, and
 * the jobs that fetch the others: large files first (they take longest), then batches and
 * lone small files.
 */
async function* windowJobs(run: TreeRun, window: Entry[]): AsyncGenerator<() => Promise<void>> {
  const { ctx, links } = run;
  const { files, dirs } = sortWindow(run, window);
  let bytes = 0;
  for (const f of files) bytes += f.size;
  ctx.progress.addTotals(bytes, files.length);
  run.counts.files += files.length;
  const madeDirs: string[] = [];
  for (const d of dirs) {
    const bad = await links.problem(localPathOf(run, d));
    if (bad) refuse(run, d, bad);
    else madeDirs.push(d);
  }
  for (const f of await makeLocalDirs(ctx, links, madeDirs.map((d) => localPathOf(run, d)))) refuse(run, madeDirs[f.index], f.err);
  const { batched, single, large } = await planFetches(run, files);
  for (const f of large) {
    yield async () => {
      try {
        const manifest = await ctx.client.manifest(f.path, { signal: ctx.signal });
        await links.within(localPathOf(run, f.path), (at) => getFileIn(ctx, manifest, at, run.options));
      } catch (err) {
        run.fail(f.path, err);
      }
    };
  }
  const { caps } = run;
  for (const b of formBatches(batched, Math.min(BATCH_TARGET_BYTES, caps.limits.maxBatchBytes ?? 0), caps.limits.maxChunksPerBatch ?? 0)) {
    yield () => getBatch(ctx, b, caps, run.fail, links);
  }
  for (const f of single) {
    yield async () => {
      try {
        await links.within(localPathOf(run, f.path), (at) => getSmallFile(ctx, f, at, caps));
      } catch (err) {
        run.fail(f.path, err);
      }
    };
  }
}

/** An entry that fails without being tried (a listed path that is not one, a directory that cannot be made). */
function refuse(run: TreeRun, path: string, err: unknown): void {
  run.counts.refused += 1;
  run.fail(path, err);
}

/** Where remote path `p` (inside the tree's root) goes locally. */
function localPathOf(run: TreeRun, p: string): string {
  const rel = relativePath(p, run.root);
  return rel === '' ? run.localDir : join(run.localDir, ...rel.split('/'));
}

/**
 * A window's entries as files to fetch and directories to make. Entries the server should
 * never have sent (a path that is not normalized or not inside the listed directory: `..`,
 * `//`, another root) are refused before any of them becomes a local path, directories
 * exactly like files: each counts as a failed entry.
 */
function sortWindow(run: TreeRun, window: Entry[]): { files: Entry[]; dirs: string[] } {
  const files: Entry[] = [];
  const dirs: string[] = [];
  for (const e of window) {
    const bad = listedPathProblem(e.path, run.root);
    if (bad) refuse(run, String(e.path), bad);
    else if (e.type === 'dir') dirs.push(e.path);
    // A key marker (`.ferry-e2e`, left by put --encrypt and mkdir --e2e) is Ferry's, not the
    // user's: `get -r /` copied the root's into the destination.
    else if (e.type === 'file' && isE2eMarkerPath(e.path)) continue;
    else if (isE2eName(baseName(e.path)) && run.options.onEncrypted) run.options.onEncrypted(e);
    else {
      if (isE2eName(baseName(e.path))) run.counts.encrypted++;
      files.push(e);
    }
  }
  return { files, dirs };
}

/** Which files of a window are in place already (counted done), and how the others must come. */
async function planFetches(run: TreeRun, files: Entry[]): Promise<{ batched: BatchedFile[]; single: Entry[]; large: Entry[] }> {
  const { ctx, caps, links } = run;
  const compare = run.options.compare ?? 'default';
  const batching = canBatch(caps);
  const batched: BatchedFile[] = [];
  const single: Entry[] = [];
  const large: Entry[] = [];
  await forEachConcurrent(
    files,
    4 * ctx.parallel,
    async (f) => {
      try {
        const dest = localPathOf(run, f.path);
        await links.within(dest, async (at) => {
          if (compare !== 'ignore-times' && (await isInPlace(f, at, compare, caps.chunking, ctx.signal))) {
            ctx.result.unchanged += 1;
            ctx.result.bytesReused += f.size;
            ctx.progress.done(f.size);
            ctx.progress.fileDone();
            return;
          }
          if (ctx.noOverwrite) await refuseClobber(at);
          if (f.size > caps.chunking.maxSize || !f.hash) large.push(f);
          else if (await keepIdenticalCopy(ctx, f, at, caps.chunking)) return;
          else if (batching && isBatchable(f, caps)) batched.push({ entry: f, dest, chunks: f.chunkList! });
          else single.push(f);
        });
      } catch (err) {
        run.fail(f.path, err);
      }
    },
    ctx.signal,
  );
  return { batched, single, large };
}

/** Makes a directory, or finds one there (not a link to one). */
async function makeDir(path: string): Promise<void> {
  try {
    await mkdir(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || !(await lstat(path)).isDirectory()) throw fromSystemError(err, path);
  }
}

/** Makes the tree's local root, which must be a directory if it exists. */
async function makeLocalRoot(localRoot: string): Promise<void> {
  const rootStat = await statIfExists(localRoot);
  if (rootStat && !rootStat.isDirectory()) throw new NotADirectoryError(`${localRoot} exists and is not a directory`);
  await mkdir(localRoot, { recursive: true }).catch((err: unknown) => Promise.reject(fromSystemError(err, localRoot)));
}

/**
 * Makes directories below the root, each in its parent held open (DestGuard): a link planted
 * meanwhile on the way fails that directory (returned by index), it makes nothing outside
 * the root.
 */
async function makeLocalDirs(ctx: TransferContext<Buffer>, links: DestGuard, dirs: string[]): Promise<{ index: number; err: unknown }[]> {
  const failed: { index: number; err: unknown }[] = [];
  // Parents first, so that each directory's parent exists when it is made.
  const order = dirs.map((d, index) => ({ d, index })).sort((a, b) => a.d.split(sep).length - b.d.split(sep).length);
  for (const { d, index } of order) {
    try {
      await links.within(d, (at) => makeDir(at));
      ctx.result.dirs += 1;
    } catch (err) {
      failed.push({ index, err });
    }
  }
  return failed;
}

/**
 * Why a path from a listing of `root` cannot be used locally, or undefined when it can: it
 * must be a normalized Ferry path (no `.`/`..` segments, no empty or control-character
 * names) strictly below `root`. A hostile or broken server could otherwise name
 * `root/../../x` and have the client create or overwrite things outside the destination.
 */
function listedPathProblem(path: unknown, root: string): FerryError | undefined {
  let normal: string;
  try {
    normal = normalizePath(path);
  } catch (err) {
    return err as FerryError;
  }
  if (normal !== path || normal === root || !isWithin(normal, root)) {
    return new PathInvalidError(`the server listed ${JSON.stringify(path)}, which is not a path inside ${root}: refused`);
  }
  return undefined;
}

/** Whether the server offers chunk batches and the chunk lists (`list?chunks=true`) that make them usable. */
export function canBatch(caps: Capabilities): boolean {
  return caps.features.includes('chunks-batch') && caps.features.includes('list-chunks') && (caps.limits.maxBatchBytes ?? 0) > 0 && (caps.limits.maxChunksPerBatch ?? 0) > 0;
}

/** Whether a listed file can come in a batch: its chunk list is there, fits, and matches its hash and size. */
function isBatchable(f: Entry, caps: Capabilities): boolean {
  const list = f.chunkList;
  if (!list || list.length > (caps.limits.maxChunksPerBatch ?? 0) || f.size > (caps.limits.maxBatchBytes ?? 0)) return false;
  let size = 0;
  for (const c of list) size += c.size;
  // A list that does not add up to the file is not used (the file then comes whole and is checked against its hash).
  return size === f.size && fileHashOf(list) === f.hash;
}

/**
 * Groups small files, in listing order (neighbours share directories), into batches of
 * about `targetBytes` of distinct chunks and at most `maxChunks` chunks. A chunk that
 * several files of a batch share is fetched once.
 */
function* formBatches(files: readonly BatchedFile[], targetBytes: number, maxChunks: number): Generator<BatchedFile[]> {
  let batch: BatchedFile[] = [];
  let seen = new Set<string>();
  let bytes = 0;
  for (const f of files) {
    let fresh = newChunks(f, seen);
    if (batch.length > 0 && (bytes + fresh.bytes > targetBytes || seen.size + fresh.hashes.length > maxChunks)) {
      yield batch;
      batch = [];
      seen = new Set();
      bytes = 0;
      fresh = newChunks(f, seen);
    }
    batch.push(f);
    for (const h of fresh.hashes) seen.add(h);
    bytes += fresh.bytes;
  }
  if (batch.length > 0) yield batch;
}

/** The chunks of `f` not in `seen` (each once), and their bytes. */
function newChunks(f: BatchedFile, seen: ReadonlySet<string>): { hashes: string[]; bytes: number } {
  const hashes: string[] = [];
  const mine = new Set<string>();
  let bytes = 0;
  for (const c of f.chunks) {
    if (seen.has(c.hash) || mine.has(c.hash)) continue;
    mine.add(c.hash);
    hashes.push(c.hash);
    bytes += c.size;
  }
  return { hashes, bytes };
}

/**
 * Fetches the chunks of a batch of small files in one request and writes the files. If
 * the batch fails as a whole (a chunk the server finds corrupt, a chunk gone since the
 * listing), each of its files is fetched on its own, so that only the files concerned
 * fail, each with its own error.
 */
async function getBatch(ctx: TransferContext<Buffer>, files: BatchedFile[], caps: Capabilities, fail: (path: string, err: unknown) => void, links: DestGuard): Promise<void> {
  const { client, signal } = ctx;
  const wanted = new Map<string, ChunkRef>();
  for (const f of files) for (const c of f.chunks) wanted.set(c.hash, c);
  let data = new Map<string, Buffer>();
  if (wanted.size > 0) {
    try {
      // The files the chunks are read through: one per distinct chunk at most (the first that has it).
      const paths: string[] = [];
      const named = new Set<string>();
      for (const f of files) {
        if (f.chunks.some((c) => !named.has(c.hash))) paths.push(f.entry.path);
        for (const c of f.chunks) named.add(c.hash);
      }
      data = await ctx.slots.run(() => client.getChunkBatch([...wanted.values()], { paths, signal, onWire: ctx.onWire }), signal);
    } catch (err) {
      if (isFerryError(err, 'FERRY_ERR_ABORTED') || signal.aborted) throw err;
      await forEachConcurrent(
        files,
        BATCH_FILE_WRITES,
        async (f) => {
          try {
            await links.within(f.dest, (at) => getSmallFile(ctx, f.entry, at, caps));
          } catch (e) {
            fail(f.entry.path, e);
          }
        },
        signal,
      );
      return;
    }
    let bytes = 0;
    for (const c of wanted.values()) bytes += c.size;
    ctx.result.bytesTransferred += bytes;
    ctx.result.chunksTransferred += wanted.size;
    ctx.progress.transferred(bytes);
  }
  await forEachConcurrent(
    files,
    BATCH_FILE_WRITES,
    async (f) => {
      try {
        await links.within(f.dest, (at) => writeSmallFile(ctx, f.entry, at, f.chunks.map((c) => data.get(c.hash)!)));
      } catch (err) {
        fail(f.entry.path, err);
      }
    },
    signal,
  );
}

/**
 * Whether the local file at `dest` already is `entry` (same size and mtime, or same file
 * hash with `checksum`); a differing mode is corrected on the way.
 */
async function isInPlace(entry: Entry, dest: string, compare: CompareMode, params: ManifestResponse['chunking'], signal: AbortSignal): Promise<boolean> {
  const local = await statIfExists(dest);
  if (!local?.isFile() || local.size !== entry.size) return false;
  const same = compare === 'checksum' ? (await fileHashOfFile(dest, params, signal)) === entry.hash : compare === 'size-only' || Math.round(local.mtimeMs) === entry.mtime;
  if (!same) return false;
  try {
    if (entry.mode !== undefined && (local.mode & 0o777) !== localModeOf(entry.mode)) await chmod(dest, localModeOf(entry.mode));
    if (compare !== 'default' && Math.round(local.mtimeMs) !== entry.mtime) await utimes(dest, new Date(entry.mtime), new Date(entry.mtime));
  } catch (err) {
    throw fromSystemError(err, dest);
  }
  return true;
}

/**
 * For a small file: if `dest` holds the same bytes already (same size, same file hash),
 * sets its times and mode, counts it as done and returns true; nothing needs to travel.
 * FERRY_ERR_IS_A_DIRECTORY when `dest` is a directory.
 */
async function keepIdenticalCopy(ctx: TransferContext<Buffer>, entry: Entry, dest: string, chunking: ChunkingParams): Promise<boolean> {
  const destStat = await statIfExists(dest);
  if (destStat?.isDirectory()) throw new IsADirectoryError(`${dest} is a directory`);
  if (!destStat?.isFile() || destStat.size !== entry.size) return false;
  try {
    // Not through a link (part-file.ts): one at DEST is replaced by the file instead.
    const fh = await openUnlessLink(dest);
    if (!fh) return false;
    try {
      if (fileHashOfBuffer(await readAt(fh, 0, entry.size, dest), chunking) !== entry.hash) return false;
      const t = new Date(entry.mtime);
      await fh.utimes(t, t);
      if (entry.mode !== undefined) await fh.chmod(localModeOf(entry.mode));
    } finally {
      await fh.close();
    }
  } catch (err) {
    throw isFerryError(err) ? err : fromSystemError(err, dest);
  }
  ctx.result.bytesReused += entry.size;
  ctx.progress.done(entry.size);
  ctx.result.files += 1;
  ctx.result.bytes += entry.size;
  ctx.result.chunks += entry.chunks ?? 1;
  ctx.progress.fileDone();
  return true;
}

/** A small file in one request (`GET /files`), verified against its file hash by chunking it in memory. */
async function getSmallFile(ctx: TransferContext<Buffer>, entry: Entry, dest: string, caps: Capabilities): Promise<void> {
  const { client, signal } = ctx;
  if (await keepIdenticalCopy(ctx, entry, dest, caps.chunking)) return;
  const data = await ctx.slots.run(() => client.getFileBytes(entry.path, entry.size, { signal }), signal);
  if (fileHashOfBuffer(data, caps.chunking) !== entry.hash) {
    throw new HashMismatchError(`${entry.path}: the bytes received do not match the file hash`);
  }
  ctx.result.bytesTransferred += data.length;
  ctx.result.wireBytes += data.length;
  ctx.result.chunksTransferred += 1;
  ctx.progress.transferred(data.length);
  await writeSmallFile(ctx, entry, dest, [data]);
}

/** Writes a small file whose verified bytes are in memory: part file, fsync, times and mode, rename. */
async function writeSmallFile(ctx: TransferContext<Buffer>, entry: Entry, dest: string, parts: Buffer[]): Promise<void> {
  const part = partPathOf(dest, PART_SUFFIX);
  const fh = await openPartFile(part, false, dest);
  try {
    let offset = 0;
    for (const p of parts) {
      await writeAt(fh, p, offset);
      offset += p.length;
    }
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => undefined);
    throw fromSystemError(err, part);
  }
  await finishPart(fh, part, dest, entry.mtime, entry.mode, ctx.dirsToSync, ctx.noOverwrite);
  ctx.progress.done(entry.size);
  ctx.result.files += 1;
  ctx.result.bytes += entry.size;
  ctx.result.chunks += entry.chunks ?? parts.length;
  ctx.progress.fileDone();
}
