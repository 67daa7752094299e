/**
 * SHA-256 of whole buffers on worker threads, so that verifying a chunk does not hold up the
 * event loop. The server verifies every chunk it reads before a byte goes out: on the main
 * thread that is 0.6 s of a 1 GiB download during which neither socket nor disk is served.
 *
 * Workers read the bytes in place, so only buffers over a SharedArrayBuffer (the chunk
 * store's reused read buffers) go to them; any other buffer, and small ones (the round trip
 * would cost more than the hash), are hashed right here. The alternatives were measured and
 * cost more than they saved: copying a buffer into shared memory (V8 copies into shared
 * memory word by word, at a third of memcpy's speed), transferring its ArrayBuffer to the
 * worker and back (the buffer that comes back counts as new external memory: full garbage
 * collections by the dozen), and `crypto.subtle.digest` (libuv's thread pool, but it copies
 * its input into fresh memory on the calling thread first).
 *
 * Workers start on first use (about 30 ms), are unref'd while idle (they never keep a
 * process alive) and live as long as the process.
 */
import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { InternalError } from '../core/errors.js';

/** Below this many bytes a buffer is hashed in the calling thread (the round trip costs ~50 µs, hashing 256 KiB ~150 µs). */
export const OFFLOAD_MIN_BYTES = 256 * 1024;
/**
 * The worker, as source: it needs nothing but node:crypto, so it is evaluated from this
 * string (no file to ship beside the bundle, the same code under vitest and from dist/).
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
parentPort.on('message', (m) => {
  parentPort.postMessage({ id: m.id, hex: createHash('sha256').update(new Uint8Array(m.memory, m.offset, m.length)).digest('hex') });
});
`;

interface HashWorker {
  worker: Worker;
  jobs: Map<number, { resolve: (hex: string) => void; reject: (err: unknown) => void }>;
}

export class Sha256Workers {
  private readonly workers: HashWorker[] = [];
  private nextId = 0;

  /** @param size worker threads at most (default: one less than the cores, 1 to 2) */
  constructor(private readonly size = Math.min(2, Math.max(1, availableParallelism() - 1))) {}

  /** The hex SHA-256 of `data`, which must not change until this resolves. */
  async digest(data: Uint8Array): Promise<string> {
    if (data.length < OFFLOAD_MIN_BYTES || !(data.buffer instanceof SharedArrayBuffer)) return createHash('sha256').update(data).digest('hex');
    return this.run(data.buffer, data.byteOffset, data.length);
  }

  private run(memory: SharedArrayBuffer, offset: number, length: number): Promise<string> {
    const w = this.pick();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (w.jobs.size === 0) w.worker.ref(); // a pending hash must keep the process alive
      w.jobs.set(id, { resolve, reject });
      w.worker.postMessage({ id, memory, offset, length });
    });
  }

  /** The worker with the fewest jobs; a new one while there are fewer than `size` and all are busy. */
  private pick(): HashWorker {
    let best: HashWorker | undefined;
    for (const w of this.workers) if (!best || w.jobs.size < best.jobs.size) best = w;
    if (best && (best.jobs.size === 0 || this.workers.length >= this.size)) return best;
    const w: HashWorker = { worker: new Worker(WORKER_SOURCE, { eval: true }), jobs: new Map() };
    w.worker.unref();
    w.worker.on('message', (m: { id: number; hex: string }) => {
      const job = w.jobs.get(m.id);
      w.jobs.delete(m.id);
      if (w.jobs.size === 0) w.worker.unref();
      job?.resolve(m.hex);
    });
    const fail = (err: unknown) => {
      this.workers.splice(this.workers.indexOf(w), 1);
      for (const job of w.jobs.values()) job.reject(err);
      w.jobs.clear();
    };
    w.worker.on('error', (err) => fail(new InternalError(`the hash worker failed: ${err.message}`, { cause: err })));
    w.worker.on('exit', (code) => {
      if (this.workers.includes(w)) fail(new InternalError(`the hash worker exited (code ${code})`));
    });
    this.workers.push(w);
    return w;
  }
}

/** The process's hash workers. */
export const sha256Workers = new Sha256Workers();
