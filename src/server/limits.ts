/**
 * Request rate limits: fixed windows counted in memory, per node (as SFTPGo's per-host
 * limiters and @fastify/rate-limit's local store do). The answer is ours:
 * FERRY_ERR_RATE_LIMITED (429) with Retry-After until the window resets.
 *
 * Four independent limits (config.rateLimit):
 * - per client address, on every request, before authentication (a flood guard);
 * - per token (or web session), on authenticated requests;
 * - per address on password attempts (login, web login, share passwords): the one that
 *   actually slows guessing; the defender bans an address that keeps failing;
 * - per share link on its password, from all addresses together (many addresses could
 *   otherwise guess at one link at once): a budget that refills, so guessing slows down
 *   and recipients wait seconds rather than being locked out.
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

/** Wrong passwords a share link takes per window from all addresses (`rateLimitSharePassword`). */
export const DEFAULT_SHARE_PASSWORD_PER_LINK = 10;

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
  /** Wrong passwords per share link, from every address together ({@link LinkPasswordLimit}). */
  linkPassword: LinkPasswordLimit;
}

/**
 * The passwords a share link may be tried with, from all addresses together: the per-address
 * limit alone let many addresses guess at one link at once. An attempt takes one before its
 * password is checked (so that attempts in flight cannot overdraw it) and a right password
 * gives it back: only wrong ones spend. Refused: `429 FERRY_ERR_RATE_LIMITED`.
 */
export interface LinkPasswordLimit {
  take(linkId: string): void;
  giveBack(linkId: string): void;
}

/**
 * A budget per key that refills steadily: `max` at most, one more every `windowMs / max`.
 * Chosen over a fixed window for share links: an attacker who keeps a link's window full
 * would keep its recipients out until it ends, and again at each new one; here guessing
 * slows to the refill rate and a recipient waits seconds for the next free attempt.
 */
export class RefillingBudget {
  private readonly budgets = new Map<string, { left: number; at: number }>();

  constructor(
    readonly max: number,
    readonly windowMs: number,
    private readonly now: () => number = Date.now,
    private readonly maxKeys = 100_000,
  ) {}

  /** Takes one from `key`'s budget; returns 0, or how long until one is back (nothing taken). */
  take(key: string): number {
    const b = this.level(key);
    if (b.left >= 1) {
      b.left -= 1;
      return 0;
    }
    return Math.ceil(((1 - b.left) * this.windowMs) / this.max);
  }

  giveBack(key: string): void {
    const b = this.budgets.get(key);
    if (b) b.left = Math.min(this.max, b.left + 1);
  }

  get size(): number {
    return this.budgets.size;
  }

  private level(key: string): { left: number; at: number } {
    const now = this.now();
    let b = this.budgets.get(key);
    if (!b) {
      if (this.budgets.size >= this.maxKeys) this.prune(now);
      b = { left: this.max, at: now };
      this.budgets.set(key, b);
    }
    b.left = Math.min(this.max, b.left + ((now - b.at) * this.max) / this.windowMs);
    b.at = now;
    return b;
  }

  /** Drops the budgets that are full again (they hold nothing a new one would not); then the oldest. */
  private prune(now: number): void {
    for (const [k, v] of this.budgets) if (v.left + ((now - v.at) * this.max) / this.windowMs >= this.max) this.budgets.delete(k);
    for (const k of this.budgets.keys()) {
      if (this.budgets.size < this.maxKeys) break;
      this.budgets.delete(k);
    }
  }
}

/**
 * The share links' limit. Not scored for the defender: a recipient retrying while others
 * guess at the link would be banned for it, and the guessers are scored for their wrong
 * passwords already.
 */
function linkPasswordLimit(max: number, windowMs: number, now: () => number): LinkPasswordLimit {
  if (max <= 0) return { take: () => undefined, giveBack: () => undefined };
  const budget = new RefillingBudget(max, windowMs, now);
  const every = Math.max(1, Math.round(windowMs / max / 1000));
  return {
    take: (linkId) => {
      const waitMs = budget.take(linkId);
      if (waitMs === 0) return;
      throw new RateLimitedError(`this link has had too many wrong passwords lately (it takes ${max} per ${Math.round(windowMs / 1000)} s, one more every ${every} s): try again in a few seconds`, {
        retryAfterMs: Math.max(1000, waitMs),
        details: { limit: 'linkPassword', max },
      });
    },
    giveBack: (linkId) => budget.giveBack(linkId),
  };
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

export function createRateLimiters(limits: RateLimits, now: () => number, onExceeded: (request: RateSubject, which: Exclude<keyof RateLimiters, 'linkPassword'>) => void): RateLimiters {
  const make = (which: Exclude<keyof RateLimiters, 'linkPassword'>, max: number, key: (r: RateSubject) => string): RateCheck => {
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
    linkPassword: linkPasswordLimit(limits.sharePasswordPerLink ?? DEFAULT_SHARE_PASSWORD_PER_LINK, limits.windowMs, now),
  };
}
