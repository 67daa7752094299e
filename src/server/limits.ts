/**
 * Request rate limits: fixed windows counted in memory, per node (as SFTPGo's per-host
 * limiters and @fastify/rate-limit's local store do). The answer is ours:
 * FERRY_ERR_RATE_LIMITED (429) with Retry-After until the window resets.
 *
 * Three independent limits (config.rateLimit):
 * - per client address, on every request, before authentication (a flood guard);
 * - per token (or web session), on authenticated requests;
 * - per address on password attempts (login, web login, share passwords): the one that
 *   actually slows guessing; the defender bans an address that keeps failing.
 * A request over a limit also scores for the defender (SFTPGo's score_limit_exceeded).
 *
 * Written here rather than taken from @fastify/rate-limit (asked for, not installed while
 * this was built): the same fixed-window counting in forty lines, with the server's
 * injectable clock, so tests can move time instead of waiting for a window.
 */
import { RateLimitedError } from '../core/errors.js';
import type { AuthContext } from './authz.js';
import type { RateLimits } from './config.js';
import { addressKey } from './ip-filter.js';

/** What a limit counts: an HTTP request (a FastifyRequest is one), an SSH connection or login attempt. */
export interface RateSubject {
  ip: string;
  auth?: Pick<AuthContext, 'tokenId' | 'userId' | 'userName'>;
}

export type RateCheck = (request: RateSubject) => Promise<void>;

export interface RateLimiters {
  perIp: RateCheck;
  perToken: RateCheck;
  authPerIp: RateCheck;
}

/** Counts hits per key in fixed windows; memory is bounded by `maxKeys`. */
export class FixedWindow {
  private readonly windows = new Map<string, { count: number; reset: number }>();

  constructor(
    readonly max: number,
    readonly windowMs: number,
    private readonly now: () => number = Date.now,
    private readonly maxKeys = 100_000,
  ) {}

  /** Counts a hit; returns how long to wait if it is over the limit (0 when allowed). */
  hit(key: string): number {
    const now = this.now();
    let w = this.windows.get(key);
    if (!w || w.reset <= now) {
      if (w) this.windows.delete(key);
      if (this.windows.size >= this.maxKeys) this.prune(now);
      w = { count: 0, reset: now + this.windowMs };
      this.windows.set(key, w);
    }
    w.count++;
    return w.count > this.max ? w.reset - now : 0;
  }

  get size(): number {
    return this.windows.size;
  }

  /** Drops finished windows; if that is not enough, the oldest ones (Map order is insertion order). */
  private prune(now: number): void {
    for (const [k, v] of this.windows) if (v.reset <= now) this.windows.delete(k);
    for (const k of this.windows.keys()) {
      if (this.windows.size < this.maxKeys) break;
      this.windows.delete(k);
    }
  }
}

export function createRateLimiters(limits: RateLimits, now: () => number, onExceeded: (request: RateSubject, which: keyof RateLimiters) => void): RateLimiters {
  const make = (which: keyof RateLimiters, max: number, key: (r: RateSubject) => string): RateCheck => {
    if (max <= 0) return async () => undefined;
    const window = new FixedWindow(max, limits.windowMs, now);
    const per = which === 'perToken' ? 'per token' : which === 'authPerIp' ? 'password attempts from one address' : 'from one address';
    return async (request) => {
      const waitMs = window.hit(key(request));
      if (waitMs === 0) return;
      onExceeded(request, which);
      throw new RateLimitedError(`too many requests: at most ${max} per ${Math.round(limits.windowMs / 1000)} s ${per}`, {
        retryAfterMs: Math.max(1000, waitMs),
        details: { limit: which, max },
      });
    };
  };
  return {
    // Per address: an IPv6 client's /64 is one address (addressKey).
    perIp: make('perIp', limits.perIp, (r) => addressKey(r.ip)),
    perToken: make('perToken', limits.perToken, (r) => r.auth?.tokenId ?? addressKey(r.ip)),
    authPerIp: make('authPerIp', limits.authPerIp, (r) => addressKey(r.ip)),
  };
}
