import { describe, expect, it } from 'vitest';
import { isoTime } from './iso-time.js';

describe('isoTime', () => {
  it('is toISOString for dates across the four-digit years', () => {
    const samples = [0, 1, 999, 86_399_999, Date.UTC(1969, 11, 31, 23, 59, 59, 999), Date.UTC(2000, 1, 29, 12, 0, 0, 7), Date.UTC(9999, 11, 31, 23, 59, 59, 999), Date.UTC(5, 0, 1), -62_167_219_200_000];
    for (let i = 0; i < 2000; i++) samples.push(Math.floor((Math.random() * 2 - 1) * 8e12));
    for (const ms of samples) expect(isoTime(ms)).toBe(new Date(ms).toISOString());
  });

  it('leaves the extended years and invalid dates to toISOString', () => {
    expect(isoTime(Date.UTC(10000, 0, 1))).toBe('+010000-01-01T00:00:00.000Z');
    expect(isoTime(Date.UTC(-1, 0, 1))).toBe('-000001-01-01T00:00:00.000Z');
    expect(() => isoTime(NaN)).toThrow(RangeError);
  });

  it('is now by default', () => {
    const before = Date.now();
    const t = Date.parse(isoTime());
    expect(t).toBeGreaterThanOrEqual(before);
    expect(t).toBeLessThanOrEqual(Date.now());
  });
});
