/**
 * The StorageBackend contract: what Ferry needs of a place that holds bytes under keys.
 *
 * Modelled on rclone's small `Fs` interface: a handful of required methods, and optional
 * abilities (server-side copy and move, mtime setting, hashing, real directories) declared
 * in {@link BackendFeatures} and exposed as separate interfaces with type guards. Callers
 * check the guard and fall back when an ability is absent (copy = read + write, and so on);
 * see the `fallback*` helpers at the end of this file.
 *
 * Keys are relative, `/`-separated, validated by {@link normalizeKey}: `a/b c/d.txt`.
 * The empty key names the root (only meaningful to `list`).
 *
 * Every backend passes the shared conformance suite in `test/conformance/storage-backend.ts`.
 */
import type { Readable } from 'node:stream';
import { normalizeKey } from './path.js';

/** Hash algorithms a backend may know about its objects. */
export type HashName = 'sha256' | 'md5' | 'sha1';

export interface ObjectInfo {
  /** The object's key, normalized. */
  key: string;
  /** Size in bytes. */
  size: number;
  /** Modification time in milliseconds since the epoch, when the backend keeps one. */
  mtime?: number;
  /** Hashes the backend knows without reading the data (lowercase hex). */
  hashes?: Partial<Record<HashName, string>>;
}

/**
 * One listing entry. File entries carry `size`; `mtime` and `hashes` when the backend learns
 * them from the listing itself (S3 listings carry no user metadata, so no mtime: stat the
 * object for it). When present they equal what `stat` reports.
 */
export interface DirEntry extends Partial<Omit<ObjectInfo, 'key'>> {
  key: string;
  type: 'file' | 'dir';
}

export interface ReadOptions {
  /** First byte to return (default 0). Must be <= size. */
  offset?: number;
  /** Bytes to return from `offset` (default: to the end). Clipped at the end of the object. */
  length?: number;
  signal?: AbortSignal;
}

export interface WriteOptions {
  /** Exact size when known; writes of unknown size must be supported when `features().unknownSizeWrite`. */
  size?: number;
  /** Modification time to record (ms since epoch), where the backend can hold one. */
  mtime?: number;
  /** Flush to stable storage before the write counts (local disk: fsync file and directory). Default true. */
  durable?: boolean;
  signal?: AbortSignal;
}

export interface ListOptions {
  /** Descend into sub-directories. Default false: only the immediate children. */
  recursive?: boolean;
  /**
   * A hint: false when the caller will not read the listed files (the destination of a
   * sync only compares and writes). A backend may then leave out what it fetches with a
   * listing to make reads cheaper (the ferry remote: small files' chunk lists). Default true.
   */
  willRead?: boolean;
  /**
   * Told of each entry the listing leaves out that a person may expect (a local backend's
   * symbolic link not followed, a socket), with the reason: for callers that warn of them.
   */
  onSkip?: (key: string, reason: string) => void;
  signal?: AbortSignal;
}

export interface OpOptions {
  signal?: AbortSignal;
}

/** What a backend can do beyond the required methods, and how it behaves. */
export interface BackendFeatures {
  /** Server-side copy: {@link Copier}. */
  copy: boolean;
  /** Server-side (or atomic) move: {@link Mover}. */
  move: boolean;
  /** `read` with offset/length is served natively rather than by reading and skipping. */
  rangeRead: boolean;
  /**
   * Hashes the backend reports in `ObjectInfo.hashes` from stat/list without reading the data.
   * A listed hash, when present, is always right; an object may still lack it where the
   * backend cannot know it (S3: objects uploaded in parts), and callers then treat it as unknown.
   */
  hashes: HashName[];
  /** Modification times are kept (`mtime` of writes is honoured, stat/list report it). */
  mtime: boolean;
  /** Modification times can be changed after the write: {@link MtimeSetter}. */
  setMtime: boolean;
  /** Resolution of stored modification times in ms (1000 for whole seconds); 0 when none are kept. */
  mtimePrecisionMs: number;
  /** `write` accepts a stream whose size is not known in advance. */
  unknownSizeWrite: boolean;
  /** `a` and `A` are different keys. */
  caseSensitive: boolean;
  /**
   * Names that differ only in their Unicode form (`café` composed, NFC, and decomposed, NFD):
   * `distinct` (absent means this) keeps both as different keys; `refused`: one directory
   * holds one of them, writing or moving another form next to it is FERRY_ERR_ALREADY_EXISTS
   * (the ferry remote: the server refuses look-alikes). Keys are never normalized either way.
   */
  lookAlikeNames?: 'distinct' | 'refused';
  /** 'real': directories exist on their own (can be empty): {@link DirectoryMaker}. 'virtual': implied by keys. */
  directories: 'real' | 'virtual';
  /**
   * Objects stay readable after `write` returns. `false` only for pass-through backends (the
   * channel backend): a write hands its bytes to the readers waiting on the key and keeps
   * nothing, so `stat` is always FERRY_ERR_NOT_FOUND, `list` yields nothing, and `read`
   * waits for the next write to the key instead of failing with NOT_FOUND. Everything else
   * the contract says about bodies, sizes, aborts and invalid keys still holds; "nothing
   * becomes visible" after a failed write means the readers' streams fail instead of ending.
   */
  persistent: boolean;
  /**
   * Calls cross a network (a server, a cloud store): they may fail for a moment and succeed
   * when made again, so callers that keep a backend for long (the server's chunk stores)
   * wrap it in the retry decorator. False for local disk and memory.
   */
  network: boolean;
  /**
   * Each call already retries its failing requests (the ferry backend: the Ferry client tries
   * a failing request again as its policy says). The retry decorator then adds no retries of
   * its own and marks what still fails as spent, so that `--retries N` means N tries again
   * of a request, not N of the client's times N of the decorator's times N whole file copies.
   */
  retriesRequests?: boolean;
}

/** The data a write takes: a stream, an async iterable of chunks, or a whole buffer. */
export type WriteBody = Readable | AsyncIterable<Uint8Array> | Uint8Array;

/**
 * The required interface of every backend.
 *
 * Errors: a missing object is FERRY_ERR_NOT_FOUND (`NotFoundError`); everything else the SDK
 * reports is translated to a FerryError with the right classification (retryable or not),
 * keeping the SDK's error as `cause`. A key that {@link normalizeKey} refuses (or that names
 * the root where an object is meant) is FERRY_ERR_PATH_INVALID, raised before any I/O.
 *
 * Objects and directories: an object is never a directory. Where directories are real, writing
 * `a` over the directory `a` is FERRY_ERR_IS_A_DIRECTORY and writing `a/b` below the object `a`
 * is FERRY_ERR_NOT_A_DIRECTORY; where they are virtual, both may coexist (as on S3).
 *
 * Bodies: `write` consumes its body; when it fails it stops reading and destroys a `Readable`
 * body (as `stream.pipeline` does) or calls `return()` on an iterator, so the producer learns
 * of the failure. A chunk buffer may be reused by the producer once the next chunk is asked
 * for: backends copy what they keep.
 */
export interface StorageBackend {
  /** Human-readable identity without secrets, for logs: `local:/srv/ferry`, `s3:bucket/prefix`. */
  readonly name: string;

  features(): BackendFeatures;

  /** Metadata of one object. FERRY_ERR_NOT_FOUND when absent (and for directories). */
  stat(key: string, options?: OpOptions): Promise<ObjectInfo>;

  /**
   * A stream of the object's bytes, or of `[offset, offset+length)` of them. FERRY_ERR_NOT_FOUND
   * when absent (raised by this call, before any byte). An offset past the end yields
   * FERRY_ERR_RANGE_NOT_SATISFIABLE; a length past the end is clipped; an offset equal to the
   * size yields an empty stream. Once returned, the stream fails (is destroyed with an error)
   * when `signal` aborts or the storage fails mid-way. A directory is not an object: NOT_FOUND.
   */
  read(key: string, options?: ReadOptions): Promise<Readable>;

  /**
   * Stores `body` under `key`, replacing any previous object atomically: readers see the old
   * object or the new one, never a mix or a prefix; of concurrent writes to one key, one wins
   * whole. If the body errors (its error translated, kept as `cause`), the signal aborts
   * (FERRY_ERR_ABORTED) or `size` does not match what arrived (FERRY_ERR_SIZE_MISMATCH, raised
   * as soon as the body overruns it), the write fails, the previous object stays, and nothing
   * new becomes visible, temporary files included. Missing parent directories are created
   * (where directories are real, those of a failed write may remain).
   * Idempotent: writing the same bytes twice is fine. Returns the stored object's metadata.
   */
  write(key: string, body: WriteBody, options?: WriteOptions): Promise<ObjectInfo>;

  /**
   * Removes an object. Idempotent: deleting a missing key succeeds. Never removes directories:
   * a key naming a directory is, for this call, a missing object (nothing happens).
   */
  delete(key: string, options?: OpOptions): Promise<void>;

  /**
   * Entries below the directory `prefix` (`` for the root), in no particular order.
   * Non-recursive: immediate children, directories included (virtual ones derived from keys).
   * Recursive: every file below, plus directories where `features().directories === 'real'`.
   * A missing prefix, or one naming an object, yields nothing. Keys are full, normalized keys,
   * not relative to `prefix`; `a` never lists `ab`. Temporary objects of unfinished writes are
   * never listed. An invalid prefix fails the iteration with FERRY_ERR_PATH_INVALID.
   */
  list(prefix: string, options?: ListOptions): AsyncIterable<DirEntry>;

  /** Releases connections and handles. Optional; idempotent. */
  close?(): Promise<void>;
}

/** Server-side copy. FERRY_ERR_NOT_FOUND when `from` is absent; replaces `to` atomically. */
export interface Copier {
  copy(from: string, to: string, options?: OpOptions): Promise<ObjectInfo>;
}

/** Server-side move (rename). FERRY_ERR_NOT_FOUND when `from` is absent; replaces `to`. Moving a key onto itself changes nothing. */
export interface Mover {
  move(from: string, to: string, options?: OpOptions): Promise<ObjectInfo>;
}

/** Changes the modification time of an existing object. */
export interface MtimeSetter {
  setMtime(key: string, mtime: number, options?: OpOptions): Promise<void>;
}

/** Computes a hash by reading the object where the backend has no stored one. */
export interface Hasher {
  hash(key: string, algorithm: HashName, options?: OpOptions): Promise<string>;
}

/**
 * Real directories: create (like `mkdir -p`, idempotent; FERRY_ERR_NOT_A_DIRECTORY or
 * FERRY_ERR_ALREADY_EXISTS where an object is in the way) and remove (only when empty, else
 * FERRY_ERR_DIRECTORY_NOT_EMPTY; idempotent when absent).
 */
export interface DirectoryMaker {
  mkdir(key: string, options?: OpOptions): Promise<void>;
  rmdir(key: string, options?: OpOptions): Promise<void>;
}

/**
 * Whether a directory exists, where directories are real: an empty listing cannot tell an
 * empty directory from a missing one, and syncing from a mistyped path must not empty the
 * destination. `''` is the backend's root (a local directory, an SFTP path, which may be
 * missing). False for an object.
 */
export interface DirectoryChecker {
  isDirectory(key: string, options?: OpOptions): Promise<boolean>;
}

/**
 * Where a key really is, for telling whether two backend instances reach one store (two
 * spellings of one SFTP folder, two remote names for one bucket): `store` names the store
 * (an SFTP server's host key and user, an S3 endpoint and bucket, a Ferry server and home,
 * the local file system) and `path` the key's real location in it, absolute and
 * `/`-separated, symlinks of its existing part resolved where the store has them. A missing
 * key gets its nearest existing ancestor's real path plus the rest. Two keys with equal
 * identities are one object; a key whose path is below another's is inside it.
 */
export interface KeyIdentity {
  store: string;
  path: string;
}

/** Optional: the identity of a key (read-only; may ask the server, as SFTP's REALPATH). */
export interface Identifier {
  identityOf(key: string, options?: OpOptions): Promise<KeyIdentity>;
}

export interface RangeReadOptions extends OpOptions {
  /**
   * A buffer of at least `length` bytes that the backend may read into, for callers that
   * reuse their buffers (the chunk store, serving downloads): the result is then a view of
   * it. A backend may ignore it and return a buffer of its own, so callers use the result,
   * never `into` itself.
   */
  into?: Buffer;
  /**
   * The caller reads many small files one after another and prefers blocking system calls
   * for them (a CLI reading a tree: see the local backend's readRange). A hint: backends
   * without local files ignore it, and a server must never set it (a slow disk would stall
   * every other client).
   */
  blocking?: boolean;
}

/**
 * Positional read of a small range into one buffer, for fetching chunks out of pack files
 * without the overhead of a stream. Same range rules as `read`: FERRY_ERR_NOT_FOUND when
 * absent, FERRY_ERR_RANGE_NOT_SATISFIABLE when `offset` is past the end, and a range past the
 * end is clipped, so the buffer is shorter than `length` only when the object ends first
 * (callers that expect exact bytes check `.length`). The buffer is the caller's to keep
 * (with `into`: the caller's anyway).
 */
export interface RangeReader {
  readRange(key: string, offset: number, length: number, options?: RangeReadOptions): Promise<Buffer>;
}

/** What {@link LeftoverSweeper.sweepLeftovers} removed. */
export interface SweptLeftovers {
  count: number;
  bytes: number;
}

/**
 * Removes what interrupted writes left behind. Backends whose atomic writes go through
 * temporary objects (local disk, SFTP: `.ferry-tmp-…` beside the target) leave them when the
 * process dies mid-write, and nothing else ever removes them (they are never listed).
 */
export interface LeftoverSweeper {
  /**
   * Deletes temporary objects of unfinished writes last modified before `before` (ms since
   * the epoch), anywhere below the root, and never an object. A write in progress keeps
   * modifying its temporary object, so a cutoff some time in the past spares it; a cutoff of
   * now is for when no write can be in progress (a server starting on a store it alone uses).
   */
  sweepLeftovers(before: number, options?: OpOptions): Promise<SweptLeftovers>;
}

/** An object written by {@link StagedWriter.stage}, not yet durable nor visible. */
export interface StagedObject {
  readonly key: string;
  /** Bytes written. */
  readonly size: number;
}

/**
 * Grouped durability: writes whose flush to stable storage is paid once for many of them.
 * `stage` writes like {@link StorageBackend.write} (same key, size and body rules) except
 * that the object is neither flushed nor visible; `publish` makes a batch of staged objects
 * durable and visible (each replacing its key atomically, as `write` does) and reports, per
 * object, null or the error that kept it from being published (a failed object leaves
 * nothing behind); `discard` drops staged objects. Local disk: a write costs an fsync of the
 * file and one of its directory, which `publish` shares among all the files of a directory.
 * A staged object never published is removed by `discard`, or by the LeftoverSweeper after
 * a crash. Backends without this ability write durably one object at a time.
 */
export interface StagedWriter {
  stage(key: string, body: WriteBody, options?: Omit<WriteOptions, 'durable'>): Promise<StagedObject>;
  publish(objects: readonly StagedObject[], options?: PublishOptions): Promise<(Error | null)[]>;
  discard(objects: readonly StagedObject[]): Promise<void>;
}

export interface PublishOptions {
  /**
   * Leave the flush of the directories that received the objects to a later
   * {@link DirectorySyncer.syncDirectories} (asked only of backends that have it; others
   * ignore it and publish wholly). The objects are visible and their bytes durable when
   * `publish` resolves, but their names are not known durable until that call resolves.
   */
  directoriesLater?: boolean;
}

/**
 * Optional, with {@link StagedWriter}: the second half of a publication made with
 * `directoriesLater`. Flushes each directory that received one of `objects` once, however
 * many publications put them there: a local disk of 256 fan-out directories took one
 * directory fsync per chunk with publications of a few chunks each (issue 15, row 1).
 * Reports, per object, null or the error that leaves its name not known durable.
 */
export interface DirectorySyncer {
  syncDirectories(objects: readonly StagedObject[]): Promise<(Error | null)[]>;
}

export const canStage = (b: StorageBackend): b is StorageBackend & StagedWriter =>
  typeof (b as Partial<StagedWriter>).stage === 'function' && typeof (b as Partial<StagedWriter>).publish === 'function';

export const canSyncDirectoriesLater = (b: StorageBackend): b is StorageBackend & StagedWriter & DirectorySyncer =>
  canStage(b) && typeof (b as Partial<DirectorySyncer>).syncDirectories === 'function';

export const canIdentify = (b: StorageBackend): b is StorageBackend & Identifier => typeof (b as Partial<Identifier>).identityOf === 'function';

/**
 * How the key `ka` of `a` and the key `kb` of `b` are related when the two backends may be one
 * store: 'same' (one object or folder), 'a-in-b' (`ka` is below `kb`), 'b-in-a', or undefined
 * (apart, or unknown: a backend that cannot identify its keys). For backends that are one
 * instance the keys themselves are compared.
 */
export async function relateKeys(a: StorageBackend, ka: string, b: StorageBackend, kb: string, options: OpOptions = {}): Promise<'same' | 'a-in-b' | 'b-in-a' | undefined> {
  let pa: string;
  let pb: string;
  if (a === b) {
    [pa, pb] = ['/' + normalizeKey(ka), '/' + normalizeKey(kb)];
  } else {
    if (!canIdentify(a) || !canIdentify(b)) return undefined;
    const [ia, ib] = await Promise.all([a.identityOf(ka, options), b.identityOf(kb, options)]);
    if (ia.store !== ib.store) return undefined;
    [pa, pb] = [ia.path, ib.path];
  }
  const below = (x: string, y: string) => y === '/' || x.startsWith(y + '/');
  return pa === pb ? 'same' : below(pa, pb) ? 'a-in-b' : below(pb, pa) ? 'b-in-a' : undefined;
}

export const canCopy = (b: StorageBackend): b is StorageBackend & Copier =>
  b.features().copy && typeof (b as Partial<Copier>).copy === 'function';
export const canMove = (b: StorageBackend): b is StorageBackend & Mover =>
  b.features().move && typeof (b as Partial<Mover>).move === 'function';
export const canSetMtime = (b: StorageBackend): b is StorageBackend & MtimeSetter =>
  b.features().setMtime && typeof (b as Partial<MtimeSetter>).setMtime === 'function';
export const canHash = (b: StorageBackend): b is StorageBackend & Hasher => typeof (b as Partial<Hasher>).hash === 'function';
export const canReadRange = (b: StorageBackend): b is StorageBackend & RangeReader =>
  typeof (b as Partial<RangeReader>).readRange === 'function';
export const canSweepLeftovers = (b: StorageBackend): b is StorageBackend & LeftoverSweeper =>
  typeof (b as Partial<LeftoverSweeper>).sweepLeftovers === 'function';
export const hasDirectories = (b: StorageBackend): b is StorageBackend & DirectoryMaker =>
  b.features().directories === 'real' && typeof (b as Partial<DirectoryMaker>).mkdir === 'function';
export const canCheckDirectories = (b: StorageBackend): b is StorageBackend & DirectoryChecker =>
  b.features().directories === 'real' && typeof (b as Partial<DirectoryChecker>).isDirectory === 'function';

/** Copy with the backend's server-side copy when it has one, else by streaming through this process. */
export async function copyObject(b: StorageBackend, from: string, to: string, options: OpOptions = {}): Promise<ObjectInfo> {
  if (canCopy(b)) return b.copy(from, to, options);
  const info = await b.stat(from, options);
  const body = await b.read(from, options);
  return b.write(to, body, { size: info.size, mtime: info.mtime, signal: options.signal });
}

/**
 * Move with the backend's server-side move when it has one, else copy then delete the source.
 * Moving a key onto itself only checks that it exists: copy-then-delete would destroy it.
 */
export async function moveObject(b: StorageBackend, from: string, to: string, options: OpOptions = {}): Promise<ObjectInfo> {
  if (canMove(b)) return b.move(from, to, options);
  if (normalizeKey(from) === normalizeKey(to)) return b.stat(from, options);
  const info = await copyObject(b, from, to, options);
  await b.delete(from, options);
  return info;
}
