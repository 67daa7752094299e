/**
 * sync, copy and move between two remotes (rclone's commands of the same names), as plan +
 * do: the remotes are decorated (decorated.ts: retries, bandwidth limit, logging, dry run),
 * both are listed (in parallel, one recursive listing each), the planner (plan-sync.ts)
 * decides every step, the plan is handed to `onPlan` (`--dry-run` prints it), and the
 * executor (execute.ts) runs it. A dry run runs the same plan on dry-run remotes.
 *
 * Per-file failures do not stop the run: they are counted and reported in the result (the
 * CLI turns them into a non-zero exit). Listing failures, bad usage and aborts throw.
 */
import { AbortedError, isFerryError, NotFoundError, UsageError } from '../core/errors.js';
import { overlapsAcross, refuseOverlapAcross } from './same-store.js';
import { ProgressTracker, type ProgressCallback } from '../core/progress.js';
import { countOf } from '../core/units.js';
import { canCheckDirectories, canMove, canSetMtime, hasDirectories } from '../core/storage.js';
import type { StorageLogger } from '../backends/decorators/index.js';
import type { CompareMode, CompareOptions } from './compare.js';
import { decorateRemotes, retryPolicy } from './decorated.js';
import { executePlan } from './execute.js';
import { NO_FILTER, type Filter } from './filter.js';
import { commonHashKind, HashSource, treeParamsFor, type HashKind } from './hashes.js';
import { listPair, sourceExists, type SkippedEntry } from './listing.js';
import type { StepEvent } from './plan.js';
import { planSync, type SyncMode, type SyncPlan } from './plan-sync.js';
import { keyOf, modifyWindow, overlaps, refuseOverlap, sameBackend, type Remote } from './remote.js';
import { checkRunOptions } from './run-options.js';

export type { SyncMode } from './plan-sync.js';

export interface SyncOptions {
  compare?: CompareMode;
  /** Skip files that are newer on the destination. */
  update?: boolean;
  /** Skip files that exist on the destination. */
  ignoreExisting?: boolean;
  /** Never replace a destination file (`--no-clobber`): one that would be replaced is this file's error. */
  noOverwrite?: boolean;
  filter?: Filter;
  /** sync: also delete destination files the filter excludes. */
  deleteExcluded?: boolean;
  /** Files transferred at once (default 4). */
  transfers?: number;
  /** Comparisons (and hash computations) at once (default 8). */
  checkers?: number;
  /** Bytes per second for all transfers together. */
  bwlimit?: number;
  /** Attempts after the first for a failing call or file (default 3); backoff doubles from `retryBaseMs`. */
  retries?: number;
  retryBaseMs?: number;
  /** Where replaced and deleted destination files go instead of being lost. */
  backupDir?: Remote;
  /** Detect renames by hash: move on the destination instead of copying and deleting. */
  trackRenames?: boolean;
  /** sync: refuse to delete more than this many files (none are deleted then). */
  maxDelete?: number;
  /** Plan, report, and run the plan on dry-run remotes: nothing changes. */
  dryRun?: boolean;
  /**
   * fsync each file written (where the destination can): slower, survives a power cut. Default
   * false, as rsync and rclone: a file cut short by a crash has the wrong size and is simply
   * copied again by the next run.
   */
  fsync?: boolean;
  signal?: AbortSignal;
  onProgress?: ProgressCallback;
  /** Told about every action (and, in dry runs, every action that would happen). */
  onEvent?: (e: SyncEvent) => void;
  /** Told the plan once it is made, before anything runs. */
  onPlan?: (plan: SyncPlan) => void;
  /** Told about every storage call (`-vv`). */
  onStorageCall?: StorageLogger;
}

export type SyncAction = 'copy' | 'update' | 'set-mtime' | 'delete' | 'rename' | 'backup' | 'delete-source' | 'rmdir';

export interface SyncEvent extends StepEvent {
  action: SyncAction | 'error' | 'retry';
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
  /**
   * Source entries the listing left out, and why (a local symbolic link is not followed; a
   * socket or FIFO is not a file): not transferred, and not errors either. The CLI warns of
   * each; a program sees them here, with or without the remote's `onSkip`.
   */
  skipped: SkippedEntry[];
  /** sync: why deletions were not done (errors happened, --max-delete), if they were not. */
  deletesSkipped?: string;
  hashKind?: HashKind;
  elapsedMs: number;
}

export function errorInfo(err: unknown): { code: string; message: string } {
  if (isFerryError(err)) return { code: err.code, message: err.message };
  return { code: 'FERRY_ERR_INTERNAL', message: err instanceof Error ? err.message : String(err) };
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

function checkUsage(src: Remote, dst: Remote, o: SyncOptions): void {
  checkRunOptions(o);
  refuseOverlap(src, dst);
  if (o.backupDir && (overlaps(o.backupDir, dst) || overlaps(o.backupDir, src))) {
    throw new UsageError(`\`backupDir\` ${o.backupDir.label} must not overlap the source or the destination`);
  }
}

/** A new result, and the run's failure recorder (aborts are rethrown). */
function newResult(mode: SyncMode, o: SyncOptions, progress: ProgressTracker) {
  const dryRun = o.dryRun === true;
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
    skipped: [],
    elapsedMs: 0,
  };
  const emit = (e: SyncEvent) => o.onEvent?.(dryRun && e.action !== 'error' ? { ...e, dryRun } : e);
  const fail = (path: string, err: unknown) => {
    if (isFerryError(err, 'FERRY_ERR_ABORTED') || o.signal?.aborted) throw err instanceof AbortedError ? err : new AbortedError('aborted', { cause: err });
    const info = errorInfo(err);
    result.errors.push({ path, ...info });
    progress.count('errors');
    emit({ action: 'error', path, error: info });
  };
  return { result, emit, fail };
}

async function run(mode: SyncMode, rawSrc: Remote, rawDst: Remote, o: SyncOptions): Promise<SyncResult> {
  const started = performance.now();
  const { signal } = o;
  checkUsage(rawSrc, rawDst, o);
  await refuseOverlapAcross(rawSrc, rawDst, signal);
  if (o.backupDir && ((await overlapsAcross(o.backupDir, rawDst, signal)) || (await overlapsAcross(o.backupDir, rawSrc, signal)))) {
    throw new UsageError(`\`backupDir\` ${o.backupDir.label} must not overlap the source or the destination`);
  }
  const progress = new ProgressTracker(o.onProgress);
  progress.phase('listing');
  const { result, emit, fail } = newResult(mode, o, progress);
  const retry = retryPolicy(o.retries, o.retryBaseMs);
  const onRetry = (path: string, err: unknown, attempt: number, delayMs: number) =>
    emit({ action: 'retry', path, reason: `attempt ${attempt + 1} in ${delayMs} ms`, error: errorInfo(err) });
  const remotes = decorateRemotes({ src: rawSrc, dst: rawDst, backup: o.backupDir }, { retry, bwlimit: o.bwlimit, dryRun: o.dryRun, log: o.onStorageCall, onRetry });
  const [src, dst] = [remotes.src!, remotes.dst!];
  const filter = o.filter ?? NO_FILTER;

  const mtimes = src.backend.features().mtime && dst.backend.features().mtime;
  // Listings may be replaced by digests where equal sizes and times are all that counts (listPair).
  const digests = mode !== 'move' && (o.compare ?? 'default') === 'default' && o.update !== true && o.ignoreExisting !== true && mtimes;
  const [srcList, dstList] = await listPair(src, dst, filter, digests, signal);
  result.skipped = srcList.skipped;
  if (srcList.files.size === 0 && srcList.excluded.size === 0 && srcList.dirs.size === 0 && !(await sourceExists(src, signal))) {
    const why = canCheckDirectories(src.backend) ? '' : ' (nothing is stored under that prefix)';
    throw new NotFoundError(`source ${src.label} not found${why}`, { details: { remote: src.label } });
  }
  progress.phase('comparing');
  const hashKind = commonHashKind(src, dst);
  result.hashKind = hashKind;
  const treeParams = hashKind === 'ferry-tree' ? await treeParamsFor(src, dst, signal) : undefined;
  const hashes = { src: new HashSource(src, treeParams), dst: new HashSource(dst, treeParams) };
  const windowMs = modifyWindow(src, dst);
  const compare: CompareOptions = {
    mode: o.compare ?? 'default',
    update: o.update === true,
    ignoreExisting: o.ignoreExisting === true,
    windowMs,
    mtimes,
    dstSetMtime: canSetMtime(dst.backend),
    hashKind,
    src: hashes.src,
    dst: hashes.dst,
    signal,
  };
  const backupDir = remotes.backup;
  const plan = await planSync(srcList, dstList, {
    mode,
    compare,
    filter,
    deleteExcluded: o.deleteExcluded,
    trackRenames: o.trackRenames,
    maxDelete: o.maxDelete,
    noOverwrite: o.noOverwrite,
    backup: backupDir ? { path: (rel) => keyOf(backupDir, rel) } : undefined,
    serverMove: sameBackend(src, dst) && canMove(src.backend),
    directories: hasDirectories(dst.backend),
    refusesLookAlikes: dst.backend.features().lookAlikeNames === 'refused',
    checkers: o.checkers,
    transfers: o.transfers,
    onCheck: () => progress.count('checks'),
  });
  result.checked = plan.checked;
  result.unchanged = plan.unchanged;
  for (const e of plan.errors) fail(e.path, e.error);
  for (const note of plan.notes) emit({ action: 'error', path: '', reason: note });
  o.onPlan?.(plan);

  await executePlan(plan, o, result, {
    remotes,
    progress,
    retry,
    windowMs,
    signal,
    hashKind,
    hashes,
    emit,
    fail,
    onRetry,
    onSkipped: (phase, why) => {
      if (phase.name !== 'deletes') return;
      if ('refused' in why) {
        result.deletesSkipped = why.refused;
        fail('', new UsageError(why.refused));
      } else {
        result.deletesSkipped = `not deleting ${countOf(phase.tasks.length, 'file')} because ${countOf(why.errors, 'error')} happened`;
      }
    },
  });
  progress.finish();
  result.elapsedMs = Math.round(performance.now() - started);
  return result;
}
