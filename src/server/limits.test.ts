import { describe, expect, it } from 'vitest';
import { FixedWindow } from './limits.js';

describe('FixedWindow', () => {
  it('allows max hits per window, says how long to wait, and starts over after it', () => {
    let now = 1000;
    const w = new FixedWindow(3, 60_000, () => now);
    expect([w.hit('a'), w.hit('a'), w.hit('a')]).toEqual([0, 0, 0]);
    now += 10_000;
    expect(w.hit('a')).toBe(50_000);
    expect(w.hit('b')).toBe(0); // keys are independent
    now += 50_000;
    expect(w.hit('a')).toBe(0);
  });

  it('keeps at most maxKeys windows, dropping finished ones first, then the oldest', () => {
    let now = 0;
    const w = new FixedWindow(1, 1000, () => now, 10);
    for (let i = 0; i < 10; i++) w.hit(`old${i}`);
    now = 2000; // all finished
    for (let i = 0; i < 5; i++) w.hit(`new${i}`);
    expect(w.size).toBe(5);
    for (let i = 0; i < 20; i++) w.hit(`more${i}`);
    expect(w.size).toBeLessThanOrEqual(10);
    expect(w.hit('more19')).toBeGreaterThan(0); // the newest survived: this is its second hit
  });
});
