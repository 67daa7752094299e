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
 * first 4 MiB chunk body is freed, every later 128 KiB–4 MiB buffer (staging, whole bodies)
 * comes from the main heap, where freed memory stays in the process in pieces that cannot be
 * given back. Fixed just above the 64 KiB of a socket read: those stay in the heap, reused
 * at once.
 */
export const MMAP_THRESHOLD = 68 << 10;
/**
 * The threshold while chunk bodies wait for memory (200 clients at once): socket reads are
 * mmapped too. A request waiting for its turn holds the read that carried its head, and
 * hundreds of them left the main heap in holes (workload 6: ~10 MB more at the peak than
 * with this); but each read is then 16 fresh pages, 0.8–1 s more CPU per GiB uploaded by
 * one client. So only under pressure.
 */
export const LEAN_MMAP_THRESHOLD = 64 << 10;
/**
 * Free memory at the top of the main heap beyond this goes back to the system: 4 MiB
 * normally (at glibc's 128 KiB the top was given back and faulted in again over and over: a
 * single client's 1 GiB upload made 78–103 k page faults, against 35–77 k before and 44–58 k
 * with this), 128 KiB while bodies wait for memory (workload 6's peak: set medians 199–202 MB
 * with 128 KiB, 208–212 with 4 MiB).
 */
export const TRIM_THRESHOLD = 4 << 20;
export const LEAN_TRIM_THRESHOLD = 128 << 10;

export type MallocTuning = { tuned: true; mmapThreshold: number; trimThreshold: number } | { tuned: false; why: string };

/** Sets glibc's thresholds through the ferry-gcm addon (lean: while bodies wait); where that cannot be, says why and changes nothing. */
export function tuneMalloc(lean = false): MallocTuning {
  const { addon, why } = ferryNative();
  if (!addon) return { tuned: false, why: `the ferry-gcm addon is not used: ${why}` };
  if (typeof addon.tuneMalloc !== 'function') return { tuned: false, why: 'the ferry-gcm addon was built before tuneMalloc (npm rebuild ferry-gcm)' };
  const [mmapThreshold, trimThreshold] = lean ? [LEAN_MMAP_THRESHOLD, LEAN_TRIM_THRESHOLD] : [MMAP_THRESHOLD, TRIM_THRESHOLD];
  if (!addon.tuneMalloc(mmapThreshold, trimThreshold)) return { tuned: false, why: 'the C library is not glibc' };
  return { tuned: true, mmapThreshold, trimThreshold };
}

/**
 * glibc's `malloc_trim(0)` through the ferry-gcm addon: the free pages inside every arena go
 * back to the system, where the trim threshold returns only what sits at the top of the
 * main heap. After a tree of 10,000 small files had been synced, a server held 31–42 MiB of
 * such free memory until its exit (benchmarks/results/issue-15-speed.md, "Workload 6
 * again"). Returns whether anything was given back: false without the addon, with one built
 * before this function, or off glibc (nothing to do there).
 */
export function trimMalloc(): boolean {
  const { addon } = ferryNative();
  return typeof addon?.trimMalloc === 'function' ? addon.trimMalloc() : false;
}

/**
 * The young generation's semi-spaces grow no larger than this (V8's own cap is 16 MiB; both
 * semi-spaces of it are resident under load, 32 MiB). A single client's 1 GiB upload runs
 * the same number of collections either way (~47 scavenges, 7–10 mark-compacts: V8 starts
 * most scavenges for the ArrayBuffers of socket reads, not for a full young generation).
 */
export const MAX_SEMI_SPACE = 4 << 20;
/** The lean thresholds end once no body has had to wait for memory for this long. */
export const LEAN_FOR_MS = 10_000;

/**
 * Caps the young generation's semi-spaces at `maxSemiSpace()` bytes (Infinity: V8's own
 * cap) until the function returned is called, checked after every collection.
 * `--max-semi-space-size` is read only when V8 makes the heap, but
 * `--semi-space-growth-factor` is read each time a scavenge grows the space: it is set to 2
 * (V8's default) while one more doubling stays within the cap, else to 1. V8 still shrinks
 * the space when the process idles. The observer runs between turns of the event loop: a
 * single turn that allocates several times the cap (a server's take well under a megabyte)
 * can grow the space past it, where it stays until V8 shrinks it. `onCollection` runs first,
 * after every collection.
 */
export function capYoungGeneration(maxSemiSpace: () => number, onCollection?: () => void): () => void {
  let factor = 2;
  const adjust = () => {
    onCollection?.();
    const space = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
    if (!space) return;
    // Used + available is one semi-space's capacity (a little under what it commits).
    const next = 2 * (space.space_used_size + space.space_available_size) <= maxSemiSpace() ? 2 : 1;
    if (next === factor) return;
    factor = next;
    setFlagsFromString(`--semi-space-growth-factor=${next}`);
  };
  adjust();
  const observer = new PerformanceObserver(adjust);
  observer.observe({ entryTypes: ['gc'] });
  return () => {
    observer.disconnect();
    if (factor !== 2) setFlagsFromString('--semi-space-growth-factor=2');
  };
}

/**
 * The server's memory settings: the young generation capped at {@link MAX_SEMI_SPACE}, and
 * glibc's thresholds at {@link MMAP_THRESHOLD} and {@link TRIM_THRESHOLD}, or the lean ones
 * while chunk bodies wait for memory. `waits()` counts the bodies that ever had to wait (BodyMemory's
 * `waits`), read after each collection (no timer: an idle server collects nothing); lean from
 * the first collection after it moved until it has not moved for {@link LEAN_FOR_MS}. A
 * single client's upload never waits, and so never pays for the lean threshold's page
 * faults. Returns what it did, and a function that stops it.
 */
export function leanUnderPressure(
  waits: () => number,
  now: () => number = Date.now,
): { state: () => { lean: boolean; malloc: MallocTuning }; trimDuring: (collect: () => Promise<void>) => Promise<void>; stop: () => void } {
  let malloc = tuneMalloc();
  let seen = waits();
  let lean = false;
  let pressureAt = 0;
  const setLean = (on: boolean) => {
    lean = on;
    if (malloc.tuned) malloc = tuneMalloc(on);
  };
  const check = () => {
    const w = waits();
    if (w !== seen) {
      seen = w;
      pressureAt = now();
      if (!lean) setLean(true);
    } else if (lean && now() - pressureAt > LEAN_FOR_MS) setLean(false);
  };
  const stop = capYoungGeneration(() => MAX_SEMI_SPACE, check);
  /**
   * Runs `collect` (the full collection once the server is ready, or idle after traffic)
   * with the lean trim threshold: what it frees at the top of glibc's main heap goes back to
   * the system at once, where the normal 4 MiB would keep it for later allocations. An idle
   * server then holds 1.5 MiB less (64.0 -> 62.5 MiB). The normal thresholds return after
   * it, unless bodies started waiting meanwhile. Then {@link trimMalloc}: what the
   * collection and the traffic before it freed inside the heaps goes back too.
   */
  const trimDuring = async (collect: () => Promise<void>) => {
    if (!malloc.tuned || lean) {
      await collect();
    } else {
      malloc = tuneMalloc(true);
      try {
        await collect();
      } finally {
        if (!lean) malloc = tuneMalloc(false);
      }
    }
    trimMalloc();
  };
  return { state: () => ({ lean, malloc }), trimDuring, stop };
}

/** Says what {@link tuneMalloc} did at start: a debug log line, and NODE_DEBUG=ferry (before the logger's level is known). */
export function reportMemorySettings(malloc: MallocTuning, log: { debug(o: object, msg: string): void }): void {
  nativeDebug('allocator: %s; young generation semi-spaces at most %d MiB', malloc.tuned ? `glibc mmap threshold ${malloc.mmapThreshold}, trim threshold ${malloc.trimThreshold} (${LEAN_MMAP_THRESHOLD} and ${LEAN_TRIM_THRESHOLD} while bodies wait for memory)` : `unchanged (${malloc.why})`, MAX_SEMI_SPACE >> 20);
  log.debug({ malloc, leanMmapThreshold: LEAN_MMAP_THRESHOLD, leanTrimThreshold: LEAN_TRIM_THRESHOLD, maxSemiSpace: MAX_SEMI_SPACE }, 'memory settings');
}
