/**
 * Request rate limits, over @fastify/rate-limit's counters (its `createRateLimit` checks
 * without answering, so the answer stays ours: FERRY_ERR_RATE_LIMITED with Retry-After).
 *
 * Three independent limits (config.rateLimit), each a fixed window:
 * - per client address, on every request, before authentication (a flood guard);
 * - per token (or web session), on authenticated requests;
 * - per address on password attempts (login, web login, share passwords): the one that
 *   actually slows guessing; the defender bans an address that keeps failing.
 * A request over a limit also scores for the defender (SFTPGo's score_limit_exceeded).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { RateLimitedError } from '../core/errors.js';
import type { RateLimits } from './config.js';

export type RateCheck = (request: FastifyRequest) => Promise<void>;

export interface RateLimiters {
  perIp: RateCheck;
  perToken: RateCheck;
  authPerIp: RateCheck;
}

// TEMPORARY until @fastify/rate-limit is installed (NEEDS-PACKAGES): the same fixed-window
// counting, in memory, with the plugin's createRateLimit result shape.
function fixedWindow(options: { max: number; timeWindow: number; keyGenerator: (r: FastifyRequest) => string }) {
  const windows = new Map<string, { count: number; reset: number }>();
  return async (request: FastifyRequest) => {
    const now = Date.now();
    const key = options.keyGenerator(request);
    let w = windows.get(key);
    if (!w || w.reset <= now) {
      if (windows.size > 100_000) for (const [k, v] of windows) if (v.reset <= now) windows.delete(k);
      w = { count: 0, reset: now + options.timeWindow };
      windows.set(key, w);
    }
    w.count++;
    return { isAllowed: false as const, isExceeded: w.count > options.max, ttl: w.reset - now };
  };
}

/** Returns our three checks. */
export async function registerRateLimits(app: FastifyInstance, limits: RateLimits, onExceeded: (request: FastifyRequest, which: keyof RateLimiters) => void): Promise<RateLimiters> {
  void app;
  const make = (which: keyof RateLimiters, max: number, key: (r: FastifyRequest) => string): RateCheck => {
    if (max <= 0) return async () => undefined;
    const check = fixedWindow({ max, timeWindow: limits.windowMs, keyGenerator: key });
    return async (request) => {
      const r = await check(request);
      if (!r.isAllowed && r.isExceeded) {
        onExceeded(request, which);
        throw new RateLimitedError(`too many requests: at most ${max} per ${Math.round(limits.windowMs / 1000)} s ${which === 'perToken' ? 'per token' : 'from one address'}${which === 'authPerIp' ? ' for password attempts' : ''}`, {
          retryAfterMs: Math.max(1000, r.ttl),
          details: { limit: which, max },
        });
      }
    };
  };
  return {
    perIp: make('perIp', limits.perIp, (r) => `ip:${r.ip}`),
    perToken: make('perToken', limits.perToken, (r) => `token:${r.auth?.tokenId ?? r.ip}`),
    authPerIp: make('authPerIp', limits.authPerIp, (r) => `auth:${r.ip}`),
  };
}
