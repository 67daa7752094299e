/**
 * The V8 heap policy of a `ferry serve` process (not of servers started inside other
 * programs, such as tests or the library's users: a process-wide setting is the process
 * owner's to choose).
 *
 * Why: once a server has been idle for some seconds, V8 re-sizes its heap for an idle program
 * (the young generation shrinks back to 1 MB, and the old generation's limit is recomputed a
 * little above the live heap). An upload that then arrives allocates a small object per socket
 * read; out of a small young generation they are promoted, reach that limit every 1-2 MB, and
 * the server ran a mark-compact every 100-300 ms: 53-62 of them for four 200 MB uploads,
 * against 1 when the same uploads came within a second of the start, and about 40 % more
 * server CPU (issue-15-speed.md, "Sixth part"). The bench measures uploads right after a start, so
 * it never saw this; every real server is in that state. Letting the old generation grow to
 * four times the live heap before the next full collection (the factor V8 itself uses when
 * collections are cheap) keeps those uploads at 1-3 mark-compacts; the idle heap and the
 * memory reducer's shrinking are not affected (a limit is not committed memory).
 */
import { setFlagsFromString } from 'node:v8';

/** Old-generation growth between full collections, percent (300: up to 4x the live heap). */
export const SERVER_HEAP_GROWING_PERCENT = 300;

/**
 * Sets the growth once the server listens. An explicit `--heap-growing-percent` among the
 * process's flags or NODE_OPTIONS is the operator's choice and is kept. Returns what it did.
 */
export function setServerHeapGrowth(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ''): 'set' | 'kept' {
  const given = [...execArgv, ...nodeOptions.split(/\s+/)].some((a) => /^--heap[-_]growing[-_]percent(=|$)/.test(a));
  if (given) return 'kept';
  setFlagsFromString(`--heap-growing-percent=${SERVER_HEAP_GROWING_PERCENT}`);
  return 'set';
}
