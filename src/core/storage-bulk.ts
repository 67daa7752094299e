/**
 * Optional bulk abilities of a StorageBackend, for callers that move many files at once
 * (the sync engine). Like the abilities in `storage.ts`, each is a separate interface with a
 * type guard; callers fall back to the per-object methods when a backend lacks one.
 *
 * They exist because per-file round trips cannot make a remote server fast on trees of
 * small files: a backend that can store or read many small objects in one request (a Ferry
 * batch upload session with packs; a Ferry chunk batch) or name its objects by a content
 * hash computed under its own rules (the Ferry file hash) says so here.
 */
import type { ChunkingParams } from './manifest.js';
import type { ObjectInfo, OpOptions } from './storage.js';

/** One small object of a batch: its whole bytes are in memory. */
export interface BatchWriteItem {
  key: string;
  data: Buffer;
  /** Modification time to record (ms since epoch). */
  mtime?: number;
  /** POSIX permission bits, where the backend keeps them. */
  mode?: number;
  /**
   * The caller leaves `BatchWriteLimits.headroom` bytes free just before `data` in its buffer,
   * and the writer may write there during the call (a Ferry server's pack frame header, so
   * that adjacent items travel as one pack without being copied). Without it, nothing outside
   * `data` is touched.
   */
  headroom?: boolean;
}

/** What a batch may hold, so that callers can group objects before reading them. */
export interface BatchWriteLimits {
  /** Largest object worth sending in a batch (bytes); larger ones go through `write`. */
  maxObjectSize: number;
  /** Most objects in one call. */
  maxObjects: number;
  /** Most bytes in one call (sum of the objects). */
  maxBytes: number;
  /**
   * Bytes the writer can use just before each item's data (see `BatchWriteItem.headroom`):
   * items laid out one after another with this much room before each cost it no copy.
   */
  headroom?: number;
}

/**
 * Stores many small objects in one operation. Each object replaces any previous one
 * atomically, as `write` does. The call succeeds or fails as a whole for the caller: when it
 * throws, some objects may have been stored, none half-stored; the caller may retry the same
 * batch (idempotent) or the objects one by one. Once the call resolved, the writer holds no
 * reference to the items' bytes: the caller may reuse that memory (after a failure it may not,
 * as a request may still be reading it).
 */
export interface BatchWriter {
  batchWriteLimits(options?: OpOptions): Promise<BatchWriteLimits>;
  writeBatch(items: readonly BatchWriteItem[], options?: OpOptions): Promise<ObjectInfo[]>;
}

/** What one {@link BatchReader.readBatch} may ask for, so that callers can group objects. */
export interface BatchReadLimits {
  /** Largest object worth reading in a batch (bytes); larger ones go through `read`. */
  maxObjectSize: number;
  /** Most objects in one call. */
  maxObjects: number;
  /** Most bytes in one call (sum of the objects). */
  maxBytes: number;
}

/**
 * Reads many small objects in one operation (a Ferry server: their chunks in one
 * `POST /chunks/batch`). The call succeeds or fails as a whole; a caller whose batch fails
 * reads the objects one by one, so that only the bad ones fail. An object that changed
 * since it was listed may fail the batch (the caller's one-by-one read then sees the change).
 */
export interface BatchReader {
  batchReadLimits(options?: OpOptions): Promise<BatchReadLimits>;
  /** The whole bytes of each object, in the order of `keys` (distinct keys). */
  readBatch(keys: readonly string[], options?: OpOptions): Promise<Buffer[]>;
}

/**
 * The backend names its objects by the Ferry file hash (`sha256-tree-v1`: the SHA-256 of the
 * concatenated chunk hashes under FastCDC with these parameters; see core/manifest.ts), and
 * reports it in `stat`/`list` results as `treeHash`. Anyone who can read an object's bytes
 * can compute the same value with the same parameters, so it is a hash both sides of a
 * comparison can have.
 */
export interface TreeHashSource {
  treeHashParams(options?: OpOptions): Promise<ChunkingParams>;
}

/** An ObjectInfo / DirEntry of a {@link TreeHashSource} carries its tree hash here. */
export interface TreeHashed {
  treeHash?: string;
}

/**
 * The backend can answer, in one short call, the digest of what a recursive `list` of
 * `prefix` would return right now (core/tree-digest.ts: every file's key relative to
 * `prefix`, size and mtime, and every directory's), so that a caller holding another
 * listing with the same digest need not fetch this one. An absent folder digests as an empty
 * one (`list` yields nothing for it). Undefined: no digest this time; the caller lists.
 * Like a listing, the answer is a snapshot: a change made after it is not in it.
 */
export interface TreeDigestSource {
  treeDigest(prefix: string, options?: OpOptions): Promise<string | undefined>;
}

export const canDigestTree = (b: object): b is TreeDigestSource => typeof (b as Partial<TreeDigestSource>).treeDigest === 'function';

export const canWriteBatch = (b: object): b is BatchWriter =>
  typeof (b as Partial<BatchWriter>).writeBatch === 'function' && typeof (b as Partial<BatchWriter>).batchWriteLimits === 'function';
export const hasTreeHash = (b: object): b is TreeHashSource => typeof (b as Partial<TreeHashSource>).treeHashParams === 'function';
export const canReadBatch = (b: object): b is BatchReader =>
  typeof (b as Partial<BatchReader>).readBatch === 'function' && typeof (b as Partial<BatchReader>).batchReadLimits === 'function';
