/**
 * Human units on the command line and in config: sizes (`10M`, `1.5GiB`, `512k`, `10GB`) and
 * durations (`90s`, `24h`, `7d`, `1h30m`). A bare letter or an `i` means binary multiples
 * (`10M` = `10MiB` = 10 × 2^20, as rclone's --bwlimit and --max-size read `10M`); a `B` right
 * after the letter means decimal ones, as disks and the SI write them (`10GB` = 10 × 10^9).
 */
import { UsageError } from './errors.js';

const LETTERS = 'kmgtp';

/** The bytes `text` says, with `decimalB`: whether `10MB` is 10^7 (SI) or, as in rclone, 10 MiB. */
function sizeOf(text: string, decimalB: boolean): number {
  // Trimmed first: with `\s*` on both sides of an empty unit the regex split a run of spaces
  // every way before failing, quadratic (0.37 s on 16 KB).
  const m = /^(\d+(?:\.\d+)?)\s*(?:([kmgtp])(i?)(b?)|(b?))$/i.exec(text.trim());
  if (!m) throw new UsageError(`not a size: ${JSON.stringify(text)} (examples: 512k, 10M or 10MiB, 1.5G; 10GB is 10^9 bytes)`);
  const power = m[2] ? LETTERS.indexOf(m[2].toLowerCase()) + 1 : 0;
  const decimal = decimalB && m[3] === '' && m[4] !== '';
  const value = Number(m[1]) * (decimal ? 1000 : 1024) ** power;
  if (!Number.isFinite(value) || value > Number.MAX_SAFE_INTEGER) throw new UsageError(`size out of range: ${text}`);
  return Math.round(value);
}

/** `10M` and `10MiB` -> 10485760; `10MB` -> 10000000; a bare number or `B`: bytes. */
export function parseSize(text: string): number {
  return sizeOf(text, true);
}

/**
 * A size given to one of rclone's flags (`--bwlimit`, `--min-size`, `--max-size`): as rclone
 * reads it, a bare number is KiB (`--max-size 100` is 100 KiB; `100B` is 100 bytes) and every
 * multiple is binary (`10MB` too). Read otherwise, a line copied from an rclone script would
 * select other files, or crawl at a thousandth of its rate.
 */
export function parseRcloneSize(text: string): number {
  return /^\s*\d+(?:\.\d+)?\s*$/.test(text) ? sizeOf(`${text.trim()}k`, false) : sizeOf(text, false);
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

/**
 * A size as a flag takes it, for messages that name a minimum: `16M` for 16777216; otherwise
 * rounded up, in a unit that keeps the rounding under a tenth (22369622 -> `22M`, 1.5 GiB ->
 * `1536M`), so the size the message names is always enough.
 */
export function sizeFlagText(bytes: number): string {
  for (let power = LETTERS.length; power > 0; power--) {
    const units = bytes / 1024 ** power;
    if (Number.isInteger(units) || units >= 10) return `${Math.ceil(units)}${LETTERS[power - 1].toUpperCase()}`;
  }
  return String(bytes);
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
