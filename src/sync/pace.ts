/**
 * Pacing of the engine, on the project's shared pieces: retries with backoff (core/retry),
 * the bandwidth bucket (core/token-bucket), bounded concurrency (client/concurrency). Here
 * only what the engine adds: the retry policy of `--retries`, and a metered stream.
 */
import { Readable } from 'node:stream';
import { DEFAULT_RETRY_POLICY, retry, type RetryPolicy } from '../core/retry.js';
import { SLICE_BYTES, TokenBucket } from '../core/token-bucket.js';
import { forEachConcurrent } from '../client/concurrency.js';

export { TokenBucket, type RetryPolicy };

/** `--retries 3` by default: each failing file is tried up to 4 times, backoff from 200 ms. */
export const DEFAULT_RETRIES: RetryPolicy = { ...DEFAULT_RETRY_POLICY, retries: 3, baseMs: 200, capMs: 10_000 };

/** Calls `fn` until it succeeds, throws a non-retryable error, or the retries are used up. */
export function withRetries<T>(
  fn: (attempt: number) => Promise<T>,
  policy: RetryPolicy,
  signal?: AbortSignal,
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void,
): Promise<T> {
  return retry(fn, { policy, signal, onRetry });
}

/** Runs `fn` over `items` with at most `limit` at once; the first failure stops new work and is rethrown. */
export function forEachLimit<T>(items: Iterable<T>, limit: number, fn: (item: T) => Promise<void>, signal?: AbortSignal): Promise<void> {
  return forEachConcurrent(items, limit, (item) => fn(item), signal);
}

/**
 * Passes a stream through a bandwidth bucket and a byte counter, in slices so that parallel
 * transfers interleave. Errors of the source propagate; a consumer that stops early
 * releases the source (a file handle, a socket).
 */
export function metered(source: Readable | AsyncIterable<Uint8Array>, onBytes: (n: number) => void, limiter?: TokenBucket, signal?: AbortSignal): Readable {
  async function* gen(): AsyncGenerator<Uint8Array> {
    for await (const piece of source as AsyncIterable<Uint8Array>) {
      if (!limiter) {
        onBytes(piece.length);
        yield piece;
        continue;
      }
      for (let off = 0; off < piece.length; off += SLICE_BYTES) {
        const slice = piece.subarray(off, Math.min(piece.length, off + SLICE_BYTES));
        await limiter.take(slice.length, signal);
        onBytes(slice.length);
        yield slice;
      }
    }
  }
  const out = Readable.from(gen(), { objectMode: false });
  out.once('close', () => {
    if (source instanceof Readable && !source.destroyed) source.destroy();
  });
  return out;
}
