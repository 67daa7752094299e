/** The web app's sizes, rates and times for people (web/src/format.ts). */
import { describe, expect, it } from 'vitest';
import { formatEta, formatRate, formatSize } from '../../web/src/format.js';

describe('web format', () => {
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
});
