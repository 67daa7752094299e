/**
 * MultiWriter: one write fanned out to several backends at once (omnistorage's MultiWriter),
 * the body read once and handed to every backend in lockstep, so memory stays at one chunk
 * per backend and the slowest backend sets the pace.
 *
 * Modes decide when the write counts:
 * - `all`: every backend must store it. The first failure aborts the others, and the copies
 *   already stored are deleted again (best effort; the report says which), so the object is
 *   everywhere or, as far as deleting allows, nowhere.
 * - `best-effort`: succeeds when at least one backend stored it; failures are reported.
 * - `quorum`: succeeds when at least `quorum` backends stored it (default: a majority). As
 *   soon as too many failed for that, the others are aborted and the stored copies deleted.
 *
 * Either way the result is a per-backend report; a write that does not count throws a
 * FerryError whose `details.report` is that report, and whose code and `cause` are those of
 * the failure that sank it (the first in time, not a backend aborted because of it).
 */
import { AbortedError, FerryError, throwIfAborted, ValidationError, ferryErrorOf } from '../../core/errors.js';
import { normalizeKey } from '../../core/path.js';
import type { ObjectInfo, StorageBackend, WriteBody, WriteOptions } from '../../core/storage.js';
import { bodyChunks, discardBody } from '../shared.js';

export type MultiWriteMode = 'all' | 'best-effort' | 'quorum';

export interface MultiWriterOptions {
  mode?: MultiWriteMode;
  /** For `quorum`: how many backends must succeed (default: a majority). */
  quorum?: number;
}

export interface BackendOutcome {
  backend: string;
  ok: boolean;
  info?: ObjectInfo;
  /** The failure (a FerryError), when not ok. */
  error?: FerryError;
  /** When the write was undone after the multi-write failed: whether deleting the copy worked. */
  rolledBack?: boolean;
}

export interface MultiWriteReport {
  key: string;
  mode: MultiWriteMode;
  /** Whether the write counts under the mode. */
  ok: boolean;
  succeeded: number;
  failed: number;
  outcomes: BackendOutcome[];
}

/**
 * Hands each chunk of a source to N consumers, pulling the next chunk only once every
 * consumer still reading has taken the current one. A consumer that stops (its backend
 * failed) is dropped; the others go on.
 */
class Fanout {
  readonly #live = new Set<number>();
  #current?: { chunk?: Buffer; done?: boolean; error?: unknown; waiting: Set<number>; taken: () => void };
  #advance?: Promise<void>;
  readonly #wakers = new Map<number, () => void>();

  constructor(
    private readonly source: AsyncIterator<Uint8Array>,
    count: number,
  ) {
    for (let i = 0; i < count; i++) this.#live.add(i);
  }

  /** Pulls the next chunk from the source, once every live consumer has taken the previous one. */
  async #pump(): Promise<void> {
    for (;;) {
      let step: IteratorResult<Uint8Array>;
      try {
        step = await this.source.next();
      } catch (error) {
        this.#publish({ error });
        return;
      }
      if (step.done) {
        this.#publish({ done: true });
        return;
      }
      // One copy shared by all consumers: each backend copies what it keeps.
      const taken = this.#publish({ chunk: Buffer.from(step.value) });
      await taken;
      if (this.#live.size === 0) {
        await this.source.return?.();
        return;
      }
    }
  }

  #publish(state: { chunk?: Buffer; done?: boolean; error?: unknown }): Promise<void> {
    let taken!: () => void;
    const promise = new Promise<void>((resolve) => (taken = resolve));
    this.#current = { ...state, waiting: new Set(this.#live), taken };
    if (this.#current.waiting.size === 0) taken();
    for (const wake of this.#wakers.values()) wake();
    this.#wakers.clear();
    return promise;
  }

  #take(index: number): void {
    const current = this.#current;
    if (current === undefined) return;
    current.waiting.delete(index);
    if (current.waiting.size === 0) current.taken();
  }

  /** Consumer `index` reads no more (its write ended, or failed before reading at all). */
  release(index: number): void {
    this.#drop(index);
  }

  #drop(index: number): void {
    if (!this.#live.delete(index)) return;
    this.#wakers.delete(index);
    const current = this.#current;
    if (current && current.waiting.delete(index) && current.waiting.size === 0) current.taken();
  }

  /** Consumer `index`'s view of the source. */
  async *branch(index: number): AsyncGenerator<Uint8Array> {
    this.#advance ??= this.#pump();
    let last: object | undefined;
    try {
      for (;;) {
        while (this.#current === undefined || this.#current === last) {
          await new Promise<void>((resolve) => this.#wakers.set(index, resolve));
        }
        const current = this.#current;
        last = current;
        if (current.error !== undefined) throw current.error;
        if (current.done) return;
        yield current.chunk!;
        // Taken once the consumer asks for more: it has dealt with (copied) this chunk.
        this.#take(index);
      }
    } finally {
      this.#drop(index);
    }
  }
}

export class MultiWriter {
  readonly mode: MultiWriteMode;
  readonly quorum: number;

  constructor(
    readonly backends: readonly StorageBackend[],
    options: MultiWriterOptions = {},
  ) {
    if (backends.length === 0) throw new ValidationError('a multi-writer needs at least one backend');
    this.mode = options.mode ?? 'all';
    if (!['all', 'best-effort', 'quorum'].includes(this.mode)) throw new ValidationError(`unknown multi-write mode ${JSON.stringify(this.mode)}`);
    this.quorum = this.mode === 'all' ? backends.length : this.mode === 'best-effort' ? 1 : (options.quorum ?? Math.floor(backends.length / 2) + 1);
    if (!(Number.isInteger(this.quorum) && this.quorum >= 1 && this.quorum <= backends.length)) {
      throw new ValidationError(`a quorum must be between 1 and ${backends.length}, not ${String(options.quorum)}`);
    }
  }

  /**
   * Writes `body` under `key` to every backend at once. Resolves with the report when the
   * write counts under the mode; otherwise rejects with a FerryError carrying it.
   */
  async write(key: string, body: WriteBody, options: WriteOptions = {}): Promise<MultiWriteReport> {
    let k: string;
    try {
      k = normalizeKey(key);
      throwIfAborted(options.signal);
    } catch (err) {
      discardBody(body);
      throw err;
    }
    const source = bodyChunks(body, { size: options.size, signal: options.signal, what: k });
    const fanout = new Fanout(source, this.backends.length);
    const aborts = this.backends.map(() => new AbortController());
    const onAbort = () => aborts.forEach((a) => a.abort(options.signal?.reason));
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const outcomes: BackendOutcome[] = this.backends.map((b) => ({ backend: b.name, ok: false }));
    let failed = 0;
    const tolerable = this.backends.length - this.quorum;
    // The failures in the order they happened, without the aborts they caused: the first is
    // the cause to report (a backend listed earlier may only have been stopped because of it).
    const causes: FerryError[] = [];

    await Promise.all(
      this.backends.map(async (backend, i) => {
        try {
          outcomes[i].info = await backend.write(k, fanout.branch(i), { ...options, signal: aborts[i].signal });
          outcomes[i].ok = true;
        } catch (err) {
          outcomes[i].error = err instanceof FerryError ? err : ferryErrorOf('FERRY_ERR_INTERNAL', String(err), { cause: err });
          if (!aborts[i].signal.aborted) causes.push(outcomes[i].error!);
          failed++;
          // Too many failures for the mode: stop the others now rather than finish in vain.
          if (failed > tolerable) aborts.forEach((a, j) => j !== i && a.abort(new AbortedError('another backend of the multi-write failed')));
        } finally {
          fanout.release(i);
        }
      }),
    );
    options.signal?.removeEventListener('abort', onAbort);

    const succeeded = outcomes.filter((o) => o.ok).length;
    const ok = succeeded >= this.quorum;
    if (!ok && this.mode !== 'best-effort') {
      await Promise.all(
        this.backends.map(async (backend, i) => {
          if (!outcomes[i].ok) return;
          outcomes[i].rolledBack = await backend.delete(k).then(
            () => true,
            () => false,
          );
        }),
      );
    }
    if (succeeded === 0) discardBody(body); // nobody may have read it at all
    const report: MultiWriteReport = { key: k, mode: this.mode, ok, succeeded, failed: outcomes.length - succeeded, outcomes };
    if (!ok) {
      // No cause of its own: everything was aborted, by the caller.
      const first = causes[0] ?? outcomes.find((o) => o.error)?.error;
      // Real failures first, in the order they happened, then the backends stopped because of them.
      const rank = (e: FerryError): number => (causes.includes(e) ? causes.indexOf(e) : causes.length);
      const failures = outcomes.filter((o) => o.error).sort((a, b) => rank(a.error!) - rank(b.error!));
      const reasons = failures.map((o) => `${o.backend}: ${o.error!.message}`).join('; ');
      throw ferryErrorOf(causes[0] === undefined && options.signal?.aborted ? 'FERRY_ERR_ABORTED' : (first?.code ?? 'FERRY_ERR_INTERNAL'),
        `${k}: stored on ${succeeded} of ${this.backends.length} backends, ${this.quorum} needed (${this.mode}): ${reasons}`,
        { cause: first, details: { report }, retryable: first?.retryable },
      );
    }
    return report;
  }
}
