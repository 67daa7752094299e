/**
 * The chunk store: content-addressed chunks over any StorageBackend, indexed in the
 * metadata store.
 *
 * Layout in the backend:
 *   chunks/ab/<hash>   a loose chunk: one chunk object (./chunk-codec.ts: a 16-byte header,
 *                      then a zstd frame or the raw bytes; objects of older servers are the
 *                      raw bytes alone, and are read as such)
 *   packs/ab/<id>      a pack: chunk objects back to back; offsets and lengths live in the index
 *
 * Compression: a chunk is kept zstd-compressed when that saves at least 1/32 of it, else
 * raw (with the header). A chunk that arrived compressed (Content-Encoding: zstd) is
 * decompressed to be verified and its frame kept as it came, so the server does not
 * compress it again; one that arrived raw is compressed here when a sample of its first
 * bytes says it is worth trying (random and already-compressed data streams straight
 * through to disk, as before).
 *
 * Every chunk is verified on the way in (hashed while it streams; a mismatch fails the
 * backend write, so nothing becomes visible) and on the way out (hashed before a byte is
 * handed to the caller). A chunk is indexed only after its object is durably stored, so
 * the index never points at bytes that are not there.
 *
 * Routes (`ferry serve --store /archive=s3:bucket/x --store /=local`): chunks are shared by
 * every file that contains them (dedup), so a chunk cannot live "under" a path. Instead the
 * route of the upload that brings a chunk decides which backend its object (or pack) is
 * written to, and the chunk index records that store (the route's prefix; none for the
 * default store). Reads and garbage collection go to the recorded store, so later uploads
 * elsewhere that reuse the chunk read it from where it is, and changing the routes changes
 * only where chunks sent from now on go. A store recorded in the index must stay configured.
 *
 * A chunk sent again (by a user who had not sent it: dedup answers are per user) is stored
 * again, the same way as a new one, and the index points at the newest copy: an older loose
 * copy in the same store is simply replaced, one elsewhere is deleted in the background, and
 * a pack left with no chunk goes with the next garbage collection. So the time a PUT takes
 * says nothing about what other users store, and a damaged copy heals when good bytes come.
 */
import { createHash, hash as sha256Of, randomBytes } from 'node:crypto';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { ChunkCodec, chunkHeader, CHUNK_HEADER_BYTES, decodeChunkObject, decompressChunk, encodeChunkObject, maxObjectBytes, parseChunkHeader, sampleCompresses, zstdContentSize } from './chunk-codec.js';
import {
  AbortedError,
  ChunkCorruptError,
  EncodingInvalidError,
  ConfigError,
  HashMismatchError,
  isCryptoDamage,
  NotFoundError,
  PayloadTooLargeError,
  SizeMismatchError,
  UnavailableError,
  ValidationError,
  isFerryError,
} from '../core/errors.js';
import { PACK_FRAME_HEADER_BYTES } from '../core/protocol.js';
import { canReadRange, canStage, canSweepLeftovers, canSyncDirectoriesLater, type DirEntry, type StagedObject, type StagedWriter, type StorageBackend, type SweptLeftovers } from '../core/storage.js';
import { collectRange } from '../backends/shared.js';
import { sha256Workers } from '../algo/sha256-workers.js';
import { applyDelta, DeltaFormatError } from '../algo/chunk-delta.js';
import { ChunkBuffers } from './chunk-buffers.js';
import { KeyedLock } from './keyed-lock.js';
import type { ChunkLocation, MetaStore } from './meta-store.js';
import type { LooseChunkIndexed, NewLooseChunk, NewPack, PackIndexed } from './chunk-index.js';
import { WriteGroups } from './write-groups.js';

/** What the chunk store reports; the server turns these into Prometheus counters. */
export interface ChunkStoreEvents {
  stored?(bytes: number): void;
  deduplicated?(bytes: number): void;
  served?(bytes: number): void;
  /** A chunk (or a pack's chunks) of `plain` bytes was written as `stored` bytes of objects (compression at rest). */
  encoded?(plain: number, stored: number): void;
  corrupt?(hash: string, where: string): void;
  /** A superseded copy could not be deleted (it stays behind, unreferenced). */
  retireFailed?(hash: string, err: unknown): void;
}

/** A path prefix whose new chunks go to `backend` (see the module comment). */
export interface ChunkRoute {
  /** A normalized absolute path: `/archive`. Also the store's name in the chunk index: keep it stable. */
  prefix: string;
  backend: StorageBackend;
}

export interface ChunkStoreOptions {
  /** The default store: chunks of uploads no route matches. */
  backend: StorageBackend;
  /** Path prefixes with their own stores; the longest matching prefix wins. */
  routes?: readonly ChunkRoute[];
  meta: MetaStore;
  maxChunkSize: number;
  /** Flush chunk objects to stable storage before indexing them (default true). */
  durable?: boolean;
  events?: ChunkStoreEvents;
  /** The youngest object {@link ChunkStore.sweepUnreferenced} takes for unreferenced (default {@link UNREFERENCED_MIN_AGE_MS}: the server's `gcMinAge`). */
  unreferencedMinAgeMs?: number;
  /** The longest a published chunk waits for others before it is sealed (default {@link SEAL_AGE_MS}; tests that count groups set it long). */
  sealAgeMs?: number;
}

export interface PackResult {
  stored: number;
  duplicates: number;
  bytes: number;
}

/** A Transform that passes bytes through while hashing them, and fails at the end on a mismatch. */
class VerifyingStream extends Transform {
  private readonly hash = createHash('sha256');
  private seen = 0;

  constructor(
    private readonly expectedHash: string,
    private readonly expectedSize: number,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.seen += chunk.length;
    if (this.seen > this.expectedSize) {
      cb(new SizeMismatchError(`chunk ${this.expectedHash.slice(0, 12)}…: more than the announced ${this.expectedSize} bytes`));
      return;
    }
    this.hash.update(chunk);
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    if (this.seen !== this.expectedSize) {
      cb(new SizeMismatchError(`chunk ${this.expectedHash.slice(0, 12)}…: ${this.seen} bytes arrived, ${this.expectedSize} announced`));
      return;
    }
    const actual = this.hash.digest('hex');
    if (actual !== this.expectedHash) {
      cb(new HashMismatchError(`chunk bytes hash to ${actual}, not ${this.expectedHash}`, { details: { expected: this.expectedHash, actual } }));
      return;
    }
    cb();
  }
}

/** SHA-256 of a chunk in hex: Node's one-shot hash (no Hash object per chunk). */
const sha256Hex = (data: Uint8Array): string => sha256Of('sha256', data, 'hex');

/**
 * Parses pack frames (`hash | u32 size | data`) and passes each chunk on as a chunk object
 * (./chunk-codec.ts: compressed when that pays), once its bytes are in and verified.
 * Records where each chunk's object lands in the output and how long it is.
 */
class PackParser extends Transform {
  readonly entries: { hash: string; size: number; offset: number; stored: number }[] = [];
  private header = Buffer.alloc(PACK_FRAME_HEADER_BYTES);
  private headerFill = 0;
  private current: { hash: string; size: number; left: number; data: Buffer } | null = null;
  private out = 0;
  private total = 0;

  constructor(
    private readonly maxChunkSize: number,
    private readonly maxBytes: number,
  ) {
    // The frames' pieces go to the writer one by one: a readable side of bytes joined all
    // that was pushed since the writer's last pull into a new buffer (Readable's fromList),
    // which the writer then copied again into its staging buffer: the 333 MB of a 10,000-file
    // sync copied once more on the event loop (issue 15, branch speed17). Two pieces (a
    // frame's header and bytes) wait for the writer before the body is read on: with
    // sixteen (object mode's default) a slow disk let the body run 2.2 MB ahead, against
    // 0.13 MB with a byte side of 16 KiB and 0.39 MB with two (chunk-store.test.ts).
    super({ readableObjectMode: true, readableHighWaterMark: 2 });
  }

  override _transform(buf: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.total += buf.length;
    if (this.total > this.maxBytes) {
      cb(new PayloadTooLargeError(`a pack may hold at most ${this.maxBytes} bytes`));
      return;
    }
    let i = 0;
    try {
      while (i < buf.length) {
        if (this.current === null) {
          const take = Math.min(PACK_FRAME_HEADER_BYTES - this.headerFill, buf.length - i);
          buf.copy(this.header, this.headerFill, i, i + take);
          this.headerFill += take;
          i += take;
          if (this.headerFill < PACK_FRAME_HEADER_BYTES) break;
          this.headerFill = 0;
          const hash = this.header.toString('hex', 0, 32);
          const size = this.header.readUInt32BE(32);
          if (size < 1 || size > this.maxChunkSize) throw new ValidationError(`pack frame for ${hash}: size ${size} outside 1..${this.maxChunkSize}`);
          // A frame whole in this piece (most small files: pieces are up to 64 KiB) is taken
          // where it is, not copied: the piece is the body's own, never reused by its
          // producer, and the writer below copies what it keeps (10,000 small files: about
          // 0.1 s of allocating and copying on the server's event loop).
          if (buf.length - i >= size) {
            this.frame(hash, buf.subarray(i, i + size));
            i += size;
            continue;
          }
          this.current = { hash, size, left: size, data: Buffer.allocUnsafe(size) };
          continue;
        }
        const c = this.current;
        const take = Math.min(c.left, buf.length - i);
        buf.copy(c.data, c.size - c.left, i, i + take);
        c.left -= take;
        i += take;
        if (c.left === 0) {
          this.current = null;
          this.frame(c.hash, c.data);
        }
      }
    } catch (err) {
      cb(err as Error);
      return;
    }
    cb();
  }

  /** A frame's bytes, complete: verified, encoded and passed on. */
  private frame(expected: string, data: Buffer): void {
    const actual = sha256Hex(data);
    if (actual !== expected) throw new HashMismatchError(`pack frame: bytes hash to ${actual}, not ${expected}`, { details: { expected, actual } });
    const parts = encodeChunkObject(data);
    const stored = parts[0].length + parts[1].length;
    for (const part of parts) this.push(part);
    this.entries.push({ hash: expected, size: data.length, offset: this.out, stored });
    this.out += stored;
  }

  override _flush(cb: TransformCallback): void {
    if (this.current !== null || this.headerFill !== 0) cb(new SizeMismatchError('the pack ends in the middle of a frame'));
    else cb();
  }
}

/** A chunk's verified bytes in a buffer lent by the store (see {@link ChunkStore.lend}). */
export interface LentChunk {
  data: Buffer;
  /**
   * The chunk as stored, when it is stored zstd-compressed: one zstd frame of `data`
   * (verified with it), for answers to clients that take `Content-Encoding: zstd`.
   */
  zstd?: Buffer;
  /** Gives the buffer back for another read; idempotent. Call it only once nothing reads `data` any more. */
  release(): void;
}

/**
 * Read buffers of {@link ChunkStore.lend}: enough for a few downloads at once, each with
 * its chunks read ahead and one being written (beyond that, lent chunks are read into
 * buffers of their own).
 */
const LENT_BUFFERS = 24;

/**
 * A chunk write registered this long ago is taken for the leftover of a node that died
 * (retiring a superseded copy; garbage collection uses its grace time instead).
 */
const STALE_WRITE_MS = 3600_000;

/** Chunks of one pack less than this far apart are read together (the gap is read and dropped). */
const RUN_GAP_BYTES = 64 * 1024;
/** Longest ranged read of {@link ChunkStore.readMany}. */
const RUN_MAX_BYTES = 8 * 1024 * 1024;
/** Reads of {@link ChunkStore.readMany} in flight at once. */
const MANY_READS = 8;

/**
 * Staged chunks (grouped durability) not yet published and indexed beyond which a deferred
 * PUT waits for the publishing under way: the disk sets the pace, not memory or page cache.
 */
const STAGED_LIMIT = 64;
/**
 * Chunks published (durable and renamed) whose directories are not yet fsynced, beyond which
 * they are sealed (directories fsynced, chunks indexed) without waiting for anyone to need
 * them (see {@link ChunkStore.seal}).
 */
const SEAL_CHUNKS = 512;
/**
 * The longest a published chunk waits for others before it is sealed when nobody needs it
 * sooner. Longer groups share more directories (a second of a 1 GiB upload is ~200 chunks
 * over ~140 of the 256 fan-out directories; the whole GiB ~800 over ~245), but what is not
 * yet indexed is neither counted in the metrics nor kept by a server killed meanwhile: a
 * resumed upload sends it again. With the whole upload in one group (a threshold of 1024)
 * the stored-bytes metric stood still until the commit.
 */
const SEAL_AGE_MS = 1000;
/** The most packs indexed in one transaction (a pack holds up to a few thousand chunks). */
const PACKS_PER_TRANSACTION = 16;
/** How long a deferred pack waits for others before it is indexed anyway (see ChunkStore.putPack). */
const PACK_LINGER_MS = 1000;

/** Staged chunks grouped by the backend that staged them, in order. */
function byBackend(entries: readonly StagedChunk[]): Map<StorageBackend & StagedWriter, StagedChunk[]> {
  const groups = new Map<StorageBackend & StagedWriter, StagedChunk[]>();
  for (const e of entries) {
    const list = groups.get(e.backend);
    if (list) list.push(e);
    else groups.set(e.backend, [e]);
  }
  return groups;
}

/** A durable pack whose indexing was deferred (see ChunkStore.putPack). */
interface DeferredPack {
  pack: NewPack;
  hashes: Set<string>;
  /** Settles once indexed or failed (set when handed to the pack index). */
  indexed?: Promise<void>;
}

/** A loose chunk's write in progress (see ChunkStore.beginWrite). */
interface ChunkWrite {
  /** Its registration in an index nodes share (ChunkIndex.beginWrite); undefined on SQLite. */
  readonly registration?: string;
  /**
   * Ends it (idempotent). `indexed`: the chunk's index transaction committed, which ended
   * the registration (ChunkIndex.addChunks): only this node's bookkeeping is left.
   */
  done(indexed?: boolean): Promise<void>;
}

/** A loose chunk written but not yet durable, visible nor indexed (see {@link ChunkStore.put}). */
interface StagedChunk {
  backend: StorageBackend & StagedWriter;
  object: StagedObject;
  hash: string;
  size: number;
  store: string | null;
  owner?: string;
  storedBytes: number;
  /** Its write (garbage collection may look at the chunk again once it ends). */
  write: ChunkWrite;
  /** Settles once the chunk is durable and indexed: whether it is new to the owner. */
  published: Promise<boolean>;
  settle: (fresh: boolean | Error) => void;
}

export class ChunkStore {
  private readonly backend: StorageBackend;
  private readonly routes: readonly ChunkRoute[];
  private readonly meta: MetaStore;
  private readonly maxChunkSize: number;
  private readonly durable: boolean;
  private readonly events: ChunkStoreEvents;
  private readonly unreferencedMinAgeMs: number;
  private readonly sealAgeMs: number;
  /**
   * Held briefly per hash: by garbage collection while it checks and deletes a chunk's
   * object, and by a writer while it registers in {@link writers}. Never while a body
   * arrives: a slow sender must not hold up anyone else's upload of the same chunk.
   */
  private readonly locks = new KeyedLock();
  /** Writes in progress per hash: garbage collection leaves those chunks' objects alone. */
  private readonly writers = new Map<string, number>();
  /** Packs written or being written by this node and not yet indexed (nor dropped): not swept. */
  private readonly packsWriting = new Set<string>();
  /** Background deletions of superseded loose copies (see {@link retire}). */
  private readonly retiring = new Set<Promise<void>>();
  /** Buffers of {@link lend}. */
  private readonly buffers: ChunkBuffers;
  /** Staged chunks waiting to be published (grouped durability: see {@link put}). */
  private staged: StagedChunk[] = [];
  /** Staged chunks not yet settled (waiting or being published), by hash (several writers of one hash: several entries). */
  private readonly unsettled = new Set<StagedChunk>();
  /** Chunks published with their directories not yet fsynced, neither indexed nor settled (see {@link seal}). */
  private unsealed: StagedChunk[] = [];
  /** Someone waits for a chunk to settle: seal without waiting for the group to fill. */
  private sealDue = false;
  /** Seals the unsealed chunks once the oldest has waited {@link SEAL_AGE_MS}. */
  private sealTimer: NodeJS.Timeout | undefined;
  /** The publishing loop, while it runs. */
  private publishing: Promise<void> | undefined;
  /**
   * Packs durably stored and waiting to be indexed: those that arrive while one group's
   * transaction runs are indexed together in the next (see ChunkIndex.addPacks for why).
   */
  private readonly packIndex: WriteGroups<NewPack, PackIndexed>;
  /** Deferred packs (see {@link putPack}) not yet handed to {@link packIndex}. */
  private deferredPacks: DeferredPack[] = [];
  /** Deferred packs handed to {@link packIndex} and not yet indexed (or failed). */
  private readonly indexingPacks = new Set<DeferredPack>();
  /** Indexes the deferred packs once they have waited {@link PACK_LINGER_MS}. */
  private deferredTimer: NodeJS.Timeout | undefined;
  /**
   * Verified bytes of chunks just read as delta bases ({@link readBase}), most recent last,
   * at most {@link BASE_CACHE_BYTES} in all. A client that edited a file asks for the
   * signature of the chunk an edited one replaces, then sends the delta against it: without
   * these the server read, decompressed and SHA-256'd each base twice (workload 8b of the
   * bench: a third of the server's CPU).
   */
  private readonly recentBases = new Map<string, Buffer>();
  /** Bases found intact by {@link checkBases}. */
  private readonly checkedBases = new WeakSet<Buffer>();
  private recentBaseBytes = 0;
  /** Empties recentBases a while after the last one came: an idle server keeps none. */
  private recentBasesTimer: NodeJS.Timeout | undefined;

  constructor(options: ChunkStoreOptions) {
    this.backend = options.backend;
    this.routes = [...(options.routes ?? [])].sort((a, b) => b.prefix.length - a.prefix.length);
    this.meta = options.meta;
    this.maxChunkSize = options.maxChunkSize;
    this.durable = options.durable ?? true;
    this.events = options.events ?? {};
    this.unreferencedMinAgeMs = options.unreferencedMinAgeMs ?? UNREFERENCED_MIN_AGE_MS;
    this.sealAgeMs = options.sealAgeMs ?? SEAL_AGE_MS;
    this.buffers = new ChunkBuffers(LENT_BUFFERS);
    this.packIndex = new WriteGroups((packs) => this.meta.addPacks(packs, (p) => this.packStored(p)), PACKS_PER_TRANSACTION);
  }

  /** Pack index transactions so far (each indexing one or more packs), for tests and benchmarks. */
  get packIndexTransactions(): number {
    return this.packIndex.groups;
  }

  /** The store new chunks of an upload to `path` go to: the longest matching route, else the default. */
  route(path: string | undefined): { store: string | null; backend: StorageBackend } {
    if (path !== undefined) {
      for (const r of this.routes) {
        if (r.prefix === '/' || path === r.prefix || path.startsWith(r.prefix + '/')) return { store: r.prefix, backend: r.backend };
      }
    }
    return { store: null, backend: this.backend };
  }

  /** The backend of a store recorded in the index. */
  backendOf(store: string | null | undefined): StorageBackend {
    if (store === null || store === undefined) return this.backend;
    const found = this.routes.find((r) => r.prefix === store);
    if (!found) throw new ConfigError(`the chunk index records chunks in the store ${store}, which is not configured (--store ${store}=...)`);
    return found.backend;
  }

  static chunkKey(hash: string): string {
    return `chunks/${hash.slice(0, 2)}/${hash}`;
  }

  static packKey(id: string): string {
    return `packs/${id.slice(0, 2)}/${id}`;
  }

  /**
   * Stores one chunk from a stream of exactly `size` bytes hashing to `hash`, and with
   * `owner` records that this user sent it. `path` (the file of the upload that brings it)
   * chooses the store. Idempotent.
   *
   * The work is the same whether or not the chunk is stored already (by anyone): the body
   * is read, verified and written durably, and the index row made to point at this copy.
   * Skipping any of it for a known chunk would tell the sender, by the answer or by the
   * time it takes, that someone stores those bytes. Writing over the old copy costs disk
   * bandwidth, not space, and replaces a damaged copy with verified bytes. Returns whether
   * the chunk is new *to the owner* (true without one): the only dedup answer a user gets.
   */
  async put(hash: string, size: number, body: Readable | Buffer, signal?: AbortSignal, options: ChunkPutOptions = {}): Promise<boolean> {
    if (size < 1 || size > this.maxChunkSize) throw new PayloadTooLargeError(`a chunk may hold 1 to ${this.maxChunkSize} bytes, not ${size}`);
    // Each writer streams into a temporary object of its own (the backend's atomic write):
    // two senders of one chunk write side by side and the later rename replaces the
    // earlier with the same verified bytes. Registered as a writer, the chunk is safe from
    // garbage collection and from the retiring of superseded copies.
    const { store, backend } = this.route(options.path);
    const write = await this.beginWrite(hash);
    let staged: StagedChunk;
    let object: ObjectBody | undefined;
    try {
      object = await this.chunkObject(hash, size, body, signal, options);
      if (!this.durable || !canStage(backend)) {
        await backend.write(ChunkStore.chunkKey(hash), object.body, { size: object.bytes, durable: this.durable, signal });
        object.release?.();
        options.written?.();
        this.events.encoded?.(size, object.bytes);
        let fresh: boolean;
        try {
          fresh = await this.indexed({ hash, size, store, storedSize: object.bytes, ...(options.owner !== undefined ? { owner: options.owner } : {}), ...(write.registration !== undefined ? { registration: write.registration } : {}) });
        } catch (err) {
          await write.done();
          await this.dropUnindexed(hash, store);
          throw err;
        }
        await write.done(true);
        return fresh;
      }
      staged = this.stagedChunk(backend, await backend.stage(ChunkStore.chunkKey(hash), object.body, { size: object.bytes, signal }), hash, size, store, options.owner, write);
      this.events.encoded?.(size, object.bytes);
    } finally {
      object?.release?.();
      if (staged! === undefined) await write.done();
    }
    // The bytes are in the staged object: the body's memory is free for the next ones
    // while this one waits for the disk below.
    options.written?.();
    if (!options.defer) {
      this.wantSealed();
      return staged.published;
    }
    // Deferred: the caller answers now and calls flush() before anything may reference the
    // chunk (a commit). The dedup answer is taken from the index as it stands.
    staged.published.catch(() => undefined);
    // Staged chunks hold open files and unflushed pages; published ones waiting for their
    // directories' fsync hold neither.
    if (this.unsettled.size - this.unsealed.length > STAGED_LIMIT) await this.publishing;
    if (options.owner === undefined) return true;
    // The owner's own earlier PUT of this chunk may not be indexed yet (it is published in
    // the background): it is theirs already. Looked at before the index, which a staged
    // chunk reaches before it leaves `unsettled`, so one of the two sees it.
    for (const e of this.unsettled) if (e !== staged && e.hash === hash && e.owner === options.owner) return false;
    return !(await this.meta.ownedChunks(options.owner, [hash])).has(hash);
  }

  /** The chunk object to write for a body as it arrived: verified, and compressed where that pays. */
  private async chunkObject(hash: string, size: number, body: Readable | Buffer, signal: AbortSignal | undefined, options: ChunkPutOptions): Promise<ObjectBody> {
    if (options.encoding === 'zstd') return encodedObject(hash, size, toStream(body));
    if (options.encoding === 'delta') {
      const hashes = options.bases ?? [];
      const bases = await this.readBases(hashes, signal);
      try {
        return await deltaObject(hash, size, toStream(body), bases);
      } catch (err) {
        if (err instanceof HashMismatchError) await this.checkBases(hashes, bases);
        throw err;
      }
    }
    if (Buffer.isBuffer(body)) return wholeObject(hash, size, body);
    return plainObject(pipeInto(body, new VerifyingStream(hash, size)), size, options.gather);
  }

  /** Indexes a chunk whose object is durably stored; whether it is new to its owner. */
  private async indexed(chunk: NewLooseChunk): Promise<boolean> {
    return this.noteIndexed(chunk.hash, chunk.size, chunk.store, (await this.meta.addChunks([chunk], (c) => this.chunkStored(c)))[0]);
  }

  private noteIndexed(hash: string, size: number, store: string | null, { previous, fresh, lapsed }: LooseChunkIndexed): boolean {
    if (lapsed) {
      throw new UnavailableError('this server stalled longer than the garbage-collection grace time while storing a chunk, and another node deleted it as a leftover: send the chunk again', { retryAfterMs: 1000 });
    }
    // A loose copy in another store is superseded now (in the same store it was just replaced).
    if (previous && previous.pack === null && previous.store !== store) this.retire(hash, previous.store);
    if (previous) this.events.deduplicated?.(size);
    else this.events.stored?.(size);
    return fresh;
  }

  /**
   * Indexes a publication batch's chunks in one transaction (ChunkIndex.addChunks); when that
   * fails, one by one, so that one chunk the index refuses fails alone, as before.
   */
  private async indexedBatch(entries: readonly StagedChunk[]): Promise<(boolean | Error)[]> {
    const chunks = entries.map((e): NewLooseChunk => ({ hash: e.hash, size: e.size, store: e.store, storedSize: e.storedBytes, ...(e.owner !== undefined ? { owner: e.owner } : {}), ...(e.write.registration !== undefined ? { registration: e.write.registration } : {}) }));
    if (entries.length > 1) {
      const added = await this.meta.addChunks(chunks, (c) => this.chunkStored(c)).catch(() => undefined);
      if (added) {
        return entries.map((e, i) => {
          try {
            return this.noteIndexed(e.hash, e.size, e.store, added[i]);
          } catch (err) {
            return err as Error;
          }
        });
      }
    }
    const out: (boolean | Error)[] = [];
    for (const c of chunks) out.push(await this.indexed(c).catch((err: unknown) => err as Error));
    return out;
  }

  /**
   * Grouped durability. A loose chunk on a backend that can stage (local disk) is written
   * unflushed and invisible, and queued; a loop publishes whatever is queued (every file
   * fsynced, renamed, each directory fsynced once: ./../core/storage.ts StagedWriter), then
   * indexes it. A chunk is indexed only once durable, as with one durable write per chunk;
   * what is saved is the fsync of the directory per chunk, the wait of each PUT for its own
   * flush (the next chunks arrive while the disk works), and with `defer` the wait altogether.
   * The loop runs while anything is queued, so the disk works beside the network.
   *
   * Where the backend can sync directories later (DirectorySyncer: local disk), a
   * publication leaves the chunks unsealed: durable and renamed, but neither their
   * directories fsynced nor indexed. They are sealed together (each directory fsynced once,
   * then one index transaction) once {@link SEAL_CHUNKS} of them wait, once someone waits for
   * one (a commit's flush, a read, a dedup answer, a PUT that is not deferred), or once the
   * oldest has waited {@link SEAL_AGE_MS}. A chunk is still indexed only once its name is durable, and its
   * writer's registration keeps garbage collection off it meanwhile. Publications of a few
   * chunks each fsynced as many of the 256 fan-out directories: 822 directory fsyncs per GiB
   * uploaded, one per chunk (issue 15, branch speed12).
   */
  private stagedChunk(backend: StorageBackend & StagedWriter, object: StagedObject, hash: string, size: number, store: string | null, owner: string | undefined, write: ChunkWrite): StagedChunk {
    let settle!: (fresh: boolean | Error) => void;
    const published = new Promise<boolean>((resolve, reject) => {
      settle = (fresh) => (fresh instanceof Error ? reject(fresh) : resolve(fresh));
    });
    const entry: StagedChunk = { backend, object, hash, size, store, storedBytes: object.size, write, published, settle, ...(owner !== undefined ? { owner } : {}) };
    this.staged.push(entry);
    this.unsettled.add(entry);
    this.publishing ??= this.publishLoop();
    return entry;
  }

  private async publishLoop(): Promise<void> {
    try {
      for (;;) {
        const full = this.unsealed.length >= SEAL_CHUNKS;
        if (this.unsealed.length > 0 && (full || (this.sealDue && this.staged.length === 0))) await this.seal();
        else if (this.staged.length > 0) await this.publishStaged();
        else break;
      }
    } finally {
      this.publishing = undefined;
    }
  }

  /** Seals the unsealed chunks now (someone waits for one of them), through the publishing loop. */
  private wantSealed(): void {
    this.sealDue = true;
    this.publishing ??= this.publishLoop();
  }

  /** Publishes what is staged, a batch per backend. */
  private async publishStaged(): Promise<void> {
    const batch = this.staged;
    this.staged = [];
    for (const [backend, entries] of byBackend(batch)) await this.publishBatch(backend, entries);
  }

  /** Fsyncs the directories of the unsealed chunks, each once, then indexes and settles them (see {@link stagedChunk}). */
  private async seal(): Promise<void> {
    const batch = this.unsealed;
    this.unsealed = [];
    this.sealDue = false;
    clearTimeout(this.sealTimer);
    this.sealTimer = undefined;
    for (const [backend, entries] of byBackend(batch)) {
      let results: (Error | null)[];
      try {
        results = canSyncDirectoriesLater(backend) ? await backend.syncDirectories(entries.map((e) => e.object)) : entries.map(() => null);
      } catch (err) {
        results = entries.map(() => err as Error);
      }
      await this.indexPublished(entries, results);
    }
  }

  private async publishBatch(backend: StorageBackend & StagedWriter, entries: StagedChunk[]): Promise<void> {
    const later = canSyncDirectoriesLater(backend);
    let results: (Error | null)[];
    try {
      results = await backend.publish(
        entries.map((e) => e.object),
        later ? { directoriesLater: true } : {},
      );
    } catch (err) {
      await backend.discard(entries.map((e) => e.object)).catch(() => undefined);
      results = entries.map(() => err as Error);
    }
    if (!later) return this.indexPublished(entries, results);
    // The failed settle now; the others wait for their directories (seal).
    const failed = entries.filter((_, i) => results[i] !== null);
    if (failed.length > 0) await this.indexPublished(failed, results.filter((r) => r !== null));
    this.unsealed.push(...entries.filter((_, i) => results[i] === null));
    if (this.unsealed.length > 0 && this.sealTimer === undefined) {
      this.sealTimer = setTimeout(() => {
        this.sealTimer = undefined;
        this.wantSealed();
      }, this.sealAgeMs);
      this.sealTimer.unref();
    }
  }

  /**
   * Indexes the chunks of `entries` whose publication succeeded (`results[i]` null: durable
   * and visible, names included) in one transaction, ends their writes and settles them all.
   */
  private async indexPublished(entries: StagedChunk[], results: readonly (Error | null)[]): Promise<void> {
    const outcomes: (boolean | Error)[] = results.map((failed) => failed ?? false);
    const published = entries.filter((_, i) => !results[i]);
    const indexed = await this.indexedBatch(published);
    const unindexed = published.filter((_, i) => indexed[i] instanceof Error);
    let next = 0;
    for (let i = 0; i < entries.length; i++) if (!results[i]) outcomes[i] = indexed[next++];
    // The writers' registrations not ended by the index end together (one round trip each to
    // a shared index, in parallel), and only then are the chunks settled: settled() means
    // nothing is left over.
    await Promise.all(entries.map((e, i) => e.write.done(!(outcomes[i] instanceof Error))));
    // Published but not indexed (the database full, or gone): nobody can reach those objects.
    for (const e of unindexed) await this.dropUnindexed(e.hash, e.store);
    entries.forEach((e, i) => {
      e.settle(outcomes[i]);
      this.unsettled.delete(e);
    });
  }

  /**
   * Resolves once every chunk staged before this call is durable and indexed (or failed: it
   * is then not indexed, and a commit that needs it says the chunk is missing). The upload
   * commit calls this before it looks at the index: a commit never references a chunk that
   * is not durable.
   */
  async flush(): Promise<void> {
    if (this.deferredPacks.length > 0 || this.indexingPacks.size > 0) await this.indexDeferredPacks();
    if (this.unsettled.size === 0) return;
    this.wantSealed();
    await Promise.allSettled([...this.unsettled].map((e) => e.published));
  }

  /**
   * Registers a writer of `hash` (waiting only for a garbage collection deleting it right
   * now), in this process and, when nodes share the index, in the index for the others'
   * collections (ChunkIndex.beginWrite); end it with `done` (the index ends the registration
   * when it indexes the chunk with it: ChunkIndex.addChunks).
   */
  private async beginWrite(hash: string): Promise<ChunkWrite> {
    let registration: string | undefined;
    await this.locks.run(hash, async () => {
      registration = await this.meta.chunkIndex.beginWrite(hash);
      this.writers.set(hash, (this.writers.get(hash) ?? 0) + 1);
    });
    let ended = false;
    const done = async (indexed = false): Promise<void> => {
      if (ended) return;
      ended = true;
      const left = (this.writers.get(hash) ?? 1) - 1;
      if (left === 0) this.writers.delete(hash);
      else this.writers.set(hash, left);
      // A registration left behind (the database unreachable now) lapses: see ChunkIndex.guard.
      if (!indexed) await this.meta.chunkIndex.endWrite(registration).catch(() => undefined);
    };
    return registration !== undefined ? { registration, done } : { done };
  }

  /** Whether the loose object of `chunk` is in its store (asked when its write's registration had lapsed: ChunkIndex.addChunks). */
  private async chunkStored(chunk: NewLooseChunk): Promise<boolean> {
    return this.backendOf(chunk.store).stat(ChunkStore.chunkKey(chunk.hash)).then(
      () => true,
      () => false,
    );
  }

  /**
   * Stores one chunk whose bytes the server cut and hashed itself (a streamed upload: see
   * server/ingest.ts), so they are not hashed a second time on the way in; `hash` must be
   * the SHA-256 of `data`. Compressed at rest where a sample says it pays, as a chunk PUT's
   * (so a file that came by `curl -T`, WebDAV, SFTP or tus is downloaded compressed too).
   * Otherwise as {@link put}: the same work whether or not the chunk is stored already (no
   * timing oracle), and the same answer (new to `owner`). Idempotent.
   */
  async putOwnBytes(hash: string, data: Buffer, signal?: AbortSignal, options: { owner?: string; path?: string } = {}): Promise<boolean> {
    const size = data.length;
    if (size < 1 || size > this.maxChunkSize) throw new PayloadTooLargeError(`a chunk may hold 1 to ${this.maxChunkSize} bytes, not ${size}`);
    const { store, backend } = this.route(options.path);
    const parts = sampleCompresses(data.subarray(0, DECIDE_BYTES)) ? encodeChunkObject(data) : [chunkHeader(ChunkCodec.Raw, size), data];
    const bytes = parts[0].length + parts[1].length;
    const write = await this.beginWrite(hash);
    let fresh: boolean;
    try {
      await backend.write(ChunkStore.chunkKey(hash), Readable.from(parts, { objectMode: false }), { size: bytes, durable: this.durable, signal });
      this.events.encoded?.(size, bytes);
      try {
        fresh = await this.indexed({ hash, size, store, storedSize: bytes, ...(options.owner !== undefined ? { owner: options.owner } : {}), ...(write.registration !== undefined ? { registration: write.registration } : {}) });
      } catch (err) {
        await write.done();
        await this.dropUnindexed(hash, store);
        throw err;
      }
      void write.done(true);
    } finally {
      void write.done();
    }
    return fresh;
  }

  /**
   * Stores a pack body (frames) as one object, then indexes its chunks. `accept` may veto
   * the pack after it is parsed and verified (for example: a chunk outside the session's
   * manifest, or of another size than the manifest says); the object is then deleted and
   * the veto's error thrown. With `owner`, every chunk of the pack is recorded as that
   * user's (each frame was verified on the way in).
   *
   * `defer` (SQLite only): resolves once the pack is durable, and its chunks are indexed later, together
   * with the other packs deferred meanwhile: at the next {@link flush} (an upload's commit),
   * when a reader asks for one of its chunks ({@link flushChunks}), once
   * {@link PACKS_PER_TRANSACTION} wait, or after {@link PACK_LINGER_MS}. As with a deferred
   * {@link put}, the caller flushes before anything may reference the chunks, and the dedup
   * answer is taken from the index and the deferred packs as they stand.
   */
  async putPack(body: Readable, maxBytes: number, signal?: AbortSignal, accept?: (chunks: { hash: string; size: number }[]) => Promise<void>, options: { owner?: string; path?: string; encoding?: 'zstd'; defer?: boolean } = {}): Promise<PackResult> {
    const id = randomBytes(16).toString('hex');
    const parser = new PackParser(this.maxChunkSize, maxBytes);
    const data = pipeInto(options.encoding === 'zstd' ? Readable.from([await decodedPack(body, maxBytes)]) : body, parser);
    const { store, backend } = this.route(options.path);
    // Kept from the sweep of unreferenced objects until indexed (or dropped): it has no row
    // till then. In this process by packsWriting, on other nodes by its registration.
    this.packsWriting.add(id);
    let registration: string | undefined;
    const unregister = (): Promise<void> => this.meta.chunkIndex.endWrite(registration).catch(() => undefined);
    try {
      registration = await this.meta.chunkIndex.beginWrite(id);
      await backend.write(ChunkStore.packKey(id), data, { durable: this.durable, signal });
    } catch (err) {
      this.packsWriting.delete(id);
      await unregister();
      throw err;
    }
    const unique = new Map<string, { hash: string; size: number; offset: number }>();
    for (const e of parser.entries) if (!unique.has(e.hash)) unique.set(e.hash, e);
    const bytes = parser.entries.reduce((a, e) => a + e.size, 0);
    const discard = async (): Promise<void> => {
      await backend.delete(ChunkStore.packKey(id)).finally(() => this.packsWriting.delete(id));
      await unregister();
    };
    try {
      await accept?.([...unique.values()].map((e) => ({ hash: e.hash, size: e.size })));
    } catch (err) {
      await discard();
      throw err;
    }
    if (unique.size === 0) {
      await discard();
      return { stored: 0, duplicates: 0, bytes: 0 };
    }
    // As for put: every chunk's row points at its copy here, known before or not. Indexed
    // only now that the pack is durable.
    const pack: NewPack = { id, size: bytes, entries: [...unique.values()], store, ...(options.owner !== undefined ? { owner: options.owner } : {}), ...(registration !== undefined ? { registration } : {}) };
    // Only where this process is the only writer of the index (SQLite): on a database other
    // nodes share, the commit may reach another node, which cannot flush this one's packs
    // (it would find their chunks missing and have them sent again); there they are indexed
    // at once, together only with the packs that arrive while a group's transaction runs.
    const defer = options.defer === true && this.meta.dialect === 'sqlite';
    const fresh = defer
      ? await this.deferPack(pack).catch(async (err: unknown) => {
          await this.dropUnindexedPack(id, store);
          this.packsWriting.delete(id);
          throw err;
        })
      : await this.indexPackNow(pack);
    this.events.stored?.(bytes);
    this.events.encoded?.(bytes, parser.entries.reduce((a, e) => a + e.stored, 0));
    return { stored: fresh, duplicates: parser.entries.length - fresh, bytes };
  }

  /**
   * Indexes a durable pack now; when that fails (the database full, or gone) the pack's
   * object, which nothing can reach, is deleted before the error is passed on.
   */
  private async indexPackNow(pack: NewPack): Promise<number> {
    let indexed: PackIndexed;
    try {
      indexed = await this.packIndex.add(pack);
    } catch (err) {
      await this.dropUnindexedPack(pack.id, pack.store);
      // Its registration (rolled back with the index) lapses if this fails too: see ChunkIndex.guard.
      await this.meta.chunkIndex.endWrite(pack.registration).catch(() => undefined);
      throw err;
    } finally {
      this.packsWriting.delete(pack.id);
    }
    if (indexed.lapsed) {
      throw new UnavailableError('this server stalled longer than the garbage-collection grace time while storing a pack, and another node deleted it as a leftover: send the pack again', { retryAfterMs: 1000 });
    }
    for (const l of indexed.wasLoose) this.retire(l.hash, l.store);
    return indexed.fresh;
  }

  /**
   * After a failed index of the loose object of `hash` this writer stored in `store`: the
   * object goes unless, under the chunk's lock, another writer is storing it or the index
   * points at it (an earlier copy it replaced with the same bytes, or another writer's that
   * was indexed since): garbage collection's rules. Best effort: what stays is swept later
   * ({@link sweepUnreferenced}). Call it once this writer's registration has ended.
   */
  private async dropUnindexed(hash: string, store: string | null): Promise<void> {
    await this.removeIfUnreferenced(hash, store, this.meta.sharedNow() - STALE_WRITE_MS).catch(() => undefined);
  }

  /** After a failed index of a pack: its object goes unless the index has it after all. Best effort, as {@link dropUnindexed}. */
  private async dropUnindexedPack(id: string, store: string | null): Promise<void> {
    try {
      if ((await this.meta.chunkIndex.indexedPacks([id])).has(id)) return;
      await this.backendOf(store).delete(ChunkStore.packKey(id));
    } catch {
      // Left for the sweep of unreferenced objects.
    }
  }

  /**
   * Deletes the loose object of `hash` in `store` unless a writer (on this node or, by
   * ChunkIndex.guard, another) is storing the chunk or the index points at that object;
   * whether it was deleted.
   */
  private async removeIfUnreferenced(hash: string, store: string | null, staleBefore: number): Promise<boolean> {
    return this.locks.run(hash, async () => {
      if (this.writers.has(hash)) return false;
      return this.meta.chunkIndex.guard(hash, staleBefore, async ({ location, writing }) => {
        if (writing) return false;
        if (location && location.pack === null && (location.store ?? null) === store) return false;
        await this.backendOf(store).delete(ChunkStore.chunkKey(hash));
        return true;
      });
    });
  }

  /**
   * Queues a durable pack for indexing (see {@link putPack}); how many of its chunks are new
   * to its owner by the index and the other deferred packs. Those are looked at before and
   * after the index, so a pack indexed meanwhile is seen in one of the three.
   */
  private async deferPack(pack: NewPack): Promise<number> {
    const owner = pack.owner;
    const hashes = pack.entries.map((e) => e.hash);
    const theirs = (): DeferredPack[] => [...this.deferredPacks, ...this.indexingPacks].filter((d) => d.pack.owner === owner);
    const before = owner === undefined ? [] : theirs();
    const owned = owner === undefined ? new Set<string>() : await this.meta.ownedChunks(owner, hashes);
    const others = owner === undefined ? [] : [...before, ...theirs()];
    this.deferredPacks.push({ pack, hashes: new Set(hashes) });
    if (this.deferredPacks.length >= PACKS_PER_TRANSACTION) void this.indexDeferredPacks();
    else this.deferredTimer ??= setTimeout(() => void this.indexDeferredPacks(), PACK_LINGER_MS).unref();
    return hashes.filter((h) => !owned.has(h) && !others.some((d) => d.hashes.has(h))).length;
  }

  /**
   * Hands every deferred pack to the pack index (grouped in as few transactions as
   * {@link PACKS_PER_TRANSACTION} allows) and resolves once every deferred pack is indexed
   * or failed. A pack that fails to index is deleted (see {@link indexPackNow}); its chunks
   * are missing to a commit, which says so, as it does for a deferred chunk whose publishing
   * failed.
   */
  private async indexDeferredPacks(): Promise<void> {
    clearTimeout(this.deferredTimer);
    this.deferredTimer = undefined;
    for (const d of this.deferredPacks.splice(0)) {
      this.indexingPacks.add(d);
      d.indexed = this.indexPackNow(d.pack)
        .then(
          () => undefined,
          () => undefined,
        )
        .finally(() => this.indexingPacks.delete(d));
    }
    await Promise.all([...this.indexingPacks].map((d) => d.indexed));
  }

  /**
   * Deletes, in the background, the loose object of `hash` in `store`, superseded by a copy
   * elsewhere; unless, by the time the lock is held, a writer is storing the chunk or the
   * index points at that object again. A reader still holding the old location reads again
   * at the new one (see {@link readVerified}). A failure leaves an unreferenced object behind,
   * nothing worse: it is reported, not thrown.
   */
  private retire(hash: string, store: string | null): void {
    const job = this.locks
      .run(hash, async () => {
        if (this.writers.has(hash)) return;
        await this.meta.chunkIndex.guard(hash, this.meta.sharedNow() - STALE_WRITE_MS, async ({ location, writing }) => {
          // Another node may be writing the chunk into that store again.
          if (writing) return;
          if (location && location.pack === null && (location.store ?? null) === store) return;
          await this.backendOf(store).delete(ChunkStore.chunkKey(hash));
        });
      })
      .catch((err: unknown) => this.events.retireFailed?.(hash, err))
      .finally(() => this.retiring.delete(job));
    this.retiring.add(job);
  }

  /**
   * Whether every chunk store answers (readiness): a stat of a key that is never written,
   * which a reachable store answers with FERRY_ERR_NOT_FOUND. Throws what the first store
   * that does not answer so reports.
   */
  async probe(signal?: AbortSignal): Promise<void> {
    await Promise.all(
      [this.backend, ...this.routes.map((r) => r.backend)].map(async (b) => {
        try {
          await b.stat('ferry-readiness-probe', { signal });
        } catch (err) {
          if (!isFerryError(err, 'FERRY_ERR_NOT_FOUND')) throw err;
        }
      }),
    );
  }

  /** Resolves once staged chunks are published and the background deletions of superseded copies started so far are done (tests, shutdown). */
  async settled(): Promise<void> {
    await this.flush();
    while (this.retiring.size > 0) await Promise.all([...this.retiring]);
  }

  /**
   * Like {@link read}, for a chunk about to serve as a delta base (its signature is asked
   * for, a delta against it will follow): the bytes are kept for a while in memory. The
   * caller must not change them.
   *
   * Decoded but not verified against the hash: a base's bytes reach nobody as they are, only
   * through a chunk rebuilt from them, which is verified against its own hash before it is
   * stored (deltaObject). A damaged base makes the delta fail (FERRY_ERR_HASH_MISMATCH, and
   * the client sends the chunk whole); {@link checkBases} then finds the damage and reports
   * it as a verified read would have. Workload 8b of the bench: the SHA-256 of 60 MB of bases
   * was a tenth of the server's CPU.
   */
  async readBase(hash: string, signal?: AbortSignal): Promise<Buffer> {
    const kept = this.keptBase(hash);
    if (kept !== undefined) return kept;
    await this.publishedIfStaged(hash);
    const loc = await this.meta.chunkLocation(hash);
    if (!loc) throw new NotFoundError(`chunk ${hash} is not stored`, { details: { hash } });
    const { data } = await this.readDecoded(loc, signal, undefined, true, false);
    if (data.length <= BASE_CACHE_BYTES / 4) {
      this.recentBases.set(hash, data);
      this.recentBaseBytes += data.length;
      clearTimeout(this.recentBasesTimer);
      this.recentBasesTimer = setTimeout(() => {
        this.recentBases.clear();
        this.recentBaseBytes = 0;
      }, BASE_KEEP_MS).unref();
      for (const [h, b] of this.recentBases) {
        if (this.recentBaseBytes <= BASE_CACHE_BYTES) break;
        this.recentBases.delete(h);
        this.recentBaseBytes -= b.length;
      }
    }
    return data;
  }

  /**
   * A delta's bases ({@link readBase} each; applied back to back, not copied together),
   * at most twice the largest chunk in all (MAX_DELTA_BASES): FERRY_ERR_VALIDATION beyond,
   * and the client sends the chunk itself.
   */
  private async readBases(hashes: readonly string[], signal?: AbortSignal): Promise<Buffer[]> {
    const parts: Buffer[] = [];
    let bytes = 0;
    for (const h of hashes) {
      const data = await this.readBase(h, signal);
      bytes += data.length;
      if (bytes > 2 * this.maxChunkSize) throw new ValidationError(`the bases of a delta may hold at most ${2 * this.maxChunkSize} bytes together`);
      parts.push(data);
    }
    return parts;
  }

  /**
   * After a delta built bytes that do not match its chunk: the bases it was applied to,
   * read unverified ({@link readBase}), are checked now. A damaged one is dropped from memory
   * and read again verified, which finds it corrupt (and handles it as any read does).
   */
  private async checkBases(hashes: readonly string[], bases: readonly Buffer[]): Promise<void> {
    for (let i = 0; i < bases.length; i++) {
      // Once per base kept in memory: a client whose deltas keep failing (its file changes
      // under it, or it sends wrong ones) costs no more hashing than verified reads did.
      if (this.checkedBases.has(bases[i])) continue;
      if (sha256Hex(bases[i]) === hashes[i]) {
        this.checkedBases.add(bases[i]);
        continue;
      }
      const kept = this.recentBases.get(hashes[i]);
      if (kept !== undefined) {
        this.recentBases.delete(hashes[i]);
        this.recentBaseBytes -= kept.length;
      }
      await this.read(hashes[i]).catch(() => undefined);
    }
  }

  /**
   * Lets go of the delta bases kept for deltas to come ({@link readBase}), of the buffer
   * deltas are rebuilt and frames decompressed in, now rather than {@link BASE_KEEP_MS}
   * after the last base, and of the free read buffers of {@link lend} (ChunkBuffers.dropFree): the
   * server's idle settle calls it before its collection (src/cli/commands/serve.ts,
   * settleAround). Kept, up to 36 MiB stayed held into whatever came next: in the bench's
   * order, workload 6's 200 uploads started on top of 8b's bases. A delta that comes after
   * the drop reads its base again.
   */
  dropKept(): void {
    clearTimeout(this.recentBasesTimer);
    this.recentBases.clear();
    this.recentBaseBytes = 0;
    dropPlainArea();
    this.buffers.dropFree();
  }

  /** Bytes of delta bases kept now ({@link readBase}, {@link dropKept}). */
  get keptBaseBytes(): number {
    return this.recentBaseBytes;
  }

  /** A base kept by {@link readBase} (made the most recent again), or undefined. */
  private keptBase(hash: string): Buffer | undefined {
    const kept = this.recentBases.get(hash);
    if (kept !== undefined) {
      this.recentBases.delete(hash);
      this.recentBases.set(hash, kept);
    }
    return kept;
  }

  /** The chunk's bytes, verified against its hash. FERRY_ERR_NOT_FOUND if not stored, FERRY_ERR_CHUNK_CORRUPT if damaged. */
  async read(hash: string, signal?: AbortSignal): Promise<Buffer> {
    await this.publishedIfStaged(hash);
    const loc = await this.meta.chunkLocation(hash);
    if (!loc) throw new NotFoundError(`chunk ${hash} is not stored`, { details: { hash } });
    return this.readVerified(loc, signal);
  }

  /** A chunk read right after a deferred put of it: its publishing is awaited (it is not indexed before). */
  private async publishedIfStaged(hash: string): Promise<void> {
    await this.flushChunks([hash]);
  }

  /**
   * Like {@link flush}, for the chunks of `hashes` only: a dedup answer (which chunks are
   * missing) counts those whose deferred PUT was answered, without waiting for other uploads'.
   */
  async flushChunks(hashes: Iterable<string>): Promise<void> {
    if (this.unsettled.size === 0 && this.deferredPacks.length === 0 && this.indexingPacks.size === 0) return;
    const wanted = hashes instanceof Set ? (hashes as Set<string>) : new Set(hashes);
    const packs = [...this.deferredPacks, ...this.indexingPacks];
    if (packs.length > 0 && [...wanted].some((h) => packs.some((d) => d.hashes.has(h)))) await this.indexDeferredPacks();
    const mine = [...this.unsettled].filter((e) => wanted.has(e.hash));
    if (mine.length === 0) return;
    this.wantSealed();
    await Promise.allSettled(mine.map((e) => e.published));
  }

  /**
   * Like {@link read}, but the bytes are in a buffer lent from the store's pool, for callers
   * that can tell when they are done with it (a response body written chunk by chunk, with a
   * callback per write): `release()` then gives it back, and until then nothing else reads
   * into it. A buffer never released is merely not reused.
   *
   * `verify: false` is for a reader that checks every byte against the chunk's hash itself
   * (the native client's ranged downloads): the store then only decodes, sparing a second
   * SHA-256 of every byte served. A damaged chunk fails at that reader, which asks again with
   * verification on; the store then finds it corrupt and handles it as always.
   */
  async lend(hash: string, signal?: AbortSignal, options: { verify?: boolean } = {}): Promise<LentChunk> {
    await this.publishedIfStaged(hash);
    const loc = await this.meta.chunkLocation(hash);
    if (!loc) throw new NotFoundError(`chunk ${hash} is not stored`, { details: { hash } });
    const verify = options.verify ?? true;
    const buf = this.buffers.acquire(maxObjectBytes(loc.size));
    if (!buf) return { ...(await this.readDecoded(loc, signal, undefined, true, verify)), release: () => {} };
    let got: { data: Buffer; zstd?: Buffer };
    try {
      got = await this.readDecoded(loc, signal, buf, true, verify);
    } catch (err) {
      this.buffers.release(buf);
      throw err;
    }
    if (got.data.buffer !== buf.buffer && got.zstd?.buffer !== buf.buffer) {
      // the backend read into a buffer of its own
      this.buffers.release(buf);
      return { ...got, release: () => {} };
    }
    let released = false;
    return {
      ...got,
      release: () => {
        if (released) return;
        released = true;
        this.buffers.release(buf);
      },
    };
  }

  /**
   * The verified bytes of the chunk at `loc` (read into `into` when the backend can: see
   * RangeReadOptions). The index may have moved the chunk since `loc` was read (a newer copy
   * was stored and the old one deleted): a copy missing, short or damaged at `loc` is looked
   * up again and read where it is now. Only a chunk still indexed where it fails counts as
   * corrupt (FERRY_ERR_CHUNK_CORRUPT).
   */
  private async readVerified(loc: ChunkLocation, signal?: AbortSignal, into?: Buffer): Promise<Buffer> {
    return (await this.readDecoded(loc, signal, into)).data;
  }

  /** {@link readVerified}, also giving the stored zstd frame of a chunk stored compressed. */
  private async readDecoded(loc: ChunkLocation, signal?: AbortSignal, into?: Buffer, again = true, verify = true): Promise<{ data: Buffer; zstd?: Buffer }> {
    try {
      return await this.readOnce(loc, signal, into, verify);
    } catch (err) {
      // An encrypted store's damage keeps its own code (FERRY_ERR_CRYPTO_*) and is repaired the same way.
      if (!(err instanceof ChunkCorruptError) && !isCryptoDamage(err)) throw err;
      const now = await this.meta.chunkLocation(loc.hash);
      if (again && now && !sameLocation(now, loc)) return this.readDecoded(now, signal, into, false, verify);
      // Known bad: nobody holds this chunk any more as far as dedup is concerned, so the
      // next upload of a file that contains it sends its bytes again, which replace the
      // damaged copy (see put). Files that contain it fail to read until then.
      await this.meta.disownChunk(loc.hash);
      this.events.corrupt?.(loc.hash, String(err.details?.key ?? ChunkStore.chunkKey(loc.hash)));
      throw err;
    }
  }

  /**
   * One read of the chunk at `loc`, decoded and verified: FERRY_ERR_CHUNK_CORRUPT when its
   * object is missing, short or damaged there. A loose object is read whole whatever the
   * index says its length is (up to header plus raw bytes, the most it can be): a writer may
   * have just replaced it with a copy encoded otherwise (a client that compresses after one
   * that does not), and the object says itself how it is encoded.
   */
  private async readOnce(loc: ChunkLocation, signal?: AbortSignal, into?: Buffer, verify = true): Promise<{ data: Buffer; zstd?: Buffer }> {
    const key = loc.pack ? ChunkStore.packKey(loc.pack) : ChunkStore.chunkKey(loc.hash);
    let obj: Buffer;
    try {
      obj = loc.pack
        ? await readExactly(this.backendOf(loc.store), key, loc.offset ?? 0, loc.stored ?? loc.size, signal, into)
        : await readUpTo(this.backendOf(loc.store), key, maxObjectBytes(loc.size), signal, into);
    } catch (err) {
      if (err instanceof NotFoundError || err instanceof SizeMismatchError) {
        throw new ChunkCorruptError(`chunk ${loc.hash} is indexed but its object ${key} is missing or short`, { cause: err, details: { hash: loc.hash, key } });
      }
      throw err;
    }
    const got = await decodeVerified(obj, loc, true, verify);
    if (!got) throw new ChunkCorruptError(`chunk ${loc.hash} failed verification`, { details: { hash: loc.hash, key } });
    this.events.served?.(loc.size);
    return got;
  }

  /**
   * The bytes of many chunks, each verified, in the order of `locations`. Chunks that lie
   * close together in one pack (small files uploaded together sit side by side) are read
   * with one ranged read per run instead of one open-read-close each: for a batch of small
   * files that is most of the cost, on local disk as on S3. Fails like {@link read} on
   * the first chunk that is missing or damaged.
   */
  async readMany(locations: readonly ChunkLocation[], signal?: AbortSignal): Promise<Buffer[]> {
    const out = new Array<Buffer>(locations.length);
    const jobs: Array<() => Promise<void>> = [];
    const byPack = new Map<string, number[]>();
    locations.forEach((loc, i) => {
      if (!loc.pack) {
        jobs.push(async () => void (out[i] = await this.readVerified(loc, signal)));
        return;
      }
      const list = byPack.get(loc.pack);
      if (list) list.push(i);
      else byPack.set(loc.pack, [i]);
    });
    for (const idxs of byPack.values()) {
      idxs.sort((a, b) => (locations[a].offset ?? 0) - (locations[b].offset ?? 0));
      let run: number[] = [];
      const flush = () => {
        if (run.length === 0) return;
        const members = run;
        run = [];
        jobs.push(() => this.readRun(locations, members, out, signal));
      };
      for (const i of idxs) {
        if (run.length > 0) {
          const last = locations[run[run.length - 1]];
          const start = locations[run[0]].offset ?? 0;
          const end = (locations[i].offset ?? 0) + locations[i].size;
          if ((locations[i].offset ?? 0) - ((last.offset ?? 0) + last.size) > RUN_GAP_BYTES || end - start > RUN_MAX_BYTES) flush();
        }
        run.push(i);
      }
      flush();
    }
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < jobs.length) await jobs[next++]();
    };
    await Promise.all(Array.from({ length: Math.min(MANY_READS, jobs.length) }, worker));
    return out;
  }

  /** One ranged read of a pack covering `members` (indexes into `locations`), then each chunk sliced and verified. */
  private async readRun(locations: readonly ChunkLocation[], members: number[], out: Buffer[], signal?: AbortSignal): Promise<void> {
    const first = locations[members[0]];
    if (members.length === 1) {
      out[members[0]] = await this.readVerified(first, signal);
      return;
    }
    const key = ChunkStore.packKey(first.pack!);
    const start = first.offset ?? 0;
    const last = locations[members[members.length - 1]];
    let buf: Buffer;
    try {
      buf = await readExactly(this.backendOf(first.store), key, start, (last.offset ?? 0) + (last.stored ?? last.size) - start, signal);
    } catch (err) {
      if (err instanceof NotFoundError || err instanceof SizeMismatchError) {
        // Which chunk is short (or moved) is for the one-by-one path to say.
        for (const i of members) out[i] = await this.readVerified(locations[i], signal);
        return;
      }
      throw err;
    }
    for (const i of members) {
      const loc = locations[i];
      const from = (loc.offset ?? 0) - start;
      const got = await decodeVerified(buf.subarray(from, from + (loc.stored ?? loc.size)), loc, false);
      if (!got) {
        // Read it alone: that confirms the damage (or finds the chunk moved) and reports it.
        out[i] = await this.readVerified(loc, signal);
        continue;
      }
      this.events.served?.(loc.size);
      out[i] = got.data;
    }
  }

  /**
   * Removes what interrupted chunk and pack writes left in each store (temporary objects of
   * the backends that have them, LeftoverSweeper), if last modified before `cutoff(store)`
   * (`store` null for the default store).
   */
  async sweepLeftovers(cutoff: (store: string | null) => number, signal?: AbortSignal): Promise<SweptLeftovers> {
    const total: SweptLeftovers = { count: 0, bytes: 0 };
    for (const [store, backend] of [[null, this.backend] as const, ...this.routes.map((r) => [r.prefix, r.backend] as const)]) {
      if (!canSweepLeftovers(backend)) continue;
      const swept = await backend.sweepLeftovers(cutoff(store), { signal });
      total.count += swept.count;
      total.bytes += swept.bytes;
    }
    return total;
  }

  /**
   * Chunk and pack objects the index does not point at, in every store: a loose chunk with
   * no row (or whose row points at a copy elsewhere), a pack with no row. A write whose
   * indexing failed and could not clean up after itself (the server killed between the
   * two, the database unreachable) leaves them; nothing reads them, and garbage collection
   * of rows never sees them. Only objects last modified more than `ageMs` ago count, by
   * `options.storeNow(store)` (`store` null for the default store): the clock the store's
   * object times agree with, which for a store several nodes write is the shared one (the
   * database's), not this node's. A write in progress stores its object before its row
   * exists, and a pack's has nothing else to keep it from another node's sweep: a node whose
   * clock ran ahead by more than the grace time deleted it (2 h ahead with the 1 h grace,
   * test/deploy/cluster-clocks.test.ts). With `remove`, each goes under the rules of
   * {@link collectGarbage} (a loose chunk only under its lock, with no writer on any node and
   * no row pointing at it; a pack only if this node is not writing it and it still has no
   * row). An object whose backend reports no modification time is left alone, and so is one
   * younger than the store's `unreferencedMinAgeMs` (default {@link UNREFERENCED_MIN_AGE_MS})
   * whatever `ageMs` says.
   */
  async sweepUnreferenced(ageMs: number, options: { remove: boolean; storeNow: (store: string | null) => number; signal?: AbortSignal }): Promise<UnreferencedObjects> {
    ageMs = Math.max(ageMs, this.unreferencedMinAgeMs);
    const total: UnreferencedObjects = { chunks: 0, packs: 0, bytes: 0 };
    for (const [store, backend] of [[null, this.backend] as const, ...this.routes.map((r) => [r.prefix, r.backend] as const)]) {
      for (const kind of ['chunks', 'packs'] as const) {
        let page: DirEntry[] = [];
        const settle = async (): Promise<void> => {
          const found = await this.unreferencedOf(kind, store, backend, page, { before: options.storeNow(store) - ageMs, ms: ageMs }, options);
          total[kind] += found.count;
          total.bytes += found.bytes;
          page = [];
        };
        for await (const e of backend.list(kind, { recursive: true, signal: options.signal })) {
          if (e.type !== 'file') continue;
          page.push(e);
          if (page.length >= SWEEP_PAGE) await settle();
        }
        await settle();
      }
    }
    return total;
  }

  /** Of one page of listed `kind` objects of a store, those unreferenced and last modified before `age.before` (removed with `remove`). */
  private async unreferencedOf(kind: 'chunks' | 'packs', store: string | null, backend: StorageBackend, page: readonly DirEntry[], age: { before: number; ms: number }, options: { remove: boolean; signal?: AbortSignal }): Promise<SweptLeftovers> {
    const named = new Map<string, DirEntry>();
    for (const e of page) {
      const name = e.key.slice(e.key.lastIndexOf('/') + 1);
      if ((kind === 'chunks' ? /^[0-9a-f]{64}$/ : /^[0-9a-f]{32}$/).test(name)) named.set(name, e);
    }
    if (named.size === 0) return { count: 0, bytes: 0 };
    let orphans: string[];
    if (kind === 'chunks') {
      const where = await this.meta.chunkIndex.chunkLocations([...named.keys()]);
      orphans = [...named.keys()].filter((h) => {
        const loc = where.get(h);
        return !loc || loc.pack !== null || (loc.store ?? null) !== store;
      });
    } else {
      const indexed = await this.meta.chunkIndex.indexedPacks([...named.keys()]);
      orphans = [...named.keys()].filter((id) => !indexed.has(id) && !this.packsWriting.has(id));
    }
    const found: SweptLeftovers = { count: 0, bytes: 0 };
    for (const name of orphans) {
      options.signal?.throwIfAborted();
      const e = named.get(name)!;
      const mtime = e.mtime ?? (await backend.stat(e.key).then((i) => i.mtime, () => undefined));
      if (mtime === undefined || mtime >= age.before) continue;
      if (options.remove) {
        // Object times are the store's; writes in progress are registered on the shared clock.
        const staleBefore = this.meta.sharedNow() - age.ms;
        const removed = kind === 'chunks' ? await this.removeIfUnreferenced(name, store, staleBefore) : await this.removePackIfUnindexed(name, store, staleBefore);
        if (!removed) continue;
      }
      found.count++;
      found.bytes += e.size ?? 0;
    }
    return found;
  }

  /**
   * Deletes a pack object the index does not record and no node is writing (a registration
   * since `staleBefore` on another: ChunkIndex.guard, under the pack's lock); whether it did.
   */
  private async removePackIfUnindexed(id: string, store: string | null, staleBefore: number): Promise<boolean> {
    if (this.packsWriting.has(id)) return false;
    return this.meta.chunkIndex.guard(id, staleBefore, async ({ writing }) => {
      if (writing || (await this.meta.chunkIndex.indexedPacks([id])).has(id)) return false;
      await this.backendOf(store).delete(ChunkStore.packKey(id));
      return true;
    });
  }

  /** Whether the object of `pack` is in its store (asked when its write's registration had lapsed: ChunkIndex.addPacks). */
  private async packStored(pack: NewPack): Promise<boolean> {
    return this.backendOf(pack.store).stat(ChunkStore.packKey(pack.id)).then(
      () => true,
      () => false,
    );
  }

  /**
   * Deletes chunks and packs nothing references any more and that are older than `graceMs`.
   * Returns how many objects were deleted.
   */
  async collectGarbage(graceMs: number, now = this.meta.sharedNow()): Promise<{ chunks: number; packs: number }> {
    let chunks = 0;
    let packs = 0;
    for (;;) {
      const victims = await this.meta.collectGarbage(now - graceMs, 1000);
      for (const hash of victims.chunks) {
        await this.locks.run(hash, async () => {
          // A writer (on this node or another) may be storing the chunk again, or have stored
          // it since its row was removed: keep the object then.
          if (this.writers.has(hash)) return;
          await this.meta.chunkIndex.guard(hash, now - graceMs, async ({ location, writing }) => {
            if (location || writing) return;
            await this.backendOf(victims.stores?.[hash]).delete(ChunkStore.chunkKey(hash));
            chunks++;
          });
        });
      }
      for (const id of victims.packs) {
        await this.backendOf(victims.stores?.[id]).delete(ChunkStore.packKey(id));
        packs++;
      }
      if (victims.chunks.length + victims.packs.length === 0) break;
    }
    return { chunks, packs };
  }
}

/** What {@link ChunkStore.sweepUnreferenced} found (or removed): objects of each kind and their bytes. */
export interface UnreferencedObjects {
  chunks: number;
  packs: number;
  bytes: number;
}

/**
 * The youngest object {@link ChunkStore.sweepUnreferenced} takes for unreferenced by default
 * (the server's `gcMinAge`), whatever the grace time (`ferry admin gc --grace 0s`): another
 * node sharing the store may be between writing a pack and indexing it, which this node
 * cannot see (its own writes it knows).
 */
const UNREFERENCED_MIN_AGE_MS = 60_000;

/** Listed objects looked up in the index at a time by {@link ChunkStore.sweepUnreferenced}. */
const SWEEP_PAGE = 500;

/** A chunk object ready to be written: its bytes as a stream and their number. */
interface ObjectBody {
  body: Readable;
  bytes: number;
  /** Gives back memory taken for the object (ChunkPutOptions.gather) once it is written. */
  release?: () => void;
}

/** Options of {@link ChunkStore.put}. */
export interface ChunkPutOptions {
  /** The user who sent the chunk: the answer says whether it is new to them. */
  owner?: string;
  /** The file the chunk belongs to: chooses the store (--store routes). */
  path?: string;
  /** How the body travelled: a zstd frame, or a delta against the chunks `bases` (their bytes back to back). */
  encoding?: 'zstd' | 'delta';
  bases?: readonly string[];
  /** Answer once the chunk is staged; {@link ChunkStore.flush} waits for it to be durable. */
  defer?: boolean;
  /** Called once the body's bytes are written (staged or stored), before any wait for the disk. */
  written?: () => void;
  /**
   * Asked for `bytes` of memory before a streamed raw chunk whose start compresses is
   * gathered whole to be compressed; undefined (no room now) stores it raw instead, still
   * streaming. The result is called once the chunk is written. Without it, such chunks are
   * always gathered (callers whose bodies are bounded otherwise).
   */
  gather?: (bytes: number) => (() => void) | undefined;
}

/** Bytes of a chunk's start that decide, for a big chunk, whether to try compressing it. */
const DECIDE_BYTES = 64 * 1024;

/**
 * The object for a chunk arriving raw (through a VerifyingStream, which fails it at the end
 * on a bad hash or size). Chunks whose first bytes compress are gathered whole and
 * compressed; others stream through with a raw header, never held whole in memory, as
 * chunks did before compression (a server taking hundreds of random-data chunks at once
 * holds only socket buffers). With `gather`, a compressible chunk is gathered only when
 * `gather` gives the memory for it, else it streams raw too.
 */
async function plainObject(verified: Readable, size: number, gather?: ChunkPutOptions['gather']): Promise<ObjectBody> {
  const it = verified[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const head: Buffer[] = [];
  let have = 0;
  const decideAt = Math.min(size, DECIDE_BYTES);
  let ended = false;
  while (have < decideAt) {
    const r = await it.next();
    if (r.done) {
      ended = true;
      break;
    }
    head.push(r.value);
    have += r.value.length;
  }
  let release: (() => void) | undefined;
  if (ended || (sampleCompresses(head.length === 1 ? head[0] : Buffer.concat(head)) && (!gather || (release = gather(2 * size)) !== undefined))) {
    // Gather the rest (the end also runs the hash check), then compress in one call: the
    // chunk and its compressed copy, 2 × size of memory (asked of `gather` above).
    try {
      while (!ended) {
        const r = await it.next();
        if (r.done) break;
        head.push(r.value);
      }
      const parts = encodeChunkObject(head.length === 1 ? head[0] : Buffer.concat(head, size));
      return { body: Readable.from(parts, { objectMode: false }), bytes: parts[0].length + parts[1].length, ...(release ? { release } : {}) };
    } catch (err) {
      release?.();
      throw err;
    }
  }
  async function* raw(): AsyncGenerator<Buffer> {
    try {
      yield chunkHeader(ChunkCodec.Raw, size);
      // Handed on and forgotten: kept in `head`, the chunk's first reads stayed in memory
      // until its last byte was written.
      for (const piece of head.splice(0)) yield piece;
      for (;;) {
        const r = await it.next();
        if (r.done) return;
        yield r.value;
      }
    } finally {
      await it.return?.();
    }
  }
  return { body: Readable.from(raw(), { objectMode: false }), bytes: size + CHUNK_HEADER_BYTES };
}

/**
 * The object for a chunk whose raw bytes arrived whole in one buffer (the chunk PUT reads a
 * body of known length into one: ../server/routes/uploads.ts): hashed in one call, then
 * compressed when a sample says it pays, else written as it is behind a raw header.
 */
function wholeObject(hash: string, size: number, data: Buffer): ObjectBody {
  if (data.length !== size) throw new SizeMismatchError(`chunk ${hash.slice(0, 12)}…: ${data.length} bytes arrived, ${size} announced`);
  const actual = createHash('sha256').update(data).digest('hex');
  if (actual !== hash) throw new HashMismatchError(`chunk bytes hash to ${actual}, not ${hash}`, { details: { expected: hash, actual } });
  const parts = sampleCompresses(data.subarray(0, DECIDE_BYTES)) ? encodeChunkObject(data) : [chunkHeader(ChunkCodec.Raw, size), data];
  return { body: Readable.from(parts, { objectMode: false }), bytes: parts[0].length + parts[1].length };
}

function toStream(body: Readable | Buffer): Readable {
  return Buffer.isBuffer(body) ? Readable.from([body], { objectMode: false }) : body;
}

/**
 * The object for a chunk that arrived as a zstd frame (Content-Encoding: zstd): the frame
 * is read whole (it is smaller than the chunk: a frame that is not is refused, the client
 * should have sent the bytes raw), decompressed into a buffer of exactly the chunk's size
 * (a frame stating or producing more fails, so no decompression bomb) and verified; then
 * kept as it came.
 */
async function encodedObject(hash: string, size: number, body: Readable): Promise<ObjectBody> {
  const frame = await readAtMost(body, size, () => new ValidationError(`a compressed chunk must be smaller than the chunk (${size} bytes); send it raw`));
  let plain: Buffer;
  try {
    // Into the shared area: the plain bytes are only hashed (the frame is what is kept).
    plain = decompressChunk(frame, size, plainArea(size));
  } catch (err) {
    throw new EncodingInvalidError(`chunk ${hash.slice(0, 12)}…: ${(err as Error).message}`, { cause: err, details: { hash } });
  }
  const actual = createHash('sha256').update(plain).digest('hex');
  if (actual !== hash) throw new HashMismatchError(`chunk bytes hash to ${actual}, not ${hash}`, { details: { expected: hash, actual } });
  const parts = encodeChunkObject(plain, frame);
  // Kept raw (a frame as long as the chunk saves nothing): copied out of the shared area.
  if (parts[1].buffer === plain.buffer) parts[1] = Buffer.from(plain);
  return { body: Readable.from(parts, { objectMode: false }), bytes: parts[0].length + parts[1].length };
}

/**
 * The object for a chunk that arrived as a delta against `base` (../algo/chunk-delta.ts; its bytes back to back):
 * the delta is read whole (at most the chunk's size plus room for its ops), applied within
 * the bounds of the base and of `size`, and the result verified like any chunk.
 */
async function deltaObject(hash: string, size: number, body: Readable, base: readonly Buffer[]): Promise<ObjectBody> {
  const delta = await readAtMost(body, size + DELTA_SLACK, () => new PayloadTooLargeError(`a delta for a chunk of ${size} bytes may hold at most ${size + DELTA_SLACK}`));
  let plain: Buffer;
  try {
    plain = applyDelta(base, delta, size, plainArea(size));
  } catch (err) {
    if (!(err instanceof DeltaFormatError)) throw err;
    throw new EncodingInvalidError(`chunk ${hash.slice(0, 12)}…: ${err.message}`, { cause: err, details: { hash } });
  }
  const actual = createHash('sha256').update(plain).digest('hex');
  if (actual !== hash) throw new HashMismatchError(`the delta builds bytes that hash to ${actual}, not ${hash}`, { details: { expected: hash, actual } });
  const parts = encodeChunkObject(plain);
  // Kept raw (it did not compress): the object is the rebuilt bytes, copied out of the shared area.
  if (parts[1].buffer === plain.buffer) parts[1] = Buffer.from(plain);
  return { body: Readable.from(parts, { objectMode: false }), bytes: parts[0].length + parts[1].length };
}

let area: Buffer | undefined;
let areaTimer: NodeJS.Timeout | undefined;
/** Times {@link plainArea} allocated its buffer, for tests. */
let areaAllocations = 0;

/**
 * Where the server makes a chunk's plain bytes from what arrived: {@link deltaObject}
 * rebuilds chunks here and {@link encodedObject} decompresses the client's frames here to
 * verify them. One buffer for the whole process, reused while chunks come and dropped
 * {@link BASE_KEEP_MS} after the last. A new buffer per chunk paid for its fresh pages and
 * their collection: 20 ms of CPU for the 60 MB that workload 8b rebuilds, 4 ms reused; for
 * the 256 MiB of workload 7's frames, ~0.2 s of allocation and ~0.3 s of collection on the
 * server's one thread in a profile (benchmarks/results/issue-15-speed.md, branch speed8).
 * Shared safely because nothing awaits between making the bytes and encodeChunkObject,
 * after which they are compressed into their own buffer, dropped (a frame kept as it came)
 * or copied out.
 */
function plainArea(size: number): Buffer {
  if (!area || area.length < size) {
    area = Buffer.allocUnsafeSlow(size);
    areaAllocations++;
  }
  clearTimeout(areaTimer);
  areaTimer = setTimeout(() => (area = undefined), BASE_KEEP_MS).unref();
  return area;
}

/** Lets go of the plain area ({@link plainArea}); the next chunk that needs it allocates it again. */
function dropPlainArea(): void {
  clearTimeout(areaTimer);
  area = undefined;
}

/** How many times the shared area of plain chunk bytes was allocated so far (tests: chunks after the first reuse it). */
export function plainAreaAllocations(): number {
  return areaAllocations;
}

/** Memory for delta bases kept between a signature and the delta that follows (ChunkStore.readBase): 8 parallel uploads of 4 MiB chunks. */
const BASE_CACHE_BYTES = 32 * 1024 * 1024;
/** How long delta bases stay kept after the last one was read. */
const BASE_KEEP_MS = 30_000;

/** Room for a delta's ops beyond the chunk's own bytes (a delta bigger than the chunk is pointless, but its ops cost a little). */
const DELTA_SLACK = 64 * 1024;

/** A pack body sent as one zstd frame, decompressed (at most `maxBytes`, the pack limit, whatever the frame says). */
async function decodedPack(body: Readable, maxBytes: number): Promise<Buffer> {
  const frame = await readAtMost(body, maxBytes, () => new PayloadTooLargeError(`a pack may hold at most ${maxBytes} bytes`));
  const size = zstdContentSize(frame);
  if (size === undefined) throw new EncodingInvalidError('a compressed pack must be one zstd frame that states its size');
  if (size > maxBytes) throw new PayloadTooLargeError(`a pack may hold at most ${maxBytes} bytes, this one ${size}`);
  try {
    return decompressChunk(frame, size);
  } catch (err) {
    throw new EncodingInvalidError(`the compressed pack: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * A body read whole into one buffer; more than `limit` bytes rejects with `tooMuch()`. The
 * rest of a refused body is read and dropped, not destroyed: the HTTP layer still answers
 * the request that carried it (as pipeInto).
 */
function readAtMost(body: Readable, limit: number, tooMuch: () => Error): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let n = 0;
    let failed = false;
    body.on('data', (piece: Buffer) => {
      if (failed) return;
      n += piece.length;
      if (n > limit) {
        failed = true;
        parts.length = 0;
        reject(tooMuch());
        return;
      }
      parts.push(piece);
    });
    body.once('end', () => {
      if (!failed) resolve(parts.length === 1 ? parts[0] : Buffer.concat(parts, n));
    });
    body.once('error', (err) => {
      if (failed) return;
      failed = true;
      reject(err);
    });
    body.once('close', () => {
      if (failed || body.readableEnded) return;
      failed = true;
      reject(new AbortedError('the body ended before it was complete'));
    });
  });
}

/**
 * `source.pipe(through)`, with source errors forwarded. The backend write consuming
 * `through` reports its errors; the extra listener keeps a late second 'error' (after the
 * consumer stopped listening) from crashing the process. The source is not destroyed on
 * failure: the HTTP layer still answers the request that carried it.
 */
function pipeInto<T extends Transform>(source: Readable, through: T): T {
  source.once('error', (err) => through.destroy(err));
  through.on('error', () => undefined);
  source.pipe(through);
  return through;
}

/**
 * The plain bytes of a chunk object read at `loc`, verified against its hash (and the
 * stored zstd frame when it is one); undefined when they do not verify. An object written
 * before the format that happens to begin like a header fails as a framed object and is
 * then checked as the plain bytes it is. `workers`: hash big buffers in the hash workers
 * (the pooled buffers are shared memory they read in place).
 */
async function decodeVerified(obj: Buffer, loc: ChunkLocation, workers = true, verify = true): Promise<{ data: Buffer; zstd?: Buffer } | undefined> {
  // Without `verify` (the reader verifies the bytes itself: see ChunkStore.lend), the hash is
  // taken as matching; decoding still fails on damage it sees.
  const digest = (b: Buffer): Promise<string> | string => (!verify ? loc.hash : workers ? sha256Workers.digest(b) : createHash('sha256').update(b).digest('hex'));
  const h = parseChunkHeader(obj);
  let data: Buffer | undefined;
  try {
    data = decodeChunkObject(obj, loc.size);
  } catch (err) {
    if (!(err instanceof ChunkCorruptError)) throw err;
  }
  if (data && (await digest(data)) === loc.hash) return h?.codec === ChunkCodec.Zstd ? { data, zstd: obj.subarray(h.headerBytes) } : { data };
  if (h && obj.length === loc.size && (await digest(obj)) === loc.hash) return { data: obj };
  return undefined;
}

function sameLocation(a: ChunkLocation, b: ChunkLocation): boolean {
  return a.pack === b.pack && (a.offset ?? null) === (b.offset ?? null) && (a.store ?? null) === (b.store ?? null);
}

/** Reads an object from its start, `max` bytes at most (a shorter object is read whole). */
async function readUpTo(backend: StorageBackend, key: string, max: number, signal?: AbortSignal, into?: Buffer): Promise<Buffer> {
  if (canReadRange(backend)) return backend.readRange(key, 0, max, { signal, into });
  return collectRange(backend, key, 0, max, signal);
}

/** Reads exactly `length` bytes at `offset` of an object into one buffer. */
async function readExactly(backend: StorageBackend, key: string, offset: number, length: number, signal?: AbortSignal, into?: Buffer): Promise<Buffer> {
  let buf: Buffer;
  if (canReadRange(backend)) {
    buf = await backend.readRange(key, offset, length, { signal, into });
  } else {
    buf = await collectRange(backend, key, offset, length, signal);
  }
  if (buf.length !== length) throw new SizeMismatchError(`${key}: expected ${length} bytes at ${offset}, got ${buf.length}`);
  return buf;
}
