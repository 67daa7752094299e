/**
 * MemoryBackend: objects in a Map, for tests and for `memory:name` remotes.
 *
 * It is a real backend held to the same conformance suite as the others, so code tested
 * against it behaves the same on disk or S3. It takes one decision the others take from their
 * medium: directories are virtual by default (implied by keys, gone with their last object,
 * as on S3 and in rclone's memory backend), or real with `directories: 'real'` (mkdir/rmdir,
 * empty directories, file/directory conflicts, as on local disk), so tests can stand in for
 * either kind.
 *
 * Objects are immutable once stored (an overwrite replaces the entry), so a read stream that
 * began before an overwrite keeps delivering the old bytes, as an open file would.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  AlreadyExistsError,
  ConfigError,
  DirectoryNotEmptyError,
  IsADirectoryError,
  NotADirectoryError,
  NotFoundError,
  PathInvalidError,
  RangeNotSatisfiableError,
  throwIfAborted,
  UnsupportedError,
  ValidationError,
} from '../../core/errors.js';
import { normalizeKey } from '../../core/path.js';
import type {
  BackendFeatures,
  Copier,
  DirectoryMaker,
  DirEntry,
  HashName,
  Hasher,
  ListOptions,
  Mover,
  MtimeSetter,
  ObjectInfo,
  OpOptions,
  RangeReader,
  ReadOptions,
  StorageBackend,
  WriteBody,
  WriteOptions,
} from '../../core/storage.js';
import { bodyChunks, checkOffset, checkSize, discardBody, failOnAbort } from '../shared.js';
import { StoredBytes } from './stored-bytes.js';

export interface MemoryBackendOptions {
  /** Shares the store with every backend of the same name in this process (`memory:name`); none: a private store. */
  name?: string;
  /** 'virtual' (default): directories implied by keys. 'real': directories exist on their own. */
  directories?: 'virtual' | 'real';
}

interface MemoryObject {
  readonly bytes: StoredBytes;
  readonly mtime: number;
  /** Computed while the bytes arrive, so stat and list can report them for free (like S3's MD5 ETag). */
  readonly hashes: { readonly md5: string; readonly sha256: string };
}

class MemoryStore {
  readonly objects = new Map<string, MemoryObject>();
  /** Real mode only: every directory key (the root, ``, is implied). */
  readonly dirs = new Set<string>();
  constructor(readonly directories: 'virtual' | 'real') {}
}

/** Size of the pieces a read stream hands out; each is copied when asked for, not before. */
const READ_PIECE = 64 * 1024;
const STORED_HASHES: HashName[] = ['md5', 'sha256'];

/** `a/b/c` -> `a`, `a/b`. */
function ancestorsOf(key: string): string[] {
  const out: string[] = [];
  for (let i = key.indexOf('/'); i !== -1; i = key.indexOf('/', i + 1)) out.push(key.slice(0, i));
  return out;
}

function infoOf(key: string, object: MemoryObject): ObjectInfo {
  return { key, size: object.bytes.length, mtime: object.mtime, hashes: { ...object.hashes } };
}

export class MemoryBackend implements StorageBackend, Copier, Mover, MtimeSetter, Hasher, DirectoryMaker, RangeReader {
  static readonly #named = new Map<string, MemoryStore>();

  /** The backend over the process-wide store called `name`, created on first use. */
  static named(name: string, options: Omit<MemoryBackendOptions, 'name'> = {}): MemoryBackend {
    return new MemoryBackend({ ...options, name });
  }

  /** Drops a named store (its objects go with it); the next `named(name)` starts empty. */
  static forget(name: string): void {
    MemoryBackend.#named.delete(name);
  }

  readonly name: string;
  readonly #store: MemoryStore;

  constructor(options: MemoryBackendOptions = {}) {
    const directories = options.directories ?? 'virtual';
    if (directories !== 'virtual' && directories !== 'real') {
      throw new ConfigError(`memory backend: directories must be 'virtual' or 'real', not ${String(directories)}`);
    }
    const name = options.name ?? '';
    this.name = `memory:${name}`;
    if (name === '') {
      this.#store = new MemoryStore(directories);
      return;
    }
    const existing = MemoryBackend.#named.get(name);
    if (existing !== undefined && options.directories !== undefined && existing.directories !== directories) {
      throw new ConfigError(`memory:${name} already exists with ${existing.directories} directories`);
    }
    this.#store = existing ?? new MemoryStore(directories);
    MemoryBackend.#named.set(name, this.#store);
  }

  /** Everything but case folding; MD5 and SHA-256 stored at write time; directories as configured. */
  features(): BackendFeatures {
    return {
      copy: true,
      move: true,
      rangeRead: true,
      hashes: [...STORED_HASHES],
      mtime: true,
      setMtime: true,
      mtimePrecisionMs: 1,
      unknownSizeWrite: true,
      caseSensitive: true,
      directories: this.#store.directories,
      persistent: true,
      network: false,
    };
  }

  get #real(): boolean {
    return this.#store.directories === 'real';
  }

  #objectKey(key: string): string {
    const k = normalizeKey(key);
    if (k === '') throw new PathInvalidError('the root is a directory, not an object', { details: { reason: 'root' } });
    return k;
  }

  #get(key: string): MemoryObject {
    const object = this.#store.objects.get(key);
    if (object === undefined) throw new NotFoundError(`${key}: not found`);
    return object;
  }

  /** Real mode: an object may not sit where a directory is, nor below another object. */
  #checkPlace(key: string): void {
    if (!this.#real) return;
    if (this.#store.dirs.has(key)) throw new IsADirectoryError(`${key}: is a directory`);
    for (const dir of ancestorsOf(key)) {
      if (this.#store.objects.has(dir)) throw new NotADirectoryError(`${key}: ${dir} is an object, not a directory`);
    }
  }

  /** Stores an entry; the caller has just run {@link #checkPlace} (synchronously, so nothing changed since). */
  #put(key: string, object: MemoryObject): void {
    if (this.#real) for (const dir of ancestorsOf(key)) this.#store.dirs.add(dir);
    this.#store.objects.set(key, object);
  }

  /** Size, mtime and stored hashes. A directory (real or implied) is not an object: FERRY_ERR_NOT_FOUND. */
  async stat(key: string, options: OpOptions = {}): Promise<ObjectInfo> {
    const k = this.#objectKey(key);
    throwIfAborted(options.signal);
    return infoOf(k, this.#get(k));
  }

  /** A stream over a snapshot of the object (later overwrites do not show), copied a piece at a time as it is read. */
  async read(key: string, options: ReadOptions = {}): Promise<Readable> {
    const k = this.#objectKey(key);
    const { offset = 0, length, signal } = options;
    checkOffset(offset, 'offset', k);
    checkOffset(length, 'length', k);
    throwIfAborted(signal);
    const { bytes } = this.#get(k);
    if (offset > bytes.length) {
      throw new RangeNotSatisfiableError(`${k}: offset ${offset} is past the end (${bytes.length} bytes)`, {
        details: { offset, size: bytes.length },
      });
    }
    const end = length === undefined ? bytes.length : Math.min(bytes.length, offset + length);
    let at = offset;
    const stream = new Readable({
      read() {
        if (at >= end) {
          this.push(null);
          return;
        }
        const next = Math.min(end, at + READ_PIECE);
        // A copy, so that a consumer writing into its buffer cannot change the stored object.
        this.push(bytes.copyOut(at, next));
        at = next;
      },
    });
    return failOnAbort(stream, signal, k);
  }

  /**
   * Collects copies of the body's chunks and stores the whole only when the body ended well,
   * the size matched and the signal did not abort: a failed write leaves nothing behind.
   * Real directories: parents are created; conflicts are checked before and at commit.
   */
  async write(key: string, body: WriteBody, options: WriteOptions = {}): Promise<ObjectInfo> {
    let k: string;
    try {
      k = this.#objectKey(key);
      checkSize(options.size, k);
      if (options.mtime !== undefined && !Number.isFinite(options.mtime)) throw new ValidationError(`${k}: mtime must be a number of ms`);
      this.#checkPlace(k);
    } catch (err) {
      discardBody(body);
      throw err;
    }
    const md5 = createHash('md5');
    const sha256 = createHash('sha256');
    const gathered = StoredBytes.builder(); // copies: the producer may reuse its buffer after the next pull
    for await (const chunk of bodyChunks(body, { size: options.size, signal: options.signal, what: k })) {
      gathered.add(chunk);
      md5.update(chunk);
      sha256.update(chunk);
    }
    const bytes = gathered.done();
    const object: MemoryObject = {
      bytes,
      mtime: Math.round(options.mtime ?? Date.now()),
      hashes: { md5: md5.digest('hex'), sha256: sha256.digest('hex') },
    };
    throwIfAborted(options.signal);
    this.#checkPlace(k);
    this.#put(k, object);
    return infoOf(k, object);
  }

  /** Removes the entry. Missing keys and directories: nothing happens. Real directories stay. */
  async delete(key: string, options: OpOptions = {}): Promise<void> {
    const k = this.#objectKey(key);
    throwIfAborted(options.signal);
    this.#store.objects.delete(k);
  }

  /**
   * Scans every key (a test double favours plain over fast). Virtual directories are derived
   * from the keys below `prefix`; real ones come from the directory set.
   */
  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<DirEntry> {
    const start = normalizeKey(prefix);
    const { recursive = false, signal } = options;
    throwIfAborted(signal);
    if (this.#real && start !== '' && !this.#store.dirs.has(start)) return;
    const base = start === '' ? '' : start + '/';
    // Snapshot first: the consumer may write or delete while iterating.
    const entries: DirEntry[] = [];
    const dirsSeen = new Set<string>();
    const addDir = (key: string): void => {
      if (dirsSeen.has(key)) return;
      dirsSeen.add(key);
      entries.push({ key, type: 'dir' });
    };
    for (const [key, object] of this.#store.objects) {
      if (!key.startsWith(base)) continue;
      const slash = key.indexOf('/', base.length);
      if (slash === -1 || recursive) entries.push({ key, type: 'file', size: object.bytes.length, mtime: object.mtime, hashes: { ...object.hashes } });
      else if (!this.#real) addDir(key.slice(0, slash)); // virtual: implied by a deeper key
    }
    if (this.#real) {
      for (const dir of this.#store.dirs) {
        if (dir.startsWith(base) && (recursive || dir.indexOf('/', base.length) === -1)) addDir(dir);
      }
    }
    for (const entry of entries) {
      throwIfAborted(signal);
      yield entry;
    }
  }

  /** Shares the stored bytes (they are immutable) under a new entry; the mtime is kept. */
  async copy(from: string, to: string, options: OpOptions = {}): Promise<ObjectInfo> {
    const src = this.#objectKey(from);
    const dst = this.#objectKey(to);
    throwIfAborted(options.signal);
    const object = this.#get(src);
    this.#checkPlace(dst);
    this.#put(dst, object);
    return infoOf(dst, object);
  }

  /** Re-keys the entry. Onto itself: nothing changes. */
  async move(from: string, to: string, options: OpOptions = {}): Promise<ObjectInfo> {
    const src = this.#objectKey(from);
    const dst = this.#objectKey(to);
    throwIfAborted(options.signal);
    const object = this.#get(src);
    if (src === dst) return infoOf(dst, object);
    this.#checkPlace(dst);
    this.#put(dst, object);
    this.#store.objects.delete(src);
    return infoOf(dst, object);
  }

  /** Replaces the entry with one carrying the new mtime. */
  async setMtime(key: string, mtime: number, options: OpOptions = {}): Promise<void> {
    const k = this.#objectKey(key);
    if (!Number.isFinite(mtime)) throw new ValidationError(`${k}: mtime must be a number of ms`);
    throwIfAborted(options.signal);
    const object = this.#get(k);
    this.#store.objects.set(k, { ...object, mtime: Math.round(mtime) });
  }

  /** MD5 and SHA-256 come from the entry; SHA-1 is computed. */
  async hash(key: string, algorithm: HashName, options: OpOptions = {}): Promise<string> {
    const k = this.#objectKey(key);
    throwIfAborted(options.signal);
    const object = this.#get(k);
    if (algorithm === 'md5' || algorithm === 'sha256') return object.hashes[algorithm];
    if (algorithm === 'sha1') {
      const sha1 = createHash('sha1');
      for (const piece of object.bytes.pieces()) sha1.update(piece);
      return sha1.digest('hex');
    }
    throw new ValidationError(`unknown hash algorithm ${String(algorithm)}`);
  }

  /** A copy of the range, clipped at the end. */
  async readRange(key: string, offset: number, length: number, options: OpOptions = {}): Promise<Buffer> {
    const k = this.#objectKey(key);
    checkOffset(offset, 'offset', k);
    checkOffset(length, 'length', k);
    throwIfAborted(options.signal);
    const { bytes } = this.#get(k);
    if (offset > bytes.length) {
      throw new RangeNotSatisfiableError(`${k}: offset ${offset} is past the end (${bytes.length} bytes)`, {
        details: { offset, size: bytes.length },
      });
    }
    return bytes.copyOut(offset, offset + length);
  }

  /** Real mode: `mkdir -p`. An object at `key` is FERRY_ERR_ALREADY_EXISTS, above it NOT_A_DIRECTORY. */
  /** Real directories: the root, and those made or implied by objects below them. */
  async isDirectory(key: string, options: OpOptions = {}): Promise<boolean> {
    const k = normalizeKey(key);
    throwIfAborted(options.signal);
    return k === '' || this.#store.dirs.has(k);
  }

  async mkdir(key: string, options: OpOptions = {}): Promise<void> {
    const k = normalizeKey(key);
    throwIfAborted(options.signal);
    if (!this.#real) throw new UnsupportedError(`${this.name} has virtual directories: they exist through their objects`);
    if (k === '') return;
    if (this.#store.objects.has(k)) throw new AlreadyExistsError(`${k}: an object of that name exists`);
    for (const dir of ancestorsOf(k)) {
      if (this.#store.objects.has(dir)) throw new NotADirectoryError(`${k}: ${dir} is an object, not a directory`);
    }
    for (const dir of ancestorsOf(k)) this.#store.dirs.add(dir);
    this.#store.dirs.add(k);
  }

  /** Real mode: removes an empty directory; missing (or an object): nothing happens. */
  async rmdir(key: string, options: OpOptions = {}): Promise<void> {
    const k = normalizeKey(key);
    if (k === '') throw new PathInvalidError('the root cannot be removed', { details: { reason: 'root' } });
    throwIfAborted(options.signal);
    if (!this.#real) throw new UnsupportedError(`${this.name} has virtual directories: they exist through their objects`);
    if (!this.#store.dirs.has(k)) return;
    const below = k + '/';
    const busy = [...this.#store.objects.keys(), ...this.#store.dirs].some((other) => other.startsWith(below));
    if (busy) throw new DirectoryNotEmptyError(`${k}: the directory is not empty`);
    this.#store.dirs.delete(k);
  }
}
