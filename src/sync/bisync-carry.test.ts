/** The rules of bisync-carry.ts on literal listings: which paths name their place, and when an old state is used. */
import { describe, expect, it } from 'vitest';
import { NO_FILTER, Filter } from './filter.js';
import type { Listing } from './listing.js';
import type { BisyncState } from './bisync-state.js';
import { namesOnePlace, whyNotThisPair, type CarryInput } from './bisync-carry.js';

const T = 1_700_000_000_000;
const listing = (names: string[], mtime = T): Listing => ({ files: new Map(names.map((n) => [n, { size: 1, mtime, hashes: {} }])), excluded: new Map(), dirs: new Set(), skipped: [] });
const state = (p1: string[], p2: string[], labels = ['/home/me/docs', 'ferry:/docs']): BisyncState => ({
  version: 1,
  path1: labels[0],
  path2: labels[1],
  listing1: Object.fromEntries(p1.map((n) => [n, { size: 1, mtime: T, hashes: {} }])),
  listing2: Object.fromEntries(p2.map((n) => [n, { size: 1, mtime: T, hashes: {} }])),
  savedAt: T,
});
const input = (l1: Listing, l2: Listing, labels = ['/home/me/docs', 'ferry:/docs'], filter = NO_FILTER): CarryInput => ({ labels: { 1: labels[0], 2: labels[1] }, now: { 1: l1, 2: l2 }, precisionMs: { 1: 1, 2: 1 }, filter });

describe('carrying a 0.1.0 bisync state over', () => {
  it('takes only local absolute paths as naming their place', () => {
    for (const label of ['/home/me/docs', '~/docs', '~', 'local:/srv/x', 'C:\\Users\\me']) expect(namesOnePlace(label), label).toBe(true);
    for (const label of ['./docs', 'docs', '../docs', 'ferry:/docs', 'ferry:docs', 'ferry://host:8080/docs', 'nas:/docs', 's3:bucket/docs']) expect(namesOnePlace(label), label).toBe(false);
  });

  it('uses a state that names these paths, with a file unchanged on each side and nothing gone from a path that depends on where it is typed', () => {
    expect(whyNotThisPair(state(['a', 'b'], ['a', 'b']), input(listing(['a']), listing(['a', 'b'])))).toBeUndefined(); // b deleted on the absolute side
    expect(whyNotThisPair(state(['a', 'b'], ['a', 'b']), input(listing(['a', 'b']), listing(['a'])))).toMatch(/^path2 \(ferry:\/docs\) lacks 1 of the files it recorded \(b\)/);
    expect(whyNotThisPair(state(['a', 'b'], ['a', 'b']), input(listing(['a']), listing(['a'])))).toBeUndefined(); // gone from both: asks nothing
    expect(whyNotThisPair(state(['a'], ['a']), input(listing(['a'], T + 5000), listing(['a'])))).toBe('none of the 1 files it recorded on path1 (/home/me/docs) is there unchanged');
    expect(whyNotThisPair(state([], []), input(listing(['x']), listing([])))).toBeUndefined();
    expect(whyNotThisPair(state(['a'], ['a'], ['/other', 'ferry:/docs']), input(listing(['a']), listing(['a'])))).toBe('it names /other and ferry:/docs');
    // Files the filter leaves out take no part (as in a run).
    const filter = new Filter({ exclude: ['*.tmp'] });
    const tmpGone = input(listing(['a', 'b.tmp']), listing(['a']), undefined, filter);
    expect(whyNotThisPair(state(['a', 'b.tmp'], ['a', 'b.tmp']), tmpGone)).toBeUndefined();
    expect(whyNotThisPair(state(['a', 'b.tmp'], ['a', 'b.tmp']), { ...tmpGone, filter: NO_FILTER })).toMatch(/lacks 1 of the files it recorded \(b\.tmp\)/);
  });
});
