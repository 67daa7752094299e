/** Sizes, rates, dates and errors for people. */
import { ERROR_CODES, isFerryError, type FerryError, type FerryErrorCode } from '../../src/core/errors.js';

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
 * "this link has expired" as "This link has expired.": the server's words are a clause;
 * shown alone, a sentence. Only a first word of lowercase letters takes a capital: one that
 * is a name ("photo.jpg", "/docs") is left as it is written.
 */
export function asSentence(text: string): string {
  const t = text.trim();
  if (t === '') return t;
  const s = /^[a-z]+(?=[ ,:'])/.test(t) ? t.charAt(0).toUpperCase() + t.slice(1) : t;
  return /[.!?]$/.test(s) ? s : s + '.';
}

/**
 * A code's own words where the server gave no more than its default message ("not found",
 * "permission denied"): they say neither what nor what to do.
 */
const PLAIN: Partial<Record<FerryErrorCode, string>> = {
  FERRY_ERR_NOT_FOUND: 'It is not there any more (moved or deleted meanwhile?): reload to see the folder as it is now.',
  FERRY_ERR_ALREADY_EXISTS: 'Something of that name is already there: choose another name.',
  FERRY_ERR_FORBIDDEN: 'You do not have permission to do that.',
  FERRY_ERR_VALIDATION: 'The server did not accept the request: reload the page and try again.',
  FERRY_ERR_RATE_LIMITED: 'Too many requests at once: wait a moment, then try again.',
};

/** What each permission lets a person do, for "You cannot … : you do not have permission". */
const MAY: Record<string, string> = { read: 'read', list: 'see into', write: 'change or add to', delete: 'delete or move things out of', mkdir: 'make folders in', share: 'share' };

/** The server's words for a person: a refusal of a permission said with the place, a bare HTTP status explained, codes and request field names never shown. */
function serverText(err: FerryError, message: string): string {
  const bare = /^\S+ \S+: HTTP (\d{3})(?: \(unexpected answer\))?$/.exec(message);
  if (bare) return `The server answered HTTP ${bare[1]} (it, or a proxy in front of it, failed): try again in a moment.`;
  const { permission, path } = err.details ?? {};
  if (err.code === 'FERRY_ERR_FORBIDDEN' && typeof permission === 'string' && typeof path === 'string' && MAY[permission]) {
    return `You cannot ${MAY[permission]} ${path}: you do not have permission there.`;
  }
  const where = /^(.+): (already exists|no such (?:file or directory|file|directory))$/.exec(message);
  if (where) return where[2] === 'already exists' ? `${where[1]} already exists.` : `${where[1]} is not there (moved or deleted meanwhile?): reload to see the folder as it is now.`;
  // A request field checked by the server's schema ("body/limit must be <= 10000"): the page sent it, not the person.
  if (/^(body|querystring|params|headers)\b\S* must/.test(message) || message === ERROR_CODES[err.code].message) return PLAIN[err.code] ?? asSentence(message);
  return asSentence(message);
}

/**
 * The message of an error for the person, as a sentence (a capital, a period, no code): the
 * API's own message (it says what to fix), or a code's plain words where it said no more; for
 * a request that never reached the server (it is down, or the network is), what that means,
 * with the browser's own words ("Failed to fetch") kept after it.
 */
export function errorText(err: unknown): string {
  if (isFerryError(err, 'FERRY_ERR_NETWORK') && err.cause instanceof TypeError) {
    return `The server could not be reached: check the network connection, then try again (${err.message}).`;
  }
  if (err instanceof Error) {
    const m = /: HTTP \d+ FERRY_ERR_\w+: (.*)$/s.exec(err.message);
    const message = (m ? m[1] : err.message).replace(/\s*\bFERRY_ERR_[A-Z0-9_]+:?/g, '').trim();
    // The app's own messages are sentences already, some starting with a name ("photo.jpg has…").
    return isFerryError(err) ? serverText(err, message) : message;
  }
  return String(err);
}
