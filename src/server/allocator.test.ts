import { execFileSync } from 'node:child_process';
import { Session } from 'node:inspector';
import { createRequire } from 'node:module';
import { getHeapSpaceStatistics } from 'node:v8';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { capYoungGeneration, LEAN_FOR_MS, LEAN_MMAP_THRESHOLD, LEAN_TRIM_THRESHOLD, MAX_SEMI_SPACE, leanUnderPressure, MMAP_THRESHOLD, TRIM_THRESHOLD, trimMalloc, tuneMalloc } from './allocator.js';

/** One semi-space's capacity, bytes. */
const semiSpace = () => {
  const s = getHeapSpaceStatistics().find((x) => x.space_name === 'new_space')!;
  return s.space_used_size + s.space_available_size;
};

/** V8's LowMemoryNotification (as `settleHeapAfterStart` does): the young generation back to its initial 1 MB semi-spaces. */
async function shrinkHeap(): Promise<void> {
  const session = new Session();
  session.connect();
  await new Promise<void>((resolve, reject) => session.post('HeapProfiler.collectGarbage', (err) => (err ? reject(err) : resolve())));
  await new Promise((r) => setImmediate(r));
  session.disconnect();
}

/**
 * Allocates objects that outlive a scavenge or two (what makes V8 grow the young generation),
 * in turns of the event loop of ~0.3 MB each, as a server's are (the cap is applied between
 * turns).
 */
async function churn(): Promise<void> {
  let keep: object[] = [];
  for (let round = 0; round < 800; round++) {
    for (let i = 0; i < 5_000; i++) {
      keep.push({ i, s: `x${i}` });
      if (keep.length > 200_000) keep = [];
    }
    await new Promise((r) => setImmediate(r));
  }
  expect(keep.length).toBeGreaterThan(0);
}

describe('the server allocator settings', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
    vi.doUnmock('../core/native-addon.js');
    vi.resetModules();
  });

  it('caps the young generation while asked to, and V8 grows it past the cap once no longer asked', async () => {
    await shrinkHeap();
    const initial = semiSpace();
    expect(initial).toBeLessThan(2 << 20);
    let collections = 0;
    const stop = capYoungGeneration(
      () => 2 << 20,
      () => collections++,
    );
    await churn();
    // It grew, up to the cap and not past it.
    expect(semiSpace()).toBeGreaterThan(initial);
    expect(semiSpace()).toBeLessThanOrEqual(2 << 20);
    expect(collections).toBeGreaterThan(0);
    stop();
    await churn();
    expect(semiSpace()).toBeGreaterThan(2 << 20);
  });

  it('mmaps socket reads while bodies wait for memory, and no longer once none has waited for a while; caps the young generation throughout', async () => {
    await shrinkHeap();
    let waits = 0;
    let clock = 0;
    const memory = leanUnderPressure(
      () => waits,
      () => clock,
    );
    try {
      expect(memory.state()).toEqual({ lean: false, malloc: { tuned: true, mmapThreshold: MMAP_THRESHOLD, trimThreshold: TRIM_THRESHOLD } });
      waits = 3; // bodies had to wait: seen after the next collection
      await churn();
      expect(memory.state()).toEqual({ lean: true, malloc: { tuned: true, mmapThreshold: LEAN_MMAP_THRESHOLD, trimThreshold: LEAN_TRIM_THRESHOLD } });
      clock += LEAN_FOR_MS / 2;
      await churn();
      expect(memory.state().lean).toBe(true);
      clock += LEAN_FOR_MS;
      await churn();
      expect(memory.state()).toEqual({ lean: false, malloc: { tuned: true, mmapThreshold: MMAP_THRESHOLD, trimThreshold: TRIM_THRESHOLD } });
      // The young generation stays capped either way.
      expect(semiSpace()).toBeLessThanOrEqual(MAX_SEMI_SPACE);
    } finally {
      memory.stop();
    }
  });

  it('runs the settle collection with the lean trim threshold, and the normal ones after it unless bodies wait', async () => {
    let waits = 0;
    let clock = 0;
    const memory = leanUnderPressure(
      () => waits,
      () => clock,
    );
    const lean = { tuned: true, mmapThreshold: LEAN_MMAP_THRESHOLD, trimThreshold: LEAN_TRIM_THRESHOLD };
    const normal = { tuned: true, mmapThreshold: MMAP_THRESHOLD, trimThreshold: TRIM_THRESHOLD };
    try {
      let during: unknown;
      await memory.trimDuring(async () => {
        during = memory.state().malloc;
        await shrinkHeap();
      });
      expect(during).toEqual(lean);
      expect(memory.state()).toEqual({ lean: false, malloc: normal });
      // A collection that fails still restores them.
      await expect(memory.trimDuring(() => Promise.reject(new Error('no')))).rejects.toThrow('no');
      expect(memory.state()).toEqual({ lean: false, malloc: normal });
      // Bodies waiting when it runs: lean before, during and after.
      waits = 1;
      await churn();
      expect(memory.state()).toEqual({ lean: true, malloc: lean });
      await memory.trimDuring(async () => {
        during = memory.state().malloc;
      });
      expect(during).toEqual(lean);
      expect(memory.state()).toEqual({ lean: true, malloc: lean });
    } finally {
      memory.stop();
      tuneMalloc();
    }
  });

  it('sets glibc thresholds through the ferry-gcm addon (built here, on glibc)', () => {
    expect(tuneMalloc()).toEqual({ tuned: true, mmapThreshold: MMAP_THRESHOLD, trimThreshold: TRIM_THRESHOLD });
    expect(tuneMalloc(true)).toEqual({ tuned: true, mmapThreshold: LEAN_MMAP_THRESHOLD, trimThreshold: LEAN_TRIM_THRESHOLD });
    expect(tuneMalloc()).toEqual({ tuned: true, mmapThreshold: MMAP_THRESHOLD, trimThreshold: TRIM_THRESHOLD });
  });

  it('gives back the free memory inside the heap with trimMalloc (the addon built here, on glibc)', () => {
    // In a Node of its own: 120 MB of 60 KB buffers (below the mmap threshold: in the main
    // heap), one in ten kept, so the freed ones are holes the trim threshold cannot return.
    const addon = createRequire(import.meta.url).resolve('ferry-gcm');
    const script = `
      const addon = require(${JSON.stringify(addon)});
      addon.tuneMalloc(${MMAP_THRESHOLD}, ${TRIM_THRESHOLD});
      let all = [];
      for (let i = 0; i < 2000; i++) all.push(Buffer.alloc(60000, 1));
      const kept = all.filter((_, i) => i % 10 === 0);
      all = null;
      // V8 frees the buffers' memory after the collection, off the main thread: wait for it.
      const freed = () => {
        gc();
        if (process.memoryUsage().arrayBuffers > 20e6) return setTimeout(freed, 10);
        const held = process.memoryUsage().rss;
        const trimmed = addon.trimMalloc();
        console.log(JSON.stringify({ held, after: process.memoryUsage().rss, trimmed, kept: kept.length }));
      };
      freed();`;
    const out = JSON.parse(execFileSync(process.execPath, ['--expose-gc', '-e', script], { encoding: 'utf8' })) as { held: number; after: number; trimmed: boolean };
    expect(out.trimmed).toBe(true);
    expect(out.held - out.after).toBeGreaterThan(50e6);
    expect(trimMalloc()).toEqual(expect.any(Boolean));
  });

  it('trims after the collection it runs, whether bodies wait or not', async () => {
    const events: string[] = [];
    vi.doMock('../core/native-addon.js', () => ({ ferryNative: () => ({ addon: { tuneMalloc: () => true, trimMalloc: () => events.push('trim') > 0 } }), nativeDebug: () => {} }));
    const allocator = await import('./allocator.js');
    let waits = 0;
    const memory = allocator.leanUnderPressure(() => waits);
    try {
      await memory.trimDuring(async () => {
        events.push('collect');
      });
      expect(events).toEqual(['collect', 'trim']);
      waits = 1;
      await churn();
      expect(memory.state().lean).toBe(true);
      await memory.trimDuring(async () => {
        events.push('collect');
      });
      expect(events).toEqual(['collect', 'trim', 'collect', 'trim']);
    } finally {
      memory.stop();
    }
  });

  it('changes nothing, and says why, without the addon, with an addon built before it, or off glibc', async () => {
    vi.stubEnv('FERRY_NATIVE_GCM', '0');
    vi.resetModules();
    expect((await import('./allocator.js')).tuneMalloc()).toEqual({ tuned: false, why: 'the ferry-gcm addon is not used: FERRY_NATIVE_GCM=0' });
    expect((await import('./allocator.js')).trimMalloc()).toBe(false);
    for (const [addon, why] of [
      [{}, 'the ferry-gcm addon was built before tuneMalloc (npm rebuild ferry-gcm)'],
      [{ tuneMalloc: () => false }, 'the C library is not glibc'],
    ] as const) {
      vi.resetModules();
      vi.doMock('../core/native-addon.js', () => ({ ferryNative: () => ({ addon }), nativeDebug: () => {} }));
      expect((await import('./allocator.js')).tuneMalloc()).toEqual({ tuned: false, why });
      expect((await import('./allocator.js')).trimMalloc()).toBe(false);
    }
  });
});
