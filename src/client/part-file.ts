/**
 * A download's part file (`DEST.ferry-part`), opened so that whoever else may write in DEST's
 * folder (a shared folder of a group, a sticky folder on a system without
 * `fs.protected_symlinks`) cannot make the download write elsewhere. The part's name is known
 * in advance, and an interrupted download's part is reused, so a symbolic link planted under
 * that name was followed: `ferry get /f.txt shared/f.txt` wrote the server's bytes into the
 * file it pointed at (the user's own `~/.bashrc`, say) and gave that file the download's mode.
 *
 * So the part is opened with `O_NOFOLLOW`, and reused only when it is a regular file of this
 * user with one link; anything else under its name is removed (a link, not what it points to)
 * and a new part made with `O_EXCL`, which fails rather than follow one made meanwhile. Times
 * and mode are then set on the open file ({@link settlePart}), never by name.
 */
import { createHash } from 'node:crypto';
import { constants, existsSync } from 'node:fs';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { PermissionError, fromSystemError, type FerryError } from '../core/errors.js';

const NEW = constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/** Whether the open file is a part this user made: a regular file, theirs, with no other name. */
async function isOwnPart(fh: FileHandle): Promise<boolean> {
  const st = await fh.stat();
  return st.isFile() && st.nlink === 1 && (process.geteuid === undefined || st.uid === process.geteuid());
}

async function removeName(part: string, shown: string): Promise<void> {
  await unlink(part).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw fromSystemError(err, shown);
  });
}

async function create(part: string, shown: string): Promise<FileHandle> {
  return open(part, NEW, 0o600).catch((err: unknown) => Promise.reject(createError(err, shown)));
}

/**
 * Why no part could be made beside `dest`. ENOENT with the folder there is a folder that
 * takes no new names (/proc, /sys): "not found" would be false of a file that exists.
 */
function createError(err: unknown, dest: string): FerryError {
  if ((err as NodeJS.ErrnoException).code === 'ENOENT' && existsSync(dirname(dest))) {
    return new PermissionError(`${dest}: cannot be replaced: its folder takes no new files (a download is written beside it, then renamed)`, { cause: err });
  }
  return fromSystemError(err, dest);
}

/** Longest file name, in bytes, of the local file systems a download writes to (ext4, XFS, btrfs, APFS). */
const NAME_MAX = 255;

/**
 * The part file of a download to `dest`: `DEST` + `suffix` (`.ferry-part`), the same at every
 * run so that an interrupted download is resumed. A server name may be 255 bytes, and so may
 * a local one, but not with the suffix after it: for a name too long for that, the part is
 * the name's start (whole characters), `~`, 16 hex digits of the name's SHA-256 and the
 * suffix. Without it a file whose name fits locally could not be downloaded at all ("name
 * too long").
 */
export function partPathOf(dest: string, suffix: string): string {
  const name = basename(dest);
  if (Buffer.byteLength(name) + Buffer.byteLength(suffix) <= NAME_MAX) return dest + suffix;
  const tag = '~' + createHash('sha256').update(name).digest('hex').slice(0, 16);
  let room = NAME_MAX - Buffer.byteLength(suffix) - tag.length;
  let start = '';
  for (const c of name) {
    room -= Buffer.byteLength(c);
    if (room < 0) break;
    start += c;
  }
  return join(dirname(dest), start + tag + suffix);
}

/**
 * Opens `part` for reading and writing, mode 0600 when new. `reuse`: keep what an earlier
 * attempt left in it (when it is this user's own part), else start empty. A failure names
 * `dest`, the file the user asked for (`ferry get x /proc/version`: "/proc/version:
 * permission denied"), not the part's name they never typed.
 */
export async function openPartFile(part: string, reuse: boolean, dest: string): Promise<FileHandle> {
  if (!reuse) {
    await removeName(part, dest);
    return create(part, dest);
  }
  let fh: FileHandle;
  try {
    fh = await open(part, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
  } catch (err) {
    // ELOOP: a symbolic link under the part's name.
    if ((err as NodeJS.ErrnoException).code !== 'ELOOP') throw createError(err, dest);
    await removeName(part, dest);
    return create(part, dest);
  }
  if (await isOwnPart(fh)) return fh;
  await fh.close();
  await removeName(part, dest);
  return create(part, dest);
}

/** Sets a finished part's times and mode on the open file (not by name, which another may have replaced), and closes it. */
export async function settlePart(fh: FileHandle, part: string, mtime: Date, mode: number | undefined): Promise<void> {
  try {
    await fh.utimes(mtime, mtime);
    if (mode !== undefined) await fh.chmod(mode);
  } catch (err) {
    await fh.close().catch(() => undefined);
    throw fromSystemError(err, part);
  }
  await fh.close();
}
