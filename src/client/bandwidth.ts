/**
 * Bandwidth limiting: one token bucket shared by every transfer of a client, applied to
 * request bodies going up and response bodies coming down.
 *
 * The bucket is kept as a "debt" (GCRA style): `take(n)` subtracts n tokens at once, even
 * into the negative, and the caller sleeps until the refill has paid the debt back. Callers
 * are therefore served in arrival order and the long-run rate never exceeds `rate`, however
 * many parallel transfers share it. Bodies are throttled in slices of {@link SLICE_BYTES}
 * so that parallel transfers interleave instead of taking turns a whole chunk at a time.
 */
import { Readable } from 'node:stream';
import { UsageError, throwIfAborted } from '../core/errors.js';
import { sleep } from './backoff.js';

/** Granularity of throttling: small enough to interleave, large enough to cost nothing. */
export const SLICE_BYTES = 64 * 1024;

export interface Clock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

const realClock: Clock = { now: () => performance.now(), sleep };

export class BandwidthLimiter {
  private tokens: number;
  private last: number;

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
    if (!(rate > 0) || !Number.isFinite(rate)) throw new RangeError(`bandwidth rate must be a positive number, got ${rate}`);
    this.tokens = burst;
    this.last = clock.now();
  }

  /** Waits until `bytes` may pass. Rejects with FERRY_ERR_ABORTED when `signal` aborts. */
  async take(bytes: number, signal?: AbortSignal): Promise<void> {
    throwIfAborted(signal);
    const now = this.clock.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.rate) / 1000);
    this.last = now;
    this.tokens -= bytes;
    if (this.tokens >= 0) return;
    try {
      await this.clock.sleep((-this.tokens * 1000) / this.rate, signal);
    } catch (err) {
      this.tokens += bytes; // an aborted caller gives its reservation back
      throw err;
    }
  }

  /** Yields `data` in slices, each after the bucket let it pass. */
  async *throttle(data: Uint8Array, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
    for (let off = 0; off < data.length; off += SLICE_BYTES) {
      const slice = data.subarray(off, Math.min(data.length, off + SLICE_BYTES));
      await this.take(slice.length, signal);
      yield slice;
    }
  }
}

/**
 * A request body for `data`: the buffer itself when there is no limit (undici sends it in
 * one write), otherwise a stream that releases it slice by slice. Make a new one per attempt.
 */
export function limitedBody(data: Uint8Array, limiter: BandwidthLimiter | undefined, signal?: AbortSignal): Uint8Array | Readable {
  if (!limiter || data.length === 0) return data;
  return Readable.from(limiter.throttle(data, signal), { objectMode: false });
}

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/**
 * Parses a rate like rclone's `--bwlimit`: `10M` is 10 MiB/s; suffixes B, K, M, G, T are
 * binary multiples, optionally followed by `B`, `iB` or `/s` (`10MiB/s`, `512k`).
 * `0`, `off` and the empty string mean "no limit" (returns undefined).
 */
export function parseRate(input: string): number | undefined {
  const s = input.trim().toLowerCase();
  if (s === '' || s === 'off' || s === '0') return undefined;
  const m = /^(\d+(?:\.\d+)?)\s*([bkmgt]?)(?:i?b)?(?:\/s)?$/.exec(s);
  if (!m) throw new UsageError(`not a bandwidth limit: ${JSON.stringify(input)} (examples: 10M, 512K, 1.5G, off)`);
  const value = Number(m[1]) * UNITS[m[2]];
  if (value === 0) return undefined;
  if (value < 1) throw new UsageError(`bandwidth limit too small: ${JSON.stringify(input)}`);
  return Math.floor(value);
}
