import { describe, expect, it } from 'vitest';
import { trimTrailingSlashes } from './path.js';
import { formatSize, parseDuration, parseRcloneSize, parseSize, sizeFlagText } from './units.js';

describe('units', () => {
  it('parses sizes: a bare letter or an i is binary, a B after the letter decimal', () => {
    expect(parseSize('0')).toBe(0);
    expect(parseSize('100B')).toBe(100);
    expect(parseSize('512k')).toBe(512 * 1024);
    expect(parseSize('10M')).toBe(10 * 1024 ** 2);
    expect(parseSize('10Mi')).toBe(10 * 1024 ** 2);
    expect(parseSize('1.5GiB')).toBe(1.5 * 1024 ** 3);
    expect(parseSize('10 GiB')).toBe(10 * 1024 ** 3);
    expect(parseSize('7MB')).toBe(7_000_000);
    expect(parseSize('10 GB')).toBe(10_000_000_000);
    expect(parseSize('10gb')).toBe(10_000_000_000);
    expect(parseSize('2TB')).toBe(2e12);
    expect(() => parseSize('ten')).toThrow(/not a size/);
    expect(() => parseSize('-1')).toThrow(/not a size/);
    expect(() => parseSize('10 GBi')).toThrow(/not a size/);
    expect(() => parseSize('10X')).toThrow(/not a size/);
  });
  // Linear: 200 KB of input returns in milliseconds; the quadratic regexes took 12 s on
  // 100 KB here, about 50 s on this. No time is asserted: the timeout, a thousand times what
  // it takes, only bounds a return that never comes.
  it('reads 200 KB of a size, a duration or trailing slashes in linear time', { timeout: 20_000 }, () => {
    const spaces = ' '.repeat(200_000);
    expect(() => parseSize(`1${spaces}x`)).toThrow(/not a size/);
    expect(parseSize(`${spaces}10${spaces}M${spaces}`)).toBe(10 * 1024 ** 2);
    expect(() => parseRcloneSize(`1${spaces}x`)).toThrow(/not a size/);
    expect(() => parseDuration(`1${spaces}x`)).toThrow(/not a duration/);
    expect(() => parseDuration(`${'1h'.repeat(100_000)}x`)).toThrow(/not a duration/);
    expect(trimTrailingSlashes(`${'/'.repeat(200_000)}x`)).toBe(`${'/'.repeat(200_000)}x`);
    expect(trimTrailingSlashes(`http://h/ferry${'/'.repeat(200_000)}`)).toBe('http://h/ferry');
    expect(trimTrailingSlashes('///')).toBe('');
  });
  it("reads a bare number given to rclone's size flags as KiB, as rclone does", () => {
    expect(parseRcloneSize('10')).toBe(10 * 1024);
    expect(parseRcloneSize(' 1.5 ')).toBe(1536);
    expect(parseRcloneSize('0')).toBe(0);
    expect(parseRcloneSize('10B')).toBe(10);
    expect(parseRcloneSize('10k')).toBe(10 * 1024);
    expect(parseRcloneSize('2M')).toBe(2 * 1024 ** 2);
    expect(parseRcloneSize('2MB')).toBe(2 * 1024 ** 2); // rclone's reading, not the SI's
    expect(() => parseRcloneSize('ten')).toThrow(/not a size/);
  });
  it('parses durations', () => {
    expect(parseDuration('90')).toBe(90_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('7d')).toBe(7 * 86_400_000);
    expect(parseDuration('250ms')).toBe(250);
    expect(() => parseDuration('1x')).toThrow(/not a duration/);
    expect(() => parseDuration('1h junk')).toThrow(/not a duration/);
  });
  it('formats sizes', () => {
    expect(formatSize(10)).toBe('10 B');
    expect(formatSize(1536)).toBe('1.50 KiB');
    expect(formatSize(1024 * 1024 - 6)).toBe('1.00 MiB'); // not "1024 KiB"
    expect(formatSize(1023.6)).toBe('1.00 KiB');
    expect(formatSize(1023 * 1024)).toBe('1023 KiB');
    expect(formatSize(1024 ** 3 * 12.34)).toBe('12.3 GiB');
  });

  it('sizeFlagText names a minimum as a flag takes it, rounded up so that it is always enough', () => {
    expect(sizeFlagText(16 * 1024 * 1024)).toBe('16M');
    expect(sizeFlagText(22369622)).toBe('22M');
    expect(sizeFlagText(1.5 * 1024 ** 3)).toBe('1536M');
    expect(sizeFlagText(2 * 1024 ** 3)).toBe('2G');
    expect(sizeFlagText(1000)).toBe('1000');
    for (const n of [16 * 1024 * 1024, 22369622, 1.5 * 1024 ** 3, 5000, 1000]) expect(parseSize(sizeFlagText(n))).toBeGreaterThanOrEqual(n);
  });
});
