/**
 * Bandwidth limiting in the client: one token bucket (src/core/token-bucket.ts) shared by
 * every transfer, applied to request bodies going up and response bodies coming down.
 */
import { Readable } from 'node:stream';
import { UsageError } from '../core/errors.js';
import { parseRcloneSize } from '../core/units.js';
import type { TokenBucket } from '../core/token-bucket.js';

/**
 * A request body for `data` (a buffer, or parts sent one after the other): as it is when there
 * is no limit (undici sends a buffer in one write), otherwise a stream that releases it slice
 * by slice. Make a new one per attempt.
 */
export function limitedBody(data: Uint8Array | AsyncIterable<Uint8Array>, limiter: TokenBucket | undefined, signal?: AbortSignal): Uint8Array | AsyncIterable<Uint8Array> {
  if (!limiter || (data instanceof Uint8Array && data.length === 0)) return data;
  return Readable.from(limiter.throttle(data, signal), { objectMode: false });
}

/**
 * Parses a rate like rclone's `--bwlimit`: `10M` is 10 MiB/s; suffixes B, K, M, G, T are
 * binary multiples, optionally followed by `B`, `iB` or `/s` (`10MiB/s`, `512k`); a bare
 * number is KiB/s, as in rclone (`1000` is 1000 KiB/s, `1000B` 1000 bytes/s).
 * `0`, `off` and the empty string mean "no limit" (returns undefined).
 */
export function parseRate(input: string): number | undefined {
  const s = input.trim().toLowerCase().replace(/\/s$/, '');
  if (s === '' || s === 'off' || s === '0') return undefined;
  let value: number;
  try {
    value = parseRcloneSize(s);
  } catch {
    throw new UsageError(`not a bandwidth limit: ${JSON.stringify(input)} (examples: 10M, 512K, 1.5G, 800B, off)`);
  }
  if (value === 0) return undefined;
  if (value < 1) throw new UsageError(`bandwidth limit too small: ${JSON.stringify(input)}`);
  return Math.floor(value);
}
