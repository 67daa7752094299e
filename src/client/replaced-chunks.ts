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
import { chunkAt } from '../core/chunk-refs.js';

/** A run of old chunks, `first` to `last` (inclusive), around `middle`, the one covering the new chunk's middle. */
export interface ReplacedRun {
  first: number;
  middle: number;
  last: number;
}

/**
 * The run of old chunks (`offsets`: where each starts, and the total at the end, as
 * chunkOffsets gives them) that a new chunk of `size` bytes at `offset` replaces: the one
 * covering its middle, grown a side at a time by the neighbours its place overlaps, while
 * there are at most `most` and their sizes add up to at most `maxBytes`. Undefined when
 * there are no old chunks.
 */
export function replacedRun(offsets: readonly number[], offset: number, size: number, most: number, maxBytes: number): ReplacedRun | undefined {
  const count = offsets.length - 1;
  if (count < 1) return undefined;
  const sizeOf = (i: number) => offsets[i + 1] - offsets[i];
  const middle = chunkAt(offsets, offset + size / 2);
  let first = middle;
  let last = middle;
  let bytes = sizeOf(middle);
  for (let left = true; last - first + 1 < most; left = !left) {
    const canLeft = first > 0 && offsets[first] > offset && bytes + sizeOf(first - 1) <= maxBytes;
    const canRight = last + 1 < count && offsets[last + 1] < offset + size && bytes + sizeOf(last + 1) <= maxBytes;
    if (!canLeft && !canRight) break;
    if (canLeft && (left || !canRight)) bytes += sizeOf(--first);
    else bytes += sizeOf(++last);
  }
  return { first, middle, last };
}
