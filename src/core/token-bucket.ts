/**
 * A token bucket for bandwidth limits, shared by the client (`--bwlimit`) and the backend
 * bandwidth decorator.
 *
 * The bucket is kept as a "debt" (GCRA style): `take(n)` subtracts n tokens at once, even
 * into the negative, and the caller sleeps until the refill has paid the debt back. Callers
 * are therefore served in arrival order and the long-run rate never exceeds `rate`, however
 * many parallel transfers share it. Data is throttled in slices of {@link SLICE_BYTES} so
 * that parallel transfers interleave instead of taking turns a whole chunk at a time.
 */
import { ConfigError, throwIfAborted } from './errors.js';
import { sleep } from './retry.js';

/** Granularity of throttling: small enough to interleave, large enough to cost nothing. */
export const SLICE_BYTES = 64 * 1024;

export interface Clock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

const realClock: Clock = { now: () => performance.now(), sleep };

export class TokenBucket {
  #tokens: number;
  #last: number;

  /**
   * @param rate bytes per second, > 0
   * @param burst bytes that may pass at once after an idle period (default: a tenth of a
   *   second's worth, at least one slice); keeps a paused transfer from bursting far above the rate.
   */
  constructor(
    readonly rate: number,
    readonly burst = Math.max(SLICE_BYTES, Math.floor(rate / 10)),
    private readonly clock: Clock = realClock,
  ) {
    if (!(rate > 0) || !Number.isFinite(rate)) throw new ConfigError(`a bandwidth limit must be a positive number of bytes per second, not ${rate}`);
    this.#tokens = burst;
    this.#last = clock.now();
  }

  /** Waits until `bytes` may pass. FERRY_ERR_ABORTED when `signal` aborts (the reservation is given back). */
  async take(bytes: number, signal?: AbortSignal): Promise<void> {
    throwIfAborted(signal);
    const now = this.clock.now();
    this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#last) * this.rate) / 1000);
    this.#last = now;
    this.#tokens -= bytes;
    if (this.#tokens >= 0) return;
    try {
      await this.clock.sleep((-this.#tokens * 1000) / this.rate, signal);
    } catch (err) {
      this.#tokens += bytes;
      throw err;
    }
  }

  /**
   * Yields the bytes of `source` (one buffer, or the pieces of a stream) in slices, each after
   * the bucket let it pass: the one slicing loop of every bandwidth limit (client bodies, the
   * backend decorator's writes and reads). One piece is pulled at a time, so a producer may
   * reuse its buffer once asked for the next; ending early returns (releases) the source.
   */
  async *throttle(source: Uint8Array | Iterable<Uint8Array | string> | AsyncIterable<Uint8Array | string>, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
    const pieces = source instanceof Uint8Array ? [source] : source;
    for await (const piece of pieces) {
      const bytes = typeof piece === 'string' ? Buffer.from(piece) : piece;
      for (let off = 0; off < bytes.byteLength; off += SLICE_BYTES) {
        const slice = bytes.subarray(off, Math.min(bytes.byteLength, off + SLICE_BYTES));
        await this.take(slice.byteLength, signal);
        yield slice;
      }
    }
  }
}
