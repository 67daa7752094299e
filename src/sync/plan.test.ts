/**
 * The planners without storage: listings are literals, hashes come from the entries (a stub
 * HashLookup that fails the test if a hash is asked that the listing did not carry), and the
 * plans are asserted step by step.
 */
import { describe, expect, it } from 'vitest';
import { IoError } from '../core/errors.js';
import { planCheck } from './check.js';
import type { CompareOptions } from './compare.js';
import { Filter, NO_FILTER } from './filter.js';
import type { FileEntry, HashLookup } from './hashes.js';
import type { Listing } from './listing.js';
import { planLines, stepsOf, type Plan } from './plan.js';
import { planBisync, planResync, type BisyncPlanOptions } from './plan-bisync.js';
import { planSync, type SyncPlanOptions } from './plan-sync.js';

const T = 1_700_000_000_000;
type Spec = Record<string, [size: number, mtime: number, sha256?: string]>;

function entry([size, mtime, sha256]: [number, number, string?]): FileEntry {
  return { size, mtime, hashes: sha256 === undefined ? {} : { sha256 } };
}

function listing(files: Spec, dirs: string[] = [], excluded: Spec = {}): Listing {
  const m = (s: Spec) => new Map(Object.entries(s).map(([k, v]) => [k, entry(v)]));
  return { files: m(files), excluded: m(excluded), dirs: new Set(dirs), skipped: [] };
}

/** Hashes only from the entries: a planner that would need to read fails loudly. */
const fromEntries: HashLookup = {
  async hash(rel, e, kind) {
    const h = e.hashes[kind];
    if (h === undefined) throw new IoError(`${rel}: no ${kind} in the listing (the planner tried to read)`);
    return h;
  },
};

function compare(extra: Partial<CompareOptions> = {}): CompareOptions {
  return { mode: 'default', update: false, ignoreExisting: false, windowMs: 1, mtimes: true, dstSetMtime: true, hashKind: 'sha256', src: fromEntries, dst: fromEntries, ...extra };
}

const options = (extra: Partial<SyncPlanOptions> = {}): SyncPlanOptions => ({ mode: 'sync', compare: compare(), filter: NO_FILTER, ...extra });

/** `phase: op path[ -> to]` for every step, in order. */
function shape(plan: Plan): string[] {
  const out: string[] = [];
  for (const p of plan.phases) {
    for (const t of p.tasks) {
      for (const s of t.steps) {
        const where = 'path' in s ? s.path : '';
        const to = s.op === 'rename' ? ` -> ${s.to}` : s.op === 'copy' && s.toPath !== s.path ? ` -> ${s.toPath}` : '';
        const side = s.op === 'copy' || s.op === 'move-file' || s.op === 'move-across' ? ` ${s.from}>${s.to}` : 'on' in s ? ` @${s.on}` : '';
        out.push(`${p.name}: ${s.op}${side} ${where}${to}`);
      }
    }
  }
  return out;
}

describe('planSync (no storage)', () => {
  it('copies new and changed files, sets times of equal content, leaves equal files, deletes extras last', async () => {
    const src = listing({ new: [1, T, 'n'], changed: [2, T, 'c2'], touched: [3, T + 5000, 't'], same: [4, T, 's'] }, ['d']);
    const dst = listing({ changed: [9, T, 'c1'], touched: [3, T, 't'], same: [4, T, 's'], extra: [5, T, 'x'], 'gone/deep': [1, T] }, ['d', 'gone']);
    const plan = await planSync(src, dst, options({ directories: true }));
    expect(shape(plan)).toEqual([
      'times: set-mtime @dst touched',
      'transfers: copy src>dst changed',
      'transfers: copy src>dst new',
      'deletes: delete @dst extra',
      'deletes: delete @dst gone/deep',
      'dirs: rmdir @dst gone',
    ]);
    expect(plan).toMatchObject({ checked: 3, unchanged: 1, errors: [] });
    expect(plan.phases.find((p) => p.name === 'deletes')).toMatchObject({ requires: 'no-errors' });
    expect(planLines(plan)).toEqual(['set-mtime touched', 'update changed', 'copy new', 'delete extra', 'delete gone/deep', 'rmdir gone']);
  });

  it('copy never deletes; move deletes each source after its copy, and identical ones', async () => {
    const src = listing({ a: [1, T, 'a'], same: [2, T, 's'] });
    const dst = listing({ same: [2, T, 's'], extra: [3, T] });
    expect(shape(await planSync(src, dst, options({ mode: 'copy' })))).toEqual(['transfers: copy src>dst a']);
    expect(shape(await planSync(src, dst, options({ mode: 'move' })))).toEqual(['transfers: copy src>dst a', 'transfers: delete-source @src a', 'sources: delete @src same']);
    expect(shape(await planSync(src, dst, options({ mode: 'move', serverMove: true })))).toEqual(['transfers: move-file src>dst a', 'sources: delete @src same']);
  });

  it('--backup-dir: the replaced file goes first, deletions go there instead', async () => {
    const plan = await planSync(listing({ a: [2, T, 'new'] }), listing({ a: [1, T, 'old'], b: [1, T] }), options({ backup: { path: (rel) => `bak/${rel}` } }));
    expect(shape(plan)).toEqual(['transfers: move-across dst>backup a', 'transfers: copy src>dst a', 'deletes: move-across dst>backup b']);
    expect(planLines(plan)).toEqual(['backup a -> bak/a', 'update a', 'backup b -> bak/b']);
    expect(stepsOf(plan).map((s) => s.count)).toEqual([{ backedUp: 1 }, { transferred: 1, bytes: 2 }, { backedUp: 1, deleted: 1 }]);
  });

  it('--track-renames: a new file with the hash of a file about to go is a rename, not a copy and a delete', async () => {
    const src = listing({ 'new/name': [10, T, 'H'], other: [1, T, 'o'] });
    const dst = listing({ 'old/name': [10, T - 1000, 'H'], other: [1, T, 'o'], stale: [10, T, 'Z'] });
    const plan = await planSync(src, dst, options({ trackRenames: true }));
    expect(shape(plan)).toEqual(['renames: rename @dst old/name -> new/name', 'deletes: delete @dst stale']);
    const noHash = await planSync(src, dst, options({ trackRenames: true, compare: compare({ hashKind: undefined }) }));
    expect(shape(noHash)).toEqual(['transfers: copy src>dst new/name', 'deletes: delete @dst old/name', 'deletes: delete @dst stale']);
    expect(noHash.notes).toEqual(['`trackRenames`: the two remotes have no hash in common; renames are copied']);
  });

  it('a name only re-normalized (NFC <-> NFD) on a destination refusing look-alikes is renamed there, then updated if it differs', async () => {
    const [nfc, nfd] = ['caf\u00e9', 'cafe\u0301'];
    const src = listing({ [`d/${nfd}.txt`]: [4, T, 'same'], [`${nfd}2.txt`]: [5, T, 'new'], [`x/${nfd}/f`]: [1, T, 'f'], keep: [1, T, 'k'] });
    const dst = listing({ [`d/${nfc}.txt`]: [4, T - 5000, 'same'], [`${nfc}2.txt`]: [5, T, 'old'], [`x/${nfc}/f`]: [1, T, 'f'], keep: [1, T, 'k'] });
    const plan = await planSync(src, dst, options({ refusesLookAlikes: true }));
    expect(shape(plan)).toEqual([
      `renames: rename @dst d/${nfc}.txt -> d/${nfd}.txt`,
      `renames: rename @dst ${nfc}2.txt -> ${nfd}2.txt`,
      `renames: copy src>dst ${nfd}2.txt`,
      // A directory's name in another form: copied and deleted as before (not a same-directory rename).
      `transfers: copy src>dst x/${nfd}/f`,
      `deletes: delete @dst x/${nfc}/f`,
    ]);
    const rename = stepsOf(plan).find((st) => st.op === 'rename' && st.path === `d/${nfc}.txt`);
    expect(rename).toMatchObject({ mtime: T });
    // Where look-alikes may sit side by side (a local folder, S3), a copy and a delete as before.
    expect(shape(await planSync(src, dst, options()))).toContain(`deletes: delete @dst d/${nfc}.txt`);
    // copy deletes nothing, so it renames nothing either.
    expect(shape(await planSync(src, dst, options({ mode: 'copy', refusesLookAlikes: true }))).some((l) => l.includes('rename'))).toBe(false);
  });

  it('--max-delete refuses the whole deletion phase; --delete-excluded adds excluded files', async () => {
    const src = listing({ a: [1, T] });
    const dst = listing({ a: [1, T], x: [1, T], y: [1, T] }, [], { 'skip.tmp': [1, T] });
    const refused = await planSync(src, dst, options({ maxDelete: 1 }));
    expect(refused.phases.find((p) => p.name === 'deletes')).toMatchObject({ refused: 'not deleting 2 files: more than `maxDelete` 1' });
    expect(planLines(refused)).toEqual(['skip deletes: not deleting 2 files: more than `maxDelete` 1']);
    const excluded = await planSync(src, dst, options({ deleteExcluded: true, filter: new Filter({ exclude: ['*.tmp'] }) }));
    expect(shape(excluded)).toEqual(['deletes: delete @dst x', 'deletes: delete @dst y', 'deletes: delete @dst skip.tmp']);
  });

  it('a comparison that fails is the path’s planning error; the others are planned', async () => {
    const src = listing({ a: [1, T + 9000], b: [1, T] });
    const dst = listing({ a: [1, T], b: [2, T] }); // a: times differ, no hash to tell -> needs a hash it cannot get
    const plan = await planSync(src, dst, options());
    expect(plan.errors.map((e) => e.path)).toEqual(['a']);
    expect(shape(plan)).toEqual(['transfers: copy src>dst b']);
  });
});

describe('planBisync (no storage)', () => {
  const o = (extra: Partial<BisyncPlanOptions> = {}): BisyncPlanOptions => ({
    strategy: 'keep-both',
    suffix: 'conflict',
    maxDelete: 50,
    force: false,
    windowMs: 1,
    precisionMs: { 1: 1, 2: 1 },
    compare: compare(),
    filter: NO_FILTER,
    labels: { 1: 'one', 2: 'two' },
    ...extra,
  });
  const base = (s: Spec) => new Map(Object.entries(s).map(([k, v]) => [k, entry(v)]));
  const last = { a: [1, T, 'a'], b: [1, T, 'b'], c: [1, T, 'c'], d: [1, T, 'd'], e: [1, T, 'e'], f: [1, T, 'f'] } satisfies Spec;

  it('copies changes both ways, propagates deletions, lets a change beat a deletion', async () => {
    const l1 = listing({ ...last, a: [2, T + 9, 'a2'], new1: [1, T, 'n1'] });
    for (const k of ['c', 'd']) l1.files.delete(k); // deleted on path1
    const l2 = listing({ ...last, b: [2, T + 9, 'b2'], d: [3, T + 9, 'd2'] });
    const plan = await planBisync(l1, l2, { 1: base(last), 2: base(last) }, o());
    expect(shape(plan)).toEqual([
      'transfers: copy path1>path2 a',
      'transfers: copy path2>path1 b',
      'transfers: delete @path2 c',
      'transfers: copy path2>path1 d',
      'transfers: copy path1>path2 new1',
    ]);
  });

  it('conflicts: keep-both renames and crosses both versions; a winner overwrites; skip keeps the old state', async () => {
    const l1 = listing({ ...last, a: [5, T + 9, 'one'] });
    const l2 = listing({ ...last, a: [6, T + 5, 'two'] });
    const both = await planBisync(l1, l2, { 1: base(last), 2: base(last) }, o());
    expect(shape(both)).toEqual([
      'transfers: rename @path1 a -> a.conflict1',
      'transfers: rename @path2 a -> a.conflict2',
      'transfers: copy path1>path2 a.conflict1',
      'transfers: copy path2>path1 a.conflict2',
    ]);
    expect(both.conflicts).toEqual([{ path: 'a', resolution: 'kept both: a.conflict1, a.conflict2', reason: 'kept both as a.conflict1 and a.conflict2' }]);
    expect(shape(await planBisync(l1, l2, { 1: base(last), 2: base(last) }, o({ strategy: 'newer' })))).toEqual(['transfers: copy path1>path2 a']);
    expect(shape(await planBisync(l1, l2, { 1: base(last), 2: base(last) }, o({ strategy: 'larger' })))).toEqual(['transfers: copy path2>path1 a']);
    const skipped = await planBisync(l1, l2, { 1: base(last), 2: base(last) }, o({ strategy: 'skip' }));
    expect([shape(skipped), [...skipped.keepOld]]).toEqual([[], ['a']]);
    await expect(planBisync(l1, l2, { 1: base(last), 2: base(last) }, o({ strategy: 'error' }))).rejects.toMatchObject({ code: 'FERRY_ERR_PRECONDITION_FAILED' });
  });

  it('a rename on one side is a rename on the other; too many deletions refuse the plan', async () => {
    const l1 = listing({ ...last, moved: [1, T, 'a'] });
    l1.files.delete('a');
    const plan = await planBisync(l1, listing(last), { 1: base(last), 2: base(last) }, o());
    expect(shape(plan)).toEqual(['renames: rename @path2 a -> moved']);
    const gutted = listing({ a: [1, T, 'a'] });
    await expect(planBisync(gutted, listing(last), { 1: base(last), 2: base(last) }, o())).rejects.toMatchObject({ code: 'FERRY_ERR_PRECONDITION_FAILED' });
    expect(shape(await planBisync(gutted, listing(last), { 1: base(last), 2: base(last) }, o({ force: true })))).toHaveLength(5);
  });

  it('resync: the union; where the two differ the newer keeps the name and the other is kept as a conflict copy', async () => {
    const l1 = listing({ a: [1, T, 'a'], both: [1, T, 'x'], 'old.txt': [1, T, 'o1'], same: [1, T, 's'] });
    const l2 = listing({ b: [1, T, 'b'], both: [2, T + 5000, 'y'], 'old.txt': [2, T - 5000, 'o2'], same: [1, T, 's'] });
    const plan = await planResync(l1, l2, o());
    expect(shape(plan)).toEqual([
      'transfers: copy path1>path2 a',
      'transfers: copy path2>path1 b',
      'transfers: rename @path1 both -> both.conflict1',
      'transfers: copy path2>path1 both',
      'transfers: copy path1>path2 both.conflict1',
      'transfers: rename @path2 old.txt -> old.conflict2.txt',
      'transfers: copy path1>path2 old.txt',
      'transfers: copy path2>path1 old.conflict2.txt',
    ]);
    expect(plan.conflicts.map((c) => c.resolution)).toEqual(["path2 wins, path1's kept as both.conflict1", "path1 wins, path2's kept as old.conflict2.txt"]);
  });

  it('resync modes pick the version that keeps the name; a tie keeps both under conflict names', async () => {
    const l1 = listing({ f: [1, T + 5000, 'x'] });
    const l2 = listing({ f: [9, T, 'y'] });
    const winner = async (resyncMode: BisyncPlanOptions['resyncMode']) => (await planResync(l1, l2, o({ resyncMode }))).conflicts[0].resolution;
    expect(await winner('newer')).toBe("path1 wins, path2's kept as f.conflict2");
    expect(await winner('older')).toBe("path2 wins, path1's kept as f.conflict1");
    expect(await winner('larger')).toBe("path2 wins, path1's kept as f.conflict1");
    expect(await winner('smaller')).toBe("path1 wins, path2's kept as f.conflict2");
    expect(await winner('path1')).toBe("path1 wins, path2's kept as f.conflict2");
    expect(await winner('path2')).toBe("path2 wins, path1's kept as f.conflict1");
    const tie = await planResync(listing({ f: [1, T, 'x'] }), listing({ f: [2, T, 'y'] }), o());
    expect(tie.conflicts[0].resolution).toBe('kept both: f.conflict1, f.conflict2');
    // A resync deletes nothing, whatever the conflict strategy says (error is for later runs).
    const strict = await planResync(l1, l2, o({ strategy: 'error' }));
    expect(shape(strict).filter((l) => l.includes('delete'))).toEqual([]);
  });
});

describe('planCheck (no storage)', () => {
  it('marks every path; sizes first, then the comparison given; failures are !', async () => {
    const a = listing({ same: [1, T], diff: [1, T], size: [1, T], onlya: [1, T], bad: [1, T] });
    const b = listing({ same: [1, T], diff: [1, T], size: [2, T], onlyb: [1, T], bad: [1, T] });
    const same = async (rel: string) => {
      if (rel === 'bad') throw new IoError('unreadable');
      return rel === 'same';
    };
    const { entries } = await planCheck(a, b, {}, same);
    expect(entries.map((e) => `${e.mark} ${e.path}`)).toEqual(['! bad', '* diff', '+ onlya', '- onlyb', '= same', '* size']);
    const oneWay = await planCheck(a, b, { oneWay: true }, async () => undefined);
    expect(oneWay.entries.map((e) => e.mark).sort()).toEqual(['*', '+', '=', '=', '=']);
    expect(oneWay.unhashed).toBe(3);
  });
});
