import { describe, expect, it } from 'vitest';
import { chunkOffsets } from '../core/chunk-refs.js';
import { OldPlaces, replacedRun } from './replaced-chunks.js';

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

  it('takes a neighbour only when the place overlaps it by more than the slack', () => {
    const offsets = olds(100, 100, 100);
    // An edit's own 10 bytes more: the one chunk.
    expect(replacedRun(offsets, 100, 110, 16, 1000, 16)).toEqual({ first: 1, middle: 1, last: 1 });
    expect(replacedRun(offsets, 90, 110, 16, 1000, 16)).toEqual({ first: 1, middle: 1, last: 1 });
    // A cut erased (the place covers most of the next one): both.
    expect(replacedRun(offsets, 100, 190, 16, 1000, 16)).toEqual({ first: 1, middle: 1, last: 2 });
  });
});

describe('OldPlaces', () => {
  const refs = (...names: [string, number][]) => names.map(([hash, size]) => ({ hash, size }));

  it('places a new chunk by the last unchanged one before it, across an insertion', () => {
    const old = refs(['a', 100], ['b', 100], ['c', 100], ['d', 100]);
    const places = new OldPlaces(old, chunkOffsets(old));
    // Version 2: a, 250 new bytes, b, c edited (105 bytes), d.
    expect(places.place(0, 'a')).toBe(0);
    expect(places.place(100, 'new')).toBe(100); // after a: where b was
    expect(places.place(350, 'b')).toBe(100);
    const c = places.place(450, 'c2');
    expect(c).toBe(200); // where c was, not 450 (the end of the old file)
    expect(replacedRun(chunkOffsets(old), c, 105, 16, 1000, 16)).toEqual({ first: 2, middle: 2, last: 2 });
    expect(places.place(555, 'd')).toBe(300);
  });

  it('takes a repeated chunk as the next one of the old version, and a chunk moved back as no place', () => {
    const old = refs(['x', 100], ['y', 100], ['x', 100], ['z', 100]);
    const places = new OldPlaces(old, chunkOffsets(old));
    expect(places.place(0, 'x')).toBe(0);
    expect(places.place(100, 'x')).toBe(200); // the second x: the shift is -100
    expect(places.place(200, 'edited')).toBe(300);
    // y lies before the last match: it moved back, and places nothing.
    expect(places.place(300, 'y')).toBe(400);
  });

  it('places each of many identical chunks by the next old one', () => {
    // A disk image's runs of zeros: every chunk the same, each matching the next old one.
    const old = Array.from({ length: 2_000 }, () => ({ hash: 'z', size: 100 }));
    const places = new OldPlaces(old, chunkOffsets(old));
    for (let i = 0; i < 2_000; i++) expect(places.place(i * 100 + 50, 'z')).toBe(i * 100);
    // Past the last old one: the shift of the last match holds.
    expect(places.place(200_050, 'z')).toBe(200_000);
  });
});
