/**
 * LocalBackend: objects are files below a root directory, keys are their relative paths.
 *
 * Confinement. Every key is validated by `normalizeKey` (no `..`, no NUL), so the joined path
 * is lexically inside the root; symbolic links are what could still lead out. Before touching
 * a path the backend resolves it with `realpath` and checks the result:
 * - by default (`followSymlinks: false`, rclone's default) symlinks do not exist for Ferry:
 *   the resolved path must equal the lexical one. Listing skips links; reading through one is
 *   FERRY_ERR_NOT_FOUND; writing through a linked directory is FERRY_ERR_PATH_INVALID.
 * - with `followSymlinks: true` links are followed, but only to targets inside the root:
 *   a link leading out is treated as absent (reads) or refused (writes).
 * Objects are opened with O_NOFOLLOW and replaced by `rename`, which replaces a link rather
 * than writing through it, so a final-component link never redirects a write. A directory
 * swapped for a link inside the root between our check and our use is not used on Linux:
 * writes, reads, copies, moves, deletes and setMtime name their file through its directory
 * held open, and directories are made one name at a time in their parent held open
 * (../../core/pinned-dir.ts). `stat`, `list` and `isDirectory`, and every
 * operation elsewhere (Node has no `openat`), trust the check made once per directory; for
 * them the root is assumed to be written only through Ferry.
 *
 * Atomic writes. Bytes go to a temporary file `.ferry-tmp-<random>` in the destination's
 * directory (same file system, so the final `rename(2)` is atomic), which is fsynced before the
 * rename and whose directory is fsynced after it (unless `durable: false`). Names starting
 * with `.ferry-tmp-` are therefore reserved: never listed, refused as keys.
 */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, constants, fstatSync, fsync, lstatSync, openSync, readSync, renameSync, type Dirent, type Stats } from 'node:fs';
import * as fsp from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import {
  AlreadyExistsError,
  DirectoryNotEmptyError,
  fromSystemError,
  type FerryError,
  IoError,
  isFerryError,
  NotADirectoryError,
  NotFoundError,
  PathInvalidError,
  RangeNotSatisfiableError,
  throwIfAborted,
  ValidationError,
} from '../../core/errors.js';
import { writeAt, writevAt } from '../../core/file-writes.js';
import { normalizeKey } from '../../core/path.js';
import { LinkOnTheWayError, PINNABLE, pinDir, pinDirSync, type OpenDir, type PinnedDir } from '../../core/pinned-dir.js';
import type {
  BackendFeatures,
  Copier,
  DirectoryMaker,
  DirectorySyncer,
  DirEntry,
  HashName,
  Hasher,
  Identifier,
  KeyIdentity,
  ListOptions,
  Mover,
  MtimeSetter,
  ObjectInfo,
  OpOptions,
  PublishOptions,
  RangeReader,
  RangeReadOptions,
  ReadOptions,
  StorageBackend,
  SweptLeftovers,
  LeftoverSweeper,
  StagedObject,
  StagedWriter,
  WriteBody,
  WriteOptions,
} from '../../core/storage.js';
import { bodyChunks, checkOffset, checkSize, discardBody, failOnAbort } from '../shared.js';
import { beginTemp, endTemp, isTempInProgress } from './writes-in-progress.js';

/** Prefix of the temporary files of writes in progress; reserved, never listed. */
export const TEMP_PREFIX = '.ferry-tmp-';

export interface LocalBackendOptions {
  /** The directory holding the objects; created on the first write when missing. */
  root: string;
  /** Follow symbolic links that stay inside the root (default false: links are invisible). */
  followSymlinks?: boolean;
  /**
   * Go through each object's directory held open (../../core/pinned-dir.ts; Linux; default
   * true) to write, read, copy, move, delete it or set its mtime, and make directories one
   * name at a time in their parent held open, so that a link swapped in by another program
   * while Ferry works is never written, made or read through. A root only its owner can write
   * in (the server's own store, mode 0700) has no such other program, and saves an open and a
   * close per file with false.
   */
  pinDirs?: boolean;
}

const HASHES: readonly HashName[] = ['sha256', 'md5', 'sha1'];
/** Entries whose metadata is read in one go while listing, before other work gets a turn. */
const STAT_BATCH = 256;
/** The largest range read with blocking calls when the caller asks (`blocking`): small files only. */
const BLOCKING_READ_MAX = 1 << 20;
const utf8 = new TextDecoder('utf-8', { fatal: true });
const lossyUtf8 = new TextDecoder('utf-8');

/** A directory entry's name as a key, or, for a name no key can hold, how to show it and why. */
function keyNameOf(bytes: Buffer): string | { shown: string; reason: string } {
  let name: string;
  try {
    name = utf8.decode(bytes);
  } catch {
    return { shown: lossyUtf8.decode(bytes), reason: 'name is not valid UTF-8, which Ferry paths must be' };
  }
  try {
    if (normalizeKey(name) === name) return name;
  } catch (err) {
    return { shown: name, reason: err instanceof Error ? err.message : String(err) };
  }
  return { shown: name, reason: 'name not allowed in a Ferry path' };
}

const errno = (err: unknown): string | undefined => (err as NodeJS.ErrnoException | undefined)?.code;
/** The path (or a parent of it) is not there, or is not what it must be to go on. */
const isMissing = (err: unknown): boolean => ['ENOENT', 'ENOTDIR', 'ELOOP'].includes(errno(err) ?? '');

function infoOf(key: string, stats: Stats): ObjectInfo {
  // Stats carry nanoseconds as a fractional ms value; round so that a time set in whole ms
  // (through a double number of seconds) reads back as exactly that ms.
  return { key, size: stats.size, mtime: Math.round(stats.mtimeMs) };
}

function emptyStream(): Readable {
  return new Readable({
    read() {
      this.push(null);
    },
  });
}

/**
 * Makes a directory's entries (a rename, a new child) durable: fsync of the directory. The
 * one implementation, for this backend and for the client's downloads.
 *
 * The directory is opened and closed with blocking calls, as ../../core/pinned-dir.ts opens
 * directories (an open of a directory just written in is a cached lookup: microseconds); only
 * the fsync goes to libuv's pool. Through the pool, the open and the close were two more round
 * trips, each ~20 µs of CPU and a thread's wake-up: a 1 GiB upload fsyncs ~820 directories,
 * one per chunk (issue 15, branch speed11).
 */
export async function syncDir(dir: string): Promise<void> {
  const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await syncHandle({ sync: () => new Promise<void>((resolve, reject) => fsync(fd, (err) => (err ? reject(err) : resolve()))) });
  } finally {
    closeSync(fd);
  }
}

/**
 * `mkdir -p` of `dir` (`mode` for what it makes) with the entry of each directory it made
 * fsynced into its parent, so that a power cut cannot take the new directory, and all that is
 * later made durable in it, away: for the directories made once (a server's data directory,
 * the store's root). Returns the first directory made, or undefined, as `mkdir` does.
 */
export async function mkdirDurable(dir: string, mode?: number): Promise<string | undefined> {
  const first = await fsp.mkdir(dir, { recursive: true, ...(mode !== undefined ? { mode } : {}) });
  if (first === undefined) return undefined;
  for (let made = dir; made.length >= first.length; made = path.dirname(made)) {
    // A parent this user may write in but not read (mode 0311) cannot be opened to fsync: the
    // directory is made all the same, as before, its entry left to the file system's commit.
    await syncDir(path.dirname(made)).catch((err: unknown) => {
      if (errno(err) !== 'EACCES' && errno(err) !== 'EPERM') throw err;
    });
  }
  return first;
}

/** {@link syncDir} of a directory already open. */
async function syncHandle(handle: { sync(): Promise<void> }): Promise<void> {
  try {
    await handle.sync();
  } catch (err) {
    // Some file systems cannot fsync a directory; they order metadata themselves.
    if (errno(err) !== 'EINVAL') throw err;
  }
}

/** The directory key of an object key (`` for the root). */
const parentKey = (key: string): string => key.slice(0, Math.max(0, key.lastIndexOf('/')));

/**
 * When the entries of the directories a write makes are fsynced into their parents: at once
 * (true: a durable write), with the staged objects' directories (`later`: a stage, see
 * `LocalBackend.#unsyncedDirs`), or never (false: a write with `durable: false`).
 */
type DirDurability = boolean | 'later';

/** Directories remembered by {@link LocalBackend} at most (a chunk store has 256 + 256). */
const KNOWN_DIRS = 4096;

/**
 * Bytes gathered before one write(2) (see `write`). Each body streaming in holds one: a
 * server taking dozens of streamed chunk bodies at once (issue 15, workload 6: 45 at a time)
 * held a MiB for each, beyond the 256 KiB its body memory budget counts for it.
 */
const STAGING_BYTES = 256 * 1024;

/**
 * Random per process, then counted: unique enough that O_EXCL never trips over another
 * writer's file, without asking for random bytes (a synchronous call) on every write.
 */
const TEMP_STEM = TEMP_PREFIX + randomBytes(6).toString('hex') + '-';
let tempCount = 0;

/** A new temporary file's name, marked as in progress (writes-in-progress.ts) until its write renames or removes it. */
function tempName(): string {
  const name = TEMP_STEM + (tempCount++).toString(36);
  beginTemp(name);
  return name;
}

/**
 * Writes a body into a new file, from its start; returns the bytes written. Bodies from
 * sockets arrive in pieces of 16-64 KiB; one write(2) each costs a thread pool round trip per
 * piece. Small pieces are copied into a staging buffer and written 256 KiB at a time (the
 * copy is cheaper than the round trips, and producers may reuse their buffers, so keeping
 * references is not an option). Pieces of {@link DIRECT_BYTES} or more go straight through,
 * with what is staged before them in the same writes: a chunk object is a 16-byte header
 * and then its bytes in one buffer, which must not be copied piece by piece. Everything
 * reaches the file in writes of at most `WRITE_SLICE_BYTES`, just under 1 MiB (a whole chunk
 * in one write fills page-cache folios of 1-2 MiB, slow to get in a VM whose balloon hands
 * free memory back: ../../core/file-writes.ts). Each write is awaited before the next piece is
 * pulled: backpressure. Staging buffers are reused from write to write (a chunk store
 * writing a GiB of chunks made, and left for the collector, a MiB of staging per chunk; with
 * more concurrent bodies than spares, the rest were made afresh each time).
 */
async function writeBody(handle: fsp.FileHandle, body: WriteBody, size: number | undefined, signal: AbortSignal | undefined, what: string): Promise<number> {
  let staging: Buffer | undefined;
  let fill = 0;
  let total = 0;
  // Bytes in the file: `total` less what is staged.
  let written = 0;
  try {
    for await (const chunk of bodyChunks(body, { size, signal, what })) {
      total += chunk.byteLength;
      if (chunk.byteLength >= DIRECT_BYTES || (fill === 0 && body instanceof Uint8Array)) {
        const piece = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
        await writevAt(handle, fill > 0 ? [staging!.subarray(0, fill), piece] : [piece], written);
        written += fill + piece.length;
        fill = 0;
        continue;
      }
      staging ??= spareStaging.pop() ?? Buffer.allocUnsafe(STAGING_BYTES);
      let at = 0;
      while (at < chunk.byteLength) {
        const n = Math.min(STAGING_BYTES - fill, chunk.byteLength - at);
        staging.set(chunk.subarray(at, at + n), fill);
        fill += n;
        at += n;
        if (fill === STAGING_BYTES) {
          await writeAt(handle, staging, written);
          written += fill;
          fill = 0;
        }
      }
    }
    if (fill > 0) await writeAt(handle, staging!.subarray(0, fill), written);
    return total;
  } finally {
    // Every write into the file that read it is over (each was awaited).
    if (staging !== undefined && spareStaging.length < SPARE_STAGING) spareStaging.push(staging);
  }
}

/** Pieces at least this big are written as they are (see writeBody); sockets deliver at most 64 KiB. */
const DIRECT_BYTES = 256 * 1024;
/** Staging buffers kept for the next writes (8 MiB at most). */
const SPARE_STAGING = 32;
const spareStaging: Buffer[] = [];

/** Drops the staging buffers kept for the next writes, for the collector to free (a server idling after traffic). */
export function dropSpareStaging(): void {
  spareStaging.length = 0;
}

/** A write of {@link LocalBackend} between its body and its rename: the open temporary file. */
class LocalStaged implements StagedObject {
  size = 0;
  #open = true;
  #gone = false;
  /** The directory held open was let go of ({@link done}): its fsync goes by path. */
  #released = false;

  constructor(
    readonly owner: LocalBackend,
    readonly key: string,
    readonly dir: string,
    readonly temp: string,
    readonly target: string,
    readonly handle: fsp.FileHandle,
    /** The directory held open that `temp` and `target` are named through (pinned-dir.ts), closed once they are done with. */
    private readonly pin?: PinnedDir,
  ) {}

  async close(): Promise<void> {
    if (!this.#open) return;
    this.#open = false;
    await this.handle.close();
  }

  /**
   * Renames the file over its target; the directory stays pinned until {@link syncDirectory} and {@link done}.
   * A blocking call, as the directory opens of {@link syncDir}: a rename within a directory
   * just written in takes microseconds, and through libuv's pool it was a round trip and a
   * thread's wake-up for each chunk of an upload (issue 15, branch speed12).
   */
  async rename(): Promise<void> {
    renameSync(this.temp, this.target);
    this.#gone = true;
    endTemp(path.basename(this.temp));
  }

  /**
   * fsync of the directory the file was renamed in: through the directory held open when
   * there is one (the very directory the rename went through, and no open or close of it
   * again); else, or once let go of, by its path.
   */
  async syncDirectory(): Promise<void> {
    if (this.pin && !this.#released) await syncHandle(this.pin);
    else await syncDir(this.dir);
  }

  /** Lets go of the directory held open; idempotent. */
  done(): void {
    this.#released = true;
    this.pin?.close();
  }

  /** Closes and removes the temporary file (once renamed, there is none left to remove); lets go of the directory. */
  async discard(): Promise<void> {
    await this.close().catch(() => {});
    if (!this.#gone) {
      this.#gone = true;
      await fsp.unlink(this.temp).catch(() => {});
      endTemp(path.basename(this.temp));
    }
    this.done();
  }
}

/**
 * The buffer a range read of an object of `size` bytes fills: `length` bytes from `offset`,
 * clipped at the end, in the caller's `into` when it is large enough.
 * FERRY_ERR_RANGE_NOT_SATISFIABLE when `offset` is past the end.
 */
function rangeBuffer(k: string, offset: number, length: number, size: number, into: Buffer | undefined): Buffer {
  if (offset > size) throw new RangeNotSatisfiableError(`${k}: offset ${offset} is past the end (${size} bytes)`, { details: { offset, size } });
  const wanted = Math.min(length, size - offset);
  return into && into.length >= wanted ? into.subarray(0, wanted) : Buffer.allocUnsafe(wanted);
}

/** The real path of `abs`: symlinks of its existing part resolved, the missing rest appended. */
async function realPathOf(abs: string): Promise<string> {
  try {
    return await fsp.realpath(abs);
  } catch {
    const parent = path.dirname(abs);
    return parent === abs ? abs : path.join(await realPathOf(parent), path.basename(abs));
  }
}

export class LocalBackend
  implements StorageBackend, Copier, Mover, MtimeSetter, Hasher, DirectoryMaker, RangeReader, LeftoverSweeper, StagedWriter, DirectorySyncer, Identifier
{
  readonly name: string;
  /** Absolute root as configured (may itself be a symlink: the operator chose it). */
  readonly root: string;
  readonly followSymlinks: boolean;
  readonly #pinDirs: boolean;
  /** `realpath(root)`, once the root exists; every confinement check compares against it. */
  #realRoot: string | undefined;

  constructor(options: LocalBackendOptions) {
    if (typeof options.root !== 'string' || options.root === '') {
      throw new ValidationError('local backend: root must be a non-empty path');
    }
    this.root = path.resolve(options.root);
    this.followSymlinks = options.followSymlinks ?? false;
    this.#pinDirs = options.pinDirs ?? true;
    this.name = `local:${this.root}`;
  }

  /**
   * Local files: real directories, ms mtimes (the file systems Ferry targets keep ns), no
   * stored hashes (they are computed by {@link hash}). `caseSensitive` assumes a Linux file
   * system without casefolding.
   */
  features(): BackendFeatures {
    return {
      copy: true,
      move: true,
      rangeRead: true,
      hashes: [],
      mtime: true,
      setMtime: true,
      mtimePrecisionMs: 1,
      unknownSizeWrite: true,
      caseSensitive: true,
      directories: 'real',
      persistent: true,
      network: false,
    };
  }

  // ---- keys and confinement -------------------------------------------------------------

  /** A key naming an object: valid, not the root, no reserved segment. */
  #objectKey(key: string): string {
    const k = this.#dirKey(key);
    if (k === '') throw new PathInvalidError('the root is a directory, not an object', { details: { reason: 'root' } });
    return k;
  }

  /** Identifier: the key's real path on this machine (two local roots that meet are one store). */
  async identityOf(key: string): Promise<KeyIdentity> {
    return { store: 'local', path: await realPathOf(path.join(this.root, this.#dirKey(key))) };
  }

  /** A key naming a directory (`` is the root). */
  #dirKey(key: string): string {
    const k = normalizeKey(key);
    if (k.startsWith(TEMP_PREFIX) || k.includes('/' + TEMP_PREFIX)) {
      throw new PathInvalidError(`${k}: names starting with ${TEMP_PREFIX} are reserved for writes in progress`, {
        details: { reason: 'reserved' },
      });
    }
    return k;
  }

  #escapeError(key: string): FerryError {
    const how = this.followSymlinks ? 'a symbolic link leading out of the root' : 'a symbolic link (links are not followed)';
    return new PathInvalidError(`${key}: the path goes through ${how}`, { details: { reason: 'symlink' } });
  }

  /** Whether a resolved path is acceptable for the lexical path `abs` (see the module comment). */
  #confined(real: string, abs: string, realRoot: string): boolean {
    if (!this.followSymlinks) return real === abs;
    return real === realRoot || real.startsWith(realRoot.endsWith(path.sep) ? realRoot : realRoot + path.sep);
  }

  async #rootDir(create: boolean): Promise<string | undefined> {
    if (this.#realRoot !== undefined) return this.#realRoot;
    try {
      this.#realRoot = await fsp.realpath(this.root);
    } catch (err) {
      if (errno(err) !== 'ENOENT') throw fromSystemError(err, this.name);
      if (!create) return undefined;
      try {
        await mkdirDurable(this.root);
        this.#realRoot = await fsp.realpath(this.root);
      } catch (err2) {
        throw fromSystemError(err2, this.name);
      }
    }
    return this.#realRoot;
  }

  /**
   * Directories found confined (without links: `followSymlinks` false), by key. A chunk store
   * writes and reads thousands of objects in the same 256 directories (`chunks/ab/<hash>`):
   * resolving the directory with `realpath` on every call was a thread-pool round trip per
   * chunk for an answer that does not change, since the root is written only through Ferry
   * (see the module comment). The object's own name is never resolved on these paths: it is
   * opened with O_NOFOLLOW, so a link in its place is refused by the open itself. Emptied by
   * `rmdir` and whenever an operation finds a remembered directory gone; bounded.
   */
  readonly #knownDirs = new Map<string, string>();

  #rememberDir(dirKey: string, real: string): void {
    if (this.followSymlinks) return;
    if (this.#knownDirs.size >= KNOWN_DIRS) this.#knownDirs.clear();
    this.#knownDirs.set(dirKey, real);
  }

  /**
   * Lookups of directories under way, by key: the reads of a tree's small files start many
   * at once in each directory, and each used to resolve the directory itself before the
   * first answer was remembered (10,000 `realpath` calls for 100 directories, 0.15–0.3 s of
   * a sync's CPU); they now share the one lookup.
   */
  readonly #dirLookups = new Map<string, Promise<string | undefined>>();

  /** The real path of an existing directory key, or undefined when it is absent or not confined. */
  #lookupDir(dirKey: string): Promise<string | undefined> {
    const known = this.#knownDirs.get(dirKey);
    if (known !== undefined) return Promise.resolve(known);
    let lookup = this.#dirLookups.get(dirKey);
    if (lookup === undefined) {
      lookup = this.#resolveDir(dirKey).finally(() => this.#dirLookups.delete(dirKey));
      this.#dirLookups.set(dirKey, lookup);
    }
    return lookup;
  }

  async #resolveDir(dirKey: string): Promise<string | undefined> {
    const realRoot = await this.#rootDir(false);
    if (realRoot === undefined) return undefined;
    if (dirKey === '') return realRoot;
    const abs = path.join(realRoot, dirKey);
    let real: string;
    try {
      real = await fsp.realpath(abs);
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw fromSystemError(err, dirKey);
    }
    if (!this.#confined(real, abs, realRoot)) return undefined;
    this.#rememberDir(dirKey, real);
    return real;
  }

  /**
   * Directories this process made on the way of a `stage` ({@link DirDurability} `later`)
   * whose entry in their parent is not fsynced yet, by real path, each with a mark of that
   * making. Until the parent is fsynced, a power cut may lose the directory with all it holds,
   * however durable its files (POSIX does not promise the entry; ext4 and XFS keep it in
   * practice). The parent of each one on a staged object's way is fsynced with the object's own
   * directory ({@link #syncDirectoriesOf}), or before a durable write goes below it
   * ({@link #ensureDir}), and the directory forgotten: a chunk store's 256 fan-out directories
   * cost one fsync of `chunks/` for each group that made some of them, at most 256 in a data
   * directory's life, nothing per chunk (an fsync of the parent at each mkdir would hold the
   * stage that made it; one at every publication would be paid by every group, forever).
   */
  readonly #unsyncedDirs = new Map<string, number>();
  #unsyncedMarks = 0;

  /** Notes that `dir` was made and its parent not fsynced since. */
  #madeUnsynced(dir: string): void {
    this.#unsyncedDirs.set(dir, ++this.#unsyncedMarks);
  }

  /** The directories of {@link #unsyncedDirs} among `dir` and its ancestors below the root, with their marks. */
  #unsyncedOnTheWay(dir: string): [string, number][] {
    const found: [string, number][] = [];
    if (this.#unsyncedDirs.size === 0) return found;
    for (let d = dir; path.dirname(d) !== d; d = path.dirname(d)) {
      const mark = this.#unsyncedDirs.get(d);
      if (mark !== undefined) found.push([d, mark]);
    }
    return found;
  }

  /** Forgets that `made`'s directories' entries are due, once their parents are fsynced (a directory made again meanwhile has a new mark: still due). */
  #syncedUnsynced(made: Iterable<[string, number]>): void {
    for (const [dir, mark] of made) if (this.#unsyncedDirs.get(dir) === mark) this.#unsyncedDirs.delete(dir);
  }

  /**
   * Creates the directory `dirKey` and its parents as needed (see {@link #makeDir}) and
   * returns its real path. When `durable` is true, the entries of the new directories, and of
   * those on the way made earlier by a stage (see {@link #unsyncedDirs}), are fsynced.
   */
  async #ensureDir(dirKey: string, durable: DirDurability): Promise<string> {
    const dir = await this.#makeDir(dirKey, durable);
    if (durable !== true || this.#unsyncedDirs.size === 0) return dir;
    const made = this.#unsyncedOnTheWay(dir);
    try {
      for (const parent of new Set(made.map(([d]) => path.dirname(d)))) await syncDir(parent);
    } catch (err) {
      throw fromSystemError(err, dirKey);
    }
    this.#syncedUnsynced(made);
    return dir;
  }

  /**
   * `#ensureDir`'s making (confined: each directory made in its parent held open when
   * {@link #pinning}, else the deepest existing ancestor is checked before anything is created
   * below it). The new directories' entries are fsynced when `durable` is true, noted in
   * {@link #unsyncedDirs} when it is `later`.
   */
  async #makeDir(dirKey: string, durable: DirDurability): Promise<string> {
    const known = this.#knownDirs.get(dirKey);
    if (known !== undefined) return known;
    const made = this.#pinning ? undefined : await this.#makeUnderKnown(dirKey, durable);
    if (made !== undefined) return made;
    const realRoot = (await this.#rootDir(true)) as string;
    if (dirKey === '') return realRoot;
    const abs = path.join(realRoot, dirKey);
    const check = async (candidate: string): Promise<string | undefined> => {
      try {
        const real = await fsp.realpath(candidate);
        if (!this.#confined(real, candidate, realRoot)) throw this.#escapeError(dirKey);
        return real;
      } catch (err) {
        if (isFerryError(err)) throw err;
        if (errno(err) === 'ENOENT') return undefined;
        if (errno(err) === 'ENOTDIR') throw new NotADirectoryError(`${dirKey}: a parent is an object, not a directory`, { cause: err });
        throw fromSystemError(err, dirKey);
      }
    };
    const found = await check(abs);
    if (found !== undefined) {
      this.#rememberDir(dirKey, found);
      return found;
    }
    if (this.#pinning) return this.#makePinned(dirKey, durable, abs);

    const segments = dirKey.split('/');
    let depth = segments.length - 1;
    let base = realRoot;
    for (; depth > 0; depth--) {
      const real = await check(path.join(realRoot, ...segments.slice(0, depth)));
      if (real !== undefined) {
        base = real;
        this.#rememberDir(segments.slice(0, depth).join('/'), real);
        break;
      }
    }
    const target = path.join(base, ...segments.slice(depth));
    let first: string | undefined;
    try {
      first = await fsp.mkdir(target, { recursive: true });
    } catch (err) {
      if (errno(err) === 'EEXIST' || errno(err) === 'ENOTDIR') {
        throw new NotADirectoryError(`${dirKey}: a parent is an object, not a directory`, { cause: err });
      }
      throw fromSystemError(err, dirKey);
    }
    // Re-check what we created through: a link swapped in meanwhile must not be used.
    const real = await check(target);
    if (real === undefined) throw new NotFoundError(`${dirKey}: the directory vanished while being created`);
    if (durable === true && first !== undefined) {
      try {
        await syncDir(path.dirname(first));
        for (let dir = path.dirname(target); dir.length >= first.length; dir = path.dirname(dir)) await syncDir(dir);
      } catch (err) {
        throw fromSystemError(err, dirKey);
      }
    } else if (durable === 'later' && first !== undefined) {
      for (let dir = target; dir.length >= first.length; dir = path.dirname(dir)) this.#madeUnsynced(dir);
    }
    this.#rememberDir(dirKey, real);
    return real;
  }

  /** `#ensureDir`'s making when {@link #pinning}: each missing directory made in its parent held open, so a link swapped in on the way is neither made in nor made through. */
  async #makePinned(dirKey: string, durable: DirDurability, abs: string): Promise<string> {
    let pin: PinnedDir | undefined;
    try {
      pin = await this.#pinDir(dirKey, { durable });
    } catch (err) {
      if (isFerryError(err)) throw err;
      if (errno(err) === 'ENOTDIR') throw new NotADirectoryError(`${dirKey}: a parent is an object, not a directory`, { cause: err });
      throw fromSystemError(err, dirKey);
    }
    pin?.close();
    this.#rememberDir(dirKey, abs);
    return abs;
  }

  /**
   * The common case of `#ensureDir` in one round trip: a new directory whose parent is
   * known (confined, resolved): a chunk store's `chunks/ab` fan-out directories, 256 of
   * them, were each a `realpath` that failed, one of the parent, a `mkdir -p` and a
   * `realpath` of the result, on a fresh data directory every first GiB uploaded. A `mkdir`
   * of a single name in a directory known to be real makes a real, confined directory;
   * anything else (the name exists: maybe a link, or a file; an error) is left to the
   * checks of the general path, and undefined returned.
   */
  async #makeUnderKnown(dirKey: string, durable: DirDurability): Promise<string | undefined> {
    const slash = dirKey.lastIndexOf('/');
    if (slash < 0 || this.followSymlinks) return undefined;
    const parent = this.#knownDirs.get(dirKey.slice(0, slash));
    if (parent === undefined) return undefined;
    const dir = path.join(parent, dirKey.slice(slash + 1));
    try {
      await fsp.mkdir(dir);
    } catch {
      return undefined;
    }
    if (durable === true) {
      try {
        await syncDir(parent);
      } catch (err) {
        throw fromSystemError(err, dirKey);
      }
    } else if (durable === 'later') this.#madeUnsynced(dir);
    this.#rememberDir(dirKey, dir);
    return dir;
  }

  /** Whether operations go through their directory held open (../../core/pinned-dir.ts): not with `followSymlinks` (links inside the root are then meant to be followed) nor `pinDirs: false`. */
  get #pinning(): boolean {
    return PINNABLE && !this.followSymlinks && this.#pinDirs;
  }

  /**
   * The directory `dirKey` held open (../../core/pinned-dir.ts), so that a link swapped in
   * after a check is not used: opened one name at a time from the root, a link on the way is
   * FERRY_ERR_PATH_INVALID; with `create`, missing directories are made on the way (each
   * fsynced into its parent when `durable` is true, noted in {@link #unsyncedDirs} when
   * `later`). Undefined when not {@link #pinning}, and for the
   * root (its path is trusted, as it is the operator's: one open and close fewer for each
   * object at the top).
   */
  async #pinDir(dirKey: string, create?: { durable: DirDurability }): Promise<PinnedDir | undefined> {
    if (!this.#pinning || dirKey === '') return undefined;
    const realRoot = (await this.#rootDir(create !== undefined)) as string;
    const noteMade = async (_: OpenDir, dir: string) => this.#madeUnsynced(dir);
    const made = create?.durable === true ? (parent: OpenDir) => syncHandle(parent) : create?.durable === 'later' ? noteMade : undefined;
    try {
      return await pinDir(realRoot, dirKey.split('/'), { create: create !== undefined, made });
    } catch (err) {
      if (err instanceof LinkOnTheWayError) {
        this.#knownDirs.clear();
        throw this.#escapeError(dirKey);
      }
      throw err;
    }
  }

  /**
   * The parent of object `key` held open for a read, a delete, a move's source: undefined
   * when not {@link #pinning}, `null` when the directory is missing or a link (so the object
   * is not there).
   */
  async #pinParent(key: string): Promise<PinnedDir | null | undefined> {
    if (!this.#pinning || parentKey(key) === '') return undefined;
    if ((await this.#lookupDir('')) === undefined) return null;
    try {
      return await this.#pinDir(parentKey(key));
    } catch (err) {
      if (isMissing(err) || (isFerryError(err) && err.code === 'FERRY_ERR_PATH_INVALID')) return null;
      throw fromSystemError(err, key);
    }
  }

  /**
   * The name to use `key` (an object or directory) by: in its parent held open when
   * {@link #pinning} (the caller closes `pin`), else through its checked directory; undefined
   * when the parent is missing or (unless followed) a link.
   */
  async #entry(key: string): Promise<{ at: string; pin?: PinnedDir } | undefined> {
    const pin = await this.#pinParent(key);
    if (pin === null) return undefined;
    const name = path.posix.basename(key);
    if (pin !== undefined) return { at: path.join(pin.path, name), pin };
    const dir = await this.#lookupDir(parentKey(key));
    return dir === undefined ? undefined : { at: path.join(dir, name) };
  }

  /** The real path a key resolves to when it is confined, or undefined (missing, or leads through a refused link). */
  async #resolve(key: string): Promise<string | undefined> {
    if (!this.followSymlinks) {
      // Only the directory is resolved (and remembered); a link as the object itself is
      // refused by every caller (O_NOFOLLOW, lstat), as realpath's answer would have been.
      const slash = key.lastIndexOf('/');
      const dir = await this.#lookupDir(slash < 0 ? '' : key.slice(0, slash));
      return dir === undefined ? undefined : path.join(dir, key.slice(slash + 1));
    }
    const realRoot = await this.#rootDir(false);
    if (realRoot === undefined) return undefined;
    const abs = path.join(realRoot, key);
    try {
      const real = await fsp.realpath(abs);
      return this.#confined(real, abs, realRoot) ? real : undefined;
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw fromSystemError(err, key);
    }
  }

  /** The object's real path and lstat, or undefined when there is no (confined, regular) file. */
  async #findObject(key: string): Promise<{ file: string; stats: Stats } | undefined> {
    const file = await this.#resolve(key);
    if (file === undefined) return undefined;
    try {
      const stats = await fsp.lstat(file);
      return stats.isFile() ? { file, stats } : undefined;
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw fromSystemError(err, key);
    }
  }

  /**
   * Opens an object for reading. O_NOFOLLOW: the path was resolved, so a link here is a race
   * and is refused; O_NONBLOCK: a FIFO swapped in must not block the open (no effect on files).
   * When {@link #pinning} it is opened in its directory held open: a directory swapped for a
   * link after the check is not read through.
   */
  async #openObject(key: string): Promise<{ handle: fsp.FileHandle; size: number; stats: Stats }> {
    // No lstat first: the fstat below decides whether it is a regular file (one syscall less
    // on the chunk store's hot path).
    const pin = await this.#pinParent(key);
    const file = pin === null ? undefined : pin === undefined ? await this.#resolve(key) : path.join(pin.path, path.posix.basename(key));
    if (file === undefined) throw new NotFoundError(`${key}: not found`);
    let handle: fsp.FileHandle;
    try {
      handle = await fsp.open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (err) {
      if (isMissing(err)) throw new NotFoundError(`${key}: not found`, { cause: err });
      throw fromSystemError(err, key);
    } finally {
      pin?.close();
    }
    try {
      const stats = await handle.stat();
      if (!stats.isFile()) throw new NotFoundError(`${key}: not found`);
      return { handle, size: stats.size, stats };
    } catch (err) {
      await handle.close().catch(() => {});
      throw fromSystemError(err, key);
    }
  }

  /** `#openObject`'s open with blocking calls (readRange with `blocking`): a descriptor, or undefined when there is no such file. */
  async #openObjectSync(k: string): Promise<number | undefined> {
    const flags = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
    const dirKey = parentKey(k);
    if (!this.#pinning || dirKey === '') {
      const file = await this.#resolve(k);
      return file === undefined ? undefined : openSync(file, flags);
    }
    // Shared by the reads started at once (see #dirLookups): one realpath of the root.
    const realRoot = await this.#lookupDir('');
    if (realRoot === undefined) return undefined;
    const pin = pinDirSync(realRoot, dirKey.split('/'))!;
    try {
      return openSync(path.join(pin.path, path.posix.basename(k)), flags);
    } finally {
      pin.close();
    }
  }

  // ---- required methods -----------------------------------------------------------------

  /** Size and mtime of a regular file. Directories, links (unless followed) and missing keys: FERRY_ERR_NOT_FOUND. */
  async stat(key: string, options: OpOptions = {}): Promise<ObjectInfo> {
    const k = this.#objectKey(key);
    throwIfAborted(options.signal);
    const found = await this.#findObject(k);
    if (found === undefined) throw new NotFoundError(`${k}: not found`);
    return infoOf(k, found.stats);
  }

  /**
   * A file stream over `[offset, offset+length)`, served by `createReadStream({start, end})`.
   * The file is opened (and NOT_FOUND / RANGE_NOT_SATISFIABLE decided) before this resolves;
   * the open descriptor keeps the bytes of that moment even if the key is overwritten meanwhile.
   */
  async read(key: string, options: ReadOptions = {}): Promise<Readable> {
    const k = this.#objectKey(key);
    const { offset = 0, length, signal } = options;
    checkOffset(offset, 'offset', k);
    checkOffset(length, 'length', k);
    throwIfAborted(signal);
    const { handle, size, stats } = await this.#openObject(k);
    try {
      if (offset > size) {
        throw new RangeNotSatisfiableError(`${k}: offset ${offset} is past the end (${size} bytes)`, { details: { offset, size } });
      }
      const end = length === undefined ? size : Math.min(size, offset + length);
      if (end <= offset) {
        await handle.close();
        return emptyStream();
      }
      throwIfAborted(signal);
      // The stream owns the handle from here, including on abort.
      return failOnAbort(Readable.from(readUnchanged(handle, stats, k, offset, end, signal), { objectMode: false }), signal, k);
    } catch (err) {
      await handle.close().catch(() => {});
      throw fromSystemError(err, k);
    }
  }

  /**
   * Streams the body into a temporary file next to the destination, then renames it over the
   * destination (atomic). With `durable` (the default) the file is fsynced before the rename
   * and the directory after it. Any failure removes the temporary file before this rejects.
   */
  async write(key: string, body: WriteBody, options: WriteOptions = {}): Promise<ObjectInfo> {
    const durable = options.durable !== false;
    const staged = await this.#writeTemp(key, body, options, durable);
    try {
      if (durable) await staged.handle.sync();
      const stats = await staged.handle.stat();
      await staged.close();
      throwIfAborted(options.signal); // the last moment an abort can still keep the object from appearing
      await staged.rename();
      if (durable) await staged.syncDirectory();
      staged.done();
      return infoOf(staged.key, stats);
    } catch (err) {
      await staged.discard();
      throw fromSystemError(err, staged.key);
    }
  }

  /**
   * Grouped durability (StagedWriter): the body goes to a temporary file as for `write`, which
   * is left open, unflushed and invisible until {@link publish}.
   */
  async stage(key: string, body: WriteBody, options: Omit<WriteOptions, 'durable'> = {}): Promise<StagedObject> {
    return this.#writeTemp(key, body, options, 'later');
  }

  /**
   * Makes staged files durable and visible: every file fsynced (all at once: the file system
   * joins them into few journal commits), renamed over its target, then each directory that
   * received one fsynced once, however many objects it received. A file whose fsync or rename
   * fails is removed and its error reported in its place; a directory whose fsync fails fails
   * all of its objects (they are visible, but not known durable). With `directoriesLater` the
   * directories are left to {@link syncDirectories}, and the directories held open let go of
   * at once (a group of a thousand chunks would otherwise hold as many open).
   */
  async publish(objects: readonly StagedObject[], options: PublishOptions = {}): Promise<(Error | null)[]> {
    const own = this.#ownStaged(objects);
    const results: (Error | null)[] = await Promise.all(
      own.map(async (o) => {
        try {
          await o.handle.sync();
          await o.close();
          await o.rename();
          return null;
        } catch (err) {
          await o.discard();
          return fromSystemError(err, o.key) as Error;
        }
      }),
    );
    if (options.directoriesLater === true) {
      for (const o of own) o.done();
      return results;
    }
    return this.#syncDirectoriesOf(own, results);
  }

  /** The second half of a publication with `directoriesLater` (DirectorySyncer): each directory that received one of `objects` fsynced once. */
  async syncDirectories(objects: readonly StagedObject[]): Promise<(Error | null)[]> {
    const own = this.#ownStaged(objects);
    return this.#syncDirectoriesOf(
      own,
      own.map(() => null),
    );
  }

  #ownStaged(objects: readonly StagedObject[]): LocalStaged[] {
    return objects.map((o) => {
      if (!(o instanceof LocalStaged) || o.owner !== this) throw new ValidationError(`${o.key}: not staged by ${this.name}`);
      return o;
    });
  }

  /**
   * fsync of each directory that received one of `own` whose result is still null, once, and
   * of the parent of each directory on their way made without its entry fsynced
   * ({@link #unsyncedDirs}), once; a failure fails the results of the objects below.
   */
  async #syncDirectoriesOf(own: readonly LocalStaged[], results: (Error | null)[]): Promise<(Error | null)[]> {
    const dirs = new Map<string, { members: Set<number>; via?: LocalStaged; made: Map<string, number> }>();
    const dirOf = (dir: string) => {
      let entry = dirs.get(dir);
      if (entry === undefined) dirs.set(dir, (entry = { members: new Set(), made: new Map() }));
      return entry;
    };
    own.forEach((o, i) => {
      if (results[i] !== null) return;
      const entry = dirOf(o.dir);
      entry.members.add(i);
      entry.via ??= o;
    });
    for (const [dir, { members }] of [...dirs]) {
      for (const [made, mark] of this.#unsyncedOnTheWay(dir)) {
        const parent = dirOf(path.dirname(made));
        for (const i of members) parent.members.add(i);
        parent.made.set(made, mark);
      }
    }
    // Each directory once: through the first of its objects' pinned directories, or by path.
    await Promise.all(
      [...dirs].map(async ([dir, { members, via, made }]) => {
        try {
          await (via === undefined ? syncDir(dir) : via.syncDirectory());
          this.#syncedUnsynced(made);
        } catch (err) {
          for (const i of members) results[i] = fromSystemError(err, own[i].key) as Error;
        }
      }),
    );
    for (const o of own) o.done();
    return results;
  }

  /** Drops staged files (closed and removed); idempotent. */
  async discard(objects: readonly StagedObject[]): Promise<void> {
    await Promise.all(objects.map((o) => (o instanceof LocalStaged ? o.discard() : undefined)));
  }

  /**
   * The first half of every write: the key checked, its directory made (see
   * {@link DirDurability}), the body streamed into an open temporary file in it (mtime set). The caller
   * flushes, renames or discards; on failure here the temporary file is already gone.
   */
  async #writeTemp(key: string, body: WriteBody, options: Omit<WriteOptions, 'durable'>, durable: DirDurability): Promise<LocalStaged> {
    const { signal, mtime } = options;
    let k: string;
    let dir: string;
    let dirKey: string;
    try {
      k = this.#objectKey(key);
      checkSize(options.size, k);
      if (mtime !== undefined && !Number.isFinite(mtime)) throw new ValidationError(`${k}: mtime must be a number of ms`);
      throwIfAborted(signal);
      dirKey = k.slice(0, Math.max(0, k.lastIndexOf('/')));
      dir = await this.#ensureDir(dirKey, durable);
    } catch (err) {
      discardBody(body);
      throw err;
    }
    let handle: fsp.FileHandle;
    let pin: PinnedDir | undefined;
    let temp = '';
    // O_EXCL: never reuse a file that is already there; 0o666 so that the umask decides.
    const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
    const openTemp = async (): Promise<fsp.FileHandle> => {
      pin = await this.#pinDir(dirKey);
      temp = path.join(pin?.path ?? dir, tempName());
      return fsp.open(temp, flags, 0o666);
    };
    try {
      try {
        handle = await openTemp();
      } catch (err) {
        // A remembered directory removed meanwhile (by another process): look it up afresh.
        if (errno(err) !== 'ENOENT' || !this.#knownDirs.has(dirKey)) throw err;
        this.#knownDirs.clear();
        if (temp !== '') endTemp(path.basename(temp));
        pin?.close();
        dir = await this.#ensureDir(dirKey, durable);
        handle = await openTemp();
      }
    } catch (err) {
      if (temp !== '') endTemp(path.basename(temp));
      pin?.close();
      discardBody(body);
      throw isFerryError(err) ? err : fromSystemError(err, k);
    }
    const staged = new LocalStaged(this, k, dir, temp, path.join(pin?.path ?? dir, path.posix.basename(k)), handle, pin);
    try {
      staged.size = await writeBody(handle, body, options.size, signal, k);
      if (mtime !== undefined) await handle.utimes(Date.now() / 1000, mtime / 1000);
      return staged;
    } catch (err) {
      await staged.discard();
      throw fromSystemError(err, k);
    }
  }

  /** Unlinks a file. Missing keys, directories and (unless followed) links: nothing happens. */
  async delete(key: string, options: OpOptions = {}): Promise<void> {
    const k = this.#objectKey(key);
    throwIfAborted(options.signal);
    const entry = await this.#entry(k);
    if (entry === undefined) return;
    try {
      const stats = await fsp.lstat(entry.at);
      if (stats.isDirectory() || (stats.isSymbolicLink() && !this.followSymlinks)) return;
      // A followed link is removed itself, never its target.
      await fsp.unlink(entry.at);
    } catch (err) {
      if (isMissing(err) || errno(err) === 'EISDIR') return;
      throw fromSystemError(err, k);
    } finally {
      entry.pin?.close();
    }
  }

  /**
   * Regular files and directories below `prefix`; links are skipped unless followed (and then
   * only those leading inside the root; a link to one of its own ancestors is not descended
   * into twice). Temporary files are skipped; so are names that are not valid keys (invalid
   * UTF-8, control characters), which could not be addressed by key anyway: those are told to
   * `onSkip`, as links not followed are.
   */
  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<DirEntry> {
    const { recursive = false, signal } = options;
    const start = this.#dirKey(prefix);
    throwIfAborted(signal);
    const realRoot = await this.#rootDir(false);
    const startDir = await this.#lookupDir(start);
    if (realRoot === undefined || startDir === undefined) return;

    // Depth-first; `chain` holds the real paths from the start down, to catch link cycles.
    const stack: { key: string; dir: string; chain: string[] }[] = [{ key: start, dir: startDir, chain: [startDir] }];
    while (stack.length > 0) {
      const { key: dirKey, dir, chain } = stack.pop()!;
      throwIfAborted(signal);
      let raw: Buffer[];
      try {
        raw = await fsp.readdir(dir, { encoding: 'buffer' });
      } catch (err) {
        // ENOTDIR: the start is an object, not a directory; ENOENT: removed while we walked.
        if (isMissing(err)) continue;
        throw fromSystemError(err, dirKey || '/');
      }
      const names: string[] = [];
      for (const bytes of raw) {
        const name = keyNameOf(bytes);
        if (typeof name !== 'string') {
          // Left out, but said: a copy or sync that dropped it silently would end "ok".
          options.onSkip?.(dirKey === '' ? name.shown : `${dirKey}/${name.shown}`, name.reason);
          continue;
        }
        if (!name.startsWith(TEMP_PREFIX)) names.push(name);
      }
      for (let i = 0; i < names.length; i += STAT_BATCH) {
        throwIfAborted(signal);
        const batch = names.slice(i, i + STAT_BATCH);
        const entries = await Promise.all(batch.map((name) => this.#describe(path.join(dir, name), realRoot)));
        // One batch's lstat calls block the event loop for well under a millisecond on a local
        // disk; through libuv's pool they cost about four times the CPU (promise, thread hop).
        if (i + STAT_BATCH < names.length) await new Promise<void>((resolve) => setImmediate(resolve));
        for (let j = 0; j < batch.length; j++) {
          const entry = entries[j];
          const key = dirKey === '' ? batch[j] : `${dirKey}/${batch[j]}`;
          if (typeof entry === 'string') options.onSkip?.(key, entry);
          if (entry === undefined || typeof entry === 'string') continue;
          if (entry.stats.isFile()) {
            yield { key, type: 'file', size: entry.stats.size, mtime: Math.round(entry.stats.mtimeMs) };
          } else {
            if (chain.includes(entry.real)) continue; // a link back up: the listing would never end
            yield { key, type: 'dir', mtime: Math.round(entry.stats.mtimeMs) };
            if (recursive) stack.push({ key, dir: entry.real, chain: [...chain, entry.real] });
          }
        }
      }
    }
  }

  /**
   * What a directory entry is to Ferry: a file or directory (links resolved when followed), or
   * why it is left out (a link not followed, a special file), or nothing (gone, outside the root).
   */
  async #describe(abs: string, realRoot: string): Promise<{ real: string; stats: Stats } | string | undefined> {
    try {
      let stats = lstatSync(abs);
      let real = abs;
      if (stats.isSymbolicLink()) {
        if (!this.followSymlinks) return 'symbolic link not followed';
        real = await fsp.realpath(abs);
        if (!this.#confined(real, abs, realRoot)) return undefined;
        stats = await fsp.stat(real);
      }
      return stats.isFile() || stats.isDirectory() ? { real, stats } : 'not a regular file or directory';
    } catch (err) {
      if (isMissing(err)) return undefined; // gone meanwhile, or a dangling link
      throw fromSystemError(err, abs);
    }
  }

  // ---- optional abilities ---------------------------------------------------------------

  /**
   * `copyFile` with COPYFILE_FICLONE (a reflink where the file system can, a copy elsewhere)
   * into a temporary file, mtime carried over, fsynced, then renamed over `to`: atomic like write.
   * The copy itself cannot be interrupted; an abort is honoured before and after it.
   */
  async copy(from: string, to: string, options: OpOptions = {}): Promise<ObjectInfo> {
    const src = this.#objectKey(from);
    const dst = this.#objectKey(to);
    const { signal } = options;
    throwIfAborted(signal);
    const source = await this.#copySource(src);
    const dirKey = parentKey(dst);
    let pin: PinnedDir | undefined;
    let temp = '';
    try {
      const dir = await this.#ensureDir(dirKey, true);
      pin = await this.#pinDir(dirKey);
      temp = path.join(pin?.path ?? dir, tempName());
      await fsp.copyFile(source.file, temp, constants.COPYFILE_FICLONE | constants.COPYFILE_EXCL);
      const handle = await fsp.open(temp, constants.O_RDONLY | constants.O_NOFOLLOW);
      let stats: Stats;
      try {
        await handle.utimes(source.stats.atimeMs / 1000, source.stats.mtimeMs / 1000);
        await handle.sync();
        stats = await handle.stat();
      } finally {
        await handle.close();
      }
      throwIfAborted(signal);
      await fsp.rename(temp, path.join(pin?.path ?? dir, path.posix.basename(dst)));
      await (pin === undefined ? syncDir(dir) : syncHandle(pin));
      return infoOf(dst, stats);
    } catch (err) {
      if (temp !== '') await fsp.unlink(temp).catch(() => {});
      if (isFerryError(err)) throw err;
      if (errno(err) === 'ENOENT') throw new NotFoundError(`${src}: vanished while being copied`, { cause: err });
      throw fromSystemError(err, dst);
    } finally {
      if (temp !== '') endTemp(path.basename(temp));
      pin?.close();
      await source.close();
    }
  }

  /**
   * The source of a copy: a name for its bytes and its lstat. When {@link #pinning} the file
   * is opened in its directory held open and named by its descriptor (`/proc/self/fd/N`), so
   * neither a link swapped in for a directory on the way nor for the file itself is read
   * through; `close` closes it.
   */
  async #copySource(key: string): Promise<{ file: string; stats: Stats; close: () => Promise<void> }> {
    if (!this.#pinning) {
      const found = await this.#findObject(key);
      if (found === undefined) throw new NotFoundError(`${key}: not found`);
      return { file: found.file, stats: found.stats, close: async () => {} };
    }
    // Blocking calls, as for a blocking readRange: one hand-off to the thread pool (the copy) per file, not four.
    let fd: number | undefined;
    try {
      fd = await this.#openObjectSync(key);
      const stats = fd === undefined ? undefined : fstatSync(fd);
      if (fd === undefined || !stats?.isFile()) throw new NotFoundError(`${key}: not found`);
      const open = fd;
      return { file: `/proc/self/fd/${open}`, stats, close: async () => closeSync(open) };
    } catch (err) {
      if (fd !== undefined) closeSync(fd);
      if (isMissing(err)) throw new NotFoundError(`${key}: not found`, { cause: err });
      throw fromSystemError(err, key);
    }
  }

  /**
   * `rename(2)`: atomic, keeps the mtime, creates `to`'s parents. A followed link is moved by
   * copying what it points to (renaming the target would pull it from under the link); a
   * rename across file systems (a mount point inside the root) falls back to copy and delete.
   */
  async move(from: string, to: string, options: OpOptions = {}): Promise<ObjectInfo> {
    const src = this.#objectKey(from);
    const dst = this.#objectKey(to);
    throwIfAborted(options.signal);
    if (src === dst) return this.stat(src, options);
    if (this.#pinning) return this.#movePinned(src, dst, options);
    const found = await this.#findObject(src);
    if (found === undefined) throw new NotFoundError(`${src}: not found`);
    const srcSlash = src.lastIndexOf('/');
    const srcDir = (await this.#lookupDir(srcSlash < 0 ? '' : src.slice(0, srcSlash))) ?? path.dirname(found.file);
    const entry = path.join(srcDir, src.slice(srcSlash + 1));
    if (entry !== found.file) return this.#copyThenDelete(src, dst, options);
    const dir = await this.#ensureDir(dst.slice(0, Math.max(0, dst.lastIndexOf('/'))), true);
    const target = path.join(dir, path.posix.basename(dst));
    try {
      await fsp.rename(entry, target);
      await syncDir(dir);
      if (srcDir !== dir) await syncDir(srcDir);
      return infoOf(dst, await fsp.lstat(target));
    } catch (err) {
      if (errno(err) === 'EXDEV') return this.#copyThenDelete(src, dst, options);
      if (errno(err) === 'ENOENT') throw new NotFoundError(`${src}: not found`, { cause: err });
      throw fromSystemError(err, dst);
    }
  }

  /** move through both directories held open: `rename` of `/proc/self/fd/A/name` to `/proc/self/fd/B/name` is renameat(2). */
  async #movePinned(src: string, dst: string, options: OpOptions): Promise<ObjectInfo> {
    const from = await this.#entry(src);
    if (from === undefined) throw new NotFoundError(`${src}: not found`);
    const dirKey = parentKey(dst);
    let to: PinnedDir | undefined;
    try {
      if (!(await fsp.lstat(from.at)).isFile()) throw new NotFoundError(`${src}: not found`);
      const dir = await this.#ensureDir(dirKey, true);
      to = await this.#pinDir(dirKey);
      const target = path.join(to?.path ?? dir, path.posix.basename(dst));
      await fsp.rename(from.at, target);
      await (to === undefined ? syncDir(dir) : syncHandle(to));
      if (parentKey(src) !== dirKey) await (from.pin === undefined ? syncDir(path.dirname(from.at)) : syncHandle(from.pin));
      return infoOf(dst, await fsp.lstat(target));
    } catch (err) {
      if (isFerryError(err)) throw err;
      if (errno(err) === 'EXDEV') return this.#copyThenDelete(src, dst, options);
      if (isMissing(err)) throw new NotFoundError(`${src}: not found`, { cause: err });
      throw fromSystemError(err, dst);
    } finally {
      to?.close();
      from.pin?.close();
    }
  }

  async #copyThenDelete(src: string, dst: string, options: OpOptions): Promise<ObjectInfo> {
    const info = await this.copy(src, dst, options);
    await this.delete(src, options);
    return info;
  }

  /** `utimes(2)` on the file (the target of a followed link); the access time is kept. */
  async setMtime(key: string, mtime: number, options: OpOptions = {}): Promise<void> {
    const k = this.#objectKey(key);
    if (!Number.isFinite(mtime)) throw new ValidationError(`${k}: mtime must be a number of ms`);
    throwIfAborted(options.signal);
    if (this.#pinning) return this.#setMtimePinned(k, mtime);
    const found = await this.#findObject(k);
    if (found === undefined) throw new NotFoundError(`${k}: not found`);
    try {
      await fsp.utimes(found.file, found.stats.atimeMs / 1000, mtime / 1000);
    } catch (err) {
      throw fromSystemError(err, k);
    }
  }

  /** setMtime in the file's directory held open: `lutimes`, so a link swapped in for the file itself is not followed either. */
  async #setMtimePinned(k: string, mtime: number): Promise<void> {
    const entry = await this.#entry(k);
    if (entry === undefined) throw new NotFoundError(`${k}: not found`);
    try {
      const stats = await fsp.lstat(entry.at);
      if (!stats.isFile()) throw new NotFoundError(`${k}: not found`);
      await fsp.lutimes(entry.at, stats.atimeMs / 1000, mtime / 1000);
    } catch (err) {
      if (isMissing(err)) throw new NotFoundError(`${k}: not found`, { cause: err });
      throw fromSystemError(err, k);
    } finally {
      entry.pin?.close();
    }
  }

  /** Reads the whole file through the hash (nothing is stored: local files have no hash attribute). */
  async hash(key: string, algorithm: HashName, options: OpOptions = {}): Promise<string> {
    const k = this.#objectKey(key);
    if (!HASHES.includes(algorithm)) throw new ValidationError(`unknown hash algorithm ${String(algorithm)}`);
    throwIfAborted(options.signal);
    const { handle } = await this.#openObject(k);
    const digest = createHash(algorithm);
    try {
      for await (const chunk of handle.createReadStream({ signal: options.signal, highWaterMark: 1 << 20 })) {
        digest.update(chunk as Buffer);
      }
    } catch (err) {
      await handle.close().catch(() => {});
      throw fromSystemError(err, k);
    }
    return digest.digest('hex');
  }

  /** `pread(2)` into one buffer (`into` when given), repeated until the range is full or the file ends. */
  async readRange(key: string, offset: number, length: number, options: RangeReadOptions = {}): Promise<Buffer> {
    const k = this.#objectKey(key);
    checkOffset(offset, 'offset', k);
    checkOffset(length, 'length', k);
    throwIfAborted(options.signal);
    if (options.blocking === true && length <= BLOCKING_READ_MAX) return this.#readRangeBlocking(k, offset, length, options);
    const { handle, size } = await this.#openObject(k);
    try {
      const buffer = rangeBuffer(k, offset, length, size, options.into);
      const wanted = buffer.length;
      let filled = 0;
      while (filled < wanted) {
        const { bytesRead } = await handle.read(buffer, filled, wanted - filled, offset + filled);
        if (bytesRead === 0) break; // truncated meanwhile
        filled += bytesRead;
      }
      throwIfAborted(options.signal);
      return filled === wanted ? buffer : buffer.subarray(0, filled);
    } catch (err) {
      throw fromSystemError(err, k);
    } finally {
      await handle.close().catch(() => {});
    }
  }

  /**
   * readRange with blocking calls (`blocking`, ranges up to BLOCKING_READ_MAX): the same
   * open flags, regular-file check and range rules, without the thread pool. Each promise
   * call (open, fstat, read, close) is a hand-off to a pool thread and back; for a 1–64 KiB
   * file from the page cache that costs far more than the read: 10,000 such files took
   * 0.9–1.4 s of CPU through FileHandle and 0.17 s with blocking calls (2 cores, load 3).
   * The event loop stands still for one file's read, which a CLI reading a tree can afford.
   */
  async #readRangeBlocking(k: string, offset: number, length: number, options: RangeReadOptions): Promise<Buffer> {
    let fd: number | undefined;
    try {
      fd = await this.#openObjectSync(k);
    } catch (err) {
      if (isMissing(err)) throw new NotFoundError(`${k}: not found`, { cause: err });
      throw fromSystemError(err, k);
    }
    if (fd === undefined) throw new NotFoundError(`${k}: not found`);
    try {
      const stats = fstatSync(fd);
      if (!stats.isFile()) throw new NotFoundError(`${k}: not found`);
      const buffer = rangeBuffer(k, offset, length, stats.size, options.into);
      const wanted = buffer.length;
      let filled = 0;
      while (filled < wanted) {
        const n = readSync(fd, buffer, filled, wanted - filled, offset + filled);
        if (n === 0) break; // truncated meanwhile
        filled += n;
      }
      return filled === wanted ? buffer : buffer.subarray(0, filled);
    } catch (err) {
      throw fromSystemError(err, k);
    } finally {
      closeSync(fd);
    }
  }

  /** `mkdir -p`, confined; an object in the way is FERRY_ERR_ALREADY_EXISTS (at `key`) or NOT_A_DIRECTORY (above it). */
  async mkdir(key: string, options: OpOptions = {}): Promise<void> {
    const k = this.#dirKey(key);
    throwIfAborted(options.signal);
    const real = await this.#ensureDir(k, true);
    let stats: Stats;
    try {
      stats = await fsp.stat(real);
    } catch (err) {
      throw fromSystemError(err, k);
    }
    if (!stats.isDirectory()) throw new AlreadyExistsError(`${k}: an object of that name exists`);
  }

  /**
   * Removes an empty directory. Missing, an object, or a link: nothing happens (a link is not
   * the directory it points to). Not empty: FERRY_ERR_DIRECTORY_NOT_EMPTY; the temporary file
   * of a write in progress (or left by a crash) counts as content, since removing it would fail
   * that write.
   */
  /** Whether `key` is a directory (the root may not exist yet: it is made by the first write). */
  async isDirectory(key: string, options: OpOptions = {}): Promise<boolean> {
    const k = this.#dirKey(key);
    throwIfAborted(options.signal);
    const dir = await this.#lookupDir(k);
    if (dir === undefined) return false;
    try {
      return (await fsp.stat(dir)).isDirectory();
    } catch (err) {
      if (isMissing(err)) return false;
      throw fromSystemError(err, k);
    }
  }

  async rmdir(key: string, options: OpOptions = {}): Promise<void> {
    const k = this.#dirKey(key);
    if (k === '') throw new PathInvalidError('the root cannot be removed', { details: { reason: 'root' } });
    throwIfAborted(options.signal);
    const entry = await this.#entry(k);
    if (entry === undefined) return;
    this.#knownDirs.clear();
    try {
      if (!(await fsp.lstat(entry.at)).isDirectory()) return;
      await fsp.rmdir(entry.at);
    } catch (err) {
      if (isMissing(err)) return;
      if (errno(err) === 'ENOTEMPTY' || errno(err) === 'EEXIST') {
        throw new DirectoryNotEmptyError(`${k}: the directory is not empty`, { cause: err });
      }
      throw fromSystemError(err, k);
    } finally {
      entry.pin?.close();
    }
  }

  /**
   * Walks the tree (links not followed) and unlinks `.ferry-tmp-*` files last modified
   * before `before`: what writes of a process that died left behind (LeftoverSweeper); never
   * those this process is writing (writes-in-progress.ts).
   * About 2.5 µs per entry here: a second or two for a store of a million chunks.
   */
  async sweepLeftovers(before: number, options: OpOptions = {}): Promise<SweptLeftovers> {
    const swept: SweptLeftovers = { count: 0, bytes: 0 };
    const pending = [this.root];
    while (pending.length > 0) {
      throwIfAborted(options.signal);
      const dir = pending.pop()!;
      let entries: Dirent[];
      try {
        entries = await fsp.readdir(dir, { withFileTypes: true });
      } catch (err) {
        if (isMissing(err)) continue;
        throw fromSystemError(err, dir);
      }
      for (const e of entries) {
        const full = path.join(dir, e.name);
        if (e.isDirectory()) pending.push(full);
        else if (e.isFile() && e.name.startsWith(TEMP_PREFIX) && !isTempInProgress(e.name)) {
          try {
            const st = await fsp.lstat(full);
            if (st.mtimeMs >= before) continue;
            await fsp.unlink(full);
            swept.count++;
            swept.bytes += st.size;
          } catch (err) {
            if (!isMissing(err)) throw fromSystemError(err, full);
          }
        }
      }
    }
    return swept;
  }
}

/**
 * The bytes [start, end) of an open file, then a check that the file was not written to
 * while they were read: a file edited in place mid-read (a log, a database, a VM image being
 * saved) would otherwise be copied as a mix of old and new bytes that never existed
 * together, and be taken for a good copy. Its size and mtime are compared with those at
 * open (rclone's local backend does the same: "source file is being updated"); a change is
 * a retryable error, so the body's consumer fails and a whole-file retry reads it afresh.
 * A file replaced by a rename is not a change here: the open handle reads the old one whole.
 */
async function* readUnchanged(handle: fsp.FileHandle, opened: Stats, key: string, start: number, end: number, signal?: AbortSignal): AsyncGenerator<Buffer> {
  const stream = handle.createReadStream({ start, end: end - 1, signal, autoClose: false });
  try {
    for await (const piece of stream as AsyncIterable<Buffer>) yield piece;
    const now = await handle.stat();
    if (now.size !== opened.size || now.mtimeMs !== opened.mtimeMs) {
      throw new IoError(`${key}: the file changed while it was being read (it is being written to); try again once it is still`, {
        retryable: true,
        details: { key },
      });
    }
  } finally {
    stream.destroy();
    await handle.close().catch(() => {});
  }
}
