/** Human-readable numbers for the CLI (sizes: core/units.ts formatSize). */
import type { Entry } from '../core/protocol.js';
import { formatSize } from '../core/units.js';

export function formatRate(bytesPerSecond: number): string {
  return `${formatSize(bytesPerSecond)}/s`;
}

/** `3725000` (ms) -> `1h02m05s`; `undefined` -> `--`. */
export function formatDuration(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '--';
  const seconds = ms / 1000;
  if (seconds < 10) return `${Math.max(0, seconds).toFixed(1)}s`;
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (h > 0) return `${h}h${String(m).padStart(2, '0')}m${String(sec).padStart(2, '0')}s`;
  if (m > 0) return `${m}m${String(sec).padStart(2, '0')}s`;
  return `${sec}s`;
}

/** `0o644` -> `-rw-r--r--` (`d` prefix for directories). */
export function formatMode(mode: number | undefined, isDir: boolean): string {
  const t = isDir ? 'd' : '-';
  if (mode === undefined) return t + (isDir ? 'rwxr-xr-x' : 'rw-r--r--');
  const rwx = (bits: number) => `${bits & 4 ? 'r' : '-'}${bits & 2 ? 'w' : '-'}${bits & 1 ? 'x' : '-'}`;
  return t + rwx((mode >> 6) & 7) + rwx((mode >> 3) & 7) + rwx(mode & 7);
}

/** ms since the epoch -> `2026-11-21 10:49:03` (local time). */
export function formatTime(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/**
 * An entry of a store other than a Ferry server, for --json: a time of 0 there is a time the
 * store does not keep (folders, S3 prefixes, S3 listings), printed as null rather than 1970.
 */
export function placeEntryJson(e: Entry): Omit<Entry, 'mtime'> & { mtime: number | null } {
  return e.mtime === 0 ? { ...e, mtime: null } : e;
}
