/**
 * check: compares two remotes without changing anything (rclone check).
 *
 * Files on both sides are compared by size, then by the common hash (see hashes.ts); with
 * `download` the bytes themselves are compared (both files are read). Without a common hash
 * and without `download` only sizes are compared, and the result says how many files could
 * not be hashed. The outcome uses rclone's `--combined` symbols:
 *   `= path` identical, `* path` different, `+ path` only in the source (missing on the
 *   destination), `- path` only in the destination (missing on the source), `! path` could
 *   not be checked (error).
 */
import { forEachConcurrent } from '../client/concurrency.js';
import { isFerryError, NotFoundError } from '../core/errors.js';
import { ProgressTracker, type ProgressCallback } from '../core/progress.js';
import type { StorageLogger } from '../backends/decorators/index.js';
import { decorateRemotes, retryPolicy } from './decorated.js';
import { keyOf, type Remote } from './remote.js';
import { NO_FILTER, type Filter } from './filter.js';
import { commonHashKind, HashSource, treeParamsFor, type HashKind } from './hashes.js';
import { listRemote, remoteExists, type Listing, type SkippedEntry } from './listing.js';
import { checkRunOptions } from './run-options.js';

export interface CheckOptions {
  filter?: Filter;
  /** Compare the bytes, not hashes. */
  download?: boolean;
  /** Only check that source files are on the destination (ignore destination extras). */
  oneWay?: boolean;
  checkers?: number;
  /** Times a failing storage call is tried again (`--retries`, default 3). */
  retries?: number;
  signal?: AbortSignal;
  onProgress?: ProgressCallback;
  /** Told about every storage call (`-vv`). */
  onStorageCall?: StorageLogger;
}

export type CheckMark = '=' | '*' | '-' | '+' | '!';

export interface CheckResult {
  /** One `{mark, path}` per file, sorted by path. */
  entries: Array<{ mark: CheckMark; path: string; error?: string }>;
  same: number;
  differ: number;
  /** Only in the source. */
  missingOnDst: number;
  /** Only in the destination; null with `oneWay` (such files are not looked for, so not counted). */
  missingOnSrc: number | null;
  errors: number;
  /** Files whose sizes matched but that could not be hashed (no common hash). */
  unhashed: number;
  hashKind?: HashKind;
  /**
   * Entries a side's listing left out, and why (a local symbolic link is not followed; a
   * socket or FIFO is not a file), with the `side` they are on: not compared, and not
   * differences or errors either (`ok` does not count them). As `sync`'s `skipped`, filled
   * with or without the remote's `onSkip`.
   */
  skipped: Array<SkippedEntry & { side: 'src' | 'dst' }>;
  /** Whether the two sides match (no differences, nothing missing, no errors). */
  ok: boolean;
  elapsedMs: number;
}

/** The lines rclone's `--combined` prints. */
export function combinedLines(result: CheckResult): string[] {
  return result.entries.map((e) => `${e.mark} ${e.path}`);
}

/** How two files of the same size compare: by bytes, by the common hash, or (neither) not at all. */
type Same = (rel: string) => Promise<boolean | undefined>;

/**
 * The plan of a check is its outcome: every path with its mark, from the two listings and a
 * comparison of same-sized twins (`same`: undefined when it cannot tell). Reads nothing
 * itself; `same` may.
 */
export async function planCheck(a: Listing, b: Listing, o: { oneWay?: boolean; checkers?: number; signal?: AbortSignal; onCheck?: () => void }, same: Same): Promise<{ entries: CheckResult['entries']; unhashed: number }> {
  const entries: CheckResult['entries'] = [];
  let unhashed = 0;
  const both: string[] = [];
  for (const rel of a.files.keys()) {
    if (b.files.has(rel)) both.push(rel);
    else entries.push({ mark: '+', path: rel });
  }
  if (!o.oneWay) for (const rel of b.files.keys()) if (!a.files.has(rel)) entries.push({ mark: '-', path: rel });
  await forEachConcurrent(
    both,
    o.checkers ?? 8,
    async (rel) => {
      try {
        let equal = a.files.get(rel)!.size === b.files.get(rel)!.size ? await same(rel) : false;
        if (equal === undefined) {
          unhashed++;
          equal = true;
        }
        entries.push({ mark: equal ? '=' : '*', path: rel });
      } catch (err) {
        if (isFerryError(err, 'FERRY_ERR_ABORTED')) throw err;
        entries.push({ mark: '!', path: rel, error: err instanceof Error ? err.message : String(err) });
      }
      o.onCheck?.();
    },
    o.signal,
  );
  entries.sort((p, q) => (p.path < q.path ? -1 : p.path > q.path ? 1 : 0));
  return { entries, unhashed };
}

export async function check(rawSrc: Remote, rawDst: Remote, o: CheckOptions = {}): Promise<CheckResult> {
  const started = performance.now();
  checkRunOptions(o);
  const { signal } = o;
  const filter = o.filter ?? NO_FILTER;
  const progress = new ProgressTracker(o.onProgress);
  progress.phase('listing');
  const { src, dst } = decorateRemotes({ src: rawSrc, dst: rawDst }, { retry: retryPolicy(o.retries), log: o.onStorageCall }) as { src: Remote; dst: Remote };
  const [a, b] = await Promise.all([listRemote(src, filter, signal), listRemote(dst, filter, signal)]);
  for (const [r, l] of [
    [src, a],
    [dst, b],
  ] as const) {
    // A remote restricted to one file (a file source, and the folder it is checked in) exists
    // when its folder does: the file missing there is a difference, not a mistyped remote.
    if (l.files.size === 0 && l.excluded.size === 0 && l.dirs.size === 0 && !(await remoteExists({ ...r, only: undefined }, signal))) {
      throw new NotFoundError(`${r.label} not found`, { details: { remote: r.label } });
    }
  }
  progress.phase('comparing');
  const hashKind = o.download ? undefined : commonHashKind(src, dst);
  const params = hashKind === 'ferry-tree' ? await treeParamsFor(src, dst, signal) : undefined;
  const [ha, hb] = [new HashSource(src, params), new HashSource(dst, params)];
  const same: Same = async (rel) => {
    if (o.download) return sameBytes(src, dst, rel, signal);
    if (hashKind === undefined) return undefined;
    const [hx, hy] = await Promise.all([ha.hash(rel, a.files.get(rel)!, hashKind, signal), hb.hash(rel, b.files.get(rel)!, hashKind, signal)]);
    return hx === hy;
  };
  const { entries, unhashed } = await planCheck(a, b, { oneWay: o.oneWay, checkers: o.checkers, signal, onCheck: () => progress.count('checks') }, same);
  const count = (m: CheckMark) => entries.filter((e) => e.mark === m).length;
  const result: CheckResult = {
    entries,
    same: count('='),
    differ: count('*'),
    missingOnDst: count('+'),
    missingOnSrc: o.oneWay ? null : count('-'),
    errors: count('!'),
    unhashed,
    hashKind,
    skipped: [...a.skipped.map((e) => ({ ...e, side: 'src' as const })), ...b.skipped.map((e) => ({ ...e, side: 'dst' as const }))],
    ok: false,
    elapsedMs: 0,
  };
  result.ok = result.differ + result.missingOnDst + (result.missingOnSrc ?? 0) + result.errors === 0;
  progress.finish();
  result.elapsedMs = Math.round(performance.now() - started);
  return result;
}

/** Reads both files side by side and compares the bytes. */
async function sameBytes(src: Remote, dst: Remote, rel: string, signal?: AbortSignal): Promise<boolean> {
  const [sa, sb] = await Promise.all([src.backend.read(keyOf(src, rel), { signal }), dst.backend.read(keyOf(dst, rel), { signal })]);
  const ia = sa[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const ib = sb[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let bufA: Buffer = Buffer.alloc(0);
  let bufB: Buffer = Buffer.alloc(0);
  let doneA = false;
  let doneB = false;
  try {
    for (;;) {
      if (bufA.length === 0 && !doneA) {
        const r = await ia.next();
        if (r.done) doneA = true;
        else bufA = r.value;
      }
      if (bufB.length === 0 && !doneB) {
        const r = await ib.next();
        if (r.done) doneB = true;
        else bufB = r.value;
      }
      if (bufA.length === 0 && bufB.length === 0 && doneA && doneB) return true;
      if ((bufA.length === 0 && doneA) !== (bufB.length === 0 && doneB)) return false;
      const n = Math.min(bufA.length, bufB.length);
      if (n === 0) continue;
      if (!bufA.subarray(0, n).equals(bufB.subarray(0, n))) return false;
      bufA = bufA.subarray(n);
      bufB = bufB.subarray(n);
    }
  } finally {
    sa.destroy();
    sb.destroy();
  }
}
