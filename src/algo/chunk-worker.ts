/**
 * Worker thread of `chunkFile`: chunks the segments the main thread sends it, one at a
 * time, and streams the records back.
 *
 * Reads are blocking (`readSync`) on purpose: the worker has nothing else to do while it
 * waits, and a blocking read avoids a round trip through libuv's thread pool, whose threads
 * would compete with the two workers for the same two cores. The file descriptor is the
 * main thread's (descriptors belong to the process), so every worker reads the same file
 * even if its path is replaced meanwhile; the main thread closes it only once no worker
 * can still read it (all idle, or terminated).
 *
 * Loaded as compiled JavaScript (`dist/src/algo/chunk-worker.js`) in every case, also when
 * the caller runs from TypeScript sources under vitest: see `workerUrl` in chunk-file.ts.
 */
import { readSync } from 'node:fs';
import { isMainThread, parentPort } from 'node:worker_threads';
import { FerryError, InternalError } from '../core/errors.js';
import { CdcKernel } from './cdc-kernel.js';
import { ChunkGuide } from './chunk-guide.js';
import type { CdcParams } from './fastcdc.js';
import { SegmentChunker, type ChunkRecord } from './segment-chunker.js';
import { compressChunk } from './zstd-chunk.js';

/**
 * The zstd frames a run's workers hold ahead of the consumer, in an Int32Array over shared
 * memory: the slots below, then one count of unreleased frame bytes per segment.
 */
export const FRAMES_STOP = 0;
/** The segment the consumer takes records from. */
export const FRAMES_CURRENT = 1;
/** Bumped (and notified) by the main thread whenever anything above or a count changes. */
export const FRAMES_VERSION = 2;
export const FRAMES_HELD = 3;

/** How long a waiting worker sleeps before it looks again (a missed notify costs no more). */
const FRAMES_WAIT_MS = 50;

/** Main thread -> worker: chunk one segment of an open file. */
export interface SegmentTask {
  type: 'segment';
  index: number;
  /** Open file descriptor, owned by the main thread. */
  fd: number;
  params: CdcParams;
  /** Size of the kernel's data area (the worker keeps its kernel while these do not change). */
  dataSize: number;
  start: number;
  /** End of the segment; equal to fileSize for the last one. */
  end: number;
  fileSize: number;
  /**
   * The chunking run's guide (chunk-guide.ts), if it has one: its chunks come with a
   * worker's first task of the run only; later tasks name the run.
   */
  guide?: { run: number; sizes?: number[]; hashes?: string[] };
  /**
   * Compress each record's chunk (zstd level 3, as compressChunk) and send the frame with
   * it. `cap`: frame bytes held ahead of the consumer (see {@link waitForRoom}).
   */
  frames?: { shared: SharedArrayBuffer; cap: number };
}

/** An error as it crosses the thread boundary (class and custom fields do not survive cloning). */
export interface SerializedError {
  message: string;
  /** A FerryError code or a Node.js system error code (ENOENT, EIO, ...). */
  code?: string;
}

/** Worker -> main thread. `records` messages of a segment come in file order, then `done`. */
export type WorkerMessage =
  | { type: 'records'; index: number; records: ChunkRecord[]; frames?: (Uint8Array | undefined)[] }
  | { type: 'done'; index: number; endOffset: number }
  | { type: 'error'; index: number; error: SerializedError };

function serializeError(err: unknown): SerializedError {
  if (err instanceof FerryError) return { message: err.message, code: err.code };
  const e = err as NodeJS.ErrnoException | undefined;
  return { message: e?.message ?? String(err), ...(typeof e?.code === 'string' ? { code: e.code } : {}) };
}

type Post = (m: WorkerMessage, transfer?: ArrayBuffer[]) => void;

/**
 * The records' chunks as zstd frames, each in memory of its own (the frames are transferred:
 * a view of a larger buffer would take the whole buffer along), counted against the budget.
 */
function postWithFrames(chunker: SegmentChunker, task: SegmentTask, records: ChunkRecord[], post: Post): void {
  const held = new Int32Array(task.frames!.shared);
  const frames: (Uint8Array | undefined)[] = [];
  const transfer: ArrayBuffer[] = [];
  let bytes = 0;
  for (const r of records) {
    let f: Uint8Array | undefined = compressChunk(chunker.bytesAt(r.offset, r.size));
    if (f && (f.byteOffset !== 0 || f.buffer.byteLength !== f.length)) f = new Uint8Array(f);
    frames.push(f);
    if (f) {
      transfer.push(f.buffer as ArrayBuffer);
      bytes += f.length;
    }
  }
  Atomics.add(held, FRAMES_HELD + task.index, bytes);
  post({ type: 'records', index: task.index, records, frames }, transfer);
  waitForRoom(held, task.index, task.frames!.cap);
}

/**
 * Blocks while too many frame bytes wait for the consumer. The worker of the segment being
 * consumed waits only on its own segment's frames (the consumer releases those as it sends
 * them); a worker ahead waits on all of them. So the held bytes stay under about twice the
 * cap, and no worker waits on frames that cannot be released before its own are taken.
 */
function waitForRoom(held: Int32Array, index: number, cap: number): void {
  for (;;) {
    const version = Atomics.load(held, FRAMES_VERSION);
    if (Atomics.load(held, FRAMES_STOP) !== 0) return;
    let over: boolean;
    if (Atomics.load(held, FRAMES_CURRENT) === index) over = Atomics.load(held, FRAMES_HELD + index) > cap;
    else {
      let total = 0;
      for (let i = FRAMES_HELD; i < held.length; i++) total += Atomics.load(held, i);
      over = total > cap;
    }
    if (!over) return;
    Atomics.wait(held, FRAMES_VERSION, version, FRAMES_WAIT_MS);
  }
}

function runSegment(kernel: CdcKernel, fd: number, task: SegmentTask, post: Post, guide: ChunkGuide | undefined): void {
  const chunker = new SegmentChunker(kernel, task.start, task.end, task.fileSize, guide);
  const data = kernel.data;
  for (;;) {
    const records: ChunkRecord[] = [];
    chunker.process(records);
    if (records.length > 0) {
      if (task.frames) postWithFrames(chunker, task, records, post);
      else post({ type: 'records', index: task.index, records });
    }
    if (chunker.done) break;
    const r = chunker.nextRead();
    chunker.fed(readSync(fd, data, r.offset, r.length, r.position));
  }
  post({ type: 'done', index: task.index, endOffset: chunker.endOffset });
}

if (!isMainThread && parentPort) {
  const port = parentPort;
  const post: Post = (m, transfer) => port.postMessage(m, transfer);
  // Workers are pooled between files (chunk-worker-pool.ts): the kernel too, while the
  // parameters stay the same.
  let kernel: CdcKernel | undefined;
  let kernelKey = '';
  // The guide of the run this worker last worked for.
  let guide: { run: number; guide: ChunkGuide } | undefined;
  const guideOf = (g: SegmentTask['guide']): ChunkGuide | undefined => {
    if (!g) return undefined;
    if (g.sizes && g.hashes) guide = { run: g.run, guide: new ChunkGuide(g.sizes, g.hashes) };
    if (guide?.run !== g.run) throw new InternalError(`chunk worker: the guide of run ${g.run} never came`);
    return guide.guide;
  };
  port.on('message', (task: SegmentTask) => {
    try {
      const p = task.params;
      const key = `${p.minSize}/${p.avgSize}/${p.maxSize}/${p.normalization}/${task.dataSize}`;
      if (kernel === undefined || key !== kernelKey) {
        kernel = undefined; // the old memory may go before the new one is allocated
        kernel = new CdcKernel(p, task.dataSize);
        kernelKey = key;
      }
      runSegment(kernel, task.fd, task, post, guideOf(task.guide));
    } catch (err) {
      post({ type: 'error', index: task.index, error: serializeError(err) });
    }
  });
}
