/**
 * Memory settings the server makes for itself at start: Node has command-line flags for
 * them, but `ferry serve` is started as `ferry serve` (or `node bin/ferry.js serve`, `npm
 * start`), and re-executing itself with flags would cost the start a second Node.
 *
 * Measured with the bench's workload 6 (200 clients each uploading 4 MiB at once: 800 chunk
 * PUTs in flight) on a server peaking at ~240 MB: V8's heap ~66 MB of it (the young
 * generation alone ~32 MB, its semi-spaces grown to 16 MiB), ArrayBuffers ~46 MB, glibc's main
 * heap ~97 MB. benchmarks/results/issue-15-speed.md, "Workload 6's peak" (branch w6peak).
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { ferryNative, nativeDebug } from '../core/native-addon.js';

/**
 * Blocks of this size and more are mmapped by glibc and unmapped when freed. glibc's default
 * is 128 KiB but slides up to the size of each mmapped block freed (up to 32 MiB): after the
 * first 4 MiB chunk body is freed, every later 64 KiB–4 MiB buffer (socket reads, staging,
 * whole bodies) comes from the main heap, where freed memory stays in the process in pieces
 * that cannot be given back. A fixed 64 KiB keeps those out of it.
 */
export const MMAP_THRESHOLD = 64 << 10;
/** Free memory at the top of the main heap beyond this goes back to the system (glibc's default, fixed). */
export const TRIM_THRESHOLD = 128 << 10;

export type MallocTuning = { tuned: true; mmapThreshold: number; trimThreshold: number } | { tuned: false; why: string };

/** Sets glibc's thresholds through the ferry-gcm addon; where that cannot be, says why and changes nothing. */
export function tuneMalloc(): MallocTuning {
  const { addon, why } = ferryNative();
  if (!addon) return { tuned: false, why: `the ferry-gcm addon is not used: ${why}` };
  if (typeof addon.tuneMalloc !== 'function') return { tuned: false, why: 'the ferry-gcm addon was built before tuneMalloc (npm rebuild ferry-gcm)' };
  if (!addon.tuneMalloc(MMAP_THRESHOLD, TRIM_THRESHOLD)) return { tuned: false, why: 'the C library is not glibc' };
  return { tuned: true, mmapThreshold: MMAP_THRESHOLD, trimThreshold: TRIM_THRESHOLD };
}

/**
 * The young generation's semi-spaces grow no larger than this (V8's own cap is 16 MiB; both
 * semi-spaces of it are resident under load, 32 MiB).
 */
export const MAX_SEMI_SPACE = 4 << 20;

/**
 * Caps the young generation's semi-spaces at `maxSemiSpace` bytes for as long as the process
 * runs (or until the function returned is called). `--max-semi-space-size` is read only when
 * V8 makes the heap, but `--semi-space-growth-factor` is read each time a scavenge grows the
 * space: after every collection the factor is set to 2 (V8's default) while one more
 * doubling stays within the cap, else to 1. V8 still shrinks the space when the server
 * idles; it grows back, up to the cap, under load. The observer runs between turns of the
 * event loop: a single turn that allocates several times the cap (a server's take well under
 * a megabyte) can grow the space past it, where it stays until V8 shrinks it.
 */
export function capYoungGeneration(maxSemiSpace = MAX_SEMI_SPACE): () => void {
  let factor = 2;
  const adjust = () => {
    const space = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
    if (!space) return;
    // Used + available is one semi-space's capacity (a little under what it commits).
    const next = 2 * (space.space_used_size + space.space_available_size) <= maxSemiSpace ? 2 : 1;
    if (next === factor) return;
    factor = next;
    setFlagsFromString(`--semi-space-growth-factor=${next}`);
  };
  adjust();
  const observer = new PerformanceObserver(adjust);
  observer.observe({ entryTypes: ['gc'] });
  return () => {
    observer.disconnect();
    setFlagsFromString('--semi-space-growth-factor=2');
  };
}

/** Says what {@link tuneMalloc} did: a debug log line, and NODE_DEBUG=ferry (before the logger's level is known). */
export function reportMemorySettings(malloc: MallocTuning, log: { debug(o: object, msg: string): void }): void {
  nativeDebug('allocator: %s; young generation semi-spaces at most %d MiB', malloc.tuned ? `glibc mmap threshold ${malloc.mmapThreshold}, trim threshold ${malloc.trimThreshold}` : `unchanged (${malloc.why})`, MAX_SEMI_SPACE >> 20);
  log.debug({ malloc, maxSemiSpace: MAX_SEMI_SPACE }, 'memory settings');
}
