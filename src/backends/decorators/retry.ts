/**
 * Retry decorator: calls that fail with a retryable error (FerryError.retryable: network
 * errors, timeouts, 5xx, rate limits) are made again after a backoff; fatal errors (not found,
 * permission, validation, ...) are thrown at once. A server's Retry-After (`retryAfterMs`) is a
 * floor for the next wait.
 *
 * Backoff is exponential with full jitter (the delay before retry n is uniform in
 * [0, min(capMs, baseMs × 2^n)]), so that clients that failed together do not come back together.
 *
 * An error that is still retryable after the policy's retries is marked spent (see
 * markRetriesSpent), so that a caller's own retry loop does not multiply the attempts; a
 * write of a stream, which this decorator cannot repeat, keeps its classification for the
 * caller to act on.
 *
 * What is retried: every call whose repetition is harmless. A write is retried only when its
 * body is a whole buffer (a stream cannot be sent twice); a read only until it has returned its
 * stream (a stream that fails midway fails); a listing only until it has yielded its first entry.
 */
import { isRetryable } from '../../core/errors.js';
import { markRetriesSpent, retry, type RetryPolicy } from '../../core/retry.js';
import type { DirEntry, StorageBackend } from '../../core/storage.js';
import { decorate, type Call } from './decorate.js';

/** Backends retry less than the client does: a backend call sits under a transfer that retries too. */
export const BACKEND_RETRY_POLICY: RetryPolicy = Object.freeze({ retries: 5, baseMs: 200, capMs: 10_000, maxRetryAfterMs: 60_000 });

export interface BackendRetryOptions {
  policy?: Partial<RetryPolicy>;
  /** Whether an error is worth another attempt (default: its FerryError classification). */
  shouldRetry?: (err: unknown) => boolean;
  /** Told before each wait (for logs); `attempt` counts the retries, 1 for the first. */
  onRetry?: (call: Call, err: unknown, attempt: number, delayMs: number) => void;
  /** Injected in tests. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  random?: () => number;
}

/** `inner`, with retryable failures retried under `options.policy`. */
export function withRetry(inner: StorageBackend, options: BackendRetryOptions = {}): StorageBackend {
  const policy: RetryPolicy = { ...BACKEND_RETRY_POLICY, ...options.policy };
  const shouldRetry = options.shouldRetry ?? isRetryable;
  const loop = (call: Call) => ({
    policy,
    signal: call.signal,
    shouldRetry: (err: unknown) => shouldRetry(err),
    onRetry: (err: unknown, attempt: number, delayMs: number) => options.onRetry?.(call, err, attempt + 1, delayMs),
    sleep: options.sleep,
    random: options.random,
  });

  const spent = (err: unknown): never => {
    throw policy.retries > 0 && shouldRetry(err) ? markRetriesSpent(err) : err;
  };

  return decorate(inner, inner.name, {
    call: <T>(call: Call, run: () => Promise<T>): Promise<T> => {
      // A stream body cannot be sent twice: such a write is tried once, its error left as it is.
      if (call.op === 'write' && !call.replayable) return run();
      return retry(run, loop(call)).catch(spent);
    },
    list(call: Call, run: () => AsyncIterable<DirEntry>): AsyncIterable<DirEntry> {
      return {
        [Symbol.asyncIterator]: (): AsyncIterator<DirEntry> => {
          let it: AsyncIterator<DirEntry> | undefined;
          // Retried until the first entry (or the end) has arrived; after that a new attempt
          // would repeat entries the caller has seen, so a failure is the caller's. The entries
          // after the first come straight from the inner iterator (a listing can be long).
          const start = async (): Promise<IteratorResult<DirEntry>> => {
            const first = await retry(async () => {
              it = run()[Symbol.asyncIterator]();
              return it.next();
            }, loop(call)).catch(spent);
            return first;
          };
          return {
            next: () => (it === undefined ? start() : it.next()),
            return: async (value?: unknown) => {
              await it?.return?.(value);
              return { done: true, value: undefined };
            },
          };
        },
      };
    },
  });
}
