import { describe, expect, it } from 'vitest';
import { ProgressTracker, type Progress } from './progress.js';

describe('ProgressTracker totals that grow (a tree download listing as it goes)', () => {
  it('says the totals are so far, with no ETA, until they are known; then the last event has them final', () => {
    const seen: Progress[] = [];
    const t = new ProgressTracker((p) => seen.push(p), 0);
    t.totalsGrowing();
    t.addTotals(100, 2);
    t.done(50);
    const during = t.snapshot();
    expect(during).toMatchObject({ totalsSoFar: true, filesTotal: 2, bytesTotal: 100 });
    expect(during.etaMs).toBeUndefined();
    t.addTotals(100, 2);
    t.totalsKnown();
    const after = seen.at(-1)!;
    expect(after.totalsSoFar).toBeUndefined();
    expect(after).toMatchObject({ filesTotal: 4, bytesTotal: 200 });
    t.done(150);
    expect(t.snapshot().etaMs).toBe(0);
  });

  it('never marks the totals of an operation that did not ask for it', () => {
    const t = new ProgressTracker(undefined, 0);
    t.addTotals(10, 1);
    expect(t.snapshot().totalsSoFar).toBeUndefined();
  });
});
