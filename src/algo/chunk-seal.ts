/**
 * Sealing a chunk rebuilt from a delta: its SHA-256 (checked by the caller against the
 * chunk's name) and its zstd frame for storage, on a worker thread, so that the server's
 * event loop takes the next signature or delta meanwhile (workload 8b of issue 15: per
 * edited 2.5 MB chunk the compression is ~5 ms and the hash ~1 ms, two thirds of the
 * delta's work on the server).
 *
 * The chunk is rebuilt in an area of this module ({@link ChunkSealer.area}) whose memory is
 * transferred to the worker and back, never copied, and reused for the next chunk (fresh
 * pages cost 20 ms of CPU per 60 MB rebuilt; see chunk-store.ts). With one core, or when
 * the worker cannot start, the same work runs right here ({@link sealPlain}).
 *
 * The worker starts on first use, is unref'd while it has nothing to do (it never keeps a
 * process alive) and lives as long as the process; areas not used for
 * {@link AREA_KEEP_MS} are let go.
 */
import { hash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { InternalError } from '../core/errors.js';
import type { SealAnswer, SealTask } from './chunk-seal-worker.js';
import { compressChunk } from './zstd-chunk.js';

/** A sealed chunk: the SHA-256 of its bytes, and its zstd frame when compressing it paid. */
export interface Sealed {
  hash: string;
  frame?: Buffer;
}

/** The SHA-256 and the frame of `plain`, on the calling thread (the worker runs this too). */
export function sealPlain(plain: Uint8Array): Sealed {
  const z = compressChunk(plain);
  return { hash: hash('sha256', plain, 'hex'), frame: z && z.length < plain.length ? z : undefined };
}

/** How long unused areas are kept after the last seal. */
export const AREA_KEEP_MS = 30_000;
/** Areas kept for reuse at most (the server has a few deltas in flight, never more than its parallel uploads). */
const AREAS_KEPT = 4;
/** The smallest area: a chunk of the default maximum size (4 MiB) fits. */
const AREA_MIN_BYTES = 4 * 1024 * 1024;

/** The compiled worker beside this module (dist/src/algo or the bundle's parts); under vitest, the compiled one in dist. */
export function sealWorkerUrl(): URL {
  const here = import.meta.url;
  if (!here.endsWith('.ts')) return new URL('./chunk-seal-worker.js', here);
  const compiled = here.replace(/\/src\/algo\/[^/]+\.ts$/, '/dist/src/algo/chunk-seal-worker.js');
  if (compiled === here || !existsSync(fileURLToPath(compiled))) {
    throw new InternalError(`the compiled seal worker is missing (${compiled}): run npm run build`);
  }
  return new URL(compiled);
}

interface Job {
  resolve: (answer: SealAnswer) => void;
  reject: (err: unknown) => void;
}

export class ChunkSealer {
  private worker: Worker | undefined;
  private readonly jobs = new Map<number, Job>();
  private nextId = 0;
  private free: ArrayBuffer[] = [];
  private freeTimer: NodeJS.Timeout | undefined;

  private offload: boolean;
  private readonly workerUrl: () => URL;

  /**
   * @param options.offload whether to seal on a worker (default: when the process may use 2
   *   cores or more); off for good once the worker failed
   * @param options.workerUrl the worker's module (tests name a broken one)
   */
  constructor(options: { offload?: boolean; workerUrl?: () => URL } = {}) {
    this.offload = options.offload ?? availableParallelism() > 1;
    this.workerUrl = options.workerUrl ?? sealWorkerUrl;
  }

  /** A buffer of at least `size` bytes to rebuild a chunk in; give a view at its start to {@link seal}. */
  area(size: number): Buffer {
    const i = this.free.findIndex((m) => m.byteLength >= size);
    const memory = i >= 0 ? this.free.splice(i, 1)[0] : new ArrayBuffer(Math.max(size, AREA_MIN_BYTES));
    return Buffer.from(memory, 0, memory.byteLength);
  }

  /**
   * Seals the first `size` bytes of an area ({@link area}); the area is the sealer's again
   * once this settles (the caller must not touch it). A chunk kept raw (no frame) comes back
   * as `plain`, copied out of the area.
   */
  async seal(area: Buffer, size: number): Promise<Sealed & { plain?: Buffer }> {
    if (area.byteOffset !== 0 || area.buffer.byteLength < size || !(area.buffer instanceof ArrayBuffer)) {
      throw new InternalError('seal takes a view at the start of an area from ChunkSealer.area');
    }
    const memory = area.buffer;
    if (!this.offload) return this.sealHere(memory, size);
    let answer: SealAnswer;
    try {
      answer = await this.run({ id: this.nextId++, memory, size });
    } catch {
      // The worker could not start or died: seal here from now on (its memory may be gone with it).
      this.offload = false;
      return memory.byteLength > 0 ? this.sealHere(memory, size) : Promise.reject(new InternalError('the seal worker failed with a chunk in hand'));
    }
    if (answer.error !== undefined) {
      this.recycle(answer.memory);
      throw new InternalError(`sealing a rebuilt chunk failed: ${answer.error}`);
    }
    const frame = answer.frame ? Buffer.from(answer.frame) : undefined;
    const plain = frame ? undefined : Buffer.from(new Uint8Array(answer.memory, 0, size));
    this.recycle(answer.memory);
    return { hash: answer.hash!, frame, plain };
  }

  /** Starts the worker now, if it is to be used and not running: a chunk to seal is coming. */
  warm(): void {
    if (!this.offload || this.worker) return;
    try {
      this.started();
    } catch {
      this.offload = false; // no worker to be had (sealWorkerUrl): seal here
    }
  }

  /**
   * Lets go of the kept areas and of an idle worker (an idle server's settle: the worker's
   * isolate is a few MB that workloads after the deltas would carry); the next chunk
   * allocates again, the next delta starts the worker again.
   */
  dropAreas(): void {
    clearTimeout(this.freeTimer);
    this.free = [];
    if (this.worker && this.jobs.size === 0) {
      const worker = this.worker;
      this.worker = undefined;
      void worker.terminate();
    }
  }

  private sealHere(memory: ArrayBuffer, size: number): Sealed & { plain?: Buffer } {
    const view = new Uint8Array(memory, 0, size);
    const sealed = sealPlain(view);
    const plain = sealed.frame ? undefined : Buffer.from(view);
    this.recycle(memory);
    return { ...sealed, plain };
  }

  private recycle(memory: ArrayBuffer): void {
    if (memory.byteLength === 0) return; // detached: it went with a worker that failed
    if (this.free.length < AREAS_KEPT) this.free.push(memory);
    clearTimeout(this.freeTimer);
    this.freeTimer = setTimeout(() => (this.free = []), AREA_KEEP_MS).unref();
  }

  private run(task: SealTask): Promise<SealAnswer> {
    const worker = this.started();
    return new Promise((resolve, reject) => {
      if (this.jobs.size === 0) worker.ref(); // a pending seal must keep the process alive
      this.jobs.set(task.id, { resolve, reject });
      worker.postMessage(task, [task.memory]);
    });
  }

  private started(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(this.workerUrl());
    worker.unref();
    worker.on('message', (answer: SealAnswer) => {
      const job = this.jobs.get(answer.id);
      this.jobs.delete(answer.id);
      if (this.jobs.size === 0) worker.unref();
      job?.resolve(answer);
    });
    const fail = (err: unknown): void => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      const jobs = [...this.jobs.values()];
      this.jobs.clear();
      for (const job of jobs) job.reject(err);
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new InternalError(`the seal worker exited (${code})`)));
    this.worker = worker;
    return worker;
  }
}
