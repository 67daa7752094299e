import { terminalSafe } from './terminal-text.js';

/** Plain aligned columns for listings meant for people (`--json` is for programs); every cell {@link terminalSafe}. */
export function table(header: string[], rows: string[][]): string {
  const all = [header, ...rows].map((r) => r.map((c) => terminalSafe(c ?? '')));
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return all.map((r) => r.map((c, i) => (i === r.length - 1 ? c : (c ?? '').padEnd(widths[i]))).join('  ').trimEnd()).join('\n') + '\n';
}

/** A time for a listing: `2026-11-21 14:03`, or `-`. */
export function when(ms: number | null | undefined): string {
  return ms === null || ms === undefined ? '-' : new Date(ms).toISOString().slice(0, 16).replace('T', ' ');
}
