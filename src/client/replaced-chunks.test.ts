import { describe, expect, it } from 'vitest';
import { replacedRun } from './replaced-chunks.js';

/** Old chunks of these sizes, back to back: their starts and the chunks. */
function olds(...sizes: number[]) {
  const starts: number[] = [];
  let at = 0;
  for (const s of sizes) {
    starts.push(at);
    at += s;
  }
  return { starts, old: sizes.map((size) => ({ size })) };
}

describe('replacedRun', () => {
  it('takes the old chunk covering the middle, and the neighbours the new place overlaps', () => {
    const { starts, old } = olds(100, 100, 100, 100);
    // Inside one old chunk: that one only.
    expect(replacedRun(starts, old, 110, 80, 16, 1000)).toEqual({ first: 1, middle: 1, last: 1 });
    // Two old chunks merged (their cut erased): both, in file order.
    expect(replacedRun(starts, old, 100, 200, 16, 1000)).toEqual({ first: 1, middle: 2, last: 2 });
    // Overlapping three: all three; touching a neighbour's first byte is overlapping it, ending at its start is not.
    expect(replacedRun(starts, old, 50, 151, 16, 1000)).toEqual({ first: 0, middle: 1, last: 2 });
    expect(replacedRun(starts, old, 100, 100, 16, 1000)).toEqual({ first: 1, middle: 1, last: 1 });
    expect(replacedRun([], [], 0, 10, 16, 1000)).toBeUndefined();
  });

  it('stops at `most` chunks and `maxBytes`, a side at a time', () => {
    const { starts, old } = olds(100, 100, 100, 100, 100);
    expect(replacedRun(starts, old, 0, 500, 1, 1000)).toEqual({ first: 2, middle: 2, last: 2 });
    expect(replacedRun(starts, old, 0, 500, 3, 1000)).toEqual({ first: 1, middle: 2, last: 3 });
    expect(replacedRun(starts, old, 0, 500, 16, 250)).toEqual({ first: 1, middle: 2, last: 2 });
    expect(replacedRun(starts, old, 0, 500, 16, 500)).toEqual({ first: 0, middle: 2, last: 4 });
  });
});
