import { describe, expect, it } from 'vitest';
import { isFerryError } from '../core/errors.js';
import { SLICE_BYTES, TokenBucket, type Clock } from '../core/token-bucket.js';
import { parseRate } from './bandwidth.js';

/** A clock that only moves when someone sleeps: time is exact, tests are instant. */
function fakeClock(): Clock & { t: number } {
  const c = {
    t: 0,
    now: () => c.t,
    sleep: async (ms: number) => {
      c.t += ms;
    },
  };
  return c;
}

describe('TokenBucket', () => {
  it('lets the burst through at once, then paces at the rate', async () => {
    const clock = fakeClock();
    const lim = new TokenBucket(1_000_000, 100_000, clock);
    await lim.take(100_000);
    expect(clock.t).toBe(0);
    await lim.take(500_000);
    expect(clock.t).toBeCloseTo(500, 6);
  });

  it('holds the long-run rate however the bytes are split among callers', async () => {
    const clock = fakeClock();
    const rate = 10 * 1024 * 1024;
    const lim = new TokenBucket(rate, SLICE_BYTES, clock);
    // Four "transfers" taking turns, as parallel uploads would.
    let total = 0;
    for (let i = 0; i < 400; i++) {
      const n = [SLICE_BYTES, 1000, 30_000, SLICE_BYTES][i % 4];
      await lim.take(n);
      total += n;
    }
    const expectedMs = ((total - SLICE_BYTES) / rate) * 1000;
    expect(clock.t).toBeGreaterThanOrEqual(expectedMs - 1);
    expect(clock.t).toBeLessThanOrEqual(expectedMs + 1);
  });

  it('refills while idle, but never beyond the burst', async () => {
    const clock = fakeClock();
    const lim = new TokenBucket(1000, 500, clock);
    await lim.take(500);
    clock.t += 60_000; // a minute idle earns 60 000 tokens, capped at 500
    await lim.take(500);
    expect(clock.t).toBe(60_000);
    await lim.take(1000);
    expect(clock.t).toBe(61_000);
  });

  it('throttles a buffer into slices', async () => {
    const clock = fakeClock();
    const lim = new TokenBucket(SLICE_BYTES, SLICE_BYTES, clock);
    const data = Buffer.alloc(3 * SLICE_BYTES + 10);
    const slices: number[] = [];
    for await (const s of lim.throttle(data)) slices.push(s.length);
    expect(slices).toEqual([SLICE_BYTES, SLICE_BYTES, SLICE_BYTES, 10]);
    expect(clock.t).toBeCloseTo(2000 + (10 / SLICE_BYTES) * 1000, 6);
  });

  it('rejects with FERRY_ERR_ABORTED when the signal aborts', async () => {
    const lim = new TokenBucket(1, 1);
    await lim.take(1);
    const ac = new AbortController();
    const p = lim.take(10_000, ac.signal);
    ac.abort();
    await expect(p).rejects.toSatisfy((e) => isFerryError(e, 'FERRY_ERR_ABORTED'));
  });

  it('refuses a non-positive rate', () => {
    expect(() => new TokenBucket(0)).toThrow(expect.objectContaining({ code: 'FERRY_ERR_CONFIG' }));
  });
});

describe('parseRate', () => {
  it('reads rclone-style limits as binary multiples', () => {
    expect(parseRate('10M')).toBe(10 * 1024 * 1024);
    expect(parseRate('512k')).toBe(512 * 1024);
    expect(parseRate('1.5G')).toBe(1.5 * 1024 ** 3);
    expect(parseRate('10MiB/s')).toBe(10 * 1024 * 1024);
    expect(parseRate('2MB')).toBe(2 * 1024 * 1024);
    expect(parseRate('1000')).toBe(1000 * 1024); // rclone: a bare number is KiB/s
    expect(parseRate('1000B')).toBe(1000);
    expect(parseRate('100b')).toBe(100);
  });

  it('treats 0, off and empty as no limit', () => {
    expect(parseRate('0')).toBeUndefined();
    expect(parseRate('off')).toBeUndefined();
    expect(parseRate('')).toBeUndefined();
  });

  it('refuses nonsense with a usage error', () => {
    for (const bad of ['fast', '10X', '-5M', 'M10']) {
      let caught: unknown;
      try {
        parseRate(bad);
      } catch (e) {
        caught = e;
      }
      expect(isFerryError(caught, 'FERRY_ERR_USAGE'), bad).toBe(true);
      expect((caught as Error).message).toMatch(/not a bandwidth limit/);
    }
  });
});
