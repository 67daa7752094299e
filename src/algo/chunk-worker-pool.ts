/**
 * Idle chunk workers kept between `chunkFile` calls.
 *
 * Starting a worker thread costs about 30 ms here (45 ms for two, until both answer):
 * 5–10% of chunking a 1 GiB file, and more than the whole work for a file just past the
 * parallel threshold. Idle workers are unref'd (they never keep the process alive) and end
 * after a few seconds without work.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

export class ChunkWorkerPool {
  private readonly idle: Worker[] = [];
  private readonly timers = new Map<Worker, NodeJS.Timeout>();

  /**
   * @param url where the worker script is (resolved on first use)
   * @param maxIdle idle workers kept at most; extra ones are terminated on release
   * @param idleMs how long an idle worker is kept
   */
  constructor(
    private readonly url: () => URL,
    private readonly maxIdle = Math.max(2, availableParallelism()),
    private readonly idleMs = 5000,
  ) {}

  /** An idle worker, or a new one. The caller owns it until `release` or `discard`. */
  acquire(): Worker {
    const worker = this.idle.pop();
    if (worker) {
      clearTimeout(this.timers.get(worker));
      this.timers.delete(worker);
      worker.ref();
      return worker;
    }
    return this.create();
  }

  private create(): Worker {
    const created = new Worker(this.url());
    // An idle worker that dies (it should not) must not be handed out again.
    created.once('exit', () => this.forget(created));
    return created;
  }

  /**
   * Starts workers now, idle, until `count` are (a thread takes ~30-50 ms to start, more on
   * a busy machine): a caller that will chunk a large file soon, after a few requests,
   * calls this first, so that the threads start beside those requests.
   */
  warm(count: number): void {
    for (let n = Math.min(count, this.maxIdle) - this.idle.length; n > 0; n--) this.release(this.create());
  }

  /**
   * Gives back a worker that has finished its task (no task running or queued) and whose
   * listeners the caller has removed.
   */
  release(worker: Worker): void {
    if (this.idle.length >= this.maxIdle) {
      void worker.terminate();
      return;
    }
    worker.unref();
    this.idle.push(worker);
    const timer = setTimeout(() => {
      this.forget(worker);
      void worker.terminate();
    }, this.idleMs);
    timer.unref();
    this.timers.set(worker, timer);
  }

  /** Ends a worker that may be busy; resolves once its thread has stopped. */
  async discard(worker: Worker): Promise<void> {
    this.forget(worker);
    await worker.terminate();
  }

  /** Idle workers right now (for tests). */
  get idleCount(): number {
    return this.idle.length;
  }

  private forget(worker: Worker): void {
    const i = this.idle.indexOf(worker);
    if (i >= 0) this.idle.splice(i, 1);
    clearTimeout(this.timers.get(worker));
    this.timers.delete(worker);
  }
}
