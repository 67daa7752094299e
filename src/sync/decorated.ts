/**
 * The remotes a run works on, wrapped in the backend decorators (backends/decorators/): the
 * run's cross-cutting concerns are theirs, not the engine's.
 *
 *   inner -> withBandwidthLimit (--bwlimit: every byte written, by any remote, passes one
 *            shared bucket) -> withLogging (-vv: one line per storage call) -> withRetry
 *            (--retries: every call whose repetition is harmless) -> withDryRun (--dry-run:
 *            nothing changes; the run sees its own changes)
 *
 * The bucket sits under the retry so that a retried write is paced again; the dry run sits
 * outermost so that nothing it skips reaches storage. Remotes that share a backend share its
 * decorated backend, so server-side copies and moves between them still work.
 */
import { withBandwidthLimit, withDryRun, withLogging, withRetry, type StorageLogger } from '../backends/decorators/index.js';
import type { RetryPolicy } from '../core/retry.js';
import type { StorageBackend } from '../core/storage.js';
import { TokenBucket } from '../core/token-bucket.js';
import { DEFAULT_RETRY_POLICY } from '../core/retry.js';
import { relOf, type Remote } from './remote.js';

/** `--retries 3` by default: each failing call is tried up to 4 times, backoff from 200 ms. */
export const SYNC_RETRY_POLICY: RetryPolicy = Object.freeze({ ...DEFAULT_RETRY_POLICY, retries: 3, baseMs: 200, capMs: 10_000 });

export interface Decoration {
  retry: RetryPolicy;
  /** Bytes per second for everything written, all remotes together. */
  bwlimit?: number;
  dryRun?: boolean;
  log?: StorageLogger;
  /** Told before each retry of a call, with the path relative to the remote the key belongs to. */
  onRetry?: (path: string, err: unknown, attempt: number, delayMs: number) => void;
}

/** The retry policy of `--retries N` and the base delay. */
export function retryPolicy(retries?: number, baseMs?: number): RetryPolicy {
  return { ...SYNC_RETRY_POLICY, retries: retries ?? SYNC_RETRY_POLICY.retries, baseMs: baseMs ?? SYNC_RETRY_POLICY.baseMs };
}

/** Each remote with its backend decorated once (remotes sharing a backend share the result). */
export function decorateRemotes<K extends string>(remotes: Readonly<Partial<Record<K, Remote>>>, d: Decoration): Partial<Record<K, Remote>> {
  const bucket = d.bwlimit ? new TokenBucket(d.bwlimit) : undefined;
  const all = Object.values(remotes).filter((r): r is Remote => r !== undefined);
  const pathOf = (key: string): string => {
    for (const r of all) {
      const rel = relOf(r, key);
      if (rel !== undefined) return rel;
    }
    return key;
  };
  const done = new Map<StorageBackend, StorageBackend>();
  const wrap = (inner: StorageBackend): StorageBackend => {
    let b = inner;
    if (bucket) b = withBandwidthLimit(b, { buckets: { write: bucket } });
    if (d.log) b = withLogging(b, d.log);
    b = withRetry(b, { policy: d.retry, onRetry: (call, err, attempt, delayMs) => d.onRetry?.(pathOf(call.key), err, attempt, delayMs) });
    if (d.dryRun) b = withDryRun(b);
    return b;
  };
  const out: Partial<Record<K, Remote>> = {};
  for (const [side, r] of Object.entries(remotes) as Array<[K, Remote | undefined]>) {
    if (r === undefined) continue;
    let b = done.get(r.backend);
    if (b === undefined) {
      b = wrap(r.backend);
      done.set(r.backend, b);
    }
    out[side] = { ...r, backend: b };
  }
  return out;
}
