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

/** A run of old chunks, `first` to `last` (inclusive), around `middle`, the one covering the new chunk's middle. */
export interface ReplacedRun {
  first: number;
  middle: number;
  last: number;
}

/**
 * The run of `old` (chunks back to back, `starts` their offsets, ascending from 0) that a new
 * chunk of `size` bytes at `offset` replaces: the one covering its middle, grown a side at a
 * time by the neighbours its place overlaps, while there are at most `most` and their sizes
 * add up to at most `maxBytes`. Undefined when `old` is empty.
 */
export function replacedRun(starts: readonly number[], old: readonly { size: number }[], offset: number, size: number, most: number, maxBytes: number): ReplacedRun | undefined {
  if (old.length === 0) return undefined;
  const mid = offset + size / 2;
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const m = (lo + hi + 1) >> 1;
    if (starts[m] <= mid) lo = m;
    else hi = m - 1;
  }
  let first = lo;
  let last = lo;
  let bytes = old[lo].size;
  for (let left = true; last - first + 1 < most; left = !left) {
    const canLeft = first > 0 && starts[first] > offset && bytes + old[first - 1].size <= maxBytes;
    const canRight = last + 1 < old.length && starts[last + 1] < offset + size && bytes + old[last + 1].size <= maxBytes;
    if (!canLeft && !canRight) break;
    if (canLeft && (left || !canRight)) bytes += old[--first].size;
    else bytes += old[++last].size;
  }
  return { first, middle: lo, last };
}
