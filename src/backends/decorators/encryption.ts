/**
 * Encryption at rest: a backend decorator that stores every object encrypted and
 * authenticated, under an encrypted name, in the backend it wraps (the format is in
 * `encryption-format.ts`, the keys in `key-ring.ts`).
 *
 * What the wrapped backend sees: names that are base32 of a deterministic encryption of each
 * path segment (so a bucket listing no longer shows content hashes), bodies that are a header
 * and AES-256-GCM segments, and the plain-named key ring under `ferry-keyring/`. What callers
 * see: a StorageBackend like any other (it passes the conformance suite), whose reads either
 * return the very bytes written or fail with a FERRY_ERR_CRYPTO_* code: TAMPERED (a changed
 * byte), TRUNCATED (an object cut short), SWAPPED (an authentic object under another object's
 * name), KEY_WRONG (an object of a data key the ring does not hold). Never other bytes.
 *
 * Abilities: server-side copy and move are not offered (an object is bound to its name, so a
 * copy must be re-encrypted: callers' fallbacks read and write); stored hashes are not
 * reported (the backend's hashes are of the ciphertext); ranges are (a range read decrypts
 * only the 64 KiB segments it covers), grouped durability is (StagedWriter, when the wrapped
 * backend stages: an object is sealed as it is staged, and publishing is the wrapped backend's),
 * and directories, mtimes and leftover sweeping are the wrapped backend's.
 *
 * Migration: on a store that held plain objects when its key ring was made, reads fall back
 * to the plain object while no encrypted one exists, listings show both (once each), writes
 * and deletes remove the plain copy; {@link migrateToEncrypted} rewrites the plain objects in
 * the background and then drops the fallback.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import {
  ConfigError,
  CryptoTamperedError,
  CryptoTruncatedError,
  RangeNotSatisfiableError,
  isCryptoDamage,
  SizeMismatchError,
  isFerryError,
  throwIfAborted,
  InternalError,
  ValidationError,
} from '../../core/errors.js';
import { normalizeKey } from '../../core/path.js';
import {
  canReadRange,
  canSetMtime,
  canSweepLeftovers,
  canCheckDirectories,
  canStage,
  hasDirectories,
  type BackendFeatures,
  type DirEntry,
  type ListOptions,
  type ObjectInfo,
  type OpOptions,
  type RangeReader,
  type RangeReadOptions,
  type ReadOptions,
  type StorageBackend,
  type StagedObject,
  type StagedWriter,
  type SweptLeftovers,
  type WriteBody,
  type WriteOptions,
} from '../../core/storage.js';
import {
  HEADER_BYTES,
  SEALED_SEGMENT_BYTES,
  SEGMENT_BYTES,
  buildHeader,
  newSalt,
  objectKeys,
  openSegment,
  openSegmentInto,
  parseHeader,
  plainSizeOf,
  sealSegment,
  sealSegmentsInto,
  TAG_BYTES,
  sealedSize,
  verifyHeader,
  type ObjectHeader,
} from './encryption-format.js';
import { MIGRATING_KEY, RING_DIR, type KeyRing } from './key-ring.js';
import type { SegmentCipher } from './segment-cipher.js';

/** Stored names kept in memory (about 200 bytes each). */
const STORED_NAMES_CACHED = 8192;

/** Sealed pieces at least this big are sealed into reused buffers (Sealer.outputBuffer). */
const POOLED_OUTPUT_BYTES = 256 * 1024;

/**
 * Encrypts plain bytes, given piece by piece, into header + segments, handing each piece's
 * sealed bytes to `output`; fails as soon as more than `expected` bytes arrive. Not a stream:
 * {@link sealedPieces} pulls the plain pieces and the wrapped backend pulls the sealed ones, with
 * nothing between them (a Transform's buffering joined its pieces again: one more copy of every
 * byte, measured).
 */
class Sealer {
  /** The segment being filled, without a known size (made on first use: a sized write needs none). */
  private segmentBuffer?: Buffer;
  private fill = 0;
  private index = 0;
  private headerSent = false;
  /** Output buffers taken from `pool`, by the piece handed out: given back by {@link recycle}. */
  private readonly lent = new Map<Buffer, Buffer>();
  seen = 0;

  constructor(
    private readonly key: SegmentCipher,
    private readonly header: Buffer,
    private readonly expected: number | undefined,
    private readonly output: (b: Buffer) => void,
    private readonly pool?: ScratchBuffers,
  ) {}

  /**
   * An output buffer of `n` bytes, from the pool when there is one: a fresh buffer per piece
   * lives until the wrapped backend has written it, which is long enough to be promoted, and
   * V8 counts promoted Buffers against the old generation's limit (sealing made a
   * mark-compact every ~20 MB uploaded, measured).
   */
  private outputBuffer(n: number): Buffer {
    // Only for pieces as big as a chunk: the pool's buffers are whole MiB, and a body streamed
    // in socket-sized pieces (64 KiB) taking one each would hold 16 times its bytes.
    const backing = n >= POOLED_OUTPUT_BYTES ? this.pool?.acquire(n) : undefined;
    if (!backing) return Buffer.allocUnsafe(n);
    const out = backing.subarray(0, n);
    this.lent.set(out, backing);
    return out;
  }

  /** `piece` (handed out by this sealer) is written: its buffer may serve again. */
  recycle(piece: Uint8Array): void {
    const backing = this.lent.get(piece as Buffer);
    if (!backing) return;
    this.lent.delete(piece as Buffer);
    this.pool!.release(backing);
  }

  private get segment(): Buffer {
    return (this.segmentBuffer ??= Buffer.allocUnsafe(SEGMENT_BYTES));
  }

  private sendHeader(): void {
    if (this.headerSent) return;
    this.headerSent = true;
    this.output(this.header);
  }

  /** Seals what it can of `chunk`; throws on an overrun. */
  feed(chunk: Uint8Array): void {
    this.seen += chunk.length;
    if (this.expected !== undefined && this.seen > this.expected) throw new SizeMismatchError(`more than the announced ${this.expected} bytes`);
    if (this.expected !== undefined) {
      this.feedKnown(chunk, this.expected);
      return;
    }
    this.sendHeader();
    let at = 0;
    while (at < chunk.length) {
      // A full segment is sealed only once more bytes come: until then it may be the last.
      if (this.fill === SEGMENT_BYTES) {
        this.output(sealSegment(this.key, this.header, this.index++, false, this.segment));
        this.fill = 0;
      }
      const n = Math.min(SEGMENT_BYTES - this.fill, chunk.length - at);
      this.segment.set(chunk.subarray(at, at + n), this.fill);
      this.fill += n;
      at += n;
    }
  }

  /**
   * With the size known, which segment is the last is known from the start: each segment's
   * cipher is fed the input's pieces as they come (no copy into a segment buffer first), and
   * what a piece seals goes out as one buffer (ciphertexts and tags). One copy per byte: the
   * cipher's output into that buffer.
   *
   * The header goes out on its own, before: the wrapped backend then writes the object's
   * first bytes in a small write and its bulk in a big one after them, as a plain chunk
   * object is written (its 16-byte header, then its bytes). Sealed with the header in front,
   * a chunk was one write of all its bytes at offset 0, and the kernel's copy of those bytes
   * into the page cache took 3-4 times as long (`perf` on the server, 256 MiB uploads, 2026-12-04:
   * `copy_folio_from_iter_atomic` 0.19-0.28 s against 0.02-0.06 s written the other way;
   * same bytes, same number of big writes; why the kernel here copies a whole object written
   * at offset 0 more slowly is not established).
   */
  private feedKnown(chunk: Uint8Array, expected: number): void {
    if (chunk.length === 0) return;
    this.sendHeader();
    const lastIndex = Math.max(1, Math.ceil(expected / SEGMENT_BYTES)) - 1;
    const startSeen = this.seen - chunk.length;
    // Tags this piece writes: of the segments whose end falls within it.
    const endsBefore = Math.floor(startSeen / SEGMENT_BYTES);
    const endsAfter = this.seen === expected ? lastIndex + 1 : Math.floor(this.seen / SEGMENT_BYTES);
    const out = this.outputBuffer(chunk.length + (endsAfter - endsBefore) * TAG_BYTES);
    let pos = 0;
    let at = 0;
    while (at < chunk.length) {
      const n = Math.min(SEGMENT_BYTES - this.fill, chunk.length - at);
      const last = this.index === lastIndex;
      const ends = this.fill + n === SEGMENT_BYTES || (last && startSeen + at + n === expected);
      const plain = chunk.subarray(at, at + n);
      if (this.fill === 0 && ends) {
        // A whole segment inside this piece (all but the piece's first and last, mostly): one call.
        pos = this.key.seal(this.header, this.index, last, plain, out, pos);
      } else {
        if (this.fill === 0) this.key.begin(this.header, this.index, last);
        pos = this.key.update(plain, out, pos);
        if (ends) pos = this.key.final(out, pos);
      }
      at += n;
      if (ends) {
        this.index++;
        this.fill = 0;
      } else this.fill += n;
    }
    if (pos !== out.length) throw new InternalError(`sealed ${pos} bytes where ${out.length} were due`);
    this.output(out);
  }

  /** Seals the last segment; throws when fewer bytes came than announced. */
  finish(): void {
    if (this.expected !== undefined && this.seen !== this.expected) throw new SizeMismatchError(`${this.seen} bytes arrived, ${this.expected} announced`);
    if (this.expected !== undefined) {
      // Everything is sealed as it came, but for an empty object: one empty last segment.
      if (this.expected === 0) {
        this.sendHeader();
        this.output(sealSegment(this.key, this.header, 0, true, Buffer.alloc(0)));
      }
      return;
    }
    this.sendHeader();
    this.output(sealSegment(this.key, this.header, this.index, true, this.segment.subarray(0, this.fill)));
  }
}

/**
 * The sealed body of a plain one, pulled piece by piece by the wrapped backend (backpressure:
 * nothing is read before it asks). The source is destroyed when the wrapped backend stops
 * early (abort, failure); a failure of the source or the sealer fails the wrapped write.
 */
async function* sealedPieces(source: AsyncIterable<Uint8Array>, sealer: Sealer, sealed: Buffer[]): AsyncGenerator<Uint8Array, void, undefined> {
  let done = false;
  try {
    // A piece is written once the wrapped backend pulls the next one (the contract of a
    // write's body): then its buffer may serve again. Not after an early stop: a write
    // still in flight may be reading it.
    for await (const piece of source) {
      sealer.feed(piece);
      while (sealed.length > 0) {
        const out = sealed.shift()!;
        yield out;
        sealer.recycle(out);
      }
    }
    sealer.finish();
    while (sealed.length > 0) {
      const out = sealed.shift()!;
      yield out;
      sealer.recycle(out);
    }
    done = true;
  } finally {
    if (!done && source instanceof Readable) source.destroy();
  }
}

/** What a read wants of an object, in plain bytes, and what it asked the wrapped backend for. */
interface ReadPlan {
  /** First plain byte wanted, and how many (Infinity: to the end). */
  offset: number;
  take: number;
  /** The stream starts with the header (a read from offset 0), else at segment `firstIndex`. */
  withHeader: boolean;
  firstIndex: number;
  /** Sealed bytes asked of the wrapped backend (after the header when `withHeader`); Infinity: to the end. */
  requested: number;
}

/**
 * Decrypts a sealed stream (optionally starting with the header) and passes on the plain
 * bytes of the plan's range. `ready` settles once the header is known and checked: a read
 * rejects before its stream is handed out, as the contract wants.
 */
class OpenStream extends Transform {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private received = 0;
  private index: number;
  private skip: number;
  private left: number;
  private sawLast = false;
  private header?: ObjectHeader;
  private key?: SegmentCipher;
  private lastIndex?: number;
  private settle!: { resolve: () => void; reject: (err: Error) => void };
  readonly ready: Promise<void>;

  private readonly output: (b: Buffer) => void;

  constructor(
    private readonly plan: ReadPlan,
    private readonly check: (raw: Buffer) => { header: ObjectHeader; key: SegmentCipher },
    private readonly what: string,
    known?: { header: ObjectHeader; key: SegmentCipher },
    output?: (b: Buffer) => void,
  ) {
    super();
    this.output = output ?? ((b) => void this.batch.push(b));
    this.index = plan.firstIndex;
    this.skip = plan.offset - plan.firstIndex * SEGMENT_BYTES;
    this.left = plan.take;
    this.ready = new Promise((resolve, reject) => (this.settle = { resolve, reject }));
    this.ready.catch(() => undefined);
    if (known) this.accept(known);
  }

  private accept(known: { header: ObjectHeader; key: SegmentCipher }): void {
    this.header = known.header;
    this.key = known.key;
    const size = known.header.plainSize;
    if (size !== undefined) {
      this.lastIndex = Math.max(1, Math.ceil(size / SEGMENT_BYTES)) - 1;
      if (this.plan.offset > size) throw new RangeNotSatisfiableError(`${this.what}: offset ${this.plan.offset} is past the end (${size} bytes)`);
      this.left = Math.min(this.left, size - this.plan.offset);
    }
    this.settle.resolve();
  }

  private fail(err: Error, cb: TransformCallback): void {
    this.settle.reject(err);
    cb(err);
  }

  /** Opens what it can of `chunk` (the header first, when the stream starts with it); throws on damage. */
  feed(chunk: Buffer): void {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (!this.header) {
      if (this.pendingBytes < HEADER_BYTES) return;
      const all = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending, this.pendingBytes);
      this.received -= HEADER_BYTES - (this.pendingBytes - chunk.length);
      this.accept(this.check(all.subarray(0, HEADER_BYTES)));
      this.pending = [all.subarray(HEADER_BYTES)];
      this.pendingBytes -= HEADER_BYTES;
    }
    this.received += chunk.length;
    this.drain(false);
  }

  /** The sealed bytes ended: the rest, and the checks that the object ended where it should. */
  finish(): void {
    if (!this.header) throw new CryptoTruncatedError(`${this.what}: the encrypted object ends inside its header`);
    this.drain(true);
  }

  /** Plain bytes of one input chunk, pushed as one buffer (as SealStream does). */
  private batch: Buffer[] = [];

  private flushBatch(): void {
    if (this.batch.length === 0) return;
    this.push(this.batch.length === 1 ? this.batch[0] : Buffer.concat(this.batch));
    this.batch = [];
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      this.feed(chunk);
      this.flushBatch();
      cb();
    } catch (err) {
      this.fail(err as Error, cb);
    }
  }

  override _flush(cb: TransformCallback): void {
    try {
      this.finish();
      this.flushBatch();
      cb();
    } catch (err) {
      this.fail(err as Error, cb);
    }
  }

  /** Length of the sealed segment at the current index, when the size says it. */
  private segmentLength(): number {
    const size = this.header!.plainSize;
    if (size === undefined || this.index < this.lastIndex!) return SEALED_SEGMENT_BYTES;
    return size - this.lastIndex! * SEGMENT_BYTES + 16;
  }

  private takeBytes(n: number): Buffer {
    const all = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending, this.pendingBytes);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.pending = rest.length > 0 ? [rest] : [];
    this.pendingBytes = rest.length;
    return out;
  }

  private drain(ending: boolean): void {
    const known = this.header!.plainSize !== undefined;
    for (;;) {
      if (this.left <= 0 && known) {
        this.pending = [];
        this.pendingBytes = 0;
        return;
      }
      const need = this.segmentLength();
      if (this.pendingBytes > 0 && this.sawLast) throw new CryptoTamperedError(`${this.what}: bytes follow the last segment of the encrypted object`);
      if (this.pendingBytes >= need) this.open(this.takeBytes(need), known ? this.index === this.lastIndex : undefined);
      else if (ending && this.pendingBytes > 0 && !known) this.open(this.takeBytes(this.pendingBytes), undefined);
      else break;
    }
    if (!ending) return;
    if (known) {
      if (this.left > 0 && this.plan.take !== 0) throw new CryptoTruncatedError(`${this.what}: the encrypted object ends early`);
      return;
    }
    // Without a size, only the last-segment flag proves the end: where the wrapped backend
    // had no more bytes than asked, the last segment must have been flagged so.
    const reachedEnd = this.plan.requested === Infinity || this.received < this.plan.requested;
    if (reachedEnd && !this.sawLast) throw new CryptoTruncatedError(`${this.what}: the encrypted object ends early`);
  }

  private open(sealed: Buffer, last: boolean | undefined): void {
    const { plain, last: wasLast } = openSegment(this.key!, this.header!.raw, this.index, last, sealed, this.what);
    this.index++;
    this.sawLast = wasLast;
    let out = plain;
    if (this.skip > 0) {
      out = out.subarray(Math.min(this.skip, out.length));
      this.skip -= plain.length - out.length;
    }
    if (out.length > this.left) out = out.subarray(0, this.left);
    this.left -= out.length;
    if (out.length > 0) this.output(out);
  }
}

/**
 * Decrypts sealed segments already in memory (from segment `plan.firstIndex`, the header
 * already read and checked) into one buffer: the caller's `into` when it is large enough.
 * The same checks as OpenStream, in one synchronous pass: the chunk store's hot path, where
 * a stream's pieces and their concatenation would cost more than the cipher.
 */
function openSealed(plan: ReadPlan, known: { header: ObjectHeader; key: SegmentCipher }, body: Buffer, what: string, into?: Buffer): Buffer {
  const size = known.header.plainSize;
  const lastIndex = size === undefined ? undefined : Math.max(1, Math.ceil(size / SEGMENT_BYTES)) - 1;
  let left = plan.take;
  if (size !== undefined) {
    if (plan.offset > size) throw new RangeNotSatisfiableError(`${what}: offset ${plan.offset} is past the end (${size} bytes)`);
    left = Math.min(left, size - plan.offset);
  }
  const most = Math.max(0, Math.min(left, body.length));
  const out = into && into.length >= most ? into : Buffer.allocUnsafe(most);
  let written = 0;
  let skip = plan.offset - plan.firstIndex * SEGMENT_BYTES;
  let index = plan.firstIndex;
  let pos = 0;
  let sawLast = false;
  for (;;) {
    if (left <= 0 && size !== undefined) break;
    const remaining = body.length - pos;
    if (remaining > 0 && sawLast) throw new CryptoTamperedError(`${what}: bytes follow the last segment of the encrypted object`);
    const need = size === undefined || index < lastIndex! ? SEALED_SEGMENT_BYTES : size - lastIndex! * SEGMENT_BYTES + TAG_BYTES;
    let sealed: Buffer;
    if (remaining >= need) sealed = body.subarray(pos, pos + need);
    else if (remaining > 0 && size === undefined) sealed = body.subarray(pos);
    else break;
    pos += sealed.length;
    const last = size === undefined ? undefined : index === lastIndex;
    if (skip === 0 && sealed.length - TAG_BYTES <= left) {
      // The whole segment is wanted: decrypted straight to its place (no buffer of its own, no copy).
      const opened = openSegmentInto(known.key, known.header.raw, index, last, sealed, what, out, written);
      written += opened.length;
      left -= opened.length;
      sawLast = opened.last;
      index++;
      continue;
    }
    const opened = openSegment(known.key, known.header.raw, index, last, sealed, what);
    index++;
    sawLast = opened.last;
    let plain = opened.plain;
    if (skip > 0) {
      const cut = Math.min(skip, plain.length);
      plain = plain.subarray(cut);
      skip -= cut;
    }
    if (plain.length > left) plain = plain.subarray(0, Math.max(0, left));
    left -= plain.length;
    written += plain.copy(out, written);
  }
  if (size !== undefined) {
    if (left > 0 && plan.take !== 0) throw new CryptoTruncatedError(`${what}: the encrypted object ends early`);
  } else {
    // Without a size, only the last-segment flag proves the end (see OpenStream.drain).
    const reachedEnd = plan.requested === Infinity || body.length < plan.requested;
    if (reachedEnd && !sawLast) throw new CryptoTruncatedError(`${what}: the encrypted object ends early`);
  }
  return out.subarray(0, written);
}

/** The largest read served from a reused scratch buffer (chunks are smaller; larger reads allocate their own). */
const SCRATCH_MAX_BYTES = 16 * 1024 * 1024;
const SCRATCH_ROUND_BYTES = 1024 * 1024;

/**
 * Buffers that range reads read sealed bytes into, reused: a fresh multi-MiB buffer per chunk
 * read is memory to map and collect each time. At most `keep` kept (four unless told), none over
 * SCRATCH_MAX_BYTES (bounded memory); a larger read gets none (undefined: the wrapped backend
 * then allocates exactly what the object holds, not what the caller's length allows).
 */
class ScratchBuffers {
  private free: Buffer[] = [];

  constructor(private readonly keep = 4) {}

  acquire(n: number): Buffer | undefined {
    if (n > SCRATCH_MAX_BYTES) return undefined;
    const i = this.free.findIndex((b) => b.length >= n);
    if (i >= 0) return this.free.splice(i, 1)[0];
    // Whole MiB: chunks of any size up to the next MiB reuse it (content-defined chunks vary).
    return Buffer.allocUnsafeSlow(Math.ceil(n / SCRATCH_ROUND_BYTES) * SCRATCH_ROUND_BYTES);
  }

  /** Keeps the largest `keep` (a smaller one serves fewer reads). */
  release(b: Buffer | undefined): void {
    if (!b) return;
    if (this.free.length < this.keep) {
      this.free.push(b);
      return;
    }
    let smallest = 0;
    for (let i = 1; i < this.free.length; i++) if (this.free[i].length < this.free[smallest].length) smallest = i;
    if (this.free[smallest].length < b.length) this.free[smallest] = b;
  }
}

/** An object staged through the decorator: its plain key and size, and the wrapped backend's staged object. */
class SealedStaged implements StagedObject {
  constructor(
    readonly owner: EncryptedBackend,
    readonly key: string,
    readonly size: number,
    readonly inner: StagedObject,
  ) {}
}

export interface EncryptionOptions {
  /** The store held plain objects when its ring was made: reads fall back to them (see the module comment). */
  migrating?: boolean;
  /** Records a changed ring in the store (wrapped by the master key): needed to retire data keys. */
  saveRing?: (ring: KeyRing) => Promise<void>;
}

/** `inner`, storing every object encrypted under `ring` (see the module comment). */
export class EncryptedBackend implements StorageBackend {
  readonly name: string;
  private migrating: boolean;
  private readonly scratch = new ScratchBuffers();
  /** Buffers objects are sealed into before the wrapped backend writes them (Sealer.outputBuffer). */
  private readonly sealScratch = new ScratchBuffers(8);
  private readonly saveRing?: (ring: KeyRing) => Promise<void>;
  /** Stored names of recent keys: each costs an HMAC and a cipher per path segment to make. */
  private readonly storedNames = new Map<string, string>();
  /** Name tags of recent keys (an HMAC each; every read and write of a key checks or writes it). */
  private readonly nameTags = new Map<string, Buffer>();
  mkdir?: (key: string, options?: OpOptions) => Promise<void>;
  rmdir?: (key: string, options?: OpOptions) => Promise<void>;
  isDirectory?: (key: string, options?: OpOptions) => Promise<boolean>;
  setMtime?: (key: string, mtime: number, options?: OpOptions) => Promise<void>;
  sweepLeftovers?: (before: number, options?: OpOptions) => Promise<SweptLeftovers>;
  stage?: (key: string, body: WriteBody, options?: Omit<WriteOptions, 'durable'>) => Promise<StagedObject>;
  publish?: (objects: readonly StagedObject[]) => Promise<(Error | null)[]>;
  discard?: (objects: readonly StagedObject[]) => Promise<void>;

  constructor(
    readonly inner: StorageBackend,
    private ring: KeyRing,
    options: EncryptionOptions = {},
  ) {
    this.name = `encrypted:${inner.name}`;
    this.migrating = options.migrating ?? false;
    this.saveRing = options.saveRing;
    const b = inner;
    if (hasDirectories(b)) {
      this.mkdir = (key, o) => b.mkdir(this.stored(key), o);
      this.rmdir = (key, o) => b.rmdir(this.stored(key), o);
    }
    if (canCheckDirectories(b)) this.isDirectory = (key, o) => b.isDirectory(this.stored(key), o);
    if (canSetMtime(b)) this.setMtime = (key, mtime, o) => b.setMtime(this.stored(key), mtime, o);
    if (canSweepLeftovers(b)) this.sweepLeftovers = (before, o) => b.sweepLeftovers(before, o);
    if (canStage(b)) {
      this.stage = (key, body, o) => this.stageSealed(b, key, body, o);
      this.publish = (objects) => this.publishSealed(b, objects);
      this.discard = async (objects) => b.discard(objects.map((o) => this.innerStaged(o)));
    }
  }

  /** Whether plain objects may still be read (a migration is pending). */
  get migrationPending(): boolean {
    return this.migrating;
  }

  /** Called by the migration once no plain object is left. */
  endMigration(): void {
    this.migrating = false;
  }

  /** The data key new objects are written with, and the retiring ones (hex ids), as this process's ring has them. */
  get dataKeysInUse(): { current: string; retiring: string[] } {
    return { current: this.ring.current.id.toString('hex'), retiring: [...this.ring.retiring] };
  }

  /** Whether the ring marks data keys as retiring: their objects are to be re-encrypted (see {@link reencryptStore}). */
  get reencryptionPending(): boolean {
    return this.ring.retiring.size > 0;
  }

  /**
   * Which data key the object stored as `stored` (a name of the wrapped backend) was written
   * with, from its header alone: 'retiring', 'kept' (the current key or another kept one), 'unknown' (no
   * header of ours: damaged, or not an object of this store), 'gone' (deleted meanwhile).
   */
  async dataKeyOf(stored: string, signal?: AbortSignal): Promise<'retiring' | 'kept' | 'unknown' | 'gone'> {
    let raw: Buffer;
    try {
      raw = await this.readHeaderBytes(stored, signal);
    } catch (err) {
      if (isFerryError(err, 'FERRY_ERR_NOT_FOUND')) return 'gone';
      throw err;
    }
    const header = parseHeader(raw);
    if (!header) return 'unknown';
    return this.ring.isRetiring(header.keyId) ? 'retiring' : 'kept';
  }

  /** Drops the retiring data keys from the ring, recording the new ring first (EncryptionOptions.saveRing). */
  async retireDataKeys(): Promise<string[]> {
    if (!this.saveRing) throw new ConfigError(`${this.name}: no way to record a changed key ring was given`);
    const retired = [...this.ring.retiring];
    const next = this.ring.withoutRetiring();
    await this.saveRing(next);
    this.ring = next;
    return retired;
  }

  /** The plain key of a stored name, or undefined when it is not a name this backend made. */
  plainKeyOf(stored: string): string | undefined {
    return this.ring.names.decryptKey(stored);
  }

  /** Whether `key` has an encrypted object (not only a plain one awaiting migration). */
  async hasEncrypted(key: string, options?: OpOptions): Promise<boolean> {
    return this.inner.stat(this.stored(key), options).then(
      () => true,
      (err: unknown) => {
        if (isFerryError(err, 'FERRY_ERR_NOT_FOUND')) return false;
        throw err;
      },
    );
  }

  /** Whether a key of the wrapped backend is a name this backend made. */
  isStoredName(stored: string): boolean {
    return this.ring.names.decryptKey(stored) !== undefined;
  }

  features(): BackendFeatures {
    const f = this.inner.features();
    return { ...f, copy: false, move: false, hashes: [], caseSensitive: true, lookAlikeNames: 'distinct' };
  }

  /** The stored name of `key` (validated first: an invalid key fails before any I/O). */
  private stored(key: string): string {
    const k = normalizeKey(key);
    let name = this.storedNames.get(k);
    if (name === undefined) {
      name = this.ring.names.encryptKey(k);
      // Bounded: emptied when full (a chunk is mostly written and read again soon after).
      if (this.storedNames.size >= STORED_NAMES_CACHED) this.storedNames.clear();
      this.storedNames.set(k, name);
    }
    return name;
  }

  /** The name tag of a normalized key (the header's binding of an object to its name). */
  private nameTag(k: string): Buffer {
    let tag = this.nameTags.get(k);
    if (tag === undefined) {
      tag = this.ring.names.tag(k);
      if (this.nameTags.size >= STORED_NAMES_CACHED) this.nameTags.clear();
      this.nameTags.set(k, tag);
    }
    return tag;
  }

  /** A plain key the migration fallback may use: never the key ring's own objects. */
  private plainFallback(key: string): boolean {
    return this.migrating && key !== RING_DIR && !key.startsWith(`${RING_DIR}/`);
  }

  async stat(key: string, options?: OpOptions): Promise<ObjectInfo> {
    const k = normalizeKey(key);
    try {
      return this.plainInfo(k, await this.inner.stat(this.stored(k), options));
    } catch (err) {
      if (!isFerryError(err, 'FERRY_ERR_NOT_FOUND') || !this.plainFallback(k)) throw err;
      const info = await this.inner.stat(k, options);
      return { key: k, size: info.size, ...(info.mtime !== undefined ? { mtime: info.mtime } : {}) };
    }
  }

  private plainInfo(key: string, info: ObjectInfo): ObjectInfo {
    const size = plainSizeOf(info.size);
    if (size === undefined) throw new CryptoTruncatedError(`${key}: the encrypted object is shorter than any encrypted object can be`);
    return { key, size, ...(info.mtime !== undefined ? { mtime: info.mtime } : {}) };
  }

  /** Opens and checks a header read from the store. */
  private checkHeader(key: string, raw: Buffer): { header: ObjectHeader; key: SegmentCipher } {
    if (raw.length < HEADER_BYTES) throw new CryptoTruncatedError(`${key}: the encrypted object ends inside its header`);
    const header = parseHeader(raw);
    if (!header) throw new CryptoTamperedError(`${key}: the stored object is not an encrypted object of this store`);
    const dataKey = this.ring.dataKey(header.keyId, key);
    const keys = objectKeys(dataKey.key, header.salt);
    verifyHeader(header, keys.mac, this.nameTag(key), key);
    return { header, key: keys.enc };
  }

  async read(key: string, options: ReadOptions = {}): Promise<Readable> {
    const k = normalizeKey(key);
    throwIfAborted(options.signal);
    try {
      return await this.readEncrypted(k, options);
    } catch (err) {
      if (!isFerryError(err, 'FERRY_ERR_NOT_FOUND') || !this.plainFallback(k)) throw err;
      try {
        return await this.inner.read(k, options);
      } catch (plainErr) {
        // Migrated between the two looks: the encrypted object is there now.
        if (isFerryError(plainErr, 'FERRY_ERR_NOT_FOUND')) return this.readEncrypted(k, options);
        throw plainErr;
      }
    }
  }

  private async readEncrypted(k: string, options: ReadOptions): Promise<Readable> {
    const stored = this.stored(k);
    const offset = options.offset ?? 0;
    const take = options.length ?? Infinity;
    if (offset === 0) {
      // One request: the header comes first in the stream.
      const lastSegment = take === Infinity ? Infinity : Math.max(0, Math.ceil(take / SEGMENT_BYTES) - 1);
      const requested = lastSegment === Infinity ? Infinity : (lastSegment + 1) * SEALED_SEGMENT_BYTES;
      const source = await this.inner.read(stored, {
        signal: options.signal,
        ...(requested === Infinity ? {} : { length: HEADER_BYTES + requested }),
      });
      const plan: ReadPlan = { offset, take, withHeader: true, firstIndex: 0, requested };
      return this.pipeOpen(source, new OpenStream(plan, (raw) => this.checkHeader(k, raw), k));
    }
    // A range: the header first (it says the size, and the key), then only the segments wanted.
    const raw = await this.readHeaderBytes(stored, options.signal);
    const known = this.checkHeader(k, raw);
    let size = known.header.plainSize;
    if (size === undefined) {
      size = plainSizeOf((await this.inner.stat(stored, options)).size);
      if (size === undefined) throw new CryptoTruncatedError(`${k}: the encrypted object is shorter than any encrypted object can be`);
    }
    if (offset > size) throw new RangeNotSatisfiableError(`${k}: offset ${offset} is past the end (${size} bytes)`);
    const end = Math.min(size, offset + take);
    if (end <= offset) return Readable.from([]);
    const firstIndex = Math.floor(offset / SEGMENT_BYTES);
    const lastIndex = Math.floor((end - 1) / SEGMENT_BYTES);
    const start = HEADER_BYTES + firstIndex * SEALED_SEGMENT_BYTES;
    const requested = Math.min(sealedSize(size), HEADER_BYTES + (lastIndex + 1) * SEALED_SEGMENT_BYTES) - start;
    let source: Readable;
    try {
      source = await this.inner.read(stored, { offset: start, length: requested, signal: options.signal });
    } catch (err) {
      if (isFerryError(err, 'FERRY_ERR_RANGE_NOT_SATISFIABLE')) throw new CryptoTruncatedError(`${k}: the encrypted object ends early`, { cause: err });
      throw err;
    }
    const plan: ReadPlan = { offset, take: end - offset, withHeader: false, firstIndex, requested };
    return this.pipeOpen(source, new OpenStream(plan, (r) => this.checkHeader(k, r), k, known));
  }

  private async readHeaderBytes(stored: string, signal?: AbortSignal): Promise<Buffer> {
    const parts: Buffer[] = [];
    let n = 0;
    try {
      for await (const c of await this.inner.read(stored, { offset: 0, length: HEADER_BYTES, signal })) {
        parts.push(c as Buffer);
        n += (c as Buffer).length;
      }
    } catch (err) {
      if (isFerryError(err, 'FERRY_ERR_RANGE_NOT_SATISFIABLE')) return Buffer.alloc(0);
      throw err;
    }
    return Buffer.concat(parts, n);
  }

  /** Pipes the sealed stream through the opener; resolves once the header checked out. */
  private async pipeOpen(source: Readable, opener: OpenStream): Promise<Readable> {
    source.once('error', (err) => opener.destroy(err));
    opener.once('close', () => source.destroy());
    // Until the header checked out, a failure is the promise's, not an unheard 'error' event.
    const early = (): void => undefined;
    opener.on('error', early);
    source.pipe(opener);
    try {
      await opener.ready;
    } catch (err) {
      opener.destroy();
      throw err;
    }
    opener.off('error', early);
    return opener;
  }

  /**
   * With a wrapped RangeReader (local disk, SFTP), one positional read (two for a range that
   * does not start at 0: the header, then the segments) and a synchronous decryption: the
   * chunk store's hot path, where a stream's many small reads would cost more than the cipher.
   */
  async readRange(key: string, offset: number, length: number, options: RangeReadOptions = {}): Promise<Buffer> {
    if (!canReadRange(this.inner)) return this.collect(key, offset, length, options.signal);
    const k = normalizeKey(key);
    throwIfAborted(options.signal);
    try {
      return await this.readRangeEncrypted(this.inner, k, offset, length, options.signal, options.into);
    } catch (err) {
      if (!isFerryError(err, 'FERRY_ERR_NOT_FOUND') || !this.plainFallback(k)) throw err;
      try {
        return await this.inner.readRange(k, offset, length, { signal: options.signal });
      } catch (plainErr) {
        if (isFerryError(plainErr, 'FERRY_ERR_NOT_FOUND')) return this.readRangeEncrypted(this.inner, k, offset, length, options.signal, options.into);
        throw plainErr;
      }
    }
  }

  private async readRangeEncrypted(inner: RangeReader, k: string, offset: number, length: number, signal?: AbortSignal, into?: Buffer): Promise<Buffer> {
    const stored = this.stored(k);
    const ranged = async (at: number, n: number, scratch?: Buffer): Promise<Buffer> => {
      try {
        return await inner.readRange(stored, at, n, { signal, into: scratch });
      } catch (err) {
        if (isFerryError(err, 'FERRY_ERR_RANGE_NOT_SATISFIABLE')) return Buffer.alloc(0);
        throw err;
      }
    };
    if (offset === 0) {
      // One read: the header and the segments the range covers. Into the caller's buffer when
      // it holds them all (the chunk store's lent buffers mostly do), decrypted there in place:
      // segment i's plain bytes go to i × 64 KiB, below its own ciphertext (HEADER_BYTES +
      // i × (64 KiB + 16), read by then) and the tag after it, and below every later segment.
      // Else into a reused scratch buffer.
      const requested = Math.max(1, Math.ceil(length / SEGMENT_BYTES)) * SEALED_SEGMENT_BYTES;
      const inPlace = into !== undefined && into.length >= HEADER_BYTES + requested;
      const scratch = inPlace ? undefined : this.scratch.acquire(HEADER_BYTES + requested);
      try {
        const sealed = await inner.readRange(stored, 0, HEADER_BYTES + requested, { signal, into: inPlace ? into : scratch });
        if (sealed.length < HEADER_BYTES) throw new CryptoTruncatedError(`${k}: the encrypted object ends inside its header`);
        // A copy of the header: it is every segment's associated data, and decrypting in place overwrites it.
        const known = this.checkHeader(k, Buffer.from(sealed.subarray(0, HEADER_BYTES)));
        return openSealed({ offset, take: length, withHeader: true, firstIndex: 0, requested }, known, sealed.subarray(HEADER_BYTES), k, into);
      } finally {
        this.scratch.release(scratch);
      }
    }
    const known = this.checkHeader(k, await ranged(0, HEADER_BYTES));
    let size = known.header.plainSize;
    if (size === undefined) {
      size = plainSizeOf((await this.inner.stat(stored, { signal })).size);
      if (size === undefined) throw new CryptoTruncatedError(`${k}: the encrypted object is shorter than any encrypted object can be`);
    }
    if (offset > size) throw new RangeNotSatisfiableError(`${k}: offset ${offset} is past the end (${size} bytes)`);
    const end = Math.min(size, offset + length);
    if (end <= offset) return Buffer.alloc(0);
    const firstIndex = Math.floor(offset / SEGMENT_BYTES);
    const start = HEADER_BYTES + firstIndex * SEALED_SEGMENT_BYTES;
    const requested = Math.min(sealedSize(size), HEADER_BYTES + (Math.floor((end - 1) / SEGMENT_BYTES) + 1) * SEALED_SEGMENT_BYTES) - start;
    const scratch = this.scratch.acquire(requested);
    try {
      const sealed = await ranged(start, requested, scratch);
      if (sealed.length === 0) throw new CryptoTruncatedError(`${k}: the encrypted object ends early`);
      return openSealed({ offset, take: end - offset, withHeader: false, firstIndex, requested }, known, sealed, k, into);
    } finally {
      this.scratch.release(scratch);
    }
  }

  private async collect(key: string, offset: number, length: number, signal?: AbortSignal): Promise<Buffer> {
    const parts: Buffer[] = [];
    let n = 0;
    for await (const c of await this.read(key, { offset, length, signal })) {
      parts.push(c as Buffer);
      n += (c as Buffer).length;
    }
    return parts.length === 1 ? parts[0] : Buffer.concat(parts, n);
  }

  async write(key: string, body: WriteBody, options: WriteOptions = {}): Promise<ObjectInfo> {
    const k = normalizeKey(key);
    const { info, size } = await this.sealed(k, body, options, (stored, sealed, o) => this.inner.write(stored, sealed, o));
    if (this.plainFallback(k)) await this.inner.delete(k, { signal: options.signal }).catch(() => undefined);
    return { key: k, size, ...(info.mtime !== undefined ? { mtime: info.mtime } : {}) };
  }

  /**
   * Grouped durability through the decorator (offered when the wrapped backend stages: local
   * disk): the object is sealed as `write` seals it and staged in the wrapped backend under its
   * stored name; `publish` publishes those, so an encrypted store pays one flush per group as a
   * plain one does.
   */
  private async stageSealed(inner: StagedWriter, key: string, body: WriteBody, options: Omit<WriteOptions, 'durable'> = {}): Promise<StagedObject> {
    const k = normalizeKey(key);
    const { info, size } = await this.sealed(k, body, options, (stored, sealed, o) => inner.stage(stored, sealed, o));
    return new SealedStaged(this, k, size, info);
  }

  private async publishSealed(inner: StagedWriter, objects: readonly StagedObject[]): Promise<(Error | null)[]> {
    const results = await inner.publish(objects.map((o) => this.innerStaged(o)));
    // A migrating store: the plain copy goes once the encrypted object is in place (as write does).
    const fallbacks = objects.filter((o, i) => results[i] === null && this.plainFallback(o.key));
    for (const o of fallbacks) await this.inner.delete(o.key).catch(() => undefined);
    return results;
  }

  private innerStaged(o: StagedObject): StagedObject {
    if (!(o instanceof SealedStaged) || o.owner !== this) throw new ValidationError(`${o.key}: not staged by ${this.name}`);
    return o.inner;
  }

  /**
   * Seals `body` (the plain bytes of `k`) and hands the sealed body to `put` (the wrapped
   * backend's write or stage) under the stored name. Returns what `put` returned and the
   * plain bytes sealed.
   */
  private async sealed<T>(k: string, body: WriteBody, options: Omit<WriteOptions, 'durable'> & { durable?: boolean }, put: (stored: string, sealed: WriteBody, o: WriteOptions) => Promise<T>): Promise<{ info: T; size: number }> {
    const stored = this.stored(k);
    const dataKey = this.ring.current;
    const salt = newSalt();
    const keys = objectKeys(dataKey.key, salt);
    const nameTag = this.nameTag(k);
    if (body instanceof Uint8Array) {
      if (options.size !== undefined && options.size !== body.length) {
        throw new SizeMismatchError(`${body.length} bytes given, ${options.size} announced`);
      }
      // Into a reused buffer, as the Sealer's pieces (see Sealer.outputBuffer); given back once
      // `put` has written it, dropped after a failure (a write may still be reading it).
      const n = sealedSize(body.length);
      const scratch = this.sealScratch.acquire(n);
      const info = await put(stored, sealWhole(keys.enc, buildHeader(dataKey.id, salt, nameTag, body.length, keys.mac), body, scratch), { ...options, size: n });
      this.sealScratch.release(scratch);
      return { info, size: body.length };
    }
    throwIfAborted(options.signal);
    // The wrapped backend pulls the body only once it is ready for it (a directory made, a file
    // opened): a source failing before then (a read of a damaged object being copied) must not
    // be an unheard 'error' event. The pull then finds the stream failed and fails the write.
    if (body instanceof Readable) body.on('error', () => undefined);
    const sealed: Buffer[] = [];
    const sealer = new Sealer(keys.enc, buildHeader(dataKey.id, salt, nameTag, options.size, keys.mac), options.size, (b) => void sealed.push(b), this.sealScratch);
    try {
      const info = await put(stored, sealedPieces(body, sealer, sealed), { ...options, size: options.size === undefined ? undefined : sealedSize(options.size) });
      return { info, size: sealer.seen };
    } catch (err) {
      // The wrapped backend may fail before it pulled anything (the generator then never ran).
      if (body instanceof Readable) body.destroy();
      throw err;
    }
  }

  async delete(key: string, options?: OpOptions): Promise<void> {
    const k = normalizeKey(key);
    await this.inner.delete(this.stored(k), options);
    if (this.plainFallback(k)) await this.inner.delete(k, options);
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncGenerator<DirEntry> {
    const p = prefix === '' ? '' : normalizeKey(prefix);
    const seen = this.migrating ? new Set<string>() : undefined;
    for await (const e of this.inner.list(p === '' ? '' : this.ring.names.encryptKey(p), options)) {
      const key = this.ring.names.decryptKey(e.key);
      if (key === undefined) {
        // Not one of ours: the key ring, a plain object before its migration, or a stranger.
        if (p === '' && this.plainFallback(e.key) && !seen!.has(`${e.type}:${e.key}`)) {
          seen!.add(`${e.type}:${e.key}`);
          yield stripHashes(e);
        }
        continue;
      }
      if (seen) {
        if (seen.has(`${e.type}:${key}`)) continue;
        seen.add(`${e.type}:${key}`);
      }
      if (e.type === 'dir') {
        yield { key, type: 'dir' };
        continue;
      }
      const size = e.size === undefined ? undefined : plainSizeOf(e.size);
      yield { key, type: 'file', ...(size !== undefined ? { size } : {}), ...(e.mtime !== undefined ? { mtime: e.mtime } : {}) };
    }
    if (this.migrating && p !== '') {
      for await (const e of this.inner.list(p, options)) {
        if (this.ring.names.decryptKey(e.key) !== undefined || !this.plainFallback(e.key) || seen!.has(`${e.type}:${e.key}`)) continue;
        seen!.add(`${e.type}:${e.key}`);
        yield stripHashes(e);
      }
    }
  }

  async close(): Promise<void> {
    await this.inner.close?.();
  }
}

function stripHashes(e: DirEntry): DirEntry {
  const { hashes: _hashes, ...rest } = e;
  return rest;
}

/** Seals a whole buffer into one buffer of exactly its sealed size: the start of `into` when given (large enough). */
function sealWhole(key: SegmentCipher, header: Buffer, body: Uint8Array, into?: Buffer): Buffer {
  const out = into ? into.subarray(0, sealedSize(body.length)) : Buffer.allocUnsafe(sealedSize(body.length));
  header.copy(out, 0);
  sealSegmentsInto(key, header, 0, body, true, out, HEADER_BYTES);
  return out;
}

export interface MigrationProgress {
  encrypted: number;
  /** Plain objects found in the last listing (those still to do). */
  found: number;
}

/**
 * Encrypts the plain objects of a store whose ring was made while it held them, in batches of
 * `batch` (a listing of what is left each time: memory stays bounded, and a restart simply
 * starts over with what is still plain). Each object is written encrypted, then its plain copy
 * deleted; reads find one or the other throughout. Ends by removing the migration marker.
 * A key written anew between the check for its encrypted object and the migration's write
 * gets the plain object's bytes: right for the chunk store, whose keys never change bytes
 * (a loose chunk is named by its hash, a pack by a fresh id), which is what this is for.
 */
export async function migrateToEncrypted(
  enc: EncryptedBackend,
  options: { signal?: AbortSignal; batch?: number; onProgress?: (p: MigrationProgress) => void } = {},
): Promise<MigrationProgress> {
  const inner = enc.inner;
  const batchSize = options.batch ?? 1000;
  const progress: MigrationProgress = { encrypted: 0, found: 0 };
  for (;;) {
    const batch: { key: string; size?: number; mtime?: number }[] = [];
    for await (const e of inner.list('', { recursive: true, signal: options.signal })) {
      if (e.type !== 'file' || e.key === RING_DIR || e.key.startsWith(`${RING_DIR}/`)) continue;
      if (enc.isStoredName(e.key)) continue;
      batch.push({ key: e.key, size: e.size, mtime: e.mtime });
      if (batch.length >= batchSize) break;
    }
    progress.found = batch.length;
    options.onProgress?.(progress);
    if (batch.length === 0) break;
    for (const o of batch) {
      throwIfAborted(options.signal);
      if (!(await enc.hasEncrypted(o.key, options))) {
        const body = await inner.read(o.key, { signal: options.signal }).catch((err: unknown) => {
          if (isFerryError(err, 'FERRY_ERR_NOT_FOUND')) return undefined; // deleted meanwhile
          throw err;
        });
        if (body) await enc.write(o.key, body, { size: o.size, mtime: o.mtime, signal: options.signal });
      }
      await inner.delete(o.key, options);
      progress.encrypted++;
    }
  }
  await inner.delete(MIGRATING_KEY, options);
  enc.endMigration();
  return progress;
}

export interface ReencryptionProgress {
  /** Objects of the store looked at (their headers read), over all passes. */
  checked: number;
  /** Objects rewritten under the current data key. */
  reencrypted: number;
  /** Objects under a retiring key that could not be re-encrypted (damaged: `ferry admin check --read-data` finds them). */
  failed: number;
  /** Objects under retiring keys found by the last whole pass and not re-encrypted (0 when done). */
  left: number;
  /** Passes over the store so far (the last one finds nothing left to do). */
  passes: number;
  /** Data keys dropped from the ring at the end (hex ids). */
  retired: string[];
}

/**
 * Re-encrypts under the current data key every object whose header names a retiring key
 * (after `ferry admin rekey --reencrypt`), then drops the retiring keys from the ring (saved
 * with EncryptionOptions.saveRing). Pass after pass over a listing of the store: each object is read (decrypted)
 * and written anew (one atomic write: readers find the old or the new object, both readable
 * while the ring holds both keys); a pass that finds none left ends it. Interrupted anywhere
 * (kill -9 included), the next start simply passes again: objects already re-encrypted are
 * told apart by their header, so no work is done twice. A key is retired only after a whole
 * pass found no object of it; objects that fail to decrypt (damage) keep it from retiring.
 *
 * Objects are rewritten under their own key, so as for the migration: a key deleted between
 * its read and its write comes back (for the chunk store, an unindexed object, swept as any
 * leftover); a key written anew meanwhile gets the same bytes (chunk store keys never change
 * bytes).
 */
export async function reencryptStore(
  enc: EncryptedBackend,
  options: {
    signal?: AbortSignal;
    onProgress?: (p: ReencryptionProgress) => void;
    progressEvery?: number;
    afterEach?: (p: ReencryptionProgress) => Promise<void>;
    /**
     * Whether another process sharing the store (a node started before the rekey) may still
     * write new objects under one of these retiring keys: then a pass that finds none left is
     * not the last, and the keys stay until a pass that began once none did finds none.
     */
    othersWriting?: (retiring: string[]) => Promise<boolean>;
    /** How long to wait before looking again while others write under retiring keys (default 60 s). */
    recheckMs?: number;
    onWait?: () => void;
  } = {},
): Promise<ReencryptionProgress> {
  const progress: ReencryptionProgress = { checked: 0, reencrypted: 0, failed: 0, left: 0, passes: 0, retired: [] };
  if (!enc.reencryptionPending) return progress;
  const every = options.progressEvery ?? 1000;
  const retiring = enc.dataKeysInUse.retiring;
  for (;;) {
    // Asked before the pass: what a writer under the old keys wrote before it stopped is in the listing.
    const alone = options.othersWriting === undefined || !(await options.othersWriting(retiring));
    progress.passes++;
    let found = 0;
    let failed = 0;
    for await (const e of enc.inner.list('', { recursive: true, signal: options.signal })) {
      if (e.type !== 'file' || e.key === RING_DIR || e.key.startsWith(`${RING_DIR}/`)) continue;
      const key = enc.plainKeyOf(e.key);
      if (key === undefined) continue; // a plain object awaiting migration, or a stranger
      throwIfAborted(options.signal);
      progress.checked++;
      if (progress.checked % every === 0) options.onProgress?.(progress);
      if ((await enc.dataKeyOf(e.key, options.signal)) !== 'retiring') continue;
      found++;
      try {
        const info = await enc.stat(key, { signal: options.signal });
        await enc.write(key, await enc.read(key, { signal: options.signal }), { size: info.size, ...(e.mtime !== undefined ? { mtime: e.mtime } : {}), signal: options.signal });
        progress.reencrypted++;
      } catch (err) {
        if (isFerryError(err, 'FERRY_ERR_NOT_FOUND')) continue; // deleted meanwhile: nothing to keep
        if (options.signal?.aborted || !isCryptoDamage(err)) throw err;
        failed++;
      }
      await options.afterEach?.(progress);
    }
    progress.failed = failed;
    progress.left = failed;
    options.onProgress?.(progress);
    // Done when a whole pass found nothing to do; a pass that could only fail will not do better.
    if (found === 0 || found === failed) {
      if (alone) break;
      options.onWait?.();
      await delay(options.recheckMs ?? 60_000, undefined, { signal: options.signal }).catch(() => throwIfAborted(options.signal));
    }
  }
  if (progress.left === 0) progress.retired = await enc.retireDataKeys();
  options.onProgress?.(progress);
  return progress;
}

