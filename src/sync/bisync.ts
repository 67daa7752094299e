/**
 * bisync: two-way synchronisation with memory (rclone bisync).
 *
 * Each side is compared with its own listing from the end of the last successful run (see
 * bisync-state.ts): a path is `new`, `changed`, `deleted` or unchanged on each side. Then,
 * per path:
 *   - changed or new on one side only          -> copied to the other side;
 *   - deleted on one side, unchanged on the other -> deleted there too;
 *   - deleted on one side, changed on the other -> the change wins (copied back);
 *   - new or changed on both sides             -> nothing if both now hold the same file,
 *     else a conflict, settled by the strategy: `newer` / `older` (by mtime), `larger`,
 *     `path1` / `path2` (that side wins and overwrites the other), `keep-both` (each version
 *     is renamed `name.conflict1.ext` / `name.conflict2.ext` and both go to both sides),
 *     `skip` (left alone and reported again next run), `error` (nothing is done at all).
 *     A tie under newer/older/larger keeps both.
 * Renames: a file deleted on one side whose content reappears under a new name on that side
 * is moved on the other side (server-side where possible) instead of copied and deleted.
 *
 * Safety: when more than `maxDelete` percent of a side's files would be deleted the run
 * stops before changing anything (unless `force`). The new state is saved only after a run
 * without errors; because each step leaves files either as before or as the next run wants
 * them (writes are atomic, equal files are recognised), an interrupted or failed run is
 * recovered simply by running again. The first run needs `resync`: it makes both sides
 * hold the union of their files (path1's version wins where both have one) and records it.
 */
import path from 'node:path/posix';
import { isFerryError, PreconditionFailedError, UsageError, AbortedError } from '../core/errors.js';
import { canSetMtime, moveObject } from '../core/storage.js';
import { sameHash } from './compare.js';
import { decide, type CompareMode, type CompareOptions } from './compare.js';
import { modifyWindow } from './engine.js';
import { NO_FILTER, type Filter } from './filter.js';
import { commonHashKind, HashSource, storedKinds, treeParamsFor, type FileEntry, type HashKind } from './hashes.js';
import { listRemote } from './listing.js';
import { DEFAULT_RETRIES, forEachLimit, TokenBucket, withRetries } from './pace.js';
import { ProgressTracker, type SyncProgressCallback } from './progress.js';
import { keyOf, type Remote } from './remote.js';
import { defaultStateRoot, pairId, StateStore, STATE_VERSION } from './bisync-state.js';
import { copyFile, type TransferContext } from './transfer.js';

export type ConflictStrategy = 'newer' | 'older' | 'larger' | 'path1' | 'path2' | 'keep-both' | 'skip' | 'error';
export const CONFLICT_STRATEGIES: readonly ConflictStrategy[] = ['newer', 'older', 'larger', 'path1', 'path2', 'keep-both', 'skip', 'error'];

export interface BisyncOptions {
  /** First run (or after trouble): make both sides the union, path1 winning, and record it. */
  resync?: boolean;
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
  onProgress?: SyncProgressCallback;
  onEvent?: (e: BisyncEvent) => void;
}

export interface BisyncEvent {
  action: 'copy' | 'delete' | 'rename' | 'conflict' | 'error' | 'recover';
  /** Side the action changes (1 or 2). */
  side?: 1 | 2;
  path: string;
  to?: string;
  reason?: string;
  dryRun?: boolean;
}

export interface BisyncResult {
  resync: boolean;
  dryRun: boolean;
  /** The previous run had been interrupted (a stale lock was found). */
  recovered: boolean;
  copied1to2: number;
  copied2to1: number;
  deleted1: number;
  deleted2: number;
  renamed: number;
  conflicts: Array<{ path: string; resolution: string }>;
  errors: Array<{ path: string; code: string; message: string }>;
  stateDir: string;
  elapsedMs: number;
}

type Change = 'new' | 'changed' | 'deleted' | undefined;

interface Side {
  n: 1 | 2;
  remote: Remote;
  base: Map<string, FileEntry>;
  now: Map<string, FileEntry>;
  change: Map<string, Change>;
}

/** What a base entry keeps: size, time and the hashes the listing gave for free. */
function baseEntry(e: FileEntry, stored: HashKind[]): FileEntry {
  const hashes: FileEntry['hashes'] = {};
  for (const k of stored) if (e.hashes[k] !== undefined) hashes[k] = e.hashes[k];
  return { size: e.size, mtime: e.mtime, hashes };
}

function changeOf(base: FileEntry | undefined, now: FileEntry | undefined, windowMs: number): Change {
  if (base === undefined) return now === undefined ? undefined : 'new';
  if (now === undefined) return 'deleted';
  if (base.size !== now.size) return 'changed';
  if (base.mtime !== undefined && now.mtime !== undefined && Math.abs(base.mtime - now.mtime) >= windowMs) return 'changed';
  for (const [k, v] of Object.entries(base.hashes)) {
    const w = now.hashes[k as HashKind];
    if (w !== undefined && w !== v) return 'changed';
  }
  return undefined;
}

/** `dir/name.ext` -> `dir/name.<suffix>.ext` (no extension: appended). */
export function conflictName(rel: string, suffix: string): string {
  const dir = path.dirname(rel);
  const base = path.basename(rel);
  const dot = base.lastIndexOf('.');
  const name = dot > 0 ? `${base.slice(0, dot)}.${suffix}${base.slice(dot)}` : `${base}.${suffix}`;
  return dir === '.' ? name : `${dir}/${name}`;
}

export async function bisync(path1: Remote, path2: Remote, o: BisyncOptions = {}): Promise<BisyncResult> {
  const started = performance.now();
  const { signal } = o;
  const dryRun = o.dryRun === true;
  const filter = o.filter ?? NO_FILTER;
  const strategy = o.conflict ?? 'keep-both';
  if (!CONFLICT_STRATEGIES.includes(strategy)) throw new UsageError(`unknown conflict strategy ${strategy}; one of ${CONFLICT_STRATEGIES.join(', ')}`);
  const store = new StateStore(o.stateRoot ?? defaultStateRoot(), pairId(path1.label, path2.label));
  const lock = await store.lock();
  const result: BisyncResult = {
    resync: o.resync === true,
    dryRun,
    recovered: lock.recovered,
    copied1to2: 0,
    copied2to1: 0,
    deleted1: 0,
    deleted2: 0,
    renamed: 0,
    conflicts: [],
    errors: [],
    stateDir: store.dir,
    elapsedMs: 0,
  };
  const emit = (e: BisyncEvent) => o.onEvent?.(dryRun ? { ...e, dryRun } : e);
  if (lock.recovered) emit({ action: 'recover', path: '', reason: 'the previous run was interrupted; reconciling against the last saved state' });
  try {
    const progress = new ProgressTracker(o.onProgress);
    const fail = (p: string, err: unknown) => {
      if (isFerryError(err, 'FERRY_ERR_ABORTED') || signal?.aborted) throw err instanceof AbortedError ? err : new AbortedError('aborted', { cause: err });
      const info = isFerryError(err) ? { code: err.code, message: err.message } : { code: 'FERRY_ERR_INTERNAL', message: String((err as Error)?.message ?? err) };
      result.errors.push({ path: p, ...info });
      progress.count('errors');
      emit({ action: 'error', path: p, reason: info.message });
    };

    const state = o.resync ? undefined : await store.load();
    if (!o.resync && state === undefined) {
      throw new UsageError(`no bisync state for ${path1.label} and ${path2.label} (looked in ${store.dir}): run once with --resync`);
    }
    const [l1, l2] = await Promise.all([listRemote(path1, filter, signal), listRemote(path2, filter, signal)]);
    progress.phase('comparing');

    const windowMs = modifyWindow(path1, path2);
    const hashKind = commonHashKind(path1, path2);
    const params = hashKind === 'ferry-tree' ? await treeParamsFor(path1, path2, signal) : undefined;
    const h1 = new HashSource(path1, params);
    const h2 = new HashSource(path2, params);
    const retry = { ...DEFAULT_RETRIES, retries: o.retries ?? DEFAULT_RETRIES.retries, baseMs: o.retryBaseMs ?? DEFAULT_RETRIES.baseMs };
    const limiter = o.bwlimit ? new TokenBucket(o.bwlimit) : undefined;
    const ctx = (from: Remote, to: Remote): TransferContext => ({ src: from, dst: to, limiter, progress, retry, windowMs, signal, durable: o.fsync === true });
    const ctx12 = ctx(path1, path2);
    const ctx21 = ctx(path2, path1);
    const cmp12: CompareOptions = {
      mode: o.compare ?? 'default',
      update: false,
      ignoreExisting: false,
      windowMs,
      mtimes: path1.backend.features().mtime && path2.backend.features().mtime,
      dstSetMtime: canSetMtime(path2.backend),
      hashKind,
      src: h1,
      dst: h2,
      signal,
    };

    const copyTo = async (to: 1 | 2, rel: string, entry: FileEntry, toRel = rel) => {
      emit({ action: 'copy', side: to, path: rel, to: toRel === rel ? undefined : toRel });
      if (!dryRun) await copyFile(to === 2 ? ctx12 : ctx21, rel, entry, toRel);
      if (to === 2) result.copied1to2++;
      else result.copied2to1++;
      progress.count('filesDone');
    };
    const deleteOn = async (side: 1 | 2, rel: string) => {
      const r = side === 1 ? path1 : path2;
      emit({ action: 'delete', side, path: rel });
      if (!dryRun) await withRetries(() => r.backend.delete(keyOf(r, rel), { signal }), retry, signal);
      if (side === 1) result.deleted1++;
      else result.deleted2++;
      progress.count('deletes');
    };

    // ---- resync: the union, path1 winning ----
    if (o.resync) {
      await forEachLimit(
        [...l2.files].filter(([rel]) => !l1.files.has(rel)),
        o.transfers ?? 4,
        async ([rel, e]) => {
          try {
            await copyTo(1, rel, e);
          } catch (err) {
            fail(rel, err);
          }
        },
        signal,
      );
      await forEachLimit(
        [...l1.files],
        o.transfers ?? 4,
        async ([rel, e]) => {
          try {
            const twin = l2.files.get(rel);
            if (twin === undefined || (await decide(rel, e, twin, cmp12)).action !== 'skip') await copyTo(2, rel, e);
          } catch (err) {
            fail(rel, err);
          }
        },
        signal,
      );
    } else {
      const s1: Side = { n: 1, remote: path1, base: new Map(Object.entries(state!.listing1)), now: l1.files, change: new Map() };
      const s2: Side = { n: 2, remote: path2, base: new Map(Object.entries(state!.listing2)), now: l2.files, change: new Map() };
      // Only paths the filter lets through take part; base entries the filter now excludes are ignored.
      for (const s of [s1, s2]) {
        for (const rel of [...s.base.keys()]) if (!filter.includesPath(rel)) s.base.delete(rel);
      }
      const all = new Set<string>([...s1.base.keys(), ...s2.base.keys(), ...s1.now.keys(), ...s2.now.keys()]);
      for (const s of [s1, s2]) {
        const w = Math.max(1, s.remote.backend.features().mtimePrecisionMs);
        for (const rel of all) s.change.set(rel, changeOf(s.base.get(rel), s.now.get(rel), w));
      }

      // ---- safety ----
      for (const s of [s1, s2]) {
        let deleted = 0;
        for (const c of s.change.values()) if (c === 'deleted') deleted++;
        const pct = s.base.size === 0 ? 0 : (deleted * 100) / s.base.size;
        const limit = o.maxDelete ?? 50;
        if (deleted > 0 && pct > limit && !o.force) {
          throw new PreconditionFailedError(
            `bisync: ${deleted} of ${s.base.size} files (${pct.toFixed(0)}%) were deleted on ${s.remote.label}, more than --max-delete ${limit}%; ` +
              'nothing was changed (check the side, or run with --force)',
            { details: { side: s.n, deleted, total: s.base.size } },
          );
        }
      }

      // ---- renames: deleted + new with the same content on one side, the old file untouched on the other ----
      const renames: Array<{ side: Side; other: Side; from: string; to: string }> = [];
      for (const [s, other] of [
        [s1, s2],
        [s2, s1],
      ] as const) {
        const news = [...s.change].filter(([rel, c]) => c === 'new' && other.change.get(rel) === undefined && !other.now.has(rel)).map(([rel]) => rel);
        const gone = [...s.change].filter(([rel, c]) => c === 'deleted' && other.change.get(rel) === undefined && other.now.has(rel)).map(([rel]) => rel);
        const used = new Set<string>();
        for (const n of news) {
          const ne = s.now.get(n)!;
          for (const g of gone) {
            if (used.has(g)) continue;
            const be = s.base.get(g)!;
            if (be.size !== ne.size) continue;
            const oe = other.now.get(g)!;
            let same: boolean | undefined;
            try {
              // The new file must hold what the other side still has under the old name.
              same = await sameHash(n, ne, oe, { hashKind, src: s.n === 1 ? h1 : h2, dst: s.n === 1 ? h2 : h1, signal }, g);
            } catch (err) {
              fail(n, err);
              continue;
            }
            if (same === undefined) same = be.mtime !== undefined && be.mtime === ne.mtime;
            if (!same) continue;
            used.add(g);
            renames.push({ side: s, other, from: g, to: n });
            s.change.set(n, undefined);
            s.change.set(g, undefined);
            break;
          }
        }
      }

      // ---- plan per path ----
      const conflicts: string[] = [];
      const plan: Array<() => Promise<void>> = [];
      const keepOld = new Set<string>();
      for (const rel of [...all].sort()) {
        const c1 = s1.change.get(rel);
        const c2 = s2.change.get(rel);
        const e1 = s1.now.get(rel);
        const e2 = s2.now.get(rel);
        if (c1 === undefined && c2 === undefined) continue;
        if ((c1 === 'new' || c1 === 'changed') && (c2 === 'new' || c2 === 'changed')) {
          conflicts.push(rel);
          continue;
        }
        if ((c1 === 'new' || c1 === 'changed') && c2 !== 'deleted' && c2 === undefined) plan.push(() => copyTo(2, rel, e1!));
        else if ((c2 === 'new' || c2 === 'changed') && c1 === undefined) plan.push(() => copyTo(1, rel, e2!));
        else if (c1 === 'deleted' && c2 === undefined && e2 !== undefined) plan.push(() => deleteOn(2, rel));
        else if (c2 === 'deleted' && c1 === undefined && e1 !== undefined) plan.push(() => deleteOn(1, rel));
        else if (c1 === 'deleted' && (c2 === 'changed' || c2 === 'new')) plan.push(() => copyTo(1, rel, e2!));
        else if (c2 === 'deleted' && (c1 === 'changed' || c1 === 'new')) plan.push(() => copyTo(2, rel, e1!));
        // deleted on both sides, or already matching: nothing to do
      }

      // Both sides changed: the same file now on both is no conflict (an earlier run was interrupted, or the same edit was made twice).
      const real: string[] = [];
      await forEachLimit(
        conflicts,
        o.checkers ?? 8,
        async (rel) => {
          try {
            const d = await decide(rel, s1.now.get(rel)!, s2.now.get(rel)!, cmp12);
            if (d.action === 'transfer') real.push(rel);
            else if (d.action === 'set-mtime') plan.push(async () => {
              if (!dryRun && canSetMtime(path2.backend)) await path2.backend.setMtime(keyOf(path2, rel), s1.now.get(rel)!.mtime!, { signal });
            });
          } catch (err) {
            fail(rel, err);
          }
        },
        signal,
      );
      real.sort();
      if (real.length > 0 && strategy === 'error') {
        throw new PreconditionFailedError(`bisync: ${real.length} conflicts (changed on both sides): ${real.slice(0, 5).join(', ')}${real.length > 5 ? ', ...' : ''}; nothing was changed`, {
          details: { conflicts: real },
        });
      }
      const suffix = o.conflictSuffix ?? 'conflict';
      const freeName = (rel: string, n: number): string => {
        for (let i = 0; ; i++) {
          const candidate = conflictName(rel, `${suffix}${n}${i === 0 ? '' : `-${i}`}`);
          if (!all.has(candidate)) {
            all.add(candidate);
            return candidate;
          }
        }
      };
      for (const rel of real) {
        const e1 = s1.now.get(rel)!;
        const e2 = s2.now.get(rel)!;
        let winner: 1 | 2 | undefined;
        switch (strategy) {
          case 'path1':
            winner = 1;
            break;
          case 'path2':
            winner = 2;
            break;
          case 'newer':
          case 'older': {
            const t1 = e1.mtime ?? 0;
            const t2 = e2.mtime ?? 0;
            if (Math.abs(t1 - t2) >= windowMs) winner = (t1 > t2) === (strategy === 'newer') ? 1 : 2;
            break;
          }
          case 'larger':
            if (e1.size !== e2.size) winner = e1.size > e2.size ? 1 : 2;
            break;
          case 'skip':
            result.conflicts.push({ path: rel, resolution: 'skipped' });
            emit({ action: 'conflict', path: rel, reason: 'skipped (changed on both sides)' });
            keepOld.add(rel);
            continue;
        }
        if (winner !== undefined) {
          result.conflicts.push({ path: rel, resolution: `path${winner} wins` });
          emit({ action: 'conflict', path: rel, reason: `${strategy}: path${winner} wins` });
          plan.push(() => copyTo(winner === 1 ? 2 : 1, rel, winner === 1 ? e1 : e2));
          continue;
        }
        // keep-both (and ties): each version under its own name, on both sides.
        const n1 = freeName(rel, 1);
        const n2 = freeName(rel, 2);
        result.conflicts.push({ path: rel, resolution: `kept both: ${n1}, ${n2}` });
        emit({ action: 'conflict', path: rel, reason: `kept both as ${n1} and ${n2}` });
        plan.push(async () => {
          emit({ action: 'rename', side: 1, path: rel, to: n1 });
          emit({ action: 'rename', side: 2, path: rel, to: n2 });
          if (!dryRun) {
            await withRetries(() => moveObject(path1.backend, keyOf(path1, rel), keyOf(path1, n1), { signal }), retry, signal);
            await withRetries(() => moveObject(path2.backend, keyOf(path2, rel), keyOf(path2, n2), { signal }), retry, signal);
          }
          await copyTo(2, n1, e1);
          await copyTo(1, n2, e2);
        });
      }

      // ---- act ----
      progress.phase('transferring');
      for (const r of renames) {
        emit({ action: 'rename', side: r.other.n, path: r.from, to: r.to });
        if (dryRun) {
          result.renamed++;
          continue;
        }
        try {
          const target = r.other.remote;
          await withRetries(() => moveObject(target.backend, keyOf(target, r.from), keyOf(target, r.to), { signal }), retry, signal);
          const want = r.side.now.get(r.to)!.mtime;
          if (want !== undefined && canSetMtime(target.backend)) await target.backend.setMtime(keyOf(target, r.to), want, { signal });
          result.renamed++;
          progress.count('renames');
        } catch (err) {
          fail(r.from, err);
        }
      }
      await forEachLimit(
        plan,
        o.transfers ?? 4,
        async (step) => {
          try {
            await step();
          } catch (err) {
            fail('', err);
          }
        },
        signal,
      );

      // ---- record ----
      if (!dryRun && result.errors.length === 0) {
        const [n1, n2] = await Promise.all([listRemote(path1, filter, signal), listRemote(path2, filter, signal)]);
        const k1 = storedKinds(path1);
        const k2 = storedKinds(path2);
        const listing1: Record<string, FileEntry> = {};
        const listing2: Record<string, FileEntry> = {};
        for (const [rel, e] of n1.files) listing1[rel] = keepOld.has(rel) && s1.base.has(rel) ? s1.base.get(rel)! : baseEntry(e, k1);
        for (const [rel, e] of n2.files) listing2[rel] = keepOld.has(rel) && s2.base.has(rel) ? s2.base.get(rel)! : baseEntry(e, k2);
        // A skipped conflict on a path that was new on both sides has no base: keep it absent so it stays new.
        for (const rel of keepOld) {
          if (!s1.base.has(rel)) delete listing1[rel];
          if (!s2.base.has(rel)) delete listing2[rel];
        }
        await store.save({ version: STATE_VERSION, path1: path1.label, path2: path2.label, listing1, listing2, savedAt: Date.now() });
      }
      progress.finish();
      result.elapsedMs = performance.now() - started;
      return result;
    }

    if (!dryRun && result.errors.length === 0) {
      const [n1, n2] = await Promise.all([listRemote(path1, filter, signal), listRemote(path2, filter, signal)]);
      const k1 = storedKinds(path1);
      const k2 = storedKinds(path2);
      await store.save({
        version: STATE_VERSION,
        path1: path1.label,
        path2: path2.label,
        listing1: Object.fromEntries([...n1.files].map(([rel, e]) => [rel, baseEntry(e, k1)])),
        listing2: Object.fromEntries([...n2.files].map(([rel, e]) => [rel, baseEntry(e, k2)])),
        savedAt: Date.now(),
      });
    }
    progress.finish();
    result.elapsedMs = performance.now() - started;
    return result;
  } finally {
    await lock.release();
  }
}
