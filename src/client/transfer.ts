/**
 * What every transfer shares: the context of one operation (the client, the slots that
 * bound requests in flight across all its files, the progress tracker, the signal, the
 * counters) and the chunk sender that puts missing chunks into an upload session.
 *
 * Shared by Node.js and browsers (it imports nothing of Node): the CLI's uploads and the web
 * app's send their chunks through the same {@link ChunkSender}.
 */
import { FerryError, isFerryError, throwIfAborted, ferryErrorOf } from '../core/errors.js';
import { CHUNK_FRAME_HEADER_BYTES, PACK_FRAME_HEADER_BYTES, type Capabilities } from '../core/protocol.js';
import { ZstdChunk, type DeltaBase, type FerryApi } from './api.js';
import { Semaphore, allowManyListeners } from './concurrency.js';
import { fromHex } from './hashing.js';
import { ProgressTracker, type ProgressCallback } from '../core/progress.js';
import { countOf } from '../core/units.js';
import { escapeControls } from '../core/control-chars.js';
import type { FileProgress } from './progress.js';
import { MAX_PARALLEL, intBetween } from '../core/option-values.js';

/** Options every transfer takes. */
export interface TransferOptions {
  signal?: AbortSignal;
  /** Chunk requests in flight at once across the whole operation, an integer from 1 to 256 (default: the client's, 4). */
  parallel?: number;
  /**
   * Slots shared with other operations: the web app runs several files' uploads at once and
   * keeps their chunk requests within the browser's connections to one server. Default:
   * the operation's own `parallel` slots.
   */
  slots?: Semaphore;
  /** Buffers for pack bodies shared with other operations (a sync's batches, one session each). Default: the operation's own. */
  packBuffers?: PackBuffers;
  onProgress?: ProgressCallback;
}

/** The summary of a finished transfer. */
export interface TransferResult {
  /** Files written (uploaded or downloaded). */
  files: number;
  /** Bytes of content those files hold. */
  bytes: number;
  /**
   * Plain bytes of the chunks that crossed the network: a chunk that travelled compressed or
   * as a delta counts at its whole size (the server's wire counters have the bytes on the wire).
   */
  bytesTransferred: number;
  /**
   * Bytes of chunk bodies as they crossed the network: zstd frames and deltas at their
   * encoded size, other chunks at their size (a batch of small chunks with its frames).
   * Chunks a download rebuilt from a delta count in `bytesReused`, their deltas here.
   * Copies between remotes (`ferry cp` across stores) count it as `bytesTransferred`.
   */
  wireBytes: number;
  /** Chunks the files are made of (with repeats). */
  chunks: number;
  /** Chunks that crossed the network. */
  chunksTransferred: number;
  /** Bytes not sent because the other side had them (dedup, resume, a local older copy). */
  bytesReused: number;
  /** Directories created (trees). */
  dirs: number;
  /** Files of a tree left alone because the other side already had them (same size and mtime, or same hash). */
  unchanged: number;
  /** Local entries skipped (symlinks, special files), with the reason. */
  skipped: Array<{ path: string; reason: string }>;
  elapsedMs: number;
}

export type { CompareMode } from '../core/compare-mode.js';

/** Internal: the state of one top-level operation, shared by the files in it. */
export class TransferContext<B extends Uint8Array = Uint8Array> {
  readonly slots: Semaphore;
  readonly progress: ProgressTracker;
  readonly parallel: number;
  readonly started = performance.now();
  readonly result: TransferResult = {
    files: 0,
    bytes: 0,
    bytesTransferred: 0,
    wireBytes: 0,
    chunks: 0,
    chunksTransferred: 0,
    bytesReused: 0,
    dirs: 0,
    unchanged: 0,
    skipped: [],
    elapsedMs: 0,
  };
  /** Buffers of pack bodies, reused by the packs of the operation (at most `parallel` kept). */
  readonly packBuffers: PackBuffers;
  /** Delta signatures asked for ahead of their chunks' turn, twice `parallel` at most across the operation's files. */
  readonly signaturesAhead: SignaturesAhead;
  /** Counts chunk bodies as they travelled (`result.wireBytes`): given to the API's chunk calls. */
  readonly onWire = (bytes: number): void => {
    this.result.wireBytes += bytes;
  };

  constructor(
    readonly client: FerryApi<B>,
    options: TransferOptions,
  ) {
    // A call's own `parallel` is checked as the client's is (`parallel: 0` was quietly 1).
    this.parallel = options.parallel === undefined ? client.parallel : intBetween('parallel', options.parallel, 1, MAX_PARALLEL);
    this.slots = options.slots ?? new Semaphore(this.parallel);
    this.packBuffers = options.packBuffers ?? new PackBuffers(this.parallel);
    this.signaturesAhead = new SignaturesAhead(2 * this.parallel);
    this.progress = new ProgressTracker(options.onProgress);
    // Our own signal, linked to the caller's: every request of the operation listens to it,
    // far more than EventTarget's default of 10 listeners, which would warn.
    allowManyListeners(this.controller.signal);
    this.signal = this.controller.signal;
    const outer = options.signal;
    if (outer?.aborted) this.controller.abort(outer.reason);
    else outer?.addEventListener('abort', () => this.controller.abort(outer.reason), { once: true });
  }

  private readonly controller = new AbortController();
  /** Set by tree downloads: directories whose renames are made durable once, at the end. */
  dirsToSync?: Set<string>;
  /** Downloads: a local file already at a destination is never replaced (`--no-clobber`). */
  noOverwrite = false;
  readonly signal: AbortSignal;

  /** Stops every request of the operation (after a failure that dooms it). */
  abort(reason?: unknown): void {
    this.controller.abort(reason);
  }

  finish(): TransferResult {
    this.result.elapsedMs = Math.round(performance.now() - this.started);
    this.progress.finish();
    return this.result;
  }
}

/** A chunk the sender must deliver; `load` produces its bytes when a slot is free. */
interface SendItem {
  hash: string;
  size: number;
  /** Bytes, or (browsers) a Blob slice of the picked file, sent without being read into memory. */
  load: () => Promise<Uint8Array | Blob>;
  progress?: FileProgress;
  /** Called once the bytes are no longer needed (sent, or the sender failed). */
  release?: () => void;
  /**
   * The chunk as a zstd frame already made (the chunking workers'): sent in place of
   * compressing what `load` gives, where the chunk goes whole (not in a pack, not as a delta).
   */
  frame?: Uint8Array;
  /**
   * Called with the bytes `load` gave once the request that sent them succeeded (one PUT:
   * nothing reads them any more), so that their memory may be reused. Not called after a
   * failure, nor for chunks sent in packs (those are copied into the pack's body).
   */
  sent?: (data: Uint8Array | Blob) => void;
  /** The chunks this one replaces in the file's version on the server, for a delta (see FerryApi.putChunk). */
  base?: DeltaBase;
  /**
   * The PACK_FRAME_HEADER_BYTES before the bytes `load` gives, in their buffer, are free: the
   * pack may write its frame header there and, where the frames of a pack follow each other
   * in one buffer, be sent from it without a copy (a sync's groups of small files, read so).
   */
  framed?: boolean;
}

/**
 * Chunks sent in one request of chunk frames at most (feature `chunk-frames`). Each request
 * costs the server ~0.3 ms of HTTP handling, authentication and session lookup beside the
 * chunk's own work (benchmarks/results/issue-15-speed.md, bigput); four to a request take
 * three quarters of that off, and keep `parallel` requests' chunks in memory four times over.
 */
export const CHUNKS_PER_FRAMES_REQUEST = 4;

/**
 * Sends missing chunks of one upload session: chunks below `limits.packThreshold` are
 * gathered into packs (one request for many); the others go up to
 * {@link CHUNKS_PER_FRAMES_REQUEST} to a request of chunk frames where the server takes them
 * (feature `chunk-frames`), else one PUT each, as does a chunk sent as a delta. Requests take a
 * slot of the operation's semaphore before loading their bytes, so memory stays at about
 * `parallel` requests' chunks (plus one pack being filled) whatever the file size.
 *
 * The first failure stops the sender: {@link drain} rethrows it, and later `add` calls throw.
 */
export class ChunkSender {
  private readonly packThreshold: number;
  private readonly maxPackBytes: number;
  private pack: SendItem[] = [];
  private packBytes = 0;
  /** Whether whole chunks go several to a request, and the ones gathered for the next. */
  private readonly framesOn: boolean;
  private frames: SendItem[] = [];
  private framesBytes = 0;
  private readonly running = new Set<Promise<void>>();
  private failure?: unknown;
  /** Hashes already handed to this sender: a chunk repeated in a file is sent once. */
  private readonly seen = new Set<string>();
  /** Bytes loaded into memory or waiting in a pack, for callers that hold data (streams). */
  private heldBytes = 0;
  private readonly roomWaiters: Array<() => void> = [];

  /** Aborted at the first failure, so that the requests still running stop at once. */
  private readonly controller = new AbortController();
  private readonly signal: AbortSignal;

  constructor(
    private readonly ctx: TransferContext<Uint8Array>,
    private readonly uploadId: string,
    caps: Capabilities,
  ) {
    this.packThreshold = caps.limits.packThreshold;
    this.maxPackBytes = caps.limits.maxPackBytes;
    this.framesOn = ctx.client.chunkFrames && caps.features.includes('chunk-frames');
    this.signal = AbortSignal.any([ctx.signal, this.controller.signal]);
    allowManyListeners(this.signal);
  }

  /** Stops the sender (the caller failed elsewhere) and waits until no request runs. */
  async abandon(): Promise<void> {
    this.failure ??= ferryErrorOf('FERRY_ERR_ABORTED', 'upload abandoned');
    this.controller.abort();
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }

  /** Whether `hash` was already handed over (sent or on its way). */
  has(hash: string): boolean {
    return this.seen.has(hash);
  }

  /**
   * Queues a chunk. Returns false (and does nothing) when the same hash was queued before,
   * unless `force` (the server said at commit that it still lacks it).
   * `held`: the bytes are already in memory (stream uploads) and count against {@link waitForRoom}.
   */
  add(item: SendItem, options: { force?: boolean; held?: boolean } = {}): boolean {
    this.throwIfFailed();
    if (this.seen.has(item.hash) && !options.force) return false;
    this.seen.add(item.hash);
    if (options.held) {
      this.heldBytes += item.size;
      let released = false;
      item = {
        ...item,
        release: () => {
          if (released) return;
          released = true;
          this.heldBytes -= item.size;
          this.wakeRoomWaiters();
        },
      };
    }
    if (item.size < this.packThreshold && item.size + PACK_FRAME_HEADER_BYTES <= this.maxPackBytes) {
      if (this.packBytes + item.size + PACK_FRAME_HEADER_BYTES > this.maxPackBytes) this.closePack();
      this.pack.push(item);
      this.packBytes += item.size + PACK_FRAME_HEADER_BYTES;
    } else if (this.framesOn && !item.base) {
      this.addFrame(item);
    } else if (item.base) {
      const base = item.base;
      const ticket: DeltaTicket = { ask: () => this.ctx.client.deltaSignatures(item.size, base, this.signal) };
      this.ctx.signaturesAhead.add(ticket);
      this.start(() => this.sendOne(item, ticket));
    } else {
      this.start(() => this.sendOne(item));
    }
    return true;
  }

  /**
   * Gathers a whole chunk for a request of chunk frames. A group not full yet leaves once
   * the caller's synchronous run of `add` calls ends (a microtask), so no slot waits for
   * chunks the chunker has not cut yet.
   */
  private addFrame(item: SendItem): void {
    const bytes = item.size + CHUNK_FRAME_HEADER_BYTES;
    if (this.frames.length > 0 && this.framesBytes + bytes > this.maxPackBytes) this.closeFrames();
    if (this.frames.length === 0) queueMicrotask(() => this.closeFrames());
    this.frames.push(item);
    this.framesBytes += bytes;
    if (this.frames.length >= CHUNKS_PER_FRAMES_REQUEST) this.closeFrames();
  }

  private closeFrames(): void {
    if (this.frames.length === 0) return;
    const items = this.frames;
    this.frames = [];
    this.framesBytes = 0;
    this.start(() => (items.length === 1 ? this.sendOne(items[0]) : this.sendFrames(items)));
  }

  /** Resolves when less than `maxHeldBytes` of held data waits in this sender. */
  async waitForRoom(maxHeldBytes: number): Promise<void> {
    while (this.heldBytes > maxHeldBytes) {
      this.throwIfFailed();
      // a pack being filled would otherwise wait for more chunks that cannot come
      if (this.pack.length > 0) this.closePack();
      this.closeFrames();
      await new Promise<void>((resolve) => this.roomWaiters.push(resolve));
    }
    this.throwIfFailed();
  }

  /** Sends what is pending and waits for every request; rethrows the first failure. */
  async drain(): Promise<void> {
    this.closePack();
    this.closeFrames();
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
    this.throwIfFailed();
  }

  private throwIfFailed(): void {
    throwIfAborted(this.ctx.signal);
    if (this.failure !== undefined) throw this.failure;
  }

  private wakeRoomWaiters(): void {
    for (const w of this.roomWaiters.splice(0)) w();
  }

  private closePack(): void {
    if (this.pack.length === 0) return;
    const items = this.pack;
    this.pack = [];
    this.packBytes = 0;
    this.start(() => this.sendPack(items));
  }

  private start(job: () => Promise<void>): void {
    const p: Promise<void> = job()
      .catch((err) => {
        if (this.failure === undefined) {
          this.failure = err;
          this.controller.abort(); // the others are doomed too: stop them now
        }
      })
      .finally(() => {
        this.running.delete(p);
        this.wakeRoomWaiters();
      });
    this.running.add(p);
  }

  private async sendOne(item: SendItem, ticket?: DeltaTicket): Promise<void> {
    try {
      await this.ctx.slots.run(async () => {
        if (this.failure !== undefined) return;
        if (ticket) this.ctx.signaturesAhead.turnOf(ticket);
        if (item.frame && !item.base) {
          await this.ctx.client.putChunk(this.uploadId, item.hash, new ZstdChunk(item.frame, item.size), { signal: this.signal, onWire: this.ctx.onWire });
        } else {
          const data = await item.load();
          const delta = item.base ? { base: item.base, signatures: ticket?.signatures } : {};
          await this.ctx.client.putChunk(this.uploadId, item.hash, data, { signal: this.signal, onWire: this.ctx.onWire, ...delta });
          item.sent?.(data);
        }
        this.account([item]);
      }, this.signal);
    } finally {
      if (ticket) this.ctx.signaturesAhead.done(ticket);
      item.release?.();
    }
  }

  private async sendFrames(items: SendItem[]): Promise<void> {
    try {
      await this.ctx.slots.run(async () => {
        if (this.failure !== undefined) return;
        const loaded = await Promise.all(items.map((it) => (it.frame ? new ZstdChunk(it.frame, it.size) : it.load())));
        const chunks = items.map((it, i) => ({ hash: it.hash, data: loaded[i] }));
        await this.ctx.client.putChunkFrames(this.uploadId, chunks, { signal: this.signal, onWire: this.ctx.onWire });
        items.forEach((it, i) => {
          const data = loaded[i];
          if (!(data instanceof ZstdChunk)) it.sent?.(data);
        });
        this.account(items);
      }, this.signal);
    } finally {
      for (const it of items) it.release?.();
    }
  }

  private async sendPack(items: SendItem[]): Promise<void> {
    try {
      await this.ctx.slots.run(async () => {
        if (this.failure !== undefined) return;
        const { body, taken } = await packBody(items, (bytes) => this.ctx.packBuffers.take(bytes, this.maxPackBytes));
        await this.ctx.client.putPack(this.uploadId, body, { signal: this.signal, onWire: this.ctx.onWire });
        // Answered: the server read the whole body, nothing reads it any more.
        if (taken) this.ctx.packBuffers.give(body as Uint8Array);
        this.account(items);
      }, this.signal);
    } finally {
      for (const it of items) it.release?.();
    }
  }

  private account(items: SendItem[]): void {
    for (const it of items) {
      this.ctx.result.bytesTransferred += it.size;
      this.ctx.result.chunksTransferred += 1;
      this.ctx.progress.transferred(it.size);
      if (it.progress) it.progress.done(it.size);
      else this.ctx.progress.done(it.size);
    }
  }
}

/** A chunk going as a delta: how to ask for its bases' signatures (FerryApi.deltaSignatures), and their answer once asked. */
interface DeltaTicket {
  ask: () => Promise<Uint8Array[] | undefined>;
  signatures?: Promise<Uint8Array[] | undefined>;
}

/**
 * The deltas of one operation whose bases' signatures are asked for ahead of their turn
 * (ChunkSender): at most `most` asked and not yet sent, across every file of the operation,
 * in the order the deltas were queued. A delta's slot then finds its signatures come
 * (workload 8b: the server makes the next deltas' signatures while the client makes the
 * current deltas, instead of waiting for the client between groups), and the server keeps
 * the bases it read for them (ChunkStore.readBase, 32 MiB) for a few deltas, not a file's
 * worth. A delta whose turn comes first asks then, whatever the count: none waits on another.
 */
export class SignaturesAhead {
  private readonly waiting: DeltaTicket[] = [];
  private out = 0;

  constructor(private readonly most: number) {}

  /** Queues a delta; its signatures are asked for at once while fewer than `most` are. */
  add(ticket: DeltaTicket): void {
    this.waiting.push(ticket);
    this.askNext();
  }

  /** The delta's turn came (it has a slot): its signatures are asked for now if they were not. */
  turnOf(ticket: DeltaTicket): void {
    if (ticket.signatures !== undefined) return;
    this.forget(ticket);
    this.ask(ticket);
  }

  /** The delta is done with (sent, sent whole, or failed): the next in line may ask. */
  done(ticket: DeltaTicket): void {
    if (ticket.signatures === undefined) {
      this.forget(ticket);
      return;
    }
    this.out--;
    this.askNext();
  }

  private askNext(): void {
    while (this.out < this.most && this.waiting.length > 0) this.ask(this.waiting.shift()!);
  }

  private ask(ticket: DeltaTicket): void {
    this.out++;
    ticket.signatures = ticket.ask();
    // Awaited by the chunk's putChunk; a failure before then is its failure, not an unhandled one.
    ticket.signatures.catch(() => {});
  }

  private forget(ticket: DeltaTicket): void {
    const i = this.waiting.indexOf(ticket);
    if (i !== -1) this.waiting.splice(i, 1);
  }
}

/**
 * The body of a pack: frames `32-byte hash | u32 BE size | data`. Where the chunks are
 * `framed` and follow each other in one buffer with room for a header before each, that
 * buffer's span (the headers written in place, `taken` false); else one buffer from `alloc`
 * when every chunk is in memory (`taken`); else a Blob of the frames' parts when some are Blob
 * slices of a picked file (the browser then streams them from the file, nothing is copied here).
 */
async function packBody(items: readonly SendItem[], alloc: (bytes: number) => Uint8Array): Promise<{ body: Uint8Array | Blob; taken: boolean }> {
  const loaded = await Promise.all(items.map((it) => it.load()));
  for (let i = 0; i < items.length; i++) {
    const n = loaded[i] instanceof Uint8Array ? (loaded[i] as Uint8Array).length : (loaded[i] as Blob).size;
    if (n !== items[i].size) throw ferryErrorOf('FERRY_ERR_SIZE_MISMATCH', `chunk ${items[i].hash}: expected ${items[i].size} bytes, read ${n}`);
  }
  const header = (it: SendItem, into: Uint8Array, at: number): void => {
    fromHex(it.hash, into, at);
    new DataView(into.buffer, into.byteOffset + at + 32, 4).setUint32(0, it.size);
  };
  let total = 0;
  for (const it of items) total += PACK_FRAME_HEADER_BYTES + it.size;
  const span = framesInPlace(items, loaded, total);
  if (span) {
    let o = 0;
    for (const it of items) {
      header(it, span, o);
      o += PACK_FRAME_HEADER_BYTES + it.size;
    }
    return { body: span, taken: false };
  }
  if (loaded.every((d) => d instanceof Uint8Array)) {
    const body = alloc(total);
    let o = 0;
    for (let i = 0; i < items.length; i++) {
      header(items[i], body, o);
      body.set(loaded[i] as Uint8Array, o + PACK_FRAME_HEADER_BYTES);
      o += PACK_FRAME_HEADER_BYTES + items[i].size;
    }
    return { body, taken: true };
  }
  const parts: Array<Uint8Array<ArrayBuffer> | Blob> = [];
  for (let i = 0; i < items.length; i++) {
    const h = new Uint8Array(PACK_FRAME_HEADER_BYTES);
    header(items[i], h, 0);
    parts.push(h, loaded[i] as Uint8Array<ArrayBuffer> | Blob);
  }
  return { body: new Blob(parts), taken: false };
}

/**
 * The span of one buffer that holds the pack's frames once their headers are written before
 * each chunk, or undefined: every chunk must be `framed` (its header's room is free) and
 * each start right after the room following the one before.
 */
function framesInPlace(items: readonly SendItem[], loaded: ReadonlyArray<Uint8Array | Blob>, total: number): Uint8Array | undefined {
  const first = loaded[0];
  if (!(first instanceof Uint8Array) || first.byteOffset < PACK_FRAME_HEADER_BYTES) return undefined;
  let next = first.byteOffset;
  for (let i = 0; i < items.length; i++) {
    const d = loaded[i];
    if (items[i].framed !== true || !(d instanceof Uint8Array) || d.buffer !== first.buffer || d.byteOffset !== next) return undefined;
    next = d.byteOffset + d.length + PACK_FRAME_HEADER_BYTES;
  }
  return new Uint8Array(first.buffer, first.byteOffset - PACK_FRAME_HEADER_BYTES, total);
}

/**
 * Buffers for the bodies of packs, reused from one pack to the next: a fresh buffer of
 * ~12 MiB costs its page faults again at every pack (copying 28 packs' 333 MB: 75-155 ms of
 * CPU into fresh buffers, 30-34 ms into one reused; benchmarks/results/issue-15-speed.md,
 * branch walbatch). A body is given back only once its request was answered.
 */
export class PackBuffers {
  private readonly free: Uint8Array[] = [];

  constructor(private readonly keep: number) {}

  /** A buffer of exactly `bytes` (its contents undefined), from a kept one of at least `capacity` bytes where one is free. */
  take(bytes: number, capacity: number): Uint8Array {
    const i = this.free.findIndex((b) => b.length >= bytes);
    if (i >= 0) return this.free.splice(i, 1)[0].subarray(0, bytes);
    // Every byte is written by the caller: no need to zero it first where Node's Buffer exists.
    const size = Math.max(bytes, capacity);
    return (typeof Buffer === 'function' ? Buffer.allocUnsafeSlow(size) : new Uint8Array(size)).subarray(0, bytes);
  }

  /** Gives back a body {@link take} gave, once nothing reads it; kept unless `keep` are already. */
  give(body: Uint8Array): void {
    if (this.free.length >= this.keep || body.byteOffset !== 0) return;
    this.free.push(new Uint8Array(body.buffer, 0, body.buffer.byteLength));
  }

  /** Buffers kept now, for tests. */
  get kept(): number {
    return this.free.length;
  }
}

/**
 * The files of a tree transfer that failed: each is told to `onFileError` and the others go
 * on; at the end the transfer throws one error naming how many failed (aborts go up at once).
 */
export class TreeFailures {
  private readonly failed: Array<{ path: string; err: unknown }> = [];

  constructor(
    private readonly signal: AbortSignal,
    private readonly onFileError?: (path: string, err: unknown) => void,
  ) {}

  add(path: string, err: unknown): void {
    if (isFerryError(err, 'FERRY_ERR_ABORTED') || this.signal.aborted) throw err;
    this.failed.push({ path, err });
    this.onFileError?.(path, err);
  }

  /**
   * The result, or (some failed) an error with the code of the first failure, and the result
   * and every failure's code (`failedCodes`) in its details; `of` things were tried (`3 of 10 files failed`).
   */
  settle(result: TransferResult, of: number, noun = 'file', plural?: string): TransferResult {
    if (this.failed.length === 0) return result;
    const { path, err } = this.failed[0];
    const code = isFerryError(err) ? err.code : 'FERRY_ERR_INTERNAL';
    throw ferryErrorOf(code, `${this.failed.length} of ${countOf(of, noun, plural)} failed; first: ${escapeControls(`${path}: ${err instanceof Error ? err.message : String(err)}`)}`, {
      cause: err,
      // Every failure's code (the CLI's exit code is theirs when they share one).
      details: { failed: this.failed.length, failedCodes: [...new Set(this.failed.map((f) => (isFerryError(f.err) ? f.err.code : 'FERRY_ERR_INTERNAL')))], result },
    });
  }
}

/** Whether an error means the upload session is gone (expired, or lost by the server). */
export function isSessionLost(err: unknown): boolean {
  return isFerryError(err, 'FERRY_ERR_UPLOAD_NOT_FOUND');
}
