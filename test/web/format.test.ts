/** The web app's sizes, rates and times for people (web/src/format.ts). */
import { describe, expect, it } from 'vitest';
import { PACE_AFTER_MS, formatCount, formatEta, formatRate, formatSize, overallPace } from '../../web/src/format.js';

describe('web format', () => {
  it('counts: one is singular, digits grouped by thousands', () => {
    expect(formatCount(0, 'file')).toBe('0 files');
    expect(formatCount(1, 'file')).toBe('1 file');
    expect(formatCount(10_000, 'file')).toBe('10,000 files');
    expect(formatCount(2, 'entry', 'entries')).toBe('2 entries');
  });

  it('sizes and rates below 1 KiB are whole bytes, larger ones one decimal under 10', () => {
    expect(formatRate(70.3674745893181)).toBe('70 B/s');
    expect(formatSize(0)).toBe('0 B');
    expect(formatSize(1023.6)).toBe('1.0 KiB');
    expect(formatSize(1024 * 1024 - 6)).toBe('1.0 MiB'); // 1023.99 KiB: a drop box's "1024 KiB left of 1.0 MiB" before
    expect(formatSize(1023 * 1024)).toBe('1023 KiB');
    expect(formatSize(1536)).toBe('1.5 KiB');
    expect(formatSize(57 * 2 ** 20)).toBe('57 MiB');
    expect(formatSize(Number.NaN)).toBe('—');
  });

  it('times left', () => {
    expect(formatEta(852_660)).toBe('236 h 51 min left');
    expect(formatEta(61)).toBe('1 min 1 s left');
    expect(formatEta(undefined)).toBe('');
  });

  it('no rate or time left in the first seconds of an upload, or before a byte is done; then the average since the start', () => {
    // Many small files started at once: 6 bytes in 200 ms would read "236 h" for 1.9 MiB.
    expect(overallPace(2_000_000, 6, 200)).toBeUndefined();
    expect(overallPace(2_000_000, 0, 60_000)).toBeUndefined();
    expect(overallPace(2_000_000, 1000, PACE_AFTER_MS - 1)).toBeUndefined();
    expect(overallPace(4_000_000, 1_000_000, 10_000)).toEqual({ rate: 100_000, etaSeconds: 40 });
    expect(overallPace(-5, 1000, PACE_AFTER_MS)).toEqual({ rate: 200, etaSeconds: 0 });
  });
});
