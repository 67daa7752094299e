/**
 * Chunks a file on disk: cut points by the WebAssembly FastCDC kernel, SHA-256 by
 * node:crypto, reads straight into the kernel's memory, and for large files several worker
 * threads, each chunking its own segment of the file.
 *
 * Parallel chunking gives exactly the records a sequential run gives. Each segment is
 * chunked as if the file began there, and the worker of a segment goes on past its end
 * until its cuts meet the cuts of the chunking started at that end (segment-chunker.ts).
 * A content-defined cut depends only on where its chunk starts, so from the meeting point
 * on the next segment's records are the sequential ones; the next segment's records before
 * it are dropped here. Typically the chunkings meet within two or three average chunks,
 * so a 256 MiB segment does about 1% of its work twice.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { existsSync, read } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Worker } from 'node:worker_threads';
import {
  AbortedError,
  FerryError,
  ferryErrorOf,
  InternalError,
  ValidationError,
  fromSystemError,
  isErrorCode,
  throwIfAborted,
} from '../core/errors.js';
import type { ChunkingParams } from '../core/manifest.js';
import { CdcKernel, cdcParamsOf } from './cdc-kernel.js';
import { ChunkGuide } from './chunk-guide.js';
import { ChunkWorkerPool } from './chunk-worker-pool.js';
import { FRAMES_CURRENT, FRAMES_HELD, FRAMES_STOP, FRAMES_VERSION, type SegmentTask, type SerializedError, type WorkerMessage } from './chunk-worker.js';
import type { CdcParams } from './fastcdc.js';
import { SegmentChunker, type ChunkFrame, type ChunkRecord } from './segment-chunker.js';

export type { ChunkFrame, ChunkRecord } from './segment-chunker.js';

export interface ChunkFileOptions {
  /** Aborting stops the workers, closes the file and makes the iteration throw FERRY_ERR_ABORTED. */
  signal?: AbortSignal;
  /**
   * Worker threads for files of at least `parallelThreshold` bytes; 0 chunks every file in
   * the calling thread. Default: the available parallelism, at most 4.
   */
  workers?: number;
  /** Called with the bytes a batch covers, just before the batch is yielded (progress). */
  onBytes?: (n: number) => void;
  /** Files smaller than this are chunked in the calling thread (a worker costs ~30 ms to start). Default 32 MiB. */
  parallelThreshold?: number;
  /** Tuning and tests: the segment size for parallel chunking (default: see `segmentCount`). */
  segmentSize?: number;
  /**
   * The chunks of the file's previous version (the server's copy): where they still match,
   * they are hashed in place of being cut (chunk-guide.ts). The records are the same.
   */
  guide?: readonly { hash: string; size: number }[];
  /**
   * Worker threads also compress each chunk they cut (zstd level 3 where a sample says it
   * pays, as compressChunk decides) and give the frame with its record (`frame`): the
   * consumer sends it as it is, and its thread neither reads nor compresses that chunk.
   * The consumer must release every frame it gets (sent, or not to be sent): at most about
   * twice {@link compressHeldBytes} of unreleased frames exist, and workers wait for room.
   * Chunking in the calling thread (small files, pipes) gives no frames.
   */
  compress?: boolean;
  /** Tuning and tests: frame bytes held ahead of the consumer before workers wait (default 16 MiB). */
  compressHeldBytes?: number;
  /** Tests: told the frame bytes made and not yet released each time a worker's frames arrive. */
  onFramesHeld?: (bytes: number) => void;
}

const MiB = 1024 * 1024;
export const DEFAULT_PARALLEL_THRESHOLD = 32 * MiB;
const DEFAULT_COMPRESS_HELD_BYTES = 16 * MiB;

/** Data area of a file kernel: large reads (fewer syscalls and moves), a few × maxSize. */
export function fileBufferSize(maxSize: number): number {
  return roundUp(Math.max(4 * maxSize, 16 * MiB), 64 * 1024);
}

function roundUp(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

/**
 * How many segments a parallel run splits a file into: segments of at most 4096 average
 * chunks (256 MiB for the defaults), which bounds the records held for segments finished
 * ahead of their turn; a multiple of the worker count, so that each worker gets as much to
 * do; and segments of at least 16 average chunks, since each segment boundary costs a
 * resynchronization (about 2.5 average chunks hashed twice).
 *
 * `guided`: with a chunk guide, segments start where a guide chunk does, which costs no
 * resynchronization while the file is unchanged there; then they are of at most 16 maximum
 * chunks (64 MiB): a worker that finishes early (the other shares its core with some other
 * process) waits less for the last segment.
 */
export function segmentCount(size: number, workers: number, p: CdcParams, guided = false): number {
  if (workers <= 1) return 1;
  const largest = guided ? 16 * p.maxSize : Math.max(Math.min(256 * MiB, 4096 * p.avgSize), 16 * p.maxSize);
  const count = Math.ceil(Math.ceil(size / largest) / workers) * workers;
  return Math.max(1, Math.min(count, Math.floor(size / (16 * p.avgSize))));
}

/**
 * The chunks of the file at `path`, as batches of records in file order that together
 * cover the file exactly (an empty file yields no batch). Memory stays bounded whatever the
 * file size: one data area of {@link fileBufferSize} per thread, plus the records of a
 * few segments.
 *
 * The file's size is taken when it is opened; bytes appended later are ignored, and a
 * file that shrinks meanwhile fails with FERRY_ERR_IO. Files that are not regular (pipes,
 * devices) are read to their end in the calling thread.
 *
 * Errors are FerryErrors: FERRY_ERR_NOT_FOUND for a missing file, FERRY_ERR_IS_A_DIRECTORY,
 * FERRY_ERR_PERMISSION, FERRY_ERR_ABORTED, FERRY_ERR_VALIDATION for bad parameters, ...
 */
export function chunkFile(path: string, params: ChunkingParams, options: ChunkFileOptions = {}): AsyncIterable<ChunkRecord[]> {
  return chunkFileBatches(path, params, options);
}

/**
 * Starts the worker threads a {@link chunkFile} of a file of `size` bytes will use, if it
 * uses any, without waiting for them: for a caller that has requests to make first.
 */
export function warmChunkWorkers(size: number, options: Pick<ChunkFileOptions, 'workers' | 'parallelThreshold'> = {}): void {
  const workers = workerCount(options);
  if (workers > 0 && size >= (options.parallelThreshold ?? DEFAULT_PARALLEL_THRESHOLD)) pool.warm(workers);
}

function workerCount(options: Pick<ChunkFileOptions, 'workers'>): number {
  return options.workers ?? Math.min(availableParallelism(), 4);
}

async function* chunkFileBatches(path: string, params: ChunkingParams, options: ChunkFileOptions): AsyncGenerator<ChunkRecord[]> {
  const { signal, onBytes } = options;
  throwIfAborted(signal);
  const cdc = cdcParamsOf(params);
  const workers = workerCount(options);
  if (!(Number.isInteger(workers) && workers >= 0)) throw new ValidationError(`workers must be a non-negative integer, not ${workers}`);
  let fh: FileHandle | undefined;
  try {
    fh = await open(path, 'r');
    const stat = await fh.stat();
    // A pipe or device has no size to split by: read it to its end.
    const size = stat.isFile() ? stat.size : Infinity;
    if (size === 0) return;
    const threshold = options.parallelThreshold ?? DEFAULT_PARALLEL_THRESHOLD;
    const guide = size === Infinity ? undefined : guideOf(options.guide, cdc);
    const batches =
      workers === 0 || size < threshold || size === Infinity
        ? chunkInThread(readerOfFh(fh), size, cdc, signal, guide)
        : chunkInWorkers(fh.fd, size, cdc, workers, options, guide);
    for await (const batch of batches) {
      onBytes?.(batchBytes(batch));
      yield batch;
      throwIfAborted(signal);
    }
  } catch (err) {
    throw fromSystemError(err, path);
  } finally {
    await fh?.close();
  }
}

/**
 * The guide to chunk by, if `chunks` can be one: sizes that these parameters could have cut
 * (a chunk list cut with other parameters mostly cannot; see chunk-guide.ts for the rest).
 */
function guideOf(chunks: ChunkFileOptions['guide'], p: CdcParams): ChunkGuide | undefined {
  if (!chunks || chunks.length === 0) return undefined;
  for (let i = 0; i < chunks.length; i++) {
    const size = chunks[i].size;
    if (!(Number.isInteger(size) && size <= p.maxSize && (size >= p.minSize || (i === chunks.length - 1 && size >= 1)))) return undefined;
  }
  return new ChunkGuide(
    chunks.map((c) => c.size),
    chunks.map((c) => c.hash),
  );
}

function batchBytes(batch: ChunkRecord[]): number {
  const last = batch[batch.length - 1];
  return last.offset + last.size - batch[0].offset;
}

/**
 * Idle kernels for in-thread chunking, by parameters and data size. Creating a kernel (a
 * WebAssembly memory and instance) costs about 40 µs, more than chunking a small file,
 * and a sync of many small files chunks them one after another.
 */
const idleKernels = new Map<string, CdcKernel[]>();
let idleBytes = 0;
const IDLE_BYTES_LIMIT = 64 * MiB;

function kernelKey(p: CdcParams, dataSize: number): string {
  return `${p.minSize}/${p.avgSize}/${p.maxSize}/${p.normalization}/${dataSize}`;
}

function acquireKernel(p: CdcParams, dataSize: number): CdcKernel {
  const kernel = idleKernels.get(kernelKey(p, dataSize))?.pop();
  if (!kernel) return new CdcKernel(p, dataSize);
  idleBytes -= dataSize;
  return kernel;
}

function releaseKernel(p: CdcParams, kernel: CdcKernel): void {
  const size = kernel.data.length;
  if (idleBytes + size > IDLE_BYTES_LIMIT) return;
  const key = kernelKey(p, size);
  const list = idleKernels.get(key) ?? [];
  if (list.length >= 2) return;
  list.push(kernel);
  idleKernels.set(key, list);
  idleBytes += size;
}

/** Reads `length` bytes at file `position` (null: where a pipe stands) into `buffer[offset...]`; resolves the bytes read. */
type ReadAt = (buffer: Uint8Array, offset: number, length: number, position: number | null) => Promise<number>;

function readerOfFh(fh: FileHandle): ReadAt {
  return async (buffer, offset, length, position) => (await fh.read(buffer, offset, length, position)).bytesRead;
}

function readerOfFd(fd: number): ReadAt {
  return (buffer, offset, length, position) => new Promise((resolve, reject) => read(fd, buffer, offset, length, position, (err, n) => (err ? reject(err) : resolve(n))));
}

/**
 * The chunks of bytes already in memory (a small file read whole): the records
 * {@link chunkFile} gives for a file holding them, in the calling thread, synchronously.
 * The bytes are copied into an idle kernel's data area and the kernel is handed back before
 * this returns, so uploads that chunk many small files at once share a kernel or two
 * instead of each making a data area of its file's size.
 */
export function chunkBytes(data: Uint8Array, params: ChunkingParams): ChunkRecord[] {
  const cdc = cdcParamsOf(params);
  const size = data.length;
  const records: ChunkRecord[] = [];
  if (size === 0) return records;
  const kernel = acquireKernel(cdc, dataAreaSize(cdc, size));
  try {
    const chunker = new SegmentChunker(kernel, 0, size, size, undefined);
    for (;;) {
      chunker.process(records);
      if (chunker.done) return records;
      const r = chunker.nextRead();
      kernel.data.set(data.subarray(r.position, r.position + r.length), r.offset);
      chunker.fed(r.length);
    }
  } finally {
    releaseKernel(cdc, kernel);
  }
}

/**
 * A data area just big enough for `bytes` to be read in one go (in powers of two, so that
 * idle kernels fit the next file), at most {@link fileBufferSize}.
 */
function dataAreaSize(cdc: CdcParams, bytes: number): number {
  return Math.min(fileBufferSize(cdc.maxSize), 2 ** Math.ceil(Math.log2(Math.max(bytes, 64 * 1024))));
}

/**
 * Async reads, so that a slow disk does not block the event loop; hashing does, briefly.
 * From `start` (a cut) to the end of the file.
 */
async function* chunkInThread(readAt: ReadAt, size: number, cdc: CdcParams, signal: AbortSignal | undefined, guide: ChunkGuide | undefined, start = 0): AsyncGenerator<ChunkRecord[]> {
  const kernel = acquireKernel(cdc, dataAreaSize(cdc, size - start));
  try {
    const chunker = new SegmentChunker(kernel, start, size, size, guide);
    for (;;) {
      const records: ChunkRecord[] = [];
      chunker.process(records);
      if (records.length > 0) yield records;
      if (chunker.done) return;
      throwIfAborted(signal);
      const r = chunker.nextRead();
      // A pipe cannot seek: read it from where it is (reads follow each other anyway).
      const bytesRead = await readAt(kernel.data, r.offset, r.length, size === Infinity ? null : r.position);
      throwIfAborted(signal);
      chunker.fed(bytesRead);
    }
  } finally {
    releaseKernel(cdc, kernel);
  }
}

/**
 * Where the worker script is: next to this module when it runs compiled, and the compiled
 * copy in dist/ when this module runs from its TypeScript source (vitest), because a
 * worker thread cannot load TypeScript.
 */
export function workerUrl(): URL {
  const here = import.meta.url;
  if (!here.endsWith('.ts')) return new URL('./chunk-worker.js', here);
  const compiled = here.replace(/\/src\/algo\/[^/]+\.ts$/, '/dist/src/algo/chunk-worker.js');
  if (compiled === here || !existsSync(fileURLToPath(compiled))) {
    throw new InternalError(`the compiled chunk worker is missing (${compiled}): run npm run build`);
  }
  return new URL(compiled);
}

interface SegmentState {
  start: number;
  end: number;
  batches: ChunkRecord[][];
  done: boolean;
  endOffset: number;
}

function deserializeError(e: SerializedError): FerryError {
  if (isErrorCode(e.code)) return ferryErrorOf(e.code, e.message);
  return fromSystemError(Object.assign(new Error(e.message), e.code === undefined ? {} : { code: e.code }));
}

const pool = new ChunkWorkerPool(workerUrl);
let runs = 0;

/** A worker lent by the pool to one chunking run. */
interface Hand {
  worker: Worker;
  /** A task was sent and neither `done` nor `error` came back yet. */
  busy: boolean;
  /** Terminated by us, or died: not to be handed back to the pool. */
  gone: boolean;
  /** The run's guide went to this worker already. */
  guided: boolean;
  detach: () => void;
}

/**
 * One file chunked by workers, segment by segment: the workers chunk segments ahead, the
 * records are handed out in file order. The state the workers' callbacks and the consuming
 * generator share.
 */
class WorkerChunking {
  readonly segments: (SegmentState | undefined)[] = [];
  readonly hands: Hand[] = [];
  readonly stopping: Promise<void>[] = [];
  failure: FerryError | undefined;
  private released = false;
  private wake: (() => void) | undefined;
  /** The segment being yielded, and the next one to send to a worker. */
  current = 0;
  private nextToSend = 0;
  private readonly dataSize: number;
  /** Names this run to the workers (which keep the last run's guide). */
  private readonly run = ++runs;
  /** With `compress`: the frames' budget the workers share (chunk-worker.ts, waitForRoom). */
  private readonly frames: SegmentTask['frames'];
  private readonly held: Int32Array | undefined;

  constructor(
    private readonly fd: number,
    private readonly size: number,
    private readonly cdc: CdcParams,
    segmentSize: number,
    private readonly guide: ChunkGuide | undefined,
    compressHeldBytes?: number,
    private readonly onFramesHeld?: (bytes: number) => void,
  ) {
    // With a guide, segments start where one of its chunks does: while the file is unchanged
    // up to there, the previous segment's last chunk ends right there (no resynchronization).
    const starts = [0];
    for (let i = 1; i * segmentSize < size; i++) {
      const at = guide ? guide.offsetOf(guide.chunkAt(i * segmentSize)) : i * segmentSize;
      if (at > starts[starts.length - 1] && at < size) starts.push(at);
    }
    for (let i = 0; i < starts.length; i++) {
      this.segments.push({ start: starts[i], end: i + 1 < starts.length ? starts[i + 1] : size, batches: [], done: false, endOffset: 0 });
    }
    this.dataSize = fileBufferSize(cdc.maxSize);
    if (compressHeldBytes !== undefined) {
      const shared = new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT * (FRAMES_HELD + this.segments.length));
      this.frames = { shared, cap: compressHeldBytes };
      this.held = new Int32Array(shared);
    }
  }

  /** Moves on to the next segment (the workers' budget follows the consumer). */
  advance(): void {
    this.segments[this.current] = undefined;
    this.current++;
    if (this.held) this.tellWorkers(FRAMES_CURRENT, this.current);
    this.dispatch();
  }

  private tellWorkers(slot: number, value: number): void {
    const held = this.held!;
    Atomics.store(held, slot, value);
    Atomics.add(held, FRAMES_VERSION, 1);
    Atomics.notify(held, FRAMES_VERSION);
  }

  /** A frame a worker made for segment `index`, counted until released. */
  private lease(index: number, bytes: Uint8Array): ChunkFrame {
    const held = this.held!;
    let released = false;
    return {
      bytes,
      release: () => {
        if (released) return;
        released = true;
        Atomics.sub(held, FRAMES_HELD + index, bytes.length);
        Atomics.add(held, FRAMES_VERSION, 1);
        Atomics.notify(held, FRAMES_VERSION);
      },
    };
  }

  private heldBytes(): number {
    let total = 0;
    for (let i = FRAMES_HELD; i < this.held!.length; i++) total += Atomics.load(this.held!, i);
    return total;
  }

  /** No worker waits for frames to be released any more (the run failed or ended). */
  private stopWaiting(): void {
    if (this.held) this.tellWorkers(FRAMES_STOP, 1);
  }

  notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  /** Resolves at the next message (or failure). */
  next(): Promise<void> {
    return new Promise<void>((resolve) => (this.wake = resolve));
  }

  fail(err: FerryError): void {
    this.failure ??= err;
    this.stopWaiting();
    this.notify();
  }

  /**
   * Busy workers cannot be interrupted (they read and hash synchronously): ending one means
   * terminating its thread; idle ones go back to the pool.
   */
  stopBusy(): void {
    for (const h of this.hands) {
      if (h.busy && !h.gone) {
        h.gone = true;
        h.detach();
        this.stopping.push(pool.discard(h.worker));
      }
    }
  }

  /**
   * Segments are handed out in order and at most one per worker ahead of the one being
   * yielded: that bounds the records waiting in memory when the consumer is slow.
   */
  dispatch(): void {
    for (const h of this.hands) {
      if (this.failure !== undefined || this.nextToSend >= this.segments.length || this.nextToSend > this.current + this.hands.length) return;
      if (h.busy) continue;
      const seg = this.segments[this.nextToSend]!;
      const task: SegmentTask = { type: 'segment', index: this.nextToSend, fd: this.fd, params: this.cdc, dataSize: this.dataSize, start: seg.start, end: seg.end, fileSize: this.size };
      const g = this.guide;
      if (g) {
        task.guide = h.guided ? { run: this.run } : { run: this.run, sizes: [...g.sizes], hashes: [...g.hashes] };
        h.guided = true;
      }
      if (this.frames) task.frames = this.frames;
      h.busy = true;
      h.worker.postMessage(task);
      this.nextToSend++;
    }
  }

  /** Takes a worker from the pool and listens to it. */
  attach(): void {
    const worker = pool.acquire();
    const hand: Hand = { worker, busy: false, gone: false, guided: false, detach: () => {} };
    const onMessage = (m: WorkerMessage) => {
      if (m.type !== 'records') hand.busy = false;
      if (m.type === 'error') return this.fail(deserializeError(m.error));
      const seg = this.segments[m.index];
      if (!seg) return this.fail(new InternalError(`chunk worker answered for segment ${m.index}, already released`));
      if (m.type === 'records') {
        if (m.frames) {
          m.frames.forEach((f, i) => f && (m.records[i].frame = this.lease(m.index, f)));
          this.onFramesHeld?.(this.heldBytes());
        }
        seg.batches.push(m.records);
      }
      else {
        seg.done = true;
        seg.endOffset = m.endOffset;
        this.dispatch();
      }
      this.notify();
    };
    const onError = (err: Error) => {
      hand.gone = true;
      this.fail(fromSystemError(err, 'chunk worker'));
    };
    const onExit = (code: number) => {
      hand.gone = true;
      this.fail(new InternalError(`chunk worker exited unexpectedly (code ${code})`));
    };
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
    hand.detach = () => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
    };
    this.hands.push(hand);
  }

  /** Gives the workers back (idle) or ends them (busy); resolves once none can read the descriptor. Idempotent. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    this.stopWaiting();
    this.stopBusy();
    for (const h of this.hands) {
      h.detach();
      if (!h.busy && !h.gone) pool.release(h.worker);
      else if (!h.gone) this.stopping.push(pool.discard(h.worker));
    }
    await Promise.allSettled(this.stopping);
  }
}

/** The records at or after `pos`; the frames of those before (replaced by the previous segment's chunker) are released. */
function recordsFrom(batch: ChunkRecord[], pos: number): ChunkRecord[] {
  const out: ChunkRecord[] = [];
  for (const r of batch) {
    if (r.offset >= pos) out.push(r);
    else r.frame?.release();
  }
  return out;
}

async function* chunkInWorkers(
  fd: number,
  size: number,
  cdc: CdcParams,
  workerCount: number,
  options: ChunkFileOptions,
  guide: ChunkGuide | undefined,
): AsyncGenerator<ChunkRecord[]> {
  const { signal } = options;
  throwIfAborted(signal);
  const segmentSize = options.segmentSize ?? Math.ceil(size / segmentCount(size, workerCount, cdc, guide !== undefined));
  if (!(Number.isSafeInteger(segmentSize) && segmentSize > 0)) throw new ValidationError(`segmentSize must be a positive integer, not ${segmentSize}`);
  const held = options.compress ? (options.compressHeldBytes ?? DEFAULT_COMPRESS_HELD_BYTES) : undefined;
  if (held !== undefined && !(Number.isSafeInteger(held) && held > 0)) throw new ValidationError(`compressHeldBytes must be a positive integer, not ${held}`);
  const run = new WorkerChunking(fd, size, cdc, segmentSize, guide, held, options.onFramesHeld);
  const { segments } = run;
  const onAbort = () => {
    run.fail(new AbortedError('aborted', { cause: signal?.reason }));
    run.stopBusy();
  };
  signal?.addEventListener('abort', onAbort, { once: true });

  try {
    for (let i = 0; i < Math.min(workerCount, segments.length); i++) run.attach();
    run.dispatch();

    // `pos` is how far the output reaches. A segment's records before `pos` are those the
    // previous segment's chunker replaced while resynchronizing; its first record at or
    // after `pos` must start exactly there.
    let pos = 0;
    let lost = false;
    while (run.current < segments.length && !lost) {
      if (run.failure) throw run.failure;
      const seg = segments[run.current]!;
      // What the workers have ready goes as one batch: a consumer that lags behind them (a
      // request per batch) catches up.
      const batch = seg.batches.length > 1 ? seg.batches.splice(0).flat() : seg.batches.shift();
      if (batch) {
        const out = batch[0].offset < pos ? recordsFrom(batch, pos) : batch;
        if (out.length === 0) continue;
        if (out[0].offset !== pos) {
          if (!guide) throw new InternalError(`parallel chunking lost sync: segment ${run.current} has a chunk at ${out[0].offset}, expected ${pos}`);
          lost = true;
          continue;
        }
        const last = out[out.length - 1];
        pos = last.offset + last.size;
        yield out;
      } else if (seg.done) {
        if (seg.endOffset > pos) {
          if (!guide) throw new InternalError(`parallel chunking left a gap at ${pos} in segment ${run.current}`);
          lost = true;
          continue;
        }
        run.advance();
      } else {
        await run.next();
      }
    }
    if (run.failure) throw run.failure;
    if (lost) {
      // Guided chunkings meet where plain ones would unless the guide was cut with other
      // parameters and slipped past the checks (chunk-guide.ts): then the rest is chunked
      // here, from the last cut handed out.
      await run.release();
      yield* chunkInThread(readerOfFd(fd), size, cdc, signal, guide, pos);
      return;
    }
    if (pos !== size) throw new InternalError(`parallel chunking covered ${pos} of ${size} bytes`);
  } finally {
    signal?.removeEventListener('abort', onAbort);
    // The descriptor is shared with the workers: the caller closes it only once none of
    // them can read it any more.
    await run.release();
  }
}
