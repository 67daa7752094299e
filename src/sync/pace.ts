/**
 * Pacing helpers of the engine: a bandwidth limit shared by every transfer of a run, and
 * retries with exponential backoff (full jitter) for retryable errors.
 */
import { Readable } from 'node:stream';
import { AbortedError, isRetryable, throwIfAborted } from '../core/errors.js';

/** Resolves after `ms`, or rejects with FERRY_ERR_ABORTED when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(new AbortedError('aborted', { cause: signal.reason }));
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(new AbortedError('aborted', { cause: signal?.reason }));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * A token bucket kept as a debt: `take(n)` subtracts at once and the caller sleeps until the
 * refill paid it back, so callers are served in order and the long-run rate never exceeds
 * `rate` however many transfers share the bucket.
 */
export class RateLimiter {
  private tokens: number;
  private last = performance.now();
  constructor(
    readonly rate: number,
    readonly burst = Math.max(64 * 1024, Math.floor(rate / 10)),
  ) {
    this.tokens = burst;
  }

  async take(bytes: number, signal?: AbortSignal): Promise<void> {
    throwIfAborted(signal);
    const now = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.rate) / 1000);
    this.last = now;
    this.tokens -= bytes;
    if (this.tokens < 0) await sleep((-this.tokens * 1000) / this.rate, signal);
  }
}

const SLICE = 64 * 1024;

/**
 * Passes a stream through a limiter and a byte counter. Slices big pieces so that parallel
 * transfers interleave. Errors of the source propagate (the result is an async iterable).
 */
export function metered(source: Readable | AsyncIterable<Uint8Array>, onBytes: (n: number) => void, limiter?: RateLimiter, signal?: AbortSignal): Readable {
  async function* gen(): AsyncGenerator<Uint8Array> {
    for await (const piece of source as AsyncIterable<Uint8Array>) {
      if (!limiter) {
        onBytes(piece.length);
        yield piece;
        continue;
      }
      for (let off = 0; off < piece.length; off += SLICE) {
        const slice = piece.subarray(off, Math.min(piece.length, off + SLICE));
        await limiter.take(slice.length, signal);
        onBytes(slice.length);
        yield slice;
      }
    }
  }
  const out = Readable.from(gen(), { objectMode: false });
  // A consumer that stops early must release the source (a file handle, a socket).
  out.once('close', () => {
    if (source instanceof Readable && !source.destroyed) source.destroy();
  });
  return out;
}

export interface RetryPolicy {
  /** Attempts after the first (0: try once). */
  retries: number;
  /** Upper bound of the first delay, ms; doubles per attempt. */
  baseMs: number;
  capMs: number;
}

export const DEFAULT_RETRIES: RetryPolicy = { retries: 3, baseMs: 200, capMs: 10_000 };

/** Calls `fn` until it succeeds, throws a non-retryable error, or the retries are used up. */
export async function withRetries<T>(
  fn: (attempt: number) => Promise<T>,
  policy: RetryPolicy,
  signal?: AbortSignal,
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void,
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    throwIfAborted(signal);
    try {
      return await fn(attempt);
    } catch (err) {
      if (signal?.aborted) throw new AbortedError('aborted', { cause: signal.reason });
      if (attempt >= policy.retries || !isRetryable(err)) throw err;
      const window = Math.min(policy.capMs, policy.baseMs * 2 ** attempt);
      const retryAfter = (err as { retryAfterMs?: number }).retryAfterMs ?? 0;
      const delay = Math.max(Math.floor(Math.random() * window), retryAfter);
      onRetry?.(err, attempt, delay);
      await sleep(delay, signal);
    }
  }
}

/** Runs `fn` over `items` with at most `limit` at once; stops starting new ones once `signal` aborts. */
export async function forEachLimit<T>(items: Iterable<T>, limit: number, fn: (item: T) => Promise<void>, signal?: AbortSignal): Promise<void> {
  const it = items[Symbol.iterator]();
  let failure: unknown;
  let failed = false;
  const worker = async () => {
    for (;;) {
      if (failed || signal?.aborted) return;
      const next = it.next();
      if (next.done) return;
      try {
        await fn(next.value);
      } catch (err) {
        if (!failed) {
          failed = true;
          failure = err;
        }
        return;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, limit) }, worker));
  if (failed) throw failure;
  throwIfAborted(signal);
}
