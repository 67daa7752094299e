/**
 * Symbolic links to directories inside a download's destination, which a tree download does
 * not write through (rsync's default, without -K): someone who can write in the destination
 * could otherwise plant `DEST/sub -> /elsewhere` and have `get -r` create and replace files
 * outside it. The destination itself may be a link (it was named).
 *
 * Looking before writing is not enough: a link planted after the look (`DEST/sub` renamed
 * away and a link put in its place once the download made it) was followed by every write
 * after it. So on Linux each file is written through its directory held open
 * (../core/pinned-dir.ts: opened from the destination one name at a time without following
 * links, the file named `/proc/self/fd/N/NAME`). Elsewhere the look is all there is.
 */
import { lstat } from 'node:fs/promises';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { FerryError, PathInvalidError, fromSystemError } from '../core/errors.js';
import { LinkOnTheWayError, PINNABLE, pinDir, type PinnedDir } from '../core/pinned-dir.js';

/** Whether `path` is a symbolic link. */
async function isLink(path: string): Promise<boolean> {
  return (await lstat(path).catch(() => undefined))?.isSymbolicLink() === true;
}

function linkRefusal(dir: string): FerryError {
  return new PathInvalidError(`${dir} is a symbolic link: a download does not write through links inside its destination (remove it, or download elsewhere)`, {
    details: { reason: 'symlink', path: dir },
  });
}

export class DestGuard {
  private readonly seen = new Map<string, Promise<boolean>>();
  private readonly rootDir: string;
  /** `rootDir` with a trailing separator. */
  private readonly root: string;

  /** `dirsToSync`: the tree's directories to fsync at its end, by name (never a /proc one). */
  constructor(
    root: string,
    private readonly dirsToSync?: Set<string>,
  ) {
    this.rootDir = resolve(root);
    this.root = this.rootDir.endsWith(sep) ? this.rootDir : this.rootDir + sep;
  }

  /** The refusal when `dir` (a local directory at or below the root) is, or is below, a symbolic link; else undefined. Each directory is looked at once. */
  async problem(dir: string): Promise<FerryError | undefined> {
    dir = resolve(dir);
    if (!dir.startsWith(this.root)) return undefined;
    const above = await this.problem(dirname(dir));
    if (above) return above;
    let linked = this.seen.get(dir);
    if (linked === undefined) {
      linked = isLink(dir);
      this.seen.set(dir, linked);
    }
    return (await linked) ? linkRefusal(dir) : undefined;
  }

  /**
   * Runs `fn` with a name for `dest` (a path at or below the root) that no link planted
   * meanwhile redirects (see above); messages that name it name `dest`. A link on the way is
   * FERRY_ERR_PATH_INVALID.
   */
  async within<T>(dest: string, fn: (at: string) => Promise<T>): Promise<T> {
    const dir = resolve(dirname(dest));
    const bad = await this.problem(dir);
    if (bad) throw bad;
    if (!PINNABLE || (dir !== this.rootDir && !dir.startsWith(this.root))) return fn(dest);
    const pin = await this.pinDir(dir);
    const pinned = pin.path;
    try {
      return await fn(join(pinned, basename(dest)));
    } catch (err) {
      if (err instanceof Error) err.message = err.message.split(pinned).join(dir);
      throw err;
    } finally {
      if (this.dirsToSync?.delete(pinned)) this.dirsToSync.add(dir);
      pin.close();
    }
  }

  /** `dir` held open from the root (../core/pinned-dir.ts); a link on the way is the refusal that names it. */
  private async pinDir(dir: string): Promise<PinnedDir> {
    const names = dir === this.rootDir ? [] : dir.slice(this.root.length).split(sep);
    try {
      return (await pinDir(this.rootDir, names))!;
    } catch (err) {
      if (err instanceof LinkOnTheWayError) throw linkRefusal(err.path);
      throw fromSystemError(err, (err as NodeJS.ErrnoException).path ?? dir);
    }
  }
}
