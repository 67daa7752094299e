/**
 * bisync: two-way synchronisation with memory (rclone bisync), as plan + do: under the pair's
 * lock, the remotes are decorated (decorated.ts), both sides listed, the planner
 * (plan-bisync.ts) decides every step against the last saved state (bisync-state.ts), the
 * plan is handed to `onPlan`, and the executor (execute.ts) runs it; a dry run runs it on
 * dry-run remotes and saves no state.
 *
 * The new state is saved only after a run without errors; because each step leaves files
 * either as before or as the next run wants them (writes are atomic, equal files are
 * recognised), an interrupted or failed run is recovered simply by running again. The first
 * run needs `resync`, unless a state ferry 0.1.0 saved under the paths as typed can be
 * shown to be this pair's (bisync-carry.ts).
 */
import path from 'node:path';
import { AbortedError, isFerryError, UsageError } from '../core/errors.js';
import { refuseOverlapAcross } from './same-store.js';
import { ProgressTracker, type ProgressCallback } from '../core/progress.js';
import { canIdentify, canSetMtime } from '../core/storage.js';
import type { StorageLogger } from '../backends/decorators/index.js';
import { defaultStateRoot, pairId, StateStore, STATE_VERSION, type BisyncState } from './bisync-state.js';
import { findOldState, noStateError, whyNotThisPair, type CarryInput, type OldState } from './bisync-carry.js';
import type { CompareMode, CompareOptions } from './compare.js';
import { decorateRemotes, retryPolicy } from './decorated.js';
import { errorInfo } from './engine.js';
import { executePlan } from './execute.js';
import { NO_FILTER, type Filter } from './filter.js';
import { commonHashKind, HashSource, storedKinds, treeParamsFor, type FileEntry, type HashKind } from './hashes.js';
import { listRemote, type SkippedEntry } from './listing.js';
import type { StepEvent } from './plan.js';
import { CONFLICT_STRATEGIES, planBisync, planResync, RESYNC_MODES, type BisyncPlan, type BisyncPlanOptions, type ConflictStrategy, type ResyncMode } from './plan-bisync.js';
import { makeMissingFolder, modifyWindow, refuseMissingFolder, refuseOverlap, type Remote } from './remote.js';
import { checkRunOptions } from './run-options.js';

export { CONFLICT_STRATEGIES, conflictName, RESYNC_MODES, type ConflictStrategy, type ResyncMode } from './plan-bisync.js';

export interface BisyncOptions {
  /**
   * First run (or after trouble): make both sides the union and record it. Deletes nothing and
   * loses no version: where the two differ, `resyncMode` picks the version that keeps the name
   * and the other is kept beside it as a conflict copy (`name.conflict2.ext`).
   */
  resync?: boolean;
  /** Which version keeps the name at a resync: newer (default), older, larger, smaller, path1, path2. */
  resyncMode?: ResyncMode;
  conflict?: ConflictStrategy;
  /** Suffix base for keep-both: `name.<suffix>1.ext` (default `conflict`). */
  conflictSuffix?: string;
  /** Percentage of a side's files that may be deleted in one run (default 50). */
  maxDelete?: number;
  /** Go on even above maxDelete. */
  force?: boolean;
  compare?: CompareMode;
  filter?: Filter;
  transfers?: number;
  checkers?: number;
  bwlimit?: number;
  retries?: number;
  retryBaseMs?: number;
  dryRun?: boolean;
  /** fsync each file written (see SyncOptions.fsync). */
  fsync?: boolean;
  /** Folder holding the state of every pair (default: `$XDG_STATE_HOME/ferry/bisync`). */
  stateRoot?: string;
  signal?: AbortSignal;
  onProgress?: ProgressCallback;
  onEvent?: (e: BisyncEvent) => void;
  /** Told the plan once it is made, before anything runs. */
  onPlan?: (plan: BisyncPlan) => void;
  /** Told about every storage call (`-vv`). */
  onStorageCall?: StorageLogger;
}

export interface BisyncEvent extends StepEvent {
  action: 'copy' | 'delete' | 'rename' | 'set-mtime' | 'conflict' | 'error' | 'retry' | 'recover' | 'note';
  dryRun?: boolean;
}

export interface BisyncResult {
  resync: boolean;
  dryRun: boolean;
  /** The previous run had been interrupted (a stale lock was found). */
  recovered: boolean;
  /** The state an older ferry saved under the paths as typed was used, and is now kept under this pair's key (bisync-carry.ts). */
  carriedOver: boolean;
  copied1to2: number;
  copied2to1: number;
  deleted1: number;
  deleted2: number;
  renamed: number;
  conflicts: Array<{ path: string; resolution: string }>;
  errors: Array<{ path: string; code: string; message: string }>;
  /** Entries a side's listing left out (a local symbolic link), and why: neither copied nor deleted. */
  skipped: Array<SkippedEntry & { side: 1 | 2 }>;
  stateDir: string;
  elapsedMs: number;
}

/** What a base entry keeps: size, time and the hashes the listing gave for free. */
function baseEntry(e: FileEntry, stored: HashKind[]): FileEntry {
  const hashes: FileEntry['hashes'] = {};
  for (const k of stored) if (e.hashes[k] !== undefined) hashes[k] = e.hashes[k];
  return { size: e.size, mtime: e.mtime, hashes };
}

/** Both sides as they are now, as the next run's base; skipped conflicts keep their old base (or none). */
async function nextState(path1: Remote, path2: Remote, filter: Filter, plan: BisyncPlan, base: Record<1 | 2, Map<string, FileEntry>>, signal?: AbortSignal): Promise<BisyncState> {
  const [n1, n2] = await Promise.all([listRemote(path1, filter, signal), listRemote(path2, filter, signal)]);
  const side = (listing: Map<string, FileEntry>, kinds: HashKind[], old: Map<string, FileEntry>) => {
    const out: Record<string, FileEntry> = {};
    for (const [rel, e] of listing) out[rel] = plan.keepOld.has(rel) && old.has(rel) ? old.get(rel)! : baseEntry(e, kinds);
    // A skipped conflict on a path that was new on both sides has no base: keep it absent so it stays new.
    for (const rel of plan.keepOld) if (!old.has(rel)) delete out[rel];
    return out;
  };
  return {
    version: STATE_VERSION,
    path1: path1.label,
    path2: path2.label,
    listing1: side(n1.files, storedKinds(path1), base[1]),
    listing2: side(n2.files, storedKinds(path2), base[2]),
    savedAt: Date.now(),
  };
}

function newResult(o: BisyncOptions, recovered: boolean, stateDir: string): BisyncResult {
  return { resync: o.resync === true, dryRun: o.dryRun === true, recovered, carriedOver: false, copied1to2: 0, copied2to1: 0, deleted1: 0, deleted2: 0, renamed: 0, conflicts: [], errors: [], skipped: [], stateDir, elapsedMs: 0 };
}

/**
 * What names a side in its state's folder: where it really is (identityOf: a local folder's
 * real path, a server's URL and path, a bucket), so that `./docs` typed in another folder, or
 * `ferry:/docs` once logged in to another server, is not measured against this pair's state,
 * where every file the other folder lacks would read as deleted. The label where the store
 * cannot tell (memory).
 */
async function sideId(r: Remote, signal?: AbortSignal): Promise<string> {
  if (!canIdentify(r.backend)) return r.label;
  const id = await r.backend.identityOf(r.prefix, { signal });
  return `${id.store}${id.path.startsWith('/') ? '' : '/'}${id.path}`;
}

export async function bisync(rawPath1: Remote, rawPath2: Remote, o: BisyncOptions = {}): Promise<BisyncResult> {
  const started = performance.now();
  checkRunOptions(o, 'percent');
  await refuseOverlapAcross(rawPath1, rawPath2, o.signal);
  const strategy = o.conflict ?? 'keep-both';
  if (!CONFLICT_STRATEGIES.includes(strategy)) throw new UsageError(`unknown conflict strategy ${strategy}; one of ${CONFLICT_STRATEGIES.join(', ')}`);
  if (o.resyncMode !== undefined && !RESYNC_MODES.includes(o.resyncMode)) throw new UsageError(`unknown resync mode ${String(o.resyncMode)}; one of ${RESYNC_MODES.join(', ')}`);
  // Nested paths would each hold the other's copies (and their state would never settle).
  refuseOverlap(rawPath1, rawPath2);
  const root = o.stateRoot ?? defaultStateRoot();
  const store = new StateStore(root, pairId(await sideId(rawPath1, o.signal), await sideId(rawPath2, o.signal)));
  const lock = await store.lock();
  const result = newResult(o, lock.recovered, store.dir);
  const dryRun = o.dryRun === true;
  const emit = (e: BisyncEvent) => o.onEvent?.(dryRun ? { ...e, dryRun } : e);
  if (lock.recovered) emit({ action: 'recover', path: '', reason: 'the previous run was interrupted; reconciling against the last saved state' });
  try {
    const state = o.resync ? undefined : await store.load();
    const old = o.resync || state !== undefined ? undefined : await oldStateOf(root, store, rawPath1, rawPath2);
    if (!o.resync && state === undefined && old === undefined) throw noStateError({ 1: rawPath1.label, 2: rawPath2.label }, store.dir);
    // path1 is the truth of a resync, and a missing side of a later run would read as every
    // file deleted: both refused. A resync makes a missing path2 (the first run's copy).
    await refuseMissingFolder(rawPath1, 'path1', o.signal);
    if (!o.resync) await refuseMissingFolder(rawPath2, 'path2', o.signal);
    await runPair(rawPath1, rawPath2, o, strategy, { state: state ?? old?.state, old }, result, emit, store);
    if (o.resync && o.dryRun !== true && result.errors.length === 0) await makeMissingFolder(rawPath2, o.signal);
    result.elapsedMs = Math.round(performance.now() - started);
    return result;
  } finally {
    await lock.release();
  }
}

/** The state ferry 0.1.0 kept under the paths as typed, when that is another folder than this pair's. */
async function oldStateOf(root: string, store: StateStore, raw1: Remote, raw2: Remote): Promise<OldState | undefined> {
  const old = new StateStore(root, pairId(raw1.label, raw2.label));
  return path.resolve(old.dir) === path.resolve(store.dir) ? undefined : findOldState(old);
}

/**
 * Uses an old state (bisync-carry.ts) when it can be shown to be this pair's: saves it under
 * this pair's key and removes it from the old one (not in a dry run, which changes no state),
 * and says so once. Else refuses, changing nothing, as a run without a state.
 */
async function carryOver(old: OldState, input: CarryInput, store: StateStore, dryRun: boolean, result: BisyncResult, emit: (e: BisyncEvent) => void): Promise<void> {
  const why = whyNotThisPair(old.state, input);
  if (why !== undefined) throw noStateError(input.labels, store.dir, { dir: old.store.dir, why });
  if (!dryRun) {
    await store.save(old.state);
    await old.store.discard();
  }
  result.carriedOver = true;
  emit({ action: 'note', path: '', reason: `${dryRun ? 'would carry' : 'carried'} over the state saved by an older ferry (${old.store.dir})` });
}

const precisionOf = (path1: Remote, path2: Remote) => ({ 1: Math.max(1, path1.backend.features().mtimePrecisionMs), 2: Math.max(1, path2.backend.features().mtimePrecisionMs) });

/** Lists, plans, runs the plan and, after a run without errors (not a dry one), saves the state. */
async function runPair(
  raw1: Remote,
  raw2: Remote,
  o: BisyncOptions,
  strategy: ConflictStrategy,
  { state, old }: { state: BisyncState | undefined; old: OldState | undefined },
  result: BisyncResult,
  emit: (e: BisyncEvent) => void,
  store: StateStore,
): Promise<void> {
  const { signal } = o;
  const progress = new ProgressTracker(o.onProgress);
  progress.phase('listing');
  const fail = (path: string, err: unknown) => {
    if (isFerryError(err, 'FERRY_ERR_ABORTED') || signal?.aborted) throw err instanceof AbortedError ? err : new AbortedError('aborted', { cause: err });
    const info = errorInfo(err);
    result.errors.push({ path, ...info });
    progress.count('errors');
    emit({ action: 'error', path, reason: info.message });
  };
  const retry = retryPolicy(o.retries, o.retryBaseMs);
  const onRetry = (path: string, err: unknown, attempt: number, delayMs: number) => emit({ action: 'retry', path, reason: `attempt ${attempt + 1} in ${delayMs} ms: ${errorInfo(err).message}` });
  const remotes = decorateRemotes({ path1: raw1, path2: raw2 }, { retry, bwlimit: o.bwlimit, dryRun: o.dryRun, log: o.onStorageCall, onRetry });
  const [path1, path2] = [remotes.path1!, remotes.path2!];
  const filter = o.filter ?? NO_FILTER;
  const [l1, l2] = await Promise.all([listRemote(path1, filter, signal), listRemote(path2, filter, signal)]);
  result.skipped = [...l1.skipped.map((s) => ({ ...s, side: 1 as const })), ...l2.skipped.map((s) => ({ ...s, side: 2 as const }))];
  if (old !== undefined) {
    await carryOver(old, { labels: { 1: raw1.label, 2: raw2.label }, now: { 1: l1, 2: l2 }, precisionMs: precisionOf(path1, path2), filter }, store, o.dryRun === true, result, emit);
  }
  progress.phase('comparing');
  const { plan, hashes, hashKind, windowMs } = await makePlan(path1, path2, l1, l2, o, strategy, state);
  for (const e of plan.errors) fail(e.path, e.error);
  for (const note of plan.notes) emit({ action: 'error', path: '', reason: note });
  for (const c of plan.conflicts) {
    result.conflicts.push({ path: c.path, resolution: c.resolution });
    emit({ action: 'conflict', path: c.path, reason: c.reason });
  }
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
  });
  // The state lives outside the remotes: a dry run leaves it as it was.
  if (o.dryRun !== true && result.errors.length === 0) {
    const base = { 1: new Map(Object.entries(state?.listing1 ?? {})), 2: new Map(Object.entries(state?.listing2 ?? {})) };
    await store.save(await nextState(path1, path2, filter, plan, base, signal));
  }
  progress.finish();
}

async function makePlan(path1: Remote, path2: Remote, l1: Awaited<ReturnType<typeof listRemote>>, l2: Awaited<ReturnType<typeof listRemote>>, o: BisyncOptions, strategy: ConflictStrategy, state: BisyncState | undefined) {
  const windowMs = modifyWindow(path1, path2);
  const hashKind = commonHashKind(path1, path2);
  const params = hashKind === 'ferry-tree' ? await treeParamsFor(path1, path2, o.signal) : undefined;
  const hashes = { path1: new HashSource(path1, params), path2: new HashSource(path2, params) };
  const compare: CompareOptions = {
    mode: o.compare ?? 'default',
    update: false,
    ignoreExisting: false,
    windowMs,
    mtimes: path1.backend.features().mtime && path2.backend.features().mtime,
    dstSetMtime: canSetMtime(path2.backend),
    hashKind,
    src: hashes.path1,
    dst: hashes.path2,
    signal: o.signal,
  };
  const options: BisyncPlanOptions = {
    strategy,
    resyncMode: o.resyncMode,
    suffix: o.conflictSuffix ?? 'conflict',
    maxDelete: o.maxDelete ?? 50,
    force: o.force === true,
    windowMs,
    precisionMs: precisionOf(path1, path2),
    compare,
    filter: o.filter ?? NO_FILTER,
    labels: { 1: path1.label, 2: path2.label },
    checkers: o.checkers,
    transfers: o.transfers,
  };
  const plan =
    state === undefined
      ? await planResync(l1, l2, options)
      : await planBisync(l1, l2, { 1: new Map(Object.entries(state.listing1)), 2: new Map(Object.entries(state.listing2)) }, options);
  return { plan, hashes, hashKind, windowMs };
}
