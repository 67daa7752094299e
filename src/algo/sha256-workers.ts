/**
 * SHA-256 of whole buffers on worker threads, so that verifying a chunk does not hold up the
 * event loop. Downloads verify every chunk on both ends (the server before a byte goes out,
 * the client before a byte is written); hashed on the main thread, that is 0.6 s of a 1 GiB
 * download on each side during which neither socket nor disk is served.
 *
 * The bytes are not copied: a buffer that owns its whole ArrayBuffer is transferred to the
 * worker and back (the caller continues with the buffer the promise returns: the one it
 * passed is detached meanwhile); a buffer over a SharedArrayBuffer is read in place. Any
 * other buffer (a slice of a larger one), and small ones, where the round trip would cost
 * more than the hash, are hashed right here. `crypto.subtle.digest` was measured as the
 * alternative: it runs on libuv's thread pool but copies its input on the calling thread
 * first, which costs a third of what it saves.
 *
 * Workers start on first use (about 30 ms), are unref'd while idle (they never keep a
 * process alive) and live as long as the process.
 */
import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

/** Below this many bytes a buffer is hashed in the calling thread (the round trip costs ~50 µs, hashing 256 KiB ~150 µs). */
export const OFFLOAD_MIN_BYTES = 256 * 1024;

/**
 * The worker, as source: it needs nothing but node:crypto, so it is evaluated from this
 * string (no file to ship beside the bundle, same code under vitest and from dist/).
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
parentPort.on('message', (m) => {
  const hex = createHash('sha256').update(new Uint8Array(m.memory, m.offset, m.length)).digest('hex');
  if (m.memory instanceof ArrayBuffer) parentPort.postMessage({ id: m.id, hex, memory: m.memory }, [m.memory]);
  else parentPort.postMessage({ id: m.id, hex });
});
`;

interface Job {
  resolve: (r: { hex: string; memory?: ArrayBuffer }) => void;
  reject: (err: unknown) => void;
}

interface HashWorker {
  worker: Worker;
  jobs: Map<number, Job>;
}

export class Sha256Workers {
  private readonly workers: HashWorker[] = [];
  private nextId = 0;

  /** @param size worker threads at most (default: one less than the cores, 1 to 2) */
  constructor(private readonly size = Math.min(2, Math.max(1, availableParallelism() - 1))) {}

  /**
   * The hex SHA-256 of `data`, and `data` itself (the same bytes in the same memory, but
   * possibly a new Buffer object: use this one, the one passed may have been detached).
   */
  async digest(data: Buffer): Promise<{ hex: string; data: Buffer }> {
    if (data.length < OFFLOAD_MIN_BYTES) return { hex: createHash('sha256').update(data).digest('hex'), data };
    const memory = data.buffer;
    if (memory instanceof SharedArrayBuffer) {
      const { hex } = await this.run({ memory, offset: data.byteOffset, length: data.length }, []);
      return { hex, data };
    }
    if (data.byteOffset !== 0 || data.length !== memory.byteLength) return { hex: createHash('sha256').update(data).digest('hex'), data };
    const r = await this.run({ memory, offset: 0, length: data.length }, [memory]);
    return { hex: r.hex, data: Buffer.from(r.memory!) };
  }

  private run(task: { memory: ArrayBufferLike; offset: number; length: number }, transfer: ArrayBuffer[]): Promise<{ hex: string; memory?: ArrayBuffer }> {
    const w = this.pick();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (w.jobs.size === 0) w.worker.ref(); // a pending hash must keep the process alive
      w.jobs.set(id, { resolve, reject });
      w.worker.postMessage({ id, ...task }, transfer);
    });
  }

  /** The worker with the fewest jobs; a new one while there are fewer than `size` and all are busy. */
  private pick(): HashWorker {
    let best: HashWorker | undefined;
    for (const w of this.workers) if (!best || w.jobs.size < best.jobs.size) best = w;
    if (best && (best.jobs.size === 0 || this.workers.length >= this.size)) return best;
    const w: HashWorker = { worker: new Worker(WORKER_SOURCE, { eval: true }), jobs: new Map() };
    w.worker.unref();
    w.worker.on('message', (m: { id: number; hex: string; memory?: ArrayBuffer }) => {
      const job = w.jobs.get(m.id);
      w.jobs.delete(m.id);
      if (w.jobs.size === 0) w.worker.unref();
      job?.resolve(m);
    });
    const fail = (err: unknown) => {
      this.workers.splice(this.workers.indexOf(w), 1);
      for (const job of w.jobs.values()) job.reject(err);
      w.jobs.clear();
    };
    w.worker.on('error', fail);
    w.worker.on('exit', (code) => {
      if (this.workers.includes(w)) fail(new Error(`the hash worker exited (code ${code})`));
    });
    this.workers.push(w);
    return w;
  }
}

/** The process's hash workers. */
export const sha256Workers = new Sha256Workers();
