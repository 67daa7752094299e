/** Sizes, rates, dates and errors for people. */
import { isFerryError } from '../../src/core/errors.js';

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

export function formatSize(bytes: number): string {
  if (!Number.isFinite(bytes)) return '—';
  let v = bytes;
  let u = 0;
  // Until it shows under 1024: 1048570 bytes is 1023.99 KiB, which rounds to "1024 KiB" ("1.0 MiB").
  while ((u === 0 || v >= 10 ? Math.round(v) : v) >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  // Whole bytes: a rate below 1 KiB/s is a fraction of bytes ("70.3674745893181 B/s" before).
  return u === 0 ? `${Math.round(v)} B` : `${v < 10 ? v.toFixed(1) : Math.round(v)} ${UNITS[u]}`;
}

/** 1 -> "1 file", 10000 -> "10,000 files" (the digits grouped, as the Server page's counts). */
export function formatCount(n: number, noun: string, plural = `${noun}s`): string {
  return `${n.toLocaleString('en')} ${n === 1 ? noun : plural}`;
}

export function formatRate(bytesPerSecond: number): string {
  return `${formatSize(bytesPerSecond)}/s`;
}

export function formatEta(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds)) return '';
  const s = Math.round(seconds);
  if (s < 60) return `${s} s left`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s left`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min left`;
}

/** How long the uploads (or downloads) must have run before their rate and time left are shown. */
export const PACE_AFTER_MS = 5000;

/**
 * The rate (bytes a second) and time left of transfers that have moved `moved` bytes in
 * `elapsedMs`, with `left` bytes to go; nothing before {@link PACE_AFTER_MS} or any byte
 * moved (early on, with many small files started at once, the rate is of their first
 * requests and the time left read "236 h").
 */
export function overallPace(left: number, moved: number, elapsedMs: number): { rate: number; etaSeconds: number } | undefined {
  if (elapsedMs < PACE_AFTER_MS || moved <= 0) return undefined;
  const rate = (moved * 1000) / elapsedMs;
  return { rate, etaSeconds: Math.max(0, left) / rate };
}

export function formatDate(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '—';
  const d = new Date(ms);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/**
 * The message of an error for the person: the API's own message (it says what to fix); for a
 * request that never reached the server (it is down, or the network is), what that means,
 * with the browser's own words ("Failed to fetch") kept after it.
 */
export function errorText(err: unknown): string {
  if (isFerryError(err, 'FERRY_ERR_NETWORK') && err.cause instanceof TypeError) {
    return `The server could not be reached: check the network connection, then try again (${err.message}).`;
  }
  if (err instanceof Error) {
    const m = /: HTTP \d+ FERRY_ERR_\w+: (.*)$/s.exec(err.message);
    return m ? m[1] : err.message;
  }
  return String(err);
}
