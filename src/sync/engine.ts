/**
 * sync, copy and move between two remotes (rclone's commands of the same names).
 *
 * One run: list both sides (in parallel, one recursive listing each), filter, compare each
 * source file with its destination twin (`--checkers` comparisons at once, hashing only when
 * times differ or --checksum asks), then act:
 *   1. renames (`--track-renames`): a destination-only file whose hash equals a new source
 *      file's is moved there on the destination (server-side where it can), not re-sent;
 *   2. transfers (`--transfers` files at once; small files batched where the destination can
 *      take many at once or the source can give many at once), each atomic, verified and
 *      retried; `--backup-dir` receives the destination file a transfer is about to replace;
 *   3. move only: each source file is deleted once its copy is verified (or was identical);
 *   4. sync only, and only if nothing failed: destination-only files (and excluded ones with
 *      `--delete-excluded`) are deleted, or moved to `--backup-dir`, refused as a whole when
 *      more than `--max-delete` would go; then directories the source lacks are removed.
 * `--dry-run` does all the listing and comparing and reports what would happen.
 *
 * Per-file failures do not stop the run: they are counted and reported in the result (the
 * CLI turns them into a non-zero exit). Listing failures, bad usage and aborts throw.
 */
import { AbortedError, HashMismatchError, isFerryError, NotFoundError, UsageError, type FerryError } from '../core/errors.js';
import { countOf } from '../core/units.js';
import { canMove, canSetMtime, hasDirectories, moveObject, copyObject, type ObjectInfo } from '../core/storage.js';
import { decide, sameHash, type CompareMode, type CompareOptions } from './compare.js';
import { NO_FILTER, type Filter } from './filter.js';
import { commonHashKind, HashSource, treeParamsFor, type FileEntry, type HashKind } from './hashes.js';
import { listRemote, remoteExists, type Listing } from './listing.js';
import { DEFAULT_RETRIES, forEachLimit, TokenBucket, withRetries, type RetryPolicy } from './pace.js';
import { ProgressTracker, type SyncProgressCallback } from './progress.js';
import { keyOf, sameBackend, type Remote } from './remote.js';
import { batchLimits, copyBatch, copyFile, hashesOf, type BatchFile, type TransferContext } from './transfer.js';

export type SyncMode = 'sync' | 'copy' | 'move';

/** Files up to this size are "small": latency-bound, so {@link SMALL_FILE_FACTOR} times more travel at once. */
const SMALL_FILE = 256 * 1024;
const SMALL_FILE_FACTOR = 4;

export interface SyncOptions {
  compare?: CompareMode;
  /** Skip files that are newer on the destination. */
  update?: boolean;
  /** Skip files that exist on the destination. */
  ignoreExisting?: boolean;
  filter?: Filter;
  /** sync: also delete destination files the filter excludes. */
  deleteExcluded?: boolean;
  /** Files transferred at once (default 4). */
  transfers?: number;
  /** Comparisons (and hash computations) at once (default 8). */
  checkers?: number;
  /** Bytes per second for all transfers together. */
  bwlimit?: number;
  /** Attempts after the first for a failing file (default 3); backoff doubles from `retryBaseMs`. */
  retries?: number;
  retryBaseMs?: number;
  /** Where replaced and deleted destination files go instead of being lost. */
  backupDir?: Remote;
  /** Detect renames by hash: move on the destination instead of copying and deleting. */
  trackRenames?: boolean;
  /** sync: refuse to delete more than this many files (none are deleted then). */
  maxDelete?: number;
  dryRun?: boolean;
  /**
   * fsync each file written (where the destination can): slower, survives a power cut. Default
   * false, as rsync and rclone: a file cut short by a crash has the wrong size and is simply
   * copied again by the next run.
   */
  fsync?: boolean;
  signal?: AbortSignal;
  onProgress?: SyncProgressCallback;
  /** Told about every action (and, in dry runs, every action that would happen). */
  onEvent?: (e: SyncEvent) => void;
}

export type SyncAction = 'copy' | 'update' | 'set-mtime' | 'delete' | 'rename' | 'backup' | 'delete-source' | 'move' | 'rmdir';

export interface SyncEvent {
  action: SyncAction | 'error' | 'retry';
  path: string;
  /** rename/move/backup target. */
  to?: string;
  size?: number;
  reason?: string;
  error?: { code: string; message: string };
  dryRun?: boolean;
}

export interface SyncResult {
  mode: SyncMode;
  dryRun: boolean;
  /** Files copied (new or updated). */
  transferred: number;
  /** Bytes of those files. */
  bytes: number;
  /** Source files compared with a destination file. */
  checked: number;
  /** Files left alone because they were equal. */
  unchanged: number;
  mtimeUpdated: number;
  deleted: number;
  renamed: number;
  backedUp: number;
  /** move: source files removed. */
  sourceDeleted: number;
  errors: Array<{ path: string; code: string; message: string }>;
  /** sync: why deletions were not done (errors happened, --max-delete), if they were not. */
  deletesSkipped?: string;
  hashKind?: HashKind;
  elapsedMs: number;
}

/** Deletions the engine plans, for --max-delete and --dry-run. */
interface Plan {
  copies: Array<{ rel: string; entry: FileEntry; replace?: FileEntry }>;
  mtimes: Array<{ rel: string; entry: FileEntry }>;
  /** move: source files that are already on the destination (identical). */
  identical: string[];
  renames: Array<{ from: string; to: string; entry: FileEntry }>;
  deletes: string[];
}

function errorInfo(err: unknown): { code: string; message: string } {
  if (isFerryError(err)) return { code: err.code, message: err.message };
  return { code: 'FERRY_ERR_INTERNAL', message: err instanceof Error ? err.message : String(err) };
}

function overlaps(a: Remote, b: Remote): boolean {
  if (!sameBackend(a, b)) return false;
  const inside = (x: string, y: string) => y === '' || x === y || x.startsWith(y + '/');
  // A one-file remote is that file's path (a file copied into a folder beside it is fine).
  const place = (r: Remote) => (r.only === undefined ? r.prefix : keyOf(r, r.only));
  return inside(place(a), place(b)) || inside(place(b), place(a));
}

/** Makes the destination match the source, deleting extra files. */
export function sync(src: Remote, dst: Remote, options: SyncOptions = {}): Promise<SyncResult> {
  return run('sync', src, dst, options);
}

/** Copies new and changed files; never deletes. */
export function copy(src: Remote, dst: Remote, options: SyncOptions = {}): Promise<SyncResult> {
  return run('copy', src, dst, options);
}

/** Copies, then removes each source file once its copy is verified. */
export function move(src: Remote, dst: Remote, options: SyncOptions = {}): Promise<SyncResult> {
  return run('move', src, dst, options);
}

/** The modify window of two remotes: the coarser precision, at least 1 ms. */
export function modifyWindow(a: Remote, b: Remote): number {
  return Math.max(1, a.backend.features().mtimePrecisionMs, b.backend.features().mtimePrecisionMs);
}

async function run(mode: SyncMode, src: Remote, dst: Remote, o: SyncOptions): Promise<SyncResult> {
  const started = performance.now();
  const signal = o.signal;
  const dryRun = o.dryRun === true;
  const filter = o.filter ?? NO_FILTER;
  if (overlaps(src, dst)) throw new UsageError(`${src.label} and ${dst.label} overlap: one is inside the other`);
  if (o.backupDir && (overlaps(o.backupDir, dst) || overlaps(o.backupDir, src))) {
    throw new UsageError(`--backup-dir ${o.backupDir.label} must not overlap the source or the destination`);
  }
  const progress = new ProgressTracker(o.onProgress);
  const result: SyncResult = {
    mode,
    dryRun,
    transferred: 0,
    bytes: 0,
    checked: 0,
    unchanged: 0,
    mtimeUpdated: 0,
    deleted: 0,
    renamed: 0,
    backedUp: 0,
    sourceDeleted: 0,
    errors: [],
    elapsedMs: 0,
  };
  const emit = (e: SyncEvent) => o.onEvent?.(dryRun && e.action !== 'error' ? { ...e, dryRun } : e);
  const fail = (path: string, err: unknown) => {
    if (isFerryError(err, 'FERRY_ERR_ABORTED') || signal?.aborted) throw err instanceof AbortedError ? err : new AbortedError('aborted', { cause: err });
    const info = errorInfo(err);
    result.errors.push({ path, ...info });
    progress.count('errors');
    emit({ action: 'error', path, error: info });
  };

  // ---- list ----
  const [srcList, dstList] = await Promise.all([listRemote(src, filter, signal), listRemote(dst, filter, signal)]);
  if (srcList.files.size === 0 && srcList.excluded.size === 0 && srcList.dirs.size === 0 && !(await remoteExists(src, signal))) {
    throw new NotFoundError(`source ${src.label} not found`, { details: { remote: src.label } });
  }
  progress.phase('comparing');

  const srcF = src.backend.features();
  const dstF = dst.backend.features();
  const hashKind = commonHashKind(src, dst);
  result.hashKind = hashKind;
  const treeParams = hashKind === 'ferry-tree' ? await treeParamsFor(src, dst, signal) : undefined;
  const srcHashes = new HashSource(src, treeParams);
  const dstHashes = new HashSource(dst, treeParams);
  const windowMs = modifyWindow(src, dst);
  const cmp: CompareOptions = {
    mode: o.compare ?? 'default',
    update: o.update === true,
    ignoreExisting: o.ignoreExisting === true,
    windowMs,
    mtimes: srcF.mtime && dstF.mtime,
    dstSetMtime: canSetMtime(dst.backend),
    hashKind,
    src: srcHashes,
    dst: dstHashes,
    signal,
  };

  // ---- compare ----
  const plan: Plan = { copies: [], mtimes: [], identical: [], renames: [], deletes: [] };
  const news: Array<{ rel: string; entry: FileEntry }> = [];
  const pairs: Array<[string, FileEntry, FileEntry]> = [];
  for (const [rel, entry] of srcList.files) {
    const twin = dstList.files.get(rel);
    if (twin === undefined) news.push({ rel, entry });
    else pairs.push([rel, entry, twin]);
  }
  await forEachLimit(
    pairs,
    o.checkers ?? 8,
    async ([rel, entry, twin]) => {
      try {
        const d = await decide(rel, entry, twin, cmp);
        result.checked++;
        progress.count('checks');
        if (d.action === 'transfer') plan.copies.push({ rel, entry, replace: twin });
        else if (d.action === 'set-mtime') plan.mtimes.push({ rel, entry });
        else {
          result.unchanged++;
          // move: the copy is already there; a file skipped for another reason stays.
          if (mode === 'move' && d.same) plan.identical.push(rel);
        }
      } catch (err) {
        fail(rel, err);
      }
    },
    signal,
  );

  if (mode === 'sync') {
    for (const rel of dstList.files.keys()) if (!srcList.files.has(rel)) plan.deletes.push(rel);
    if (o.deleteExcluded) for (const rel of dstList.excluded.keys()) if (!srcList.files.has(rel)) plan.deletes.push(rel);
  }

  // ---- renames ----
  if (o.trackRenames && mode === 'sync' && plan.deletes.length > 0 && news.length > 0) {
    if (hashKind === undefined) {
      emit({ action: 'error', path: '', reason: '--track-renames: the two remotes have no hash in common; renames are copied' });
    } else {
      await matchRenames(news, plan, dstList, { ...cmp, hashKind }, fail, o.checkers ?? 8, signal);
    }
  }
  for (const n of news) if (!plan.renames.some((r) => r.to === n.rel)) plan.copies.push(n);

  // ---- act ----
  let bytesPlanned = 0;
  for (const c of plan.copies) bytesPlanned += c.entry.size;
  progress.plan(plan.copies.length, bytesPlanned);
  progress.phase('transferring');
  const ctx: TransferContext = {
    src,
    dst,
    limiter: o.bwlimit ? new TokenBucket(o.bwlimit) : undefined,
    progress,
    retry: { ...DEFAULT_RETRIES, retries: o.retries ?? DEFAULT_RETRIES.retries, baseMs: o.retryBaseMs ?? DEFAULT_RETRIES.baseMs },
    windowMs,
    signal,
    durable: o.fsync === true,
    onRetry: (path, err, attempt, delayMs) => emit({ action: 'retry', path, reason: `attempt ${attempt + 2} in ${delayMs} ms`, error: errorInfo(err) }),
  };
  const retry = ctx.retry;

  const backup = async (rel: string) => {
    if (!o.backupDir) return;
    emit({ action: 'backup', path: rel, to: keyOf(o.backupDir, rel) });
    if (dryRun) return;
    await moveAcross(dst, rel, o.backupDir, rel, retry, signal);
    result.backedUp++;
  };

  for (const r of plan.renames) {
    emit({ action: 'rename', path: r.from, to: r.to, size: r.entry.size });
    if (dryRun) {
      result.renamed++;
      continue;
    }
    try {
      const info = await withRetries(() => moveObject(dst.backend, keyOf(dst, r.from), keyOf(dst, r.to), { signal }), retry, signal);
      if (r.entry.mtime !== undefined && dstF.mtime && (info.mtime === undefined || Math.abs(info.mtime - r.entry.mtime) >= windowMs) && canSetMtime(dst.backend)) {
        await dst.backend.setMtime(keyOf(dst, r.to), r.entry.mtime, { signal });
      }
      result.renamed++;
      progress.count('renames');
    } catch (err) {
      fail(r.from, err);
    }
  }

  for (const m of plan.mtimes) {
    emit({ action: 'set-mtime', path: m.rel });
    if (dryRun) {
      result.mtimeUpdated++;
      continue;
    }
    try {
      if (canSetMtime(dst.backend)) await dst.backend.setMtime(keyOf(dst, m.rel), m.entry.mtime!, { signal });
      result.mtimeUpdated++;
      if (mode === 'move') plan.identical.push(m.rel);
    } catch (err) {
      fail(m.rel, err);
    }
  }

  const deleteSource = async (rel: string) => {
    emit({ action: 'delete-source', path: rel });
    if (dryRun) return;
    await withRetries(() => src.backend.delete(keyOf(src, rel), { signal }), retry, signal);
    result.sourceDeleted++;
  };

  /**
   * move: the source goes only once the copy is known to hold the same bytes: the size was
   * checked on the way; with a common hash, the source's hash must equal the copy's.
   */
  const verifyCopy = async (rel: string, entry: FileEntry, info: ObjectInfo | undefined) => {
    if (hashKind === undefined) return;
    const copyEntry: FileEntry = info ? { size: info.size, mtime: info.mtime, hashes: hashesOf(info) } : { ...entry, hashes: {} };
    const [a, b] = await Promise.all([srcHashes.hash(rel, entry, hashKind, signal), dstHashes.hash(rel, copyEntry, hashKind, signal)]);
    if (a !== b) throw new HashMismatchError(`${rel}: the copy's ${hashKind} differs from the source's; the source is kept`);
  };

  const afterCopy = async (c: Plan['copies'][number], info?: ObjectInfo) => {
    result.transferred++;
    result.bytes += c.entry.size;
    progress.count('filesDone');
    if (mode === 'move') {
      await verifyCopy(c.rel, c.entry, info);
      await deleteSource(c.rel);
    }
  };

  // Moves within one backend are renames: no bytes travel.
  const serverMove = mode === 'move' && sameBackend(src, dst) && canMove(src.backend);
  // Small files go in batches where either side can: a destination that stores many in one
  // request, a source that reads many in one (both Ferry servers).
  const limits = !dryRun && !sameBackend(src, dst) && !o.backupDir ? await batchLimits(src, dst, signal) : undefined;
  const batchable = limits !== undefined;
  const maxBatchObject = limits?.maxObjectSize ?? 0;
  const batch: BatchFile[] = [];
  const single: Plan['copies'] = [];
  for (const c of plan.copies) {
    if (batchable && c.entry.size <= maxBatchObject) batch.push({ rel: c.rel, entry: c.entry });
    else single.push(c);
  }
  const transferOne = async (c: Plan['copies'][number]) => {
    emit({ action: c.replace ? 'update' : 'copy', path: c.rel, size: c.entry.size });
    if (dryRun) {
      result.transferred++;
      result.bytes += c.entry.size;
      if (mode === 'move') await deleteSource(c.rel);
      return;
    }
    try {
      if (c.replace) await backup(c.rel);
      if (serverMove) {
        await withRetries(() => moveObject(src.backend, keyOf(src, c.rel), keyOf(dst, c.rel), { signal }), retry, signal);
        result.transferred++;
        result.bytes += c.entry.size;
        result.sourceDeleted++;
        progress.bytes(c.entry.size);
        progress.count('filesDone');
        return;
      }
      await afterCopy(c, await copyFile(ctx, c.rel, c.entry));
    } catch (err) {
      fail(c.rel, err);
    }
  };
  const byRel = new Map(plan.copies.map((c) => [c.rel, c]));
  // What follows a batched copy (move: deleting the source) runs as each batch lands.
  const followUps: Array<Promise<void>> = [];
  // Small files cost round trips, not bandwidth: more of them are in flight at once.
  const transfers = o.transfers ?? 4;
  const smallFiles = single.filter((c) => c.entry.size <= SMALL_FILE);
  const bigFiles = single.filter((c) => c.entry.size > SMALL_FILE);
  await Promise.all([
    forEachLimit(bigFiles, transfers, transferOne, signal),
    forEachLimit(smallFiles, transfers * SMALL_FILE_FACTOR, transferOne, signal),
    batch.length === 0
      ? Promise.resolve()
      : copyBatch(ctx, batch, (f, err, info) => {
          const c = byRel.get(f.rel)!;
          emit({ action: c.replace ? 'update' : 'copy', path: f.rel, size: f.entry.size });
          if (err !== undefined) return fail(f.rel, err);
          followUps.push(afterCopy(c, info).catch((e) => fail(f.rel, e)));
        }),
  ]);
  await Promise.all(followUps);

  if (mode === 'move') {
    await forEachLimit(
      plan.identical,
      o.transfers ?? 4,
      async (rel) => {
        try {
          await deleteSource(rel);
        } catch (err) {
          fail(rel, err);
        }
      },
      signal,
    );
  }

  // ---- delete ----
  if (mode === 'sync') {
    progress.phase('deleting');
    if (result.errors.length > 0 && plan.deletes.length > 0) {
      result.deletesSkipped = `not deleting ${countOf(plan.deletes.length, 'file')} because ${countOf(result.errors.length, 'error')} happened`;
    } else if (o.maxDelete !== undefined && plan.deletes.length > o.maxDelete) {
      result.deletesSkipped = `not deleting ${countOf(plan.deletes.length, 'file')}: more than --max-delete ${o.maxDelete}`;
      fail('', new UsageError(result.deletesSkipped));
    } else {
      await forEachLimit(
        plan.deletes,
        o.transfers ?? 4,
        async (rel) => {
          try {
            if (o.backupDir) {
              await backup(rel);
            } else {
              emit({ action: 'delete', path: rel });
              if (!dryRun) await withRetries(() => dst.backend.delete(keyOf(dst, rel), { signal }), retry, signal);
            }
            result.deleted++;
            progress.count('deletes');
          } catch (err) {
            fail(rel, err);
          }
        },
        signal,
      );
      if (result.errors.length === 0) await removeStaleDirs(dst, srcList, dstList, filter, dryRun, emit, signal);
    }
  }

  progress.finish();
  result.elapsedMs = performance.now() - started;
  return result;
}

/**
 * Pairs new source files with destination files about to be deleted: same size and same
 * hash. Each destination file is used once.
 */
async function matchRenames(
  news: Array<{ rel: string; entry: FileEntry }>,
  plan: Plan,
  dstList: Listing,
  cmp: CompareOptions & { hashKind: HashKind },
  fail: (path: string, err: unknown) => void,
  checkers: number,
  signal?: AbortSignal,
): Promise<void> {
  const bySize = new Map<number, string[]>();
  for (const rel of plan.deletes) {
    const e = dstList.files.get(rel);
    if (e === undefined) continue;
    const list = bySize.get(e.size) ?? [];
    list.push(rel);
    bySize.set(e.size, list);
  }
  const taken = new Set<string>();
  await forEachLimit(
    news.filter((n) => bySize.has(n.entry.size)),
    checkers,
    async (n) => {
      try {
        for (const candidate of bySize.get(n.entry.size)!) {
          if (taken.has(candidate)) continue;
          const same = await sameHash(n.rel, n.entry, dstList.files.get(candidate)!, cmp, candidate);
          if (same && !taken.has(candidate)) {
            taken.add(candidate);
            plan.renames.push({ from: candidate, to: n.rel, entry: n.entry });
            return;
          }
        }
      } catch (err) {
        fail(n.rel, err);
      }
    },
    signal,
  );
  plan.deletes = plan.deletes.filter((rel) => !taken.has(rel));
}

/** Moves a file from one remote to another: server-side within one backend, else copy then delete. */
export async function moveAcross(from: Remote, rel: string, to: Remote, toRel: string, retry: RetryPolicy, signal?: AbortSignal): Promise<void> {
  if (sameBackend(from, to)) {
    await withRetries(() => moveObject(from.backend, keyOf(from, rel), keyOf(to, toRel), { signal }), retry, signal);
    return;
  }
  await withRetries(
    async () => {
      const info = await from.backend.stat(keyOf(from, rel), { signal });
      const body = await from.backend.read(keyOf(from, rel), { signal });
      await to.backend.write(keyOf(to, toRel), body, { size: info.size, mtime: info.mtime, signal, durable: false });
    },
    retry,
    signal,
  );
  await withRetries(() => from.backend.delete(keyOf(from, rel), { signal }), retry, signal);
}

/** Server-side copy within one backend, else a streamed copy (for bisync's conflict copies). */
export async function copyWithin(remote: Remote, from: string, to: string, signal?: AbortSignal): Promise<void> {
  await copyObject(remote.backend, keyOf(remote, from), keyOf(remote, to), { signal });
}

/**
 * sync: removes destination directories the source does not have, deepest first, where the
 * destination has real directories. Only empty ones go (rmdir refuses the others), so a
 * directory holding excluded files stays.
 */
async function removeStaleDirs(
  dst: Remote,
  srcList: Listing,
  dstList: Listing,
  filter: Filter,
  dryRun: boolean,
  emit: (e: SyncEvent) => void,
  signal?: AbortSignal,
): Promise<void> {
  if (!hasDirectories(dst.backend)) return;
  const needed = new Set<string>(srcList.dirs);
  for (const rel of srcList.files.keys()) for (let i = rel.indexOf('/'); i !== -1; i = rel.indexOf('/', i + 1)) needed.add(rel.slice(0, i));
  const stale = [...dstList.dirs].filter((d) => !needed.has(d) && filter.includesPath(d + '/')).sort((a, b) => b.length - a.length);
  for (const d of stale) {
    emit({ action: 'rmdir', path: d });
    if (dryRun) continue;
    try {
      await dst.backend.rmdir(keyOf(dst, d), { signal });
    } catch (err) {
      if (!isFerryError(err, 'FERRY_ERR_DIRECTORY_NOT_EMPTY') && !isFerryError(err, 'FERRY_ERR_NOT_FOUND')) throw err as FerryError;
    }
  }
}
