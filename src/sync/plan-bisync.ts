/**
 * The planner of bisync (rclone bisync): from both sides' listings and their listings at the
 * end of the last successful run (bisync-state.ts) to a {@link Plan}, touching no storage
 * (hashes come from the HashSources of the compare options).
 *
 * Each side is compared with its own last listing: a path is `new`, `changed`, `deleted` or
 * unchanged on each side. Then, per path:
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
 * is moved on the other side instead of copied and deleted.
 *
 * End-to-end markers (`.ferry-e2e`, docs/e2e.md) are treated as sync treats them: never
 * deleted (a marker deleted on one side stays on the other, and a note says so), never taken
 * as the old name of a rename, never renamed to settle a conflict (a marker changed on both
 * sides is left alone and reported, whatever the strategy: keep-both would rename both away,
 * and either side winning would replace a key's salt with another's). A marker is the key's
 * salt and check value, not a file of the user's; without it a vault stops being one and
 * the files under a root marker cannot be opened.
 *
 * Safety: when more than `maxDelete` percent of a side's files would be deleted the plan is
 * refused before anything is done (unless `force`).
 *
 * `resync` (first run, or a pair whose state is lost) is the same plan against an empty last
 * state: every file is new on the side that has it, so both sides get the union and nothing
 * is deleted; a file both sides hold in different versions is settled by the resync mode
 * (`newer` unless told), whose winner keeps the name while the other version is kept beside it
 * as a conflict copy (`name.conflict2.ext`, on both sides). A resync loses no version: it
 * runs when the last state is missing, so nothing can tell an edit since the last run from a
 * stale copy, and overwriting either (rclone's `--resync`, path1 winning) loses an edit.
 */
import path from 'node:path/posix';
import { forEachConcurrent } from '../client/concurrency.js';
import { E2E_MARKER_NAME, isE2eMarkerPath } from '../core/e2e-layout.js';
import { isFerryError, PreconditionFailedError } from '../core/errors.js';
import { countOf } from '../core/units.js';
import { decide, sameHash, type CompareOptions } from './compare.js';
import type { Filter } from './filter.js';
import type { FileEntry, HashKind } from './hashes.js';
import type { Listing } from './listing.js';
import type { Phase, Plan, Step, Task } from './plan.js';

export type ConflictStrategy = 'newer' | 'older' | 'larger' | 'path1' | 'path2' | 'keep-both' | 'skip' | 'error';
export const CONFLICT_STRATEGIES: readonly ConflictStrategy[] = ['newer', 'older', 'larger', 'path1', 'path2', 'keep-both', 'skip', 'error'];
/** Which version of a file that differs on the two sides keeps its name at a resync (rclone's `--resync-mode`); the other is kept as a conflict copy. */
export type ResyncMode = 'newer' | 'older' | 'larger' | 'smaller' | 'path1' | 'path2';
export const RESYNC_MODES: readonly ResyncMode[] = ['newer', 'older', 'larger', 'smaller', 'path1', 'path2'];

type N = 1 | 2;
type Change = 'new' | 'changed' | 'deleted' | undefined;

export interface BisyncPlanOptions {
  strategy: ConflictStrategy;
  /** For a resync: which version keeps the name (default newer). */
  resyncMode?: ResyncMode;
  /** Suffix base for keep-both: `name.<suffix>1.ext`. */
  suffix: string;
  /** Percentage of a side's files that may be deleted in one run. */
  maxDelete: number;
  force: boolean;
  /** Modify window of the pair (ms), for newer/older. */
  windowMs: number;
  /** Each side's own mtime precision (ms, at least 1), for "changed since the last run". */
  precisionMs: Record<N, number>;
  /** Path1 as the source of the comparison, path2 as the destination. */
  compare: CompareOptions;
  filter: Filter;
  labels: Record<N, string>;
  checkers?: number;
  transfers?: number;
}

export interface BisyncPlan extends Plan {
  conflicts: Array<{ path: string; resolution: string; reason: string }>;
  /** Skipped conflicts: their entries of the last state are kept, so they are conflicts again next run. */
  keepOld: Set<string>;
  /** What the user should know that is neither an error nor a step (markers kept). */
  notes: string[];
}

interface Side {
  n: N;
  base: Map<string, FileEntry>;
  now: Map<string, FileEntry>;
  change: Map<string, Change>;
}

const SIDE = { 1: 'path1', 2: 'path2' } as const;
const other = (n: N): N => (n === 1 ? 2 : 1);

/** What became of a file on one side since its last listing (`windowMs`: that side's mtime precision). */
export function changeOf(base: FileEntry | undefined, now: FileEntry | undefined, windowMs: number): Change {
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

function copyStep(to: N, rel: string, entry: FileEntry, toRel = rel): Step {
  return {
    op: 'copy',
    from: SIDE[other(to)],
    to: SIDE[to],
    path: rel,
    toPath: toRel,
    entry,
    event: { action: 'copy', side: to, path: rel, to: toRel === rel ? undefined : toRel },
    count: to === 2 ? { copied1to2: 1 } : { copied2to1: 1 },
  };
}

const task = (rel: string, ...steps: Step[]): Task => ({ path: rel, steps });
const deleteStep = (n: N, rel: string): Step => ({ op: 'delete', on: SIDE[n], path: rel, event: { action: 'delete', side: n, path: rel }, count: n === 1 ? { deleted1: 1 } : { deleted2: 1 } });

function failed(errors: Plan['errors'], rel: string, err: unknown, signal?: AbortSignal): void {
  if (isFerryError(err, 'FERRY_ERR_ABORTED') || signal?.aborted) throw err;
  errors.push({ path: rel, error: err });
}

/** First run: both sides get the union; a file that differs is settled by the resync mode, the other version kept (module comment). */
export async function planResync(l1: Listing, l2: Listing, o: BisyncPlanOptions): Promise<BisyncPlan> {
  return planBisync(l1, l2, { 1: new Map(), 2: new Map() }, { ...o, resyncMode: o.resyncMode ?? 'newer' });
}

/** Each side's changes since its last listing (base entries the filter now excludes do not take part). */
function sidesOf(l1: Listing, l2: Listing, base: Record<N, Map<string, FileEntry>>, o: BisyncPlanOptions): { s1: Side; s2: Side; all: Set<string> } {
  const s1: Side = { n: 1, base: new Map(base[1]), now: l1.files, change: new Map() };
  const s2: Side = { n: 2, base: new Map(base[2]), now: l2.files, change: new Map() };
  for (const s of [s1, s2]) for (const rel of [...s.base.keys()]) if (!o.filter.includesPath(rel)) s.base.delete(rel);
  const all = new Set<string>([...s1.base.keys(), ...s2.base.keys(), ...s1.now.keys(), ...s2.now.keys()]);
  for (const s of [s1, s2]) for (const rel of all) s.change.set(rel, changeOf(s.base.get(rel), s.now.get(rel), o.precisionMs[s.n]));
  return { s1, s2, all };
}

/** Refuses (throws) when more than `maxDelete` percent of a side's files disappeared, unless `force`. */
function checkDeletions(s: Side, o: BisyncPlanOptions): void {
  let deleted = 0;
  for (const c of s.change.values()) if (c === 'deleted') deleted++;
  const pct = s.base.size === 0 ? 0 : (deleted * 100) / s.base.size;
  if (deleted > 0 && pct > o.maxDelete && !o.force) {
    throw new PreconditionFailedError(
      `bisync: ${deleted} of ${s.base.size} files (${pct.toFixed(0)}%) were deleted on ${o.labels[s.n]}, more than \`maxDelete\` ${o.maxDelete}%; ` +
        'nothing was changed (check the side, or run with `force: true`)',
      { details: { side: s.n, deleted, total: s.base.size } },
    );
  }
}

/**
 * Renames: on side `s`, a new file holding what the other side still has under a name `s`
 * deleted. Each becomes a move on the other side, and both paths count as unchanged.
 */
async function findRenames(s: Side, t: Side, o: BisyncPlanOptions, errors: Plan['errors']): Promise<Task[]> {
  // A marker moved away is a deletion (never carried over); a file moved onto a marker's name is a new marker, copied.
  const news = [...s.change].filter(([rel, c]) => c === 'new' && t.change.get(rel) === undefined && !t.now.has(rel) && !isE2eMarkerPath(rel)).map(([rel]) => rel);
  const gone = [...s.change].filter(([rel, c]) => c === 'deleted' && t.change.get(rel) === undefined && t.now.has(rel) && !isE2eMarkerPath(rel)).map(([rel]) => rel);
  const cmp = { hashKind: o.compare.hashKind, src: s.n === 1 ? o.compare.src : o.compare.dst, dst: s.n === 1 ? o.compare.dst : o.compare.src, signal: o.compare.signal };
  const used = new Set<string>();
  const tasks: Task[] = [];
  for (const n of news) {
    const ne = s.now.get(n)!;
    for (const g of gone) {
      if (used.has(g) || s.base.get(g)!.size !== ne.size) continue;
      let same: boolean | undefined;
      try {
        // The new file must hold what the other side still has under the old name.
        same = await sameHash(n, ne, t.now.get(g)!, cmp, g);
      } catch (err) {
        failed(errors, n, err, o.compare.signal);
        continue;
      }
      if (same === undefined) same = s.base.get(g)!.mtime !== undefined && s.base.get(g)!.mtime === ne.mtime;
      if (!same) continue;
      used.add(g);
      tasks.push(task(g, { op: 'rename', on: SIDE[t.n], path: g, to: n, mtime: ne.mtime, event: { action: 'rename', side: t.n, path: g, to: n }, count: { renamed: 1 } }));
      s.change.set(n, undefined);
      s.change.set(g, undefined);
      break;
    }
  }
  return tasks;
}

/**
 * The task of a path changed on one side only (or deleted on one and changed on the other);
 * conflicts are collected, and markers whose deletion is not carried over (`kept[n]`: deleted on side n).
 */
function pathTask(rel: string, s1: Side, s2: Side, conflicts: string[], kept: Record<N, number>): Task | undefined {
  const [c1, c2] = [s1.change.get(rel), s2.change.get(rel)];
  const [e1, e2] = [s1.now.get(rel), s2.now.get(rel)];
  const edited = (c: Change) => c === 'new' || c === 'changed';
  if (c1 === undefined && c2 === undefined) return undefined;
  if (edited(c1) && edited(c2)) {
    conflicts.push(rel);
    return undefined;
  }
  if (edited(c1) && c2 === undefined) return task(rel, copyStep(2, rel, e1!));
  if (edited(c2) && c1 === undefined) return task(rel, copyStep(1, rel, e2!));
  const deletedOn: N | undefined = c1 === 'deleted' && c2 === undefined && e2 !== undefined ? 1 : c2 === 'deleted' && c1 === undefined && e1 !== undefined ? 2 : undefined;
  if (deletedOn !== undefined) {
    if (!isE2eMarkerPath(rel)) return task(rel, deleteStep(other(deletedOn), rel));
    kept[deletedOn]++;
    return undefined;
  }
  if (c1 === 'deleted' && edited(c2)) return task(rel, copyStep(1, rel, e2!));
  if (c2 === 'deleted' && edited(c1)) return task(rel, copyStep(2, rel, e1!));
  return undefined; // deleted on both sides, or already matching
}

/** Which side wins a conflict under the strategy; undefined for a tie (or keep-both). */
function winnerOf(strategy: ConflictStrategy | ResyncMode, e1: FileEntry, e2: FileEntry, windowMs: number): N | undefined {
  switch (strategy) {
    case 'path1':
      return 1;
    case 'path2':
      return 2;
    case 'newer':
    case 'older': {
      const [t1, t2] = [e1.mtime ?? 0, e2.mtime ?? 0];
      return Math.abs(t1 - t2) >= windowMs ? ((t1 > t2) === (strategy === 'newer') ? 1 : 2) : undefined;
    }
    case 'larger':
    case 'smaller':
      return e1.size !== e2.size ? ((e1.size > e2.size) === (strategy === 'larger') ? 1 : 2) : undefined;
    default:
      return undefined;
  }
}

/**
 * Both sides changed: the same file now on both is no conflict (an earlier run was
 * interrupted, or the same edit was made twice; only the time may need setting). The others
 * are settled by the strategy.
 */
async function settleConflicts(candidates: string[], s1: Side, s2: Side, all: Set<string>, o: BisyncPlanOptions, plan: BisyncPlan): Promise<Task[]> {
  const tasks: Task[] = [];
  const real: string[] = [];
  await forEachConcurrent(
    candidates,
    o.checkers ?? 8,
    async (rel) => {
      try {
        const d = await decide(rel, s1.now.get(rel)!, s2.now.get(rel)!, o.compare);
        if (d.action === 'transfer') real.push(rel);
        else if (d.action === 'set-mtime') tasks.push(task(rel, { op: 'set-mtime', on: 'path2', path: rel, mtime: s1.now.get(rel)!.mtime!, event: { action: 'set-mtime', side: 2, path: rel } }));
      } catch (err) {
        failed(plan.errors, rel, err, o.compare.signal);
      }
    },
    o.compare.signal,
  );
  real.sort();
  if (real.length > 0 && o.resyncMode === undefined && o.strategy === 'error') {
    const count = real.length === 1 ? '1 conflict' : `${real.length} conflicts`;
    const listed = `${real.slice(0, 5).join(', ')}${real.length > 5 ? ', ...' : ''}`;
    throw new PreconditionFailedError(`bisync: ${count} (changed on both sides): ${listed}; nothing was changed (settle by hand, or run with another \`conflict\` strategy: keep-both, newer, path1, path2, ...)`, {
      details: { conflicts: real },
    });
  }
  const freeName = (rel: string, n: N): string => {
    for (let i = 0; ; i++) {
      const candidate = conflictName(rel, `${o.suffix}${n}${i === 0 ? '' : `-${i}`}`);
      if (!all.has(candidate)) {
        all.add(candidate);
        return candidate;
      }
    }
  };
  const strategy = o.resyncMode ?? o.strategy;
  for (const rel of real) {
    const [e1, e2] = [s1.now.get(rel)!, s2.now.get(rel)!];
    if (strategy === 'skip' || isE2eMarkerPath(rel)) {
      const why = strategy === 'skip' ? 'skipped (changed on both sides)' : `an end-to-end marker changed on both sides is never replaced or renamed by bisync: keep the one whose key the files use (ferry cat ${E2E_MARKER_NAME} on each side)`;
      plan.conflicts.push({ path: rel, resolution: 'skipped', reason: why });
      plan.keepOld.add(rel);
      continue;
    }
    const winner = winnerOf(strategy, e1, e2, o.windowMs);
    if (winner !== undefined && o.resyncMode !== undefined) {
      tasks.push(keepLoserTask(rel, winner, winner === 1 ? e1 : e2, winner === 1 ? e2 : e1, freeName(rel, other(winner)), plan, strategy));
      continue;
    }
    if (winner !== undefined) {
      plan.conflicts.push({ path: rel, resolution: `path${winner} wins`, reason: `${o.strategy}: path${winner} wins` });
      tasks.push(task(rel, copyStep(other(winner), rel, winner === 1 ? e1 : e2)));
      continue;
    }
    // keep-both (and ties): each version under its own name, on both sides.
    const [n1, n2] = [freeName(rel, 1), freeName(rel, 2)];
    plan.conflicts.push({ path: rel, resolution: `kept both: ${n1}, ${n2}`, reason: `kept both as ${n1} and ${n2}` });
    tasks.push(
      task(
        rel,
        { op: 'rename', on: 'path1', path: rel, to: n1, event: { action: 'rename', side: 1, path: rel, to: n1 } },
        { op: 'rename', on: 'path2', path: rel, to: n2, event: { action: 'rename', side: 2, path: rel, to: n2 } },
        copyStep(2, n1, e1),
        copyStep(1, n2, e2),
      ),
    );
  }
  return tasks;
}

/**
 * A resync's settlement: the winner's version keeps the name on both sides, the loser's is
 * renamed to `copyName` on its side and copied to the other side under that name.
 */
function keepLoserTask(rel: string, winner: N, ew: FileEntry, el: FileEntry, copyName: string, plan: BisyncPlan, mode: string): Task {
  const loser = other(winner);
  plan.conflicts.push({ path: rel, resolution: `path${winner} wins, path${loser}'s kept as ${copyName}`, reason: `resync ${mode}: path${winner}'s version kept, path${loser}'s kept as ${copyName}` });
  return task(
    rel,
    { op: 'rename', on: SIDE[loser], path: rel, to: copyName, event: { action: 'rename', side: loser, path: rel, to: copyName } },
    copyStep(loser, rel, ew),
    copyStep(winner, copyName, el),
  );
}

/** The plan of a run after the first (see the module comment); throws, changing nothing, when the safety checks refuse. */
export async function planBisync(l1: Listing, l2: Listing, base: Record<N, Map<string, FileEntry>>, o: BisyncPlanOptions): Promise<BisyncPlan> {
  const plan: BisyncPlan = { phases: [], errors: [], conflicts: [], keepOld: new Set(), notes: [] };
  const { s1, s2, all } = sidesOf(l1, l2, base, o);
  checkDeletions(s1, o);
  checkDeletions(s2, o);
  const renames = [...(await findRenames(s1, s2, o, plan.errors)), ...(await findRenames(s2, s1, o, plan.errors))];
  const candidates: string[] = [];
  const tasks: Task[] = [];
  const kept: Record<N, number> = { 1: 0, 2: 0 };
  for (const rel of [...all].sort()) {
    const t = pathTask(rel, s1, s2, candidates, kept);
    if (t) tasks.push(t);
  }
  for (const n of [1, 2] as const) {
    if (kept[n] > 0) plan.notes.push(`kept ${countOf(kept[n], 'end-to-end marker')} (${E2E_MARKER_NAME}) deleted on path${n}: bisync never deletes one (ferry rm -r removes a whole end-to-end folder)`);
  }
  tasks.push(...(await settleConflicts(candidates, s1, s2, all, o, plan)));
  plan.phases.push({ name: 'renames', progress: 'transferring', lanes: 1, tasks: renames }, { name: 'transfers', progress: 'transferring', lanes: o.transfers ?? 4, tasks });
  return plan;
}
