/**
 * The one way to write a backend decorator (restic's style: retry, limiter, logging and
 * dry-run each wrap any backend and are themselves backends).
 *
 * {@link decorate} builds a StorageBackend that sends every call of the inner backend through
 * an {@link Interceptor}. Optional abilities are forwarded exactly: the decorated backend has
 * `copy`, `move`, `setMtime`, `hash`, `readRange`, `mkdir`/`rmdir`, `isDirectory`, `sweepLeftovers`, `identityOf` when, and only when, the
 * inner backend has them at the moment they are looked up (getters, so an SFTP backend that
 * learns about `copy-data` on connecting is followed), and `features()` is the inner one's.
 * A decorator never invents an ability, and never hides one. The bulk abilities of
 * core/storage-bulk.ts are forwarded the same way: `writeBatch`, `readBatch` and `treeDigest`
 * through the interceptor, the limits and `treeHashParams` as they are.
 */
import type { Readable } from 'node:stream';
import type { BatchReader, BatchWriteItem, BatchWriter, TreeDigestSource, TreeHashSource } from '../../core/storage-bulk.js';
import type {
  BackendFeatures,
  Copier,
  DirectoryChecker,
  DirectoryMaker,
  DirEntry,
  HashName,
  Hasher,
  Identifier,
  LeftoverSweeper,
  ListOptions,
  Mover,
  MtimeSetter,
  OpOptions,
  RangeReader,
  ReadOptions,
  StorageBackend,
  WriteBody,
  WriteOptions,
} from '../../core/storage.js';

/** Every operation a backend may have, required or optional. */
export type Operation = 'stat' | 'read' | 'write' | 'delete' | 'list' | 'copy' | 'move' | 'setMtime' | 'hash' | 'readRange' | 'mkdir' | 'rmdir' | 'isDirectory' | 'writeBatch' | 'readBatch' | 'sweepLeftovers' | 'treeDigest';

/** Operations that change what is stored (what dry-run skips). */
export const MUTATING: ReadonlySet<Operation> = new Set(['write', 'delete', 'copy', 'move', 'setMtime', 'mkdir', 'rmdir', 'writeBatch', 'sweepLeftovers']);

export interface Call {
  op: Operation;
  /** The key (or `from` of copy/move, the prefix of list). */
  key: string;
  /** `to` of copy/move. */
  to?: string;
  signal?: AbortSignal;
  /** write only: the body as the caller gave it, and whether it can be sent again (a whole buffer can, a stream cannot). */
  body?: WriteBody;
  replayable?: boolean;
  /** write only: the announced size. */
  size?: number;
  /** write only: the announced modification time. */
  mtime?: number;
  /** writeBatch / readBatch: every key (`key` is the first), and for writeBatch the items and their bytes. */
  keys?: readonly string[];
  items?: readonly BatchWriteItem[];
  bytes?: number;
}

export interface Interceptor {
  /** Runs one call; `run` performs it on the inner backend (and may be called again, for retries). */
  call<T>(call: Call, run: () => Promise<T>): Promise<T>;
  /** Listing: wraps the inner iteration (default: passed through `call` for the first page only). */
  list?(call: Call, run: () => AsyncIterable<DirEntry>): AsyncIterable<DirEntry>;
  /** Transforms a write body before the inner backend sees it (bandwidth limit, dry-run). */
  body?(call: Call, body: WriteBody, options: WriteOptions): WriteBody;
  /** Transforms a read stream before the caller sees it. */
  stream?(call: Call, stream: Readable): Readable;
  close?(): Promise<void>;
}

type Inner = StorageBackend & Partial<Copier & Mover & MtimeSetter & Hasher & RangeReader & DirectoryMaker & DirectoryChecker & LeftoverSweeper & Identifier & BatchWriter & BatchReader & TreeHashSource & TreeDigestSource>;

/** A backend that forwards to `inner` through `interceptor`, with exactly `inner`'s abilities. */
export function decorate(inner: StorageBackend, name: string, interceptor: Interceptor): StorageBackend {
  const b = inner as Inner;
  const through = <T>(call: Call, run: () => Promise<T>): Promise<T> => interceptor.call(call, run);

  const decorated: StorageBackend = {
    name,
    features: (): BackendFeatures => inner.features(),
    stat: (key: string, options?: OpOptions) => through({ op: 'stat', key, signal: options?.signal }, () => inner.stat(key, options)),
    read: async (key: string, options?: ReadOptions) => {
      const call: Call = { op: 'read', key, signal: options?.signal };
      const stream = await through(call, () => inner.read(key, options));
      return interceptor.stream ? interceptor.stream(call, stream) : stream;
    },
    write: (key: string, body: WriteBody, options: WriteOptions = {}) => {
      const call: Call = { op: 'write', key, signal: options.signal, body, replayable: body instanceof Uint8Array, size: options.size, mtime: options.mtime };
      // Transformed inside the attempt: a retried write (of a whole buffer) gets a fresh body.
      return through(call, () => inner.write(key, interceptor.body ? interceptor.body(call, body, options) : body, options));
    },
    delete: (key: string, options?: OpOptions) => through({ op: 'delete', key, signal: options?.signal }, () => inner.delete(key, options)),
    list: (prefix: string, options?: ListOptions) => {
      const call: Call = { op: 'list', key: prefix, signal: options?.signal };
      return interceptor.list ? interceptor.list(call, () => inner.list(prefix, options)) : inner.list(prefix, options);
    },
    close: async () => {
      await interceptor.close?.();
      await inner.close?.();
    },
  };

  const ability = <K extends keyof Inner>(method: K, make: (fn: NonNullable<Inner[K]>) => NonNullable<Inner[K]>): void => {
    Object.defineProperty(decorated, method, {
      enumerable: true,
      get: () => {
        const fn = b[method];
        return typeof fn === 'function' ? make((fn as (...args: unknown[]) => unknown).bind(b) as NonNullable<Inner[K]>) : undefined;
      },
    });
  };
  ability('copy', (fn) => (from: string, to: string, options?: OpOptions) => through({ op: 'copy', key: from, to, signal: options?.signal }, () => fn(from, to, options)));
  ability('move', (fn) => (from: string, to: string, options?: OpOptions) => through({ op: 'move', key: from, to, signal: options?.signal }, () => fn(from, to, options)));
  ability('setMtime', (fn) => (key: string, mtime: number, options?: OpOptions) =>
    through({ op: 'setMtime', key, signal: options?.signal }, () => fn(key, mtime, options)),
  );
  ability('hash', (fn) => (key: string, algorithm: HashName, options?: OpOptions) =>
    through({ op: 'hash', key, signal: options?.signal }, () => fn(key, algorithm, options)),
  );
  ability('readRange', (fn) => (key: string, offset: number, length: number, options?: OpOptions) =>
    through({ op: 'readRange', key, signal: options?.signal }, () => fn(key, offset, length, options)),
  );
  ability('mkdir', (fn) => (key: string, options?: OpOptions) => through({ op: 'mkdir', key, signal: options?.signal }, () => fn(key, options)));
  ability('rmdir', (fn) => (key: string, options?: OpOptions) => through({ op: 'rmdir', key, signal: options?.signal }, () => fn(key, options)));
  ability('isDirectory', (fn) => (key: string, options?: OpOptions) =>
    through({ op: 'isDirectory', key, signal: options?.signal }, () => fn(key, options)),
  );
  ability('writeBatch', (fn) => (items: readonly BatchWriteItem[], options?: OpOptions) => {
    let bytes = 0;
    for (const it of items) bytes += it.data.length;
    const call: Call = { op: 'writeBatch', key: items[0]?.key ?? '', keys: items.map((it) => it.key), items, bytes, replayable: true, signal: options?.signal };
    return through(call, () => fn(items, options));
  });
  ability('readBatch', (fn) => (keys: readonly string[], options?: OpOptions) =>
    through({ op: 'readBatch', key: keys[0] ?? '', keys, signal: options?.signal }, () => fn(keys, options)),
  );
  ability('treeDigest', (fn) => (prefix: string, options?: OpOptions) => through({ op: 'treeDigest', key: prefix, signal: options?.signal }, () => fn(prefix, options)));
  ability('sweepLeftovers', (fn) => (before: number, options?: OpOptions) => through({ op: 'sweepLeftovers', key: '', signal: options?.signal }, () => fn(before, options)));
  // Descriptions, not operations: passed as they are.
  ability('batchWriteLimits', (fn) => fn);
  ability('batchReadLimits', (fn) => fn);
  ability('treeHashParams', (fn) => fn);
  // Where a key is, not what it holds: the same through any decorator (a dry run asks it too).
  ability('identityOf', (fn) => fn);
  return decorated;
}

/** The abilities (optional methods) a backend has right now, by name: what decorators must preserve. */
export function abilitiesOf(b: StorageBackend): string[] {
  const names = ['copy', 'move', 'setMtime', 'hash', 'readRange', 'mkdir', 'rmdir', 'isDirectory', 'sweepLeftovers', 'writeBatch', 'batchWriteLimits', 'readBatch', 'batchReadLimits', 'treeHashParams', 'treeDigest', 'identityOf'] as const;
  return names.filter((n) => typeof (b as Inner)[n] === 'function');
}
