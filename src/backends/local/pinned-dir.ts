/**
 * A directory below a root held open, to write in it by a name that no symbolic link planted
 * meanwhile redirects. Checking a path with `realpath` and then writing to it leaves a window:
 * a directory renamed away and a link put in its place between the two is followed by the
 * write. On Linux the directory is opened from the root one name at a time with O_NOFOLLOW,
 * and files in it are named `/proc/self/fd/N/NAME`, which resolves through the open directory
 * whatever is renamed or linked since (openat(2), which Node does not offer). Elsewhere
 * {@link pinDir} returns undefined and the check is all there is.
 */
import { existsSync } from 'node:fs';
import { constants, open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';

const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;

/** Whether an open directory can be named (Linux's /proc/self/fd). */
export const PINNABLE = process.platform === 'linux' && existsSync('/proc/self/fd');

export interface PinnedDir {
  /** `/proc/self/fd/N`: names below it resolve through the open directory. */
  readonly path: string;
  readonly handle: FileHandle;
}

/**
 * `dirKey` (`a/b`, `` for the root) opened from `root` one name at a time, following no link
 * below the root; undefined where directories cannot be pinned. A link on the way rejects with
 * ELOOP or ENOTDIR, a missing name with ENOENT (system errors, for the caller to classify).
 */
export async function pinDir(root: string, dirKey: string): Promise<PinnedDir | undefined> {
  if (!PINNABLE) return undefined;
  const names = dirKey === '' ? [] : dirKey.split('/');
  // The root's own path is trusted (it is the operator's): its first name is opened by the
  // whole path, one open and close fewer per write than opening the root first.
  let fh = names.length === 0 ? await open(root, constants.O_RDONLY | constants.O_DIRECTORY) : await open(join(root, names[0]), DIR_FLAGS);
  try {
    for (const name of names.slice(1)) {
      const next = await open(`/proc/self/fd/${fh.fd}/${name}`, DIR_FLAGS);
      await fh.close();
      fh = next;
    }
    return { path: `/proc/self/fd/${fh.fd}`, handle: fh };
  } catch (err) {
    await fh.close().catch(() => undefined);
    throw err;
  }
}
