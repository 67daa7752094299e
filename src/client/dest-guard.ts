/**
 * Symbolic links to directories inside a download's destination, which a tree download does
 * not write through (rsync's default, without -K): someone who can write in the destination
 * could otherwise plant `DEST/sub -> /elsewhere` and have `get -r` create and replace files
 * outside it. The destination itself may be a link (it was named).
 *
 * Looking before writing is not enough: a link planted after the look (`DEST/sub` renamed
 * away and a link put in its place once the download made it) was followed by every write
 * after it. So on Linux each file is written through its directory held open: the directory
 * is opened from the destination one name at a time without following links, and the file
 * named `/proc/self/fd/N/NAME`, which resolves through the open directory whatever is renamed
 * or linked since (openat(2), which Node does not offer). Elsewhere the look is all there is.
 */
import { existsSync } from 'node:fs';
import { constants, lstat, open, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { FerryError, PathInvalidError, fromSystemError } from '../core/errors.js';

const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;

/** Whether an open directory can be named (Linux's /proc/self/fd). */
const PINNABLE = process.platform === 'linux' && existsSync('/proc/self/fd');

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
    const fh = await this.openDir(dir);
    const pinned = `/proc/self/fd/${fh.fd}`;
    try {
      return await fn(join(pinned, basename(dest)));
    } catch (err) {
      if (err instanceof Error) err.message = err.message.split(pinned).join(dir);
      throw err;
    } finally {
      if (this.dirsToSync?.delete(pinned)) this.dirsToSync.add(dir);
      await fh.close();
    }
  }

  /** `dir` opened from the root one name at a time, following no link. */
  private async openDir(dir: string): Promise<FileHandle> {
    const names = dir === this.rootDir ? [] : dir.slice(this.root.length).split(sep);
    let fh = await open(this.rootDir, constants.O_RDONLY | constants.O_DIRECTORY).catch((err: unknown) => Promise.reject(fromSystemError(err, this.rootDir)));
    let at = this.rootDir;
    try {
      for (const name of names) {
        at = join(at, name);
        const next = await open(`/proc/self/fd/${fh.fd}/${name}`, DIR_FLAGS).catch(async (err: NodeJS.ErrnoException) => {
          const linked = err.code === 'ELOOP' || (err.code === 'ENOTDIR' && (await isLink(at)));
          throw linked ? linkRefusal(at) : fromSystemError(err, at);
        });
        await fh.close();
        fh = next;
      }
      return fh;
    } catch (err) {
      await fh.close().catch(() => undefined);
      throw err;
    }
  }
}
