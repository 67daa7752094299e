/**
 * Whether a source file must be transferred over an existing destination file: rclone's
 * `NeedTransfer` and `Equal`, with its flags.
 *
 * - default: equal when sizes match and modification times agree within the modify window
 *   (the coarser of the two sides' mtime precisions). When times differ but sizes match and
 *   a common hash exists, equal hashes mean "only the time differs": the destination's time
 *   is set instead of copying (or the file is copied when the time cannot be set).
 * - `--size-only`: sizes only.
 * - `--ignore-times`: always transferred.
 * - `--checksum`: sizes and hashes (sizes only when no common hash exists); times ignored.
 * - `--update`: skip files newer on the destination; within the window compare sizes only
 *   (unless --checksum); older ones are compared by size and hash (the time is then fixed).
 * - `--ignore-existing`: never touch a file that exists on the destination.
 * When either side keeps no modification times, times are not compared (sizes, and hashes
 * when available).
 */
import type { CompareMode } from '../core/compare-mode.js';
import type { FileEntry, HashKind, HashLookup } from './hashes.js';

export type { CompareMode } from '../core/compare-mode.js';

export interface CompareOptions {
  mode: CompareMode;
  update: boolean;
  ignoreExisting: boolean;
  /** Times closer than this are equal (ms, at least 1). */
  windowMs: number;
  /** Both sides keep modification times. */
  mtimes: boolean;
  /** The destination can change a file's time without rewriting it. */
  dstSetMtime: boolean;
  hashKind?: HashKind;
  src: HashLookup;
  dst: HashLookup;
  signal?: AbortSignal;
}

/** `same`: the destination holds the source's file (so `move` may drop the source). */
export type Decision = { action: 'skip' | 'transfer' | 'set-mtime'; reason: string; same?: boolean };

const skip = (reason: string): Decision => ({ action: 'skip', reason, same: true });
const transfer = (reason: string): Decision => ({ action: 'transfer', reason });

/** Whether two files' contents are equal by the common hash; undefined when there is none. */
export async function sameHash(rel: string, a: FileEntry, b: FileEntry, o: Pick<CompareOptions, 'hashKind' | 'src' | 'dst' | 'signal'>, relB = rel): Promise<boolean | undefined> {
  if (o.hashKind === undefined) return undefined;
  const [ha, hb] = await Promise.all([o.src.hash(rel, a, o.hashKind, o.signal), o.dst.hash(relB, b, o.hashKind, o.signal)]);
  return ha === hb;
}

export async function decide(rel: string, src: FileEntry, dst: FileEntry, o: CompareOptions): Promise<Decision> {
  if (o.ignoreExisting) return { action: 'skip', reason: 'exists on the destination (`ignoreExisting`)', same: false };
  if (o.mode === 'ignore-times') return transfer("`compare: 'ignore-times'`");
  let sizeOnly = o.mode === 'size-only';
  let checksum = o.mode === 'checksum';
  let fixTime = false;
  if (o.update && o.mtimes && src.mtime !== undefined && dst.mtime !== undefined) {
    const dt = dst.mtime - src.mtime;
    if (dt >= o.windowMs) return { action: 'skip', reason: 'destination is newer (`update`)', same: false };
    if (dt <= -o.windowMs) {
      checksum = true;
      fixTime = true;
    } else {
      sizeOnly = !checksum;
    }
  }
  if (src.size !== dst.size) return transfer('sizes differ');
  if (sizeOnly) return skip('sizes equal');
  if (checksum) {
    const same = await sameHash(rel, src, dst, o);
    if (same === false) return transfer('hashes differ');
    if (fixTime && o.dstSetMtime && same) return { action: 'set-mtime', reason: 'same content, older time (`update`)' };
    if (fixTime && same) return transfer('same content but the time cannot be set');
    if (fixTime) return transfer('destination is older (`update`), no common hash');
    return skip(same ? 'sizes and hashes equal' : 'sizes equal (no common hash)');
  }
  if (!o.mtimes || src.mtime === undefined || dst.mtime === undefined) {
    const same = await sameHash(rel, src, dst, o);
    return same === false ? transfer('hashes differ') : skip('sizes equal (times not kept)');
  }
  if (Math.abs(src.mtime - dst.mtime) < o.windowMs) return skip('sizes and times equal');
  const same = await sameHash(rel, src, dst, o);
  if (same === undefined) return transfer('times differ');
  if (!same) return transfer('times and hashes differ');
  return o.dstSetMtime ? { action: 'set-mtime', reason: 'same content, times differ' } : transfer('times differ and cannot be set');
}
