/**
 * The planner of sync, copy and move (rclone's commands of the same names): from the two
 * listings and the compare options to a {@link Plan}, touching no storage (hashes come from
 * the HashSources of the compare options, computed only where a comparison needs one).
 *
 * For each source file with a destination twin, `decide` (compare.ts) says transfer, set the
 * time, or leave it; source files without a twin are new. Then, in the order they run:
 *   1. renames (sync): a destination-only file whose name differs from a new source file's
 *      only by Unicode form, where the destination refuses such look-alikes, is renamed to
 *      it (then updated if it differs); with `--track-renames`, a destination-only file whose
 *      hash equals a new source file's is moved there instead of being sent again;
 *   2. times: equal content, different time: the destination's time is set (move: then the
 *      source goes);
 *   3. transfers, each atomic and verified; `--backup-dir` first receives the file a transfer
 *      replaces; move: the source goes once its copy is verified (within one backend the
 *      transfer is a server-side move);
 *   4. move: sources already identical on the destination go;
 *   5. sync, only if nothing failed: destination-only files (and excluded ones with
 *      `--delete-excluded`) are deleted or moved to `--backup-dir`, all refused when more
 *      than `--max-delete` would go; end-to-end markers are kept;
 *   6. sync: then the destination's empty directories the source lacks.
 */
import { forEachConcurrent } from '../client/concurrency.js';
import { E2E_MARKER_NAME, isE2eMarkerPath } from '../core/e2e-layout.js';
import { AlreadyExistsError, isFerryError } from '../core/errors.js';
import { countOf } from '../core/units.js';
import { decide, sameHash, type CompareOptions } from './compare.js';
import type { Filter } from './filter.js';
import type { FileEntry, HashKind } from './hashes.js';
import type { Listing } from './listing.js';
import type { Phase, Plan, Step, Task } from './plan.js';

export type SyncMode = 'sync' | 'copy' | 'move';

export interface SyncPlanOptions {
  mode: SyncMode;
  compare: CompareOptions;
  filter: Filter;
  deleteExcluded?: boolean;
  trackRenames?: boolean;
  maxDelete?: number;
  /** A file that would replace a destination file is an error instead (`--no-clobber`). */
  noOverwrite?: boolean;
  /** `--backup-dir` is set: replaced and deleted files go there; `backupPath` names their place in it, for messages. */
  backup?: { path: (rel: string) => string };
  /** move between remotes of one backend with a server-side move: a transfer is a rename. */
  serverMove?: boolean;
  /** The destination has real directories: empty ones the source lacks are removed. */
  directories?: boolean;
  /** The destination refuses a name that differs from one beside it only by Unicode form (`lookAlikeNames: 'refused'`). */
  refusesLookAlikes?: boolean;
  checkers?: number;
  transfers?: number;
  /** Told once per comparison made (progress). */
  onCheck?: () => void;
}

export interface SyncPlan extends Plan {
  mode: SyncMode;
  /** Source files compared with a destination twin. */
  checked: number;
  /** Of those, files left alone because they were equal (or skipped by --update / --ignore-existing). */
  unchanged: number;
  /** Things worth telling that are no error (`--track-renames` without a common hash). */
  notes: string[];
}

type Item = { rel: string; entry: FileEntry; replace?: boolean };

interface Compared {
  transfers: Item[];
  times: Item[];
  /** move: source files the destination already holds. */
  identical: string[];
  news: Item[];
  checked: number;
  unchanged: number;
}

/** Aborts go up; anything else is this path's planning error. */
function planningError(errors: Plan['errors'], path: string, err: unknown, signal?: AbortSignal): void {
  if (isFerryError(err, 'FERRY_ERR_ABORTED') || signal?.aborted) throw err;
  errors.push({ path, error: err });
}

/** Every source file against its destination twin, `checkers` at once, results in listing order. */
async function compareAll(src: Listing, dst: Listing, o: SyncPlanOptions, errors: Plan['errors']): Promise<Compared> {
  const out: Compared = { transfers: [], times: [], identical: [], news: [], checked: 0, unchanged: 0 };
  const pairs: Array<[string, FileEntry, FileEntry]> = [];
  for (const [rel, entry] of src.files) {
    const twin = dst.files.get(rel);
    if (twin === undefined) out.news.push({ rel, entry });
    else pairs.push([rel, entry, twin]);
  }
  const decisions = new Array<Awaited<ReturnType<typeof decide>> | undefined>(pairs.length);
  await forEachConcurrent(
    pairs,
    o.checkers ?? 8,
    async ([rel, entry, twin], i) => {
      try {
        decisions[i] = await decide(rel, entry, twin, o.compare);
        o.onCheck?.();
      } catch (err) {
        planningError(errors, rel, err, o.compare.signal);
      }
    },
    o.compare.signal,
  );
  pairs.forEach(([rel, entry], i) => {
    const d = decisions[i];
    if (d === undefined) return;
    out.checked++;
    if (d.action === 'transfer' && o.noOverwrite) planningError(errors, rel, new AlreadyExistsError(`${rel} exists on the destination (\`noOverwrite\`)`));
    else if (d.action === 'transfer') out.transfers.push({ rel, entry, replace: true });
    else if (d.action === 'set-mtime') out.times.push({ rel, entry });
    else {
      out.unchanged++;
      // move: the copy is already there; a file skipped for another reason stays.
      if (o.mode === 'move' && d.same) out.identical.push(rel);
    }
  });
  return out;
}

/**
 * Pairs new source files with destination files about to be deleted: same size and same
 * hash. Each destination file is used once. Returns the renames and the deletions left.
 */
async function matchRenames(
  news: Item[],
  deletes: string[],
  dst: Listing,
  o: SyncPlanOptions & { compare: CompareOptions & { hashKind: HashKind } },
  errors: Plan['errors'],
): Promise<{ renames: Array<{ from: string; to: string; entry: FileEntry }>; deletes: string[] }> {
  const bySize = new Map<number, string[]>();
  for (const rel of deletes) {
    const e = dst.files.get(rel);
    if (e === undefined) continue;
    bySize.set(e.size, [...(bySize.get(e.size) ?? []), rel]);
  }
  const taken = new Map<string, { from: string; to: string; entry: FileEntry }>();
  await forEachConcurrent(
    news.filter((n) => bySize.has(n.entry.size)),
    o.checkers ?? 8,
    async (n) => {
      try {
        for (const candidate of bySize.get(n.entry.size)!) {
          if (taken.has(candidate)) continue;
          const same = await sameHash(n.rel, n.entry, dst.files.get(candidate)!, o.compare, candidate);
          if (same && !taken.has(candidate)) {
            taken.set(candidate, { from: candidate, to: n.rel, entry: n.entry });
            return;
          }
        }
      } catch (err) {
        planningError(errors, n.rel, err, o.compare.signal);
      }
    },
    o.compare.signal,
  );
  return { renames: [...taken.values()].sort((a, b) => (a.to < b.to ? -1 : 1)), deletes: deletes.filter((rel) => !taken.has(rel)) };
}

/**
 * New source files whose names differ from a destination file about to be deleted only by
 * Unicode form (`café.txt` composed on one side, decomposed on the other), on a destination
 * that refuses such look-alikes side by side (a Ferry server): copying the new name first is
 * refused there, the deletion then waits for an error-free run, and no run would ever
 * converge. The destination file is renamed to the source's form instead (a look-alike
 * rename of the file itself is accepted), then replaced unless the contents are known to be
 * equal. Only names in the same directory: a directory renamed this way is copied as before.
 */
async function matchLookAlikes(
  news: Item[],
  deletes: string[],
  dst: Listing,
  o: SyncPlanOptions,
  errors: Plan['errors'],
): Promise<{ tasks: Task[]; news: Item[]; deletes: string[] }> {
  const dirOf = (rel: string) => rel.slice(0, rel.lastIndexOf('/') + 1);
  const byForm = new Map<string, string | null>(); // null: two destination files share the form
  for (const rel of deletes) {
    const form = rel.normalize('NFC');
    byForm.set(form, byForm.has(form) ? null : rel);
  }
  const pairs: Array<{ n: Item; from: string }> = [];
  const taken = new Set<string>();
  for (const n of news) {
    const from = byForm.get(n.rel.normalize('NFC'));
    if (from === undefined || from === null || taken.has(from) || dirOf(from) !== dirOf(n.rel)) continue;
    taken.add(from);
    pairs.push({ n, from });
  }
  const tasks: Task[] = [];
  for (const { n, from } of pairs) {
    const twin = dst.files.get(from)!;
    let same: boolean | undefined;
    try {
      same = twin.size === n.entry.size ? await sameHash(n.rel, n.entry, twin, o.compare, from) : false;
    } catch (err) {
      planningError(errors, n.rel, err, o.compare.signal);
      continue;
    }
    const steps: Step[] = [{ op: 'rename', on: 'dst', path: from, to: n.rel, mtime: n.entry.mtime, event: { action: 'rename', path: from, to: n.rel, size: twin.size, reason: 'same name in another Unicode form' }, count: { renamed: 1 } }];
    if (same !== true) steps.push(...transferTask({ rel: n.rel, entry: n.entry, replace: true }, { ...o, backup: undefined }).steps);
    tasks.push({ path: from, steps });
  }
  const paired = new Set(pairs.map((p) => p.n.rel));
  return { tasks, news: news.filter((n) => !paired.has(n.rel)), deletes: deletes.filter((rel) => !taken.has(rel)) };
}

/**
 * Destination files the source lacks (and, with `--delete-excluded`, excluded ones). An
 * end-to-end marker (`.ferry-e2e`, docs/e2e.md) is never one: it is the key's salt and check
 * value, not a file of the user's, and deleting a vault's once the files beside it were
 * deleted would leave a plain folder where the user keeps an encrypted one.
 */
function destinationExtras(src: Listing, dst: Listing, deleteExcluded: boolean | undefined, notes: string[]): string[] {
  const out: string[] = [];
  let kept = 0;
  const consider = (rel: string) => {
    if (src.files.has(rel)) return;
    if (isE2eMarkerPath(rel)) kept++;
    else out.push(rel);
  };
  for (const rel of dst.files.keys()) consider(rel);
  if (deleteExcluded) for (const rel of dst.excluded.keys()) consider(rel);
  if (kept > 0) notes.push(`kept ${countOf(kept, 'end-to-end marker')} (${E2E_MARKER_NAME}) the source lacks: sync never deletes one (ferry rm -r removes a whole end-to-end folder)`);
  return out;
}

/**
 * Destination directories the source does not have, deepest first. Only empty ones will go
 * (rmdir refuses the others), so a directory holding excluded files stays.
 */
function staleDirectories(src: Listing, dst: Listing, filter: Filter): string[] {
  const needed = new Set<string>(src.dirs);
  for (const rel of src.files.keys()) for (let i = rel.indexOf('/'); i !== -1; i = rel.indexOf('/', i + 1)) needed.add(rel.slice(0, i));
  return [...dst.dirs].filter((d) => !needed.has(d) && filter.includesDirectory(d)).sort((a, b) => b.length - a.length);
}

/** The steps of one transfer: backup of the file it replaces, the copy (or server-side move), the source's removal. */
function transferTask(item: Item, o: SyncPlanOptions): Task {
  const { rel, entry } = item;
  const steps: Step[] = [];
  if (item.replace && o.backup) {
    steps.push({ op: 'move-across', from: 'dst', to: 'backup', path: rel, event: { action: 'backup', path: rel, to: o.backup.path(rel) }, count: { backedUp: 1 } });
  }
  const event = { action: item.replace ? 'update' : 'copy', path: rel, size: entry.size };
  if (o.mode === 'move' && o.serverMove) {
    steps.push({ op: 'move-file', from: 'src', to: 'dst', path: rel, entry, event, count: { transferred: 1, bytes: entry.size, sourceDeleted: 1 } });
    return { path: rel, steps };
  }
  steps.push({ op: 'copy', from: 'src', to: 'dst', path: rel, toPath: rel, entry, event, count: { transferred: 1, bytes: entry.size } });
  if (o.mode === 'move') steps.push({ op: 'delete-source', on: 'src', copy: 'dst', path: rel, entry, event: { action: 'delete-source', path: rel }, count: { sourceDeleted: 1 } });
  return { path: rel, steps };
}

/** A deletion on the destination: to `--backup-dir`, or gone. */
function deleteTask(rel: string, o: SyncPlanOptions): Task {
  if (o.backup) {
    return { path: rel, steps: [{ op: 'move-across', from: 'dst', to: 'backup', path: rel, event: { action: 'backup', path: rel, to: o.backup.path(rel) }, count: { backedUp: 1, deleted: 1 } }] };
  }
  return { path: rel, steps: [{ op: 'delete', on: 'dst', path: rel, event: { action: 'delete', path: rel }, count: { deleted: 1 } }] };
}

/** The plan of a sync, copy or move from two listings (see the module comment). */
export async function planSync(src: Listing, dst: Listing, o: SyncPlanOptions): Promise<SyncPlan> {
  const errors: Plan['errors'] = [];
  const notes: string[] = [];
  const c = await compareAll(src, dst, o, errors);
  let deletes = o.mode === 'sync' ? destinationExtras(src, dst, o.deleteExcluded, notes) : [];
  let renames: Array<{ from: string; to: string; entry: FileEntry }> = [];
  let news = c.news;
  let lookAlikes: Task[] = [];
  if (o.refusesLookAlikes && deletes.length > 0 && news.length > 0) ({ tasks: lookAlikes, news, deletes } = await matchLookAlikes(news, deletes, dst, o, errors));
  if (o.trackRenames && o.mode === 'sync' && deletes.length > 0 && news.length > 0) {
    const hashKind = o.compare.hashKind;
    if (hashKind === undefined) notes.push('`trackRenames`: the two remotes have no hash in common; renames are copied');
    else ({ renames, deletes } = await matchRenames(news, deletes, dst, { ...o, compare: { ...o.compare, hashKind } }, errors));
  }
  const renamed = new Set(renames.map((r) => r.to));
  const transfers = [...c.transfers, ...news.filter((n) => !renamed.has(n.rel))];
  const transfersAtOnce = o.transfers ?? 4;
  const phases: Phase[] = [
    {
      name: 'renames',
      progress: 'transferring',
      lanes: 1,
      tasks: [
        ...lookAlikes,
        ...renames.map((r): Task => ({ path: r.from, steps: [{ op: 'rename', on: 'dst', path: r.from, to: r.to, mtime: r.entry.mtime, event: { action: 'rename', path: r.from, to: r.to, size: r.entry.size }, count: { renamed: 1 } }] })),
      ],
    },
    {
      name: 'times',
      progress: 'transferring',
      lanes: 1,
      tasks: c.times.map(({ rel, entry }) => {
        const steps: Step[] = [{ op: 'set-mtime', on: 'dst', path: rel, mtime: entry.mtime!, event: { action: 'set-mtime', path: rel }, count: { mtimeUpdated: 1 } }];
        if (o.mode === 'move') steps.push({ op: 'delete', on: 'src', path: rel, event: { action: 'delete-source', path: rel }, count: { sourceDeleted: 1 } });
        return { path: rel, steps };
      }),
    },
    { name: 'transfers', progress: 'transferring', lanes: 'transfers', tasks: transfers.map((t) => transferTask(t, o)) },
    {
      name: 'sources',
      progress: 'transferring',
      lanes: transfersAtOnce,
      tasks: c.identical.map((rel) => ({ path: rel, steps: [{ op: 'delete', on: 'src', path: rel, event: { action: 'delete-source', path: rel }, count: { sourceDeleted: 1 } }] })),
    },
  ];
  if (o.mode === 'sync') {
    const refused = o.maxDelete !== undefined && deletes.length > o.maxDelete ? `not deleting ${countOf(deletes.length, 'file')}: more than \`maxDelete\` ${o.maxDelete}` : undefined;
    phases.push({ name: 'deletes', progress: 'deleting', lanes: transfersAtOnce, requires: 'no-errors', refused, tasks: deletes.map((rel) => deleteTask(rel, o)) });
    const dirs = o.directories ? staleDirectories(src, dst, o.filter) : [];
    phases.push({ name: 'dirs', progress: 'deleting', lanes: 1, requires: 'no-errors', tasks: dirs.map((d) => ({ path: d, steps: [{ op: 'rmdir', on: 'dst', path: d, event: { action: 'rmdir', path: d } }] })) });
  }
  return { mode: o.mode, phases, errors, checked: c.checked, unchanged: c.unchanged, notes };
}
