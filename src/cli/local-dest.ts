/**
 * The local side of a download (`ferry get`): where DEST may be made, and the standard
 * streams a download or an upload reads and writes.
 */
import { readFileSync, fstatSync } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { NotADirectoryError, NotFoundError, UsageError, fromSystemError } from '../core/errors.js';
import { trimTrailingSlashes } from '../core/path.js';

/**
 * Makes ready the local folder a download goes into, before anything travels, as cp(1) and
 * scp(1) would have it: DEST's parent folder must exist (a typo in `~/Dowloads/x.iso` is an
 * error, not a new folder tree), unless DEST ends with '/', which says "a folder": it is made
 * then, with any missing parents (rsync's --mkpath). A tree (-r) makes DEST itself, as cp -r does.
 * The hint of a missing parent fits the download: for a tree, `DEST/` makes DEST; for a file
 * it would make a folder named as the file was meant to be, so the hint names the parent.
 */
export async function prepareLocalDest(dest: string, tree = false): Promise<void> {
  if (dest.endsWith('/')) {
    await mkdir(dest, { recursive: true }).catch((err: unknown) => Promise.reject(fromSystemError(err, dest)));
    return;
  }
  const parent = dirname(resolve(dest));
  const shown = dirname(trimTrailingSlashes(dest)) === '.' ? parent : dirname(trimTrailingSlashes(dest));
  let st;
  try {
    st = await stat(parent);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      const hint = tree
        ? `end DEST with / to have it made: ${trimTrailingSlashes(dest)}/`
        : `make it first (mkdir -p ${shown}), or end DEST with / to download into a folder made with its parents: ${shown}/`;
      throw new NotFoundError(`${shown}: no such local directory (${hint})`, { cause: err });
    }
    throw fromSystemError(err, shown);
  }
  if (!st.isDirectory()) throw new NotADirectoryError(`${shown}: not a directory`);
}

/** /dev/null's device number on Linux (major 1, minor 3). */
const DEV_NULL_RDEV = (1 << 8) | 3;

/**
 * Whether fd 0 or 1 was closed when the process started (`<&-`, `>&-`). Node then opens
 * /dev/null on it before any of our code runs (node.cc, PlatformInit), so `put -` would
 * upload an empty file and `get x -` throw the download away, both "successfully". Node
 * opens it read-write; a shell's `</dev/null` or `>/dev/null` opens it read-only or
 * write-only, which is how the two are told apart (Linux: the flags in /proc/self/fdinfo).
 * Elsewhere, or when unsure, the stream counts as open.
 */
export function standardStreamClosed(fd: 0 | 1): boolean {
  try {
    if (fstatSync(fd).rdev !== DEV_NULL_RDEV) return false;
    const flags = /^flags:\s*([0-7]+)/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))?.[1];
    return flags !== undefined && (parseInt(flags, 8) & 3) === 2; // O_ACCMODE === O_RDWR
  } catch {
    return false;
  }
}

/** Refuses `-` as stdin or stdout when that stream was closed (see standardStreamClosed). */
export function refuseClosedStream(fd: 0 | 1): void {
  if (!standardStreamClosed(fd)) return;
  const [name, hint] = fd === 0 ? ['stdin', 'give it data (< FILE, a pipe) or name a file'] : ['stdout', 'redirect it (> FILE, a pipe) or name a file'];
  throw new UsageError(`${name} is closed: - has nothing to ${fd === 0 ? 'read' : 'write to'} (${hint})`);
}
