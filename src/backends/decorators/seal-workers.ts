/**
 * Sealing (AES-256-GCM of an object's segments) on a worker thread, so that an encrypted
 * upload does not hold up the event loop: sealing a 256 MiB upload is ~0.2-0.3 s of the
 * server's main thread (the cipher, Node's per-segment cipher objects, the copy out of the
 * buffer each `update` returns), on the thread that also parses the requests and hashes the
 * chunks. On a server that may use more than one core it runs beside that thread instead.
 * With one core (`taskset -c 1`, a one-CPU container) nothing is gained and a round trip per
 * object is lost, so {@link sealWorkersUsable} says no and the decorator seals in place.
 *
 * A job seals, in place, segments laid out as they are stored (`ciphertext | tag`, the plain
 * bytes written where the ciphertext goes and the tag's room left after them), in memory both
 * threads see (a SharedArrayBuffer: the decorator's output buffers are made so while workers
 * are in use). The result is byte for byte what `sealSegmentsInto` (./encryption-format.ts)
 * makes of the same bytes (test/backends/seal-workers.test.ts).
 *
 * The worker starts on first use, is unref'd while idle (it never keeps a process alive) and
 * lives as long as the process; one that fails or exits fails its pending jobs (the write
 * fails with FERRY_ERR_INTERNAL, it does not hang) and the next job starts a new one.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import type { KeyObject } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { InternalError } from '../../core/errors.js';
import { SEGMENT_BYTES, TAG_BYTES } from './encryption-format.js';

/**
 * The worker, as source: it needs nothing but node:crypto, so it is evaluated from this
 * string (as ../../algo/sha256-workers.ts: no file to ship beside the bundle). Nonces as
 * `nonce` in ./encryption-format.ts: the segment's index (u32 BE at byte 7), then the
 * last-segment flag.
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createCipheriv } = require('node:crypto');
const SEGMENT = ${SEGMENT_BYTES}, TAG = ${TAG_BYTES};
parentPort.on('message', (m) => {
  try {
    const buf = Buffer.from(m.memory, m.offset, m.length);
    const aad = Buffer.from(m.aad);
    let at = 0;
    for (let i = 0; i < m.count; i++) {
      const n = Math.min(SEGMENT, m.plainBytes - i * SEGMENT);
      if (n < 0 || at + n + TAG > buf.length) throw new Error('segment ' + i + ' does not fit in ' + buf.length + ' bytes');
      const iv = Buffer.alloc(12);
      iv.writeUInt32BE(m.firstIndex + i, 7);
      iv[11] = m.endsObject && i === m.count - 1 ? 1 : 0;
      const c = createCipheriv('aes-256-gcm', m.key, iv);
      c.setAAD(aad);
      // fill, not copy: into shared memory copy goes word by word (see Sealer.sealOnWorker).
      const sealed = c.update(buf.subarray(at, at + n));
      if (sealed.length !== n) throw new Error('the cipher returned ' + sealed.length + ' bytes for ' + n);
      if (n > 0) buf.fill(sealed, at, at + n);
      at += n;
      c.final();
      at += c.getAuthTag().copy(buf, at);
    }
    if (at !== m.length) throw new Error('sealed ' + at + ' bytes where ' + m.length + ' were due');
    parentPort.postMessage({ id: m.id });
  } catch (err) {
    parentPort.postMessage({ id: m.id, error: String((err && err.message) || err) });
  }
});
`;

/** One sealing job: `count` segments from `firstIndex`, laid out in `data` (see the module comment). */
export interface SealJob {
  key: KeyObject;
  /** The object's header: every segment's associated data. */
  aad: Buffer;
  firstIndex: number;
  count: number;
  /** Plain bytes of these segments (all but the last full). */
  plainBytes: number;
  /** Whether the last of them is the object's last segment. */
  endsObject: boolean;
  /** The segments, plain on the way in, sealed on the way out; over a SharedArrayBuffer. */
  data: Uint8Array;
}

interface Pending {
  resolve: () => void;
  reject: (err: Error) => void;
}

/** The number of CPUs this process may run on: its affinity on Linux (`taskset`), else the machine's. */
export function usableCpus(status = '/proc/self/status'): number {
  try {
    const list = /^Cpus_allowed_list:\s*(\S+)/m.exec(readFileSync(status, 'utf8'))?.[1];
    if (list) return cpuListCount(list);
  } catch {
    // not Linux: no affinity to read
  }
  return availableParallelism();
}

/** CPUs in a Linux CPU list ("0-3,8,10-11"). */
export function cpuListCount(list: string): number {
  let n = 0;
  for (const part of list.split(',')) {
    const [from, to] = part.split('-').map(Number);
    n += to === undefined ? 1 : to - from + 1;
  }
  return n;
}

/** Whether sealing on a worker can help: the process may use more than one core. */
export function sealWorkersUsable(): boolean {
  return usableCpus() > 1;
}

export class SealWorkers {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;

  /** Seals `job.data` in place; rejects with FERRY_ERR_INTERNAL when the worker fails. */
  seal(job: SealJob): Promise<void> {
    if (!(job.data.buffer instanceof SharedArrayBuffer)) return Promise.reject(new InternalError('a sealing job needs shared memory'));
    const w = this.start();
    const id = this.nextId++;
    return new Promise<void>((resolve, reject) => {
      if (this.pending.size === 0) w.ref(); // a pending job must keep the process alive
      this.pending.set(id, { resolve, reject });
      const { key, aad, firstIndex, count, plainBytes, endsObject, data } = job;
      w.postMessage({ id, key, aad, firstIndex, count, plainBytes, endsObject, memory: data.buffer, offset: data.byteOffset, length: data.length });
    });
  }

  /** Stops the worker (its pending jobs fail); the next job starts another. */
  async stop(): Promise<void> {
    const w = this.worker;
    if (w) await w.terminate();
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(WORKER_SOURCE, { eval: true });
    this.worker = w;
    w.unref();
    w.on('message', (m: { id: number; error?: string }) => {
      const job = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (this.pending.size === 0) w.unref();
      if (m.error !== undefined) job?.reject(new InternalError(`sealing on the worker failed: ${m.error}`));
      else job?.resolve();
    });
    const fail = (err: Error) => {
      if (this.worker !== w) return;
      this.worker = undefined;
      const jobs = [...this.pending.values()];
      this.pending.clear();
      for (const job of jobs) job.reject(err);
    };
    w.on('error', (err) => fail(new InternalError(`the sealing worker failed: ${err.message}`, { cause: err })));
    w.on('exit', (code) => fail(new InternalError(`the sealing worker exited (code ${code})`)));
    return w;
  }
}

/** The process's sealing worker. */
export const sealWorkers = new SealWorkers();
