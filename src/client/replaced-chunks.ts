/**
 * Which chunks of an older version of a file a new chunk replaces: the bases of its delta,
 * on upload (old chunks on the server, FerryApi.putChunk) and on download (the bytes of an
 * older local copy, FerryApi.getChunkDelta).
 *
 * The old chunk covering the middle of the new one's place, and its neighbours that the place
 * overlaps too: an edit that erases a cut makes one new chunk out of two old ones, and a
 * delta against either alone carries the other's bytes (more than half the chunk, so the
 * chunk travelled whole).
 */
import { chunkAt, type ChunkRef } from '../core/chunk-refs.js';

/** A run of old chunks, `first` to `last` (inclusive), around `middle`, the one covering the new chunk's middle. */
export interface ReplacedRun {
  first: number;
  middle: number;
  last: number;
}

/**
 * The run of old chunks (`offsets`: where each starts, and the total at the end, as
 * chunkOffsets gives them) that a new chunk of `size` bytes at `offset` replaces: the one
 * covering its middle, grown a side at a time by the neighbours its place overlaps by more
 * than `slack` bytes, while there are at most `most` and their sizes add up to at most
 * `maxBytes`. Undefined when there are no old chunks.
 */
export function replacedRun(offsets: readonly number[], offset: number, size: number, most: number, maxBytes: number, slack = 0): ReplacedRun | undefined {
  const count = offsets.length - 1;
  if (count < 1) return undefined;
  const sizeOf = (i: number) => offsets[i + 1] - offsets[i];
  const middle = chunkAt(offsets, offset + size / 2);
  let first = middle;
  let last = middle;
  let bytes = sizeOf(middle);
  for (let left = true; last - first + 1 < most; left = !left) {
    const canLeft = first > 0 && offsets[first] > offset + slack && bytes + sizeOf(first - 1) <= maxBytes;
    const canRight = last + 1 < count && offsets[last + 1] < offset + size - slack && bytes + sizeOf(last + 1) <= maxBytes;
    if (!canLeft && !canRight) break;
    if (canLeft && (left || !canRight)) bytes += sizeOf(--first);
    else bytes += sizeOf(++last);
  }
  return { first, middle, last };
}

/**
 * Where the new version's chunks, taken in file order, lie in the old version: an edit that
 * inserted or removed bytes moves everything after it, so a new chunk's own offset points
 * as far into the wrong old chunk (workload 8b of the bench: a package added to a tar moved
 * the rest by 1.8 MB, about a chunk). Each new chunk equal to an old one (after the last
 * such) says by how much; an edited chunk is placed by the last of them before it.
 */
export class OldPlaces {
  /** Per hash: where it lies in the old version, in order, and how many of those lie behind the last match. */
  private readonly indices = new Map<string, { at: number[]; passed: number }>();
  private lastOld = -1;
  private shift = 0;

  constructor(
    old: readonly ChunkRef[],
    private readonly offsets: readonly number[],
  ) {
    old.forEach((c, i) => {
      const e = this.indices.get(c.hash);
      if (e) e.at.push(i);
      else this.indices.set(c.hash, { at: [i], passed: 0 });
    });
  }

  /** The offset in the old version where the new chunk `hash` at `offset` belongs; call for every new chunk, in file order. */
  place(offset: number, hash: string): number {
    const e = this.indices.get(hash);
    if (e) {
      // The last match only moves forward, so each list is walked once in all (a disk image
      // of thousands of identical chunks stays linear).
      while (e.passed < e.at.length && e.at[e.passed] <= this.lastOld) e.passed++;
      if (e.passed < e.at.length) {
        const j = e.at[e.passed];
        this.lastOld = j;
        this.shift = offset - this.offsets[j];
      }
    }
    return offset - this.shift;
  }
}
