/**
 * Retry decorator: calls that fail with a retryable error (FerryError.retryable: network
 * errors, timeouts, 5xx, rate limits) are made again after a backoff; fatal errors (not found,
 * permission, validation, ...) are thrown at once. A server's Retry-After (`retryAfterMs`) is a
 * floor for the next wait.
 *
 * Backoff is exponential with full jitter (the delay before retry n is uniform in
 * [0, min(capMs, baseMs × 2^n)]), so that clients that failed together do not come back together.
 *
 * What is retried: every call whose repetition is harmless. A write is retried only when its
 * body is a whole buffer (a stream cannot be sent twice); a read only until it has returned its
 * stream (a stream that fails midway fails); a listing only until it has yielded its first entry.
 */
import { isRetryable, throwIfAborted } from '../../core/errors.js';
import { backoffDelay, sleep, type RetryPolicy } from '../../core/retry.js';
import type { DirEntry, StorageBackend } from '../../core/storage.js';
import { decorate, type Call } from './decorate.js';

/** Backends retry less than the client does: a backend call sits under a transfer that retries too. */
export const BACKEND_RETRY_POLICY: RetryPolicy = Object.freeze({ retries: 5, baseMs: 200, capMs: 10_000, maxRetryAfterMs: 60_000 });

export interface RetryOptions {
  policy?: Partial<RetryPolicy>;
  /** Whether an error is worth another attempt (default: its FerryError classification). */
  shouldRetry?: (err: unknown) => boolean;
  /** Told before each wait (for logs). */
  onRetry?: (call: Call, err: unknown, attempt: number, delayMs: number) => void;
  /** Injected in tests. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  random?: () => number;
}

/** `inner`, with retryable failures retried under `options.policy`. */
export function withRetry(inner: StorageBackend, options: RetryOptions = {}): StorageBackend {
  const policy: RetryPolicy = { ...BACKEND_RETRY_POLICY, ...options.policy };
  const shouldRetry = options.shouldRetry ?? isRetryable;
  const wait = options.sleep ?? sleep;

  async function attempt<T>(call: Call, run: () => Promise<T>): Promise<T> {
    const once = call.op === 'write' && !call.replayable;
    for (let n = 0; ; n++) {
      throwIfAborted(call.signal);
      try {
        return await run();
      } catch (err) {
        if (once || n >= policy.retries || !shouldRetry(err) || call.signal?.aborted) throw err;
        const delay = backoffDelay(n, policy, (err as { retryAfterMs?: number }).retryAfterMs, options.random);
        options.onRetry?.(call, err, n + 1, delay);
        await wait(delay, call.signal);
      }
    }
  }

  return decorate(inner, inner.name, {
    call: attempt,
    async *list(call: Call, run: () => AsyncIterable<DirEntry>): AsyncIterable<DirEntry> {
      for (let n = 0; ; n++) {
        let yielded = false;
        try {
          for await (const entry of run()) {
            yielded = true;
            yield entry;
          }
          return;
        } catch (err) {
          if (yielded || n >= policy.retries || !shouldRetry(err) || call.signal?.aborted) throw err;
          const delay = backoffDelay(n, policy, (err as { retryAfterMs?: number }).retryAfterMs, options.random);
          options.onRetry?.(call, err, n + 1, delay);
          await wait(delay, call.signal);
        }
      }
    },
  });
}
