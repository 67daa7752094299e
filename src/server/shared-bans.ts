/**
 * Defender bans shared by the nodes of one PostgreSQL database. Each node's defender decides
 * and checks bans in memory (a check on every request must not cost a query); this keeps
 * those memories in step through the `bans` table (src/store/ban-store.ts):
 *
 * - a ban this node makes is written at once; an admin's unban here deletes the row;
 * - every `intervalMs` (2 s) the node reads the table: bans made elsewhere are adopted, and
 *   bans it knew to be in the table that are gone from it were lifted elsewhere: lifted here.
 *
 * - each failure is scored in the table too ({@link SharedBans.record}): the address's score
 *   is the sum over every node, so spreading guesses over N nodes no longer gives N times
 *   the threshold before a ban; and a node that scores a failure of an address banned
 *   elsewhere adopts the ban then, without waiting for its next read.
 *
 * So a ban reaches every node within about `intervalMs`, or at the address's next failure
 * there, whichever is first; an unban within `intervalMs`. What stays per node: the
 * extension of a ban by each refused request. Rate limits are per node too (docs/cluster.md).
 */
import type { FastifyBaseLogger } from 'fastify';
import type { BanStore } from '../store/ban-store.js';
import type { BanInfo, Defender, DefenderEvent } from './defender.js';
import { addressKey } from './ip-filter.js';

/** How often a node reads the bans other nodes made or lifted. */
export const BAN_SYNC_MS = 2000;

export class SharedBans {
  /** Addresses whose ban this node knows to be in the table (a row found, or written by it). */
  private readonly recorded = new Set<string>();
  private timer?: NodeJS.Timeout;
  private syncing?: Promise<void>;

  constructor(
    private readonly defender: Defender,
    private readonly store: BanStore,
    private readonly log: FastifyBaseLogger,
    private readonly now: () => number,
    private readonly intervalMs = BAN_SYNC_MS,
  ) {}

  /** Publishes this node's bans and unbans from now on, and reads the others' every interval. */
  start(): void {
    this.defender.onChange((change) => {
      const write = change.kind === 'ban' ? this.store.put({ ip: change.ip, since: change.since, until: change.until }).then(() => this.recorded.add(change.ip)) : this.store.remove(change.ip).then(() => this.recorded.delete(change.ip));
      write.catch((err: unknown) => this.log.error({ err, ip: change.ip }, `could not share a defender ${change.kind} with the other nodes`));
    });
    this.timer = setInterval(() => {
      this.syncing ??= this.sync()
        .catch((err: unknown) => this.log.warn({ err }, 'could not read the bans of the other nodes'))
        .finally(() => (this.syncing = undefined));
    }, this.intervalMs);
    this.timer.unref();
  }

  /**
   * Scores a failure of `ip` on every node together; returns the ban it tipped the address
   * into, if it did. A ban recorded by another node is adopted instead. When the database
   * fails, the failure is scored in this node's memory alone (as before nodes shared scores).
   */
  async record(ip: string, event: DefenderEvent): Promise<BanInfo | undefined> {
    const score = this.defender.scoreOf(ip, event);
    if (score <= 0) return undefined;
    const key = addressKey(ip);
    const now = this.now();
    let shared: Awaited<ReturnType<BanStore['addFailure']>>;
    try {
      shared = await this.store.addFailure({ ip: key, at: now, score }, now - this.defender.options.observationMs);
    } catch (err) {
      this.log.warn({ err, ip: key }, 'could not score a defender failure with the other nodes: scored on this node only');
      return this.defender.record(ip, event);
    }
    if (shared.ban && shared.ban.until > now) {
      this.recorded.add(key);
      this.defender.adopt(key, shared.ban.since, shared.ban.until);
      return undefined;
    }
    return shared.total >= this.defender.options.threshold ? this.defender.ban(key) : undefined;
  }

  /** One round: adopt the table's live bans, lift those that left it, purge long-ended rows. */
  async sync(): Promise<void> {
    // Only what was known to be recorded before the read may be taken for lifted: a ban
    // written meanwhile may be missing from it.
    const known = new Set(this.recorded);
    const rows = await this.store.all();
    const now = this.now();
    const present = new Set<string>();
    for (const row of rows) {
      present.add(row.ip);
      this.recorded.add(row.ip);
      if (row.until > now) this.defender.adopt(row.ip, row.since, row.until);
    }
    for (const ip of known) {
      if (present.has(ip)) continue;
      this.recorded.delete(ip);
      this.defender.forget(ip);
    }
    // A ban extended by refused requests runs at most maxBanMs past its start: rows ended
    // that long ago can go without lifting anything still in force on some node.
    await this.store.purge(now - this.defender.options.maxBanMs);
    await this.store.purgeFailures(now - this.defender.options.observationMs);
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.syncing;
  }
}
