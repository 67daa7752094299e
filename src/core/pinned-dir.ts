/**
 * Directories below a root held open, to name entries in them by a path that no symbolic
 * link planted meanwhile redirects: the one implementation, for the local backend
 * (../backends/local/local-backend.ts) and for tree downloads (../client/dest-guard.ts).
 *
 * Checking a path (`realpath`, `lstat`) and then using it leaves a window: a directory renamed
 * away and a link put in its place between the two is followed by the use. On Linux the
 * directory is opened from the root one name at a time with O_NOFOLLOW, and entries in it
 * are named `/proc/self/fd/N/NAME`, which resolves through the open directory whatever is
 * renamed or linked since (openat(2), which Node does not offer; `rename` between two such
 * paths is renameat(2)). The root's own path is trusted (the operator's or the user's choice,
 * and may itself be a link). Elsewhere (no /proc/self/fd) nothing is pinned, {@link pinDir}
 * returns undefined, and callers fall back to their check.
 *
 * The directories are opened with blocking calls: an open of a directory of a local disk
 * takes microseconds, and each through the thread pool cost a round trip (with three of them
 * more per file, a local-to-local `sync` of 10,000 small files made 0.5 M more futex calls).
 */
import { closeSync, existsSync, fsync, openSync } from 'node:fs';
import { constants, lstat, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';

const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;

/** Whether an open directory can be named (Linux's /proc/self/fd). */
export const PINNABLE = process.platform === 'linux' && existsSync('/proc/self/fd');

/** A directory open by its descriptor. */
export interface OpenDir {
  readonly fd: number;
  /** fsync(2) of the directory: its entries made durable. */
  sync(): Promise<void>;
}

export interface PinnedDir extends OpenDir {
  /** `/proc/self/fd/N`: names below it resolve through the open directory. */
  readonly path: string;
  /** Closes the descriptor; once (a second call does nothing: the number may be another file's by then). */
  close(): void;
}

/** A directory on the way was a symbolic link (or turned into one): `path` is its path by name. */
export class LinkOnTheWayError extends Error {
  constructor(
    readonly path: string,
    options?: { cause?: unknown },
  ) {
    super(`${path} is a symbolic link`, options);
    this.name = 'LinkOnTheWayError';
  }
}

const errno = (err: unknown): string | undefined => (err as NodeJS.ErrnoException | undefined)?.code;

const openDir = (fd: number): OpenDir => ({
  fd,
  sync: () => new Promise<void>((resolve, reject) => fsync(fd, (err) => (err ? reject(err) : resolve()))),
});

function pinned(fd: number): PinnedDir {
  let open = true;
  return {
    ...openDir(fd),
    path: `/proc/self/fd/${fd}`,
    close: () => {
      if (!open) return;
      open = false;
      closeSync(fd);
    },
  };
}

/**
 * The error for a failed open of `name` in the directory held open as `fd` (`at` is its path
 * by name): a link is {@link LinkOnTheWayError} (ELOOP; or ENOTDIR, as O_DIRECTORY may answer
 * before O_NOFOLLOW, when the entry is a link); anything else the system error, its `path`
 * set to `at` rather than the /proc name.
 */
async function classify(err: unknown, fd: number | undefined, name: string, at: string): Promise<unknown> {
  const linked =
    errno(err) === 'ELOOP' || (errno(err) === 'ENOTDIR' && (await lstat(fd === undefined ? at : `/proc/self/fd/${fd}/${name}`).catch(() => undefined))?.isSymbolicLink() === true);
  if (linked) return new LinkOnTheWayError(at, { cause: err });
  return byName(err, fd === undefined ? at : `/proc/self/fd/${fd}/${name}`, at);
}

/** `err` with its path and message naming `at` rather than `asOpened` (a /proc name). */
function byName(err: unknown, asOpened: string, at: string): unknown {
  if (!(err instanceof Error)) return err;
  (err as NodeJS.ErrnoException).path = at;
  err.message = err.message.split(asOpened).join(at);
  return err;
}

/** What {@link pinDir} does at a name that is missing. */
export interface PinOptions {
  /** Make missing directories (each in its parent held open), rather than fail with ENOENT. */
  create?: boolean;
  /** Called with each parent a directory was made in and the made directory's path, before the walk goes on (to fsync the parent, or note that it is due). */
  made?: (parent: OpenDir, dir: string) => Promise<void>;
}

/**
 * `names` (directory names below `root`, none `..`) opened from `root` one name at a time,
 * following no link below the root; undefined where directories cannot be pinned. The first
 * name is opened by its whole path (the root is trusted: one open and close fewer than
 * opening the root first). A link on the way rejects with {@link LinkOnTheWayError}; other
 * failures (ENOENT, ENOTDIR for a file on the way) with the system error, its `path` and
 * message naming the name's path below `root`. The caller closes it.
 */
export async function pinDir(root: string, names: readonly string[], options: PinOptions = {}): Promise<PinnedDir | undefined> {
  if (!PINNABLE) return undefined;
  let fd: number | undefined;
  let at = root;
  try {
    if (names.length === 0) fd = openSync(root, constants.O_RDONLY | constants.O_DIRECTORY);
    for (const name of names) {
      at = join(at, name);
      const next = await openIn(fd, name, at, options);
      if (fd !== undefined) closeSync(fd);
      fd = next;
    }
    return pinned(fd!);
  } catch (err) {
    if (fd !== undefined) closeSync(fd);
    throw err;
  }
}

/** `name` opened as a directory in `parent` held open (`at` by name when there is none yet: the root's first name), made first when missing and `create`. */
async function openIn(parent: number | undefined, name: string, at: string, options: PinOptions): Promise<number> {
  const inParent = parent === undefined ? at : `/proc/self/fd/${parent}/${name}`;
  for (let tries = 0; ; tries++) {
    try {
      return openSync(inParent, DIR_FLAGS);
    } catch (err) {
      if (errno(err) !== 'ENOENT' || options.create !== true || tries > 0) throw await classify(err, parent, name, at);
    }
    // mkdir does not follow a link in the last name: one planted there is EEXIST, then the open refuses it.
    const made = await mkdir(inParent).then(
      () => true,
      (err: unknown) => {
        if (errno(err) === 'EEXIST') return false;
        throw byName(err, inParent, at);
      },
    );
    if (made && options.made !== undefined) await madeIn(parent, at, options.made);
  }
}

/** Calls `made` with the parent the directory `at` was made in: `parent`, or the root (`at`'s parent by name) opened for it. */
async function madeIn(parent: number | undefined, at: string, made: (parent: OpenDir, dir: string) => Promise<void>): Promise<void> {
  if (parent !== undefined) return made(openDir(parent), at);
  const root = openSync(dirname(at), constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await made(openDir(root), at);
  } finally {
    closeSync(root);
  }
}

/**
 * {@link pinDir} without `create`, all of it blocking (for reads that avoid the thread pool).
 * Failures are the system errors (a link on the way: ELOOP or ENOTDIR).
 */
export function pinDirSync(root: string, names: readonly string[]): PinnedDir | undefined {
  if (!PINNABLE) return undefined;
  let fd: number | undefined;
  let at = root;
  try {
    if (names.length === 0) fd = openSync(root, constants.O_RDONLY | constants.O_DIRECTORY);
    for (const name of names) {
      at = join(at, name);
      const next = openSync(fd === undefined ? at : `/proc/self/fd/${fd}/${name}`, DIR_FLAGS);
      if (fd !== undefined) closeSync(fd);
      fd = next;
    }
    return pinned(fd!);
  } catch (err) {
    if (fd !== undefined) closeSync(fd);
    throw err;
  }
}
