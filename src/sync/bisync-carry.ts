/**
 * Carrying a pair's state over from ferry 0.1.0, which kept it under the two paths as typed
 * (`pairId(label1, label2)`; today it is kept under where the sides really are, bisync.ts
 * sideId). Such a state records no more than those two strings and each side's listing after
 * its last run: not the folder it was run in, not the server `ferry:` meant then. It is used
 * only where it can be shown to describe the two places of this run; else the run is refused
 * as any run without a state is, and `resync` (which loses nothing) makes a new one.
 *
 * What is taken as shown, side by side:
 * - The state names these two paths as typed (a folder name's hash could collide).
 * - At least one file it recorded on the side is there now unchanged (same size, time and
 *   recorded hashes): a folder that holds none of them (another disk mounted at the same
 *   place, a folder emptied and refilled) is not what the state saw.
 * - A path that names its place by itself (an absolute local path, `~/…`, `local:/…`) is
 *   that place: a file the state recorded that is gone from it was deleted there, and the
 *   deletion is carried to the other side as any run would.
 * - A path that does not (`./docs`, `docs`, depending on the folder it was typed in;
 *   `ferry:/docs`, depending on the server logged in to; `ferry://host/docs`, whose files are
 *   those of the user logged in to that host, whose home may be another's now; `NAME:…`,
 *   depending on the remotes' settings at the time)
 *   must still hold every file the state recorded on it (or the file is gone from both sides,
 *   which asks nothing of either). That a file gone from it was deleted cannot be shown: a
 *   folder elsewhere that holds some of the files, copied with their times (`cp -a`, a sync),
 *   reads exactly like this folder with the others deleted, and using the state would delete
 *   them from the other side (the bug the new key fixed). Files changed on it are taken as
 *   edits, as any run takes them: a changed file is copied over a copy the state recorded
 *   (or settled as a conflict when both changed), never deleted.
 */
import { ConfigError, UsageError, type FerryError } from '../core/errors.js';
import type { BisyncState, StateStore } from './bisync-state.js';
import type { Filter } from './filter.js';
import type { FileEntry } from './hashes.js';
import type { Listing } from './listing.js';
import { changeOf } from './plan-bisync.js';

type N = 1 | 2;

/** Whether a path as typed names one place whatever the folder, login or settings it was typed with: a local absolute path. */
export function namesOnePlace(label: string): boolean {
  return /^(\/|~(\/|$)|[A-Za-z]:\\|local:\/)/.test(label);
}

/** An old state found for the paths as typed, and the store it is in. */
export interface OldState {
  state: BisyncState;
  store: StateStore;
}

/** The old state of these paths as typed, if one is there and readable (a damaged one is as none). */
export async function findOldState(store: StateStore): Promise<OldState | undefined> {
  try {
    const state = await store.load();
    return state === undefined ? undefined : { state, store };
  } catch (err) {
    if (err instanceof ConfigError) return undefined;
    throw err;
  }
}

export interface CarryInput {
  labels: Record<N, string>;
  now: Record<N, Listing>;
  precisionMs: Record<N, number>;
  filter: Filter;
}

/** Why the old state cannot be shown to be this pair's (the module comment), or undefined when it can. */
export function whyNotThisPair(state: BisyncState, i: CarryInput): string | undefined {
  if (state.path1 !== i.labels[1] || state.path2 !== i.labels[2]) return `it names ${state.path1} and ${state.path2}`;
  for (const n of [1, 2] as const) {
    const why = sideMismatch(n, n === 1 ? state.listing1 : state.listing2, i);
    if (why !== undefined) return why;
  }
  return undefined;
}

function sideMismatch(n: N, recorded: Record<string, FileEntry>, i: CarryInput): string | undefined {
  const here = i.now[n].files;
  const there = i.now[n === 1 ? 2 : 1].files;
  let considered = 0;
  let unchanged = 0;
  const gone: string[] = [];
  for (const [rel, base] of Object.entries(recorded)) {
    if (!i.filter.includesPath(rel)) continue;
    considered++;
    const now = here.get(rel);
    if (now === undefined) {
      if (there.has(rel)) gone.push(rel);
    } else if (changeOf(base, now, i.precisionMs[n]) === undefined) unchanged++;
  }
  const label = `path${n} (${i.labels[n]})`;
  if (considered > 0 && unchanged === 0) return `none of the ${considered} files it recorded on ${label} is there unchanged`;
  if (gone.length > 0 && !namesOnePlace(i.labels[n])) {
    const some = gone.sort().slice(0, 3).join(', ') + (gone.length > 3 ? ', ...' : '');
    return (
      `${label} lacks ${gone.length} of the files it recorded (${some}), and that path depends on the folder or login it is used from, ` +
      'so another place holding some of the files cannot be told from this one with the others deleted'
    );
  }
  return undefined;
}

/** What a resync does, for the messages that ask for one. */
export const RESYNC_DOES =
  'it deletes nothing and overwrites nothing: a file on one side only is copied to the other, and where the two sides hold different versions of a file ' +
  'the newer keeps the name (`resyncMode` chooses another rule) and the other is kept beside it on both sides as name.conflict1.ext (path1\'s) or name.conflict2.ext (path2\'s)';

/** The refusal of a run without a state, saying what the resync it asks for will do. */
export function noStateError(labels: Record<N, string>, dir: string, old?: { dir: string; why: string }): FerryError {
  const found = old === undefined ? '' : `; the state an older ferry saved for these paths as typed (${old.dir}) was not used: ${old.why}`;
  return new UsageError(`no bisync state for ${labels[1]} and ${labels[2]} (looked in ${dir})${found}. Run once with \`resync: true\`: ${RESYNC_DOES}`, {
    details: old === undefined ? { stateDir: dir } : { stateDir: dir, oldStateDir: old.dir },
  });
}
