/**
 * The sync engine: sync, copy, move, check and bisync between any two remotes (a
 * StorageBackend plus a folder in it), rclone's semantics.
 *
 * ```ts
 * import { openRemotes, sync, Filter } from 'ferry';
 * const { signal } = new AbortController();
 * const [src, dst] = await openRemotes(['./photos', 'ferry:/photos']);
 * const result = await sync(src, dst, { filter: new Filter({ exclude: ['*.tmp'] }), onProgress: console.log, signal });
 * ```
 *
 * Vocabulary: a *remote* is {backend, prefix}; *paths* are relative to the prefix; a *listing*
 * is one recursive `list` split by the *filter*; the *modify window* is the coarser mtime
 * precision of two remotes; a *hash kind* is a backend hash or `ferry-tree` (the Ferry file
 * hash, computable from bytes with the server's chunking parameters).
 */
export { sync, copy, move, type SyncMode, type SyncOptions, type SyncResult, type SyncEvent, type SyncAction } from './engine.js';
export { planSync, type SyncPlan, type SyncPlanOptions } from './plan-sync.js';
export { planBisync, planResync, type BisyncPlan, type BisyncPlanOptions } from './plan-bisync.js';
export { planLines, eventLine, type Plan, type Phase, type Task, type Step, type StepEvent, type Side } from './plan.js';
export { execute, type Execution } from './execute.js';
export { decorateRemotes, retryPolicy, SYNC_RETRY_POLICY, type Decoration } from './decorated.js';
export { check, combinedLines, planCheck, type CheckOptions, type CheckResult, type CheckMark } from './check.js';
export { bisync, conflictName, CONFLICT_STRATEGIES, type BisyncOptions, type BisyncResult, type BisyncEvent, type ConflictStrategy, RESYNC_MODES, type ResyncMode } from './bisync.js';
export { defaultStateRoot, pairId, StateStore, type BisyncState } from './bisync-state.js';
export { Filter, NO_FILTER, parseRuleLine, type FilterOptions, type FilterRule } from './filter.js';
export type { SkippedEntry } from './listing.js';
export { globToRegExp, globToRegExpSource } from './filter-glob.js';
export { makeRemote, openRemotes, closeRemotes, subRemote, keyOf, relOf, sameBackend, modifyWindow, type Remote } from './remote.js';
export { commonHashKind, type HashKind, type FileEntry } from './hashes.js';
export type { CompareMode } from './compare.js';
