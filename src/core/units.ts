/**
 * Human units on the command line and in config: sizes (`10M`, `1.5GiB`, `512k`) and
 * durations (`90s`, `24h`, `7d`, `1h30m`). Sizes use binary multiples (k = 1024), as
 * rclone's --bwlimit and --max-size do.
 */
import { UsageError } from './errors.js';

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };

/** `10M` -> 10485760. Accepts an optional `i`/`ib`/`b` suffix (`10MiB`, `10MB`, `10m`). */
export function parseSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?\s*$/i.exec(text);
  if (!m) throw new UsageError(`not a size: ${JSON.stringify(text)} (examples: 512k, 10M, 1.5G)`);
  const value = Number(m[1]) * SIZE_UNITS[m[2].toLowerCase()];
  if (!Number.isFinite(value) || value > Number.MAX_SAFE_INTEGER) throw new UsageError(`size out of range: ${text}`);
  return Math.round(value);
}

/**
 * A size given to one of rclone's flags (`--bwlimit`, `--min-size`, `--max-size`): as
 * {@link parseSize}, except that a bare number is KiB, as rclone reads it (`--max-size 100`
 * is 100 KiB; `100B` is 100 bytes). Read as bytes, a line copied from an rclone script
 * would select other files, or crawl at a thousandth of its rate.
 */
export function parseRcloneSize(text: string): number {
  return /^\s*\d+(?:\.\d+)?\s*$/.test(text) ? parseSize(`${text.trim()}k`) : parseSize(text);
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000, y: 31_536_000_000 };

/** `1h30m` -> 5400000 ms. A bare number means seconds. */
export function parseDuration(text: string): number {
  const t = text.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Math.round(Number(t) * 1000);
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)/gy;
  let total = 0;
  let end = 0;
  for (let m = re.exec(t); m; m = re.exec(t)) {
    total += Number(m[1]) * DURATION_UNITS[m[2]];
    end = re.lastIndex;
  }
  if (end === 0 || end !== t.length) throw new UsageError(`not a duration: ${JSON.stringify(text)} (examples: 90s, 15m, 24h, 7d)`);
  return Math.round(total);
}

/** `1 file`, `2 files`, `0 files`: a count and its noun (`plural` when not noun + s). */
export function countOf(n: number, noun: string, plural = `${noun}s`): string {
  return `${n} ${n === 1 ? noun : plural}`;
}

/** 1536 -> "1.5 KiB". */
export function formatSize(bytes: number): string {
  if (!Number.isFinite(bytes)) return '?';
  if (bytes < 0) return `-${formatSize(-bytes)}`;
  // 1023.5 and up would show as "1024": the next unit then (1048570 bytes is 1.00 MiB, not 1024 KiB).
  if (bytes < 1023.5) return `${Math.round(bytes)} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = bytes;
  let i = -1;
  do {
    v /= 1024;
    i++;
  } while (v >= 1023.5 && i < units.length - 1);
  return `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)} ${units[i]}`;
}
