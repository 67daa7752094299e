/**
 * The defender: bans addresses that keep failing to authenticate, after SFTPGo's built-in
 * defender (docs/defender.md there):
 *
 * - each failure adds a score to its address: `scoreInvalid` when the credential names
 *   nothing (unknown token id, unknown share link) and for every failed password login,
 *   `scoreValid` when a token or link names something real but the secret is wrong, expired
 *   or revoked, `scoreLimitExceeded` when the address hit a rate limit. Unlike SFTPGo, a
 *   wrong password for a real user scores like an unknown user: otherwise the number of
 *   attempts before a ban would tell which user names exist;
 * - when the scores within the last `observationMs` reach `threshold`, the address is banned
 *   for `banMs`;
 * - every request of a banned address extends its ban by `banIncrementPercent` of `banMs`
 *   (SFTPGo's `ban_time_increment`): a client that keeps hammering stays out longer. A cap
 *   (`maxBanMs`) keeps a forgotten cron job from being locked out for ever.
 *
 * State is in memory, per node (SFTPGo's `memory` driver): a restart lifts every ban. Nodes
 * that share PostgreSQL share their bans and their scores through ./shared-bans.ts, which
 * scores failures over all of them (SharedBans.record), hears of each ban made or lifted here
 * ({@link Defender.onChange}) and brings in those of the other nodes ({@link Defender.adopt}).
 * An IPv6 client is scored and banned by its /64 (ip-filter.ts, addressKey): one subscriber
 * holds a whole /64 and could otherwise start afresh from each of its addresses.
 * Entries are bounded (`maxEntries`, oldest dropped first). Addresses on the safe list are
 * never banned; loopback is on it by default, so that an admin on the server's own machine
 * cannot lock themselves out (a ban refuses every request, `admin unban` included), and
 * since a reverse proxy on the same machine makes every client look like 127.0.0.1.
 */

/** Never banned unless the operator says otherwise: the server's own machine. */
export const LOOPBACK: readonly string[] = ['127.0.0.0/8', '::1'];
import { addressKey, CidrList } from './ip-filter.js';

export interface DefenderOptions {
  enabled: boolean;
  threshold: number;
  scoreInvalid: number;
  scoreValid: number;
  scoreLimitExceeded: number;
  observationMs: number;
  banMs: number;
  banIncrementPercent: number;
  maxBanMs: number;
  maxEntries: number;
  safeList: string[];
}

export const DEFAULT_DEFENDER: DefenderOptions = {
  enabled: true,
  threshold: 15,
  scoreInvalid: 2,
  scoreValid: 1,
  scoreLimitExceeded: 3,
  observationMs: 30 * 60_000,
  banMs: 30 * 60_000,
  banIncrementPercent: 50,
  maxBanMs: 24 * 3600_000,
  maxEntries: 10_000,
  safeList: [...LOOPBACK],
};

export type DefenderEvent = 'invalid' | 'valid' | 'limit';

export interface BanInfo {
  ip: string;
  until: number;
}

/** A ban this defender made, or one an admin lifted here (see {@link Defender.onChange}). */
export type BanChange = { kind: 'ban'; ip: string; since: number; until: number } | { kind: 'unban'; ip: string };

export class Defender {
  private readonly hosts = new Map<string, { at: number; score: number }[]>();
  private readonly banned = new Map<string, { until: number; since: number }>();
  private readonly safe: CidrList;
  private readonly listeners: ((change: BanChange) => void)[] = [];

  constructor(
    readonly options: DefenderOptions,
    private readonly now: () => number = Date.now,
  ) {
    this.safe = new CidrList(options.safeList);
  }

  /**
   * The ban of `ip`, if any. Being asked counts as trying again: the ban is extended (see
   * the module comment). Expired bans are forgotten here.
   */
  checkBanned(ip: string): BanInfo | undefined {
    if (!this.options.enabled) return undefined;
    const key = addressKey(ip);
    const ban = this.banned.get(key);
    // A safe address is never refused, even when others of its IPv6 /64 earned a ban.
    if (!ban || this.safe.has(ip)) return undefined;
    const now = this.now();
    if (ban.until <= now) {
      this.banned.delete(key);
      return undefined;
    }
    const increment = Math.max(1, Math.round((this.options.banMs * this.options.banIncrementPercent) / 100));
    ban.until = Math.min(ban.until + increment, ban.since + this.options.maxBanMs);
    return { ip: key, until: ban.until };
  }

  /** Records a failure; returns the new ban when this one tipped the address over. */
  record(ip: string, event: DefenderEvent): BanInfo | undefined {
    const score = this.scoreOf(ip, event);
    if (score <= 0) return undefined;
    const key = addressKey(ip);
    const now = this.now();
    const cutoff = now - this.options.observationMs;
    const events = (this.hosts.get(key) ?? []).filter((e) => e.at > cutoff);
    events.push({ at: now, score });
    // Re-insert: Map order is insertion order, so the first key is the least recently seen.
    this.hosts.delete(key);
    const total = events.reduce((a, e) => a + e.score, 0);
    if (total >= this.options.threshold) return this.ban(key);
    this.hosts.set(key, events);
    this.trim(this.hosts);
    return undefined;
  }

  /**
   * What a failure `event` of `ip` scores: 0 when the defender is off, the address is safe,
   * or it is banned here already (a banned address has no score, as in SFTPGo).
   */
  scoreOf(ip: string, event: DefenderEvent): number {
    if (!this.options.enabled || this.safe.has(ip) || this.banned.has(addressKey(ip))) return 0;
    return Math.max(0, event === 'invalid' ? this.options.scoreInvalid : event === 'valid' ? this.options.scoreValid : this.options.scoreLimitExceeded);
  }

  /** Bans `ip` from now for `banMs` (its score reached the threshold: here, or on the nodes together), told to the listeners. */
  ban(ip: string): BanInfo {
    const key = addressKey(ip);
    const now = this.now();
    this.hosts.delete(key);
    this.banned.set(key, { until: now + this.options.banMs, since: now });
    this.trim(this.banned);
    for (const l of this.listeners) l({ kind: 'ban', ip: key, since: now, until: now + this.options.banMs });
    return { ip: key, until: now + this.options.banMs };
  }

  /** Lifts a ban (an admin's `unban`): told to the listeners, so other nodes lift it too. */
  unban(ip: string): boolean {
    const key = addressKey(ip);
    const had = this.forget(key);
    if (had) for (const l of this.listeners) l({ kind: 'unban', ip: key });
    return had;
  }

  /** Drops an address's score and ban without telling the listeners (a ban lifted elsewhere). */
  forget(ip: string): boolean {
    const key = addressKey(ip);
    this.hosts.delete(key);
    return this.banned.delete(key);
  }

  /**
   * Takes a ban another node made (shared bans): the address is refused here until `until`,
   * or later if this node's own ban of it runs longer. Safe-listed addresses stay unbanned.
   */
  adopt(ip: string, since: number, until: number): void {
    if (!this.options.enabled) return;
    const key = addressKey(ip);
    if (this.safe.has(key) || until <= this.now()) return;
    const mine = this.banned.get(key);
    if (mine && mine.until >= until) return;
    this.banned.set(key, { since: Math.min(since, mine?.since ?? since), until });
    this.hosts.delete(key);
    this.trim(this.banned);
  }

  /** Hears of every ban this defender makes and every ban lifted by {@link unban} (not of adopted ones). */
  onChange(listener: (change: BanChange) => void): void {
    this.listeners.push(listener);
  }

  /** Current bans (expired ones are skipped, not extended). */
  bans(): BanInfo[] {
    const now = this.now();
    return [...this.banned].filter(([, b]) => b.until > now).map(([ip, b]) => ({ ip, until: b.until }));
  }

  /** Score an address has collected within the observation window. */
  score(ip: string): number {
    const cutoff = this.now() - this.options.observationMs;
    return (this.hosts.get(addressKey(ip)) ?? []).filter((e) => e.at > cutoff).reduce((a, e) => a + e.score, 0);
  }

  private trim<V>(map: Map<string, V>): void {
    while (map.size > this.options.maxEntries) {
      const oldest = map.keys().next().value;
      if (oldest === undefined) break;
      map.delete(oldest);
    }
  }
}
