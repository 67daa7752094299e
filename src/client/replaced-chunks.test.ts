import { describe, expect, it } from 'vitest';
import { chunkOffsets } from '../core/chunk-refs.js';
import { replacedRun } from './replaced-chunks.js';

/** Where old chunks of these sizes, back to back, start, and their total (chunkOffsets). */
function olds(...sizes: number[]): number[] {
  return chunkOffsets(sizes.map((size) => ({ hash: '', size })));
}

describe('replacedRun', () => {
  it('takes the old chunk covering the middle, and the neighbours the new place overlaps', () => {
    const offsets = olds(100, 100, 100, 100);
    // Inside one old chunk: that one only.
    expect(replacedRun(offsets, 110, 80, 16, 1000)).toEqual({ first: 1, middle: 1, last: 1 });
    // Two old chunks merged (their cut erased): both, in file order.
    expect(replacedRun(offsets, 100, 200, 16, 1000)).toEqual({ first: 1, middle: 2, last: 2 });
    // Overlapping three: all three; touching a neighbour's first byte is overlapping it, ending at its start is not.
    expect(replacedRun(offsets, 50, 151, 16, 1000)).toEqual({ first: 0, middle: 1, last: 2 });
    expect(replacedRun(offsets, 100, 100, 16, 1000)).toEqual({ first: 1, middle: 1, last: 1 });
    expect(replacedRun([0], 0, 10, 16, 1000)).toBeUndefined();
  });

  it('stops at `most` chunks and `maxBytes`, a side at a time', () => {
    const offsets = olds(100, 100, 100, 100, 100);
    expect(replacedRun(offsets, 0, 500, 1, 1000)).toEqual({ first: 2, middle: 2, last: 2 });
    expect(replacedRun(offsets, 0, 500, 3, 1000)).toEqual({ first: 1, middle: 2, last: 3 });
    expect(replacedRun(offsets, 0, 500, 16, 250)).toEqual({ first: 1, middle: 2, last: 2 });
    expect(replacedRun(offsets, 0, 500, 16, 500)).toEqual({ first: 0, middle: 2, last: 4 });
  });
});
