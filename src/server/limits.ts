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
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { RateLimitedError } from '../core/errors.js';
import type { RateLimits } from './config.js';

export type RateCheck = (request: FastifyRequest) => Promise<void>;

export interface RateLimiters {
  perIp: RateCheck;
  perToken: RateCheck;
  authPerIp: RateCheck;
}

/** Registers the plugin (no global hook of its own) and returns our three checks. */
export async function registerRateLimits(app: FastifyInstance, limits: RateLimits, onExceeded: (request: FastifyRequest, which: keyof RateLimiters) => void): Promise<RateLimiters> {
  await app.register(rateLimit, { global: false });
  const make = (which: keyof RateLimiters, max: number, key: (r: FastifyRequest) => string): RateCheck => {
    if (max <= 0) return async () => undefined;
    const check = app.createRateLimit({ max, timeWindow: limits.windowMs, keyGenerator: key });
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
