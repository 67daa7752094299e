/**
 * Retries with exponential backoff and full jitter.
 *
 * "Full jitter" (AWS architecture blog, "Exponential Backoff And Jitter"): the delay before
 * attempt n+1 is uniform in [0, min(cap, base * 2^n)]. Spreading retries over the whole
 * window is what keeps many clients that failed together (a server restart) from coming
 * back together. A server's `Retry-After` (kept on the error as `retryAfterMs`) is a floor:
 * we never come back sooner than the server asked.
 */
import { AbortedError, FerryError, isRetryable, throwIfAborted } from './errors.js';

export interface RetryPolicy {
  /** Retries after the first attempt (0: try once). */
  retries: number;
  /** Upper bound of the first delay, ms. */
  baseMs: number;
  /** Upper bound of any computed delay, ms (a larger Retry-After is still honoured, up to `maxRetryAfterMs`). */
  capMs: number;
  /** A Retry-After longer than this is cut to it, so a confused server cannot park us for hours. */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = Object.freeze({
  retries: 8,
  baseMs: 250,
  capMs: 20_000,
  maxRetryAfterMs: 120_000,
});

/**
 * Delay before retry number `attempt` (0 for the first retry): uniform in
 * `[0, min(capMs, baseMs * 2^attempt)]`, raised to `retryAfterMs` when the server gave one.
 */
export function backoffDelay(attempt: number, policy: RetryPolicy, retryAfterMs?: number, random: () => number = Math.random): number {
  const window = Math.min(policy.capMs, policy.baseMs * 2 ** Math.min(attempt, 30));
  const jittered = Math.floor(random() * window);
  if (retryAfterMs !== undefined && retryAfterMs > 0) return Math.max(jittered, Math.min(retryAfterMs, policy.maxRetryAfterMs));
  return jittered;
}

/** Resolves after `ms`, or rejects with FERRY_ERR_ABORTED as soon as `signal` aborts. */
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

export interface RetryOptions {
  policy?: RetryPolicy;
  signal?: AbortSignal;
  /** Decides whether an error is worth another attempt; default {@link isRetryable}. */
  shouldRetry?: (err: unknown, attempt: number) => boolean;
  /** Told before each wait, e.g. to log "retrying in 1.2 s". */
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
  /** Injected in tests. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  random?: () => number;
}

/**
 * Calls `fn` until it succeeds, it throws an error `shouldRetry` rejects, or the policy's
 * retries are used up (then the last error is thrown). `fn` receives the attempt number.
 * The one retry loop of the project: the HTTP client, the retry decorator of backends and
 * the sync engine all run through it.
 */
export async function retry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const policy = options.policy ?? DEFAULT_RETRY_POLICY;
  const shouldRetry = options.shouldRetry ?? ((err: unknown) => isRetryable(err));
  const wait = options.sleep ?? sleep;
  for (let attempt = 0; ; attempt++) {
    throwIfAborted(options.signal);
    try {
      return await fn(attempt);
    } catch (err) {
      if (options.signal?.aborted) throw new AbortedError('aborted', { cause: options.signal.reason });
      if (attempt >= policy.retries || !shouldRetry(err, attempt)) throw err;
      const retryAfterMs = (err as { retryAfterMs?: number }).retryAfterMs;
      const delay = backoffDelay(attempt, policy, retryAfterMs, options.random);
      options.onRetry?.(err, attempt, delay);
      await wait(delay, options.signal);
    }
  }
}

/**
 * Marks `err` as spent and returns it: a lower layer retried it as long as its policy
 * allowed, so an enclosing retry loop must not try again (the retries would multiply: a
 * backend call retried 4 times inside a file copy retried 4 times is 16 attempts).
 */
export function markRetriesSpent(err: unknown): unknown {
  if (err instanceof FerryError && err.retryable) Object.defineProperty(err, 'retryable', { value: false });
  return err;
}

/**
 * Parses an HTTP `Retry-After` value (delta-seconds or an HTTP date) into milliseconds from
 * `now`; undefined when absent or unreadable.
 */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined || v.trim() === '') return undefined;
  if (/^\s*\d+(\.\d+)?\s*$/.test(v)) return Math.round(Number(v) * 1000);
  const t = Date.parse(v);
  if (Number.isNaN(t)) return undefined;
  return Math.max(0, t - now);
}
