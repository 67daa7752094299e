/** Small concurrency tools for the transfer engine (Node.js and browsers). */
import { AbortedError, throwIfAborted } from '../core/errors.js';

/**
 * A counting semaphore. The transfer engine shares one per operation so that "N in flight"
 * (`--parallel`) holds across every file of a tree, not per file.
 */
export class Semaphore {
  private free: number;
  private readonly waiters: Array<{ resolve: () => void; reject: (e: unknown) => void; signal?: AbortSignal; onAbort?: () => void }> = [];

  constructor(readonly size: number) {
    if (!(size >= 1)) throw new RangeError(`semaphore size must be >= 1, got ${size}`);
    this.free = size;
  }

  /** Waits for a slot. Rejects with FERRY_ERR_ABORTED if `signal` aborts first. */
  acquire(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(new AbortedError('aborted', { cause: signal.reason }));
    if (this.free > 0) {
      this.free--;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const waiter: (typeof this.waiters)[number] = { resolve, reject, signal };
      if (signal) {
        waiter.onAbort = () => {
          const i = this.waiters.indexOf(waiter);
          if (i !== -1) this.waiters.splice(i, 1);
          reject(new AbortedError('aborted', { cause: signal.reason }));
        };
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.waiters.push(waiter);
    });
  }

  release(): void {
    const next = this.waiters.shift();
    if (next) {
      if (next.onAbort) next.signal?.removeEventListener('abort', next.onAbort);
      next.resolve();
    } else {
      this.free++;
    }
  }

  async run<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    await this.acquire(signal);
    try {
      return await fn();
    } finally {
      this.release();
    }
  }
}

/**
 * Runs `fn` over `items` with at most `limit` calls at once; items are consumed lazily, so
 * an async iterable of a million entries never sits in memory. Stops starting new work at
 * the first error (or abort), closes the iterator (its `return()`), and rethrows the error
 * once running calls have settled.
 */
export async function forEachConcurrent<T>(
  items: Iterable<T> | AsyncIterable<T>,
  limit: number,
  fn: (item: T, index: number) => Promise<void>,
  signal?: AbortSignal,
): Promise<void> {
  const it = (Symbol.asyncIterator in items ? (items as AsyncIterable<T>)[Symbol.asyncIterator]() : (items as Iterable<T>)[Symbol.iterator]()) as
    | AsyncIterator<T>
    | Iterator<T>;
  let index = 0;
  let failed: { err: unknown } | undefined;
  let done = false;
  const worker = async () => {
    while (!failed && !done) {
      throwIfAborted(signal);
      const r = await it.next();
      if (r.done) {
        done = true;
        return;
      }
      const i = index++;
      try {
        await fn(r.value, i);
      } catch (err) {
        failed ??= { err };
      }
    }
  };
  const workers: Promise<void>[] = [];
  for (let i = 0; i < Math.max(1, limit); i++) workers.push(worker().catch((err) => void (failed ??= { err })));
  await Promise.all(workers);
  // Stopped early (an error, an abort): close the iterator, so that a generator behind it runs
  // its `finally` now (a listing's request ended, files closed) instead of staying suspended.
  if (!done) await Promise.resolve(it.return?.()).catch((err: unknown) => void (failed ??= { err }));
  if (failed) throw failed.err;
}

/**
 * Lets any number of listeners wait on `signal`. Every request of a transfer listens to the
 * operation's signal, and Node.js warns past 10 listeners on one EventTarget; browsers have
 * no such limit. Reached through `process.getBuiltinModule` so that this module imports
 * nothing of Node and runs in browsers unchanged.
 */
export function allowManyListeners(signal: AbortSignal): void {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const events = proc?.getBuiltinModule?.('node:events') as { setMaxListeners(n: number, ...targets: EventTarget[]): void } | undefined;
  events?.setMaxListeners(0, signal);
}
